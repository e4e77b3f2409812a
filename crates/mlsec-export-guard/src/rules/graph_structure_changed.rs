use mlsec_core::{Finding, Location, Pointer};

use crate::diff::DiffCx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags two ONNX models whose structural fingerprints (op types, domains, attributes and
    /// edges, names stripped) differ.
    /// ## Why is this bad?
    /// A conversion or optimisation step should not change what the graph computes; an added branch
    /// or op between stages is how a backdoor is inserted after review.
    /// ## Remediation
    /// Review the listed differences; re-export if they are not explained by the conversion.
    pub static GRAPH_STRUCTURE_CHANGED = "EXPG023", "graph-structure-changed", Medium;
}

pub(crate) fn check(cx: &DiffCx, out: &mut Vec<Finding>) {
    let (old, new) = (cx.old, cx.new);
    if old.fingerprint == new.fingerprint {
        return;
    }
    let op_changes = cx.op_changes_text();
    out.push(
        Finding::new(
            &GRAPH_STRUCTURE_CHANGED,
            Location::file(cx.new_display).with_pointer(Pointer::Field("graph".into())),
            format!(
                "graph structure differs from {} ({} -> {} nodes{})",
                cx.old_display,
                old.nodes,
                new.nodes,
                if op_changes.is_empty() {
                    ", same op counts: edges or attributes changed"
                } else {
                    ""
                }
            ),
        )
        .with_evidence("old_fingerprint", &old.fingerprint)
        .with_evidence("new_fingerprint", &new.fingerprint)
        .with_evidence("op_changes", op_changes.join(", ")),
    );
}
