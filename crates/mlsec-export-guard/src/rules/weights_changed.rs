use mlsec_core::{Finding, Location, Pointer};

use crate::diff::{DiffCx, MAX_LISTED};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags two ONNX models whose weights (name, type, shape and bytes of every initializer)
    /// differ.
    /// ## Why is this bad?
    /// Weights edited between stages change behaviour without changing the graph, which is enough
    /// for a data-free backdoor.
    /// ## Remediation
    /// Check the changed tensors listed in the evidence; expected after quantisation or fp16
    /// conversion, not after a re-save.
    pub static WEIGHTS_CHANGED = "EXPG024", "weights-changed", Low;
}

pub(crate) fn check(cx: &DiffCx, out: &mut Vec<Finding>) {
    let (old, new) = (cx.old, cx.new);
    if old.weights == new.weights {
        return;
    }
    let list = |v: &[String]| {
        v.iter()
            .take(MAX_LISTED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push(
        Finding::new(
            &WEIGHTS_CHANGED,
            Location::file(cx.new_display).with_pointer(Pointer::Field("graph.initializer".into())),
            format!(
                "weights differ from {}: {} added, {} removed, {} changed",
                cx.old_display,
                cx.added.len(),
                cx.removed.len(),
                cx.changed.len()
            ),
        )
        .with_evidence("old_weights", &old.weights)
        .with_evidence("new_weights", &new.weights)
        .with_evidence("added", list(&cx.added))
        .with_evidence("removed", list(&cx.removed))
        .with_evidence("changed", list(&cx.changed)),
    );
}
