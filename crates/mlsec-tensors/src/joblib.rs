//! numpy arrays in joblib files (`joblib.dump`).
//!
//! joblib pickles each array as a `joblib.numpy_pickle.NumpyArrayWrapper` whose state gives
//! the subclass, shape, order and dtype; right after the wrapper's BUILD, the array's bytes
//! follow in the stream (after a one-byte padding length and that many pad bytes when the
//! state has `numpy_array_alignment_bytes`), or, for `dtype=object`, a whole nested pickle.
//! The pickle machine ([`crate::pickle::Machine`]) skips those regions as joblib's unpickler
//! reads them; this module turns them into array descriptions with their byte ranges.
//!
//! Nothing is unpickled: the description comes from the simulated nodes only.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::dtype::DType;
use crate::pickle::{Machine, Node, NodeId};

/// What the bytes of a joblib array are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Raw elements of `dtype`; `big_endian` ones must be swapped before use.
    Raw { dtype: DType, big_endian: bool },
    /// `dtype=object`: the range holds a nested pickle stream (already run by the machine, so
    /// its imports and calls are in its events): audit it like any pickle.
    Object,
    /// Raw elements of a dtype with no [`DType`] (strings, datetimes, structured...).
    Unsupported,
}

/// One array of a joblib file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoblibArray {
    /// Where the array sits in the pickled object: dict keys and object attributes joined by
    /// `.`, sequence items as `[i]` (`nested[1].inner`, `ns.coef_`); `None` when the wrapper
    /// is not reachable from the stream's result.
    pub path: Option<String>,
    /// The wrapper's node in the machine.
    pub node: NodeId,
    /// numpy dtype string with its byte order (`<f4`, `>f8`, `|b1`, `|O`).
    pub descr: String,
    pub body: Body,
    /// Empty for a 0-d array.
    pub shape: Vec<u64>,
    /// Elements are stored in Fortran (column-major) order.
    pub fortran_order: bool,
    /// `module.name` of the array class (`numpy.ndarray`, `numpy.matrix`, ...).
    pub subclass: Option<String>,
    /// File offsets (machine base added) of the elements, or of the nested pickle.
    pub data: Range<u64>,
}

impl JoblibArray {
    pub fn numel(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }

    /// The elements of a [`Body::Raw`] array as little-endian, C-order (row-major) bytes:
    /// borrowed from the machine's buffer when already so, else swapped and/or transposed.
    /// `None` for object and unsupported arrays, or a range outside the buffer.
    pub fn elements<'a>(&self, m: &Machine<'a>) -> Option<Cow<'a, [u8]>> {
        let Body::Raw { dtype, big_endian } = self.body else {
            return None;
        };
        let start = usize::try_from(self.data.start.checked_sub(m.base)?).ok()?;
        let end = usize::try_from(self.data.end.checked_sub(m.base)?).ok()?;
        let raw: &'a [u8] = m.data.get(start..end)?;
        let es = dtype.size();
        let mut out = Cow::Borrowed(raw);
        if big_endian && es > 1 {
            for e in out.to_mut().chunks_exact_mut(es) {
                e.reverse();
            }
        }
        if self.fortran_order && self.shape.iter().filter(|&&d| d > 1).count() > 1 {
            out = Cow::Owned(fortran_to_c(&out, &self.shape, es));
        }
        Some(out)
    }
}

