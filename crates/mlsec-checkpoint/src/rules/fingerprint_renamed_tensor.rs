use std::collections::HashMap;

use mlsec_core::Finding;

use crate::fingerprint::{Reference, tensor_location};
use crate::scan::TensorRecord;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a tensor whose bytes match a reference tensor of another name.
    /// ## Why is this bad?
    /// Renaming swaps which weights a layer loads.
    /// ## Remediation
    /// Check the checkpoint's provenance against the reference.
    pub static FINGERPRINT_RENAMED_TENSOR = "CKPT042", "fingerprint-renamed-tensor", Low;
}

/// Which unexpected tensor carries the bytes (same SHA-256) of which missing reference tensor:
/// new name to reference name, each reference tensor taken once, in the checkpoint's order.
/// Only our own fingerprints have hashes; the original tool's format has no renames.
pub(crate) fn renames<'a>(
    reference: &'a Reference,
    missing: &[&'a String],
    unexpected: &[&'a TensorRecord],
) -> HashMap<&'a str, &'a str> {
    let mut renamed_from: HashMap<&str, &str> = HashMap::new();
    if let Reference::Ours(fp) = reference {
        for t in unexpected {
            if let Some(old) = missing.iter().find(|n| {
                fp.tensors[n.as_str()].sha256 == t.stats.sha256
                    && !renamed_from.values().any(|v| v == &n.as_str())
            }) {
                renamed_from.insert(&t.name, old);
            }
        }
    }
    renamed_from
}

/// An unexpected tensor `name` found among the [`renames`].
pub(crate) fn check(name: &str, renamed_from: &HashMap<&str, &str>, file: &str) -> Option<Finding> {
    let old = renamed_from.get(name)?;
    Some(
        Finding::new(
            &FINGERPRINT_RENAMED_TENSOR,
            tensor_location(file, name),
            format!("tensor `{name}` has the bytes of reference tensor `{old}`"),
        )
        .with_evidence("reference_name", old),
    )
}
