mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a robust accuracy (per attack and budget) that dropped against the baseline by more than
    /// `--tolerance` points, with a significant McNemar exact test on the paired per-sample outcomes
    /// (p < `--alpha`).
    /// ## Why is this bad?
    /// A model change made the model easier to fool. The paired test on the same samples separates a
    /// real drop from noise, so this fires on regressions, not on run-to-run jitter.
    /// ## Remediation
    /// Find the change that lost robustness (training recipe, data, preprocessing, export) and fix it;
    /// if the drop is intended, accept it with `--update-baseline` and commit the new baseline.
    pub static ROBUSTNESS_REGRESSION = "ADV001", "robustness-regression", High;
}
