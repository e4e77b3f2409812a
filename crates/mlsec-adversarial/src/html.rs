//! `--report FILE.html`: the results table and accuracy-vs-budget curves as inline SVG,
//! written with the shared report writer (`mlsec_util::html`).

use mlsec_core::Finding;
use mlsec_util::html::{Page, Svg, escape};

use crate::ResultRow;

const COLORS: [&str; 3] = ["#1f77b4", "#d62728", "#2ca02c"];

fn chart(x_label: &str, curves: &[(&str, Vec<(f32, f64)>)]) -> String {
    let (w, h, m) = (480.0, 300.0, 45.0);
    let x_max = curves
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.0))
        .fold(0f32, f32::max)
        .max(f32::EPSILON);
    let sx = |x: f32| m + f64::from(x / x_max) * (w - 2.0 * m);
    let sy = |y: f64| h - m - y * (h - 2.0 * m);
    let mut svg = Svg::new(w, h, "white", None);
    svg.line((m, h - m), (w - m, h - m), "black", "");
    svg.line((m, m), (m, h - m), "black", "");
    for t in 0..=4 {
        let y = f64::from(t) / 4.0;
        let label = format!("{}%", t * 25);
        svg.text((m - 4.0, sy(y) + 3.0), 10, r#"text-anchor="end""#, &label);
    }
    svg.text((w / 2.0, h - 8.0), 11, r#"text-anchor="middle""#, x_label);
    svg.text(
        (w - m, h - m + 14.0),
        10,
        r#"text-anchor="end""#,
        &x_max.to_string(),
    );
    let rotate = format!(
        r#"transform="rotate(-90 12 {})" text-anchor="middle""#,
        h / 2.0
    );
    svg.text((12.0, h / 2.0), 11, &rotate, "robust accuracy");
    for (i, (name, pts)) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (sx(x), sy(y))).collect();
        svg.polyline(&points, color, 2.0);
        for &p in &points {
            svg.circle(p, 3.0, color, None);
        }
        let fill = format!(r#"fill="{color}""#);
        svg.text((w - m - 60.0, m + 14.0 * i as f64), 11, &fill, name);
    }
    svg.finish()
}

pub fn render(
    model: &str,
    data: &str,
    n: usize,
    clean: f64,
    results: &[ResultRow],
    findings: &[Finding],
) -> String {
    let mut page = Page::new("mlsec adversarial", "");
    page.p_raw(&format!(
        "Model <code>{}</code>, data <code>{}</code>, {n} samples, clean accuracy {:.1}%.",
        escape(model),
        escape(data),
        clean * 100.0
    ));
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
        page.h3("Accuracy vs L∞ budget").raw(&chart("ε", &linf));
    }
    let mut cw = vec![(0.0, clean)];
    cw.extend(
        results
            .iter()
            .filter(|r| r.attack == "cw")
            .map(|r| (r.budget, r.robust_accuracy)),
    );
    if cw.len() > 1 {
        page.h3("Accuracy vs L2 budget (CW)")
            .raw(&chart("L2", &[("cw", cw)]));
    }
    page.h2("Results").table(
        &[
            "attack",
            "budget",
            "robust acc",
            "success",
            "median L∞",
            "median L2",
            "time (s)",
        ],
        results.iter().map(|r| {
            [
                r.attack.to_owned(),
                r.budget.to_string(),
                format!("{:.1}%", r.robust_accuracy * 100.0),
                format!("{:.1}%", r.success_rate * 100.0),
                r.median_linf.map_or("-".into(), |v| format!("{v:.4}")),
                r.median_l2.map_or("-".into(), |v| format!("{v:.4}")),
                format!("{:.2}", r.seconds),
            ]
        }),
    );
    page.findings(findings);
    page.finish()
}
