mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags floating-point tensors with values far beyond their robust scale: more than 100 median
    /// absolute deviations (scaled to a standard deviation) from the median, so a single planted
    /// weight is found even under `--threshold`.
    /// ## Why is this bad?
    /// Backdoors are often planted as a handful of large weights that a max-threshold check alone
    /// misses.
    /// ## Remediation
    /// Compare the tensor with a trusted fingerprint (`--reference`).
    ///
    /// Graded information: genuine published weights (lpips, silero-vad) have such values, so an
    /// outlier alone is unusual, not a reason to fail; raise it in `mlsec.toml` to gate on it.
    pub static WEIGHT_OUTLIER = "CKPT032", "weight-outlier", Info;
}
