mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags bytes before the first local header of a zip archive.
    /// ## Why is this bad?
    /// A file that is both a valid zip and something else (a pickle, a script) is a polyglot:
    /// different loaders read different contents.
    /// ## Remediation
    /// Re-export the checkpoint; a model file has no reason to carry a prefix.
    pub static ZIP_PREPENDED_DATA = "CKPT015", "zip-prepended-data", High;
}
