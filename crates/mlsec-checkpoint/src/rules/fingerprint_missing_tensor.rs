use std::collections::HashMap;

use mlsec_core::Finding;

use crate::fingerprint::tensor_location;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors present in the reference fingerprint but absent from the checkpoint.
    /// ## Why is this bad?
    /// A checkpoint that lost layers is not the model that was reviewed.
    /// ## Remediation
    /// Check the checkpoint's provenance against the reference.
    pub static FINGERPRINT_MISSING_TENSOR = "CKPT040", "fingerprint-missing-tensor", Medium;
}

/// A reference tensor `name` that the checkpoint does not have, unless a tensor of the
/// checkpoint carries its bytes (`renamed_from`: new name to reference name; that is
/// `fingerprint-renamed-tensor`).
pub(crate) fn check(name: &str, renamed_from: &HashMap<&str, &str>, file: &str) -> Option<Finding> {
    if renamed_from.values().any(|v| *v == name) {
        return None;
    }
    Some(Finding::new(
        &FINGERPRINT_MISSING_TENSOR,
        tensor_location(file, name),
        format!("tensor `{name}` of the reference is missing"),
    ))
}
