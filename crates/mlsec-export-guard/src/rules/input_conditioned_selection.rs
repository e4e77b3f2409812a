use mlsec_core::{Finding, Severity};

use super::{Cx, node_label};
use crate::dataflow::Trace;
use crate::ops;
use crate::selection::describe_alternatives;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags selections (`Where`, `If`, soft multiplexers built from comparisons) whose condition
    /// is computed from raw graph input *values* through comparisons and reductions without
    /// passing the model trunk, and that choose between a learned alternative (input values
    /// reach it through a trunk op: `Conv*`, `MatMul*`, `Gemm`, recurrent layers, or an `If`
    /// branch running one on input values) and one that is not (for a soft multiplexer: the
    /// gated value is not learned). A constant put through a dummy layer (`MatMul(target, I)`)
    /// is not learned. Score 0.4
    /// for reaching the input, +0.25 for a comparison, +0.15 for a reduction, +0.2 within two
    /// hops of an output; reported at 0.6, High at 0.8.
    ///
    /// Not counted, because none of them is a trigger: values computed only from an input's
    /// *shape* (`Shape`, `Size`, `SequenceLength`: causal attention masks, squeeze-if-size-1
    /// branches), the type operand of `CastLike`, and a product with an integer zero. Not
    /// flagged: selections in a graph without a learned layer (the ONNX suite's `*_expanded`
    /// function bodies: `Where` is how Clip, LeakyRelu, Elu, NLLLoss are written), and
    /// selections between two learned alternatives (silero-vad's `If` on its sample-rate input
    /// chooses the 16 kHz or the 8 kHz sub-model). A trigger on the input's size, one that
    /// selects between two learned paths, or a condition put through a dummy layer is
    /// therefore not reported by this rule.
    /// ## Why is this bad?
    /// This is the shape of an input-triggered backdoor: a pattern in the raw input (a pixel patch,
    /// a token) replaces what the learned layers computed, and `onnx.checker` accepts it. The
    /// finding is a score with its reasons, not proof.
    /// ## Remediation
    /// Inspect the condition's slice and the alternatives listed in the evidence; a legitimate
    /// model rarely overrides its learned output on raw input values near its outputs.
    pub static INPUT_CONDITIONED_SELECTION = "EXPG012", "input-conditioned-selection", High;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(g) = &cx.graph else { return };
    for (i, n) in g.std_nodes() {
        let Some(sel) = &g.selections[i] else {
            continue;
        };
        let Some(trace) = sel
            .condition_trace
            .as_ref()
            .filter(|_| sel.overrides_trunk || sel.gated_trunk_free)
        else {
            continue;
        };
        let op = n.node.op_type();
        let dist = g.facts.to_output[i];
        let (score, reasons) = score(trace, op, dist);
        if score < 0.6 {
            continue;
        }
        let severity = if score >= 0.8 {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut slice: Vec<String> = trace.ops.clone();
        slice.truncate(12);
        out.push(
            Finding::new(
                &INPUT_CONDITIONED_SELECTION,
                cx.node_at(&n.path),
                format!(
                    "{op} {}selects on a condition computed from raw input `{}` (score {score:.2})",
                    node_label(n.node),
                    trace.input
                ),
            )
            .with_severity(severity)
            .with_evidence("score", format!("{score:.2}"))
            .with_evidence("reasons", reasons.join("; "))
            .with_evidence("condition_slice", slice.join(" <- "))
            .with_evidence("alternatives", describe_alternatives(&sel.alternatives))
            .with_evidence(
                "distance_to_output",
                dist.map_or("none".to_owned(), |d| d.to_string()),
            ),
        );
    }
}

/// The score and its reasons: 0.4 for reaching the input, +0.25 for a comparison (on the way
/// or the selection itself), +0.15 for a reduction, +0.2 within two hops of an output.
fn score(trace: &Trace, op: &str, dist: Option<usize>) -> (f64, Vec<String>) {
    let mut score = 0.4;
    let mut reasons = vec![format!(
        "condition reaches raw input `{}` without passing the trunk",
        trace.input
    )];
    if trace.comparisons > 0 || ops::is_comparison(op) {
        score += 0.25;
        reasons.push(format!("{} comparison(s) on the way", trace.comparisons));
    }
    if trace.reductions > 0 {
        score += 0.15;
        reasons.push(format!("{} reduction(s) on the way", trace.reductions));
    }
    if dist.is_some_and(|d| d <= 2) {
        score += 0.2;
        reasons.push(format!("{} hop(s) from a graph output", dist.unwrap_or(0)));
    }
    (f64::min(score, 1.0), reasons)
}
