//! Labelled inputs for the attacks: `.npz` (keys configurable), `.safetensors`, or a folder of
//! `.npy` files. Small readers of our own: a zip central-directory walk with bounded inflate,
//! the `.npy` header, and the safetensors JSON header. Every malformed file is an error naming
//! what is wrong; sizes are checked against the file before anything is allocated.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Inputs (flattened per sample) and integer labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Shape of one sample (e.g. `[1, 8, 8]`).
    pub sample_shape: Vec<usize>,
    /// `n * prod(sample_shape)` values, row-major.
    pub x: Vec<f32>,
    pub y: Vec<i64>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Keeps the first `n` samples.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.y.truncate(n);
            self.x.truncate(n * self.sample_len());
        }
    }

    /// SHA-256 over the sample shape, inputs and labels as used (after `--limit`).
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for d in &self.sample_shape {
            h.update((*d as u64).to_le_bytes());
        }
        h.update((self.len() as u64).to_le_bytes());
        for v in &self.x {
            h.update(v.to_le_bytes());
        }
        for v in &self.y {
            h.update(v.to_le_bytes());
        }
        mlsec_runtime::hex(&h.finalize())
    }

    /// Smallest and largest input value.
    pub fn value_range(&self) -> (f32, f32) {
        self.x
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            })
    }
}

/// An n-dimensional array read from a file, converted to f64 for checking.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub values: Values,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Float(Vec<f32>),
    Int(Vec<i64>),
}

