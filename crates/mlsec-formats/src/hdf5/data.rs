//! Dataset messages (dataspace, datatype, fill value, layout, filter pipeline) and decoding a
//! dataset's elements into little-endian, row-major bytes.

use std::borrow::Cow;
use std::collections::HashSet;

use super::walk::{File, Limits};
use super::{Hdf5Error, Msg, Reader, Result, err, pad8, uint};
use crate::dtype::DType;

/// Datasets of higher rank are rejected.
const MAX_RANK: usize = 32;

/// How a dataset's elements are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// In the object header (file offset and length of the raw bytes).
    Compact { offset: u64, len: u64 },
    /// One extent of the file; `None` when never written (the fill value).
    Contiguous { address: Option<u64>, size: u64 },
    /// Chunks of `chunk` elements per dimension, found through `index`.
    Chunked {
        chunk: Vec<u64>,
        index: ChunkIndex,
        /// Layout v4 flag: partial edge chunks are stored without filters.
        unfiltered_edges: bool,
    },
}

/// How the chunks of a chunked dataset are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkIndex {
    /// Version 1 B-tree (layout message version 3).
    BTreeV1 { address: Option<u64> },
    /// One chunk covering the whole dataset (layout version 4).
    Single {
        address: Option<u64>,
        /// Stored size and filter mask when the chunk is filtered.
        filtered: Option<(u64, u32)>,
    },
    /// Unfiltered chunks stored back to back (layout version 4).
    Implicit { address: Option<u64> },
    /// A fixed array of chunk addresses (layout version 4).
    FixedArray { address: Option<u64> },
    /// A version 2 B-tree of chunk records (layout version 4, several unlimited dimensions).
    BTreeV2 { address: Option<u64> },
    /// An extensible array of chunk addresses (layout version 4, one unlimited dimension).
    ExtensibleArray { address: Option<u64> },
}

/// One filter of a dataset's pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub id: u16,
    pub name: &'static str,
    pub optional: bool,
    pub params: Vec<u32>,
}

/// What one element of a dataset is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    /// A number of the dataset's [`DatasetInfo::dtype`].
    Number,
    /// A record (compound type, a PyTables table row, a numpy structured array element) of
    /// `size` bytes. [`read`] returns the records as stored; [`Field::bytes`] cuts one field.
    Compound { size: usize, fields: Vec<Field> },
    /// A variable-length string or sequence: each stored element is a reference into a global
    /// heap (`size` bytes), resolved by [`File::variable`]. `base` is the size of one item of
    /// the sequence (1 for strings).
    Variable {
        size: usize,
        strings: bool,
        base: usize,
    },
    /// Any other fixed-size element (fixed-length strings, opaque, bitfields, references,
    /// arrays of them): `size` bytes of the named class.
    Other { size: usize, class: &'static str },
}

/// One field of a compound element, nested records flattened (`pos.x`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name, with the names of the records it is nested in, joined by `.`.
    pub name: String,
    /// Byte offset within the record.
    pub offset: usize,
    pub kind: FieldKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// Numbers: one, or an array of `dims` (PyTables multidimensional columns).
    Number {
        dtype: DType,
        big_endian: bool,
        dims: Vec<u64>,
    },
    /// Not a number (strings, opaque, references, ...): the class name.
    Other(&'static str),
}

impl Field {
    /// The field's numbers from `records` (elements of `size` bytes, as [`read`] returns a
    /// compound dataset): little-endian, row-major. `None` when the field is not numeric.
    pub fn bytes(&self, records: &[u8], size: usize) -> Option<Vec<u8>> {
        let FieldKind::Number {
            dtype,
            big_endian,
            dims,
        } = &self.kind
        else {
            return None;
        };
        let es = dtype.size();
        let len = usize::try_from(dims.iter().product::<u64>())
            .ok()?
            .checked_mul(es)?;
        if size == 0 || self.offset.checked_add(len)? > size {
            return None;
        }
        let mut out = Vec::with_capacity(records.len() / size.max(1) * len);
        for r in records.chunks_exact(size.max(1)) {
            out.extend_from_slice(&r[self.offset..self.offset + len]);
        }
        if *big_endian && es > 1 {
            for e in out.chunks_exact_mut(es) {
                e.reverse();
            }
        }
        Some(out)
    }
}

/// A dataset as described by its object header.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    /// Absolute path, such as `/model_weights/dense/dense/kernel:0`.
    pub path: String,
    /// File offset of the object header.
    pub offset: u64,
    /// The element type for [`Element::Number`]; `U8` for other elements.
    pub dtype: DType,
    pub element: Element,
    /// Elements are stored big-endian ([`read`] returns them little-endian). Always false for
    /// elements other than numbers (compound fields carry their own byte order).
    pub big_endian: bool,
    /// Empty for a scalar.
    pub shape: Vec<u64>,
    /// Maximum shape (`u64::MAX` for an unlimited dimension); chunk indexes are laid out
    /// over it.
    pub max_shape: Vec<u64>,
    pub layout: Layout,
    pub filters: Vec<Filter>,
    /// The fill value's bytes as stored (file byte order), when one is defined.
    pub fill: Option<Vec<u8>>,
}

