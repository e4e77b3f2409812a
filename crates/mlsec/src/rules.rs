//! `mlsec rules` and `mlsec explain`.

use std::fmt::Write as _;

use mlsec_core::Rule;

/// Every rule of every subcommand.
pub fn all() -> Vec<&'static Rule> {
    [
        mlsec_checkpoint::RULES,
        mlsec_triton::RULES,
        mlsec_export_guard::RULES,
        mlsec_poison_monitor::RULES,
        mlsec_adversarial::RULES,
        mlsec_inspect::RULES,
    ]
    .into_iter()
    .flatten()
    .copied()
    .collect()
}

/// The table of rules (or JSON), optionally only those with an id prefix.
pub fn table(prefix: Option<&str>, json: bool) -> String {
    let rules: Vec<&Rule> = all()
        .into_iter()
        .filter(|r| prefix.is_none_or(|p| r.id.starts_with(&p.to_ascii_uppercase())))
        .collect();
    if json {
        let list: Vec<serde_json::Value> = rules
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "name": r.name,
                    "default_severity": r.default_severity,
                    "summary": r.summary(),
                })
            })
            .collect();
        let mut out = serde_json::to_string_pretty(&list).unwrap_or_default();
        out.push('\n');
        return out;
    }
    let name_width = rules.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!(
        "{:<8} {:<name_width$} {:<9} SUMMARY\n",
        "ID", "NAME", "SEVERITY"
    );
    for rule in &rules {
        let _ = writeln!(
            out,
            "{:<8} {:<name_width$} {:<9} {}",
            rule.id,
            rule.name,
            rule.default_severity.as_str(),
            rule.summary()
        );
    }
    let _ = writeln!(out, "{} rules", rules.len());
    out
}

/// A rule's documentation, found by id (any case) or name.
pub fn explain(key: &str) -> Option<String> {
    let rule = all()
        .into_iter()
        .find(|r| r.id.eq_ignore_ascii_case(key) || r.name == key)?;
    let docs = rule.parsed_docs();
    let mut out = format!(
        "{} ({}) · default severity {}\n\n## What it does\n{}\n\n## Why is this bad?\n{}\n",
        rule.id, rule.name, rule.default_severity, docs.what_it_does, docs.why_bad
    );
    if !docs.example.is_empty() {
        let _ = write!(out, "\n## Example\n{}\n", docs.example);
    }
    let _ = writeln!(out, "\n## Remediation\n{}", docs.remediation);
    Some(out)
}
