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
