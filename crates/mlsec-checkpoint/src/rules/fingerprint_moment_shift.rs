mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors whose mean moved by more than a quarter of the reference standard deviation,
    /// or whose standard deviation changed by more than 50%.
    /// ## Why is this bad?
    /// Moment shifts catch edits that keep the histogram's shape.
    /// ## Remediation
    /// Compare with the trusted checkpoint and restore the tensor.
    pub static FINGERPRINT_MOMENT_SHIFT = "CKPT045", "fingerprint-moment-shift", Medium;
}
