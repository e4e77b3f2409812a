mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags nodes at the end of the graph that combine the model trunk with a value taken from a
    /// raw input without passing the trunk.
    /// ## Why is this bad?
    /// A skip connection from the raw input straight to the last layers lets chosen input values
    /// pass through to the prediction unchanged by the learned weights, a common backdoor carrier.
    /// ## Remediation
    /// Check that the skip is intended (e.g. a documented residual), or remove it.
    pub static INPUT_SKIP_TO_OUTPUT = "EXPG016", "input-skip-to-output", Medium;
}