impl DatasetInfo {
    pub fn numel(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }

    /// Size of one stored element in bytes.
    pub fn element_size(&self) -> usize {
        match &self.element {
            Element::Number => self.dtype.size(),
            Element::Compound { size, .. }
            | Element::Variable { size, .. }
            | Element::Other { size, .. } => *size,
        }
    }

    /// Size of the decoded elements in bytes.
    pub fn nbytes(&self) -> Option<u64> {
        self.numel()?.checked_mul(self.element_size() as u64)
    }
}

/// A dataset with its elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset<'a> {
    pub info: DatasetInfo,
    /// Little-endian, contiguous, row-major elements.
    pub bytes: Cow<'a, [u8]>,
}

fn filter_name(id: u16) -> &'static str {
    match id {
        1 => "deflate",
        2 => "shuffle",
        3 => "fletcher32",
        4 => "szip",
        5 => "nbit",
        6 => "scaleoffset",
        307 => "bzip2",
        32000 => "lzf",
        32001 => "blosc",
        32004 => "lz4",
        32008 => "bitshuffle",
        32015 => "zstd",
        _ => "unknown",
    }
}

fn class_name(c: u8) -> &'static str {
    match c {
        0 => "fixed-point",
        1 => "floating-point",
        2 => "time",
        3 => "string",
        4 => "bitfield",
        5 => "opaque",
        6 => "compound",
        7 => "reference",
        8 => "enumerated",
        9 => "variable-length",
        10 => "array",
        _ => "unknown",
    }
}

/// The element type of a datatype message: (type, big-endian).
fn datatype(dt: &[u8]) -> Result<(DType, bool)> {
    let class = dt.first().map_or(255, |c| c & 0x0f);
    let version = dt.first().map_or(0, |c| c >> 4);
    let bits = uint(dt, 1, 3)?;
    let size = uint(dt, 4, 4)?;
    let be = bits & 1 != 0;
    match class {
        0 => {
            let signed = bits & 0x08 != 0;
            let (bit_off, prec) = (uint(dt, 8, 2)?, uint(dt, 10, 2)?);
            if bit_off != 0 || prec != size * 8 {
                return err(format!(
                    "unsupported integer with {prec} bits at bit offset {bit_off} in {size} bytes"
                ));
            }
            let d = match (size, signed) {
                (1, true) => DType::I8,
                (1, false) => DType::U8,
                (2, true) => DType::I16,
                (2, false) => DType::U16,
                (4, true) => DType::I32,
                (4, false) => DType::U32,
                (8, true) => DType::I64,
                (8, false) => DType::U64,
                _ => return err(format!("unsupported {size}-byte integer")),
            };
            Ok((d, be && size > 1))
        }
        4 => {
            // A bitfield: PyTables' bool is an 8-bit one; wider ones are read as unsigned.
            let d = match size {
                1 => DType::Bool,
                2 => DType::U16,
                4 => DType::U32,
                8 => DType::U64,
                _ => return err(format!("unsupported {size}-byte bitfield")),
            };
            Ok((d, be && size > 1))
        }
        1 => {
            if bits & 0x40 != 0 {
                return err("unsupported VAX-order floating-point datatype");
            }
            let exp_size = uint(dt, 13, 1)?;
            let man_size = uint(dt, 15, 1)?;
            let d = match (size, exp_size, man_size) {
                (2, 5, 10) => DType::F16,
                (2, 8, 7) => DType::BF16,
                (4, 8, 23) => DType::F32,
                (8, 11, 52) => DType::F64,
                _ => {
                    return err(format!(
                        "unsupported floating-point format ({size} bytes, {exp_size}-bit exponent, {man_size}-bit mantissa)"
                    ));
                }
            };
            Ok((d, be))
        }
        8 => {
            // An enumeration: its base integer type; h5py's bool is {FALSE: 0, TRUE: 1} over i8.
            let base = dt.get(8..).unwrap_or(&[]);
            if base.first().map(|c| c & 0x0f) != Some(0) {
                return err("unsupported enumeration over a non-integer base type");
            }
            let (d, bbe) = datatype(base)?;
            let n = (bits & 0xffff) as usize;
            let mut names = Vec::new();
            let mut p = 8 + 12;
            for _ in 0..n.min(3) {
                let rest = dt.get(p..).unwrap_or(&[]);
                let Some(len) = rest.iter().position(|&c| c == 0) else {
                    return err("enumeration member name runs past its message");
                };
                names.push(&rest[..len]);
                p += if version >= 3 { len + 1 } else { pad8(len + 1) };
            }
            if d.size() == 1 && names == [b"FALSE".as_slice(), b"TRUE"] {
                return Ok((DType::Bool, false));
            }
            Ok((d, bbe))
        }
        c => err(format!(
            "unsupported datatype class `{}` for a tensor",
            class_name(c)
        )),
    }
}

