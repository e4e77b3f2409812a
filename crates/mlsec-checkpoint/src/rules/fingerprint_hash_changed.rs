use mlsec_core::Finding;

use crate::fingerprint::{TensorPrint, tensor_location};
use crate::scan::TensorRecord;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Reports tensors whose SHA-256 differs from the reference while every statistic is within
    /// thresholds.
    /// ## Why is this bad?
    /// Any change to reviewed weights is worth knowing about, even a small fine-tune.
    /// ## Remediation
    /// Confirm the change was intended.
    pub static FINGERPRINT_HASH_CHANGED = "CKPT046", "fingerprint-hash-changed", Info;
}

/// A tensor whose SHA-256 differs from our reference's, when no statistical rule fired on it
/// (`explained`: `fingerprint-distribution-shift` or `fingerprint-moment-shift` did).
pub(crate) fn check(
    r: &TensorPrint,
    t: &TensorRecord,
    explained: bool,
    file: &str,
) -> Option<Finding> {
    if explained || r.sha256 == t.stats.sha256 {
        return None;
    }
    Some(
        Finding::new(
            &FINGERPRINT_HASH_CHANGED,
            tensor_location(file, &t.name),
            format!(
                "tensor `{}` bytes changed within statistical thresholds",
                t.name
            ),
        )
        .with_evidence("reference_sha256", &r.sha256)
        .with_evidence("sha256", &t.stats.sha256),
    )
}
