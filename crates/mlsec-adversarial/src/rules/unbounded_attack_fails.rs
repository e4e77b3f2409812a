use mlsec_core::Finding;

use super::SanityCx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a model that keeps more than 10 % accuracy under a PGD attack whose ε covers the whole
    /// input range.
    /// ## Why is this bad?
    /// With ε equal to the input range the attacker may replace the input by anything: accuracy must
    /// reach about zero. If it does not, the attack cannot follow the gradients (gradient masking).
    /// ## Remediation
    /// Look for saturating outputs, gradient-blocking operations, or randomness in the model; evaluate with
    /// gradient-free attacks.
    pub static UNBOUNDED_ATTACK_FAILS = "ADV008", "unbounded-attack-fails", Medium;
}

/// Accuracy under a PGD whose ε is the whole input range above which ADV008 fires.
pub const UNBOUNDED_ACCURACY: f64 = 0.10;

pub(crate) fn check(cx: &SanityCx, out: &mut Vec<Finding>) {
    let Some(u) = cx.unbounded else { return };
    let fires = u.accuracy > UNBOUNDED_ACCURACY;
    if !fires {
        return;
    }
    let (eps, total, acc) = (u.eps, u.samples, u.accuracy);
    out.push(
        Finding::new(
            &UNBOUNDED_ATTACK_FAILS,
            cx.at(&format!("pgd@{eps}")),
            format!(
                "{:.1}% of {total} samples stay correct under pgd with ε={eps} (the whole input range)",
                acc * 100.0
            ),
        )
        .with_evidence("accuracy", format!("{acc:.4}"))
        .with_evidence("threshold", UNBOUNDED_ACCURACY),
    );
}
