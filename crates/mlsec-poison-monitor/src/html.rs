//! `--report FILE.html`: one self-contained page (inline CSS and SVG, no scripts, no external
//! resources) with, per run, a grid of ranks × statistics: the standardised value, its CUSUM,
//! the threshold, and the alarms. Written with the shared report writer (`mlsec_util::html`).

use std::fmt::Write as _;

use mlsec_util::html::{Page, Svg, escape};

use crate::detector::{Alarm, AlarmKind, Detector, Point};
use crate::record::Stat;

const W: f64 = 300.0;
const H: f64 = 110.0;
const MAX_POINTS: usize = 1200;

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
    let mut svg = Svg::new(W, H, "#fbfbfb", Some("#ddd"));
    let z0 = yz(0.0);
    let th = yc(threshold);
    svg.line((0.0, z0), (W, z0), "#ccc", "");
    svg.line((0.0, th), (W, th), "#c33", r#"stroke-dasharray="3,3""#);
    let poly = |f: &dyn Fn(&Point) -> f64, colour: &str| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter(|p| p.cusum != 0.0 || p.z != 0.0 || colour == "#36c")
            .map(|p| (x(p.step), f(p)))
            .collect()
    };
    svg.polyline(&poly(&|p: &Point| yz(p.z), "#36c"), "#36c", 1.0);
    svg.polyline(&poly(&|p: &Point| yc(p.cusum), "#e80"), "#e80", 1.0);
    for p in points.iter().filter(|p| p.alarm) {
        svg.marker(x(p.step), H, "#c00", &format!("alarm at step {}", p.step));
    }
    for step in extra {
        let title = format!("alarm (other rule) at step {step}");
        svg.circle((x(*step), 6.0), 3.0, "#800", Some(&title));
    }
    svg.finish()
}

/// The page's own style: charts in a grid without cell borders.
const CSS: &str = "td,th{border:0;border-bottom:1px solid #eee;padding:4px;vertical-align:top;\
text-align:left}.legend span{margin-right:1.5em}.q{background:#fff0f0}.alarm{font-weight:600}";

pub fn render(detector: &Detector, alarms: &[Alarm], threshold: f64) -> String {
    let mut page = Page::new("mlsec poison-monitor", CSS);
    page.raw(
        r#"<p class="legend"><span style="color:#36c">&#9644; winsorised z of the centred statistic (upper half, &plusmn;4)</span><span style="color:#e80">&#9644; CUSUM max(S+, S&minus;) (lower half)</span><span style="color:#c33">- - threshold</span><span style="color:#c00">| alarm</span></p>
"#,
    );
    page.p_raw(&format!("CUSUM threshold h = {threshold:.2}, k = 0.5."));
    let mut html = String::new();
    for run in detector.runs() {
        let run_alarms: Vec<&Alarm> = alarms.iter().filter(|a| a.run == run).collect();
        page.h2(&format!(
            "run {}",
            if run.is_empty() { "(unnamed)" } else { &run }
        ));
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
                    escape(&a.kind.label()),
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
                .filter(|a| a.rank == *rank && !matches!(a.kind, AlarmKind::Shift(_)))
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
        page.raw(&std::mem::take(&mut html));
    }
    page.finish()
}
