mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `metadata_props` and `doc_string` fields larger than a few kilobytes.
    /// ## Why is this bad?
    /// Metadata is not executed, so large values are where payloads (pickles, scripts, exfiltrated
    /// data) are smuggled through model registries that only check the graph.
    /// ## Remediation
    /// Keep metadata short; store documentation next to the model, not inside it.
    pub static OVERSIZED_METADATA = "EXPG018", "oversized-metadata", Low;
}
