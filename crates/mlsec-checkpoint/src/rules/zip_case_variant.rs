mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags members whose names differ from a well-known member only by case, such as `DATA.PKL`
    /// next to or instead of `data.pkl`.
    /// ## Why is this bad?
    /// Case-insensitive file systems and readers resolve such names differently, which lets an
    /// archive show different pickles to different tools.
    /// ## Remediation
    /// Re-export the checkpoint with `torch.save`.
    pub static ZIP_CASE_VARIANT = "CKPT014", "zip-case-variant", High;
}
