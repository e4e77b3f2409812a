mlsec_core::declare_rule! {
    /// ## What it does
    /// Reports a robust accuracy that rose against the baseline by more than `--tolerance` points with a
    /// significant McNemar exact test.
    /// ## Why is this bad?
    /// Not a problem: an improvement. It is reported so the baseline can be refreshed and later
    /// regressions are measured against the better model; a sudden large rise can also mean the attack
    /// stopped working (see the gradient-masking rules).
    /// ## Remediation
    /// Refresh the baseline with `--update-baseline` once the improvement is confirmed.
    pub static ROBUSTNESS_IMPROVED = "ADV002", "robustness-improved", Info;
}
