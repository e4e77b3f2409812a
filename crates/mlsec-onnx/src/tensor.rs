//! Tensor element types, checked element counts, and tensor data from `raw_data`, the typed
//! fields, or an external data file whose location must stay inside the model directory.

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;

use crate::proto::TensorProto;
use crate::proto::tensor_proto::{DataLocation, DataType};

/// Bits per element of an ONNX data type, `None` for STRING and UNDEFINED/unknown values.
pub fn element_bits(data_type: i32) -> Option<u64> {
    let dt = DataType::try_from(data_type).ok()?;
    use DataType as D;
    Some(match dt {
        D::Undefined | D::String => return None,
        D::Uint2 | D::Int2 => 2,
        D::Uint4 | D::Int4 | D::Float4e2m1 => 4,
        D::Uint8
        | D::Int8
        | D::Bool
        | D::Float8e4m3fn
        | D::Float8e4m3fnuz
        | D::Float8e5m2
        | D::Float8e5m2fnuz
        | D::Float8e8m0 => 8,
        D::Uint16 | D::Int16 | D::Float16 | D::Bfloat16 => 16,
        D::Float | D::Int32 | D::Uint32 => 32,
        D::Double | D::Int64 | D::Uint64 | D::Complex64 => 64,
        D::Complex128 => 128,
    })
}

/// The data type's name (`FLOAT`, `INT64`), or its number when unknown.
pub fn type_name(data_type: i32) -> String {
    DataType::try_from(data_type).map_or_else(
        |_| format!("type {data_type}"),
        |d| d.as_str_name().to_owned(),
    )
}

/// Whether the type is a floating-point type.
pub fn is_float(data_type: i32) -> bool {
    use DataType as D;
    matches!(
        DataType::try_from(data_type),
        Ok(D::Float | D::Double | D::Float16 | D::Bfloat16)
    )
}

/// The element count of `dims`, `None` if a dim is negative or the product overflows.
pub fn element_count(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| {
        u64::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    })
}

/// Expected byte size of the tensor's data, when the type has a fixed width.
pub fn expected_bytes(tensor: &TensorProto) -> Option<u64> {
    let count = element_count(&tensor.dims)?;
    let bits = element_bits(tensor.data_type?)?;
    count.checked_mul(bits).map(|b| b.div_ceil(8))
}

/// Whether the tensor declares its data as external.
pub fn is_external(tensor: &TensorProto) -> bool {
    tensor.data_location == Some(DataLocation::External as i32)
}

/// A tensor's external-data entry, keys parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalRef {
    pub location: Option<String>,
    pub offset: Option<String>,
    pub length: Option<String>,
    pub checksum: Option<String>,
    /// Keys other than location/offset/length/checksum.
    pub unknown_keys: Vec<String>,
    /// Keys given more than once.
    pub duplicate_keys: Vec<String>,
}

impl ExternalRef {
    pub fn parse(tensor: &TensorProto) -> ExternalRef {
        let mut out = ExternalRef::default();
        for entry in &tensor.external_data {
            let key = entry.key.clone().unwrap_or_default();
            let value = entry.value.clone().unwrap_or_default();
            let slot = match key.as_str() {
                "location" => &mut out.location,
                "offset" => &mut out.offset,
                "length" => &mut out.length,
                "checksum" => &mut out.checksum,
                _ => {
                    out.unknown_keys.push(key);
                    continue;
                }
            };
            if slot.is_some() {
                out.duplicate_keys.push(key);
            } else {
                *slot = Some(value);
            }
        }
        out
    }

    /// The parsed offset (0 when absent).
    pub fn offset_value(&self) -> Result<u64, DataError> {
        parse_u64("offset", self.offset.as_deref()).map(|v| v.unwrap_or(0))
    }

    /// The parsed length (`None`: to the end of the file).
    pub fn length_value(&self) -> Result<Option<u64>, DataError> {
        parse_u64("length", self.length.as_deref())
    }
}

fn parse_u64(key: &'static str, value: Option<&str>) -> Result<Option<u64>, DataError> {
    match value {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| DataError::BadNumber {
                key,
                value: v.to_owned(),
            }),
    }
}

