//! SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning and others).

use mlsec_core::{Location, Pointer, Report, Rule, Severity, Span};
use serde_json::{Value, json};

use super::{Invocation, fingerprint};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// Percent-encodes a relative path into a URI reference (RFC 3986), keeping `/`.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn logical_kind(pointer: &Pointer) -> &'static str {
    match pointer {
        Pointer::Tensor(_) => "variable",
        Pointer::Node(_) => "function",
        Pointer::Field(_) => "property",
        Pointer::Member(_) => "resource",
        Pointer::Rank { .. } | Pointer::Record(_) => "object",
    }
}

fn location_json(location: &Location) -> Value {
    let mut physical = json!({ "artifactLocation": { "uri": uri(&location.file) } });
    match location.span {
        Some(Span::Text { line, column }) => {
            physical["region"] = json!({ "startLine": line.max(1), "startColumn": column.max(1) });
        }
        Some(Span::Bytes { offset, len }) => {
            physical["region"] = json!({ "byteOffset": offset, "byteLength": len });
        }
        None => {}
    }
    let mut loc = json!({ "physicalLocation": physical });
    if let Some(pointer) = &location.pointer {
        loc["logicalLocations"] = json!([{
            "fullyQualifiedName": pointer.path(),
            "kind": logical_kind(pointer),
        }]);
    }
    loc
}

fn rule_json(rule: &Rule) -> Value {
    let docs = rule.parsed_docs();
    let markdown = format!(
        "## What it does\n{}\n\n## Why is this bad?\n{}\n\n## Remediation\n{}",
        docs.what_it_does, docs.why_bad, docs.remediation
    );
    json!({
        "id": rule.id,
        "name": rule.name,
        "shortDescription": { "text": rule.summary() },
        "fullDescription": { "text": docs.what_it_does },
        "help": { "text": docs.remediation, "markdown": markdown },
        "defaultConfiguration": { "level": level(rule.default_severity) },
        "properties": {
            "security-severity": rule.default_severity.security_score(),
            "tags": ["security"],
        },
    })
}

pub fn render(report: &Report, inv: &Invocation) -> String {
    let rules: Vec<&Rule> = inv.rules.to_vec();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let mut result = json!({
                "ruleId": finding.rule.id,
                "level": level(finding.severity),
                "message": { "text": finding.message },
                "locations": [location_json(&finding.location)],
                "partialFingerprints": { "mlsecFindingHash/v1": fingerprint(finding) },
                "properties": {
                    "severity": finding.severity,
                    "security-severity": finding.severity.security_score(),
                    "evidence": finding.evidence,
                    "remediation": finding.remediation_text(),
                },
            });
            if let Some(index) = rules.iter().position(|r| r.id == finding.rule.id) {
                result["ruleIndex"] = json!(index);
            }
            result
        })
        .collect();
    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|error| {
            json!({
                "level": "error",
                "message": { "text": error.message },
                "locations": [location_json(&error.location())],
            })
        })
        .chain(
            report
                .warnings
                .iter()
                .map(|warning| json!({ "level": "warning", "message": { "text": warning } })),
        )
        .collect();
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "mlsec",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://github.com/mlsec/mlsec",
                    "rules": rules.iter().map(|r| rule_json(r)).collect::<Vec<_>>(),
                }
            },
            "automationDetails": { "id": format!("mlsec/{}/", inv.subcommand) },
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "exitCode": inv.status.code(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(
            super::uri("models/a b/config.pbtxt"),
            "models/a%20b/config.pbtxt"
        );
        assert_eq!(super::uri("x%\n"), "x%25%0A");
    }
}
