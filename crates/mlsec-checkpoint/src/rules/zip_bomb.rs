mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a deflated member whose declared size or compression ratio exceeds the limits (ratio
    /// 1000, 4 GiB by default); the member is not inflated.
    /// ## Why is this bad?
    /// Decompression bombs exhaust memory or disk in whatever extracts them.
    /// ## Remediation
    /// Do not extract the archive; re-export the checkpoint.
    pub static ZIP_BOMB = "CKPT017", "zip-bomb", High;
}
