use mlsec_core::{Finding, Location};
use mlsec_formats::stats::Stats;

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

/// A weight tensor whose largest finite |w| is above `threshold` (`--threshold`).
pub(crate) fn check(tensor: &str, s: &Stats, threshold: f64, loc: &Location) -> Option<Finding> {
    (s.max_abs > threshold).then(|| {
        Finding::new(
            &WEIGHT_ABOVE_THRESHOLD,
            loc.clone(),
            format!(
                "tensor `{tensor}` has |w| = {} above the threshold {threshold}",
                s.max_abs
            ),
        )
        .with_evidence("tensor", tensor)
        .with_evidence("max_abs", s.max_abs)
        .with_evidence("index", s.max_abs_index)
        .with_evidence("threshold", threshold)
    })
}
