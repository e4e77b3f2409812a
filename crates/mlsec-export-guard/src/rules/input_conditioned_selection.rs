mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags selections (`Where`, `If`, soft multiplexers built from comparisons) whose condition
    /// is computed from a raw graph input through comparisons and reductions without passing the
    /// model trunk.
    /// ## Why is this bad?
    /// This is the shape of an input-triggered backdoor: a pattern in the raw input (a pixel patch,
    /// a token) switches the output, and `onnx.checker` accepts it. The finding is a score with its
    /// reasons, not proof.
    /// ## Remediation
    /// Inspect the condition's slice listed in the evidence; a legitimate model rarely branches on
    /// raw input values near its outputs.
    pub static INPUT_CONDITIONED_SELECTION = "EXPG012", "input-conditioned-selection", High;
}
