mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags nodes whose outputs never reach a graph output and initializers that no node uses.
    /// ## Why is this bad?
    /// Dead elements are invisible in behaviour but travel with the model: they can hold a payload,
    /// or a dormant subgraph that a small later edit activates.
    /// ## Remediation
    /// Run an optimiser that removes unused nodes and initializers (e.g. `onnxsim`, `onnxruntime`
    /// offline optimisation) before shipping.
    pub static DEAD_GRAPH_ELEMENTS = "EXPG017", "dead-graph-elements", Low;
}
