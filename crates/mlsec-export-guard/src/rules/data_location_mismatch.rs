use mlsec_core::Finding;
use mlsec_onnx::proto::TensorProto;
use mlsec_onnx::proto::tensor_proto::DataLocation;
use mlsec_onnx::tensor;

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors whose `data_location` disagrees with where their data is: EXTERNAL with inline
    /// `raw_data` or without `external_data`, or `external_data` entries on a DEFAULT tensor.
    /// ## Why is this bad?
    /// Tools that trust `data_location` and tools that look at the fields see different weights: a
    /// reviewer can inspect inline data while the runtime loads the external file, or the reverse.
    /// ## Remediation
    /// Re-save the model so each tensor stores its data in exactly one place.
    pub static DATA_LOCATION_MISMATCH = "EXPG006", "data-location-mismatch", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for r in &cx.tensors {
        if let Some(problem) = mismatch(r.tensor) {
            out.push(
                Finding::new(&DATA_LOCATION_MISMATCH, cx.tensor_at(r), problem)
                    .with_evidence("path", &r.path),
            );
        }
    }
}

/// How `data_location`, `raw_data` and `external_data` disagree, if they do.
fn mismatch(t: &TensorProto) -> Option<&'static str> {
    let external_declared = tensor::is_external(t);
    let has_entries = !t.external_data.is_empty();
    if external_declared && t.raw_data.is_some() {
        Some("data_location is EXTERNAL but the tensor also has inline raw_data")
    } else if external_declared && !has_entries {
        Some("data_location is EXTERNAL but there are no external_data entries")
    } else if !external_declared && has_entries {
        Some(
            "external_data entries on a tensor whose data_location is DEFAULT: tools disagree on which data is used",
        )
    } else if t
        .data_location
        .is_some_and(|d| DataLocation::try_from(d).is_err())
    {
        Some("data_location has an undefined value")
    } else {
        None
    }
}
