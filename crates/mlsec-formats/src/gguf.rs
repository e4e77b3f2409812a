//! GGUF, the llama.cpp / ggml model file: a header (magic `GGUF`, version, tensor count,
//! metadata count), typed metadata key/value pairs, tensor infos (name, dimensions, ggml type,
//! offset into the data section), padding to `general.alignment`, then the tensor data.
//!
//! Read from the format description in the ggml repository (`docs/gguf.md`) and the checks
//! ggml's own reader (`src/gguf.cpp`) makes, so that a file ggml refuses or reads differently
//! is reported. Versions 1 (32-bit counts and lengths) to 3, little- and big-endian.
//!
//! Every count and length is bounded by the bytes left in the file before anything is
//! allocated for it, so memory stays linear in the input; arrays are validated but only
//! summarised (element type and count), never materialised. A structure that cannot be walked
//! (truncation, an unknown value type, a count larger than the file) is a [`GgufError`];
//! problems that leave the file readable but that a conforming writer never produces (or that
//! ggml rejects) are [`GgufAnomaly`] entries, all of them, not only the first.

use std::collections::HashSet;

use crate::dtype::DType;

pub const MAGIC: &[u8; 4] = b"GGUF";
/// `general.alignment` when the key is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's `GGML_MAX_DIMS`.
pub const MAX_DIMS: u32 = 4;
/// ggml's `GGML_MAX_NAME`: a tensor name must be shorter.
pub const MAX_NAME: usize = 64;
/// Arrays of arrays deeper than this are refused (ggml itself reads no nested arrays).
pub const MAX_ARRAY_DEPTH: usize = 8;
/// The spec's limit on key length.
pub const MAX_KEY: usize = 65_535;

/// A metadata value type (`gguf_metadata_value_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    pub fn from_u32(v: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match v {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }

    /// Bytes of a scalar of this type (`None` for strings and arrays).
    fn fixed_size(self) -> Option<u64> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            String | Array => None,
        }
    }
}

/// A metadata value. Arrays are summarised: their elements are checked, not kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    /// The text (invalid UTF-8 replaced, which is an anomaly).
    String(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Array {
        elem: ValueType,
        len: u64,
    },
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::F32(_) => "f32",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F64(_) => "f64",
            Value::Array { .. } => "array",
        }
    }

    /// The value as an unsigned integer, when it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
}

/// One metadata key/value pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Kv {
    pub key: String,
    /// File offset of the key (its length field).
    pub offset: u64,
    /// File offset of the value's bytes (for a string, of its first byte after the length).
    pub value_offset: u64,
    pub value: Value,
}

/// A ggml tensor type: its number and, when known, name, block size and block bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgmlType(pub u32);

impl GgmlType {
    /// `(name, elements per block, bytes per block)`, from ggml's type traits. Types whose
    /// support was removed from GGUF (4, 5, 31-33, 36-38) are unknown, as ggml treats them.
    pub fn info(self) -> Option<(&'static str, u64, u64)> {
        Some(match self.0 {
            0 => ("F32", 1, 4),
            1 => ("F16", 1, 2),
            2 => ("Q4_0", 32, 18),
            3 => ("Q4_1", 32, 20),
            6 => ("Q5_0", 32, 22),
            7 => ("Q5_1", 32, 24),
            8 => ("Q8_0", 32, 34),
            9 => ("Q8_1", 32, 40),
            10 => ("Q2_K", 256, 84),
            11 => ("Q3_K", 256, 110),
            12 => ("Q4_K", 256, 144),
            13 => ("Q5_K", 256, 176),
            14 => ("Q6_K", 256, 210),
            15 => ("Q8_K", 256, 292),
            16 => ("IQ2_XXS", 256, 66),
            17 => ("IQ2_XS", 256, 74),
            18 => ("IQ3_XXS", 256, 98),
            19 => ("IQ1_S", 256, 50),
            20 => ("IQ4_NL", 32, 18),
            21 => ("IQ3_S", 256, 110),
            22 => ("IQ2_S", 256, 82),
            23 => ("IQ4_XS", 256, 136),
            24 => ("I8", 1, 1),
            25 => ("I16", 1, 2),
            26 => ("I32", 1, 4),
            27 => ("I64", 1, 8),
            28 => ("F64", 1, 8),
            29 => ("IQ1_M", 256, 56),
            30 => ("BF16", 1, 2),
            34 => ("TQ1_0", 256, 54),
            35 => ("TQ2_0", 256, 66),
            39 => ("MXFP4", 32, 17),
            _ => return None,
        })
    }

