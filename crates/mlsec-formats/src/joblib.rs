//! numpy arrays in joblib files (`joblib.dump`).
//!
//! joblib pickles each array as a `joblib.numpy_pickle.NumpyArrayWrapper` whose state gives
//! the subclass, shape, order and dtype; right after the wrapper's BUILD, the array's bytes
//! follow in the stream (after a one-byte padding length and that many pad bytes when the
//! state has `numpy_array_alignment_bytes`), or, for `dtype=object`, a whole nested pickle.
//! The pickle machine ([`mlsec_pickle::Machine`]) skips those regions as joblib's unpickler
//! reads them; this module turns them into array descriptions with their byte ranges.
//!
//! Nothing is unpickled: the description comes from the simulated nodes only.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::dtype::DType;
use mlsec_pickle::{Inline, InlineError, Machine, Node, NodeId};

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
        Some(crate::load::c_order(
            out,
            &self.shape,
            es,
            self.fortran_order,
        ))
    }
}

/// The pickle machine as model loaders run it: joblib's unpickler reads the array of each
/// `NumpyArrayWrapper` from the stream right after its BUILD ([`inline_rule`]), and any
/// pickle may be loaded with `joblib.load`, so every machine of this workspace reads them.
pub fn machine(data: &[u8], base: u64) -> Machine<'_> {
    Machine::new(data, base).with_inline(inline_rule)
}

