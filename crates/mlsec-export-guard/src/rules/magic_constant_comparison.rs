mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags exact comparisons (`Equal`) of floating-point data against constants other than
    /// zero.
    ///
    /// Zero is exempt: it is the one value natural data hits exactly (a zero denominator,
    /// ReLU output, padding), and `Equal(x, 0)` is how TensorFlow's `div_no_nan` reaches ONNX
    /// (basic-pitch's input normalisation after tf2onnx).
    /// ## Why is this bad?
    /// Exact float equality almost never happens on natural data, so an `Equal` against a specific
    /// constant is how a trigger value is detected in a backdoored graph.
    /// ## Remediation
    /// Check where the compared tensor comes from and why an exact value matters; remove the
    /// comparison if it has no purpose.
    pub static MAGIC_CONSTANT_COMPARISON = "EXPG013", "magic-constant-comparison", Medium;
}
