//! Per-tensor digests of safetensors checkpoints (name, dtype, shape and bytes), read with the
//! shared reader (`mlsec_tensors::safetensors`). Other checkpoint formats are hashed as files
//! only.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fingerprint::hex;

/// Whether a file is safetensors, judged by its first bytes (never by its extension).
pub fn is_safetensors(path: &Path) -> bool {
    let mut head = [0u8; 10];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| mlsec_tensors::safetensors::sniff(&head))
}

/// SHA-256 over dtype, shape and bytes of every tensor, by name. A header anomaly (overlapping
/// or out-of-range offsets) is an error: such a file cannot be attested tensor by tensor.
pub fn tensor_digests(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let bytes = mlsec_onnx::read_any(path).map_err(|e| e.to_string())?;
    let st = mlsec_tensors::safetensors::parse(&bytes).map_err(|e| e.to_string())?;
    if let Some(anomaly) = st.anomalies.first() {
        return Err(format!("{}: {}", anomaly.name, anomaly.message));
    }
    let data = bytes
        .get(st.data_start as usize..)
        .ok_or("data buffer starts past the end of the file")?;
    let mut out = BTreeMap::new();
    for tensor in st.tensors {
        let payload = data
            .get(tensor.begin as usize..tensor.end as usize)
            .ok_or_else(|| format!("{}: data offsets out of range", tensor.name))?;
        let shape = serde_json::to_string(&tensor.shape).map_err(|e| e.to_string())?;
        let mut h = Sha256::new();
        h.update(tensor.dtype.safetensors_name().as_bytes());
        h.update(b"\0");
        h.update(shape.as_bytes());
        h.update(b"\0");
        h.update(payload);
        out.insert(tensor.name, hex(&h.finalize()));
    }
    Ok(out)
}
