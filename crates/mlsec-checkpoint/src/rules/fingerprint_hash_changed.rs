mlsec_core::declare_rule! {
    /// ## What it does
    /// Reports tensors whose SHA-256 differs from the reference while every statistic is within
    /// thresholds.
    /// ## Why is this bad?
    /// Any change to reviewed weights is worth knowing about, even a small fine-tune.
    /// ## Remediation
    /// Confirm the change was intended.
    pub static FINGERPRINT_HASH_CHANGED = "CKPT046", "fingerprint-hash-changed", Info;
}