/// Records nested deeper than this are refused.
const MAX_NESTING: usize = 16;
/// Compound members (over all nesting levels) read at most.
const MAX_FIELDS: usize = 4096;

/// The element of a datatype message: a number (type, big-endian) or another element.
fn element(dt: &[u8], word: usize) -> Result<(DType, bool, Element)> {
    let class = dt.first().map_or(255, |c| c & 0x0f);
    let bits = uint(dt, 1, 3)?;
    let size = uint(dt, 4, 4)? as usize;
    match class {
        0 | 1 | 4 | 8 => {
            let (d, be) = datatype(dt)?;
            Ok((d, be, Element::Number))
        }
        6 => {
            let mut fields = Vec::new();
            compound(dt, "", 0, size, 0, &mut fields)?;
            Ok((DType::U8, false, Element::Compound { size, fields }))
        }
        9 => {
            let base = dt.get(8..).unwrap_or(&[]);
            let base_size = uint(base, 4, 4)? as usize;
            let strings = bits & 0x0f == 1;
            // Length, global heap collection address, object index.
            let stored = 4 + word + 4;
            if size != stored && size != 0 {
                // The stored size is that of the reference, whatever the file says; a size
                // that is neither is a malformed message.
                return err(format!(
                    "variable-length datatype of size {size} (expected {stored})"
                ));
            }
            Ok((
                DType::U8,
                false,
                Element::Variable {
                    size: stored,
                    strings,
                    base: if strings { 1 } else { base_size.max(1) },
                },
            ))
        }
        c if size == 0 => err(format!("datatype `{}` of size 0", class_name(c))),
        c => Ok((
            DType::U8,
            false,
            Element::Other {
                size,
                class: class_name(c),
            },
        )),
    }
}

/// The length in bytes of the datatype message at the start of `dt` (members of compounds,
/// bases of arrays, enumerations and sequences are nested datatype messages).
fn datatype_len(dt: &[u8], depth: usize) -> Result<usize> {
    if depth > MAX_NESTING {
        return err("datatype nested too deeply");
    }
    let class = dt.first().map_or(255, |c| c & 0x0f);
    let version = dt.first().map_or(0, |c| c >> 4);
    let bits = uint(dt, 1, 3)? as usize;
    let nested = |at: usize| -> Result<usize> {
        let rest = dt
            .get(at..)
            .ok_or_else(|| Hdf5Error("datatype runs past its message".into()))?;
        Ok(at + datatype_len(rest, depth + 1)?)
    };
    let len = match class {
        0 | 4 => 12,
        1 => 20,
        2 => 10,
        3 => 8,
        5 => 8 + (bits & 0xff),
        7 => 8,
        6 => {
            let mut p = 8;
            let size = uint(dt, 4, 4)?;
            for _ in 0..(bits & 0xffff) {
                let (_, next) = member(dt, p, version, size, depth)?;
                p = next;
            }
            p
        }
        8 => {
            let base_end = nested(8)?;
            let base_size = uint(dt, 8 + 4, 4)? as usize;
            let n = bits & 0xffff;
            let mut p = base_end;
            for _ in 0..n {
                let rest = dt.get(p..).unwrap_or(&[]);
                let Some(l) = rest.iter().position(|&c| c == 0) else {
                    return err("enumeration member name runs past its message");
                };
                p += if version >= 3 { l + 1 } else { pad8(l + 1) };
            }
            p + n * base_size
        }
        9 => nested(8)?,
        10 => {
            let rank = usize::from(*dt.get(8).unwrap_or(&0));
            let at = if version >= 3 {
                9 + 4 * rank
            } else {
                12 + 8 * rank
            };
            nested(at)?
        }
        c => return err(format!("unknown datatype class {c}")),
    };
    if len > dt.len() {
        return err("datatype runs past its message");
    }
    Ok(len)
}

/// One member of the compound datatype `dt` at `p`: ((name, offset, inline dims, member
/// datatype), end of the member).
type Member<'a> = (&'a [u8], usize, Vec<u64>, &'a [u8]);

