use mlsec_core::Finding;

use crate::fingerprint::{TensorPrint, tensor_location};
use crate::scan::TensorRecord;

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

/// A mean that moved by more than a quarter of the reference standard deviation, or a
/// standard deviation outside 1/1.5..1.5 times the reference's.
pub(crate) fn check(r: &TensorPrint, t: &TensorRecord, file: &str) -> Option<Finding> {
    let s = &t.stats;
    let mean_shift = (s.mean - r.mean).abs();
    let ratio = if r.std > 0.0 {
        s.std / r.std
    } else if s.std > 0.0 {
        f64::INFINITY
    } else {
        1.0
    };
    let moved = mean_shift > 0.25 * r.std + 1e-12 || !(1.0 / 1.5..=1.5).contains(&ratio);
    if !moved {
        return None;
    }
    Some(
        Finding::new(
            &FINGERPRINT_MOMENT_SHIFT,
            tensor_location(file, &t.name),
            format!(
                "tensor `{}` moments moved: mean {} -> {}, std {} -> {}",
                t.name, r.mean, s.mean, r.std, s.std
            ),
        )
        .with_evidence("reference_mean", r.mean)
        .with_evidence("mean", s.mean)
        .with_evidence("reference_std", r.std)
        .with_evidence("std", s.std),
    )
}
