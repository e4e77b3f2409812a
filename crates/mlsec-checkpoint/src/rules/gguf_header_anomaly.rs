use mlsec_core::Finding;
use mlsec_formats::gguf::{AnomalyKind, GgufAnomaly};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags GGUF (llama.cpp) files whose header breaks the format or the checks ggml's reader
    /// makes: duplicate metadata keys or tensor names, a `general.alignment` that is not a `u32`
    /// power of two, unknown ggml tensor types, rows that are not a whole number of quantization
    /// blocks, more than 4 dimensions or element counts past 2^63, tensor names of 64 bytes or
    /// more, misaligned or overlapping tensor data, bytes no tensor accounts for, non-UTF-8
    /// strings and bool values other than 0 and 1. (Tensor data that reaches outside the file is
    /// `tensor-out-of-bounds`.)
    /// ## Why is this bad?
    /// A conforming writer (`gguf-py`, llama.cpp) never produces these. Readers disagree on them
    /// (ggml refuses duplicate keys, gguf-py keeps the last value; overlapping tensors alias each
    /// other's weights; unindexed bytes carry data no reader accounts for; a non-`u32`
    /// alignment makes ggml abort), which is what a file crafted to look different to a scanner
    /// and to the loader relies on.
    /// ## Remediation
    /// Re-export the model with `gguf-py` or llama.cpp's conversion scripts from a trusted source.
    pub static GGUF_HEADER_ANOMALY = "CKPT025", "gguf-header-anomaly", High;
}

/// A structural anomaly the GGUF reader reported (located at its record, pointing at the
/// tensor or metadata key it concerns).
pub(crate) fn check(anomaly: &GgufAnomaly, file: &str) -> Option<Finding> {
    (anomaly.kind == AnomalyKind::Structure).then(|| {
        Finding::new(
            &GGUF_HEADER_ANOMALY,
            super::gguf_location(anomaly, file),
            format!("GGUF: {}", anomaly.message),
        )
        .with_evidence("problem", &anomaly.message)
    })
}
