use mlsec_core::Finding;

use super::SanityCx;
use crate::ResultRow;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a robust accuracy that rises as ε grows (by more than one point) for the same attack.
    /// ## Why is this bad?
    /// A larger ε-ball contains every smaller one, so a working attack can only do better. Accuracy that
    /// rises with ε signals a broken attack or masked gradients.
    /// ## Remediation
    /// Inspect the model's gradients (zero or saturated?) and the attack parameters (step size, steps);
    /// do not trust the curve until it is monotone.
    pub static ACCURACY_NOT_DECREASING = "ADV007", "accuracy-not-decreasing", Medium;
}

/// Fires for each pair of consecutive budgets of FGSM or PGD where the larger one leaves more
/// than one point more accuracy.
pub(crate) fn check(cx: &SanityCx, out: &mut Vec<Finding>) {
    for attack in ["fgsm", "pgd"] {
        let curve: Vec<&ResultRow> = cx.results.iter().filter(|r| r.attack == attack).collect();
        for pair in curve.windows(2) {
            if pair[1].robust_accuracy > pair[0].robust_accuracy + 0.01 {
                out.push(
                    Finding::new(
                        &ACCURACY_NOT_DECREASING,
                        cx.at(&pair[1].key),
                        format!(
                            "{attack} accuracy rises from {:.1}% at ε={} to {:.1}% at ε={}",
                            pair[0].robust_accuracy * 100.0,
                            pair[0].budget,
                            pair[1].robust_accuracy * 100.0,
                            pair[1].budget
                        ),
                    )
                    .with_evidence(
                        "smaller_eps_accuracy",
                        format!("{:.4}", pair[0].robust_accuracy),
                    )
                    .with_evidence(
                        "larger_eps_accuracy",
                        format!("{:.4}", pair[1].robust_accuracy),
                    ),
                );
            }
        }
    }
}
