//! `--report FILE.html`: one self-contained page (no script, no external resource) with the
//! findings, errors, every table, and per-layer histograms drawn as inline SVG sparklines.
//! Every string from the model is HTML-escaped.

use std::fmt::Write;

use mlsec_core::Report;

use crate::weights::{Summary, num};

/// Escapes text for HTML element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Bars of `counts` (log-scaled heights) as an inline SVG.
fn sparkline(counts: &[u64]) -> String {
    let (w, h) = (2.0 * counts.len() as f64, 24.0);
    let max = counts.iter().copied().max().unwrap_or(0);
    let mut svg = format!(
        r##"<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img"><rect width="{w}" height="{h}" fill="#f4f4f4"/>"##
    );
    if max > 0 {
        let top = (max as f64 + 1.0).ln();
        for (i, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let bar = h * (c as f64 + 1.0).ln() / top;
            let _ = write!(
                svg,
                r##"<rect x="{}" y="{:.1}" width="1.6" height="{:.1}" fill="#4a6fa5"/>"##,
                2 * i,
                h - bar,
                bar
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

pub fn render(model: &str, weights: &[Summary], report: &Report) -> String {
    let mut p = String::new();
    let _ = write!(
        p,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlsec inspect: {}</title>\
         <style>body{{font:14px sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}td:first-child{{text-align:left}}\
         .high,.critical{{color:#b00}}.medium{{color:#b60}}</style></head><body>\n<h1>mlsec inspect: {}</h1>\n",
        esc(model),
        esc(model)
    );
    let _ = write!(p, "<h2>Findings ({})</h2>\n<ul>\n", report.findings.len());
    for f in &report.findings {
        let _ = writeln!(
            p,
            "<li class=\"{sev}\"><b>{} {}</b> [{sev}] {}: {}</li>",
            esc(f.rule.id),
            esc(f.rule.name),
            esc(&f.location.to_string()),
            esc(&f.message),
            sev = f.severity.as_str(),
        );
    }
    p.push_str("</ul>\n");
    if !report.errors.is_empty() {
        let _ = write!(p, "<h2>Errors ({})</h2>\n<ul>\n", report.errors.len());
        for e in &report.errors {
            let _ = writeln!(p, "<li>{}: {}</li>", esc(&e.file), esc(&e.message));
        }
        p.push_str("</ul>\n");
    }
    if !weights.is_empty() {
        p.push_str(
            "<h2>Weights</h2>\n<p>Histogram: sign and octave of |w| (negative values left, positive right; bar heights on a log scale).</p>\n<table><tr><th>tensor</th><th>dtype</th><th>shape</th><th>mean</th><th>std</th><th>max |w|</th><th>spectral norm</th><th>histogram</th></tr>\n",
        );
        for s in weights {
            let _ = writeln!(
                p,
                "<tr><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.name),
                s.dtype,
                s.shape,
                num(s.stats.mean),
                num(s.stats.std),
                num(s.stats.max_abs),
                s.rows
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |r| num(r.spectral_norm)),
                sparkline(&s.stats.histogram)
            );
        }
        p.push_str("</table>\n");
    }
    if let Some(layers) = report.data.get("activations").and_then(|a| a.as_array()) {
        p.push_str("<h2>Activations</h2>\n<table><tr><th>layer</th><th>op</th><th>mean</th><th>std</th><th>max |a|</th><th>histogram</th></tr>\n");
        for l in layers {
            let text = |k: &str| l.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let value = |k: &str| l.get(k).and_then(|v| v.as_f64()).map_or("-".into(), num);
            let counts: Vec<u64> = l
                .pointer("/histogram/counts")
                .and_then(|c| c.as_array())
                .map(|c| c.iter().filter_map(|v| v.as_u64()).collect())
                .unwrap_or_default();
            let _ = writeln!(
                p,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&text("layer")),
                esc(&text("op")),
                value("mean"),
                value("std"),
                value("max_abs"),
                sparkline(&counts)
            );
        }
        p.push_str("</table>\n");
    }
    for t in &report.tables {
        if t.title == "weights" || t.title == "activations" {
            continue; // drawn above with histograms
        }
        let _ = write!(p, "<h2>{}</h2>\n<table><tr>", esc(&t.title));
        for c in &t.columns {
            let _ = write!(p, "<th>{}</th>", esc(c));
        }
        p.push_str("</tr>\n");
        for row in &t.rows {
            p.push_str("<tr>");
            for cell in row {
                let _ = write!(p, "<td>{}</td>", esc(cell));
            }
            p.push_str("</tr>\n");
        }
        p.push_str("</table>\n");
    }
    p.push_str("</body></html>\n");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_escaped() {
        assert_eq!(
            esc("<script>alert(\"x\")</script>&\u{1b}[31m"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;\\u{1b}[31m"
        );
        let svg = sparkline(&[0, 1, 100]);
        assert_eq!(svg.matches("<rect").count(), 3);
    }
}
