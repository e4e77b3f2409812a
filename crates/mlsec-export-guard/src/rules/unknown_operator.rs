mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags standard-domain ops that do not exist in the declared opset (unknown name, or
    /// introduced in a later opset), and domains used without an `opset_import`.
    /// ## Why is this bad?
    /// An op that is not in the declared opset is either a typo the runtime rejects, or resolved by
    /// a runtime-specific fallback that behaves differently from what reviewers expect.
    /// ## Remediation
    /// Declare the right opset, or re-export with a converter that targets it.
    pub static UNKNOWN_OPERATOR = "EXPG010", "unknown-operator", Medium;
}
