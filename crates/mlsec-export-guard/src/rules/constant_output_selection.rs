use mlsec_core::Finding;
use mlsec_onnx::proto::NodeProto;

use super::{Cx, GraphCx, node_label};
use crate::model;
use crate::selection::describe_alternatives;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags selections that feed a graph output where one branch is computed only from
    /// constants, the other is learned (passes a trunk op), and the condition is computed from
    /// raw input values without passing the trunk (as for EXPG012).
    ///
    /// Constant fills chosen by the model's own output (a NaN guard on the softmax), by a mask
    /// input between two constants (`Where(mask, 0, -inf)`), or in front of the learned layers
    /// (`div_no_nan`'s zero) do not override a prediction and are not flagged; nor are graphs
    /// without a learned layer (the ONNX suite's `test_if`, whose branches are both constants).
    ///
    /// Kept on purpose: a learned output overwritten by a fill value where a condition on the
    /// raw input says so, even when it is masking (`logits.masked_fill(ids == pad, -1e4)` in a
    /// token classifier). Structurally that is a fill-value backdoor (equal scores make
    /// `argmax` pick a fixed class), and the graph cannot tell a padding id from a trigger
    /// token; accept a reviewed model with an ignore in the policy file.
    /// ## Why is this bad?
    /// A branch that ignores the input and returns a fixed tensor in place of the learned output
    /// lets a trigger force a chosen prediction, independent of what the model learned.
    /// ## Remediation
    /// Review the constant branch named in the evidence; remove it unless the model is meant to
    /// return fixed values.
    pub static CONSTANT_OUTPUT_SELECTION = "EXPG014", "constant-output-selection", High;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(g) = &cx.graph else { return };
    for (i, n) in g.std_nodes() {
        let Some(sel) = &g.selections[i] else {
            continue;
        };
        // A selection that reaches an output, chosen by a trunk-free condition on the input,
        // instead of a learned alternative.
        if g.facts.to_output[i].is_none() || !sel.overrides_trunk || sel.condition_trace.is_none() {
            continue;
        }
        let op = n.node.op_type();
        let constant_branch = match op {
            "Where" => n
                .inputs
                .iter()
                .skip(1)
                .position(|v| !v.is_empty() && !g.facts.value_from_input(&g.flat, v))
                .map(|k| format!("input {}", k + 1)),
            "If" => if_constant_branch(n.node, g),
            _ => None,
        };
        if let Some(branch) = constant_branch {
            out.push(
                Finding::new(
                    &CONSTANT_OUTPUT_SELECTION,
                    cx.node_at(&n.path),
                    format!(
                        "{op} {}can route a constant-only {branch} to a graph output",
                        node_label(n.node)
                    ),
                )
                .with_evidence("constant_branch", branch)
                .with_evidence("alternatives", describe_alternatives(&sel.alternatives))
                .with_evidence("distance_to_output", g.facts.to_output[i].unwrap_or(0)),
            );
        }
    }
}

/// Names an `If` branch whose outputs use nothing from the enclosing graph but constants.
fn if_constant_branch(node: &NodeProto, g: &GraphCx<'_>) -> Option<String> {
    for attr in &node.attribute {
        let Some(branch) = &attr.g else { continue };
        if branch.output.is_empty() {
            continue;
        }
        let refs = model::outer_refs(branch);
        if refs.iter().all(|r| !g.facts.value_from_input(&g.flat, r)) {
            return Some(attr.name().to_owned());
        }
    }
    None
}