fn member(
    dt: &[u8],
    p: usize,
    version: u8,
    size: u64,
    depth: usize,
) -> Result<(Member<'_>, usize)> {
    let rest = dt.get(p..).unwrap_or(&[]);
    let Some(l) = rest.iter().position(|&c| c == 0) else {
        return err("compound member name runs past its message");
    };
    let name = &rest[..l];
    let mut q = p + if version >= 3 { l + 1 } else { pad8(l + 1) };
    let (offset, dims) = match version {
        1 => {
            let off = uint(dt, q, 4)? as usize;
            let rank = usize::from(*dt.get(q + 4).unwrap_or(&0));
            if rank > 4 {
                return err(format!("compound member of rank {rank} (at most 4)"));
            }
            let dims = (0..rank)
                .map(|i| uint(dt, q + 16 + 4 * i, 4))
                .collect::<Result<Vec<u64>>>()?;
            q += 32;
            (off, dims)
        }
        2 => {
            q += 4;
            (uint(dt, q - 4, 4)? as usize, Vec::new())
        }
        // Version 5 (HDF5 2.0) encodes members like version 3.
        3..=5 => {
            let w = match size {
                0..=0xff => 1,
                0x100..=0xffff => 2,
                0x1_0000..=0xff_ffff => 3,
                _ => 4,
            };
            q += w;
            (uint(dt, q - w, w)? as usize, Vec::new())
        }
        v => return err(format!("unsupported compound datatype version {v}")),
    };
    let mdt = dt
        .get(q..)
        .ok_or_else(|| Hdf5Error("compound member runs past its message".into()))?;
    let len = datatype_len(mdt, depth + 1)?;
    Ok(((name, offset, dims, &mdt[..len]), q + len))
}

/// Flattens the members of the compound datatype `dt` (at byte `base` of a record of
/// `record` bytes) into `out`, nested records named `outer.inner`.
fn compound(
    dt: &[u8],
    prefix: &str,
    base: usize,
    record: usize,
    depth: usize,
    out: &mut Vec<Field>,
) -> Result<()> {
    if depth > MAX_NESTING {
        return err("compound datatype nested too deeply");
    }
    let version = dt.first().map_or(0, |c| c >> 4);
    let n = uint(dt, 1, 2)?;
    let size = uint(dt, 4, 4)?;
    let mut p = 8;
    for _ in 0..n {
        let ((name, offset, dims, mdt), next) = member(dt, p, version, size, depth)?;
        p = next;
        if out.len() >= MAX_FIELDS {
            return err(format!(
                "compound datatype with more than {MAX_FIELDS} fields"
            ));
        }
        let name = format!("{prefix}{}", String::from_utf8_lossy(name));
        let at = base
            .checked_add(offset)
            .ok_or_else(|| Hdf5Error("compound member offset overflows".into()))?;
        let msize = uint(mdt, 4, 4)? as usize;
        let class = mdt.first().map_or(255, |c| c & 0x0f);
        let n_dims = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let fits = |len: Option<u64>| {
            len.and_then(|l| (at as u64).checked_add(l))
                .is_some_and(|e| e <= record as u64 && e <= size.saturating_add(base as u64))
        };
        if !fits(n_dims.and_then(|n| n.checked_mul(msize as u64))) {
            return err(format!(
                "compound member `{name}` (offset {offset}, {msize} bytes) lies outside its record of {size} bytes"
            ));
        }
        let kind = match class {
            6 if dims.is_empty() => {
                compound(mdt, &format!("{name}."), at, record, depth + 1, out)?;
                continue;
            }
            0 | 1 | 4 | 8 => match datatype(mdt) {
                Ok((dtype, big_endian)) if dtype.size() == msize => FieldKind::Number {
                    dtype,
                    big_endian: big_endian && dtype.size() > 1,
                    dims,
                },
                _ => FieldKind::Other(class_name(class)),
            },
            10 => {
                // An array member: numbers of the base type in `dims`.
                let version = mdt.first().map_or(0, |c| c >> 4);
                let rank = usize::from(*mdt.get(8).unwrap_or(&0));
                let (dims_at, base_at) = if version >= 3 {
                    (9, 9 + 4 * rank)
                } else {
                    (12, 12 + 8 * rank)
                };
                let adims = (0..rank)
                    .map(|i| uint(mdt, dims_at + 4 * i, 4))
                    .collect::<Result<Vec<u64>>>()?;
                let bdt = mdt.get(base_at..).unwrap_or(&[]);
                let numeric = matches!(bdt.first().map(|c| c & 0x0f), Some(0 | 1 | 4 | 8));
                match datatype(bdt) {
                    Ok((dtype, big_endian))
                        if numeric
                            && adims
                                .iter()
                                .try_fold(dtype.size() as u64, |a, &d| a.checked_mul(d))
                                == Some(msize as u64) =>
                    {
                        FieldKind::Number {
                            dtype,
                            big_endian: big_endian && dtype.size() > 1,
                            dims: adims,
                        }
                    }
                    _ => FieldKind::Other("array"),
                }
            }
            c => FieldKind::Other(class_name(c)),
        };
        out.push(Field {
            name,
            offset: at,
            kind,
        });
    }
    Ok(())
}

