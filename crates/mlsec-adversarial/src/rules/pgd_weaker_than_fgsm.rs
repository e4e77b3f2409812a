use mlsec_core::Finding;

use super::SanityCx;
use crate::ResultRow;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a PGD robust accuracy above the FGSM robust accuracy at the same ε (by more than one
    /// sample).
    /// ## Why is this bad?
    /// PGD takes many steps inside the same ε-ball that FGSM takes one step in; it should never do worse.
    /// When it does, the gradients are unreliable (gradient masking, obfuscated gradients) and the reported
    /// robustness is not real.
    /// ## Remediation
    /// Check the model for saturating outputs, non-differentiable preprocessing or randomness; evaluate
    /// with gradient-free or adaptive attacks before trusting the numbers.
    pub static PGD_WEAKER_THAN_FGSM = "ADV006", "pgd-weaker-than-fgsm", Medium;
}

/// Fires for each PGD row that leaves more than one sample more robust than FGSM at the same ε.
pub(crate) fn check(cx: &SanityCx, out: &mut Vec<Finding>) {
    let robust_count = |r: &ResultRow| r.robust.iter().filter(|&&b| b).count();
    for pgd in cx.results.iter().filter(|r| r.attack == "pgd") {
        let Some(fgsm) = cx
            .results
            .iter()
            .find(|r| r.attack == "fgsm" && r.budget == pgd.budget)
        else {
            continue;
        };
        if robust_count(pgd) > robust_count(fgsm) + 1 {
            out.push(
                Finding::new(
                    &PGD_WEAKER_THAN_FGSM,
                    cx.at(&pgd.key),
                    format!(
                        "pgd leaves {:.1}% accuracy at ε={} where fgsm leaves {:.1}%",
                        pgd.robust_accuracy * 100.0,
                        pgd.budget,
                        fgsm.robust_accuracy * 100.0
                    ),
                )
                .with_evidence("pgd_accuracy", format!("{:.4}", pgd.robust_accuracy))
                .with_evidence("fgsm_accuracy", format!("{:.4}", fgsm.robust_accuracy)),
            );
        }
    }
}
