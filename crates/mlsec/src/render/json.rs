//! Machine-readable output for scripts: stable field names and `schema_version`.

use mlsec_core::{Finding, Report};
use serde_json::{Value, json};

use super::{Invocation, fingerprint};

/// Bumped whenever a field is removed or changes meaning (additions keep the version).
pub const SCHEMA_VERSION: u32 = 1;

pub fn finding_json(finding: &Finding) -> Value {
    json!({
        "rule": finding.rule.id,
        "name": finding.rule.name,
        "severity": finding.severity,
        "location": finding.location,
        "message": finding.message,
        "evidence": finding.evidence,
        "remediation": finding.remediation_text(),
        "fingerprint": fingerprint(finding),
    })
}

pub fn render(report: &Report, inv: &Invocation) -> String {
    let by_severity: serde_json::Map<String, Value> = report
        .counts()
        .iter()
        .map(|(sev, n)| (sev.as_str().to_owned(), json!(n)))
        .collect();
    let doc = json!({
        "schema_version": SCHEMA_VERSION,
        "tool": { "name": "mlsec", "version": env!("CARGO_PKG_VERSION") },
        "subcommand": inv.subcommand,
        "summary": {
            "exit_code": inv.status.code(),
            "fail_on": inv.policy.fail_on,
            "findings": report.findings.len(),
            "errors": report.errors.len(),
            "by_severity": by_severity,
            "scanned": report.scanned,
            "suppressed": report.suppressed,
        },
        "findings": report.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "errors": report.errors,
        "warnings": report.warnings,
        "tables": report.tables,
        "data": report.data,
    });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}
