use mlsec_core::Finding;

use super::{Cx, node_label};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `Loop` trip counts or conditions computed from the values of a *data* input (one
    /// that reaches a learned layer), and `If` conditions computed from input values that
    /// choose between a learned branch and a trunk-free one.
    ///
    /// A count that is an input of its own (a generation length, the ONNX suite's `test_loop11`
    /// and `Range`/`SequenceMap` expansions, which have no learned layer) is part of the model's
    /// visible signature, and a count from the input's shape is bounded by the input's size;
    /// neither is flagged. An `If` between two learned sub-models (silero-vad's sample-rate
    /// switch) is a mode switch, not a hidden path.
    /// ## Why is this bad?
    /// A trip count hidden in the data the model classifies is a denial-of-service vector
    /// (unbounded runtime chosen by whoever crafts the input), and a data-dependent branch away
    /// from the learned layers is how a trigger reaches a hidden path.
    /// ## Remediation
    /// Bound the loop with a constant trip count, or make sure the condition does not depend on
    /// untrusted input.
    pub static DATA_DEPENDENT_CONTROL_FLOW = "EXPG015", "data-dependent-control-flow", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(g) = &cx.graph else { return };
    let (flat, facts) = (&g.flat, &g.facts);
    let control_flow = flat
        .nodes
        .iter()
        .filter(|n| matches!(n.node.op_type(), "If" | "Loop" | "Scan" | "SequenceMap"))
        .count();
    for (i, n) in g.std_nodes() {
        let op = n.node.op_type();
        // A loop count computed from the data the model computes on, or a branch on the input
        // between a learned and a trunk-free path.
        let dependent: Vec<&str> = match op {
            "Loop" => [(0, "trip count M"), (1, "loop condition")]
                .into_iter()
                .filter(|(k, _)| {
                    n.inputs.get(*k).is_some_and(|v| {
                        !v.is_empty() && facts.value_inputs(flat, v) & facts.data_inputs != 0
                    })
                })
                .map(|(_, w)| w)
                .collect(),
            "If" if g.selections[i].as_ref().is_some_and(|s| s.overrides_trunk) => n
                .inputs
                .first()
                .filter(|v| facts.value_from_input(flat, v))
                .map(|_| vec!["branch condition"])
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if dependent.is_empty() {
            continue;
        }
        let unbounded = op == "Loop"
            && n.inputs
                .first()
                .is_none_or(|v| v.is_empty() || facts.value_from_input(flat, v));
        out.push(
            Finding::new(
                &DATA_DEPENDENT_CONTROL_FLOW,
                cx.node_at(&n.path),
                format!(
                    "{op} {}{} computed from graph input",
                    node_label(n.node),
                    dependent.join(" and ")
                ),
            )
            .with_evidence("depends_on_input", dependent.join(", "))
            .with_evidence("unbounded_trip_count", unbounded)
            .with_evidence("control_flow_ops_in_graph", control_flow),
        );
    }
}
