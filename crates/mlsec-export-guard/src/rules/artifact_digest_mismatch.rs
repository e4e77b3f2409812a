//! Raised by `verify` as it hashes each stage's subjects (`provenance::verify_one`) and the
//! files given with `--artifact`: the hashing is the protocol's, the decisions and findings
//! are here.

use std::collections::BTreeMap;
use std::path::Path;

use mlsec_core::{Finding, Location};
use serde_json::{Map, Value};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags an artifact (model, external data file, checkpoint) whose SHA-256 no longer matches
    /// its attestation, is missing, or is not covered by it.
    /// ## Why is this bad?
    /// The file that would be deployed is not the one that was exported and reviewed: this is what
    /// tampering between export stages looks like.
    /// ## Remediation
    /// Find out who changed the file; re-export from a trusted checkpoint and record the stage
    /// again.
    pub static ARTIFACT_DIGEST_MISMATCH = "EXPG021", "artifact-digest-mismatch", High;
}

/// At most this many changed tensors are listed in evidence.
const MAX_CHANGED_TENSORS: usize = 20;

/// A file given to `verify --artifact` whose digest is not a subject of the last stage.
pub(crate) fn not_covered(file: &str, stage: &str, attestation: &Path, sha256: &str) -> Finding {
    Finding::new(
        &ARTIFACT_DIGEST_MISMATCH,
        Location::file(file),
        format!(
            "artifact is not covered by stage {stage} of {}",
            attestation.display()
        ),
    )
    .with_evidence("sha256", sha256)
}

/// A subject whose file hashes to something else than recorded. When the stage recorded
/// per-tensor digests (`mlsec.tensors`) and the file still has readable tensors, the evidence
/// names the tensors that changed, were added or were removed.
pub(crate) fn changed(
    at: Location,
    subject: (&str, &str),
    (expected, actual): (&str, &str),
    recorded_tensors: Option<&Map<String, Value>>,
    current_tensors: impl FnOnce() -> Option<BTreeMap<String, String>>,
) -> Finding {
    let (name, stage) = subject;
    let finding = Finding::new(
        &ARTIFACT_DIGEST_MISMATCH,
        at,
        format!("{name} changed since stage {stage} was recorded"),
    )
    .with_evidence("stage", stage)
    .with_evidence("expected_sha256", expected)
    .with_evidence("actual_sha256", actual);
    let Some(old) = recorded_tensors else {
        return finding;
    };
    let Some(new) = current_tensors() else {
        return finding;
    };
    finding.with_evidence("changed_tensors", changed_tensors(old, &new).join(", "))
}

/// Tensors whose digest differs or that disappeared (in recorded order), then tensors that are
/// new; at most [`MAX_CHANGED_TENSORS`].
fn changed_tensors<'a>(
    old: &'a Map<String, Value>,
    new: &'a BTreeMap<String, String>,
) -> Vec<&'a str> {
    let mut changed: Vec<&str> = old
        .iter()
        .filter(|(k, v)| new.get(*k).map(String::as_str) != v.as_str())
        .map(|(k, _)| k.as_str())
        .collect();
    changed.extend(
        new.keys()
            .map(String::as_str)
            .filter(|k| !old.contains_key(*k)),
    );
    changed.truncate(MAX_CHANGED_TENSORS);
    changed
}

/// A subject whose file cannot be hashed any more.
pub(crate) fn missing(
    at: Location,
    (name, stage): (&str, &str),
    expected: &str,
    error: &std::io::Error,
) -> Finding {
    Finding::new(
        &ARTIFACT_DIGEST_MISMATCH,
        at,
        format!("{name} of stage {stage} is missing: {error}"),
    )
    .with_evidence("stage", stage)
    .with_evidence("expected_sha256", expected)
}

/// An ONNX subject that now references an external data file its stage did not record.
pub(crate) fn unrecorded_external(
    at: Location,
    (name, stage): (&str, &str),
    external: &str,
) -> Finding {
    Finding::new(
        &ARTIFACT_DIGEST_MISMATCH,
        at,
        format!("{name} now references external data {external} that stage {stage} did not record"),
    )
    .with_evidence("stage", stage)
}
