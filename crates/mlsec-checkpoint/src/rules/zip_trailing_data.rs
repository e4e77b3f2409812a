mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags bytes after the end-of-central-directory record of a zip archive (or after the
    /// storages of a legacy checkpoint).
    /// ## Why is this bad?
    /// Trailing bytes are ignored by zip readers but can carry a second payload for another reader.
    /// ## Remediation
    /// Re-export the checkpoint.
    pub static ZIP_TRAILING_DATA = "CKPT016", "zip-trailing-data", Medium;
}