/// Shape and maximum shape (`u64::MAX` for unlimited) of a dataspace message; `None` for the
/// null dataspace.
type Space = (Vec<u64>, Vec<u64>);

fn dataspace(r: &Reader, ds: &[u8]) -> Result<Option<Space>> {
    let version = *ds.first().unwrap_or(&0);
    let rank = usize::from(*ds.get(1).unwrap_or(&0));
    let flags = *ds.get(2).unwrap_or(&0);
    let dims_at = match version {
        1 => 8,
        2 => {
            if ds.get(3) == Some(&2) {
                return Ok(None);
            }
            4
        }
        v => return err(format!("unsupported dataspace version {v}")),
    };
    if rank > MAX_RANK {
        return err(format!("dataspace of rank {rank} (at most {MAX_RANK})"));
    }
    let shape = (0..rank)
        .map(|i| uint(ds, dims_at + i * r.sl, r.sl))
        .collect::<Result<Vec<u64>>>()?;
    let max = if flags & 1 != 0 {
        let unlimited = if r.sl >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * r.sl)) - 1
        };
        (0..rank)
            .map(|i| {
                uint(ds, dims_at + (rank + i) * r.sl, r.sl)
                    .map(|m| if m == unlimited { u64::MAX } else { m })
            })
            .collect::<Result<Vec<u64>>>()?
    } else {
        shape.clone()
    };
    if shape.iter().zip(&max).any(|(d, m)| d > m) {
        return err(format!(
            "dataspace dimensions {shape:?} exceed their maximum {max:?}"
        ));
    }
    Ok(Some((shape, max)))
}

fn filters(m: &[u8]) -> Result<Vec<Filter>> {
    let version = *m.first().unwrap_or(&0);
    let n = usize::from(*m.get(1).unwrap_or(&0));
    let mut p = match version {
        1 => 8,
        2 => 2,
        v => return err(format!("unsupported filter pipeline version {v}")),
    };
    let mut out = Vec::new();
    for _ in 0..n {
        let id = uint(m, p, 2)? as u16;
        let (name_len, q) = if version == 1 || id >= 256 {
            (uint(m, p + 2, 2)? as usize, p + 4)
        } else {
            (0, p + 2)
        };
        let flags = uint(m, q, 2)?;
        let nvals = uint(m, q + 2, 2)? as usize;
        let mut v = q
            + 4
            + if version == 1 {
                pad8(name_len)
            } else {
                name_len
            };
        let mut params = Vec::new();
        for _ in 0..nvals {
            params.push(uint(m, v, 4)? as u32);
            v += 4;
        }
        if version == 1 && nvals % 2 == 1 {
            v += 4;
        }
        out.push(Filter {
            id,
            name: filter_name(id),
            optional: flags & 1 != 0,
            params,
        });
        p = v;
    }
    if p > m.len() {
        return err("filter pipeline message runs past its end");
    }
    Ok(out)
}

/// Layout message versions 1 and 2 (HDF5 1.4-1.6, still in old PyTables and obspy files):
/// dimensionality, class, 5 reserved bytes, the address (not for compact data), then one
/// 4-byte size per dimension (the last is the element size, for contiguous data too), then
/// for compact data its 4-byte size and the bytes. A contiguous dataset's size is the product
/// of the sizes, as the library computes it.
fn layout_v1(r: &Reader, m: &[u8], offset: u64) -> Result<Layout> {
    let dims = usize::from(*m.get(1).unwrap_or(&0));
    let class = *m.get(2).unwrap_or(&255);
    let mut p = 8;
    let address = if class == 0 {
        None
    } else {
        let a = r.addr(m, p)?;
        p += r.so;
        a
    };
    let sizes = (0..dims)
        .map(|i| uint(m, p + 4 * i, 4))
        .collect::<Result<Vec<u64>>>()?;
    p += 4 * dims;
    match class {
        0 => {
            let len = uint(m, p, 4)?;
            let start = p + 4;
            if (m.len() as u64) < start as u64 + len {
                return err("compact dataset data runs past its layout message");
            }
            Ok(Layout::Compact {
                offset: offset + start as u64,
                len,
            })
        }
        1 => Ok(Layout::Contiguous {
            address,
            size: match sizes.iter().try_fold(1u64, |a, &d| a.checked_mul(d)) {
                Some(size) => size,
                None => return err("contiguous dataset size overflows"),
            },
        }),
        2 => Ok(Layout::Chunked {
            chunk: sizes,
            index: ChunkIndex::BTreeV1 { address },
            unfiltered_edges: false,
        }),
        c => err(format!("unknown data layout class {c}")),
    }
}

