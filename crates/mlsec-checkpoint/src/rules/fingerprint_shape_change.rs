mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors whose shape or dtype differs from the reference fingerprint.
    /// ## Why is this bad?
    /// A different shape or dtype is a different model, not a fine-tune of the reviewed one.
    /// ## Remediation
    /// Check the checkpoint's provenance against the reference.
    pub static FINGERPRINT_SHAPE_CHANGE = "CKPT043", "fingerprint-shape-change", High;
}
