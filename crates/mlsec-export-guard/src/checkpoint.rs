//! Per-tensor digests of checkpoints (name, dtype, shape and bytes), read with the shared
//! loader (`mlsec_formats::load`): safetensors, PyTorch zip and legacy files, numpy, HDF5 and
//! joblib, never executed. The digest of a tensor does not depend on its container, so the
//! same weights converted from `.pt` to `.safetensors` keep their digests.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::error::DigestError;
use mlsec_formats::sniff::{Format, sniff};
use mlsec_formats::zip::ZipLimits;
use sha2::{Digest, Sha256};

use mlsec_util::hex::encode as hex;

/// Whether a file is a checkpoint with tensors, judged by its first bytes (never by its
/// extension). ONNX models are not: their weights are hashed by the ONNX fingerprint.
pub fn has_tensors(path: &Path) -> bool {
    let mut head = Vec::with_capacity(4096);
    let read = std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut head));
    read.is_ok()
        && matches!(
            sniff(&head),
            Format::Safetensors
                | Format::Zip
                | Format::Pickle
                | Format::Tar
                | Format::Npy
                | Format::Hdf5
        )
}

/// SHA-256 over dtype, shape and bytes of every tensor, by name. Anything the loader could not
/// read (a header anomaly, a missing storage) is an error: such a file cannot be attested
/// tensor by tensor.
pub fn tensor_digests(path: &Path) -> Result<BTreeMap<String, String>, DigestError> {
    let bytes = mlsec_onnx::read_any(path)?;
    let mut out = BTreeMap::new();
    let mut duplicate = None;
    let loaded = mlsec_formats::load::visit(&bytes, ZipLimits::default(), &mut |v| {
        let shape = serde_json::to_string(&v.shape).expect("a list of integers");
        let mut h = Sha256::new();
        h.update(v.dtype.safetensors_name().as_bytes());
        h.update(b"\0");
        h.update(shape.as_bytes());
        h.update(b"\0");
        h.update(&v.bytes);
        if out.insert(v.name.clone(), hex(&h.finalize())).is_some() {
            duplicate.get_or_insert(v.name);
        }
    });
    if let Some(p) = loaded.problems.first() {
        return Err(DigestError::Unreadable(p.message.clone()));
    }
    if let Some(name) = duplicate {
        return Err(DigestError::DuplicateName(name));
    }
    if out.is_empty() {
        return Err(DigestError::Empty(loaded.format));
    }
    Ok(out)
}