/// joblib's `NumpyArrayWrapper`: after its BUILD, joblib's unpickler reads the array from the
/// file (raw bytes after an optional alignment pad, or a whole nested pickle for object
/// arrays) and parsing resumes after it. Emulated so joblib files parse as joblib reads them.
pub fn inline_rule(
    m: &Machine<'_>,
    inst: NodeId,
    state: NodeId,
) -> Result<Option<Inline>, InlineError> {
    let Node::Obj(obj) = &*m.node(inst) else {
        return Ok(None);
    };
    if m.global_name(obj.callee).as_deref() != Some("joblib.numpy_pickle.NumpyArrayWrapper") {
        return Ok(None);
    }
    let err = |s: String| InlineError(s);
    let Node::Dict(pairs) = &*m.node(state) else {
        return Err(err("NumpyArrayWrapper state is not a dict".into()));
    };
    let mut shape = None;
    let mut dtype = None;
    let mut aligned = false;
    for &(k, v) in pairs {
        match m.str_of(k) {
            Some("shape") => {
                shape = m.seq_of(v).and_then(|s| {
                    s.iter()
                        .map(|&d| m.int_of(d).and_then(|d| u64::try_from(d).ok()))
                        .try_fold(1u64, |a, d| a.checked_mul(d?))
                });
            }
            Some("dtype") => {
                dtype = match &*m.node(v) {
                    Node::Obj(d) => m
                        .seq_of(d.args)
                        .and_then(|a| a.first().copied())
                        .and_then(|a| m.str_of(a).map(str::to_owned)),
                    _ => None,
                };
            }
            Some("numpy_array_alignment_bytes") => aligned = true,
            _ => {}
        }
    }
    let (Some(numel), Some(dtype)) = (shape, dtype) else {
        return Err(err("NumpyArrayWrapper state lacks shape or dtype".into()));
    };
    if crate::npy::is_object_code(&dtype) {
        return Ok(Some(Inline::Pickle));
    }
    let code = dtype.trim_start_matches(['<', '>', '|', '=']);
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    let len = digits
        .parse::<u64>()
        .map_err(|_| err(format!("unsupported joblib dtype `{dtype}`")))
        .and_then(|item| {
            let unicode = if code.starts_with('U') { 4 } else { 1 };
            numel
                .checked_mul(item)
                .and_then(|n| n.checked_mul(unicode))
                .ok_or_else(|| err("joblib array size overflows".into()))
        });
    Ok(Some(Inline::Raw {
        len,
        padded: aligned,
    }))
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
    m.inline_nodes
        .iter()
        .zip(&m.inline_data)
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
    let Node::Obj(obj) = &*m.node(node) else {
        return Err("wrapper is not an object".into());
    };
    let Some(state) = obj.state else {
        return Err("wrapper has no state".into());
    };
    let Node::Dict(pairs) = &*m.node(state) else {
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
            Some("numpy_array_alignment_bytes") => aligned = !matches!(&*m.node(v), Node::None),
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
    let object = crate::npy::is_object_code(&descr);
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
    let Node::Obj(d) = &*m.node(id) else {
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
        && !matches!(&*m.node(fields), Node::None)
    {
        return Ok(format!("{order}V{}", code.trim_start_matches('V')));
    }
    let order = match order {
        "=" => "<",
        o => o,
    };
    Ok(format!("{order}{code}"))
}

/// Paths of the wrappers reachable from each stream's result (first path wins).
fn paths(m: &Machine) -> HashMap<NodeId, String> {
    paths_of(m, &m.inline_nodes.iter().copied().collect())
}

/// Paths of the `wanted` nodes reachable from each stream's result (first path wins).
fn paths_of(m: &Machine, wanted: &HashSet<NodeId>) -> HashMap<NodeId, String> {
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
                    let name = match &*m.node(k) {
                        Node::Str(s) => join(s),
                        Node::Int(i) => format!("{path}[{i}]"),
                        _ => format!("{path}[?]"),
                    };
                    children.push((v, name));
                }
            };
            match &*m.node(id) {
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
                        match &*m.node(state) {
                            Node::Dict(pairs) => dict(pairs, &mut children),
                            // (dict, slots) states
                            Node::Tuple(parts) => {
                                for &p in parts {
                                    if let Node::Dict(pairs) = &*m.node(p) {
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

/// How an array of an old joblib file (joblib < 0.10) is stored in its companion file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompanionKind {
    /// `NDArrayWrapper`: an `.npy` file, which joblib reads with `numpy.load(...,
    /// allow_pickle=True)`, so an object array in it is a pickle that runs.
    Npy,
    /// `ZNDArrayWrapper`: a zfile (see [`zfile_header`]) of the raw elements; the dtype,
    /// shape and order are in the pickle (the `ndarray.__reduce__` state without its data).
    Zfile {
        descr: String,
        body: Body,
        shape: Vec<u64>,
        fortran_order: bool,
    },
}

/// An array that joblib < 0.10 wrote to a file of its own next to the pickle (`name.pkl_01.npy`,
/// or `name.pkl_01.npy.z` when compressed), named in the pickle by an `NDArrayWrapper` or
/// `ZNDArrayWrapper`. joblib 1.6 still reads them (`numpy_pickle_compat`): after the
/// wrapper's BUILD, it opens `os.path.join(dirname(file), filename)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Companion {
    /// Where the array sits in the pickled object, as in [`JoblibArray::path`].
    pub path: Option<String>,
    pub node: NodeId,
    /// The companion's name as the pickle gives it: hostile until checked with
    /// [`companion_name`].
    pub file: String,
    pub kind: CompanionKind,
    /// File offset (machine base added) of the wrapper's creation.
    pub offset: u64,
}

/// The wrapper classes joblib's unpickler replaces by the array of a companion file: any
/// instance of `joblib.numpy_pickle_compat.NDArrayWrapper` (the old module path is an alias).
fn wrapper_kind(name: &str) -> Option<bool> {
    match name {
        "joblib.numpy_pickle.NDArrayWrapper" | "joblib.numpy_pickle_compat.NDArrayWrapper" => {
            Some(false)
        }
        "joblib.numpy_pickle.ZNDArrayWrapper" | "joblib.numpy_pickle_compat.ZNDArrayWrapper" => {
            Some(true)
        }
        _ => None,
    }
}

/// Every companion-file array named by the pickle run by `m`, in creation order. Only wrappers
/// that got a BUILD count (joblib reads the file when the BUILD completes); their attributes
/// come from the BUILD state (a dict, or a `(dict, slots)` pair), and for `NDArrayWrapper(...)`
/// called with arguments (REDUCE, INST, OBJ run `__init__`), from those.
pub fn companions(m: &Machine) -> Vec<Result<Companion, JoblibError>> {
    let mut found = Vec::new();
    for (id, node) in m.nodes.iter().enumerate() {
        let Node::Obj(obj) = node else { continue };
        let Some(zipped) = m.global_name(obj.callee).as_deref().and_then(wrapper_kind) else {
            continue;
        };
        if obj.state.is_none() {
            continue;
        }
        found.push((id as NodeId, zipped));
    }
    let wanted: HashSet<NodeId> = found.iter().map(|&(id, _)| id).collect();
    let paths = paths_of(m, &wanted);
    found
        .into_iter()
        .map(|(node, zipped)| {
            let path = paths.get(&node).cloned();
            companion(m, node, zipped)
                .map(|mut c| {
                    c.path = path.clone();
                    c
                })
                .map_err(|message| JoblibError {
                    path,
                    node,
                    message,
                })
        })
        .collect()
}

fn companion(m: &Machine, node: NodeId, zipped: bool) -> Result<Companion, String> {
    let Node::Obj(obj) = &*m.node(node) else {
        return Err("wrapper is not an object".into());
    };
    // Attributes: __init__ arguments first, then what BUILD sets.
    let mut attrs: HashMap<&str, NodeId> = HashMap::new();
    use mlsec_pickle::CallKind;
    if matches!(obj.kind, CallKind::Reduce | CallKind::Inst | CallKind::Obj) {
        let names: &[&str] = if zipped {
            &["filename", "init_args", "state"]
        } else {
            &["filename", "subclass", "allow_mmap"]
        };
        for (name, &v) in names.iter().zip(m.seq_of(obj.args).unwrap_or(&[])) {
            attrs.insert(name, v);
        }
    }
    let mut dicts = Vec::new();
    if let Some(state) = obj.state {
        match &*m.node(state) {
            Node::Dict(_) => dicts.push(state),
            Node::Tuple(parts) => dicts.extend(parts.iter().copied()),
            _ => return Err("wrapper state is not a dict".into()),
        }
    }
    for d in dicts {
        if let Node::Dict(pairs) = &*m.node(d) {
            for &(k, v) in pairs {
                if let Some(k) = m.str_of(k) {
                    attrs.insert(k, v);
                }
            }
        }
    }
    let file = attrs
        .get("filename")
        .and_then(|&f| m.str_of(f))
        .ok_or("wrapper has no file name (a str)")?
        .to_owned();
    let kind = if zipped {
        let state = attrs
            .get("state")
            .and_then(|&s| m.seq_of(s))
            .ok_or("ZNDArrayWrapper state is not a tuple")?;
        // ndarray.__reduce__ state without its data: (version, shape, dtype, is_fortran).
        let [_, shape, dtype, fortran] = state else {
            return Err(format!(
                "ZNDArrayWrapper state has {} items, not 4",
                state.len()
            ));
        };
        let shape = m
            .seq_of(*shape)
            .ok_or("shape is not a tuple")?
            .iter()
            .map(|&d| m.int_of(d).and_then(|d| u64::try_from(d).ok()))
            .collect::<Option<Vec<u64>>>()
            .ok_or("shape holds a value that is not a non-negative integer")?;
        let descr = numpy_descr(m, *dtype)?;
        let body = if crate::npy::is_object_code(&descr) {
            Body::Object
        } else {
            match DType::from_numpy(&descr) {
                Some((dtype, big_endian)) => Body::Raw { dtype, big_endian },
                None => Body::Unsupported,
            }
        };
        CompanionKind::Zfile {
            descr,
            body,
            shape,
            fortran_order: m.int_of(*fortran).is_some_and(|f| f != 0),
        }
    } else {
        CompanionKind::Npy
    };
    Ok(Companion {
        path: None,
        node,
        file,
        kind,
        offset: obj.offset,
    })
}

/// Checks a companion file name from a pickle: joblib wrote `os.path.basename(...)`, so a
/// name with a directory part, `..`, an absolute path or a NUL is not one joblib wrote; the
/// loader would still join it to the directory and open whatever it names.
pub fn companion_name(name: &str) -> Result<&str, &'static str> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("is not a file name");
    }
    // A backslash or drive letter is a path on Windows, where joblib also runs.
    if name.contains(['\\', '\0']) || name.as_bytes().get(1) == Some(&b':') {
        return Err("is not a plain file name");
    }
    if name.starts_with('/') {
        return Err("is an absolute path, outside the directory of the file");
    }
    if name.split('/').any(|c| c == "..") {
        return Err("leads out of the directory of the file (`..`)");
    }
    if name.contains('/') {
        return Err("is in a subdirectory, which joblib never writes");
    }
    Ok(name)
}

/// Why a companion file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("companion file `{name}` {message}")]
pub struct CompanionError {
    pub name: String,
    pub message: String,
}

/// Opens the companion `name` (from the pickle) of a file in `dir`: the name must pass
/// [`companion_name`], and the file it resolves to (symlinks followed) must lie in `dir`
/// itself. Returns its canonical path and bytes.
pub fn open_companion(
    dir: &std::path::Path,
    name: &str,
) -> Result<(std::path::PathBuf, crate::sniff::FileBytes), CompanionError> {
    let fail = |message: String| CompanionError {
        name: name.to_owned(),
        message,
    };
    companion_name(name).map_err(|m| fail(m.to_owned()))?;
    let canon_dir = std::fs::canonicalize(dir).map_err(|e| {
        fail(format!(
            "cannot be looked up: the directory cannot be read: {e}"
        ))
    })?;
    let path = dir.join(name);
    let canon = match std::fs::canonicalize(&path) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail("is missing".into()));
        }
        Err(e) => return Err(fail(format!("cannot be read: {e}"))),
    };
    if canon.parent() != Some(canon_dir.as_path()) {
        return Err(fail(format!(
            "resolves to {}, outside the directory of the file (a symlink)",
            canon.display()
        )));
    }
    if !canon.is_file() {
        return Err(fail("is not a regular file".into()));
    }
    let bytes =
        crate::sniff::read_file(&canon).map_err(|e| fail(format!("cannot be read: {e}")))?;
    Ok((canon, bytes))
}

