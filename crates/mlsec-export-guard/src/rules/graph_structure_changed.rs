mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags two ONNX models whose structural fingerprints (op types, domains, attributes and
    /// edges, names stripped) differ.
    /// ## Why is this bad?
    /// A conversion or optimisation step should not change what the graph computes; an added branch
    /// or op between stages is how a backdoor is inserted after review.
    /// ## Remediation
    /// Review the listed differences; re-export if they are not explained by the conversion.
    pub static GRAPH_STRUCTURE_CHANGED = "EXPG023", "graph-structure-changed", Medium;
}
