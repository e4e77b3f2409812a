mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags external data whose `offset`/`length` is not a number, overflows, runs past the end of
    /// the file, or does not match the size implied by the tensor's dims and type.
    /// ## Why is this bad?
    /// Loaders disagree on out-of-range reads: some read past the tensor into neighbouring data,
    /// some crash, and a length that differs from the shape means the bytes hashed are not the
    /// bytes used.
    /// ## Remediation
    /// Re-export the model with a current exporter; do not hand-edit `external_data` entries.
    pub static EXTERNAL_DATA_BAD_RANGE = "EXPG004", "external-data-bad-range", Medium;
}
