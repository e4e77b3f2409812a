use mlsec_core::Finding;

use super::ModelCx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a model where the input gradient of the loss is exactly zero for more than 5 % of the
    /// correctly classified samples.
    /// ## Why is this bad?
    /// Zero gradients stop gradient-based attacks dead: FGSM and PGD do not move those points and the
    /// model looks robust. Typical causes are saturated softmax outputs, quantisation or rounding, and
    /// hard thresholds.
    /// ## Remediation
    /// Attack the logits, remove non-differentiable preprocessing from the graph, or evaluate with
    /// gradient-free or transfer attacks.
    pub static ZERO_INPUT_GRADIENTS = "ADV009", "zero-input-gradients", Medium;
}

/// Share of correctly classified samples with an all-zero input gradient that fires ADV009.
pub const ZERO_GRADIENT_SHARE: f64 = 0.05;

pub(crate) fn check(cx: &ModelCx, out: &mut Vec<Finding>) {
    let c = cx.checks;
    let fires = c.zero_gradient_share > ZERO_GRADIENT_SHARE;
    if !fires {
        return;
    }
    out.push(
        Finding::new(
            &ZERO_INPUT_GRADIENTS,
            super::at(cx.file, "input"),
            format!(
                "the input gradient is exactly zero for {} of {} correctly classified samples",
                c.zero_gradient_samples, c.correct_samples
            ),
        )
        .with_evidence("share", format!("{:.3}", c.zero_gradient_share))
        .with_evidence("threshold", ZERO_GRADIENT_SHARE),
    );
}
