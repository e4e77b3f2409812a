//! HDF5 without the C library: the attributes of every object (where Keras `.h5` models keep
//! `model_config` and PyTables keeps pickled values), the group hierarchy and every
//! dataset's elements.
//!
//! - Superblocks 0–3 (with a user block), v1 and v2 object headers with continuations.
//! - Groups: symbol tables (v1 B-tree + local heap), link messages, dense link storage
//!   (fractal heap + v2 B-tree name index); soft and external links are listed, not followed.
//! - Attributes of any object ([`File::attributes`]): compact messages and dense storage;
//!   strings fixed or variable-length (text and raw bytes), opaque values and variable-length
//!   byte sequences (raw bytes), other types by class name.
//! - Datasets ([`walk`], [`File::read`]): IEEE f16/bf16/f32/f64 and integers in either byte
//!   order, h5py's bool enum; compound records (PyTables tables, numpy structured arrays) with
//!   their numeric fields ([`Field::bytes`]); variable-length strings and sequences (global
//!   heap, [`File::variable`]); other fixed-size elements (fixed strings, opaque) as bytes;
//!   compact, contiguous (or never written: the fill value) and chunked layouts with every
//!   chunk index (v1 B-tree, single chunk, implicit, fixed array, extensible array, v2
//!   B-tree, paged or not); deflate, shuffle and fletcher32 filters.
//!
//! Anything else (other filters, virtual layouts, shared messages) is an error naming it,
//! never a silent skip.
//!
//! Hostile input: every read is bounds-checked against the file; continuation chains,
//! B-trees and heaps are cycle-checked and depth-capped; the walk is capped in objects and
//! depth and rejects links back to an ancestor; decompression is capped by the declared
//! chunk size; and a per-file budget charges every structure and extent read, so overlapping
//! or shared structures cannot multiply the work. Checksums are not verified.

use std::collections::{HashMap, HashSet};

mod data;
mod dense;
mod index;
mod walk;

pub use data::{ChunkIndex, Dataset, DatasetInfo, Element, Field, FieldKind, Filter, Layout, read};
pub use walk::{File, Limits, ObjectError, Unfollowed, Walk, datasets, walk};

pub const MAGIC: &[u8] = b"\x89HDF\r\n\x1a\n";

/// At most this many object header blocks (chunk 0 plus continuations) are followed.
const MAX_BLOCKS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HDF5: {0}")]
pub struct Hdf5Error(pub String);

type Result<T> = std::result::Result<T, Hdf5Error>;

fn err<T>(m: impl Into<String>) -> Result<T> {
    Err(Hdf5Error(m.into()))
}

/// The value of one attribute, as far as this reader decodes it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A string attribute (fixed or variable length); one item per element, up to its first
    /// NUL, lossy UTF-8 ([`Attribute::raw`] has the bytes).
    Strings(Vec<String>),
    /// Any other datatype (numbers, compounds, opaque, ...): its class name.
    Other(&'static str),
    /// An attribute whose value could not be read (a string, opaque or variable-length
    /// value out of bounds, a shared datatype), and why.
    Unreadable(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub value: AttrValue,
    /// File offset of the attribute message.
    pub offset: u64,
    /// The bytes of each element of a string (fixed-length: trailing NULs stripped, as PyTables
    /// reads them; variable-length), opaque or variable-length byte-sequence attribute, as
    /// stored: what a loader that unpickles attributes would hand to `pickle.loads`. Empty
    /// for other types.
    pub raw: Vec<Vec<u8>>,
    /// The dataspace is scalar (PyTables unpickles only scalar string attributes).
    pub scalar: bool,
    /// A string in the UTF-8 character set (PyTables reads those as `str`, never unpickled).
    pub utf8: bool,
}

/// Global heap collections read so far: address -> (object index -> bytes).
pub(crate) type Heaps<'a> = HashMap<u64, HashMap<u64, &'a [u8]>>;

#[derive(Debug, Clone, PartialEq)]
pub struct RootGroup {
    pub superblock_version: u8,
    /// File offset of the root group's object header.
    pub header_offset: u64,
    pub attributes: Vec<Attribute>,
}

pub(crate) struct Reader<'a> {
    pub(crate) d: &'a [u8],
    pub(crate) so: usize,
    pub(crate) sl: usize,
    pub(crate) base: u64,
    /// Bytes of structures and data this reader may still read (see [`Reader::spend`]).
    budget: std::cell::Cell<u64>,
    /// Bytes of fill value (unwritten elements) handed out so far.
    pub(crate) filled: std::cell::Cell<u64>,
}

/// A file's own structures and data are distinct bytes, so reading all of them (even a few
/// times over) costs at most a small multiple of its size; overlapping or shared structures
/// crafted to multiply the work exhaust this budget instead.
const BUDGET_FACTOR: u64 = 8;
const BUDGET_SLACK: u64 = 1 << 20;

/// One object header message.
#[derive(Clone, Copy)]
pub(crate) struct Msg<'a> {
    pub(crate) mtype: u16,
    pub(crate) flags: u8,
    pub(crate) data: &'a [u8],
    /// File offset of the message data.
    pub(crate) offset: u64,
}

