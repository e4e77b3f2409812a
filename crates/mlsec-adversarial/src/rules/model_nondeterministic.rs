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
