mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags floating-point tensors that contain NaN or infinite values (counted separately from
    /// the statistics of finite values).
    /// ## Why is this bad?
    /// Non-finite weights make a model produce garbage or crash, and are a sign of a corrupted or
    /// sabotaged checkpoint.
    /// ## Remediation
    /// Retrain or restore the checkpoint from a known-good copy.
    pub static WEIGHT_NON_FINITE = "CKPT030", "weight-non-finite", Medium;
}