    pub fn name(self) -> String {
        self.info()
            .map_or_else(|| format!("type {}", self.0), |i| i.0.to_owned())
    }

    /// The element type when the data is plain (not block-quantized).
    pub fn dtype(self) -> Option<DType> {
        Some(match self.0 {
            0 => DType::F32,
            1 => DType::F16,
            24 => DType::I8,
            25 => DType::I16,
            26 => DType::I32,
            27 => DType::I64,
            28 => DType::F64,
            30 => DType::BF16,
            _ => return None,
        })
    }
}

/// One tensor info record.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// File offset of the record (its name's length field).
    pub offset: u64,
    /// ggml order: `dims[0]` varies fastest (numpy's shape is the reverse).
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset of the data relative to the data section.
    pub data_offset: u64,
    /// Bytes of data, when the type is known and the size representable.
    pub nbytes: Option<u64>,
}

impl TensorInfo {
    /// The shape in numpy/PyTorch order (slowest dimension first).
    pub fn shape(&self) -> Vec<u64> {
        self.dims.iter().rev().copied().collect()
    }
}

/// What an anomaly is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyKind {
    /// The header or metadata breaks the format's rules or ggml's checks.
    Structure,
    /// A tensor's data reaches outside the file.
    OutOfBounds,
}

/// A problem that does not stop reading the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufAnomaly {
    pub kind: AnomalyKind,
    /// The tensor it concerns, if any.
    pub tensor: Option<String>,
    /// The metadata key it concerns, if any.
    pub key: Option<String>,
    /// File offset of the offending record.
    pub offset: u64,
    pub message: String,
}

#[derive(Debug)]
pub struct Gguf {
    pub version: u32,
    pub big_endian: bool,
    pub metadata: Vec<Kv>,
    /// The alignment in effect (`general.alignment` when valid, else 32).
    pub alignment: u64,
    pub tensors: Vec<TensorInfo>,
    /// File offset of the data section.
    pub data_start: u64,
    pub anomalies: Vec<GgufAnomaly>,
}

impl Gguf {
    pub fn get(&self, key: &str) -> Option<&Kv> {
        self.metadata.iter().find(|kv| kv.key == key)
    }

    /// A tensor's data as a range of the file, when it lies inside it.
    pub fn data_range(&self, t: &TensorInfo, file_len: u64) -> Option<std::ops::Range<usize>> {
        let start = self.data_start.checked_add(t.data_offset)?;
        let end = start.checked_add(t.nbytes?)?;
        (end <= file_len).then_some(start as usize..end as usize)
    }
}

/// A structure that cannot be read further.
#[derive(Debug, thiserror::Error)]
#[error("invalid GGUF: {message} (offset {offset})")]
pub struct GgufError {
    pub offset: u64,
    pub message: String,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    be: bool,
    /// Version 1 stores counts and lengths as u32.
    v1: bool,
}

impl<'a> Reader<'a> {
    fn err<T>(&self, message: impl Into<String>) -> Result<T, GgufError> {
        Err(GgufError {
            offset: self.pos as u64,
            message: message.into(),
        })
    }

    fn left(&self) -> u64 {
        (self.data.len() - self.pos) as u64
    }

