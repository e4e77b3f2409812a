use std::collections::HashMap;

use mlsec_core::Finding;

use crate::fingerprint::tensor_location;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors in the checkpoint that the reference fingerprint does not have.
    /// ## Why is this bad?
    /// Extra tensors can carry added behaviour (backdoor heads, adapters) or hidden data.
    /// ## Remediation
    /// Check the checkpoint's provenance against the reference.
    pub static FINGERPRINT_UNEXPECTED_TENSOR = "CKPT041", "fingerprint-unexpected-tensor", Medium;
}

/// A tensor `name` of the checkpoint that the reference does not have, unless it carries the
/// bytes of a missing reference tensor (`renamed_from`; that is `fingerprint-renamed-tensor`).
pub(crate) fn check(name: &str, renamed_from: &HashMap<&str, &str>, file: &str) -> Option<Finding> {
    if renamed_from.contains_key(name) {
        return None;
    }
    Some(Finding::new(
        &FINGERPRINT_UNEXPECTED_TENSOR,
        tensor_location(file, name),
        format!("tensor `{name}` is not in the reference"),
    ))
}