pub(crate) fn uint(b: &[u8], at: usize, n: usize) -> Result<u64> {
    let s = b
        .get(at..at.saturating_add(n))
        .ok_or_else(|| Hdf5Error("structure runs past its end".into()))?;
    Ok(s.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

pub(crate) fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

impl<'a> Reader<'a> {
    pub(crate) fn new(d: &'a [u8], so: usize, sl: usize, base: u64) -> Reader<'a> {
        Reader {
            d,
            so,
            sl,
            base,
            budget: std::cell::Cell::new(
                (d.len() as u64)
                    .saturating_mul(BUDGET_FACTOR)
                    .saturating_add(BUDGET_SLACK),
            ),
            filled: std::cell::Cell::new(0),
        }
    }

    /// Charges `n` bytes read from the file (object header blocks, B-tree entries, heap
    /// objects, chunk indexes, chunks, dataset extents) against the budget.
    pub(crate) fn spend(&self, n: u64, what: &str) -> Result<()> {
        let left = self.budget.get();
        if n > left {
            return err(format!(
                "{what}: the structures read add up to more than {BUDGET_FACTOR} times the file's size (overlapping or repeated structures)"
            ));
        }
        self.budget.set(left - n);
        Ok(())
    }

    /// `len` bytes at absolute file offset `pos`.
    pub(crate) fn at(&self, pos: u64, len: u64, what: &str) -> Result<&'a [u8]> {
        let end = pos.checked_add(len);
        match end {
            Some(e) if e <= self.d.len() as u64 => Ok(&self.d[pos as usize..e as usize]),
            _ => err(format!(
                "{what} at offset {pos} ({len} bytes) lies outside the file ({} bytes)",
                self.d.len()
            )),
        }
    }

    /// An address field: `None` when undefined (all bits set); relative to the base address.
    pub(crate) fn addr(&self, b: &[u8], at: usize) -> Result<Option<u64>> {
        let v = uint(b, at, self.so)?;
        let undefined = if self.so >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * self.so)) - 1
        };
        if v == undefined {
            return Ok(None);
        }
        // Every address points into the file: beyond it nothing can be read, and bounded
        // addresses keep the small offsets added to them from overflowing.
        match v.checked_add(self.base) {
            Some(a) if a <= self.d.len() as u64 => Ok(Some(a)),
            _ => err(format!(
                "address {v} (base {}) lies outside the file ({} bytes)",
                self.base,
                self.d.len()
            )),
        }
    }

    /// Every message of the object header at `addr`: (type, data, file offset of the data).
    pub(crate) fn messages(&self, addr: u64) -> Result<Vec<Msg<'a>>> {
        let mut out = Vec::new();
        let mut seen: HashSet<u64> = HashSet::new();
        let sig = self.at(addr, 4, "object header")?;
        let v2 = sig == b"OHDR";
        let mut blocks: Vec<(u64, u64)> = Vec::new();
        let mut creation_order = false;
        if v2 {
            let h = self.at(addr, 6, "object header")?;
            if h[4] != 2 {
                return err(format!("unsupported object header version {}", h[4]));
            }
            let flags = h[5];
            creation_order = flags & 0x04 != 0;
            let mut pos = 6u64;
            if flags & 0x20 != 0 {
                pos += 16;
            }
            if flags & 0x10 != 0 {
                pos += 4;
            }
            let w = 1usize << (flags & 3);
            let size = uint(self.at(addr + pos, w as u64, "object header")?, 0, w)?;
            blocks.push((addr + pos + w as u64, size));
        } else {
            let h = self.at(addr, 16, "object header")?;
            if h[0] != 1 {
                return err(format!("unsupported object header version {}", h[0]));
            }
            let size = uint(h, 8, 4)?;
            blocks.push((addr + 16, size));
        }
        let mut i = 0;
        while let Some(&(start, len)) = blocks.get(i) {
            i += 1;
            if i > MAX_BLOCKS {
                return err("object header has too many continuation blocks");
            }
            if !seen.insert(start) {
                return err(format!(
                    "object header continuation loops back to offset {start}"
                ));
            }
            let block = self.at(start, len, "object header block")?;
            self.spend(len, "object header")?;
            let (mut pos, end, hdr) = if v2 {
                if i > 1 {
                    if block.get(..4) != Some(b"OCHK") {
                        return err(format!(
                            "continuation block at offset {start} lacks its OCHK signature"
                        ));
                    }
                    (
                        4usize,
                        block.len().saturating_sub(4),
                        4 + usize::from(creation_order) * 2,
                    )
                } else {
                    (0usize, block.len(), 4 + usize::from(creation_order) * 2)
                }
            } else {
                (0usize, block.len(), 8)
            };
            while pos + hdr <= end {
                let (mtype, size, mflags) = if v2 {
                    (
                        u16::from(block[pos]),
                        uint(block, pos + 1, 2)? as usize,
                        block[pos + 3],
                    )
                } else {
                    (
                        uint(block, pos, 2)? as u16,
                        uint(block, pos + 2, 2)? as usize,
                        block[pos + 4],
                    )
                };
                let data_start = pos + hdr;
                let Some(data) = block
                    .get(data_start..data_start + size)
                    .filter(|_| data_start + size <= end)
                else {
                    return err(format!(
                        "object header message at offset {} runs past its block",
                        start + pos as u64
                    ));
                };
                let data_off = start + data_start as u64;
                if mtype == 0x10 {
                    let Some(off) = self.addr(data, 0)? else {
                        return err("continuation message with an undefined address");
                    };
                    let clen = uint(data, self.so, self.sl)?;
                    blocks.push((off, clen));
                } else if mtype != 0 {
                    out.push(Msg {
                        mtype,
                        flags: mflags,
                        data,
                        offset: data_off,
                    });
                }
                pos = data_start + if v2 { size } else { pad8(size) };
            }
        }
        Ok(out)
    }

    pub(crate) fn attribute(
        &self,
        m: &'a [u8],
        offset: u64,
        heaps: &mut Heaps<'a>,
    ) -> Result<Attribute> {
        let version = *m.first().unwrap_or(&0);
        let flags = *m.get(1).unwrap_or(&0);
        let name_size = uint(m, 2, 2)? as usize;
        let dt_size = uint(m, 4, 2)? as usize;
        let ds_size = uint(m, 6, 2)? as usize;
        let (start, padded) = match version {
            1 => (8, true),
            2 => (8, false),
            3 => (9, false),
            v => return err(format!("unsupported attribute message version {v}")),
        };
        let p = |n: usize| if padded { pad8(n) } else { n };
        let name_end = start + name_size;
        let name = m
            .get(start..name_end)
            .ok_or_else(|| Hdf5Error("attribute name runs past its message".into()))?;
        let name =
            String::from_utf8_lossy(name.split(|&c| c == 0).next().unwrap_or(&[])).into_owned();
        let dt_start = start + p(name_size);
        let dt = m.get(dt_start..dt_start + dt_size).ok_or_else(|| {
            Hdf5Error(format!(
                "attribute `{name}`: datatype runs past its message"
            ))
        })?;
        let ds_start = dt_start + p(dt_size);
        let ds = m.get(ds_start..ds_start + ds_size).ok_or_else(|| {
            Hdf5Error(format!(
                "attribute `{name}`: dataspace runs past its message"
            ))
        })?;
        let data = m.get(ds_start + p(ds_size)..).unwrap_or(&[]);
        let (value, raw) = if flags & 0x03 != 0 {
            (
                AttrValue::Unreadable(
                    "shared datatype or dataspace messages are not supported".into(),
                ),
                Vec::new(),
            )
        } else {
            match self.value(dt, ds, data, heaps) {
                Ok(v) => v,
                Err(e) => (AttrValue::Unreadable(e.0), Vec::new()),
            }
        };
        let scalar = matches!(
            (ds.first(), ds.get(1), ds.get(3)),
            (Some(1), Some(0), _) | (Some(2), _, Some(0))
        );
        let utf8 = matches!(dt.first().map(|c| c & 0x0f), Some(3))
            && uint(dt, 1, 1).is_ok_and(|b| (b >> 4) & 0x0f == 1)
            || matches!(dt.first().map(|c| c & 0x0f), Some(9))
                && uint(dt, 1, 2).is_ok_and(|b| (b >> 8) & 0x0f == 1);
        Ok(Attribute {
            name,
            value,
            offset,
            raw,
            scalar,
            utf8,
        })
    }

    pub(crate) fn elements(&self, ds: &[u8]) -> Result<u64> {
        let version = *ds.first().unwrap_or(&0);
        let rank = usize::from(*ds.get(1).unwrap_or(&0));
        let dims_at = match version {
            1 => 8,
            2 => {
                if ds.get(3) == Some(&2) {
                    return Ok(0);
                }
                4
            }
            v => return err(format!("unsupported dataspace version {v}")),
        };
        let mut n = 1u64;
        for i in 0..rank {
            let d = uint(ds, dims_at + i * self.sl, self.sl)?;
            n = n
                .checked_mul(d)
                .ok_or_else(|| Hdf5Error("dataspace size overflows".into()))?;
        }
        Ok(n)
    }

    /// An attribute's value and the raw bytes of its elements (see [`Attribute::raw`]).
    fn value(
        &self,
        dt: &[u8],
        ds: &[u8],
        data: &'a [u8],
        heaps: &mut Heaps<'a>,
    ) -> Result<(AttrValue, Vec<Vec<u8>>)> {
        let class = dt.first().map_or(255, |c| c & 0x0f);
        let bits = uint(dt, 1, 3)?;
        let size = uint(dt, 4, 4)? as usize;
        let n = self.elements(ds)?;
        let text = |b: &[u8]| {
            let b = b.split(|&c| c == 0).next().unwrap_or(&[]);
            String::from_utf8_lossy(b).trim_end_matches(' ').to_owned()
        };
        // Fixed-size elements: the data holds n of them.
        let fixed = |size: usize| -> Result<&'a [u8]> {
            if size == 0 {
                return err("datatype of size 0");
            }
            let total = n
                .checked_mul(size as u64)
                .filter(|&t| t <= data.len() as u64)
                .ok_or_else(|| Hdf5Error("attribute data runs past its message".into()))?;
            Ok(&data[..total as usize])
        };
        match class {
            3 => {
                let d = fixed(size)?;
                let strings = d.chunks(size).map(text).collect();
                // Trailing NULs stripped, as PyTables reads a fixed-length string.
                let raw = d
                    .chunks(size)
                    .map(|c| {
                        let end = c.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
                        c[..end].to_vec()
                    })
                    .collect();
                Ok((AttrValue::Strings(strings), raw))
            }
            9 => {
                let strings = bits & 0x0f == 1;
                let base = if strings {
                    1
                } else {
                    uint(dt, 8 + 4, 4)? as usize
                };
                let esize = 4 + self.so + 4;
                let d = fixed(esize)?;
                let mut raw = Vec::new();
                for e in d.chunks(esize) {
                    raw.push(self.heap_ref(e, base, heaps)?);
                }
                if strings {
                    let s = raw.iter().map(|b| text(b)).collect();
                    Ok((
                        AttrValue::Strings(s),
                        raw.iter().map(|b| b.to_vec()).collect(),
                    ))
                } else {
                    // Sequences of bytes may hold anything a string can; others are numbers.
                    let raw = if base == 1 {
                        raw.iter().map(|b| b.to_vec()).collect()
                    } else {
                        Vec::new()
                    };
                    Ok((AttrValue::Other("variable-length sequence"), raw))
                }
            }
            5 => {
                let d = fixed(size)?;
                Ok((
                    AttrValue::Other("opaque"),
                    d.chunks(size).map(<[u8]>::to_vec).collect(),
                ))
            }
            c => Ok((
                AttrValue::Other(match c {
                    0 => "fixed-point",
                    1 => "floating-point",
                    2 => "time",
                    4 => "bitfield",
                    6 => "compound",
                    7 => "reference",
                    8 => "enumerated",
                    10 => "array",
                    _ => "unknown",
                }),
                Vec::new(),
            )),
        }
    }

    /// The bytes a variable-length element (length, global heap collection address, object
    /// index) refers to: `length * base` bytes of a global heap object. Collections are read
    /// once into `heaps`; every element's bytes are charged against the budget, so elements
    /// sharing one heap object cannot multiply the work.
    pub(crate) fn heap_ref(
        &self,
        e: &[u8],
        base: usize,
        heaps: &mut Heaps<'a>,
    ) -> Result<&'a [u8]> {
        let len = uint(e, 0, 4)?;
        let Some(coll) = self.addr(e, 4)? else {
            return Ok(&[]);
        };
        if len == 0 {
            return Ok(&[]);
        }
        let index = uint(e, 4 + self.so, 4)?;
        if let std::collections::hash_map::Entry::Vacant(v) = heaps.entry(coll) {
            v.insert(self.global_heap(coll)?);
        }
        let obj = heaps[&coll].get(&index).copied().ok_or_else(|| {
            Hdf5Error(format!(
                "global heap object {index} not found in the collection at offset {coll}"
            ))
        })?;
        let n = len.saturating_mul(base as u64);
        let bytes = usize::try_from(n)
            .ok()
            .and_then(|n| obj.get(..n))
            .ok_or_else(|| {
                Hdf5Error(format!(
                    "variable-length element of {n} bytes is longer than its global heap object ({} bytes)",
                    obj.len()
                ))
            })?;
        self.spend(n.max(1), "variable-length data")?;
        Ok(bytes)
    }

    /// The objects of the global heap collection at `addr`, by index.
    fn global_heap(&self, addr: u64) -> Result<HashMap<u64, &'a [u8]>> {
        let head = self.at(addr, 8 + self.sl as u64, "global heap collection")?;
        if &head[..4] != b"GCOL" {
            return err(format!("no global heap collection (GCOL) at offset {addr}"));
        }
        let size = uint(head, 8, self.sl)?;
        let coll = self.at(addr, size, "global heap collection")?;
        // At least a header's worth, so that many tiny collections are not free.
        self.spend(size.max(16), "global heap collection")?;
        let mut pos = 8 + self.sl;
        let hdr = 8 + self.sl;
        let mut out = HashMap::new();
        while pos + hdr <= coll.len() {
            let index = uint(coll, pos, 2)? as u16;
            if index == 0 {
                break;
            }
            let osize = uint(coll, pos + 8, self.sl)?;
            let start = pos + hdr;
            let Some(end) = usize::try_from(osize)
                .ok()
                .and_then(|s| start.checked_add(s))
                .filter(|&e| e <= coll.len())
            else {
                return err(format!(
                    "global heap object {index} runs past its collection at offset {addr}"
                ));
            };
            out.entry(u64::from(index)).or_insert(&coll[start..end]);
            pos = start + pad8(end - start);
        }
        Ok(out)
    }
}

