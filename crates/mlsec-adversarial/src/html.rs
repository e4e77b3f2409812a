//! `--report FILE.html`: the results table and accuracy-vs-budget curves as inline SVG.

use std::fmt::Write as _;

use mlsec_core::Finding;

use crate::ResultRow;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLORS: [&str; 3] = ["#1f77b4", "#d62728", "#2ca02c"];

fn chart(title: &str, x_label: &str, curves: &[(&str, Vec<(f32, f64)>)]) -> String {
    let (w, h, m) = (480.0, 300.0, 45.0);
    let x_max = curves
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.0))
        .fold(0f32, f32::max)
        .max(f32::EPSILON);
    let sx = |x: f32| m + f64::from(x / x_max) * (w - 2.0 * m);
    let sy = |y: f64| h - m - y * (h - 2.0 * m);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<h3>{}</h3><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img"><rect width="100%" height="100%" fill="white"/>"#,
        esc(title)
    );
    let _ = write!(
        s,
        r#"<line x1="{m}" y1="{0}" x2="{1}" y2="{0}" stroke="black"/><line x1="{m}" y1="{m}" x2="{m}" y2="{0}" stroke="black"/>"#,
        h - m,
        w - m
    );
    for t in 0..=4 {
        let y = f64::from(t) / 4.0;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" font-size="10" text-anchor="end">{}%</text>"#,
            m - 4.0,
            sy(y) + 3.0,
            t * 25
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text><text x="{}" y="{}" font-size="10" text-anchor="end">{}</text><text x="12" y="{}" font-size="11" transform="rotate(-90 12 {})" text-anchor="middle">robust accuracy</text>"#,
        w / 2.0,
        h - 8.0,
        esc(x_label),
        w - m,
        h - m + 14.0,
        x_max,
        h / 2.0,
        h / 2.0
    );
    for (i, (name, pts)) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for &(x, y) in pts {
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                sx(x),
                sy(y)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" font-size="11" fill="{color}">{}</text>"#,
            w - m - 60.0,
            m + 14.0 * i as f64,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

pub fn render(
    model: &str,
    data: &str,
    n: usize,
    clean: f64,
    results: &[ResultRow],
    findings: &[Finding],
) -> String {
    let mut s = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>mlsec adversarial</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>",
    );
    let _ = write!(
        s,
        "<h1>Adversarial robustness</h1><p>Model <code>{}</code>, data <code>{}</code>, {n} samples, clean accuracy {:.1}%.</p>",
        esc(model),
        esc(data),
        clean * 100.0
    );
    let linf: Vec<(&str, Vec<(f32, f64)>)> = ["fgsm", "pgd"]
        .iter()
        .map(|a| {
            let mut pts = vec![(0.0, clean)];
            pts.extend(
                results
                    .iter()
                    .filter(|r| r.attack == *a)
                    .map(|r| (r.budget, r.robust_accuracy)),
            );
            (*a, pts)
        })
        .filter(|(_, p)| p.len() > 1)
        .collect();
    if !linf.is_empty() {
        s.push_str(&chart("Accuracy vs L∞ budget", "ε", &linf));
    }
    let mut cw = vec![(0.0, clean)];
    cw.extend(
        results
            .iter()
            .filter(|r| r.attack == "cw")
            .map(|r| (r.budget, r.robust_accuracy)),
    );
    if cw.len() > 1 {
        s.push_str(&chart("Accuracy vs L2 budget (CW)", "L2", &[("cw", cw)]));
    }
    s.push_str("<h2>Results</h2><table><tr><th>attack</th><th>budget</th><th>robust acc</th><th>success</th><th>median L∞</th><th>median L2</th><th>time (s)</th></tr>");
    for r in results {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{:.1}%</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{:.2}</td></tr>",
            r.attack,
            r.budget,
            r.robust_accuracy * 100.0,
            r.success_rate * 100.0,
            r.median_linf.map_or("-".into(), |v| format!("{v:.4}")),
            r.median_l2.map_or("-".into(), |v| format!("{v:.4}")),
            r.seconds
        );
    }
    s.push_str("</table><h2>Findings</h2><ul>");
    for f in findings {
        let _ = write!(
            s,
            "<li><b>{}</b> {}: {}</li>",
            f.rule.id,
            f.severity,
            esc(&f.message)
        );
    }
    if findings.is_empty() {
        s.push_str("<li>none</li>");
    }
    s.push_str("</ul></body></html>\n");
    s
}
