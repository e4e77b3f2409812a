use mlsec_core::Finding;
use mlsec_onnx::tensor::DataError;

use super::Cx;

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

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for e in &cx.external.tensors {
        let Some(location) = &e.entries.location else {
            continue;
        };
        let Some(resolved) = cx.external.resolved(location) else {
            continue;
        };
        let r = &cx.tensors[e.tensor];
        // Range checks against the real file.
        let size = std::fs::metadata(resolved).map(|m| m.len()).unwrap_or(0);
        if let Some(problem) = range_problem(e, size) {
            out.push(
                Finding::new(
                    &EXTERNAL_DATA_BAD_RANGE,
                    cx.tensor_at(r),
                    format!("external data in {location:?}: {problem}"),
                )
                .with_evidence("location", location)
                .with_evidence("file_bytes", size)
                .with_evidence("path", &r.path),
            );
        }
    }
}

/// What is wrong with a tensor's `offset`/`length` in a file of `size` bytes, if anything.
fn range_problem(e: &crate::external::ExternalTensor, size: u64) -> Option<String> {
    let range = e
        .entries
        .offset_value()
        .and_then(|off| Ok((off, e.entries.length_value()?)));
    match range {
        Err(err) => Some(err.to_string()),
        Ok((offset, length)) => {
            let len = length.unwrap_or(size.saturating_sub(offset));
            match offset.checked_add(len) {
                None => Some(format!("offset {offset} + length {len} overflows")),
                Some(end) if end > size || offset > size => Some(
                    DataError::OutOfRange {
                        offset,
                        length: len,
                        size,
                    }
                    .to_string(),
                ),
                Some(_) => match e.expected {
                    Some(expected) if expected != len => Some(
                        DataError::SizeMismatch {
                            expected,
                            actual: len,
                        }
                        .to_string(),
                    ),
                    _ => None,
                },
            }
        }
    }
}