/// Loads `path` (.npz, .safetensors, or a directory of .npy) with inputs under `x_key` and
/// labels under `y_key`.
pub fn load(path: &Path, x_key: &str, y_key: &str) -> Result<Dataset, String> {
    let mut arrays = if path.is_dir() {
        let mut arrays = BTreeMap::new();
        for key in [x_key, y_key] {
            let file = path.join(format!("{key}.npy"));
            let bytes = read_bounded(&file)?;
            let array = parse_npy(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
            arrays.insert(key.to_owned(), array);
        }
        arrays
    } else {
        let bytes = read_bounded(path)?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match ext.as_str() {
            "npz" => read_npz(&bytes, &[x_key, y_key])?,
            "safetensors" => read_safetensors(&bytes, &[x_key, y_key])?,
            "npy" => {
                return Err(
                    "a single .npy holds no labels: give a .npz, a .safetensors, or a folder with x.npy and y.npy"
                        .into(),
                );
            }
            _ => {
                return Err(
                    "unknown data format: expected .npz, .safetensors, or a folder of .npy files"
                        .into(),
                );
            }
        }
    };
    let x = arrays
        .remove(x_key)
        .ok_or_else(|| format!("no inputs under key `{x_key}` (use --x-key)"))?;
    let y = arrays
        .remove(y_key)
        .ok_or_else(|| format!("no labels under key `{y_key}` (use --y-key)"))?;
    into_dataset(x, y)
}

fn into_dataset(x: Array, y: Array) -> Result<Dataset, String> {
    let n = *x
        .shape
        .first()
        .ok_or("inputs are a scalar, expected [samples, ...]")?;
    let labels: Vec<i64> = match y.values {
        Values::Int(v) => v,
        Values::Float(v) => v
            .iter()
            .map(|&f| {
                if f.fract() == 0.0 && f.is_finite() {
                    Ok(f as i64)
                } else {
                    Err(format!("label {f} is not an integer class index"))
                }
            })
            .collect::<Result<_, _>>()?,
    };
    let label_rank_ok = y.shape.len() == 1 || (y.shape.len() == 2 && y.shape[1] == 1);
    if !label_rank_ok {
        return Err(format!(
            "labels have shape {:?}; expected [samples] integer class indices",
            y.shape
        ));
    }
    if labels.len() != n {
        return Err(format!("{n} inputs but {} labels", labels.len()));
    }
    if let Some(bad) = labels.iter().find(|&&l| l < 0) {
        return Err(format!("negative label {bad}"));
    }
    let sample_shape = x.shape[1..].to_vec();
    let x = match x.values {
        Values::Float(v) => v,
        Values::Int(v) => v.iter().map(|&i| i as f32).collect(),
    };
    if x.iter().any(|v| !v.is_finite()) {
        return Err("inputs contain NaN or infinite values".into());
    }
    Ok(Dataset {
        sample_shape,
        x,
        y: labels,
    })
}

/// Data files larger than this are refused (the attacks hold everything in memory).
pub const MAX_DATA_BYTES: u64 = 8 << 30;

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > MAX_DATA_BYTES {
        return Err(format!(
            "{}: {} bytes is more than the {} bytes accepted",
            path.display(),
            meta.len(),
            MAX_DATA_BYTES
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| format!("truncated at byte {at}"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| format!("truncated at byte {at}"))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, String> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap_or_default()))
        .ok_or_else(|| format!("truncated at byte {at}"))
}

/// Reads the members `{key}.npy` of an npz (zip) archive.
pub fn read_npz(bytes: &[u8], keys: &[&str]) -> Result<BTreeMap<String, Array>, String> {
    // End of central directory: the last "PK\x05\x06" within the final 64 KiB + 22 bytes.
    let search_from = bytes.len().saturating_sub(65_557);
    let eocd = (search_from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or("not a zip archive (no end of central directory): an .npz is a zip of .npy files")?;
    let entries = u16_at(bytes, eocd + 10)? as usize;
    let mut cd = u32_at(bytes, eocd + 16)? as u64;
    if cd == 0xFFFF_FFFF {
        // Zip64: the locator sits just before the EOCD record.
        let loc = eocd.checked_sub(20).ok_or("truncated zip64 locator")?;
        if u32_at(bytes, loc)? != 0x0706_4b50 {
            return Err("zip64 central directory locator missing".into());
        }
        let rec = u64_at(bytes, loc + 8)? as usize;
        if u32_at(bytes, rec)? != 0x0606_4b50 {
            return Err("zip64 end of central directory record missing".into());
        }
        cd = u64_at(bytes, rec + 48)?;
    }
    let mut out = BTreeMap::new();
    let mut at = usize::try_from(cd).map_err(|_| "central directory offset out of range")?;
    for _ in 0..entries {
        if u32_at(bytes, at)? != 0x0201_4b50 {
            return Err(format!("bad central directory entry at byte {at}"));
        }
        let method = u16_at(bytes, at + 10)?;
        let crc = u32_at(bytes, at + 16)?;
        let mut csize = u64::from(u32_at(bytes, at + 20)?);
        let mut usize_ = u64::from(u32_at(bytes, at + 24)?);
        let name_len = u16_at(bytes, at + 28)? as usize;
        let extra_len = u16_at(bytes, at + 30)? as usize;
        let comment_len = u16_at(bytes, at + 32)? as usize;
        let mut local = u64::from(u32_at(bytes, at + 42)?);
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .ok_or("truncated member name")?;
        let name = String::from_utf8_lossy(name).into_owned();
        // Zip64 extra field: the 0xFFFFFFFF values follow in order.
        let extra = bytes
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or("truncated extra field")?;
        let mut e = 0;
        while e + 4 <= extra.len() {
            let id = u16_at(extra, e)?;
            let len = u16_at(extra, e + 2)? as usize;
            if id == 1 {
                let mut p = e + 4;
                for field in [&mut usize_, &mut csize, &mut local] {
                    if *field == 0xFFFF_FFFF {
                        *field = u64_at(extra, p)?;
                        p += 8;
                    }
                }
            }
            e += 4 + len;
        }
        at += 46 + name_len + extra_len + comment_len;
        let key = name.strip_suffix(".npy").unwrap_or(&name);
        if !keys.contains(&key) {
            continue;
        }
        let local = usize::try_from(local).map_err(|_| "member offset out of range")?;
        if u32_at(bytes, local)? != 0x0403_4b50 {
            return Err(format!("member `{name}`: bad local header"));
        }
        let start =
            local + 30 + u16_at(bytes, local + 26)? as usize + u16_at(bytes, local + 28)? as usize;
        let data = usize::try_from(csize)
            .ok()
            .and_then(|c| bytes.get(start..start.checked_add(c)?))
            .ok_or_else(|| format!("member `{name}`: data runs past the end of the file"))?;
        if usize_ > MAX_DATA_BYTES {
            return Err(format!(
                "member `{name}`: {usize_} bytes uncompressed is too large"
            ));
        }
        let raw = match method {
            0 => data.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(data, usize_ as usize)
                .map_err(|e| format!("member `{name}`: corrupt deflate data ({:?})", e.status))?,
            m => {
                return Err(format!(
                    "member `{name}`: compression method {m} is not supported"
                ));
            }
        };
        if raw.len() as u64 != usize_ || crc32fast::hash(&raw) != crc {
            return Err(format!(
                "member `{name}`: size or CRC mismatch (corrupt archive)"
            ));
        }
        let array = parse_npy(&raw).map_err(|e| format!("member `{name}`: {e}"))?;
        out.insert(key.to_owned(), array);
    }
    Ok(out)
}

/// Parses a `.npy` file (format versions 1-3, little-endian or single-byte types, C order).
pub fn parse_npy(b: &[u8]) -> Result<Array, String> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (bad magic)".into());
    }
    let (header_len, start) = match b[6] {
        1 => (u16_at(b, 8)? as usize, 10),
        2 | 3 => (u32_at(b, 8)? as usize, 12),
        v => return Err(format!(".npy format version {v} is not supported")),
    };
    let header = b
        .get(start..start + header_len)
        .ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| ".npy header is not text")?;
    let field = |key: &str| -> Result<&str, String> {
        let pat = format!("'{key}':");
        let at = header
            .find(&pat)
            .ok_or_else(|| format!(".npy header has no `{key}`"))?;
        Ok(header[at + pat.len()..].trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or(".npy header: bad descr")?;
    let fortran = field("fortran_order")?.starts_with("True");
    let shape_text = field("shape")?;
    let shape_text = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or(".npy header: bad shape")?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!(".npy header: bad dimension `{s}`"))
        })
        .collect::<Result<_, _>>()?;
    if fortran && shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(
            "Fortran-order arrays are not supported; save with np.ascontiguousarray".into(),
        );
    }
    let data = &b[start + header_len..];
    let values = decode_values(descr, data, &shape)?;
    Ok(Array { shape, values })
}

