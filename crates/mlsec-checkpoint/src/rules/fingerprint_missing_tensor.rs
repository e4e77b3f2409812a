mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors present in the reference fingerprint but absent from the checkpoint.
    /// ## Why is this bad?
    /// A checkpoint that lost layers is not the model that was reviewed.
    /// ## Remediation
    /// Check the checkpoint's provenance against the reference.
    pub static FINGERPRINT_MISSING_TENSOR = "CKPT040", "fingerprint-missing-tensor", Medium;
}
