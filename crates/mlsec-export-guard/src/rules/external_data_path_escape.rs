use mlsec_core::{Finding, Severity};
use mlsec_onnx::tensor::{self, DataError};

use super::{Cx, unresolved_locations};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags an external-data `location` that is absolute, contains `..` or a NUL byte, is not
    /// normalised, or resolves outside the model directory after canonicalisation.
    /// ## Why is this bad?
    /// The runtime opens whatever file the location names: an absolute or `..` path reads (and on
    /// some loaders maps) files outside the model, such as `/etc/passwd` or another tenant's
    /// weights, and a NUL byte or unnormalised path makes different loaders open different files.
    /// ## Remediation
    /// Re-save the model with `onnx.save_model(..., save_as_external_data=True,
    /// location="model.onnx.data")` so every location is a plain relative file name inside the
    /// model directory.
    pub static EXTERNAL_DATA_PATH_ESCAPE = "EXPG001", "external-data-path-escape", High;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    // A location that is only not normalised still resolves: one Low finding per tensor.
    for e in &cx.external.tensors {
        let Some(location) = &e.entries.location else {
            continue;
        };
        let r = &cx.tensors[e.tensor];
        for problem in tensor::location_problems(location) {
            if problem == DataError::NotNormalised {
                out.push(
                    Finding::new(
                        &EXTERNAL_DATA_PATH_ESCAPE,
                        cx.tensor_at(r),
                        format!("location {location:?}: {problem}"),
                    )
                    .with_severity(Severity::Low)
                    .with_evidence("location", location)
                    .with_evidence("path", &r.path),
                );
            }
        }
    }
    // Locations that fail to resolve for any reason but a link or a missing file.
    unresolved_locations(cx, &EXTERNAL_DATA_PATH_ESCAPE, out);
}