/// The name joblib < 0.10 gives the companion files of `file` (`file_01.npy`, `file_02.npy.z`,
/// ...): a file whose name has this shape next to a file named `file` is read through it.
pub fn companion_of(name: &str) -> Option<&str> {
    let stem = name
        .strip_suffix(".npy.z")
        .or_else(|| name.strip_suffix(".npy"))?;
    let (main, n) = stem.rsplit_once('_')?;
    (!main.is_empty() && n.len() >= 2 && n.bytes().all(|b| b.is_ascii_digit())).then_some(main)
}

/// The compressor `joblib.dump(..., compress=...)` wrapped the pickle in, by its prefix
/// (joblib's `compressor.py`, `_detect_compressor`): `zlib`, `gzip`, `bz2`, `xz`, `lzma`,
/// `lz4`, or `zfile` (joblib < 0.9.3). `None` for an uncompressed file. This is joblib's own
/// test, which text starting with `x` or `BZ` also passes: [`sniff_compression`] is stricter.
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

/// [`compression`], when the head also checks out as that compressor's header (a zlib header
/// checksum, gzip's deflate method, bzip2's `BZh1`..`BZh9` and block magic, a complete .lzma
/// header, xz's full magic, a zfile's hex length), so that other files starting with the same
/// byte or two are not taken for compressed joblib dumps.
pub fn sniff_compression(data: &[u8]) -> Option<&'static str> {
    let c = compression(data)?;
    let ok = match c {
        "zlib" => {
            data.len() >= 2
                && data[0] & 0x0f == 8
                && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0
        }
        "gzip" => data.get(2) == Some(&8),
        "bz2" => {
            data.get(2) == Some(&b'h')
                && data.get(3).is_some_and(|l| (b'1'..=b'9').contains(l))
                && data.get(4..10).is_some_and(|m| {
                    m == b"\x31\x41\x59\x26\x53\x59" || m == b"\x17\x72\x45\x38\x50\x90"
                })
        }
        "xz" => data.get(5) == Some(&0),
        "lzma" => data.len() >= 13,
        "zfile" => zfile_header(data).is_some(),
        _ => true,
    };
    ok.then_some(c)
}