/// Finds the superblock (at 0, or after a user block at 512, 1024, 2048, ...) and returns
/// its offset.
pub fn superblock(data: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    while at + MAGIC.len() <= data.len() {
        if &data[at..at + MAGIC.len()] == MAGIC {
            return Some(at);
        }
        at = if at == 0 { 512 } else { at.checked_mul(2)? };
    }
    None
}

/// The end-of-file address the superblock declares, made absolute (base address added):
/// libhdf5 refuses a file shorter than this as truncated. `None` when the superblock cannot
/// be read or the address is undefined.
pub fn end_of_file(data: &[u8]) -> Option<u64> {
    let sb = superblock(data)?;
    let h = &data[sb..];
    let (so, fields) = match *h.get(8)? {
        0 => (usize::from(*h.get(13)?), 24),
        1 => (usize::from(*h.get(13)?), 28),
        2 | 3 => (usize::from(*h.get(9)?), 12),
        _ => return None,
    };
    if !matches!(so, 2 | 4 | 8) {
        return None;
    }
    let base = uint(h, fields, so).ok()?;
    let eof = uint(h, fields + 2 * so, so).ok()?;
    let undefined = if so >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * so)) - 1
    };
    if eof == undefined {
        return None;
    }
    base.checked_add(eof)
}

