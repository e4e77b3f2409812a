mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors and declared shapes whose dims are negative, whose element count overflows or
    /// is absurdly large, or whose stored data does not match the dims and type.
    /// ## Why is this bad?
    /// A loader that trusts dims allocates what they say: absurd counts exhaust memory, and a
    /// mismatch means some tools read data that others ignore.
    /// ## Remediation
    /// Re-export the model; check the declared input shapes.
    pub static ABSURD_TENSOR_DIMS = "EXPG019", "absurd-tensor-dims", Medium;
}