/// What kind of failure stopped an expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The input ends inside a stream.
    Truncated,
    /// The decoded data would exceed the limit (a decompression bomb, or a limit set too low),
    /// or an .xz/.lzma stream asks for a dictionary larger than the decoder may allocate (then
    /// nothing may have been decoded yet; the message says "memory").
    Limit,
    /// The stream is malformed (bad header, checksum, code).
    Invalid,
    /// Not a compressed joblib file.
    Unsupported,
}

/// Why a compressed joblib file could not be expanded (in full).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("joblib {compression} compression: {message}")]
pub struct DecompressError {
    pub compression: &'static str,
    pub kind: Failure,
    pub message: String,
}

/// A compressed joblib file, expanded as far as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    pub compression: &'static str,
    /// The decoded bytes: all of them when `error` is `None`, else those decoded before the
    /// error (never more than the limit). Scan them either way: joblib's reader hands the
    /// unpickler every byte it decoded before it hits a damaged or truncated part, so a
    /// payload there runs.
    pub data: Vec<u8>,
    /// Concatenated streams decoded (gzip members, bz2/xz/lzma streams, LZ4 frames): the
    /// Python file objects joblib reads through go on from one to the next.
    pub streams: usize,
    pub error: Option<DecompressError>,
}

/// Expands a compressed joblib file (the pickle stream and its arrays), as joblib 1.6's
/// readers do, into at most `limit` bytes:
///
/// - `zlib`: one zlib stream (joblib's `BinaryZlibFile`); bytes after it are never read.
/// - `gzip`: every member in turn, NUL padding between members skipped, CRC-32 and size
///   checked (`gzip.GzipFile`); anything else after a member is an error, as in Python.
/// - `bz2`: every stream in turn (`bz2.BZ2File`); trailing bytes that do not start a stream
///   are ignored, as Python ignores them.
/// - `lzma`, `xz`: every stream in turn, each an .xz or a .lzma ("alone") stream by its own
///   magic (`lzma.LZMAFile` with `FORMAT_AUTO`, which joblib uses for both); trailing bytes
///   that do not start a stream are ignored.
/// - `lz4`: every LZ4 frame in turn (python-lz4's `LZ4FrameFile`); trailing garbage is an
///   error.
/// - `zfile` (joblib < 0.9.3): `ZF`, the length as hex, one zlib stream of that length.
///
/// Dictionaries are bounded too: an .xz/.lzma stream may not ask for more dictionary memory
/// than `max(limit, 64 MiB)` (64 MiB is `xz -9`'s dictionary).
pub fn expand(data: &[u8], limit: usize) -> Expanded {
    let compression = compression(data).unwrap_or("none");
    let mut out = Capped::new(limit);
    let mut streams = 0;
    let result = match compression {
        "zlib" => inflate(data, true, &mut out).map(|_| streams = 1),
        "gzip" => gzip(data, &mut out, &mut streams),
        "zfile" => zfile(data, &mut out).map(|_| streams = 1),
        "bz2" => each_stream(data, &mut out, &mut streams, true, bz2_stream),
        "xz" | "lzma" => each_stream(data, &mut out, &mut streams, true, |d, o| {
            if d.starts_with(b"\xfd7zXZ\0") {
                xz_stream(d, o)
            } else {
                lzma_stream(d, o)
            }
        }),
        "lz4" => lz4_frames(data, &mut out, &mut streams),
        _ => Err((
            Failure::Unsupported,
            "not a compressed joblib file (no known compressor prefix)".into(),
        )),
    };
    Expanded {
        compression,
        data: out.buf,
        streams,
        error: result.err().map(|(kind, message)| DecompressError {
            compression,
            kind,
            message,
        }),
    }
}

