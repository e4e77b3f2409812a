mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags exact comparisons (`Equal`) of floating-point data against constants.
    /// ## Why is this bad?
    /// Exact float equality almost never happens on natural data, so an `Equal` against a specific
    /// constant is how a trigger value is detected in a backdoored graph.
    /// ## Remediation
    /// Check where the compared tensor comes from and why an exact value matters; remove the
    /// comparison if it has no purpose.
    pub static MAGIC_CONSTANT_COMPARISON = "EXPG013", "magic-constant-comparison", Medium;
}
