mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags members of a PyTorch archive outside its `<prefix>/` directory, and members with
    /// absolute paths, `..` components or backslashes.
    /// ## Why is this bad?
    /// `torch.save` writes every member under one prefix; others are ignored by PyTorch but may be
    /// extracted by other tools (path traversal) or hide payloads.
    /// ## Remediation
    /// Re-export the checkpoint with `torch.save`, or remove the extra members.
    pub static ZIP_ENTRY_OUTSIDE_PREFIX = "CKPT013", "zip-entry-outside-prefix", Medium;
}