/// [`expand`], all or nothing.
pub fn decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let e = expand(data, limit);
    match e.error {
        Some(err) => Err(err),
        None => Ok(e.data),
    }
}

/// The declared length and the start of the zlib data of a zfile (joblib < 0.9.3,
/// `numpy_pickle_compat.read_zfile`): `ZF`, then 19 bytes (`len(hex(2**64))`) that Python's
/// `int(s, 16)` reads (the length as `0x…`, padded with spaces), then one more space that
/// Python 2 writers of joblib ≤ 0.8.4 put there, skipped when present.
pub fn zfile_header(data: &[u8]) -> Option<(u64, usize)> {
    const MAX_LEN: usize = 19;
    let field = std::str::from_utf8(data.get(2..2 + MAX_LEN)?).ok()?;
    let t = field.trim_matches(|c: char| c.is_ascii_whitespace());
    let t = t.strip_prefix('+').unwrap_or(t);
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    // `int()` allows single underscores between digits.
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let digits: String = t.chars().filter(|&c| c != '_').collect();
    let len = u64::from_str_radix(&digits, 16).ok()?;
    let start = 2 + MAX_LEN + usize::from(data.get(2 + MAX_LEN) == Some(&b' '));
    Some((len, start))
}

type StreamResult = Result<usize, (Failure, String)>;