/// Parses the superblock: the reader, the superblock version and the root group's object
/// header address.
pub(crate) fn open(data: &[u8]) -> Result<(Reader<'_>, u8, u64)> {
    let Some(sb) = superblock(data) else {
        return err("no HDF5 superblock signature");
    };
    let h = &data[sb..];
    let version = *h
        .get(8)
        .ok_or_else(|| Hdf5Error("truncated superblock".into()))?;
    let (so, sl, fields) = match version {
        0 | 1 => (
            uint(h, 13, 1)? as usize,
            uint(h, 14, 1)? as usize,
            if version == 0 { 24 } else { 28 },
        ),
        2 | 3 => (uint(h, 9, 1)? as usize, uint(h, 10, 1)? as usize, 12),
        v => return err(format!("unsupported superblock version {v}")),
    };
    if !matches!(so, 2 | 4 | 8) || !matches!(sl, 2 | 4 | 8) {
        return err(format!(
            "unsupported sizes of offsets ({so}) or lengths ({sl})"
        ));
    }
    let base = uint(h, fields, so)?;
    // The base address is absolute; other addresses are relative to it.
    let r = Reader::new(data, so, sl, base);
    let root = match version {
        0 | 1 => {
            // base, free-space, end-of-file, driver addresses, then the root symbol table
            // entry: link name offset, object header address.
            r.addr(h, fields + 5 * so)?
        }
        _ => r.addr(h, fields + 3 * so)?,
    };
    let Some(root) = root else {
        return err("the root group's object header address is undefined");
    };
    Ok((r, version, root))
}

