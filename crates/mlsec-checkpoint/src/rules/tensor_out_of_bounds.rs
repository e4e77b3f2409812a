mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors whose storage offset, shape and strides reach outside their storage, or whose
    /// storage is missing or shorter than the pickle says, and GGUF tensors whose data range
    /// reaches past the end of the file.
    /// ## Why is this bad?
    /// Out-of-bounds views are how memory-corruption exploits against tensor loaders are built; at
    /// best the checkpoint is corrupt.
    /// ## Remediation
    /// Re-export the checkpoint from a trusted copy.
    pub static TENSOR_OUT_OF_BOUNDS = "CKPT021", "tensor-out-of-bounds", High;
}
