use mlsec_core::Finding;

use super::ModelCx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a model that gives different outputs for two identical forward passes.
    /// ## Why is this bad?
    /// Random outputs (dropout left on, random noise layers) break the attack's gradients and the
    /// baseline comparison: robust accuracy becomes a lottery and gradient-based attacks are masked.
    /// ## Remediation
    /// Export the model in eval mode (`model.eval()` before `torch.onnx.export`), and remove random
    /// layers from the inference graph.
    pub static MODEL_NONDETERMINISTIC = "ADV004", "model-nondeterministic", High;
}

/// Fires when two identical forward passes differ at all.
pub(crate) fn check(cx: &ModelCx, out: &mut Vec<Finding>) {
    let c = cx.checks;
    if c.deterministic {
        return;
    }
    out.push(
        Finding::new(
            &MODEL_NONDETERMINISTIC,
            super::at(cx.file, "output"),
            format!(
                "two identical forward passes differ by up to {:.3e}",
                c.repeat_max_diff
            ),
        )
        .with_evidence("max_diff", c.repeat_max_diff)
        .with_evidence("samples", c.samples),
    );
}
