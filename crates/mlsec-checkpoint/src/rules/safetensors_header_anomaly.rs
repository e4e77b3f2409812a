mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags safetensors headers with overlapping, out-of-range or unindexed data offsets,
    /// duplicate keys, sizes that disagree with dtype and shape, or malformed metadata.
    /// ## Why is this bad?
    /// Overlapping or hidden byte ranges let two tensors alias or carry data no reader accounts
    /// for; the reference loader rejects such files.
    /// ## Remediation
    /// Re-export the file with the `safetensors` library.
    pub static SAFETENSORS_HEADER_ANOMALY = "CKPT020", "safetensors-header-anomaly", High;
}
