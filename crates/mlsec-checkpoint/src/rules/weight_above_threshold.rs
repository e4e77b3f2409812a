mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors whose largest finite absolute value exceeds `--threshold` (default 100).
    /// ## Why is this bad?
    /// Trained weights are small; huge values are typical of tampering (backdoor neurons) or
    /// corruption.
    /// ## Remediation
    /// Compare the tensor with a trusted fingerprint (`--reference`) and restore it if it changed.
    pub static WEIGHT_ABOVE_THRESHOLD = "CKPT031", "weight-above-threshold", Medium;
}
