mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a tensor whose bytes match a reference tensor of another name.
    /// ## Why is this bad?
    /// Renaming swaps which weights a layer loads.
    /// ## Remediation
    /// Check the checkpoint's provenance against the reference.
    pub static FINGERPRINT_RENAMED_TENSOR = "CKPT042", "fingerprint-renamed-tensor", Low;
}