fn layout(r: &Reader, m: &[u8], offset: u64) -> Result<Layout> {
    let version = *m.first().unwrap_or(&0);
    if matches!(version, 1 | 2) {
        return layout_v1(r, m, offset);
    }
    // Version 5 (HDF5 2.0) is encoded like version 4.
    if !matches!(version, 3..=5) {
        return err(format!(
            "unsupported data layout message version {version} (1 to 5 are read)"
        ));
    }
    let class = *m.get(1).unwrap_or(&255);
    match class {
        0 => {
            let len = uint(m, 2, 2)?;
            if m.len() < 4 + len as usize {
                return err("compact dataset data runs past its layout message");
            }
            Ok(Layout::Compact {
                offset: offset + 4,
                len,
            })
        }
        1 => Ok(Layout::Contiguous {
            address: r.addr(m, 2)?,
            size: uint(m, 2 + r.so, r.sl)?,
        }),
        2 if version == 3 => {
            let dims = usize::from(*m.get(2).unwrap_or(&0));
            let address = r.addr(m, 3)?;
            let chunk = (0..dims)
                .map(|i| uint(m, 3 + r.so + 4 * i, 4))
                .collect::<Result<Vec<u64>>>()?;
            Ok(Layout::Chunked {
                chunk,
                index: ChunkIndex::BTreeV1 { address },
                unfiltered_edges: false,
            })
        }
        2 => {
            let flags = *m.get(2).unwrap_or(&0);
            let dims = usize::from(*m.get(3).unwrap_or(&0));
            let enc = usize::from(*m.get(4).unwrap_or(&0));
            if !(1..=8).contains(&enc) {
                return err(format!("invalid chunk dimension size {enc}"));
            }
            let chunk = (0..dims)
                .map(|i| uint(m, 5 + enc * i, enc))
                .collect::<Result<Vec<u64>>>()?;
            let mut p = 5 + enc * dims;
            let index_type = *m.get(p).unwrap_or(&0);
            p += 1;
            let index = match index_type {
                1 => {
                    let filtered = if flags & 0x02 != 0 {
                        let size = uint(m, p, r.sl)?;
                        let mask = uint(m, p + r.sl, 4)? as u32;
                        p += r.sl + 4;
                        Some((size, mask))
                    } else {
                        None
                    };
                    ChunkIndex::Single {
                        address: r.addr(m, p)?,
                        filtered,
                    }
                }
                2 => ChunkIndex::Implicit {
                    address: r.addr(m, p)?,
                },
                3 => ChunkIndex::FixedArray {
                    address: r.addr(m, p + 1)?,
                },
                4 => ChunkIndex::ExtensibleArray {
                    address: r.addr(m, p + 5)?,
                },
                5 => ChunkIndex::BTreeV2 {
                    address: r.addr(m, p + 6)?,
                },
                t => return err(format!("unknown chunk index type {t}")),
            };
            Ok(Layout::Chunked {
                chunk,
                index,
                unfiltered_edges: flags & 0x01 != 0,
            })
        }
        3 => err("unsupported virtual dataset layout"),
        c => err(format!("unknown data layout class {c}")),
    }
}

fn fill_value(m: Msg) -> Result<Option<Vec<u8>>> {
    let d = m.data;
    let value = |at: usize| -> Result<Option<Vec<u8>>> {
        let size = uint(d, at, 4)? as usize;
        if size == 0 {
            return Ok(None);
        }
        d.get(at + 4..at + 4 + size)
            .map(|v| Some(v.to_vec()))
            .ok_or_else(|| Hdf5Error("fill value runs past its message".into()))
    };
    match (m.mtype, d.first()) {
        (0x04, _) => value(0),
        (_, Some(1)) => value(4),
        (_, Some(2)) if d.get(3) == Some(&1) => value(4),
        (_, Some(2)) => Ok(None),
        (_, Some(3)) if d.get(1).is_some_and(|f| f & 0x20 != 0) => value(2),
        (_, Some(3)) => Ok(None),
        (_, v) => err(format!("unsupported fill value message version {v:?}")),
    }
}

