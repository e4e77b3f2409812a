use mlsec_core::{Finding, Location};
use mlsec_formats::stats::{self, Stats};

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

/// A weight tensor with values beyond [`stats::OUTLIER_K`] robust deviations from its median
/// (counted by [`stats::compute`]). [`super::weights::check`] asks only when
/// `weight-above-threshold` did not fire: the largest value is then already reported.
pub(crate) fn check(tensor: &str, s: &Stats, loc: &Location) -> Option<Finding> {
    (s.outliers > 0).then(|| {
        Finding::new(
            &WEIGHT_OUTLIER,
            loc.clone(),
            format!(
                "tensor `{tensor}` has {} value(s) beyond {} robust deviations from its median",
                s.outliers,
                stats::OUTLIER_K
            ),
        )
        .with_evidence("tensor", tensor)
        .with_evidence("outliers", s.outliers)
        .with_evidence("max_abs", s.max_abs)
        .with_evidence("index", s.max_abs_index)
        .with_evidence("median", s.median)
        .with_evidence("robust_scale", s.robust_scale)
        .with_evidence("k", stats::OUTLIER_K)
    })
}
