use mlsec_core::Finding;

use super::GateCx;

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

/// Fires for each result that fell by more than `--tolerance` points with p < `--alpha`.
pub(crate) fn check(cx: &GateCx, out: &mut Vec<Finding>) {
    for c in cx.comparisons {
        let (delta, significant) = cx.delta(c);
        if -delta > cx.tolerance && significant {
            out.push(cx.evidence(
                c,
                Finding::new(
                    &ROBUSTNESS_REGRESSION,
                    super::at(cx.file, &c.key),
                    format!(
                        "robust accuracy under {} fell from {:.1}% to {:.1}% ({:+.1} points, McNemar p={:.2e})",
                        c.key,
                        c.before * 100.0,
                        c.after * 100.0,
                        delta,
                        c.p_value
                    ),
                ),
            ));
        }
    }
}
