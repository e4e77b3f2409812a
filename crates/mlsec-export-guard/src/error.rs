//! Why an attestation, envelope or checkpoint could not be used. The messages end up in
//! findings and warnings, so each variant says what was wrong in one lowercase phrase.

use std::path::PathBuf;

use crate::provenance::{PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE};

/// A DSSE envelope that cannot be opened or verified.
#[derive(Debug, thiserror::Error)]
pub enum DsseError {
    #[error("DSSE payloadType is not {PAYLOAD_TYPE}")]
    PayloadType,
    #[error("DSSE envelope has no payload")]
    NoPayload,
    #[error("DSSE payload is not base64")]
    NotBase64,
    #[error("cannot read {path}: {source}")]
    ReadKey {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a P-256 public key: {message}")]
    NotAKey { path: String, message: String },
    #[error("not JSON: {0}")]
    Json(serde_json::Error),
    #[error("no signature verifies with this key")]
    NoSignature,
}

/// A file that is not an in-toto SLSA provenance statement (bare or in a DSSE envelope).
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("not JSON: {0}")]
    Json(serde_json::Error),
    #[error(transparent)]
    Envelope(#[from] DsseError),
    #[error("DSSE payload is not JSON: {0}")]
    PayloadJson(serde_json::Error),
    #[error("`_type` is not {STATEMENT_TYPE}")]
    StatementType,
    #[error("`predicateType` is not {PREDICATE_TYPE}")]
    PredicateType,
    #[error("`subject` is not a list")]
    Subject,
}

/// A checkpoint whose tensors cannot be digested one by one.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Read(#[from] std::io::Error),
    /// What the shared loader reported first (a header anomaly, a missing storage).
    #[error("{0}")]
    Unreadable(String),
    #[error("two tensors are named `{0}`")]
    DuplicateName(String),
    #[error("no tensors in this {0} file")]
    Empty(String),
}

/// Why `record` or `verify` could not do its job (an error, not a finding). The underlying
/// error is part of the message, not a `source`, so a chain printed with `{err:#}` says it
/// once.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    #[error("not writing {}: some artifacts could not be read", .0.display())]
    ArtifactsUnreadable(PathBuf),
    #[error("cannot read --from {}: {error}", path.display())]
    ReadPrevious {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("--from {}: {error}", path.display())]
    PreviousStatement {
        path: PathBuf,
        error: StatementError,
    },
    #[error("cannot read {}: {error}", path.display())]
    ReadStatement {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot read --verify-key {}", .0.display())]
    VerifyKey(PathBuf),
    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Serialising a statement or a lint report.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Signing with `--sign-key` (the key unreadable or not a P-256 private key).
    #[error(transparent)]
    Sign(anyhow::Error),
}