impl<'a> Reader<'a> {
    /// Every attribute of the object whose header is at `header`: compact attribute messages
    /// and dense storage (fractal heap + v2 B-tree name index).
    pub(crate) fn attributes_of(&self, header: u64) -> Result<Vec<Attribute>> {
        let mut heaps = HashMap::new();
        let mut attributes = Vec::new();
        for m in self.messages(header)? {
            match m.mtype {
                0x0c => attributes.push(self.attribute(m.data, m.offset, &mut heaps)?),
                0x15 => {
                    let flags = *m.data.get(1).unwrap_or(&0);
                    let at = 2 + if flags & 1 != 0 { 2 } else { 0 };
                    let heap = self.addr(m.data, at)?;
                    let index = self.addr(m.data, at + self.so)?;
                    if let Some(heap) = heap {
                        let Some(index) = index else {
                            return err(format!(
                                "attribute info message at offset {} has a fractal heap but no name index",
                                m.offset
                            ));
                        };
                        for (obj, off) in dense::heap_objects(self, heap, index, 8)? {
                            attributes.push(self.attribute(obj, off, &mut heaps)?);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(attributes)
    }
}

/// Reads the root group's attributes (compact or dense storage).
pub fn root_group(data: &[u8]) -> Result<RootGroup> {
    let (r, version, root) = open(data)?;
    let attributes = r.attributes_of(root)?;
    Ok(RootGroup {
        superblock_version: version,
        header_offset: root,
        attributes,
    })
}

/// Every attribute of the object whose header is at `header_offset` (for example a
/// [`DatasetInfo::offset`] or [`RootGroup::header_offset`]).
pub fn attributes_at(data: &[u8], header_offset: u64) -> Result<Vec<Attribute>> {
    let (r, _, _) = open(data)?;
    r.attributes_of(header_offset)
}

/// Writes a minimal HDF5 file (superblock v0 or v2, a root group holding string attributes
/// and no links) for fixtures and tests. Variable-length strings go to one global heap.
pub fn write_minimal(superblock_v2: bool, attrs: &[(&str, &str, bool)]) -> Vec<u8> {
    write_file(superblock_v2, attrs, &[])
}

/// A dataset for [`write_file`]: link name in the root group, element type, shape and
/// little-endian, row-major elements.
pub type WriteDataset<'a> = (&'a str, crate::dtype::DType, &'a [u64], &'a [u8]);

/// Writes a small HDF5 file for fixtures and tests: superblock v0 (v1 object headers) or v2
/// (v2 object headers), a root group holding string attributes and hard links to contiguous
/// datasets of IEEE floats or integers (little-endian). The root group uses link messages in
/// both versions. Variable-length strings go to one global heap.
///
/// # Panics
/// On a dataset whose type is neither an IEEE float (f16, f32, f64) nor an integer, or whose
/// bytes do not match its shape.
pub fn write_file(
    superblock_v2: bool,
    attrs: &[(&str, &str, bool)],
    datasets: &[WriteDataset<'_>],
) -> Vec<u8> {
    // Layout: superblock | root object header | dataset object headers | dataset data |
    // global heap collection. Message sizes do not depend on the addresses in them, so the
    // messages are built once with placeholder addresses to learn the layout, then again.
    let so = 8usize;
    let sb_len = if superblock_v2 {
        12 + 4 * so + 4
    } else {
        24 + 4 * so + 40
    };
    for (name, dtype, shape, data) in datasets {
        let numel: u64 = shape.iter().product();
        assert_eq!(
            numel * dtype.size() as u64,
            data.len() as u64,
            "dataset `{name}`: bytes do not match the shape"
        );
    }
    let heap_objs: Vec<&[u8]> = attrs
        .iter()
        .filter(|a| a.2)
        .map(|a| a.1.as_bytes())
        .collect();
    let mut addrs = Addresses {
        heap: 0,
        headers: vec![0; datasets.len()],
        data: vec![0; datasets.len()],
    };
    let header_len = |msgs: &[(u16, Vec<u8>)]| -> u64 {
        if superblock_v2 {
            18 + msgs.iter().map(|(_, m)| 4 + m.len()).sum::<usize>() as u64
        } else {
            16 + msgs.iter().map(|(_, m)| 8 + pad8(m.len())).sum::<usize>() as u64
        }
    };
    let root_len = header_len(&root_messages(superblock_v2, attrs, datasets, &addrs));
    let mut at = (sb_len as u64) + root_len;
    for (i, d) in datasets.iter().enumerate() {
        addrs.headers[i] = at;
        at += header_len(&dataset_messages(superblock_v2, d, 0));
    }
    for (i, d) in datasets.iter().enumerate() {
        addrs.data[i] = at;
        at += pad8(d.3.len()) as u64;
    }
    addrs.heap = at;
    let heap_len: usize = 16 + heap_objs.iter().map(|o| 16 + pad8(o.len())).sum::<usize>() + 16;
    let eof = at
        + if heap_objs.is_empty() {
            0
        } else {
            heap_len as u64
        };
    let mut out = Vec::new();
    out.extend(MAGIC);
    let root = sb_len as u64;
    if superblock_v2 {
        out.extend([2, 8, 8, 0]);
        out.extend(0u64.to_le_bytes());
        out.extend(u64::MAX.to_le_bytes());
        out.extend(eof.to_le_bytes());
        out.extend(root.to_le_bytes());
        out.extend([0u8; 4]); // checksum (not verified by this reader)
    } else {
        out.extend([0, 0, 0, 0, 0, 8, 8, 0]);
        out.extend(4u16.to_le_bytes());
        out.extend(16u16.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(0u64.to_le_bytes());
        out.extend(u64::MAX.to_le_bytes());
        out.extend(eof.to_le_bytes());
        out.extend(u64::MAX.to_le_bytes());
        // Root symbol table entry: name offset, header address, cache type, reserved, scratch.
        out.extend(0u64.to_le_bytes());
        out.extend(root.to_le_bytes());
        out.extend([0u8; 24]);
    }
    debug_assert_eq!(out.len(), sb_len);
    object_header(
        superblock_v2,
        &root_messages(superblock_v2, attrs, datasets, &addrs),
        &mut out,
    );
    for (i, d) in datasets.iter().enumerate() {
        debug_assert_eq!(out.len() as u64, addrs.headers[i]);
        object_header(
            superblock_v2,
            &dataset_messages(superblock_v2, d, addrs.data[i]),
            &mut out,
        );
    }
    for d in datasets {
        out.extend(d.3);
        out.resize(out.len() + pad8(d.3.len()) - d.3.len(), 0);
    }
    debug_assert_eq!(out.len() as u64, addrs.heap);
    if !heap_objs.is_empty() {
        out.extend(b"GCOL");
        out.extend([1, 0, 0, 0]);
        out.extend((heap_len as u64).to_le_bytes());
        for (i, o) in heap_objs.iter().enumerate() {
            out.extend(((i + 1) as u16).to_le_bytes());
            out.extend(1u16.to_le_bytes());
            out.extend([0u8; 4]);
            out.extend((o.len() as u64).to_le_bytes());
            out.extend(*o);
            out.resize(out.len() + pad8(o.len()) - o.len(), 0);
        }
        // Free space: index 0, the rest of the collection.
        out.extend([0u8; 8]);
        out.extend(16u64.to_le_bytes());
    }
    debug_assert_eq!(out.len() as u64, eof);
    out
}

/// Where [`write_file`] puts things.
struct Addresses {
    heap: u64,
    headers: Vec<u64>,
    data: Vec<u64>,
}

/// The root group's messages: attributes, an empty link info and group info (a new-style
/// group with compact links), then one hard link per dataset.
fn root_messages(
    v2: bool,
    attrs: &[(&str, &str, bool)],
    datasets: &[WriteDataset<'_>],
    addrs: &Addresses,
) -> Vec<(u16, Vec<u8>)> {
    let mut msgs: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut heap_index = 0u32;
    for &(name, value, vlen) in attrs {
        let mut m = vec![if v2 { 3 } else { 1 }, 0];
        let mut nm = name.as_bytes().to_vec();
        nm.push(0);
        let dt: Vec<u8> = if vlen {
            let mut d = vec![0x19, 0x01, 0x00, 0x00];
            d.extend(16u32.to_le_bytes());
            d.extend([0x10, 0, 0, 0]);
            d.extend(1u32.to_le_bytes());
            d
        } else {
            let mut d = vec![0x13, 0x00, 0x00, 0x00];
            d.extend((value.len() as u32).max(1).to_le_bytes());
            d
        };
        let ds: Vec<u8> = if v2 {
            vec![2, 0, 0, 0]
        } else {
            vec![1, 0, 0, 0, 0, 0, 0, 0]
        };
        m.extend((nm.len() as u16).to_le_bytes());
        m.extend((dt.len() as u16).to_le_bytes());
        m.extend((ds.len() as u16).to_le_bytes());
        let pad = |v: &mut Vec<u8>, b: &[u8]| {
            v.extend(b);
            if !v2 {
                v.resize(v.len() + (pad8(b.len()) - b.len()), 0);
            }
        };
        if v2 {
            m.push(1); // UTF-8 name
        }
        pad(&mut m, &nm);
        pad(&mut m, &dt);
        pad(&mut m, &ds);
        if vlen {
            heap_index += 1;
            m.extend((value.len() as u32).to_le_bytes());
            m.extend(addrs.heap.to_le_bytes());
            m.extend(heap_index.to_le_bytes());
        } else {
            let mut v = value.as_bytes().to_vec();
            if v.is_empty() {
                v.push(0);
            }
            m.extend(v);
        }
        msgs.push((0x0c, m));
    }
    // Link info: no creation order, no fractal heap, no name index.
    let mut info = vec![0u8, 0];
    info.extend(u64::MAX.to_le_bytes());
    info.extend(u64::MAX.to_le_bytes());
    msgs.push((0x02, info));
    msgs.push((0x0a, vec![0, 0]));
    for (i, (name, ..)) in datasets.iter().enumerate() {
        assert!(name.len() < 256 && !name.is_empty() && !name.contains('/'));
        let mut m = vec![1u8, 0, name.len() as u8];
        m.extend(name.as_bytes());
        m.extend(addrs.headers[i].to_le_bytes());
        msgs.push((0x06, m));
    }
    msgs
}

/// A contiguous dataset's messages: dataspace, datatype, fill value, layout.
fn dataset_messages(v2: bool, d: &WriteDataset<'_>, data_at: u64) -> Vec<(u16, Vec<u8>)> {
    use crate::dtype::DType;
    let (_, dtype, shape, data) = *d;
    let rank = shape.len() as u8;
    let mut space = if v2 {
        vec![2, rank, 0, u8::from(rank > 0)]
    } else {
        vec![1, rank, 0, 0, 0, 0, 0, 0]
    };
    for &s in shape {
        space.extend(s.to_le_bytes());
    }
    let size = dtype.size();
    let bits = (size * 8) as u16;
    let mut ty = Vec::new();
    match dtype {
        DType::F16 | DType::F32 | DType::F64 => {
            let (exp_loc, exp_size, man_size, bias): (u8, u8, u8, u32) = match dtype {
                DType::F16 => (10, 5, 10, 15),
                DType::F32 => (23, 8, 23, 127),
                _ => (52, 11, 52, 1023),
            };
            // Class 1, version 1; mantissa normalisation "implied", sign bit last.
            ty.extend([0x11, 0x20, (bits - 1) as u8, 0]);
            ty.extend((size as u32).to_le_bytes());
            ty.extend(0u16.to_le_bytes());
            ty.extend(bits.to_le_bytes());
            ty.extend([exp_loc, exp_size, 0, man_size]);
            ty.extend(bias.to_le_bytes());
        }
        DType::I8 | DType::I16 | DType::I32 | DType::I64 => {
            ty.extend([0x10, 0x08, 0, 0]);
            ty.extend((size as u32).to_le_bytes());
            ty.extend(0u16.to_le_bytes());
            ty.extend(bits.to_le_bytes());
        }
        DType::U8 | DType::U16 | DType::U32 | DType::U64 => {
            ty.extend([0x10, 0, 0, 0]);
            ty.extend((size as u32).to_le_bytes());
            ty.extend(0u16.to_le_bytes());
            ty.extend(bits.to_le_bytes());
        }
        other => panic!("write_file: {other:?} datasets are not written"),
    }
    // Fill value version 2: late allocation, written if set, undefined.
    let fill = vec![2u8, 2, 2, 0];
    let mut layout = vec![3u8, 1];
    layout.extend(data_at.to_le_bytes());
    layout.extend((data.len() as u64).to_le_bytes());
    vec![(0x01, space), (0x03, ty), (0x05, fill), (0x08, layout)]
}

/// Appends an object header (v2 `OHDR` or v1) holding `msgs`.
fn object_header(v2: bool, msgs: &[(u16, Vec<u8>)], out: &mut Vec<u8>) {
    if v2 {
        let body: usize = msgs.iter().map(|(_, m)| 4 + m.len()).sum();
        out.extend(b"OHDR");
        out.extend([2, 0x03]);
        out.extend((body as u64).to_le_bytes());
        for (t, m) in msgs {
            out.push(*t as u8);
            out.extend((m.len() as u16).to_le_bytes());
            out.push(0);
            out.extend(m);
        }
        out.extend([0u8; 4]);
    } else {
        let body: usize = msgs.iter().map(|(_, m)| 8 + pad8(m.len())).sum();
        out.extend([1, 0]);
        out.extend((msgs.len() as u16).to_le_bytes());
        out.extend(1u32.to_le_bytes());
        out.extend((body as u32).to_le_bytes());
        out.extend([0u8; 4]);
        for (t, m) in msgs {
            out.extend(t.to_le_bytes());
            out.extend((pad8(m.len()) as u16).to_le_bytes());
            out.extend([0u8; 4]);
            out.extend(m);
            out.resize(out.len() + pad8(m.len()) - m.len(), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &AttrValue) -> &[String] {
        match v {
            AttrValue::Strings(s) => s,
            other => panic!("not strings: {other:?}"),
        }
    }

    #[test]
    fn reads_fixed_and_vlen_strings_in_both_layouts() {
        for v2 in [false, true] {
            let f = write_minimal(
                v2,
                &[
                    ("backend", "tensorflow", false),
                    ("model_config", "{\"a\": 1}", true),
                ],
            );
            let g = root_group(&f).unwrap();
            assert_eq!(g.superblock_version, if v2 { 2 } else { 0 });
            assert_eq!(g.attributes.len(), 2);
            assert_eq!(g.attributes[0].name, "backend");
            assert_eq!(strings(&g.attributes[0].value), ["tensorflow"]);
            assert_eq!(g.attributes[1].name, "model_config");
            assert_eq!(strings(&g.attributes[1].value), ["{\"a\": 1}"]);
        }
    }

    #[test]
    fn written_datasets_read_back_in_both_layouts() {
        use crate::dtype::DType;
        let f32s: Vec<u8> = [1.5f32, -2.0, 0.25, 8.0, 0.0, -0.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let f64s: Vec<u8> = 3.25f64.to_le_bytes().to_vec();
        let i16s: Vec<u8> = [-7i16, 300].iter().flat_map(|v| v.to_le_bytes()).collect();
        let half: Vec<u8> = [0x3c00u16, 0xc000]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let sets: [WriteDataset<'_>; 5] = [
            ("w:0", DType::F32, &[2, 3], &f32s),
            ("scalar", DType::F64, &[], &f64s),
            ("ints", DType::I16, &[2], &i16s),
            ("half", DType::F16, &[2], &half),
            ("empty", DType::U8, &[0, 4], &[]),
        ];
        for v2 in [false, true] {
            let f = write_file(v2, &[("model_config", "{}", true)], &sets);
            assert_eq!(end_of_file(&f), Some(f.len() as u64));
            let (got, errors) = datasets(&f, &Limits::default()).unwrap();
            assert!(errors.is_empty(), "{errors:?}");
            let mut want: Vec<_> = sets.iter().collect();
            want.sort_by_key(|s| s.0);
            assert_eq!(got.len(), want.len());
            for (d, (name, dtype, shape, bytes)) in got.iter().zip(want) {
                assert_eq!(d.info.path, format!("/{name}"));
                assert_eq!((d.info.dtype, &d.info.shape[..]), (*dtype, *shape));
                assert_eq!(&d.bytes[..], *bytes);
            }
            let g = root_group(&f).unwrap();
            assert_eq!(strings(&g.attributes[0].value), ["{}"]);
            // The attributes-only file is an empty group.
            let w = walk(&write_minimal(v2, &[]), &Limits::default()).unwrap();
            assert!(w.datasets.is_empty() && w.errors.is_empty(), "{w:?}");
            assert_eq!(end_of_file(&f[..10]), None);
        }
    }

    #[test]
    fn truncations_and_mutations_are_errors_not_panics() {
        for v2 in [false, true] {
            let f = write_minimal(v2, &[("model_config", "{\"layers\": []}", true)]);
            for cut in 0..f.len() {
                // A truncated file never yields a wrong string.
                if let Ok(g) = root_group(&f[..cut]) {
                    for a in g.attributes {
                        if let AttrValue::Strings(s) = a.value {
                            assert_eq!(s, ["{\"layers\": []}"]);
                        }
                    }
                }
            }
            for i in 0..f.len() {
                for x in [0x00, 0xff, 0x7f, 0x10] {
                    let mut g = f.clone();
                    g[i] = x;
                    let _ = root_group(&g);
                }
            }
        }
    }

    #[test]
    fn attributes_in_continuation_blocks_are_read() {
        // v1: a new root header whose only message continues to a block holding the
        // original attribute message.
        let mut f = write_minimal(false, &[("model_config", "{}", false)]);
        let size = uint(&f, 96 + 16 + 2, 2).unwrap() as usize;
        let msg = f[96 + 16..96 + 16 + 8 + size].to_vec();
        let block = f.len() as u64;
        f.extend(&msg);
        let root = f.len() as u64;
        f.extend([1, 0, 2, 0, 1, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0]);
        f.extend(0x10u16.to_le_bytes());
        f.extend(16u16.to_le_bytes());
        f.extend([0u8; 4]);
        f.extend(block.to_le_bytes());
        f.extend((msg.len() as u64).to_le_bytes());
        f[64..72].copy_from_slice(&root.to_le_bytes());
        let g = root_group(&f).unwrap();
        assert_eq!(g.header_offset, root);
        assert_eq!(g.attributes[0].name, "model_config");
        assert_eq!(strings(&g.attributes[0].value), ["{}"]);
        assert_eq!(g.attributes[0].offset, block + 8);

        // v2: chunk 0 holds a continuation to an OCHK block with the attribute message.
        let mut f = write_minimal(true, &[("model_config", "{}", false)]);
        let body = uint(&f, 48 + 6, 8).unwrap() as usize;
        let msg = f[48 + 14..48 + 14 + body].to_vec();
        let block = f.len() as u64;
        f.extend(b"OCHK");
        f.extend(&msg);
        f.extend([0u8; 4]);
        let root = f.len() as u64;
        f.extend(b"OHDR");
        f.extend([2, 0x03]);
        f.extend(20u64.to_le_bytes());
        f.extend([0x10, 16, 0, 0]);
        f.extend(block.to_le_bytes());
        f.extend((msg.len() as u64 + 8).to_le_bytes());
        f.extend([0u8; 4]);
        f[36..44].copy_from_slice(&root.to_le_bytes());
        let g = root_group(&f).unwrap();
        assert_eq!(strings(&g.attributes[0].value), ["{}"]);
    }

    #[test]
    fn a_user_block_moves_the_superblock_and_the_base_address() {
        let f = write_minimal(false, &[("model_config", "{\"u\": 1}", true)]);
        // Shift everything by 512 bytes and set the base address to 512: addresses stay
        // relative to the base, as the HDF5 library writes them.
        let mut g = vec![b'u'; 512];
        g.extend(&f);
        g[512 + 24..512 + 32].copy_from_slice(&512u64.to_le_bytes());
        assert_eq!(crate::sniff::sniff(&g), crate::sniff::Format::Hdf5);
        let r = root_group(&g).unwrap();
        assert_eq!(r.header_offset, 512 + 96);
        assert_eq!(strings(&r.attributes[0].value), ["{\"u\": 1}"]);
    }

    #[test]
    fn dense_attribute_storage_without_a_name_index_is_an_error() {
        // An attribute info message (0x15) with a defined fractal heap address.
        let mut f = write_minimal(true, &[]);
        let root = f.len() as u64;
        let mut m = vec![0u8, 0];
        m.extend(48u64.to_le_bytes());
        m.extend(u64::MAX.to_le_bytes());
        f.extend(b"OHDR");
        f.extend([2, 0x03]);
        f.extend((4 + m.len() as u64).to_le_bytes());
        f.extend([0x15, m.len() as u8, 0, 0]);
        f.extend(&m);
        f.extend([0u8; 4]);
        f[36..44].copy_from_slice(&root.to_le_bytes());
        let e = root_group(&f).unwrap_err();
        assert!(e.0.contains("no name index"), "{e}");
    }

    #[test]
    fn continuation_loops_are_errors() {
        // A v1 header whose only message continues into itself.
        let mut f = write_minimal(false, &[]);
        let root = f.len() as u64;
        // Point the superblock's root header address at the new header.
        let at = 24 + 4 * 8 + 8;
        f[at..at + 8].copy_from_slice(&root.to_le_bytes());
        f.extend([1, 0, 1, 0, 1, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0]);
        f.extend(0x10u16.to_le_bytes());
        f.extend(16u16.to_le_bytes());
        f.extend([0u8; 4]);
        f.extend((root + 16).to_le_bytes());
        f.extend(24u64.to_le_bytes());
        let e = root_group(&f).unwrap_err();
        assert!(e.0.contains("loops back"), "{e}");
    }
}
