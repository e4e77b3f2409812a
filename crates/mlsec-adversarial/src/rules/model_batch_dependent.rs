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
