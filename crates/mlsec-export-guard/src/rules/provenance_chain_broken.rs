//! Raised by `verify` as it walks the chain (`provenance::verify_one`): the walk is the
//! protocol's, the decisions and findings are here.

use std::collections::BTreeSet;
use std::path::Path;

use mlsec_core::{Finding, Location};
use serde_json::Value;

use crate::error::{DsseError, StatementError};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a provenance chain whose links do not hold: a previous statement missing or changed, a
    /// stage's inputs that differ from the previous stage's outputs, or an attestation that cannot
    /// be parsed as in-toto/SLSA.
    /// ## Why is this bad?
    /// A broken link means a stage's input was not the previous stage's output, so the chain no
    /// longer proves where the model came from.
    /// ## Remediation
    /// Re-record the chain from the first stage with `mlsec export-guard record --from`.
    pub static PROVENANCE_CHAIN_BROKEN = "EXPG022", "provenance-chain-broken", High;
}

/// The envelope's signature does not verify with `--verify-key`.
pub(crate) fn bad_signature(attestation: &Path, key: &Path, error: &DsseError) -> Finding {
    Finding::new(
        &PROVENANCE_CHAIN_BROKEN,
        Location::file(attestation.display().to_string()),
        format!(
            "DSSE signature does not verify with {}: {error}",
            key.display()
        ),
    )
    .with_evidence("key", key.display())
}

/// A statement reached twice, or a chain longer than `verify` follows (64 stages).
pub(crate) fn cyclic_or_too_long(statement: &str) -> Finding {
    Finding::new(
        &PROVENANCE_CHAIN_BROKEN,
        Location::file(statement),
        "the chain is cyclic or longer than 64 stages",
    )
}

/// A link of the chain that is not an in-toto SLSA provenance statement.
pub(crate) fn not_a_statement(statement: &str, error: &StatementError) -> Finding {
    Finding::new(
        &PROVENANCE_CHAIN_BROKEN,
        Location::file(statement),
        format!("not an in-toto SLSA provenance statement: {error}"),
    )
}

/// A subject recorded without a SHA-256 digest: nothing to check it against.
pub(crate) fn subject_without_digest(at: Location) -> Finding {
    Finding::new(&PROVENANCE_CHAIN_BROKEN, at, "subject has no sha256 digest")
}

/// The previous statement a stage names cannot be read.
pub(crate) fn previous_missing(
    statement: &str,
    (name, stage): (&str, &str),
    error: &std::io::Error,
) -> Finding {
    Finding::new(
        &PROVENANCE_CHAIN_BROKEN,
        Location::file(statement),
        format!("previous statement {name} is missing: {error}"),
    )
    .with_evidence("stage", stage)
}

/// The previous statement hashes to something else than the stage recorded.
pub(crate) fn previous_changed(
    at: Location,
    (name, stage): (&str, &str),
    (expected, actual): (&str, &str),
) -> Finding {
    Finding::new(
        &PROVENANCE_CHAIN_BROKEN,
        at,
        format!("previous statement {name} changed after stage {stage} was recorded"),
    )
    .with_evidence("expected_sha256", expected)
    .with_evidence("actual_sha256", actual)
}

/// The link itself: every input of a stage (its `resolvedDependencies` other than the previous
/// statement) must be an output (a subject digest) of the previous stage.
pub(crate) fn check_inputs(
    deps: &[Value],
    (stage, previous): (&str, &Value),
    at: impl Fn(&str) -> Location,
    out: &mut Vec<Finding>,
) {
    let outputs: BTreeSet<&str> = previous["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(sha256_of)
        .collect();
    for d in deps
        .iter()
        .filter(|d| d["annotations"][crate::provenance::KIND] != "previous-statement")
    {
        let name = d["name"].as_str().unwrap_or_default();
        if !sha256_of(d).is_some_and(|s| outputs.contains(s)) {
            out.push(
                Finding::new(
                    &PROVENANCE_CHAIN_BROKEN,
                    at(name),
                    format!(
                        "input {name} of stage {stage} is not an output of stage {}",
                        crate::provenance::stage_of(previous)
                    ),
                )
                .with_evidence("stage", stage),
            );
        }
    }
}

fn sha256_of(v: &Value) -> Option<&str> {
    v["digest"]["sha256"].as_str()
}
