//! `--report FILE.html`: one self-contained page (no script, no external resource) with the
//! findings, errors, every table, and per-layer histograms drawn as inline SVG sparklines.
//! Every string from the model is HTML-escaped.

use mlsec_core::Report;
use mlsec_util::html::{Page, Svg, escape};

use crate::weights::{Summary, num};

/// Bars of `counts` (log-scaled heights) as an inline SVG.
fn sparkline(counts: &[u64]) -> String {
    let (w, h) = (2.0 * counts.len() as f64, 24.0);
    let max = counts.iter().copied().max().unwrap_or(0);
    let mut svg = Svg::new(w, h, "#f4f4f4", None);
    if max > 0 {
        let top = (max as f64 + 1.0).ln();
        for (i, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let bar = h * (c as f64 + 1.0).ln() / top;
            svg.rect((2.0 * i as f64, h - bar), (1.6, bar), "#4a6fa5");
        }
    }
    svg.finish()
}

pub fn render(model: &str, weights: &[Summary], report: &Report) -> String {
    let mut page = Page::new(&format!("mlsec inspect: {model}"), "");
    page.findings(&report.findings).errors(&report.errors);
    if !weights.is_empty() {
        page.h2("Weights").p_raw(
            "Histogram: sign and octave of |w| (negative values left, positive right; bar heights on a log scale).",
        );
        page.table_raw(
            &[
                "tensor",
                "dtype",
                "shape",
                "mean",
                "std",
                "max |w|",
                "spectral norm",
                "histogram",
            ],
            weights.iter().map(|s| {
                [
                    escape(&s.name),
                    s.dtype.to_string(),
                    format!("{:?}", s.shape),
                    num(s.stats.mean),
                    num(s.stats.std),
                    num(s.stats.max_abs),
                    s.rows
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), |r| num(r.spectral_norm)),
                    sparkline(&s.stats.histogram),
                ]
            }),
        );
    }
    if let Some(layers) = report.data.get("activations").and_then(|a| a.as_array()) {
        page.h2("Activations").table_raw(
            &["layer", "op", "mean", "std", "max |a|", "histogram"],
            layers.iter().map(|l| {
                let text = |k: &str| escape(l.get(k).and_then(|v| v.as_str()).unwrap_or(""));
                let value = |k: &str| l.get(k).and_then(|v| v.as_f64()).map_or("-".into(), num);
                let counts: Vec<u64> = l
                    .pointer("/histogram/counts")
                    .and_then(|c| c.as_array())
                    .map(|c| c.iter().filter_map(|v| v.as_u64()).collect())
                    .unwrap_or_default();
                [
                    text("layer"),
                    text("op"),
                    value("mean"),
                    value("std"),
                    value("max_abs"),
                    sparkline(&counts),
                ]
            }),
        );
    }
    for t in &report.tables {
        if t.title == "weights" || t.title == "activations" {
            continue; // drawn above with histograms
        }
        let columns: Vec<&str> = t.columns.iter().map(String::as_str).collect();
        page.h2(&t.title).table(&columns, &t.rows);
    }
    page.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_draws_a_bar_per_nonzero_count() {
        let svg = sparkline(&[0, 1, 100]);
        assert_eq!(svg.matches("<rect").count(), 3);
    }
}
