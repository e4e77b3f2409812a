//! Per-tensor digests of safetensors checkpoints (name, dtype, shape and bytes), read from
//! the JSON header without loading anything else. Other checkpoint formats are hashed as files
//! only.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fingerprint::hex;

/// Largest header accepted (the reference implementation's limit).
const MAX_HEADER: u64 = 100_000_000;

/// Whether a file is handled as safetensors.
pub fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// SHA-256 over dtype, shape and bytes of every tensor, by name.
pub fn tensor_digests(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let bytes = mlsec_onnx::read_any(path).map_err(|e| e.to_string())?;
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("shorter than 8 bytes")?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER || header_len + 8 > bytes.len() as u64 {
        return Err(format!("header length {header_len} is out of range"));
    }
    let data = &bytes[8 + header_len as usize..];
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + header_len as usize])
            .map_err(|e| format!("header is not a JSON object: {e}"))?;
    let mut out = BTreeMap::new();
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let offsets = info["data_offsets"]
            .as_array()
            .and_then(|o| Some((o.first()?.as_u64()?, o.get(1)?.as_u64()?)))
            .ok_or_else(|| format!("{name}: no data_offsets"))?;
        let (begin, end) = offsets;
        if begin > end || end > data.len() as u64 {
            return Err(format!(
                "{name}: data_offsets [{begin}, {end}] out of range"
            ));
        }
        let mut h = Sha256::new();
        h.update(info["dtype"].as_str().unwrap_or("?").as_bytes());
        h.update(b"\0");
        h.update(info["shape"].to_string().as_bytes());
        h.update(b"\0");
        h.update(&data[begin as usize..end as usize]);
        out.insert(name, hex(&h.finalize()));
    }
    Ok(out)
}