/// Reorders column-major elements into row-major order.
fn fortran_to_c(src: &[u8], shape: &[u64], es: usize) -> Vec<u8> {
    let rank = shape.len();
    let mut out = Vec::with_capacity(src.len());
    // Fortran strides (in elements) of each dimension.
    let mut fstride = vec![1usize; rank];
    for d in 1..rank {
        fstride[d] = fstride[d - 1] * shape[d - 1] as usize;
    }
    let mut idx = vec![0u64; rank];
    for _ in 0..src.len() / es {
        let f: usize = (0..rank).map(|d| idx[d] as usize * fstride[d]).sum();
        out.extend_from_slice(&src[f * es..f * es + es]);
        // Next C index: the last dimension varies fastest.
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// A wrapper whose state could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("joblib array {}: {message}", path.as_deref().unwrap_or("(unreachable)"))]
pub struct JoblibError {
    pub path: Option<String>,
    pub node: NodeId,
    pub message: String,
}

/// Every joblib array the machine read, in stream order. Run the machine first
/// (`Machine::run_all`); a stream that failed may have stopped before some arrays.
pub fn arrays(m: &Machine) -> Vec<Result<JoblibArray, JoblibError>> {
    let paths = paths(m);
    m.joblib_array_nodes
        .iter()
        .zip(&m.joblib_arrays)
        .map(|(&node, &(start, end))| {
            let path = paths.get(&node).cloned();
            describe(m, node, start, end)
                .map_err(|message| JoblibError {
                    path: path.clone(),
                    node,
                    message,
                })
                .map(|mut a| {
                    a.path = path;
                    a
                })
        })
        .collect()
}

fn describe(m: &Machine, node: NodeId, start: usize, end: usize) -> Result<JoblibArray, String> {
    let Node::Obj(obj) = m.node(node) else {
        return Err("wrapper is not an object".into());
    };
    let Some(state) = obj.state else {
        return Err("wrapper has no state".into());
    };
    let Node::Dict(pairs) = m.node(state) else {
        return Err("wrapper state is not a dict".into());
    };
    let mut shape = None;
    let mut dtype = None;
    let mut order = None;
    let mut subclass = None;
    let mut aligned = false;
    for &(k, v) in pairs {
        match m.str_of(k) {
            Some("shape") => {
                shape = Some(
                    m.seq_of(v)
                        .ok_or("shape is not a tuple")?
                        .iter()
                        .map(|&d| m.int_of(d).and_then(|d| u64::try_from(d).ok()))
                        .collect::<Option<Vec<u64>>>()
                        .ok_or("shape holds a value that is not a non-negative integer")?,
                );
            }
            Some("dtype") => dtype = Some(numpy_descr(m, v)?),
            Some("order") => order = m.str_of(v).map(str::to_owned),
            Some("subclass") => subclass = m.global_name(v),
            Some("numpy_array_alignment_bytes") => aligned = !matches!(m.node(v), Node::None),
            _ => {}
        }
    }
    let shape = shape.ok_or("wrapper state lacks a shape")?;
    let descr = dtype.ok_or("wrapper state lacks a dtype")?;
    let fortran_order = match order.as_deref() {
        Some("F") => true,
        Some("C") | None => false,
        Some(o) => return Err(format!("unknown array order `{o}`")),
    };
    let object = crate::pickle::is_object_dtype(&descr);
    let descr = if object { "|O".to_owned() } else { descr };
    let body = if object {
        Body::Object
    } else {
        match DType::from_numpy(&descr) {
            Some((dtype, big_endian)) => Body::Raw { dtype, big_endian },
            None => Body::Unsupported,
        }
    };
    let mut data_start = start;
    if aligned && body != Body::Object {
        let pad = *m
            .data
            .get(start)
            .ok_or("padding byte lies outside the data")?;
        data_start = start + 1 + usize::from(pad);
    }
    if data_start > end {
        return Err("padding runs past the array data".into());
    }
    if let Body::Raw { dtype, .. } = body {
        let numel = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or("shape overflows")?;
        let want = numel
            .checked_mul(dtype.size() as u64)
            .ok_or("size overflows")?;
        if want != (end - data_start) as u64 {
            return Err(format!(
                "array data holds {} bytes, shape and dtype need {want}",
                end - data_start
            ));
        }
    }
    Ok(JoblibArray {
        path: None,
        node,
        descr,
        body,
        shape,
        fortran_order,
        subclass,
        data: m.base + data_start as u64..m.base + end as u64,
    })
}

/// The dtype string with its byte order, from a pickled `numpy.dtype(code, align, copy)`
/// whose BUILD state is `(version, byteorder, ...)`.
fn numpy_descr(m: &Machine, id: NodeId) -> Result<String, String> {
    let Node::Obj(d) = m.node(id) else {
        return Err("dtype is not a numpy.dtype object".into());
    };
    let code = m
        .seq_of(d.args)
        .and_then(|a| a.first().copied())
        .and_then(|a| m.str_of(a))
        .ok_or("dtype has no type code")?;
    let order = d
        .state
        .and_then(|s| m.seq_of(s))
        .and_then(|s| s.get(1).copied())
        .and_then(|o| m.str_of(o))
        .unwrap_or("|");
    if let Some(fields) = d
        .state
        .and_then(|s| m.seq_of(s))
        .and_then(|s| s.get(3).copied())
    {
        if !matches!(m.node(fields), Node::None) {
            return Ok(format!("{order}V{}", code.trim_start_matches('V')));
        }
    }
    let order = match order {
        "=" => "<",
        o => o,
    };
    Ok(format!("{order}{code}"))
}

/// Paths of the wrappers reachable from each stream's result (first path wins).
fn paths(m: &Machine) -> HashMap<NodeId, String> {
    let wanted: HashSet<NodeId> = m.joblib_array_nodes.iter().copied().collect();
    let mut out = HashMap::new();
    let mut seen = HashSet::new();
    for s in &m.streams {
        let Some(root) = s.root else { continue };
        let mut stack = vec![(root, String::new())];
        while let Some((id, path)) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if wanted.contains(&id) {
                out.insert(id, path);
                continue;
            }
            let join = |k: &str| {
                if path.is_empty() {
                    k.to_owned()
                } else {
                    format!("{path}.{k}")
                }
            };
            let mut children: Vec<(NodeId, String)> = Vec::new();
            let dict = |pairs: &[(NodeId, NodeId)], children: &mut Vec<(NodeId, String)>| {
                for &(k, v) in pairs {
                    let name = match m.node(k) {
                        Node::Str(s) => join(s),
                        Node::Int(i) => format!("{path}[{i}]"),
                        _ => format!("{path}[?]"),
                    };
                    children.push((v, name));
                }
            };
            match m.node(id) {
                Node::Dict(pairs) => dict(pairs, &mut children),
                Node::List(items)
                | Node::Tuple(items)
                | Node::Set(items)
                | Node::FrozenSet(items) => {
                    for (i, &v) in items.iter().enumerate() {
                        children.push((v, format!("{path}[{i}]")));
                    }
                }
                Node::Obj(obj) => {
                    dict(&obj.items, &mut children);
                    for (i, &v) in obj.list.iter().enumerate() {
                        children.push((v, format!("{path}[{i}]")));
                    }
                    if let Some(state) = obj.state {
                        match m.node(state) {
                            Node::Dict(pairs) => dict(pairs, &mut children),
                            // (dict, slots) states
                            Node::Tuple(parts) => {
                                for &p in parts {
                                    if let Node::Dict(pairs) = m.node(p) {
                                        dict(pairs, &mut children);
                                    }
                                }
                            }
                            _ => children.push((state, join("__state__"))),
                        }
                    }
                    // Constructor arguments (e.g. OrderedDict([(k, v)]) in protocol 2).
                    children.push((obj.args, path.clone()));
                }
                _ => {}
            }
            for c in children.into_iter().rev() {
                stack.push(c);
            }
        }
    }
    out
}

/// The compressor `joblib.dump(..., compress=...)` wrapped the pickle in, by its prefix
/// (joblib's `compressor.py`): `zlib`, `gzip`, `bz2`, `xz`, `lzma`, `lz4`, or `zfile` (joblib
/// < 0.9.3). `None` for an uncompressed file.
pub fn compression(data: &[u8]) -> Option<&'static str> {
    const PREFIXES: [(&[u8], &str); 7] = [
        (b"ZF", "zfile"),
        (b"\x78", "zlib"),
        (b"\x1f\x8b", "gzip"),
        (b"BZ", "bz2"),
        (b"\xfd\x37\x7a\x58\x5a", "xz"),
        (b"\x5d\x00", "lzma"),
        (b"\x04\x22\x4d\x18", "lz4"),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| data.starts_with(p))
        .map(|&(_, n)| n)
}

