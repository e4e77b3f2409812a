mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags two ONNX models whose weights (name, type, shape and bytes of every initializer)
    /// differ.
    /// ## Why is this bad?
    /// Weights edited between stages change behaviour without changing the graph, which is enough
    /// for a data-free backdoor.
    /// ## Remediation
    /// Check the changed tensors listed in the evidence; expected after quantisation or fp16
    /// conversion, not after a re-save.
    pub static WEIGHTS_CHANGED = "EXPG024", "weights-changed", Low;
}
