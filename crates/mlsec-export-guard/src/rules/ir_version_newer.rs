mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags models whose IR version or standard opset is newer than the schema and operator table
    /// mlsec knows.
    /// ## Why is this bad?
    /// Fields and ops added after our schema are invisible to the lint, so a clean result covers
    /// less of the model than it seems.
    /// ## Remediation
    /// Update mlsec, or export with the IR version and opset your runtime targets.
    pub static IR_VERSION_NEWER = "EXPG011", "ir-version-newer", Low;
}
