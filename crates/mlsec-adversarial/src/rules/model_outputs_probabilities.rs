use mlsec_core::Finding;

use super::ModelCx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a model whose outputs are probabilities (every row in [0, 1] and summing to 1) instead of
    /// logits.
    /// ## Why is this bad?
    /// Attacks take the cross-entropy of the logits. On softmax outputs the loss saturates: confident
    /// points get zero or vanishing gradients and the model looks robust because the attack is broken
    /// (gradient masking), not because it is robust.
    /// ## Remediation
    /// Export the model without its final Softmax (attack the logits), or remove the Softmax node from the
    /// graph before testing.
    pub static MODEL_OUTPUTS_PROBABILITIES = "ADV003", "model-outputs-probabilities", Medium;
}

/// Fires when every output row lies in [0, 1] and sums to 1.
pub(crate) fn check(cx: &ModelCx, out: &mut Vec<Finding>) {
    if !cx.checks.probabilities {
        return;
    }
    out.push(
        Finding::new(
            &MODEL_OUTPUTS_PROBABILITIES,
            super::at(cx.file, "output"),
            "the model outputs probabilities (rows in [0, 1] summing to 1), not logits",
        )
        .with_evidence("samples", cx.checks.samples),
    );
}
