mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags nodes whose outputs never reach a graph output and initializers that no node uses.
    ///
    /// Dead elements that can carry something fail at the rule's severity: a node computing
    /// from input values (a dormant branch), a learned layer, a custom-domain node, a node
    /// with a string, subgraph or multi-valued attribute, an initializer with more than one
    /// distinct value. Dead code that only computes from constants and input shapes (the
    /// leftovers of the ONNX suite's function expansions: unused `Shape`, `Size`, scalar
    /// `Constant`) is one information finding, and an unused tensor of a single repeated
    /// value (silero-vad's zero-filled `val_7`, model-zoo blob queues) is information: neither
    /// has room for a payload.
    /// ## Why is this bad?
    /// Dead elements are invisible in behaviour but travel with the model: they can hold a payload,
    /// or a dormant subgraph that a small later edit activates.
    /// ## Remediation
    /// Run an optimiser that removes unused nodes and initializers (e.g. `onnxsim`, `onnxruntime`
    /// offline optimisation) before shipping.
    pub static DEAD_GRAPH_ELEMENTS = "EXPG017", "dead-graph-elements", Low;
}
