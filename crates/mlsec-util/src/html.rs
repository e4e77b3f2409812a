//! The HTML report writer every `--report FILE.html` uses (`adversarial`, `inspect`,
//! `poison-monitor`): one self-contained page (inline CSS and SVG; no script, no external
//! resource), the same look, findings and error lists and tables in every subcommand.
//!
//! Every string that came from an artifact goes through [`escape`]: methods taking `&str` text
//! escape it; only the `raw` ones take markup, and that markup must be built from escaped text
//! (for example an [`Svg`]).

use std::fmt::Write as _;

use mlsec_core::{Finding, ScanError};

/// Escapes text for HTML element content and quoted attribute values: `& < > " '` become
/// entities and control characters a visible `\u{..}` (so terminal escapes in a tensor name
/// show up instead of vanishing).
pub fn escape(s: &str) -> String {
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

/// The style every report shares; a page adds its own rules after it.
const BASE_CSS: &str = "body{font:14px system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}\
td:first-child,th:first-child{text-align:left}.high,.critical,.alarm{color:#b00}.medium{color:#b60}";

/// A report page being written. [`Page::finish`] closes it.
#[derive(Debug)]
pub struct Page {
    html: String,
}

impl Page {
    /// Opens a page titled `title` (escaped) with the shared style plus `css` (markup).
    pub fn new(title: &str, css: &str) -> Page {
        let title = escape(title);
        let mut html = String::new();
        let _ = write!(
            html,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
             <style>{BASE_CSS}{css}</style></head><body>\n<h1>{title}</h1>\n"
        );
        Page { html }
    }

    /// A section heading (escaped).
    pub fn h2(&mut self, text: &str) -> &mut Page {
        let _ = writeln!(self.html, "<h2>{}</h2>", escape(text));
        self
    }

    /// A chart or sub-heading (escaped).
    pub fn h3(&mut self, text: &str) -> &mut Page {
        let _ = writeln!(self.html, "<h3>{}</h3>", escape(text));
        self
    }

    /// A paragraph of markup.
    pub fn p_raw(&mut self, html: &str) -> &mut Page {
        let _ = writeln!(self.html, "<p>{html}</p>");
        self
    }

    /// Markup as is (an [`Svg`], a list built from escaped text).
    pub fn raw(&mut self, html: &str) -> &mut Page {
        self.html.push_str(html);
        self
    }

    /// "Findings (n)" and one line per finding: rule id and name, severity, location, message.
    pub fn findings(&mut self, findings: &[Finding]) -> &mut Page {
        let _ = write!(self.html, "<h2>Findings ({})</h2>\n<ul>\n", findings.len());
        for f in findings {
            let _ = writeln!(
                self.html,
                "<li class=\"{sev}\"><b>{} {}</b> [{sev}] {}: {}</li>",
                escape(f.rule.id),
                escape(f.rule.name),
                escape(&f.location.to_string()),
                escape(&f.message),
                sev = f.severity.as_str(),
            );
        }
        if findings.is_empty() {
            self.html.push_str("<li>none</li>\n");
        }
        self.html.push_str("</ul>\n");
        self
    }

    /// "Errors (n)" and one line per error; nothing when there are none.
    pub fn errors(&mut self, errors: &[ScanError]) -> &mut Page {
        if errors.is_empty() {
            return self;
        }
        let _ = write!(self.html, "<h2>Errors ({})</h2>\n<ul>\n", errors.len());
        for e in errors {
            let _ = writeln!(
                self.html,
                "<li>{}: {}</li>",
                escape(&e.file),
                escape(&e.message)
            );
        }
        self.html.push_str("</ul>\n");
        self
    }

    /// A table: `columns` are text (escaped), every cell of `rows` is markup.
    pub fn table_raw<R, C>(&mut self, columns: &[&str], rows: R) -> &mut Page
    where
        R: IntoIterator<Item = C>,
        C: IntoIterator<Item = String>,
    {
        self.html.push_str("<table><tr>");
        for c in columns {
            let _ = write!(self.html, "<th>{}</th>", escape(c));
        }
        self.html.push_str("</tr>\n");
        for row in rows {
            self.html.push_str("<tr>");
            for cell in row {
                let _ = write!(self.html, "<td>{cell}</td>");
            }
            self.html.push_str("</tr>\n");
        }
        self.html.push_str("</table>\n");
        self
    }

    /// A table of text cells (all escaped).
    pub fn table<R, C, S>(&mut self, columns: &[&str], rows: R) -> &mut Page
    where
        R: IntoIterator<Item = C>,
        C: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.table_raw(
            columns,
            rows.into_iter().map(|r| {
                r.into_iter()
                    .map(|c| escape(c.as_ref()))
                    .collect::<Vec<_>>()
            }),
        )
    }

    /// Closes the page.
    pub fn finish(mut self) -> String {
        self.html.push_str("</body></html>\n");
        self.html
    }
}