    fn bytes(&mut self, n: u64, what: &str) -> Result<&'a [u8], GgufError> {
        if n > self.left() {
            return self.err(format!(
                "{what} needs {n} bytes but only {} remain in the file",
                self.left()
            ));
        }
        let s = &self.data[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let b = self.bytes(N as u64, what)?;
        let mut a: [u8; N] = b.try_into().expect("N bytes");
        if self.be {
            a.reverse();
        }
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count or length: u32 in version 1, u64 after.
    fn len(&mut self, what: &str) -> Result<u64, GgufError> {
        if self.v1 {
            self.u32(what).map(u64::from)
        } else {
            self.u64(what)
        }
    }

    /// A string: its bytes, offset of the bytes, and whether they are UTF-8.
    fn string(&mut self, what: &str) -> Result<(&'a [u8], u64), GgufError> {
        let n = self.len(what)?;
        let at = self.pos as u64;
        let b = self.bytes(n, what)?;
        Ok((b, at))
    }

    fn len_width(&self) -> u64 {
        if self.v1 { 4 } else { 8 }
    }

    /// The fewest bytes a value of this type can take on disk.
    fn min_size(&self, t: ValueType) -> u64 {
        match t {
            ValueType::String => self.len_width(),
            ValueType::Array => 4 + self.len_width(),
            other => other.fixed_size().expect("scalar"),
        }
    }
}

/// Whether the bytes start like GGUF.
pub fn sniff(data: &[u8]) -> bool {
    data.starts_with(MAGIC)
}

pub fn parse(data: &[u8]) -> Result<Gguf, GgufError> {
    if !data.starts_with(MAGIC) {
        return Err(GgufError {
            offset: 0,
            message: "does not start with the magic `GGUF`".into(),
        });
    }
    let mut r = Reader {
        data,
        pos: 4,
        be: false,
        v1: false,
    };
    let raw = r.array::<4>("the version")?;
    let le = u32::from_le_bytes(raw);
    let be = u32::from_be_bytes(raw);
    // Big-endian files (version 3) are told apart the way gguf-py does: by a version that
    // only makes sense byte-swapped.
    let version = if (1..=3).contains(&le) {
        le
    } else if (2..=3).contains(&be) {
        r.be = true;
        be
    } else {
        return Err(GgufError {
            offset: 4,
            message: format!("unsupported version {le} (versions 1 to 3 exist)"),
        });
    };
    r.v1 = version == 1;
    let mut anomalies = Vec::new();
    let mut anomaly = |kind, tensor: Option<&str>, key: Option<&str>, offset: u64, message| {
        anomalies.push(GgufAnomaly {
            kind,
            tensor: tensor.map(str::to_owned),
            key: key.map(str::to_owned),
            offset,
            message,
        })
    };
    let tensor_count = r.len("the tensor count")?;
    let kv_count = r.len("the metadata count")?;
    // Each metadata pair takes at least a key length, a type and one byte; each tensor info a
    // name length, a dimension count, a type and an offset.
    let kv_min = r.len_width() + 4 + 1;
    let tensor_min = r.len_width() + 4 + 4 + 8;
    let need = kv_count.checked_mul(kv_min).and_then(|a| {
        tensor_count
            .checked_mul(tensor_min)
            .and_then(|b| a.checked_add(b))
    });
    if need.is_none_or(|n| n > r.left()) {
        return r.err(format!(
            "{kv_count} metadata pairs and {tensor_count} tensor infos cannot fit in the {} bytes left",
            r.left()
        ));
    }
    let mut metadata = Vec::with_capacity(kv_count as usize);
    let mut keys: HashSet<String> = HashSet::new();
    for _ in 0..kv_count {
        let offset = r.pos as u64;
        let (kb, _) = r.string("a metadata key")?;
        let key = String::from_utf8_lossy(kb).into_owned();
        if !kb.is_ascii() {
            anomaly(
                AnomalyKind::Structure,
                None,
                Some(&key),
                offset,
                "metadata key is not ASCII".into(),
            );
        }
        if kb.len() > MAX_KEY {
            anomaly(
                AnomalyKind::Structure,
                None,
                Some(&key),
                offset,
                format!(
                    "metadata key is {} bytes long (at most {MAX_KEY})",
                    kb.len()
                ),
            );
        }
        if !keys.insert(key.clone()) {
            anomaly(
                AnomalyKind::Structure,
                None,
                Some(&key),
                offset,
                "duplicate metadata key (ggml refuses the file; other readers keep one of the values)"
                    .into(),
            );
        }
        let t = r.u32("a metadata value type")?;
        let Some(t) = ValueType::from_u32(t) else {
            return r.err(format!("metadata `{key}` has unknown value type {t}"));
        };
        let value_offset = r.pos as u64
            + if t == ValueType::String {
                r.len_width()
            } else {
                0
            };
        let mut bad = Vec::new();
        let value = read_value(&mut r, t, 0, &mut bad)?;
        for message in bad {
            anomaly(AnomalyKind::Structure, None, Some(&key), offset, message);
        }
        metadata.push(Kv {
            key,
            offset,
            value_offset,
            value,
        });
    }
    let mut alignment = DEFAULT_ALIGNMENT;
    if let Some(kv) = metadata.iter().find(|kv| kv.key == "general.alignment") {
        if !matches!(kv.value, Value::U32(_)) {
            anomaly(
                AnomalyKind::Structure,
                None,
                Some(&kv.key),
                kv.offset,
                format!(
                    "general.alignment is a {}, not a u32 (ggml aborts on such a file)",
                    kv.value.type_name()
                ),
            );
        }
        match kv.value.as_u64() {
            Some(a) if a.is_power_of_two() => alignment = a,
            _ => anomaly(
                AnomalyKind::Structure,
                None,
                Some(&kv.key),
                kv.offset,
                format!(
                    "general.alignment {:?} is not a power of two; {DEFAULT_ALIGNMENT} is used",
                    kv.value
                ),
            ),
        }
    }
    let mut tensors: Vec<TensorInfo> = Vec::with_capacity(tensor_count as usize);
    let mut names: HashSet<String> = HashSet::new();
    for _ in 0..tensor_count {
        let offset = r.pos as u64;
        let (nb, _) = r.string("a tensor name")?;
        let name = String::from_utf8_lossy(nb).into_owned();
        let mut bad = |message: String| {
            anomaly(AnomalyKind::Structure, Some(&name), None, offset, message);
        };
        if std::str::from_utf8(nb).is_err() {
            bad("tensor name is not UTF-8".into());
        }
        if nb.len() >= MAX_NAME {
            bad(format!(
                "tensor name is {} bytes long; ggml refuses names of {MAX_NAME} bytes or more",
                nb.len()
            ));
        }
        if !names.insert(name.clone()) {
            bad("duplicate tensor name".into());
        }
        let n_dims = r.u32("a dimension count")?;
        if n_dims > MAX_DIMS {
            bad(format!(
                "{n_dims} dimensions; ggml allows at most {MAX_DIMS}"
            ));
        }
        let width = r.len_width();
        if u64::from(n_dims) * width > r.left() {
            return r.err(format!(
                "tensor `{name}` declares {n_dims} dimensions, more than the file can hold"
            ));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(r.len("a dimension")?);
        }
        let ggml_type = GgmlType(r.u32("a tensor type")?);
        let data_offset = r.u64("a tensor data offset")?;
        // ggml keeps dimensions and element counts in int64: it refuses a negative dimension
        // whatever the others are (so a zero elsewhere does not make one acceptable).
        let numel = if let Some(d) = dims.iter().find(|&&d| d > i64::MAX as u64) {
            bad(format!(
                "dimension {d} is negative in ggml's int64 (dimensions {dims:?})"
            ));
            None
        } else if dims.contains(&0) {
            Some(0)
        } else {
            let n = dims
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d))
                .filter(|&n| n <= i64::MAX as u64);
            if n.is_none() {
                bad(format!(
                    "dimensions {dims:?} multiply to more elements than ggml can count (2^63)"
                ));
            }
            n
        };
        let mut nbytes = None;
        match ggml_type.info() {
            None => bad(format!("unknown ggml type {}", ggml_type.0)),
            Some((tname, block, size)) => {
                let row = dims.first().copied().unwrap_or(1);
                if row % block != 0 {
                    bad(format!(
                        "{row} elements per row is not a multiple of the {tname} block size {block}"
                    ));
                } else if let Some(n) = numel {
                    nbytes = (n / block).checked_mul(size);
                }
            }
        }
        if data_offset % alignment != 0 {
            bad(format!(
                "data offset {data_offset} is not a multiple of the alignment {alignment}"
            ));
        }
        tensors.push(TensorInfo {
            name,
            offset,
            dims,
            ggml_type,
            data_offset,
            nbytes,
        });
    }
    let end_of_infos = r.pos as u64;
    let data_start = end_of_infos.next_multiple_of(alignment);
    let file_len = data.len() as u64;
    // Data ranges: inside the file, not overlapping, no hidden bytes between or after them.
    let mut ranges: Vec<(u64, u64, usize)> = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        let Some(n) = t.nbytes else { continue };
        let start = data_start.checked_add(t.data_offset);
        let end = start.and_then(|s| s.checked_add(n));
        match (start, end) {
            (Some(s), Some(e)) if e <= file_len => ranges.push((s, e, i)),
            _ => anomaly(
                AnomalyKind::OutOfBounds,
                Some(&t.name),
                None,
                t.offset,
                format!(
                    "data [{}, {}) of {n} bytes reaches outside the {file_len}-byte file",
                    start.map_or_else(|| "overflow".into(), |s| s.to_string()),
                    end.map_or_else(|| "overflow".into(), |e| e.to_string()),
                ),
            ),
        }
    }
    ranges.sort();
    let mut cursor = data_start;
    let mut prev: Option<usize> = None;
    for &(s, e, i) in &ranges {
        let t = &tensors[i];
        if s < cursor && s != e {
            anomaly(
                AnomalyKind::Structure,
                Some(&t.name),
                None,
                t.offset,
                format!(
                    "data [{s}, {e}) overlaps tensor `{}`",
                    prev.map_or("", |p| tensors[p].name.as_str())
                ),
            );
        } else if s > cursor.next_multiple_of(alignment) {
            anomaly(
                AnomalyKind::Structure,
                Some(&t.name),
                None,
                t.offset,
                format!("{} unindexed bytes before this tensor's data", s - cursor),
            );
        }
        if e > cursor {
            cursor = e;
            prev = Some(i);
        }
    }
    if !tensors.is_empty() && file_len > cursor.next_multiple_of(alignment) {
        anomaly(
            AnomalyKind::Structure,
            None,
            None,
            cursor,
            format!(
                "{} unindexed bytes after the last tensor's data",
                file_len - cursor
            ),
        );
    }
    Ok(Gguf {
        version,
        big_endian: r.be,
        metadata,
        alignment,
        tensors,
        data_start,
        anomalies,
    })
}

