mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors in the checkpoint that the reference fingerprint does not have.
    /// ## Why is this bad?
    /// Extra tensors can carry added behaviour (backdoor heads, adapters) or hidden data.
    /// ## Remediation
    /// Check the checkpoint's provenance against the reference.
    pub static FINGERPRINT_UNEXPECTED_TENSOR = "CKPT041", "fingerprint-unexpected-tensor", Medium;
}
