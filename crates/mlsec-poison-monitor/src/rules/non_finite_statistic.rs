mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a rank that reported NaN or ±Infinity in a statistic (norm, cosine, loss,
    /// all-reduced norm), including the bare `NaN`/`Infinity` tokens Python's `json` writes.
    /// ## Why is this bad?
    /// One non-finite gradient entry poisons the all-reduced gradient of every rank: the model
    /// is destroyed at the next optimiser step. It is a classic, cheap attack, and also the
    /// symptom of a broken host or a diverging mixed-precision run.
    /// ## Remediation
    /// Stop the step (enable gradient anomaly checks or skip non-finite steps in the
    /// optimiser), find which rank produced it, and restart from the last good checkpoint.
    pub static NON_FINITE_STATISTIC = "POIS002", "non-finite-statistic", Critical;
}
