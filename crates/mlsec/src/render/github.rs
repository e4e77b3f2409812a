//! GitHub Actions workflow commands (`::error file=..,line=..::message`), which the runner
//! turns into annotations on the pull request.

use std::fmt::Write as _;

use mlsec_core::{Location, Report, Severity, Span};

use super::Invocation;
use crate::sanitize;

/// Escapes a workflow-command message: `%`, CR and LF.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow-command property value: as data, plus `:` and `,`.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

fn properties(location: &Location, title: &str) -> String {
    let mut props = format!("file={}", property(&sanitize::text(&location.file)));
    if let Some(Span::Text { line, column }) = location.span {
        let _ = write!(props, ",line={line},col={column}");
    }
    let _ = write!(props, ",title={}", property(&sanitize::text(title)));
    props
}

pub fn render(report: &Report, inv: &Invocation) -> String {
    let mut out = String::new();
    for finding in &report.findings {
        let level = match finding.severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Info => "notice",
        };
        let title = format!(
            "{} {} ({})",
            finding.rule.id, finding.rule.name, finding.severity
        );
        let mut message = sanitize::text(&finding.message).into_owned();
        if let Some(pointer) = &finding.location.pointer {
            let _ = write!(message, "\n{}", sanitize::text(&pointer.to_string()));
        }
        if let Some(Span::Bytes { offset, .. }) = finding.location.span {
            let _ = write!(message, " at byte {offset}");
        }
        for (key, value) in &finding.evidence {
            let _ = write!(message, "\n{key}: {}", sanitize::text(value));
        }
        let _ = write!(
            message,
            "\nfix: {}",
            sanitize::text(&finding.remediation_text())
        );
        let _ = writeln!(
            out,
            "::{level} {}::{}",
            properties(&finding.location, &title),
            data(&message)
        );
    }
    for error in &report.errors {
        let _ = writeln!(
            out,
            "::error {}::{}",
            properties(&error.location(), "mlsec could not check this file"),
            data(&sanitize::text(&error.message))
        );
    }
    for warning in &report.warnings {
        let _ = writeln!(
            out,
            "::warning title=mlsec::{}",
            data(&sanitize::text(warning))
        );
    }
    let _ = writeln!(
        out,
        "mlsec {}: {} findings, {} errors, exit {}",
        inv.subcommand,
        report.findings.len(),
        report.errors.len(),
        inv.status.code()
    );
    out
}
