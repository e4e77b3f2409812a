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
