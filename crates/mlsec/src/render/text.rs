//! Human-readable output: one block per finding, errors, warnings, tables, a summary line.

use std::fmt::Write as _;

use mlsec_core::{Report, Severity, Table};

use super::Invocation;
use crate::sanitize::text as clean;

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    fn severity(&self, sev: Severity) -> String {
        let code = match sev {
            Severity::Critical => "1;35",
            Severity::High => "1;31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        self.wrap(code, sev.as_str())
    }
}

pub fn render(report: &Report, inv: &Invocation) -> String {
    let paint = Paint(inv.color);
    let mut out = String::new();
    for finding in &report.findings {
        let _ = writeln!(
            out,
            "{}: {} {} [{}] {}",
            paint.wrap("1", &clean(&finding.location.to_string())),
            paint.severity(finding.severity),
            paint.wrap("1", finding.rule.id),
            finding.rule.name,
            clean(&finding.message)
        );
        for (key, value) in &finding.evidence {
            let _ = writeln!(out, "    {key}: {}", clean(value));
        }
        if !inv.quiet {
            let _ = writeln!(
                out,
                "    {} {}",
                paint.wrap("32", "fix:"),
                clean(&finding.remediation_text())
            );
        }
        if inv.verbose {
            let summary = finding.rule.summary();
            let _ = writeln!(
                out,
                "    rule: {summary} (mlsec explain {})",
                finding.rule.id
            );
        }
    }
    for error in &report.errors {
        let _ = writeln!(
            out,
            "{}: {}",
            paint.wrap("1;31", "error"),
            clean(&error.to_string())
        );
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "{}: {}", paint.wrap("33", "warning"), clean(warning));
    }
    for table in &report.tables {
        out.push('\n');
        render_table(&mut out, table);
    }
    if !inv.quiet {
        out.push_str(&summary(report, inv));
    }
    out
}

fn render_table(out: &mut String, table: &Table) {
    // A key-value table has no header line: its columns are all empty.
    let header = table.columns.iter().any(|c| !c.is_empty());
    let cells: Vec<Vec<String>> = header
        .then_some(&table.columns)
        .into_iter()
        .chain(&table.rows)
        .map(|row| row.iter().map(|c| clean(c).into_owned()).collect())
        .collect();
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            cells
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    if !table.title.is_empty() {
        let _ = writeln!(out, "{}", clean(&table.title));
    }
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<width$}", width = widths[i]))
            .collect();
        let _ = writeln!(out, "  {}", line.join("  ").trim_end());
    }
}

fn summary(report: &Report, inv: &Invocation) -> String {
    let mut parts = Vec::new();
    let by_severity: Vec<String> = report
        .counts()
        .iter()
        .rev()
        .filter(|(_, n)| *n > 0)
        .map(|(sev, n)| format!("{n} {sev}"))
        .collect();
    let findings = report.findings.len();
    parts.push(if by_severity.is_empty() {
        "no findings".to_owned()
    } else {
        format!(
            "{findings} finding{} ({})",
            plural(findings),
            by_severity.join(", ")
        )
    });
    if !report.errors.is_empty() {
        parts.push(format!(
            "{} error{}",
            report.errors.len(),
            plural(report.errors.len())
        ));
    }
    if report.not_scanned > 0 {
        parts.push(format!("{} not scanned", report.not_scanned));
    }
    if report.suppressed > 0 {
        parts.push(format!("{} ignored by policy", report.suppressed));
    }
    let verdict = match inv.status {
        mlsec_core::ExitStatus::Clean => "clean".to_owned(),
        mlsec_core::ExitStatus::Error => "incomplete: some inputs could not be checked".to_owned(),
        mlsec_core::ExitStatus::Findings => format!("failed (fail-on {})", inv.policy.fail_on),
    };
    format!(
        "\nmlsec {}: {}; {} scanned; {verdict}\n",
        inv.subcommand,
        parts.join(", "),
        report.scanned
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