/// Why a compressed joblib file could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("joblib {compression} compression: {message}")]
pub struct DecompressError {
    pub compression: &'static str,
    pub message: String,
}

/// Expands a zlib- or gzip-compressed joblib file (the pickle stream and its arrays) into at
/// most `limit` bytes. Other compressors are an error naming them.
pub fn decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let compression = compression(data).unwrap_or("none");
    let fail = |message: String| DecompressError {
        compression,
        message,
    };
    let raw = match compression {
        "zlib" => {
            return miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, limit)
                .map_err(|e| fail(format!("{:?} (limit {limit} bytes)", e.status)));
        }
        "gzip" => gzip_body(data).ok_or_else(|| fail("truncated or invalid gzip header".into()))?,
        other => return Err(fail(format!("`{other}` streams are not supported"))),
    };
    miniz_oxide::inflate::decompress_to_vec_with_limit(raw, limit)
        .map_err(|e| fail(format!("{:?} (limit {limit} bytes)", e.status)))
}

/// The raw deflate data of a gzip member (RFC 1952 header skipped).
fn gzip_body(d: &[u8]) -> Option<&[u8]> {
    if d.get(2) != Some(&8) {
        return None;
    }
    let flags = *d.get(3)?;
    let mut p = 10usize;
    if flags & 0x04 != 0 {
        let n = usize::from(u16::from_le_bytes([*d.get(p)?, *d.get(p + 1)?]));
        p += 2 + n;
    }
    for bit in [0x08, 0x10] {
        if flags & bit != 0 {
            p += d.get(p..)?.iter().position(|&c| c == 0)? + 1;
        }
    }
    if flags & 0x02 != 0 {
        p += 2;
    }
    d.get(p..)
}