/// Builds a [`DatasetInfo`] from the messages of an object that has a data layout message.
pub(crate) fn describe(r: &Reader, path: String, offset: u64, msgs: &[Msg]) -> Result<DatasetInfo> {
    let find = |t: u16| msgs.iter().find(|m| m.mtype == t);
    for t in [0x01, 0x03] {
        if find(t).is_some_and(|m| m.flags & 0x02 != 0) {
            return err(format!(
                "shared (committed) {} messages are not supported",
                if t == 1 { "dataspace" } else { "datatype" }
            ));
        }
    }
    let ds = find(0x01).ok_or_else(|| Hdf5Error("dataset without a dataspace message".into()))?;
    let dt = find(0x03).ok_or_else(|| Hdf5Error("dataset without a datatype message".into()))?;
    let lm = find(0x08).ok_or_else(|| Hdf5Error("dataset without a layout message".into()))?;
    let Some((shape, max_shape)) = dataspace(r, ds.data)? else {
        return err("dataset with a null dataspace (no elements)");
    };
    let (dtype, big_endian, element) = element(dt.data, r.so)?;
    let layout = layout(r, lm.data, lm.offset)?;
    let filters = match find(0x0b) {
        Some(m) => filters(m.data)?,
        None => Vec::new(),
    };
    for f in &filters {
        if !matches!(f.id, 1..=3) {
            return err(format!(
                "unsupported filter `{}` (id {}) in the pipeline",
                f.name, f.id
            ));
        }
    }
    let fill = match find(0x05).or_else(|| find(0x04)) {
        Some(m) => fill_value(*m)?,
        None => None,
    };
    let mut info = DatasetInfo {
        path,
        offset,
        dtype,
        element,
        big_endian,
        shape,
        max_shape,
        layout,
        filters,
        fill,
    };
    let es = info.element_size();
    if es == 0 {
        return err("datatype of size 0");
    }
    info.fill = info.fill.take().filter(|v| v.len() == es);
    if info.nbytes().is_none() {
        return err("dataspace size overflows");
    }
    if let Layout::Chunked { chunk, .. } = &info.layout {
        if chunk.len() != info.shape.len() + 1 {
            return err(format!(
                "chunk rank {} does not match dataspace rank {}",
                chunk.len().saturating_sub(1),
                info.shape.len()
            ));
        }
        if chunk[..info.shape.len()].contains(&0) {
            return err("chunk with a zero dimension");
        }
        if chunk[info.shape.len()] != es as u64 {
            return err(format!(
                "chunk element size {} differs from the datatype size {es}",
                chunk[info.shape.len()],
            ));
        }
    }
    Ok(info)
}

impl<'a> Reader<'a> {
    /// Refuses datasets whose unwritten part (read as the fill value) would take the fill
    /// handed out by this file past the limit.
    fn check_fill(&self, need: u64, stored: u64, limits: &Limits) -> Result<()> {
        let fill = need.saturating_sub(stored);
        let total = self.filled.get().saturating_add(fill);
        if total > limits.max_fill_bytes {
            return err(format!(
                "dataset declares {need} bytes but stored data covers only {stored}: {fill} bytes of fill value take the file past the limit of {} bytes",
                limits.max_fill_bytes
            ));
        }
        self.filled.set(total);
        Ok(())
    }

    fn filled(&self, info: &DatasetInfo, n: u64, limits: &Limits) -> Result<Vec<u8>> {
        if n > limits.max_dataset_bytes {
            return err(format!(
                "dataset of {n} bytes exceeds the limit of {} bytes",
                limits.max_dataset_bytes
            ));
        }
        let n = usize::try_from(n).map_err(|_| Hdf5Error("dataset too large".into()))?;
        Ok(match &info.fill {
            Some(f) if f.iter().any(|&b| b != 0) => f.iter().copied().cycle().take(n).collect(),
            _ => vec![0u8; n],
        })
    }

