//! safetensors: an 8-byte little-endian header length, a JSON header, then the data buffer.
//! The header is validated the way the reference implementation does (dtypes, sizes, offsets
//! within the buffer, no overlap, no holes), and every problem is returned, not only the
//! first, so a scanner can report it.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

use crate::dtype::DType;

/// Largest header accepted (the reference implementation's limit).
pub const MAX_HEADER: u64 = 100_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct StTensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    /// Offsets relative to the data buffer.
    pub begin: u64,
    pub end: u64,
}

/// A header problem that does not stop reading the other tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StAnomaly {
    pub name: String,
    pub message: String,
}

#[derive(Debug)]
pub struct Safetensors {
    pub header_len: u64,
    /// File offset of the data buffer.
    pub data_start: u64,
    pub tensors: Vec<StTensor>,
    pub metadata: BTreeMap<String, String>,
    pub anomalies: Vec<StAnomaly>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid safetensors: {0}")]
pub struct StError(pub String);

/// Whether the bytes start like safetensors.
pub fn sniff(data: &[u8]) -> bool {
    // The length may be absurd (that is an error to report, not another format).
    data.len() >= 10 && data[8] == b'{' && u64::from_le_bytes(data[..8].try_into().expect("8")) >= 2
}

struct Pairs(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Pairs, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut v = Vec::new();
                while let Some(pair) = map.next_entry::<String, serde_json::Value>()? {
                    v.push(pair);
                }
                Ok(Pairs(v))
            }
        }
        d.deserialize_map(V)
    }
}

pub fn parse(data: &[u8]) -> Result<Safetensors, StError> {
    let len_bytes = data
        .get(..8)
        .ok_or_else(|| StError("shorter than 8 bytes".into()))?;
    let header_len = u64::from_le_bytes(len_bytes.try_into().expect("8"));
    if header_len > MAX_HEADER {
        return Err(StError(format!(
            "header length {header_len} exceeds the {MAX_HEADER}-byte limit"
        )));
    }
    if header_len > (data.len() - 8) as u64 {
        return Err(StError(format!(
            "header length {header_len} runs past the end of the {}-byte file",
            data.len()
        )));
    }
    let header = &data[8..8 + header_len as usize];
    if header.first() != Some(&b'{') {
        return Err(StError("header does not start with `{`".into()));
    }
    let Pairs(pairs) = serde_json::from_slice(header)
        .map_err(|e| StError(format!("header is not a JSON object: {e}")))?;
    let data_len = data.len() as u64 - 8 - header_len;
    let mut out = Safetensors {
        header_len,
        data_start: 8 + header_len,
        tensors: Vec::new(),
        metadata: BTreeMap::new(),
        anomalies: Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    for (name, value) in pairs {
        let mut anomaly = |message: String| {
            out.anomalies.push(StAnomaly {
                name: name.clone(),
                message,
            });
        };
        if !seen.insert(name.clone()) {
            anomaly("duplicate key in the header".into());
            continue;
        }
        if name == "__metadata__" {
            match value.as_object() {
                Some(map) => {
                    for (k, v) in map {
                        match v.as_str() {
                            Some(s) => {
                                out.metadata.insert(k.clone(), s.to_owned());
                            }
                            None => anomaly(format!("metadata value `{k}` is not a string")),
                        }
                    }
                }
                None => anomaly("__metadata__ is not an object of strings".into()),
            }
            continue;
        }
        let dtype = value
            .get("dtype")
            .and_then(|d| d.as_str())
            .and_then(DType::from_safetensors);
        let shape: Option<Vec<u64>> = value
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect());
        let offsets: Option<Vec<u64>> = value
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect());
        let (Some(dtype), Some(shape), Some(offsets)) = (dtype, shape, offsets) else {
            anomaly("entry lacks a known dtype, an integer shape or data_offsets".into());
            continue;
        };
        let [begin, end] = offsets[..] else {
            anomaly("data_offsets must have two entries".into());
            continue;
        };
        let need = shape
            .iter()
            .try_fold(dtype.size() as u64, |a, &d| a.checked_mul(d));
        if begin > end || end > data_len {
            anomaly(format!(
                "data_offsets [{begin}, {end}] fall outside the {data_len}-byte data buffer"
            ));
            continue;
        }
        if need != Some(end - begin) {
            anomaly(format!(
                "data_offsets span {} bytes, dtype and shape need {}",
                end - begin,
                need.map_or_else(|| "more than 2^64".into(), |n| n.to_string())
            ));
            continue;
        }
        out.tensors.push(StTensor {
            name,
            dtype,
            shape,
            begin,
            end,
        });
    }
    let mut sorted: Vec<&StTensor> = out.tensors.iter().collect();
    sorted.sort_by_key(|t| (t.begin, t.end));
    let mut cursor = 0u64;
    let mut prev: Option<&StTensor> = None;
    for t in sorted {
        if t.begin < cursor && t.begin != t.end {
            out.anomalies.push(StAnomaly {
                name: t.name.clone(),
                message: format!(
                    "bytes [{}, {}] overlap tensor `{}`",
                    t.begin,
                    t.end,
                    prev.map_or("", |p| &p.name)
                ),
            });
        } else if t.begin > cursor {
            out.anomalies.push(StAnomaly {
                name: t.name.clone(),
                message: format!("{} unindexed bytes before this tensor", t.begin - cursor),
            });
        }
        if t.end > cursor {
            cursor = t.end;
            prev = Some(t);
        }
    }
    if cursor < data_len {
        out.anomalies.push(StAnomaly {
            name: String::new(),
            message: format!(
                "{} unindexed bytes after the last tensor",
                data_len - cursor
            ),
        });
    }
    Ok(out)
}

/// Serialises tensors as safetensors, in the given order, with optional metadata.
pub fn write(
    tensors: &[(String, DType, Vec<u64>, &[u8])],
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert(
            "__metadata__".into(),
            serde_json::to_value(metadata).expect("strings"),
        );
    }
    let mut offset = 0u64;
    for (name, dtype, shape, bytes) in tensors {
        let end = offset + bytes.len() as u64;
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype.safetensors_name(), "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut text = serde_json::to_string(&header).expect("json");
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + offset as usize);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    for (_, _, _, bytes) in tensors {
        out.extend_from_slice(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_validation() {
        let a = [0u8; 16];
        let f = write(
            &[("w".into(), DType::F32, vec![2, 2], &a[..])],
            &BTreeMap::new(),
        );
        let p = parse(&f).unwrap();
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        assert_eq!(p.tensors[0].shape, [2, 2]);

        let header = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        let mut f = (header.len() as u64).to_le_bytes().to_vec();
        f.extend_from_slice(header);
        f.extend_from_slice(&[0; 12]);
        let p = parse(&f).unwrap();
        let msgs: Vec<&str> = p.anomalies.iter().map(|a| a.message.as_str()).collect();
        assert!(msgs.iter().any(|m| m.contains("duplicate")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("overlap")), "{msgs:?}");

        let mut huge = (1u64 << 40).to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(parse(&huge).is_err());
    }
}