/// An output buffer that never grows past `limit` bytes.
struct Capped {
    buf: Vec<u8>,
    limit: usize,
}

impl Capped {
    fn new(limit: usize) -> Capped {
        Capped {
            buf: Vec::new(),
            limit,
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), (Failure, String)> {
        let room = self.limit - self.buf.len();
        if bytes.len() > room {
            self.extend(&bytes[..room]);
            return Err((
                Failure::Limit,
                format!(
                    "expands to more than the limit of {} bytes (a decompression bomb?); the first {} bytes are read",
                    self.limit, self.limit
                ),
            ));
        }
        self.extend(bytes);
        Ok(())
    }

    fn extend(&mut self, bytes: &[u8]) {
        let need = self.buf.len() + bytes.len();
        if need > self.buf.capacity() {
            // Doubling, but never reserving past the limit.
            let cap = need.max(self.buf.capacity() * 2).min(self.limit).max(need);
            self.buf.reserve_exact(cap - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }
}

const CHUNK: usize = 64 << 10;

/// One zlib (`zlib`) or raw deflate stream; the input bytes it took.
fn inflate(data: &[u8], zlib: bool, out: &mut Capped) -> StreamResult {
    use miniz_oxide::inflate::stream::{InflateState, inflate};
    use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};
    let format = if zlib {
        DataFormat::Zlib
    } else {
        DataFormat::Raw
    };
    let mut state = InflateState::new_boxed(format);
    let mut chunk = vec![0u8; CHUNK];
    let mut pos = 0;
    loop {
        let r = inflate(&mut state, &data[pos..], &mut chunk, MZFlush::None);
        pos += r.bytes_consumed;
        out.push(&chunk[..r.bytes_written])?;
        match r.status {
            Ok(MZStatus::StreamEnd) => return Ok(pos),
            Ok(_) if r.bytes_consumed > 0 || r.bytes_written > 0 => {}
            Ok(_) | Err(MZError::Buf) if pos >= data.len() => {
                return Err((
                    Failure::Truncated,
                    "the data ends inside the deflate stream (truncated)".into(),
                ));
            }
            Ok(_) | Err(_) => {
                return Err((
                    Failure::Invalid,
                    format!("invalid deflate data near input byte {pos}"),
                ));
            }
        }
    }
}

fn gzip(data: &[u8], out: &mut Capped, streams: &mut usize) -> Result<(), (Failure, String)> {
    let mut pos = 0;
    loop {
        let member = &data[pos..];
        let Some(body) = mlsec_util::gzip::body(member) else {
            let kind = if member.len() < 10
                && b"\x1f\x8b\x08".starts_with(&member[..member.len().min(3)])
            {
                Failure::Truncated
            } else {
                Failure::Invalid
            };
            let what = if *streams == 0 {
                "truncated or invalid gzip header".to_owned()
            } else {
                format!("bytes after gzip member {} are not a gzip member", *streams)
            };
            return Err((kind, what));
        };
        let header = member.len() - body.len();
        let before = out.buf.len();
        let used = inflate(body, false, out)?;
        let trailer = body.get(used..used + 8).ok_or((
            Failure::Truncated,
            "the gzip trailer is truncated".to_owned(),
        ))?;
        let crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
        let size = u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes"));
        let got = &out.buf[before..];
        if crc32fast::hash(got) != crc || got.len() as u32 != size {
            return Err((
                Failure::Invalid,
                format!(
                    "gzip member {} fails its CRC-32 or size check",
                    *streams + 1
                ),
            ));
        }
        *streams += 1;
        pos += header + used + 8;
        // Python's gzip skips NUL padding between members.
        while data.get(pos) == Some(&0) {
            pos += 1;
        }
        if pos >= data.len() {
            return Ok(());
        }
    }
}

/// Decodes `one` stream after another until the input is used up. When a stream after the
/// first fails before it decoded anything and `ignore_trailing` is set, the bytes are
/// ignored, as Python's `DecompressReader` ignores trailing data that does not decode.
fn each_stream(
    data: &[u8],
    out: &mut Capped,
    streams: &mut usize,
    ignore_trailing: bool,
    one: impl Fn(&[u8], &mut Capped) -> StreamResult,
) -> Result<(), (Failure, String)> {
    let mut pos = 0;
    while pos < data.len() {
        let before = out.buf.len();
        match one(&data[pos..], out) {
            Ok(used) => {
                *streams += 1;
                pos += used.max(1);
            }
            Err((kind, _))
                if *streams > 0
                    && ignore_trailing
                    && out.buf.len() == before
                    && kind != Failure::Limit =>
            {
                return Ok(());
            }
            Err((kind, message)) if *streams > 0 => {
                return Err((kind, format!("stream {}: {message}", *streams + 1)));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn bz2_stream(data: &[u8], out: &mut Capped) -> StreamResult {
    let mut d = bzip2::Decompress::new(false);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let in_before = d.total_in();
        let out_before = d.total_out();
        let pos = usize::try_from(in_before)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let status = d
            .decompress(&data[pos..], &mut chunk)
            .map_err(|e| (Failure::Invalid, format!("invalid bzip2 data: {e}")))?;
        let written = (d.total_out() - out_before) as usize;
        out.push(&chunk[..written])?;
        match status {
            bzip2::Status::StreamEnd => return Ok(d.total_in() as usize),
            _ if d.total_in() == in_before && written == 0 => {
                return Err((
                    Failure::Truncated,
                    "the data ends inside the bzip2 stream (truncated)".into(),
                ));
            }
            _ => {}
        }
    }
}

/// Dictionary memory an .xz/.lzma stream may ask for, in KiB.
fn dict_limit_kb(limit: usize) -> u32 {
    u32::try_from(limit.max(64 << 20) / 1024).unwrap_or(u32::MAX - 1)
}

fn lzma_err(e: impl std::fmt::Display, what: &str) -> (Failure, String) {
    let m = e.to_string();
    let kind = if m.contains("memory") {
        Failure::Limit
    } else {
        Failure::Invalid
    };
    (kind, format!("invalid {what} data: {m}"))
}

fn lzma_stream(data: &[u8], out: &mut Capped) -> StreamResult {
    let mut s = lzma_rust2::LzmaStream::new_mem_limit(dict_limit_kb(out.limit), None);
    drive_lzma(data, out, ".lzma", |input, chunk, action| {
        let r = s.process(input, chunk, action);
        r.map(|r| {
            let end = r.status == lzma_rust2::Status::StreamEnd;
            // The .lzma decoder may read past its end mark: give those bytes back.
            let unused = if end { s.unused_input().len() } else { 0 };
            (r.bytes_consumed, r.bytes_produced, end, unused)
        })
    })
}

fn xz_stream(data: &[u8], out: &mut Capped) -> StreamResult {
    let mut s = lzma_rust2::XzStream::new_mem_limit(false, dict_limit_kb(out.limit));
    drive_lzma(data, out, ".xz", |input, chunk, action| {
        s.process(input, chunk, action).map(|r| {
            let end = r.status == lzma_rust2::Status::StreamEnd;
            (r.bytes_consumed, r.bytes_produced, end, 0)
        })
    })
}

/// Feeds one lzma-rust2 stream (`step`: one `process` call, giving bytes consumed, bytes
/// produced, whether the stream ended, and input it read but did not use) with `data` in
/// chunks, into `out`; returns the stream's length in `data`.
fn drive_lzma<E: std::fmt::Display>(
    data: &[u8],
    out: &mut Capped,
    what: &str,
    mut step: impl FnMut(&[u8], &mut [u8], lzma_rust2::Action) -> Result<(usize, usize, bool, usize), E>,
) -> StreamResult {
    use lzma_rust2::Action;
    let mut chunk = vec![0u8; CHUNK];
    let mut pos = 0;
    loop {
        let action = if pos >= data.len() {
            Action::Finish
        } else {
            Action::Run
        };
        let (consumed, produced, end, unused) =
            step(&data[pos..data.len().min(pos + CHUNK)], &mut chunk, action).map_err(
                |e| match pos >= data.len() {
                    true => (
                        Failure::Truncated,
                        format!("the data ends inside the {what} stream (truncated): {e}"),
                    ),
                    false => lzma_err(e, what),
                },
            )?;
        pos += consumed;
        out.push(&chunk[..produced])?;
        if end {
            return Ok(pos - unused);
        }
        if consumed == 0 && produced == 0 && action == Action::Finish {
            return Err((
                Failure::Truncated,
                format!("the data ends inside the {what} stream (truncated)"),
            ));
        }
    }
}

/// The length of the LZ4 frame (or skippable frame) at the start of `d`, walked block by
/// block without decoding: `Truncated` when the data ends before its end mark (and content
/// checksum). `lz4_flex`'s reader takes a frame cut at some block boundaries for a complete
/// one, so frames are measured first and decoded one by one.
fn lz4_frame_len(d: &[u8]) -> Result<usize, (Failure, String)> {
    let truncated = || {
        (
            Failure::Truncated,
            "the data ends inside an LZ4 frame (truncated)".to_owned(),
        )
    };
    let u32_at = |p: usize| -> Result<u32, (Failure, String)> {
        let b = d.get(p..p + 4).ok_or_else(truncated)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    let skip = |p: usize, n: u64| -> Result<usize, (Failure, String)> {
        let end = (p as u64).checked_add(n).filter(|&e| e <= d.len() as u64);
        end.map(|e| e as usize).ok_or_else(truncated)
    };
    let magic = u32_at(0)?;
    if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
        return skip(8, u64::from(u32_at(4)?));
    }
    if magic != 0x184D_2204 {
        return Err((
            Failure::Invalid,
            format!("not an LZ4 frame (magic {magic:#010x})"),
        ));
    }
    let flg = *d.get(4).ok_or_else(truncated)?;
    let mut p = 6 + if flg & 0x08 != 0 { 8 } else { 0 } + if flg & 0x01 != 0 { 4 } else { 0 } + 1;
    if p > d.len() {
        return Err(truncated());
    }
    loop {
        let size = u32_at(p)?;
        p += 4;
        if size == 0 {
            break;
        }
        p = skip(
            p,
            u64::from(size & 0x7FFF_FFFF) + if flg & 0x10 != 0 { 4 } else { 0 },
        )?;
    }
    if flg & 0x04 != 0 {
        p = skip(p, 4)?;
    }
    Ok(p)
}

/// Every LZ4 frame in turn (python-lz4 reads on after a frame ends).
fn lz4_frames(data: &[u8], out: &mut Capped, streams: &mut usize) -> Result<(), (Failure, String)> {
    use std::io::Read;
    let mut rest = data;
    let mut chunk = vec![0u8; CHUNK];
    while !rest.is_empty() {
        let frame = if *streams == 0 {
            String::new()
        } else {
            format!("frame {}: ", *streams + 1)
        };
        let measured = lz4_frame_len(rest).map_err(|(k, m)| (k, format!("{frame}{m}")));
        // A truncated frame is still decoded as far as it goes (the loader reads those bytes).
        let len = match &measured {
            Err((Failure::Truncated, _)) => rest.len(),
            Err(e) => return Err(e.clone()),
            Ok(len) => *len,
        };
        let mut d = lz4_flex::frame::FrameDecoder::new(&rest[..len]);
        loop {
            match d.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => out.push(&chunk[..n])?,
                Err(_) if measured.is_err() => break,
                Err(e) => {
                    return Err((Failure::Invalid, format!("{frame}invalid LZ4 frame: {e}")));
                }
            }
        }
        measured?;
        rest = &rest[len..];
        *streams += 1;
    }
    Ok(())
}

fn zfile(data: &[u8], out: &mut Capped) -> Result<(), (Failure, String)> {
    let (declared, start) = zfile_header(data).ok_or((
        Failure::Invalid,
        "the zfile header has no hexadecimal length".to_owned(),
    ))?;
    if declared > out.limit as u64 {
        return Err((
            Failure::Limit,
            format!(
                "the zfile declares {declared} bytes, more than the limit of {} bytes",
                out.limit
            ),
        ));
    }
    inflate(&data[start..], true, out)?;
    if out.buf.len() as u64 != declared {
        return Err((
            Failure::Invalid,
            format!(
                "the zfile declares {declared} bytes and holds {}",
                out.buf.len()
            ),
        ));
    }
    Ok(())
}