fn read_value(
    r: &mut Reader<'_>,
    t: ValueType,
    depth: usize,
    bad: &mut Vec<String>,
) -> Result<Value, GgufError> {
    Ok(match t {
        ValueType::U8 => Value::U8(r.array::<1>("a u8")?[0]),
        ValueType::I8 => Value::I8(i8::from_le_bytes(r.array("an i8")?)),
        ValueType::U16 => Value::U16(u16::from_le_bytes(r.array("a u16")?)),
        ValueType::I16 => Value::I16(i16::from_le_bytes(r.array("an i16")?)),
        ValueType::U32 => Value::U32(r.u32("a u32")?),
        ValueType::I32 => Value::I32(i32::from_le_bytes(r.array("an i32")?)),
        ValueType::F32 => Value::F32(f32::from_le_bytes(r.array("an f32")?)),
        ValueType::Bool => {
            let b = r.array::<1>("a bool")?[0];
            if b > 1 {
                bad.push(format!("bool value {b} is neither 0 nor 1"));
            }
            Value::Bool(b != 0)
        }
        ValueType::U64 => Value::U64(r.u64("a u64")?),
        ValueType::I64 => Value::I64(i64::from_le_bytes(r.array("an i64")?)),
        ValueType::F64 => Value::F64(f64::from_le_bytes(r.array("an f64")?)),
        ValueType::String => {
            let (b, _) = r.string("a string value")?;
            if std::str::from_utf8(b).is_err() && bad.len() < 8 {
                bad.push("string value is not UTF-8".into());
            }
            Value::String(String::from_utf8_lossy(b).into_owned())
        }
        ValueType::Array => {
            if depth >= MAX_ARRAY_DEPTH {
                return r.err(format!("arrays nested deeper than {MAX_ARRAY_DEPTH}"));
            }
            let et = r.u32("an array element type")?;
            let Some(elem) = ValueType::from_u32(et) else {
                return r.err(format!("array of unknown value type {et}"));
            };
            let len = r.len("an array length")?;
            let min = r.min_size(elem);
            if len.checked_mul(min).is_none_or(|n| n > r.left()) {
                return r.err(format!(
                    "array of {len} {} values cannot fit in the {} bytes left",
                    elem.name(),
                    r.left()
                ));
            }
            match elem.fixed_size() {
                Some(size) if elem != ValueType::Bool => {
                    r.bytes(len * size, "array elements")?;
                }
                _ => {
                    for _ in 0..len {
                        read_value(r, elem, depth + 1, bad)?;
                    }
                }
            }
            Value::Array { elem, len }
        }
    })
}

