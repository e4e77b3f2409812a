mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a member whose local header disagrees with its central-directory record (name, flags,
    /// method, CRC or size).
    /// ## Why is this bad?
    /// Readers that walk local headers and readers that use the central directory see different
    /// files: a classic way to show a scanner one member and the loader another.
    /// ## Remediation
    /// Re-export the checkpoint with a standard writer.
    pub static ZIP_HEADER_MISMATCH = "CKPT011", "zip-header-mismatch", High;
}
