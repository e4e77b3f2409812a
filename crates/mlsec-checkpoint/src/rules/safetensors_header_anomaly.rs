use mlsec_core::{Finding, Location, Pointer};
use mlsec_formats::safetensors::StAnomaly;

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

/// An anomaly the safetensors reader found in a header of `header_len` bytes (located at the
/// header, pointing at the tensor it concerns).
pub(crate) fn check(anomaly: &StAnomaly, header_len: u64, file: &str) -> Finding {
    let mut loc = Location::file(file).at_bytes(8, header_len);
    if !anomaly.name.is_empty() {
        loc = loc.with_pointer(Pointer::Tensor(anomaly.name.clone()));
    }
    Finding::new(
        &SAFETENSORS_HEADER_ANOMALY,
        loc,
        format!("safetensors header: {}", anomaly.message),
    )
    .with_evidence("problem", &anomaly.message)
}