/// Serialises a little-endian version-3 GGUF file: metadata in order, then tensors laid out
/// one after another at `alignment` (used by tests and the fixture generator).
pub fn write(
    metadata: &[(&str, WriteValue<'_>)],
    tensors: &[WriteTensor<'_>],
    alignment: u64,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    let string = |out: &mut Vec<u8>, s: &[u8]| {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s);
    };
    for (key, value) in metadata {
        string(&mut out, key.as_bytes());
        value.write(&mut out);
    }
    let mut offset = 0u64;
    let mut offsets = Vec::new();
    for t in tensors {
        string(&mut out, t.name.as_bytes());
        out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for d in t.dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.ggml_type.to_le_bytes());
        let at = t.offset.unwrap_or(offset);
        out.extend_from_slice(&at.to_le_bytes());
        offsets.push(at);
        offset = (at + t.data.len() as u64).next_multiple_of(alignment);
    }
    out.resize((out.len() as u64).next_multiple_of(alignment) as usize, 0);
    let start = out.len();
    // A tensor without data (for files that lie about where it is) writes nothing.
    for (t, at) in tensors
        .iter()
        .zip(offsets)
        .filter(|(t, _)| !t.data.is_empty())
    {
        let s = start + at as usize;
        if out.len() < s + t.data.len() {
            out.resize(s + t.data.len(), 0);
        }
        out[s..s + t.data.len()].copy_from_slice(t.data);
    }
    out.resize((out.len() as u64).next_multiple_of(alignment) as usize, 0);
    out
}

/// A metadata value to write.
#[derive(Debug, Clone)]
pub enum WriteValue<'a> {
    U32(u32),
    U64(u64),
    F32(f32),
    Bool(bool),
    Str(&'a str),
    Strings(&'a [&'a str]),
    F32s(&'a [f32]),
    I32s(&'a [i32]),
}

impl WriteValue<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        let string = |out: &mut Vec<u8>, s: &[u8]| {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s);
        };
        match self {
            WriteValue::U32(v) => {
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
            WriteValue::U64(v) => {
                out.extend_from_slice(&10u32.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
            WriteValue::F32(v) => {
                out.extend_from_slice(&6u32.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
            WriteValue::Bool(v) => {
                out.extend_from_slice(&7u32.to_le_bytes());
                out.push(u8::from(*v));
            }
            WriteValue::Str(s) => {
                out.extend_from_slice(&8u32.to_le_bytes());
                string(out, s.as_bytes());
            }
            WriteValue::Strings(v) => {
                out.extend_from_slice(&9u32.to_le_bytes());
                out.extend_from_slice(&8u32.to_le_bytes());
                out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                for s in *v {
                    string(out, s.as_bytes());
                }
            }
            WriteValue::F32s(v) => {
                out.extend_from_slice(&9u32.to_le_bytes());
                out.extend_from_slice(&6u32.to_le_bytes());
                out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                for x in *v {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
            WriteValue::I32s(v) => {
                out.extend_from_slice(&9u32.to_le_bytes());
                out.extend_from_slice(&5u32.to_le_bytes());
                out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                for x in *v {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
    }
}

/// A tensor to write: ggml dimension order, raw data, and optionally a forced offset.
#[derive(Debug, Clone)]
pub struct WriteTensor<'a> {
    pub name: &'a str,
    pub dims: &'a [u64],
    pub ggml_type: u32,
    pub data: &'a [u8],
    /// Offset in the data section; `None` lays tensors out in order.
    pub offset: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn small() -> Vec<u8> {
        let w = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = f32_bytes(&[0.5, -0.5]);
        write(
            &[
                ("general.architecture", WriteValue::Str("llama")),
                ("general.alignment", WriteValue::U32(32)),
                ("tokenizer.ggml.tokens", WriteValue::Strings(&["a", "b"])),
                ("tokenizer.ggml.scores", WriteValue::F32s(&[0.0, 1.0])),
            ],
            &[
                WriteTensor {
                    name: "w",
                    dims: &[3, 2],
                    ggml_type: 0,
                    data: &w,
                    offset: None,
                },
                WriteTensor {
                    name: "b",
                    dims: &[2],
                    ggml_type: 0,
                    data: &b,
                    offset: None,
                },
            ],
            32,
        )
    }

    #[test]
    fn reads_what_it_writes() {
        let f = small();
        let g = parse(&f).unwrap();
        assert!(g.anomalies.is_empty(), "{:?}", g.anomalies);
        assert_eq!(g.version, 3);
        assert_eq!(g.metadata.len(), 4);
        assert_eq!(
            g.get("tokenizer.ggml.tokens").unwrap().value,
            Value::Array {
                elem: ValueType::String,
                len: 2
            }
        );
        assert_eq!(g.tensors[0].shape(), [2, 3]);
        assert_eq!(g.tensors[1].data_offset, 32);
        let r = g.data_range(&g.tensors[1], f.len() as u64).unwrap();
        assert_eq!(&f[r], &f32_bytes(&[0.5, -0.5])[..]);
        let kv = g.get("general.architecture").unwrap();
        assert_eq!(&f[kv.value_offset as usize..][..5], b"llama");
    }

    #[test]
    fn every_truncation_is_an_error_or_an_anomaly() {
        let f = small();
        let g = parse(&f).unwrap();
        // The last tensor's data ends here; only alignment padding follows (which ggml's mmap
        // loader does not need either).
        let last = g.data_range(&g.tensors[1], f.len() as u64).unwrap().end;
        for n in 0..last {
            match parse(&f[..n]) {
                Err(_) => {}
                Ok(g) => assert!(
                    g.anomalies
                        .iter()
                        .any(|a| a.kind == AnomalyKind::OutOfBounds),
                    "truncated at {n}: {:?}",
                    g.anomalies
                ),
            }
        }
        for n in last..f.len() {
            assert!(parse(&f[..n]).unwrap().anomalies.is_empty());
        }
    }

    #[test]
    fn lying_counts_are_errors_before_allocation() {
        let mut f = small();
        f[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse(&f).unwrap_err().message.contains("cannot fit"));
        let mut f = small();
        f[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(parse(&f).is_err());
        // A string length beyond the file.
        let mut f = small();
        f[24..32].copy_from_slice(&(1u64 << 50).to_le_bytes());
        assert!(parse(&f).unwrap_err().message.contains("remain"));
    }

    #[test]
    fn a_negative_dimension_is_an_anomaly_even_beside_a_zero() {
        // Found by the traversal fuzzer: dims [0, 2^64 - 1] counted 0 elements and handed out
        // an empty tensor, whose numpy-order shape [2^64 - 1, 0] overflows any product taken
        // left to right. ggml refuses the file (a negative int64 dimension).
        for dims in [&[0, u64::MAX][..], &[u64::MAX, 0], &[1 << 63, 1]] {
            let f = write(
                &[("general.alignment", WriteValue::U32(32))],
                &[WriteTensor {
                    name: "t",
                    dims,
                    ggml_type: 0,
                    data: &[],
                    offset: None,
                }],
                32,
            );
            let g = parse(&f).unwrap();
            assert!(
                g.anomalies
                    .iter()
                    .any(|a| a.message.contains("negative in ggml's int64")),
                "{dims:?}: {:?}",
                g.anomalies
            );
            assert_eq!(g.tensors[0].nbytes, None, "{dims:?}");
        }
        // A zero beside in-range dimensions is an empty tensor, in either order.
        for dims in [&[0, 1 << 62, 4][..], &[1 << 62, 4, 0]] {
            let f = write(
                &[("general.alignment", WriteValue::U32(32))],
                &[WriteTensor {
                    name: "t",
                    dims,
                    ggml_type: 0,
                    data: &[],
                    offset: None,
                }],
                32,
            );
            assert_eq!(parse(&f).unwrap().tensors[0].nbytes, Some(0), "{dims:?}");
        }
    }

    #[test]
    fn structural_anomalies_are_all_reported() {
        let w = f32_bytes(&[1.0; 4]);
        let f = write(
            &[
                ("general.alignment", WriteValue::U64(48)),
                ("a", WriteValue::U32(1)),
                ("a", WriteValue::U32(2)),
            ],
            &[
                WriteTensor {
                    name: "x",
                    dims: &[4],
                    ggml_type: 0,
                    data: &w,
                    offset: None,
                },
                WriteTensor {
                    name: "x",
                    dims: &[4],
                    ggml_type: 0,
                    data: &w,
                    offset: Some(0),
                },
                WriteTensor {
                    name: "q",
                    dims: &[33],
                    ggml_type: 2,
                    data: &[],
                    offset: None,
                },
                WriteTensor {
                    name: "u",
                    dims: &[1],
                    ggml_type: 31,
                    data: &[],
                    offset: None,
                },
                WriteTensor {
                    name: "far",
                    dims: &[4],
                    ggml_type: 0,
                    data: &[],
                    offset: Some(1 << 20),
                },
            ],
            32,
        );
        let g = parse(&f).unwrap();
        let msgs: Vec<String> = g.anomalies.iter().map(|a| a.message.clone()).collect();
        for needle in [
            "not a u32",
            "not a power of two",
            "duplicate metadata key",
            "duplicate tensor name",
            "overlaps tensor `x`",
            "not a multiple of the Q4_0 block size 32",
            "unknown ggml type 31",
            "reaches outside",
        ] {
            assert!(
                msgs.iter().any(|m| m.contains(needle)),
                "{needle}: {msgs:?}"
            );
        }
        assert_eq!(
            g.anomalies
                .iter()
                .filter(|a| a.kind == AnomalyKind::OutOfBounds)
                .count(),
            1
        );
    }

    #[test]
    fn version_1_and_big_endian() {
        // Version 1: 32-bit counts and lengths.
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes()); // tensors
        f.extend_from_slice(&1u32.to_le_bytes()); // metadata
        f.extend_from_slice(&3u32.to_le_bytes());
        f.extend_from_slice(b"k.x");
        f.extend_from_slice(&8u32.to_le_bytes());
        f.extend_from_slice(&2u32.to_le_bytes());
        f.extend_from_slice(b"hi");
        let g = parse(&f).unwrap();
        assert_eq!(g.version, 1);
        assert_eq!(g.metadata[0].value, Value::String("hi".into()));
        // Big-endian version 3.
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(&3u32.to_be_bytes());
        f.extend_from_slice(&0u64.to_be_bytes());
        f.extend_from_slice(&1u64.to_be_bytes());
        f.extend_from_slice(&1u64.to_be_bytes());
        f.extend_from_slice(b"k");
        f.extend_from_slice(&4u32.to_be_bytes());
        f.extend_from_slice(&7u32.to_be_bytes());
        let g = parse(&f).unwrap();
        assert!(g.big_endian);
        assert_eq!(g.metadata[0].value, Value::U32(7));
        // Unknown versions and value types are errors.
        let mut f = small();
        f[4..8].copy_from_slice(&9u32.to_le_bytes());
        assert!(parse(&f).unwrap_err().message.contains("version 9"));
    }

    #[test]
    fn nested_arrays_are_bounded() {
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(&3u32.to_le_bytes());
        f.extend_from_slice(&0u64.to_le_bytes());
        f.extend_from_slice(&1u64.to_le_bytes());
        f.extend_from_slice(&1u64.to_le_bytes());
        f.extend_from_slice(b"k");
        f.extend_from_slice(&9u32.to_le_bytes());
        for _ in 0..20 {
            f.extend_from_slice(&9u32.to_le_bytes());
            f.extend_from_slice(&1u64.to_le_bytes());
        }
        f.extend_from_slice(&[0; 64]);
        assert!(parse(&f).unwrap_err().message.contains("nested deeper"));
    }
}
