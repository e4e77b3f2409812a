//! `export-guard diff`: what changed between two ONNX models, by structural fingerprint, op
//! histogram and per-initializer digests. Both models are linted, the differences computed
//! once ([`DiffCx`]), and every check of [`crate::rules::DIFF_CHECKS`] decides over them.

use std::collections::BTreeSet;
use std::path::Path;

use mlsec_core::{Report, ScanError, Table};
use serde_json::json;

use crate::lint::{self, LintOutcome};
use crate::rules::DIFF_CHECKS;

/// At most this many tensor names are listed in evidence and in the table.
pub(crate) const MAX_LISTED: usize = 20;

/// What the `diff` checks see: both models and what differs between them.
pub(crate) struct DiffCx<'a> {
    /// The file names used in findings.
    pub old_display: &'a str,
    pub new_display: &'a str,
    pub old: &'a LintOutcome,
    pub new: &'a LintOutcome,
    /// Ops whose count differs, with both counts.
    pub op_changes: Vec<(&'a str, usize, usize)>,
    /// Initializer names only in the new model, only in the old one, and in both with
    /// different digests; sorted.
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl<'a> DiffCx<'a> {
    fn new(
        (old_display, old): (&'a str, &'a LintOutcome),
        (new_display, new): (&'a str, &'a LintOutcome),
    ) -> Self {
        let ops: BTreeSet<&String> = old.ops.keys().chain(new.ops.keys()).collect();
        let op_changes = ops
            .into_iter()
            .map(|op| {
                let count = |o: &LintOutcome| o.ops.get(op).copied().unwrap_or(0);
                (op.as_str(), count(old), count(new))
            })
            .filter(|(_, x, y)| x != y)
            .collect();
        let names: BTreeSet<&String> = old
            .tensor_digests
            .keys()
            .chain(new.tensor_digests.keys())
            .collect();
        let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
        for name in names {
            match (old.tensor_digests.get(name), new.tensor_digests.get(name)) {
                (None, Some(_)) => added.push(name.clone()),
                (Some(_), None) => removed.push(name.clone()),
                (Some(x), Some(y)) if x != y => changed.push(name.clone()),
                _ => {}
            }
        }
        DiffCx {
            old_display,
            new_display,
            old,
            new,
            op_changes,
            added,
            removed,
            changed,
        }
    }

    /// The op changes as `op old->new`, for messages and evidence.
    pub fn op_changes_text(&self) -> Vec<String> {
        self.op_changes
            .iter()
            .map(|(op, x, y)| format!("{op} {x}->{y}"))
            .collect()
    }

    /// The table rows: op counts, fingerprints, then listed tensors.
    fn rows(&self) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        for (op, x, y) in &self.op_changes {
            rows.push(vec![
                "op count".into(),
                (*op).to_owned(),
                x.to_string(),
                y.to_string(),
            ]);
        }
        if self.old.fingerprint != self.new.fingerprint {
            rows.push(vec![
                "fingerprint".into(),
                String::new(),
                self.old.fingerprint.clone(),
                self.new.fingerprint.clone(),
            ]);
        }
        for (what, list) in [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
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
        rows
    }
}

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
    let cx = DiffCx::new((&old_d, &a), (&new_d, &b));
    for (_, check) in DIFF_CHECKS {
        check(&cx, &mut report.findings);
    }
    report.tables.push(Table {
        title: format!("{old_d} -> {new_d}"),
        columns: vec!["change".into(), "what".into(), "old".into(), "new".into()],
        rows: cx.rows(),
    });
    report.data.insert(
        "diff".into(),
        json!({
            "old": { "file": old_d, "fingerprint": a.fingerprint, "weights": a.weights, "nodes": a.nodes },
            "new": { "file": new_d, "fingerprint": b.fingerprint, "weights": b.weights, "nodes": b.nodes },
            "tensors": { "added": cx.added, "removed": cx.removed, "changed": cx.changed },
        }),
    );
}