/// An inline SVG drawing. Coordinates are written with one decimal; text is escaped.
#[derive(Debug)]
pub struct Svg {
    svg: String,
}

impl Svg {
    /// A `w` × `h` drawing on a `background` fill (with an optional `stroke` border).
    pub fn new(w: f64, h: f64, background: &str, stroke: Option<&str>) -> Svg {
        let mut svg = format!(
            r#"<svg width="{w:.1}" height="{h:.1}" viewBox="0 0 {w:.1} {h:.1}" role="img"><rect width="{w:.1}" height="{h:.1}" fill="{background}""#
        );
        if let Some(stroke) = stroke {
            let _ = write!(svg, r#" stroke="{stroke}""#);
        }
        svg.push_str("/>");
        Svg { svg }
    }

    /// A line; `extra` is more attributes (markup), e.g. `stroke-dasharray="3,3"`.
    pub fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str, extra: &str) {
        let _ = write!(
            self.svg,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{stroke}"{}{extra}/>"#,
            if extra.is_empty() { "" } else { " " }
        );
    }

    /// A vertical marker line over the whole height with a hover title (escaped).
    pub fn marker(&mut self, x: f64, h: f64, stroke: &str, title: &str) {
        let _ = write!(
            self.svg,
            r#"<line x1="{x:.1}" y1="0.0" x2="{x:.1}" y2="{h:.1}" stroke="{stroke}" stroke-width="1.5"><title>{}</title></line>"#,
            escape(title)
        );
    }

    /// An open polyline through `points`.
    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, width: f64) {
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = write!(
            self.svg,
            r#"<polyline fill="none" stroke="{stroke}" stroke-width="{width:.1}" points="{}"/>"#,
            pts.join(" ")
        );
    }

    /// A dot, with an optional hover title (escaped).
    pub fn circle(&mut self, (cx, cy): (f64, f64), r: f64, fill: &str, title: Option<&str>) {
        match title {
            Some(t) => {
                let _ = write!(
                    self.svg,
                    r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="{r:.1}" fill="{fill}"><title>{}</title></circle>"#,
                    escape(t)
                );
            }
            None => {
                let _ = write!(
                    self.svg,
                    r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="{r:.1}" fill="{fill}"/>"#
                );
            }
        }
    }

    /// A filled rectangle.
    pub fn rect(&mut self, (x, y): (f64, f64), (w, h): (f64, f64), fill: &str) {
        let _ = write!(
            self.svg,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"/>"#
        );
    }

    /// Text (escaped) at `(x, y)`; `extra` is more attributes (markup), e.g.
    /// `text-anchor="end"`.
    pub fn text(&mut self, (x, y): (f64, f64), size: u32, extra: &str, text: &str) {
        let _ = write!(
            self.svg,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}"{}{extra}>{}</text>"#,
            if extra.is_empty() { "" } else { " " },
            escape(text)
        );
    }

    /// Closes the drawing and returns its markup.
    pub fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let hostile = "<script>alert(\"x\")</script>&'\u{1b}[31m";
        assert_eq!(
            escape(hostile),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;\\u{1b}[31m"
        );
        let mut svg = Svg::new(10.0, 10.0, "white", None);
        svg.text((1.0, 2.0), 10, "", hostile);
        svg.circle((1.0, 1.0), 1.0, "red", Some(hostile));
        svg.marker(1.0, 10.0, "red", hostile);
        let svg = svg.finish();
        let mut page = Page::new(hostile, "");
        page.h2(hostile)
            .h3(hostile)
            .table(&[hostile], [[hostile]])
            .errors(&[ScanError::new(hostile, hostile)])
            .raw(&svg);
        let html = page.finish();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains('\u{1b}'));
        assert!(html.starts_with("<!doctype html>") && html.ends_with("</body></html>\n"));
        assert_eq!(html.matches("<table>").count(), 1);
    }
}
