//! `--report FILE.html`: one self-contained page (inline CSS and SVG, no scripts, no external
//! resources) with, per run, a grid of ranks × statistics: the standardised value, its CUSUM,
//! the threshold, and the alarms.

use std::fmt::Write as _;

use crate::detector::{Alarm, AlarmKind, Detector, Point};
use crate::record::Stat;

const W: f64 = 300.0;
const H: f64 = 110.0;
const MAX_POINTS: usize = 1200;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn thin(points: &[Point]) -> Vec<Point> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let every = points.len().div_ceil(MAX_POINTS);
    points
        .iter()
        .enumerate()
        .filter(|(i, p)| i % every == 0 || p.alarm)
        .map(|(_, p)| *p)
        .collect()
}

fn chart(points: &[Point], threshold: f64, first: Option<u64>, last: u64, extra: &[u64]) -> String {
    let points = thin(points);
    let first_step = first.unwrap_or(0);
    let span = (last.saturating_sub(first_step)).max(1) as f64;
    let x = |step: u64| 4.0 + (W - 8.0) * (step.saturating_sub(first_step)) as f64 / span;
    // Upper half: z in [-4, 4]; lower half: CUSUM in [0, 1.5 h].
    let yz = |z: f64| 4.0 + (H / 2.0 - 8.0) * (1.0 - (z.clamp(-4.0, 4.0) + 4.0) / 8.0);
    let ymax = threshold * 1.5;
    let yc = |c: f64| H - 4.0 - (H / 2.0 - 8.0) * (c.min(ymax) / ymax);
    let mut svg = format!(
        r##"<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg"><rect width="{W}" height="{H}" fill="#fbfbfb" stroke="#ddd"/>"##
    );
    let z0 = yz(0.0);
    let th = yc(threshold);
    let _ = write!(
        svg,
        r##"<line x1="0" x2="{W}" y1="{z0:.1}" y2="{z0:.1}" stroke="#ccc"/><line x1="0" x2="{W}" y1="{th:.1}" y2="{th:.1}" stroke="#c33" stroke-dasharray="3,3"/>"##
    );
    let poly = |f: &dyn Fn(&Point) -> f64, colour: &str| {
        let pts: Vec<String> = points
            .iter()
            .filter(|p| p.cusum != 0.0 || p.z != 0.0 || colour == "#36c")
            .map(|p| format!("{:.1},{:.1}", x(p.step), f(p)))
            .collect();
        format!(
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1" points="{}"/>"#,
            pts.join(" ")
        )
    };
    svg.push_str(&poly(&|p: &Point| yz(p.z), "#36c"));
    svg.push_str(&poly(&|p: &Point| yc(p.cusum), "#e80"));
    for p in points.iter().filter(|p| p.alarm) {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="0" y2="{H}" stroke="#c00" stroke-width="1.5"><title>alarm at step {1}</title></line>"##,
            x(p.step),
            p.step
        );
    }
    for step in extra {
        let _ = write!(
            svg,
            r##"<circle cx="{:.1}" cy="6" r="3" fill="#800"><title>alarm (other rule) at step {step}</title></circle>"##,
            x(*step)
        );
    }
    svg.push_str("</svg>");
    svg
}

pub fn render(detector: &Detector, alarms: &[Alarm], threshold: f64) -> String {
    let mut html = String::from(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>mlsec poison-monitor report</title><style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}td,th{padding:4px;vertical-align:top;border-bottom:1px solid #eee}
th{text-align:left}.alarm{color:#b00;font-weight:600}.legend span{margin-right:1.5em}.q{background:#fff0f0}
</style></head><body><h1>mlsec poison-monitor</h1>
<p class="legend"><span style="color:#36c">&#9644; winsorised z of the centred statistic (upper half, &plusmn;4)</span><span style="color:#e80">&#9644; CUSUM max(S+, S&minus;) (lower half)</span><span style="color:#c33">- - threshold</span><span style="color:#c00">| alarm</span></p>
"#,
    );
    let _ = writeln!(html, "<p>CUSUM threshold h = {threshold:.2}, k = 0.5.</p>");
    for run in detector.runs() {
        let run_alarms: Vec<&Alarm> = alarms.iter().filter(|a| a.run == run).collect();
        let _ = writeln!(
            html,
            "<h2>run {}</h2>",
            esc(if run.is_empty() { "(unnamed)" } else { &run })
        );
        if run_alarms.is_empty() {
            html.push_str("<p>No alarms.</p>");
        } else {
            html.push_str("<ul>");
            for a in &run_alarms {
                let _ = writeln!(
                    html,
                    "<li class=\"alarm\">step {}: rank {} {}{}</li>",
                    a.step,
                    a.rank,
                    esc(&a.kind.label()),
                    if a.first {
                        " (first alarm: attribution)"
                    } else {
                        ""
                    }
                );
            }
            html.push_str("</ul>");
        }
        let stats: Vec<Stat> = detector.charted_stats(&run);
        let quarantined = detector.quarantined(&run);
        let (mut lo, mut hi) = (u64::MAX, 0);
        for rank in detector.rank_records(&run).keys() {
            for s in &stats {
                for p in detector.history(&run, *rank, *s) {
                    lo = lo.min(p.step);
                    hi = hi.max(p.step);
                }
            }
        }
        html.push_str("<table><tr><th>rank</th>");
        for s in &stats {
            let _ = write!(html, "<th>{}</th>", s.name());
        }
        html.push_str("</tr>");
        for rank in detector.rank_records(&run).keys() {
            let q = quarantined.contains(rank);
            let _ = write!(
                html,
                "<tr{}><td>{rank}{}</td>",
                if q { " class=\"q\"" } else { "" },
                if q {
                    "<br><span class=\"alarm\">quarantined</span>"
                } else {
                    ""
                }
            );
            let other: Vec<u64> = run_alarms
                .iter()
                .filter(|a| a.rank == *rank && !matches!(a.kind, AlarmKind::Shift { .. }))
                .map(|a| a.step)
                .collect();
            for s in &stats {
                let history = detector.history(&run, *rank, *s);
                let _ = write!(
                    html,
                    "<td>{}</td>",
                    chart(
                        history,
                        threshold,
                        (lo != u64::MAX).then_some(lo),
                        hi,
                        &other
                    )
                );
            }
            html.push_str("</tr>");
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>\n");
    html
}
