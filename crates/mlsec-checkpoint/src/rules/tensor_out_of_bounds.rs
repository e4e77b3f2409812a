use mlsec_core::{Finding, Location};
use mlsec_formats::gguf::{AnomalyKind, GgufAnomaly};
use mlsec_formats::load::ViewError;
use mlsec_formats::torch::TensorRef;

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

/// A tensor whose storage is not in the file at all (`loc`: the tensor's rebuild call).
pub(crate) fn check_missing_storage(tensor: &TensorRef, loc: Location) -> Finding {
    Finding::new(
        &TENSOR_OUT_OF_BOUNDS,
        loc,
        format!(
            "storage `{}` of tensor `{}` is missing",
            tensor.storage_key, tensor.name
        ),
    )
    .with_evidence("storage", &tensor.storage_key)
}

/// A tensor whose view could not be cut from its storage: out of bounds is this rule; a view
/// too large to materialise is not a finding (the caller reports it as an error).
pub(crate) fn check(tensor: &TensorRef, problem: &ViewError, loc: Location) -> Option<Finding> {
    let ViewError::OutOfBounds { have, end } = problem else {
        return None;
    };
    Some(
        Finding::new(
            &TENSOR_OUT_OF_BOUNDS,
            loc,
            format!("tensor `{}` reaches outside its storage", tensor.name),
        )
        .with_evidence("storage", &tensor.storage_key)
        .with_evidence("storage_elements", have)
        .with_evidence("declared_elements", tensor.storage_numel)
        .with_evidence(
            "view_end",
            end.map_or_else(|| "overflow".into(), |e| e.to_string()),
        )
        .with_evidence("shape", format!("{:?}", tensor.shape))
        .with_evidence("stride", format!("{:?}", tensor.stride)),
    )
}

/// A GGUF tensor whose data range reaches past the end of the file.
pub(crate) fn check_gguf(anomaly: &GgufAnomaly, file: &str) -> Option<Finding> {
    (anomaly.kind == AnomalyKind::OutOfBounds).then(|| {
        Finding::new(
            &TENSOR_OUT_OF_BOUNDS,
            super::gguf_location(anomaly, file),
            format!("GGUF: {}", anomaly.message),
        )
        .with_evidence("problem", &anomaly.message)
    })
}
