use mlsec_core::Finding;
use mlsec_formats::stats;

use crate::fingerprint::{LegacyPrint, TensorPrint, tensor_location};
use crate::scan::TensorRecord;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors whose value histogram diverges from the reference by more than
    /// `--kl-threshold` (KL divergence, default 0.5). The histogram bins values by sign and power
    /// of two, so scaling (`x10`) and shifting (`+5`) are visible.
    /// ## Why is this bad?
    /// Distribution changes reveal tampered weights even when shapes and names are unchanged.
    /// ## Remediation
    /// Compare with the trusted checkpoint and restore the tensor.
    pub static FINGERPRINT_DISTRIBUTION_SHIFT = "CKPT044", "fingerprint-distribution-shift", Medium;
}

/// KL divergence of the tensor's sign/power-of-two histogram from our reference's, above
/// `kl_threshold`.
pub(crate) fn check(
    r: &TensorPrint,
    t: &TensorRecord,
    kl_threshold: f64,
    file: &str,
) -> Option<Finding> {
    let d = stats::kl(&r.histogram, &t.stats.histogram);
    (d > kl_threshold).then(|| {
        Finding::new(
            &FINGERPRINT_DISTRIBUTION_SHIFT,
            tensor_location(file, &t.name),
            format!(
                "tensor `{}` value distribution diverges from the reference (KL {d:.3})",
                t.name
            ),
        )
        .with_evidence("kl", format!("{d:.6}"))
        .with_evidence("kl_threshold", kl_threshold)
    })
}

/// KL divergence from the original tool's histogram over its `[min, max]` range (the
/// tensor's `range_histogram`, computed over the same range), above `kl_threshold`. The
/// reference may hold densities or counts: both are scaled to counts first.
pub(crate) fn check_legacy(
    r: &LegacyPrint,
    t: &TensorRecord,
    kl_threshold: f64,
    file: &str,
) -> Option<Finding> {
    let ours = t.stats.range_histogram.as_ref()?;
    let total: f64 = r.histogram.iter().sum();
    let counts: Vec<u64> = r
        .histogram
        .iter()
        .map(|v| {
            if total > 0.0 {
                (v / total * 1e6).round() as u64
            } else {
                0
            }
        })
        .collect();
    let d = stats::kl(&counts, ours);
    (d > kl_threshold).then(|| {
        Finding::new(
            &FINGERPRINT_DISTRIBUTION_SHIFT,
            tensor_location(file, &t.name),
            format!(
                "tensor `{}` value distribution diverges from the reference (KL {d:.3} over the reference range)",
                t.name
            ),
        )
        .with_evidence("kl", format!("{d:.6}"))
        .with_evidence("kl_threshold", kl_threshold)
        .with_evidence(
            "reference_range",
            format!("[{}, {}]", r.range.min, r.range.max),
        )
    })
}
