mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `Loop` trip counts or conditions and `If` conditions computed from graph inputs.
    /// ## Why is this bad?
    /// An attacker-controlled trip count is a denial-of-service vector (unbounded runtime), and
    /// data-dependent branching is how a trigger reaches a hidden path; feed-forward vision and
    /// tabular models do not need it.
    /// ## Remediation
    /// Bound the loop with a constant trip count, or make sure the condition does not depend on
    /// untrusted input.
    pub static DATA_DEPENDENT_CONTROL_FLOW = "EXPG015", "data-dependent-control-flow", Medium;
}
