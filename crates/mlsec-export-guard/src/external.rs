//! The external data references of a model's tensors, parsed and resolved once: the
//! external-data rules (EXPG001 to EXPG005) read them, and lint records the files that
//! resolved (`LintOutcome::external_files`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlsec_onnx::tensor::{self, DataError, ExternalRef};

use crate::model::{TensorRef, TensorRole};
use crate::rules::MAX_ELEMENTS;

/// One tensor whose data is (or claims to be) external.
pub struct ExternalTensor {
    /// Index into the model's tensor list (`Cx::tensors`).
    pub tensor: usize,
    pub entries: ExternalRef,
    /// The byte size the dims and type call for (`None` for sparse parts and unknown types).
    pub expected: Option<u64>,
}

/// One `location`, resolved against the model directory, with the tensors that use it.
pub struct ExternalFile {
    pub resolved: Result<PathBuf, DataError>,
    /// Indices into the model's tensor list, in tensor order.
    pub users: Vec<usize>,
}

/// Every external reference of a model.
pub struct External {
    /// Tensors with `data_location` EXTERNAL or `external_data` entries, in tensor order.
    /// Tensors whose dims are absurd are left out: EXPG019 reports them, and their sizes mean
    /// nothing.
    pub tensors: Vec<ExternalTensor>,
    /// Every `location` those tensors name, resolved once (one finding per location and
    /// problem, not per tensor).
    pub files: BTreeMap<String, ExternalFile>,
}

impl External {
    pub fn resolve(tensors: &[TensorRef<'_>], dir: &Path) -> External {
        let mut out = External {
            tensors: Vec::new(),
            files: BTreeMap::new(),
        };
        for (index, r) in tensors.iter().enumerate() {
            let t = r.tensor;
            if !is_external(r) || !dims_sane(r) {
                continue;
            }
            let entries = ExternalRef::parse(t);
            if let Some(location) = &entries.location {
                out.files
                    .entry(location.clone())
                    .or_insert_with(|| ExternalFile {
                        resolved: tensor::resolve_location(dir, location),
                        users: Vec::new(),
                    })
                    .users
                    .push(index);
            }
            out.tensors.push(ExternalTensor {
                tensor: index,
                entries,
                expected: expected_bytes(r),
            });
        }
        out
    }

    /// The file a location resolved to, if it did.
    pub fn resolved(&self, location: &str) -> Option<&PathBuf> {
        self.files.get(location)?.resolved.as_ref().ok()
    }

    /// The external files that passed the path checks, by location.
    pub fn resolved_files(&self) -> BTreeMap<String, PathBuf> {
        self.files
            .iter()
            .filter_map(|(location, f)| Some((location.clone(), f.resolved.as_ref().ok()?.clone())))
            .collect()
    }
}

/// Whether a tensor declares external data or carries `external_data` entries.
pub fn is_external(r: &TensorRef<'_>) -> bool {
    tensor::is_external(r.tensor) || !r.tensor.external_data.is_empty()
}

/// Whether a tensor's element count is computable and below [`MAX_ELEMENTS`].
pub fn dims_sane(r: &TensorRef<'_>) -> bool {
    tensor::element_count(&r.tensor.dims).is_some_and(|c| c <= MAX_ELEMENTS)
}

/// The byte size the dims and type call for; sparse parts have their own sizes.
pub fn expected_bytes(r: &TensorRef<'_>) -> Option<u64> {
    if r.role == TensorRole::SparseValues || r.role == TensorRole::SparseIndices {
        None
    } else {
        tensor::expected_bytes(r.tensor)
    }
}
