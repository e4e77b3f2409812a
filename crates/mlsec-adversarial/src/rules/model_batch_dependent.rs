use mlsec_core::Finding;

use super::ModelCx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a model whose output for a sample depends on the other samples in the batch
    /// (`f(x[:k])` differs from `f(x)[:k]`).
    /// ## Why is this bad?
    /// Usually a model exported in train mode (batch statistics in BatchNormalization). Attack results then
    /// depend on batch composition and do not reflect the deployed model.
    /// ## Remediation
    /// Export with `model.eval()` so normalisation uses running statistics.
    pub static MODEL_BATCH_DEPENDENT = "ADV005", "model-batch-dependent", Medium;
}

/// Fires when `f(x[:k])` and `f(x)[:k]` differ by more than float noise (the measure and its
/// tolerance are in [`crate::checks::run`]).
pub(crate) fn check(cx: &ModelCx, out: &mut Vec<Finding>) {
    let c = cx.checks;
    if c.batch_independent {
        return;
    }
    out.push(
        Finding::new(
            &MODEL_BATCH_DEPENDENT,
            super::at(cx.file, "output"),
            format!(
                "outputs depend on the rest of the batch (f(x[:k]) and f(x)[:k] differ by up to {:.3e})",
                c.batch_max_diff
            ),
        )
        .with_evidence("max_diff", c.batch_max_diff)
        .with_evidence("samples", c.samples),
    );
}