    /// Decodes a dataset's elements: little-endian, row-major.
    pub(crate) fn read(&self, info: &DatasetInfo, limits: &Limits) -> Result<Cow<'a, [u8]>> {
        let need = info
            .nbytes()
            .ok_or_else(|| Hdf5Error("dataspace size overflows".into()))?;
        let es = info.element_size();
        let mut bytes: Cow<'a, [u8]> = match &info.layout {
            Layout::Compact { offset, len } => {
                if *len < need {
                    return err(format!(
                        "compact data holds {len} bytes, the dataspace needs {need}"
                    ));
                }
                let b = self.at(*offset, need, "compact dataset data")?;
                self.spend(need, "compact dataset data")?;
                Cow::Borrowed(b)
            }
            Layout::Contiguous { address: None, .. } => {
                self.check_fill(need, 0, limits)?;
                Cow::Owned(self.filled(info, need, limits)?)
            }
            Layout::Contiguous {
                address: Some(a),
                size,
            } => {
                if *size < need {
                    return err(format!(
                        "contiguous storage holds {size} bytes, the dataspace needs {need}"
                    ));
                }
                let b = self.at(*a, need, "contiguous dataset data")?;
                self.spend(need, "contiguous dataset data")?;
                Cow::Borrowed(b)
            }
            Layout::Chunked {
                chunk,
                index,
                unfiltered_edges,
            } => Cow::Owned(self.read_chunked(
                info,
                chunk,
                index,
                *unfiltered_edges,
                need,
                limits,
            )?),
        };
        if info.big_endian && es > 1 {
            for e in bytes.to_mut().chunks_exact_mut(es) {
                e.reverse();
            }
        }
        Ok(bytes)
    }

    fn read_chunked(
        &self,
        info: &DatasetInfo,
        chunk: &[u64],
        index: &ChunkIndex,
        unfiltered_edges: bool,
        need: u64,
        limits: &Limits,
    ) -> Result<Vec<u8>> {
        let rank = info.shape.len();
        let es = info.element_size();
        let chunk_bytes = chunk
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= limits.max_chunk_bytes)
            .ok_or_else(|| {
                Hdf5Error(format!(
                    "chunk of {chunk:?} exceeds the limit of {} bytes",
                    limits.max_chunk_bytes
                ))
            })?;
        let chunks = self.chunks(info, chunk, index)?;
        // Each chunk is stored once: repeats would multiply the decoding work.
        let mut seen = HashSet::new();
        for c in &chunks {
            if !seen.insert(c.offsets.as_slice()) {
                return err(format!(
                    "chunk at element offsets {:?} is stored more than once",
                    c.offsets
                ));
            }
        }
        self.check_fill(
            need,
            (chunks.len() as u64).saturating_mul(chunk_bytes),
            limits,
        )?;
        let mut out = self.filled(info, need, limits)?;
        for c in chunks {
            let edge = (0..rank).any(|d| c.offsets[d].saturating_add(chunk[d]) > info.shape[d]);
            if (0..rank).any(|d| c.offsets[d] % chunk[d] != 0 || c.offsets[d] >= info.shape[d]) {
                return err(format!(
                    "chunk at offset {} has element offsets {:?} outside the dataspace {:?}",
                    c.address, c.offsets, info.shape
                ));
            }
            let raw = self.at(c.address, c.size, "chunk")?;
            self.spend(c.size, "chunk")?;
            let mut data: Cow<[u8]> = Cow::Borrowed(raw);
            if !(unfiltered_edges && edge) {
                for (i, f) in info.filters.iter().enumerate().rev() {
                    if i < 32 && c.mask & (1 << i) != 0 {
                        continue;
                    }
                    data = Cow::Owned(unfilter(f, &data, chunk_bytes, es, c.address)?);
                }
            }
            if data.len() as u64 != chunk_bytes {
                return err(format!(
                    "chunk at offset {} decodes to {} bytes, expected {chunk_bytes}",
                    c.address,
                    data.len()
                ));
            }
            copy_chunk(&mut out, &data, &info.shape, chunk, &c.offsets, es);
        }
        Ok(out)
    }
}

fn unfilter(f: &Filter, data: &[u8], chunk_bytes: u64, es: usize, at: u64) -> Result<Vec<u8>> {
    match f.id {
        1 => {
            // Never inflate past the chunk's declared size (plus a fletcher32 checksum).
            let limit = usize::try_from(chunk_bytes + 4).unwrap_or(usize::MAX);
            miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, limit).map_err(|e| {
                Hdf5Error(format!(
                    "deflate chunk at offset {at} does not inflate within {chunk_bytes} bytes: {:?}",
                    e.status
                ))
            })
        }
        2 => {
            let size = f.params.first().map_or(es, |&s| s as usize);
            if size <= 1 {
                return Ok(data.to_vec());
            }
            let n = data.len() / size;
            let mut out = vec![0u8; data.len()];
            for b in 0..size {
                for i in 0..n {
                    out[i * size + b] = data[b * n + i];
                }
            }
            out[n * size..].copy_from_slice(&data[n * size..]);
            Ok(out)
        }
        3 => match data.len().checked_sub(4) {
            Some(n) => Ok(data[..n].to_vec()),
            None => err(format!(
                "fletcher32 chunk at offset {at} is shorter than its checksum"
            )),
        },
        id => err(format!("unsupported filter `{}` (id {id})", f.name)),
    }
}

/// Copies the part of a chunk inside the dataspace into the row-major output.
fn copy_chunk(out: &mut [u8], data: &[u8], shape: &[u64], chunk: &[u64], off: &[u64], es: usize) {
    let rank = shape.len();
    if rank == 0 {
        let n = es.min(out.len()).min(data.len());
        out[..n].copy_from_slice(&data[..n]);
        return;
    }
    let ext: Vec<u64> = (0..rank).map(|d| chunk[d].min(shape[d] - off[d])).collect();
    let row = (ext[rank - 1] as usize) * es;
    let mut idx = vec![0u64; rank - 1];
    loop {
        let (mut src, mut dst) = (0u64, 0u64);
        for d in 0..rank {
            let i = if d < rank - 1 { idx[d] } else { 0 };
            src = src * chunk[d] + i;
            dst = dst * shape[d] + off[d] + i;
        }
        let (s, t) = (src as usize * es, dst as usize * es);
        out[t..t + row].copy_from_slice(&data[s..s + row]);
        // Next index over the leading dimensions.
        let mut d = rank - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < ext[d] {
                break;
            }
            idx[d] = 0;
            if d == 0 {
                return;
            }
        }
    }
}

/// Decodes one dataset listed by [`super::walk`].
pub fn read<'a>(data: &'a [u8], info: &DatasetInfo, limits: &Limits) -> Result<Cow<'a, [u8]>> {
    File::open(data)?.read(info, limits)
}
