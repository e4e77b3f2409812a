use mlsec_core::{Finding, Severity};

use super::GateCx;

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

/// Fires for each result that rose by more than `--tolerance` points with p < `--alpha`.
pub(crate) fn check(cx: &GateCx, out: &mut Vec<Finding>) {
    for c in cx.comparisons {
        let (delta, significant) = cx.delta(c);
        if delta > cx.tolerance && significant {
            out.push(
                cx.evidence(
                    c,
                    Finding::new(
                        &ROBUSTNESS_IMPROVED,
                        super::at(cx.file, &c.key),
                        format!(
                            "robust accuracy under {} rose from {:.1}% to {:.1}% ({:+.1} points, McNemar p={:.2e})",
                            c.key,
                            c.before * 100.0,
                            c.after * 100.0,
                            delta,
                            c.p_value
                        ),
                    ),
                )
                .with_severity(Severity::Info),
            );
        }
    }
}
