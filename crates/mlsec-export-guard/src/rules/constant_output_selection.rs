mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags selections that feed a graph output where one branch is computed only from
    /// constants, the other is learned (passes a trunk op), and the condition is computed from
    /// raw input values without passing the trunk (as for EXPG012).
    ///
    /// Constant fills chosen by the model's own output (a NaN guard on the softmax), by a mask
    /// input between two constants (`Where(mask, 0, -inf)`), or in front of the learned layers
    /// (`div_no_nan`'s zero) do not override a prediction and are not flagged; nor are graphs
    /// without a learned layer (the ONNX suite's `test_if`, whose branches are both constants).
    ///
    /// Kept on purpose: a learned output overwritten by a fill value where a condition on the
    /// raw input says so, even when it is masking (`logits.masked_fill(ids == pad, -1e4)` in a
    /// token classifier). Structurally that is a fill-value backdoor (equal scores make
    /// `argmax` pick a fixed class), and the graph cannot tell a padding id from a trigger
    /// token; accept a reviewed model with an ignore in the policy file.
    /// ## Why is this bad?
    /// A branch that ignores the input and returns a fixed tensor in place of the learned output
    /// lets a trigger force a chosen prediction, independent of what the model learned.
    /// ## Remediation
    /// Review the constant branch named in the evidence; remove it unless the model is meant to
    /// return fixed values.
    pub static CONSTANT_OUTPUT_SELECTION = "EXPG014", "constant-output-selection", High;
}
