mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags two zip members with the same name.
    /// ## Why is this bad?
    /// Which copy is loaded depends on the reader (first or last wins), so a scanner may check the
    /// harmless copy while the loader runs the other.
    /// ## Remediation
    /// Re-export the checkpoint with a standard writer.
    pub static ZIP_DUPLICATE_ENTRY = "CKPT012", "zip-duplicate-entry", High;
}
