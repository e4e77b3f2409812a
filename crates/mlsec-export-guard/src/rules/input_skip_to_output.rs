use mlsec_core::Finding;

use super::{Cx, node_label};
use crate::dataflow::{value_carrying_trace, value_reads};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags nodes at most one hop from a graph output that combine a learned value computed
    /// from raw input `X` with `X` itself, taken without passing the trunk.
    ///
    /// Not a skip: a learned layer reading a raw input (an LSTM's initial state, `addmm`'s
    /// bias operand), a side input that never goes through a learned layer mixed with one that
    /// did (an additive attention mask, a sample rate), and shape-only or zero-multiplied reads
    /// (`state + Cast(sr * 0)`, how torch.onnx keeps silero-vad's unused input alive), and a
    /// path through a comparison or boolean op, which carries a condition rather than the
    /// input's values (masked mean pooling divides by a token count computed as
    /// `ReduceSum(Cast(Not(Equal(ids, pad))))`); conditions are EXPG012's to judge.
    /// ## Why is this bad?
    /// A skip connection from the raw input straight to the last layers lets chosen input values
    /// pass through to the prediction unchanged by the learned weights, a common backdoor carrier.
    /// ## Remediation
    /// Check that the skip is intended (e.g. a documented residual), or remove it.
    pub static INPUT_SKIP_TO_OUTPUT = "EXPG016", "input-skip-to-output", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(g) = &cx.graph else { return };
    let (flat, facts) = (&g.flat, &g.facts);
    if !facts.has_trunk {
        return;
    }
    for (i, n) in g.std_nodes() {
        let op = n.node.op_type();
        // Skip from a raw input around the learned layers to the last layers: the node mixes
        // a learned value computed from input X with X itself, trunk-free. A learned layer
        // reading a raw input (an LSTM's initial state, `addmm`'s bias) is the model working,
        // and a side input that never went through the trunk (an attention mask added to the
        // scores, a sample rate) is not a skip around it; nor is a path through a comparison
        // (a padding mask from the token ids in masked mean pooling): it carries a condition,
        // which is EXPG012's business, not the input's values.
        if facts.to_output[i].is_none_or(|d| d > 1)
            || facts.trunk[i]
            || matches!(op, "Where" | "If" | "Loop" | "Scan" | "SequenceMap")
        {
            continue;
        }
        let reads = value_reads(flat, n);
        let via = reads
            .iter()
            .filter(|v| facts.value_through_trunk(flat, v))
            .fold(0u64, |acc, v| acc | facts.value_via_trunk(flat, v));
        let skip = reads
            .iter()
            .filter(|v| !facts.value_through_trunk(flat, v))
            .filter_map(|v| value_carrying_trace(flat, facts, v))
            .find(|t| facts.input_bit(&t.input).is_some_and(|b| via & b != 0));
        if let Some(trace) = skip {
            out.push(
                Finding::new(
                    &INPUT_SKIP_TO_OUTPUT,
                    cx.node_at(&n.path),
                    format!(
                        "{op} {}mixes the trunk with raw input `{}` that skips every learned layer",
                        node_label(n.node),
                        trace.input
                    ),
                )
                .with_evidence("input", &trace.input)
                .with_evidence("skip_path", trace.ops.join(" <- "))
                .with_evidence("distance_to_output", facts.to_output[i].unwrap_or(0)),
            );
        }
    }
}
