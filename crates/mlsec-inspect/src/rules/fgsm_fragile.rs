use mlsec_core::{Finding, Location};

use super::FgsmCx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a classifier whose predictions flip for at least half of the probes under a single
    /// FGSM step of size ε (default 3 % of the input range), taking the model's own predictions
    /// as labels.
    /// ## Why is this bad?
    /// One gradient-sign step is the weakest attack there is. A model that changes its answer for
    /// most inputs under it has almost no margin: any adversary (or mild noise, compression,
    /// resizing) controls its output.
    /// ## Remediation
    /// Measure the robustness properly with `mlsec adversarial` on labelled data, and consider
    /// adversarial training, input preprocessing or a more robust model before deployment.
    pub static FGSM_FRAGILE = "INSP020", "fgsm-fragile", Medium;
}

/// A flip rate at or above this is a finding.
pub const FRAGILE_FLIP_RATE: f64 = 0.5;

pub(crate) fn check(cx: &FgsmCx, out: &mut Vec<Finding>) {
    let r = cx.result;
    let rate = r.flip_rate();
    let fires = r.n > 0 && rate >= FRAGILE_FLIP_RATE;
    if !fires {
        return;
    }
    out.push(
        Finding::new(
            &FGSM_FRAGILE,
            Location::file(cx.file),
            format!(
                "one FGSM step of {} flips {} of {} predictions ({:.1} %)",
                r.eps,
                r.flipped,
                r.n,
                100.0 * rate
            ),
        )
        .with_evidence("probes", r.n)
        .with_evidence("flipped", r.flipped)
        .with_evidence("flip_rate", format!("{rate:.4}"))
        .with_evidence("threshold", FRAGILE_FLIP_RATE)
        .with_evidence("eps", r.eps)
        .with_evidence("step", r.step),
    );
}