fn decode_values(descr: &str, data: &[u8], shape: &[usize]) -> Result<Values, String> {
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("shape overflows")?;
    let (order, code) = descr.split_at(1.min(descr.len()));
    if order == ">" && !code.ends_with('1') {
        return Err(format!("big-endian dtype `{descr}` is not supported"));
    }
    let width: usize = code
        .get(1..)
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("dtype `{descr}` is not supported"))?;
    let need = count.checked_mul(width).ok_or("shape overflows")?;
    if data.len() < need {
        return Err(format!(
            "data has {} bytes, shape {shape:?} of `{descr}` needs {need}",
            data.len()
        ));
    }
    let c = data[..need].chunks_exact(width);
    let kind = code.as_bytes().first().copied().unwrap_or(b'?');
    Ok(match (kind, width) {
        (b'f', 4) => Values::Float(
            c.map(|b| f32::from_le_bytes(b.try_into().unwrap_or_default()))
                .collect(),
        ),
        (b'f', 8) => Values::Float(
            c.map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()) as f32)
                .collect(),
        ),
        (b'i', 1) => Values::Int(c.map(|b| i64::from(b[0] as i8)).collect()),
        (b'u', 1) | (b'b', 1) => Values::Int(c.map(|b| i64::from(b[0])).collect()),
        (b'i', 2) => Values::Int(
            c.map(|b| i64::from(i16::from_le_bytes([b[0], b[1]])))
                .collect(),
        ),
        (b'u', 2) => Values::Int(
            c.map(|b| i64::from(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
        ),
        (b'i', 4) => Values::Int(
            c.map(|b| i64::from(i32::from_le_bytes(b.try_into().unwrap_or_default())))
                .collect(),
        ),
        (b'u', 4) => Values::Int(
            c.map(|b| i64::from(u32::from_le_bytes(b.try_into().unwrap_or_default())))
                .collect(),
        ),
        (b'i', 8) => Values::Int(
            c.map(|b| i64::from_le_bytes(b.try_into().unwrap_or_default()))
                .collect(),
        ),
        (b'u', 8) => Values::Int(
            c.map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()) as i64)
                .collect(),
        ),
        _ => return Err(format!("dtype `{descr}` is not supported")),
    })
}

/// Reads tensors `keys` from a safetensors file.
pub fn read_safetensors(bytes: &[u8], keys: &[&str]) -> Result<BTreeMap<String, Array>, String> {
    let n = u64_at(bytes, 0).map_err(|_| "not a safetensors file (shorter than 8 bytes)")?;
    let end = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(8))
        .filter(|&e| e <= bytes.len())
        .ok_or("safetensors header length runs past the end of the file")?;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..end])
        .map_err(|e| format!("safetensors header is not valid JSON: {e}"))?;
    let body = &bytes[end..];
    let mut out = BTreeMap::new();
    for key in keys {
        let Some(entry) = header.get(*key) else {
            continue;
        };
        let dtype = entry["dtype"]
            .as_str()
            .ok_or_else(|| format!("tensor `{key}`: no dtype"))?;
        let shape: Vec<usize> = entry["shape"]
            .as_array()
            .ok_or_else(|| format!("tensor `{key}`: no shape"))?
            .iter()
            .map(|d| {
                d.as_u64()
                    .map(|d| d as usize)
                    .ok_or_else(|| format!("tensor `{key}`: bad shape"))
            })
            .collect::<Result<_, _>>()?;
        let offsets = entry["data_offsets"]
            .as_array()
            .ok_or_else(|| format!("tensor `{key}`: no data_offsets"))?;
        let (Some(b), Some(e)) = (
            offsets.first().and_then(serde_json::Value::as_u64),
            offsets.get(1).and_then(serde_json::Value::as_u64),
        ) else {
            return Err(format!("tensor `{key}`: bad data_offsets"));
        };
        let data = usize::try_from(b)
            .ok()
            .zip(usize::try_from(e).ok())
            .filter(|(b, e)| b <= e)
            .and_then(|(b, e)| body.get(b..e))
            .ok_or_else(|| format!("tensor `{key}`: data_offsets [{b}, {e}] outside the file"))?;
        let descr = match dtype {
            "F32" => "<f4",
            "F64" => "<f8",
            "I64" => "<i8",
            "I32" => "<i4",
            "I16" => "<i2",
            "I8" => "|i1",
            "U8" | "BOOL" => "|u1",
            other => return Err(format!("tensor `{key}`: dtype {other} is not supported")),
        };
        let values =
            decode_values(descr, data, &shape).map_err(|e| format!("tensor `{key}`: {e}"))?;
        out.insert((*key).to_owned(), Array { shape, values });
    }
    Ok(out)
}
