use mlsec_core::Finding;

use crate::fingerprint::{LegacyPrint, TensorPrint, tensor_location};
use crate::scan::TensorRecord;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors whose shape or dtype differs from the reference fingerprint.
    /// ## Why is this bad?
    /// A different shape or dtype is a different model, not a fine-tune of the reviewed one.
    /// ## Remediation
    /// Check the checkpoint's provenance against the reference.
    pub static FINGERPRINT_SHAPE_CHANGE = "CKPT043", "fingerprint-shape-change", High;
}

/// A tensor whose dtype or shape is not the one in our reference fingerprint.
pub(crate) fn check(r: &TensorPrint, t: &TensorRecord, file: &str) -> Option<Finding> {
    if r.shape == t.shape && r.dtype == t.dtype.to_string() {
        return None;
    }
    Some(
        Finding::new(
            &FINGERPRINT_SHAPE_CHANGE,
            tensor_location(file, &t.name),
            format!(
                "tensor `{}` changed from {} {:?} to {} {:?}",
                t.name, r.dtype, r.shape, t.dtype, t.shape
            ),
        )
        .with_evidence("reference", format!("{} {:?}", r.dtype, r.shape))
        .with_evidence("current", format!("{} {:?}", t.dtype, t.shape)),
    )
}

/// A tensor whose shape is not the one in the original tool's fingerprint (which has no
/// dtype).
pub(crate) fn check_legacy(r: &LegacyPrint, t: &TensorRecord, file: &str) -> Option<Finding> {
    if r.shape == t.shape {
        return None;
    }
    Some(
        Finding::new(
            &FINGERPRINT_SHAPE_CHANGE,
            tensor_location(file, &t.name),
            format!(
                "tensor `{}` changed shape from {:?} to {:?}",
                t.name, r.shape, t.shape
            ),
        )
        .with_evidence("reference", format!("{:?}", r.shape))
        .with_evidence("current", format!("{:?}", t.shape)),
    )
}