/// Why tensor data or an external location is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("external data has no `location`")]
    NoLocation,
    #[error("location contains a NUL byte")]
    Nul,
    #[error("location is absolute")]
    Absolute,
    #[error("location contains `..`")]
    ParentDir,
    #[error("location is not normalised (`.`, empty components or backslashes)")]
    NotNormalised,
    #[error("location resolves outside the model directory")]
    OutsideModelDir,
    #[error("external data file is a symbolic link")]
    Symlink,
    #[error("external data file has {0} hard links")]
    HardLink(u64),
    #[error("external data file is missing: {0}")]
    Missing(String),
    #[error("external data is not a regular file")]
    NotAFile,
    #[error("`{key}` is not a non-negative integer: {value:?}")]
    BadNumber { key: &'static str, value: String },
    #[error("offset {offset} + length {length} is past the end of the {size}-byte file")]
    OutOfRange { offset: u64, length: u64, size: u64 },
    #[error("data is {actual} bytes, dims and type need {expected}")]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("cannot read external data: {0}")]
    Io(String),
}

/// Lexical checks on a location string: every problem, in a fixed order.
pub fn location_problems(location: &str) -> Vec<DataError> {
    let mut out = Vec::new();
    if location.contains('\0') {
        out.push(DataError::Nul);
    }
    let path = Path::new(location);
    if path.is_absolute()
        || location.starts_with('/')
        || location.starts_with('\\')
        || has_drive(location)
    {
        out.push(DataError::Absolute);
    }
    if path.components().any(|c| c == Component::ParentDir)
        || location.split(['/', '\\']).any(|c| c == "..")
    {
        out.push(DataError::ParentDir);
    }
    let odd = location.is_empty()
        || location.contains('\\')
        || location
            .split('/')
            .enumerate()
            .any(|(i, c)| c == "." || (c.is_empty() && i > 0));
    if odd {
        out.push(DataError::NotNormalised);
    }
    out
}

fn has_drive(location: &str) -> bool {
    let b = location.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Resolves `location` against `model_dir` and checks the result: lexically clean, exists, a
/// regular file, not a symlink or hard link, and inside the model directory after
/// canonicalisation. Returns the canonical path.
pub fn resolve_location(model_dir: &Path, location: &str) -> Result<PathBuf, DataError> {
    if let Some(first) = location_problems(location).into_iter().next()
        && !matches!(first, DataError::NotNormalised)
    {
        return Err(first);
    }
    let joined = model_dir.join(location);
    let meta =
        std::fs::symlink_metadata(&joined).map_err(|_| DataError::Missing(location.to_owned()))?;
    if meta.file_type().is_symlink() {
        return Err(DataError::Symlink);
    }
    if !meta.is_file() {
        return Err(DataError::NotAFile);
    }
    let base = model_dir
        .canonicalize()
        .map_err(|e| DataError::Io(e.to_string()))?;
    let real = joined
        .canonicalize()
        .map_err(|e| DataError::Io(e.to_string()))?;
    if !real.starts_with(&base) {
        return Err(DataError::OutsideModelDir);
    }
    let links = hard_links(&meta);
    if links > 1 {
        return Err(DataError::HardLink(links));
    }
    Ok(real)
}

#[cfg(unix)]
fn hard_links(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::nlink(meta)
}

#[cfg(not(unix))]
fn hard_links(_meta: &std::fs::Metadata) -> u64 {
    1
}

/// A tensor's data bytes, wherever they are stored.
///
/// `raw_data` is returned without copying; typed fields are encoded little-endian as
/// `raw_data` would be (FLOAT/INT32-family/INT64/DOUBLE/UINT64; narrower types stored in
/// `int32_data` are narrowed); external data is read (memory-mapped when large) from the
/// checked location. STRING tensors return the concatenation of their strings.
pub fn tensor_bytes(tensor: &TensorProto, model_dir: &Path) -> Result<Bytes, DataError> {
    if is_external(tensor) {
        let ext = ExternalRef::parse(tensor);
        let location = ext.location.as_deref().ok_or(DataError::NoLocation)?;
        let path = resolve_location(model_dir, location)?;
        let offset = ext.offset_value()?;
        let length = ext.length_value()?;
        return read_range(&path, offset, length);
    }
    if let Some(raw) = &tensor.raw_data {
        return Ok(raw.clone());
    }
    Ok(typed_bytes(tensor))
}

/// Reads `length` bytes at `offset` of a file (to the end when `length` is `None`).
pub fn read_range(path: &Path, offset: u64, length: Option<u64>) -> Result<Bytes, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::Io(e.to_string()))?;
    let size = file
        .metadata()
        .map_err(|e| DataError::Io(e.to_string()))?
        .len();
    let length = length.unwrap_or(size.saturating_sub(offset));
    let end = offset.checked_add(length);
    if end.is_none_or(|end| end > size) {
        return Err(DataError::OutOfRange {
            offset,
            length,
            size,
        });
    }
    if length == 0 {
        return Ok(Bytes::new());
    }
    if size >= crate::MMAP_THRESHOLD {
        let map = crate::map_file(&file).map_err(|e| DataError::Io(e.to_string()))?;
        let all = Bytes::from_owner(map);
        return Ok(all.slice(offset as usize..(offset + length) as usize));
    }
    let mut buf = vec![0; length as usize];
    std::io::Seek::seek(&mut &file, std::io::SeekFrom::Start(offset))
        .map_err(|e| DataError::Io(e.to_string()))?;
    std::io::Read::read_exact(&mut &file, &mut buf).map_err(|e| DataError::Io(e.to_string()))?;
    Ok(Bytes::from(buf))
}

