mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a weight matrix (or convolution) in which two units have bit-identical, non-zero
    /// incoming weights. Embedding tables are not checked.
    /// ## Why is this bad?
    /// Independently trained units never end up bit-identical. A copied filter or row is left by
    /// hand editing (a unit duplicated to strengthen a planted path) or by a broken conversion.
    /// ## Remediation
    /// Compare the tensor with the upstream release; the evidence lists which row repeats which.
    pub static DUPLICATE_UNITS = "INSP004", "duplicate-units", Medium;
}
