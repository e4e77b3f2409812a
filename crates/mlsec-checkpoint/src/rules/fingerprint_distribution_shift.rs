mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors whose value histogram diverges from the reference by more than
    /// `--kl-threshold` (KL divergence, default 0.5). The histogram bins values by sign and power
    /// of two, so scaling (`x10`) and shifting (`+5`) are visible.
    /// ## Why is this bad?
    /// Distribution changes reveal tampered weights even when shapes and names are unchanged.
    /// ## Remediation
    /// Compare with the trusted checkpoint and restore the tensor.
    pub static FINGERPRINT_DISTRIBUTION_SHIFT = "CKPT044", "fingerprint-distribution-shift", Medium;
}