/// The typed fields as little-endian bytes.
pub fn typed_bytes(t: &TensorProto) -> Bytes {
    use DataType as D;
    let dt = t.data_type.and_then(|d| DataType::try_from(d).ok());
    let mut out = Vec::new();
    match dt {
        Some(D::Float) => t
            .float_data
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Some(D::Double) => t
            .double_data
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Some(D::Complex64) => t
            .float_data
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Some(D::Complex128) => t
            .double_data
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Some(D::Int64) => t
            .int64_data
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Some(D::Uint64) => t
            .uint64_data
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Some(D::Uint32) => t
            .uint64_data
            .iter()
            .for_each(|v| out.extend((*v as u32).to_le_bytes())),
        Some(D::Int32) => t
            .int32_data
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Some(D::Int16 | D::Uint16 | D::Float16 | D::Bfloat16) => t
            .int32_data
            .iter()
            .for_each(|v| out.extend((*v as u16).to_le_bytes())),
        Some(
            D::Int8
            | D::Uint8
            | D::Bool
            | D::Float8e4m3fn
            | D::Float8e4m3fnuz
            | D::Float8e5m2
            | D::Float8e5m2fnuz
            | D::Float8e8m0,
        ) => t.int32_data.iter().for_each(|v| out.push(*v as u8)),
        Some(D::String) => t.string_data.iter().for_each(|s| out.extend_from_slice(s)),
        // Packed sub-byte types are stored packed in int32_data elements, one byte each.
        Some(D::Int4 | D::Uint4 | D::Float4e2m1 | D::Int2 | D::Uint2) => {
            t.int32_data.iter().for_each(|v| out.push(*v as u8))
        }
        Some(D::Undefined) | None => {}
    }
    Bytes::from(out)
}

/// Decodes FLOAT/DOUBLE/INT32/INT64 tensor bytes into f64 values (at most `limit`), for
/// constant inspection.
pub fn values_f64(tensor: &TensorProto, bytes: &[u8], limit: usize) -> Vec<f64> {
    use DataType as D;
    let dt = tensor.data_type.and_then(|d| DataType::try_from(d).ok());
    let take = |w: usize| bytes.chunks_exact(w).take(limit);
    match dt {
        Some(D::Float) => take(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
            .collect(),
        Some(D::Double) => take(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        Some(D::Int32) => take(4)
            .map(|c| f64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
            .collect(),
        Some(D::Int64) => take(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_checks() {
        assert!(location_problems("weights.bin").is_empty());
        assert!(location_problems("sub/weights.bin").is_empty());
        assert_eq!(location_problems("/etc/passwd"), vec![DataError::Absolute]);
        assert!(location_problems("../x").contains(&DataError::ParentDir));
        assert!(location_problems("a/./b").contains(&DataError::NotNormalised));
        assert!(location_problems("a\0b").contains(&DataError::Nul));
        assert!(location_problems("C:\\x").contains(&DataError::Absolute));
    }

    #[test]
    fn counts_and_sizes() {
        assert_eq!(element_count(&[2, 3]), Some(6));
        assert_eq!(element_count(&[]), Some(1));
        assert_eq!(element_count(&[-1, 3]), None);
        assert_eq!(element_count(&[i64::MAX, i64::MAX]), None);
        let t = TensorProto {
            dims: vec![3],
            data_type: Some(DataType::Int4 as i32),
            ..Default::default()
        };
        assert_eq!(expected_bytes(&t), Some(2));
    }

    #[test]
    fn external_keys() {
        use crate::proto::StringStringEntryProto as E;
        let e = |k: &str, v: &str| E {
            key: Some(k.into()),
            value: Some(v.into()),
        };
        let t = TensorProto {
            external_data: vec![e("location", "a"), e("location", "b"), e("x", "y")],
            ..Default::default()
        };
        let r = ExternalRef::parse(&t);
        assert_eq!(r.location.as_deref(), Some("a"));
        assert_eq!(r.duplicate_keys, vec!["location"]);
        assert_eq!(r.unknown_keys, vec!["x"]);
    }
}
