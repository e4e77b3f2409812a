//! `export-guard diff`: what changed between two ONNX models, by structural fingerprint, op
//! histogram and per-initializer digests.

use std::collections::BTreeSet;
use std::path::Path;

use mlsec_core::{Finding, Location, Pointer, Report, ScanError, Table};
use serde_json::json;

use crate::lint;
use crate::rules::{GRAPH_STRUCTURE_CHANGED, WEIGHTS_CHANGED};

/// At most this many tensor names are listed in evidence.
const MAX_LISTED: usize = 20;

pub fn diff(old: &Path, new: &Path, report: &mut Report) {
    let (old_d, new_d) = (old.display().to_string(), new.display().to_string());
    let a = lint::lint_file(old, &old_d);
    let b = lint::lint_file(new, &new_d);
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            if let Err(e) = a {
                report.errors.push(ScanError::new(old_d, format!("{e:#}")));
            }
            if let Err(e) = b {
                report.errors.push(ScanError::new(new_d, format!("{e:#}")));
            }
            return;
        }
    };
    report.scanned += 2;
    let mut rows = Vec::new();
    let mut op_changes = Vec::new();
    let ops: BTreeSet<&String> = a.ops.keys().chain(b.ops.keys()).collect();
    for op in ops {
        let (x, y) = (
            a.ops.get(op).copied().unwrap_or(0),
            b.ops.get(op).copied().unwrap_or(0),
        );
        if x != y {
            op_changes.push(format!("{op} {x}->{y}"));
            rows.push(vec![
                "op count".into(),
                op.clone(),
                x.to_string(),
                y.to_string(),
            ]);
        }
    }
    if a.fingerprint != b.fingerprint {
        report.findings.push(
            Finding::new(
                &GRAPH_STRUCTURE_CHANGED,
                Location::file(&new_d).with_pointer(Pointer::Field("graph".into())),
                format!(
                    "graph structure differs from {old_d} ({} -> {} nodes{})",
                    a.nodes,
                    b.nodes,
                    if op_changes.is_empty() {
                        ", same op counts: edges or attributes changed".to_owned()
                    } else {
                        String::new()
                    }
                ),
            )
            .with_evidence("old_fingerprint", &a.fingerprint)
            .with_evidence("new_fingerprint", &b.fingerprint)
            .with_evidence("op_changes", op_changes.join(", ")),
        );
        rows.push(vec![
            "fingerprint".into(),
            String::new(),
            a.fingerprint.clone(),
            b.fingerprint.clone(),
        ]);
    }
    let names: BTreeSet<&String> = a
        .tensor_digests
        .keys()
        .chain(b.tensor_digests.keys())
        .collect();
    let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for name in names {
        match (a.tensor_digests.get(name), b.tensor_digests.get(name)) {
            (None, Some(_)) => added.push(name.clone()),
            (Some(_), None) => removed.push(name.clone()),
            (Some(x), Some(y)) if x != y => changed.push(name.clone()),
            _ => {}
        }
    }
    for (what, list) in [
        ("added", &added),
        ("removed", &removed),
        ("changed", &changed),
    ] {
        for n in list.iter().take(MAX_LISTED) {
            rows.push(vec![
                format!("tensor {what}"),
                n.clone(),
                String::new(),
                String::new(),
            ]);
        }
    }
    if a.weights != b.weights {
        let list = |v: &Vec<String>| {
            v.iter()
                .take(MAX_LISTED)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        };
        report.findings.push(
            Finding::new(
                &WEIGHTS_CHANGED,
                Location::file(&new_d).with_pointer(Pointer::Field("graph.initializer".into())),
                format!(
                    "weights differ from {old_d}: {} added, {} removed, {} changed",
                    added.len(),
                    removed.len(),
                    changed.len()
                ),
            )
            .with_evidence("old_weights", &a.weights)
            .with_evidence("new_weights", &b.weights)
            .with_evidence("added", list(&added))
            .with_evidence("removed", list(&removed))
            .with_evidence("changed", list(&changed)),
        );
    }
    report.tables.push(Table {
        title: format!("{old_d} -> {new_d}"),
        columns: vec!["change".into(), "what".into(), "old".into(), "new".into()],
        rows,
    });
    report.data.insert(
        "diff".into(),
        json!({
            "old": { "file": old_d, "fingerprint": a.fingerprint, "weights": a.weights, "nodes": a.nodes },
            "new": { "file": new_d, "fingerprint": b.fingerprint, "weights": b.weights, "nodes": b.nodes },
            "tensors": { "added": added, "removed": removed, "changed": changed },
        }),
    );
}
