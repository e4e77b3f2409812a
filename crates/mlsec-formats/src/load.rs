//! Every tensor of a model file, whatever its container, for readers that want the weights
//! rather than a security verdict (`mlsec inspect`). `mlsec checkpoint` walks the same
//! containers with its own traversal, because it audits every pickle and member on the way;
//! both cut tensors with [`cut`] and read the layouts with the same functions, and both take
//! HDF5 datasets from [`hdf5_tensors`] and joblib arrays from [`joblib_tensors`].
//!
//! Pickles are emulated to find tensor records, never loaded: no code runs. A file's pickles
//! are not judged here; run `mlsec checkpoint` for that.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use crate::dtype::DType;
use crate::sniff::{Format, sniff};
use crate::torch::{TensorRef, collect_tensors, is_legacy_magic};
use crate::zip::{ZipArchive, ZipEntry, ZipLimits};
use crate::{gguf, hdf5, joblib, legacy, npy, safetensors, tar};
use mlsec_pickle::Machine;

/// A tensor's bytes (little-endian, C-contiguous). Borrowed from the file's bytes where they
/// lie there as they are (stored members, safetensors, legacy storages), so a visitor can keep
/// views and work on them after [`visit`] returns.
pub struct TensorView<'a> {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub bytes: Cow<'a, [u8]>,
    /// Offset of the tensor's definition (rebuild call, header, data) in the file.
    pub offset: u64,
    /// Storage key and element offset, for tied weights.
    pub storage: Option<(String, u64)>,
}

/// Why a tensor cannot be cut from its storage.
#[derive(Debug, Clone, PartialEq)]
pub enum ViewError {
    /// The view reaches outside the storage (`end` is `None` when its extent overflows).
    OutOfBounds { have: u64, end: Option<u64> },
    /// A strided view far larger than its storage: not materialised.
    TooLarge { numel: u64 },
}

/// Cuts a tensor's view from its storage's bytes: borrowed when contiguous, gathered when
/// strided. Bounds are checked against both the storage's real size and its declared size.
pub fn cut<'s>(t: &TensorRef, storage: &'s [u8]) -> Result<Cow<'s, [u8]>, ViewError> {
    let size = t.dtype.size() as u64;
    let have = storage.len() as u64 / size;
    let end = t.storage_end();
    if have < t.storage_numel || end.is_none_or(|e| e > have) {
        return Err(ViewError::OutOfBounds { have, end });
    }
    let numel = t.numel();
    if t.is_contiguous() {
        let s = (t.storage_offset * size) as usize;
        return Ok(Cow::Borrowed(&storage[s..s + (numel * size) as usize]));
    }
    // A strided view may repeat elements (stride 0), but not unboundedly.
    if numel > have.saturating_mul(4) + 4096 {
        return Err(ViewError::TooLarge { numel });
    }
    Ok(Cow::Owned(gather(t, storage)))
}

/// Copies a strided view (already bounds-checked) into a contiguous buffer.
fn gather(t: &TensorRef, storage: &[u8]) -> Vec<u8> {
    let size = t.dtype.size();
    let numel = t.numel() as usize;
    let mut out = Vec::with_capacity(numel * size);
    let mut idx = vec![0u64; t.shape.len()];
    for _ in 0..numel {
        let e = t.storage_offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<u64>();
        let s = e as usize * size;
        out.extend_from_slice(&storage[s..s + size]);
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < t.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Reverses the bytes of every `size`-byte element (big-endian data to little-endian).
pub fn swap_bytes(bytes: &[u8], size: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    if size > 1 {
        for c in v.chunks_exact_mut(size) {
            c.reverse();
        }
    }
    v
}

/// A storage's bytes and its offset in the file.
type Storage<'s> = (Cow<'s, [u8]>, u64);

/// Where a PyTorch zip keeps things: `<prefix>data.pkl`, `<prefix>data/<key>`.
pub struct TorchLayout<'z> {
    pub prefix: String,
    pub pickle: &'z ZipEntry,
    /// `constants.pkl` or `code/` next to `data.pkl`.
    pub torchscript: bool,
    /// The `byteorder` member, which says `big` on big-endian writers.
    pub byteorder: Option<&'z ZipEntry>,
}

/// The PyTorch layout of a zip: `<archive>/data.pkl`, where `<archive>` is the folder of the
/// first central-directory entry (as `PyTorchStreamReader` decides it), else the shallowest
/// `data.pkl` and its prefix.
pub fn torch_layout<'z>(z: &'z ZipArchive<'_>) -> Option<TorchLayout<'z>> {
    let first = z
        .entries
        .first()
        .and_then(|e| e.name.split_once('/'))
        .map(|(archive, _)| format!("{archive}/data.pkl"));
    let pickle = first
        .and_then(|p| z.entries.iter().find(|e| e.name == p))
        .or_else(|| {
            z.entries
                .iter()
                .filter(|e| e.name == "data.pkl" || e.name.ends_with("/data.pkl"))
                .min_by_key(|e| e.name.matches('/').count())
        })?;
    let prefix = pickle.name[..pickle.name.len() - "data.pkl".len()].to_owned();
    let torchscript = z.entries.iter().any(|e| {
        e.name == format!("{prefix}constants.pkl") || e.name.starts_with(&format!("{prefix}code/"))
    });
    let byteorder = z
        .entries
        .iter()
        .find(|e| e.name == format!("{prefix}byteorder"));
    Some(TorchLayout {
        prefix,
        pickle,
        torchscript,
        byteorder,
    })
}

/// Every tensor of a parsed GGUF file that has a plain element type (F32, F16, BF16, F64,
/// integers) as a view of its data (byte-swapped in a big-endian file), in header order, in
/// numpy's shape order. Tensors whose data range is not inside the file are skipped (the
/// parser reports them as anomalies). Returns how many quantized tensors of each ggml type
/// were not decoded. Shared by `mlsec checkpoint` and [`visit`].
pub fn gguf_tensors<'d>(
    data: &'d [u8],
    g: &gguf::Gguf,
    visit: &mut dyn FnMut(TensorView<'d>),
) -> BTreeMap<String, usize> {
    let mut quantized: BTreeMap<String, usize> = BTreeMap::new();
    for t in &g.tensors {
        let Some(range) = g.data_range(t, data.len() as u64) else {
            continue;
        };
        let Some(dtype) = t.ggml_type.dtype() else {
            *quantized.entry(t.ggml_type.name()).or_default() += 1;
            continue;
        };
        let offset = range.start as u64;
        let body = &data[range];
        let bytes: Cow<'d, [u8]> = if g.big_endian {
            Cow::Owned(swap_bytes(body, dtype.size()))
        } else {
            Cow::Borrowed(body)
        };
        visit(TensorView {
            name: t.name.clone(),
            dtype,
            shape: t.shape(),
            bytes,
            offset,
            storage: None,
        });
    }
    quantized
}

/// Something that kept tensors from being read, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub message: String,
    pub offset: Option<u64>,
}

/// What [`visit`] found besides the tensors.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The container, as `mlsec checkpoint` names it (`torch-zip`, `safetensors`, ...).
    pub format: String,
    /// Tensors handed to the visitor.
    pub tensors: usize,
    /// Every part that could not be read. Never empty when a file yields no tensor for a
    /// reason other than holding none.
    pub problems: Vec<Problem>,
}

impl Loaded {
    fn problem(&mut self, message: impl Into<String>, offset: Option<u64>) {
        self.problems.push(Problem {
            message: message.into(),
            offset,
        });
    }
}

/// Hands every tensor of the file's bytes to `visit`, whatever the container (sniffed by
/// content). Bounded by the file: zip members under `limits`, strided views capped.
pub fn visit<'d>(
    data: &'d [u8],
    limits: ZipLimits,
    visit: &mut dyn FnMut(TensorView<'d>),
) -> Loaded {
    let mut l = Loader {
        limits,
        out: Loaded::default(),
        visit,
    };
    let format = sniff(data);
    l.out.format = format.name().to_owned();
    match format {
        Format::Safetensors => l.safetensors(data),
        Format::Npy => l.npy(Cow::Borrowed(data), "array", 0),
        Format::Zip => l.zip(data),
        Format::Pickle => l.pickle(data),
        Format::Tar => l.tar(data),
        Format::Onnx => l.out.problem(
            "ONNX model: its initializers are read by the ONNX decoder, not this reader",
            None,
        ),
        Format::Hdf5 => {
            if is_keras_h5(data) {
                l.out.format = "keras-h5".into();
            }
            l.hdf5(Cow::Borrowed(data), "", 0);
        }
        Format::Gguf => l.gguf(data),
        Format::Unknown => match joblib_compression(data) {
            Some(c) => l.compressed_joblib(data, c),
            None => l.out.problem(
                "unrecognised file format: not a model file this tool reads",
                None,
            ),
        },
    }
    l.out
}

/// Whether an HDF5 file is a Keras model (`model_config` or `training_config` root
/// attribute), as `mlsec checkpoint` names it.
pub fn is_keras_h5(data: &[u8]) -> bool {
    hdf5::root_group(data).is_ok_and(|r| {
        r.attributes
            .iter()
            .any(|a| a.name == "model_config" || a.name == "training_config")
    })
}

/// The HDF5 limits that go with the zip limits: one dataset decodes to at most the largest
/// zip member.
pub fn hdf5_limits(limits: ZipLimits) -> hdf5::Limits {
    hdf5::Limits {
        max_dataset_bytes: limits.max_member_size,
        ..hdf5::Limits::default()
    }
}

/// Every numeric dataset of the HDF5 file in `data` as a tensor named by its path without the
/// leading `/` (as h5py's `visititems` and Keras name it: `model_weights/dense/dense/kernel:0`),
/// at the offset of its object header; every numeric field of a compound dataset (a PyTables
/// table, a numpy structured array) as its own tensor `path.field` (nested records
/// `path.outer.inner`, h5py's complex numbers `path.r` and `path.i`). Datasets reached through
/// several hard links are visited once. Everything that keeps data from being read is a
/// problem: a truncated file (shorter than its superblock's end-of-file address), every object
/// the walk could not read (unsupported filters and layouts included), every dataset that
/// could not be decoded (variable-length ones: with every global heap reference resolved), and
/// every external link (data in another file, not followed). Soft links are not problems: they
/// name objects of this file, which the walk reaches through their hard links. Data that is
/// read but holds no numbers (strings, opaque bytes, string fields of records) goes to `note`,
/// one note per dataset.
///
/// Datasets are decoded one at a time, in path order; the visitor decides what to keep.
pub fn hdf5_tensors<'d>(
    data: &'d [u8],
    limits: &hdf5::Limits,
    visit: &mut dyn FnMut(TensorView<'d>),
    problem: &mut dyn FnMut(Problem),
    note: &mut dyn FnMut(Problem),
) {
    let f = match hdf5::File::open(data) {
        Ok(f) => f,
        Err(e) => {
            return problem(Problem {
                message: e.to_string(),
                offset: Some(0),
            });
        }
    };
    if let Some(eof) = hdf5::end_of_file(data).filter(|&e| e > data.len() as u64) {
        problem(Problem {
            message: format!(
                "HDF5: the file is truncated: its superblock says it ends at byte {eof}, it has {} bytes",
                data.len()
            ),
            offset: Some(data.len() as u64),
        });
    }
    let w = f.walk(limits);
    for e in &w.errors {
        problem(Problem {
            message: format!("HDF5 object `{}`: {}: not read", e.path, e.error.0),
            offset: e.offset,
        });
    }
    for u in w.unfollowed.iter().filter(|u| u.kind == "external") {
        problem(Problem {
            message: format!(
                "HDF5 `{}` is an external link to `{}`: not followed, its data is not read",
                u.path, u.target
            ),
            offset: None,
        });
    }
    for info in &w.datasets {
        let bytes = match f.read(info, limits) {
            Ok(b) => b,
            Err(e) => {
                problem(Problem {
                    message: format!("HDF5 dataset `{}`: {}: not read", info.path, e.0),
                    offset: Some(info.offset),
                });
                continue;
            }
        };
        let name = info.path.strip_prefix('/').unwrap_or(&info.path);
        let skipped = |what: String| Problem {
            message: format!(
                "HDF5 dataset `{}`: {what}: no numbers, not checked",
                info.path
            ),
            offset: Some(info.offset),
        };
        match &info.element {
            hdf5::Element::Number => visit(TensorView {
                name: name.to_owned(),
                dtype: info.dtype,
                shape: info.shape.clone(),
                bytes,
                offset: info.offset,
                storage: None,
            }),
            hdf5::Element::Compound { size, fields } => {
                let mut other = Vec::new();
                for field in fields {
                    match (&field.kind, field.bytes(&bytes, *size)) {
                        (hdf5::FieldKind::Number { dtype, dims, .. }, Some(b)) => {
                            let mut shape = info.shape.clone();
                            shape.extend(dims);
                            visit(TensorView {
                                name: format!("{name}.{}", field.name),
                                dtype: *dtype,
                                shape,
                                bytes: Cow::Owned(b),
                                offset: info.offset,
                                storage: None,
                            });
                        }
                        (hdf5::FieldKind::Other(class), _) => {
                            other.push(format!("`{}` ({class})", field.name));
                        }
                        (hdf5::FieldKind::Number { .. }, None) => {
                            other.push(format!("`{}` (outside its record)", field.name))
                        }
                    }
                }
                if !other.is_empty() {
                    note(skipped(format!("record fields {}", other.join(", "))));
                }
            }
            hdf5::Element::Variable { strings, .. } => match f.variable(info, &bytes) {
                Ok(items) => note(skipped(format!(
                    "{} variable-length {}",
                    items.len(),
                    if *strings { "strings" } else { "sequences" }
                ))),
                Err(e) => problem(Problem {
                    message: format!("HDF5 dataset `{}`: {}: not read", info.path, e.0),
                    offset: Some(info.offset),
                }),
            },
            hdf5::Element::Other { class, .. } => note(skipped(format!(
                "{} {class} values",
                info.numel().unwrap_or(0)
            ))),
        }
    }
}

/// The compressor of a whole-file compressed joblib dump ([`joblib::sniff_compression`]):
/// the prefix joblib tests, and a head that checks out as that compressor's header, so that
/// text starting with `x` or `BZ` is not taken for one.
pub fn joblib_compression(data: &[u8]) -> Option<&'static str> {
    joblib::sniff_compression(data)
}

/// The format name of a compressed pickle, as both traversals name it: `joblib-<compressor>`
/// when the pickle is a joblib dump (it imports from joblib, e.g. its array wrappers) or a
/// zfile (only joblib writes those), else `pickle-<compressor>`: a plain pickle that was
/// compressed (`pickle.dump` into `bz2.open(...)`), which `joblib.load` also reads.
pub fn compressed_format(m: &Machine, compression: &str) -> String {
    let joblib = compression == "zfile"
        || !m.inline_nodes.is_empty()
        || m.imports
            .iter()
            .any(|i| i.module.split('.').next() == Some("joblib"));
    let kind = if joblib { "joblib" } else { "pickle" };
    format!("{kind}-{compression}")
}

/// The arrays of an old joblib file (joblib < 0.10) that live in companion files: each is a
/// problem for a reader that has only the file's bytes (`visit`). `mlsec checkpoint` reads
/// them from the file's directory.
pub fn joblib_companion_problems(m: &Machine) -> Vec<Problem> {
    joblib::companions(m)
        .into_iter()
        .map(|c| match c {
            Ok(c) => Problem {
                message: format!(
                    "joblib array {}: stored in the companion file `{}` (joblib < 0.10 format), which this reader does not open: not read",
                    c.path.as_deref().filter(|p| !p.is_empty()).unwrap_or("(unreachable)"),
                    c.file
                ),
                offset: Some(c.offset),
            },
            Err(e) => Problem {
                message: e.to_string(),
                offset: None,
            },
        })
        .collect()
}

/// The numeric arrays of a joblib pickle run by `m` (`Machine::run_all`), named by their path
/// in the pickled object (`[0].coef_`, `nested[1].inner`), or `array#i` (the i-th array of the
/// file) when the path is unknown or empty, at the file offset of their elements. Arrays whose
/// description cannot be understood or whose bytes lie outside the buffer are problems. Object
/// arrays (nested pickles, which `mlsec checkpoint` audits) and arrays of a dtype that is not a
/// tensor type (strings, datetimes, records) are not numbers: they are returned, not visited.
pub fn joblib_tensors<'a>(
    m: &Machine<'a>,
    visit: &mut dyn FnMut(TensorView<'a>),
    problem: &mut dyn FnMut(Problem),
) -> Vec<Problem> {
    let mut skipped = Vec::new();
    for (i, a) in joblib::arrays(m).into_iter().enumerate() {
        let a = match a {
            Ok(a) => a,
            Err(e) => {
                problem(Problem {
                    message: e.to_string(),
                    offset: None,
                });
                continue;
            }
        };
        let name = a
            .path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| format!("array#{i}"));
        match a.body {
            joblib::Body::Raw { dtype, .. } => match a.elements(m) {
                Some(bytes) => visit(TensorView {
                    name,
                    dtype,
                    shape: a.shape.clone(),
                    bytes,
                    offset: a.data.start,
                    storage: None,
                }),
                None => problem(Problem {
                    message: format!("joblib array {name}: its data lies outside the file"),
                    offset: Some(a.data.start),
                }),
            },
            joblib::Body::Object => skipped.push(Problem {
                message: format!(
                    "joblib array {name}: object array (a pickle), not numbers: not read"
                ),
                offset: Some(a.data.start),
            }),
            joblib::Body::Unsupported => skipped.push(Problem {
                message: format!(
                    "joblib array {name}: dtype `{}` is not a tensor type: not read",
                    a.descr
                ),
                offset: Some(a.data.start),
            }),
        }
    }
    skipped
}

struct Loader<'d, 'v> {
    limits: ZipLimits,
    out: Loaded,
    visit: &'v mut dyn FnMut(TensorView<'d>),
}

/// A view of `bytes`, borrowed from the file when `bytes` is, else copied.
fn borrowed<'d>(bytes: &Cow<'d, [u8]>, range: std::ops::Range<usize>) -> Cow<'d, [u8]> {
    match bytes {
        Cow::Borrowed(b) => Cow::Borrowed(&b[range]),
        Cow::Owned(v) => Cow::Owned(v[range].to_vec()),
    }
}

impl<'d> Loader<'d, '_> {
    fn emit(&mut self, view: TensorView<'d>) {
        self.out.tensors += 1;
        (self.visit)(view);
    }

    /// GGUF: every plain tensor; a parse error, a tensor whose data is not in the file and
    /// quantized tensors (not decoded) are problems, since a fingerprint or a conversion
    /// without them is incomplete.
    fn gguf(&mut self, data: &'d [u8]) {
        let g = match gguf::parse(data) {
            Ok(g) => g,
            Err(e) => return self.out.problem(e.to_string(), Some(e.offset)),
        };
        for t in &g.tensors {
            if g.data_range(t, data.len() as u64).is_none() {
                self.out.problem(
                    format!(
                        "GGUF tensor `{}`: its data is not inside the file: not read",
                        t.name
                    ),
                    None,
                );
            }
        }
        let mut views = Vec::new();
        let quantized = gguf_tensors(data, &g, &mut |v| views.push(v));
        for v in views {
            self.emit(v);
        }
        if !quantized.is_empty() {
            let n: usize = quantized.values().sum();
            let kinds: Vec<String> = quantized.iter().map(|(k, v)| format!("{v} {k}")).collect();
            self.out.problem(
                format!(
                    "{n} quantized GGUF tensor(s) not decoded ({}): only F32, F16, BF16, F64 and integer tensors are read",
                    kinds.join(", ")
                ),
                None,
            );
        }
    }

    fn safetensors(&mut self, data: &'d [u8]) {
        let st = match safetensors::parse(data) {
            Ok(st) => st,
            Err(e) => return self.out.problem(e.to_string(), Some(0)),
        };
        for a in &st.anomalies {
            let what = if a.name.is_empty() {
                String::new()
            } else {
                format!("tensor `{}`: ", a.name)
            };
            self.out
                .problem(format!("safetensors header: {what}{}", a.message), Some(8));
        }
        for t in &st.tensors {
            let s = (st.data_start + t.begin) as usize;
            let e = (st.data_start + t.end) as usize;
            self.emit(TensorView {
                name: t.name.clone(),
                dtype: t.dtype,
                shape: t.shape.clone(),
                bytes: Cow::Borrowed(&data[s..e]),
                offset: s as u64,
                storage: None,
            });
        }
    }

    /// A `.npy` (a file, or an `.npz` member at `offset`).
    fn npy(&mut self, data: Cow<'d, [u8]>, name: &str, offset: u64) {
        let parsed = match npy::parse(&data) {
            Ok(p) => p,
            Err(e) => return self.out.problem(format!("{name}: {e}"), Some(offset)),
        };
        let body = borrowed(&data, parsed.data_offset..data.len());
        match parsed.body {
            npy::NpyBody::Object => self.out.problem(
                format!("{name}: object array (a pickle), not numbers: not read"),
                Some(offset),
            ),
            // Strings, dates, structured records: data, not weights.
            npy::NpyBody::Records { .. } => {}
            npy::NpyBody::Array { dtype, big_endian } => {
                let bytes = if big_endian {
                    Cow::Owned(swap_bytes(&body, dtype.size()))
                } else {
                    body
                };
                self.emit(TensorView {
                    name: name.strip_suffix(".npy").unwrap_or(name).to_owned(),
                    dtype,
                    shape: parsed.shape.clone(),
                    bytes,
                    offset: offset + parsed.data_offset as u64,
                    storage: None,
                });
            }
        }
    }

    fn zip(&mut self, data: &'d [u8]) {
        let z = match ZipArchive::parse(data, self.limits) {
            Ok(z) => z,
            Err(e) => return self.out.problem(e.to_string(), Some(0)),
        };
        if let Some(layout) = torch_layout(&z) {
            self.out.format = if layout.torchscript {
                "torchscript"
            } else {
                "torch-zip"
            }
            .into();
            return self.torch_zip(&z, &layout);
        }
        let mut found = false;
        let keras = z.entries.iter().any(|e| e.name == "config.json")
            && z.entries
                .iter()
                .any(|e| e.name == "model.weights.h5" || e.name == "metadata.json");
        for e in &z.entries {
            let bytes = match z.read(e) {
                Ok(m) => m.bytes,
                Err(err) => {
                    self.out.problem(err.to_string(), Some(e.local_offset));
                    continue;
                }
            };
            if bytes.starts_with(npy::MAGIC) {
                found = true;
                self.out.format = "npz".into();
                self.npy(bytes, &e.name, e.data_offset);
            } else if sniff(&bytes) == Format::Hdf5 {
                // Keras 3 `.keras`: `model.weights.h5`.
                found = true;
                let at = if e.method == 0 {
                    e.data_offset
                } else {
                    e.local_offset
                };
                self.hdf5(bytes, &format!("{}: ", e.name), at);
            }
        }
        if keras {
            self.out.format = "keras".into();
        }
        if !found {
            self.out.problem(
                "zip archive without PyTorch data.pkl, .npy or HDF5 members: no tensors read",
                None,
            );
        }
    }

    /// The datasets of an HDF5 file (or zip member, `what` naming it, at file offset `at`):
    /// views stay borrowed from the file when `data` is.
    fn hdf5(&mut self, data: Cow<'d, [u8]>, what: &str, at: u64) {
        let limits = hdf5_limits(self.limits);
        let mut problems = Vec::new();
        let stored = matches!(data, Cow::Borrowed(_));
        let offset = |o: u64| if stored { at + o } else { at };
        match data {
            Cow::Borrowed(d) => hdf5_tensors(
                d,
                &limits,
                &mut |v| {
                    let offset = offset(v.offset);
                    self.emit(TensorView { offset, ..v });
                },
                &mut |p| problems.push(p),
                // Data without numbers (strings) holds no tensors: nothing to report here.
                &mut |_| {},
            ),
            Cow::Owned(d) => hdf5_tensors(
                &d,
                &limits,
                &mut |v| {
                    self.emit(TensorView {
                        offset: offset(v.offset),
                        bytes: Cow::Owned(v.bytes.into_owned()),
                        name: v.name,
                        dtype: v.dtype,
                        shape: v.shape,
                        storage: v.storage,
                    });
                },
                &mut |p| problems.push(p),
                &mut |_| {},
            ),
        }
        for p in problems {
            self.out
                .problem(format!("{what}{}", p.message), p.offset.map(offset));
        }
    }

    /// The arrays of a joblib pickle run by `m`; `conv` turns their bytes into the file's
    /// lifetime (borrowed when `m` reads the file itself, copied when it reads a decompressed
    /// buffer, whose offsets are not file offsets: `in_file` false puts them at 0). Parse
    /// errors and arrays that are not numbers are problems.
    fn joblib<'p>(
        &mut self,
        m: &Machine<'p>,
        in_file: bool,
        conv: impl Fn(Cow<'p, [u8]>) -> Cow<'d, [u8]>,
    ) {
        let at = |o: u64| if in_file { o } else { 0 };
        self.out.format = "joblib".into();
        for s in &m.streams {
            if let Some(e) = &s.error {
                self.out.problem(
                    format!("cannot parse pickle: {}", e.message),
                    Some(at(e.offset)),
                );
            }
        }
        let mut problems = Vec::new();
        let mut skipped = joblib_tensors(
            m,
            &mut |v| {
                let bytes = conv(v.bytes);
                self.emit(TensorView {
                    name: v.name,
                    dtype: v.dtype,
                    shape: v.shape,
                    bytes,
                    offset: at(v.offset),
                    storage: v.storage,
                });
            },
            &mut |p| problems.push(p),
        );
        problems.append(&mut skipped);
        for p in &mut problems {
            p.offset = p.offset.map(at);
        }
        self.out.problems.extend(problems);
    }

    /// A whole-file compressed joblib dump (or compressed plain pickle): expanded under the
    /// zip member size limit, then read as a joblib pickle (offsets are in the expanded
    /// stream). A stream that fails part-way is a problem, and what it decoded is still read.
    fn compressed_joblib(&mut self, data: &[u8], compression: &str) {
        let limit = usize::try_from(self.limits.max_member_size).unwrap_or(usize::MAX);
        let expanded = joblib::expand(data, limit);
        self.out.format = format!("joblib-{compression}");
        if let Some(e) = &expanded.error {
            self.out.problem(e.to_string(), Some(0));
        }
        let raw = expanded.data;
        if !crate::sniff::looks_like_pickle(&raw) {
            if expanded.error.is_none() {
                self.out.problem(
                    format!("{compression}-compressed data is not a pickle: no tensors read"),
                    Some(0),
                );
            }
            return;
        }
        let mut m = crate::joblib::machine(&raw, 0);
        m.run_all();
        let companions = joblib_companion_problems(&m);
        if m.inline_nodes.is_empty() && companions.is_empty() {
            self.out.problem(
                "pickle without joblib arrays (not a joblib file): no tensors read",
                Some(0),
            );
        }
        self.joblib(&m, false, |b| Cow::Owned(b.into_owned()));
        for mut p in companions {
            p.offset = Some(0);
            self.out.problems.push(p);
        }
        self.out.format = compressed_format(&m, compression);
    }

    fn torch_zip(&mut self, z: &ZipArchive<'d>, layout: &TorchLayout<'_>) {
        let read = |e: &ZipEntry| z.read(e).map(|m| m.bytes);
        let pkl = match read(layout.pickle) {
            Ok(b) => b,
            Err(e) => {
                return self
                    .out
                    .problem(e.to_string(), Some(layout.pickle.local_offset));
            }
        };
        let big = layout
            .byteorder
            .and_then(|e| read(e).ok())
            .is_some_and(|b| b.as_ref() == b"big");
        let Some((m, root)) = self.run_pickle(&pkl, &layout.pickle.name) else {
            return;
        };
        let (tensors, problems) = collect_tensors(&m, root);
        for p in problems {
            self.out
                .problem(format!("tensor `{}`: {}", p.name, p.message), None);
        }
        let by_name: HashMap<&str, &ZipEntry> =
            z.entries.iter().map(|e| (e.name.as_str(), e)).collect();
        let mut storages: HashMap<&str, Option<Storage<'d>>> = HashMap::new();
        for t in &tensors {
            if storages.contains_key(t.storage_key.as_str()) {
                continue;
            }
            let member = format!("{}data/{}", layout.prefix, t.storage_key);
            let storage = match by_name.get(member.as_str()).map(|e| (read(e), e)) {
                None => {
                    self.out.problem(
                        format!("storage `{member}` of tensor `{}` is missing", t.name),
                        None,
                    );
                    None
                }
                Some((Err(err), e)) => {
                    self.out.problem(err.to_string(), Some(e.local_offset));
                    None
                }
                Some((Ok(b), e)) if big => {
                    Some((Cow::Owned(swap_bytes(&b, t.dtype.size())), e.data_offset))
                }
                Some((Ok(b), e)) => Some((b, e.data_offset)),
            };
            storages.insert(&t.storage_key, storage);
        }
        self.views(&tensors, |key| storages.get(key).and_then(|s| s.as_ref()));
    }

    /// Cuts every tensor from its storage; `storage(key)` gives its bytes and file offset.
    /// Views of a storage borrowed from the file stay borrowed; others are copied.
    fn views<'s>(
        &mut self,
        tensors: &[TensorRef],
        storage: impl Fn(&str) -> Option<&'s Storage<'d>>,
    ) where
        'd: 's,
    {
        for t in tensors {
            let Some((bytes, _)) = storage(&t.storage_key) else {
                continue; // already reported
            };
            let view = match bytes {
                Cow::Borrowed(b) => cut(t, b),
                Cow::Owned(v) => cut(t, v).map(|c| Cow::Owned(c.into_owned())),
            };
            match view {
                Ok(view) => self.emit(TensorView {
                    name: t.name.clone(),
                    dtype: t.dtype,
                    shape: t.shape.clone(),
                    bytes: view,
                    offset: t.offset,
                    storage: Some((t.storage_key.clone(), t.storage_offset)),
                }),
                Err(ViewError::OutOfBounds { .. }) => self.out.problem(
                    format!(
                        "tensor `{}` reaches outside its storage `{}`",
                        t.name, t.storage_key
                    ),
                    Some(t.offset),
                ),
                Err(ViewError::TooLarge { numel }) => self.out.problem(
                    format!(
                        "tensor `{}`: strided view of {numel} elements is too large to read",
                        t.name
                    ),
                    Some(t.offset),
                ),
            }
        }
    }

    /// Runs the first pickle stream of `data`; its root, or a problem.
    fn run_pickle<'p>(
        &mut self,
        data: &'p [u8],
        what: &str,
    ) -> Option<(Machine<'p>, mlsec_pickle::NodeId)> {
        let mut m = crate::joblib::machine(data, 0);
        let s = m.run_stream(0);
        match (s.error, s.root) {
            (None, Some(root)) => Some((m, root)),
            (Some(e), _) => {
                self.out.problem(
                    format!("{what}: cannot parse pickle: {}", e.message),
                    Some(e.offset),
                );
                None
            }
            (None, None) => {
                self.out
                    .problem(format!("{what}: pickle has no value"), None);
                None
            }
        }
    }

    fn pickle(&mut self, data: &'d [u8]) {
        let mut probe = crate::joblib::machine(&data[..data.len().min(64)], 0);
        let first = probe.run_stream(0);
        if first.error.is_none() && first.root.is_some_and(|r| is_legacy_magic(&probe, r)) {
            self.out.format = "torch-legacy".into();
            return self.legacy(data);
        }
        let mut m = crate::joblib::machine(data, 0);
        m.run_all();
        let companions = joblib_companion_problems(&m);
        if !companions.is_empty() {
            self.joblib(&m, true, |b| b);
            self.out.problems.extend(companions);
            return;
        }
        if m.inline_nodes.is_empty() {
            return self.out.problem(
                "pickle without tensor storages or joblib arrays (not a torch.save or joblib file): no tensors read",
                Some(0),
            );
        }
        self.joblib(&m, true, |b| b);
    }

    fn legacy(&mut self, data: &'d [u8]) {
        let mut m = crate::joblib::machine(data, 0);
        let mut pos = 0;
        for _ in 0..5 {
            let s = m.run_stream(pos);
            if let Some(e) = s.error {
                return self.out.problem(
                    format!("cannot parse pickle: {}", e.message),
                    Some(e.offset),
                );
            }
            pos = s.end;
        }
        let (Some(root), Some(keys_root)) = (m.streams[3].root, m.streams[4].root) else {
            return self
                .out
                .problem("legacy torch checkpoint without an object", None);
        };
        let (tensors, problems) = collect_tensors(&m, root);
        for p in problems {
            self.out.problem(
                format!("tensor `{}`: {}", p.name, p.message),
                Some(p.offset),
            );
        }
        let keys: Vec<String> = m
            .seq_of(keys_root)
            .unwrap_or(&[])
            .iter()
            .filter_map(|&k| m.str_of(k).map(str::to_owned))
            .collect();
        match legacy::pickle_storages(data, pos, &keys, &tensors) {
            Ok((storages, _)) => {
                let storages: HashMap<&str, Storage<'d>> = storages
                    .iter()
                    .map(|(k, &(off, len))| {
                        (
                            k.as_str(),
                            (Cow::Borrowed(&data[off..off + len]), off as u64),
                        )
                    })
                    .collect();
                self.views(&tensors, |key| storages.get(key))
            }
            Err(p) => self.out.problem(p.message, Some(p.offset as u64)),
        }
    }

    fn tar(&mut self, data: &'d [u8]) {
        let archive = match tar::parse(data) {
            Ok(a) => a,
            Err(e) => return self.out.problem(e.to_string(), Some(0)),
        };
        if archive.missing_end_marker {
            self.out.problem(
                "tar: no end-of-archive marker after the last member: the archive may be truncated",
                Some(archive.end),
            );
        }
        let member = |name: &str| {
            archive
                .entries
                .iter()
                .rev()
                .find(|e| e.is_file() && e.name == name)
        };
        let (Some(storages), Some(tensors), Some(pickle)) =
            (member("storages"), member("tensors"), member("pickle"))
        else {
            return self
                .out
                .problem("tar archive without the legacy torch members (storages, tensors, pickle): no tensors read", None);
        };
        self.out.format = "torch-legacy-tar".into();
        let st_bytes = storages.data(data);
        let st = legacy::tar_storages(st_bytes, storages.data_offset);
        if let Some(p) = &st.problem {
            return self.out.problem(
                format!("storages: {}", p.message),
                Some(storages.data_offset + p.offset as u64),
            );
        }
        let mut ts = legacy::tar_tensors(tensors.data(data), tensors.data_offset, &st.value);
        if let Some(p) = &ts.problem {
            return self.out.problem(
                format!("tensors: {}", p.message),
                Some(tensors.data_offset + p.offset as u64),
            );
        }
        let Some((m, root)) = self.run_pickle(pickle.data(data), "pickle") else {
            return;
        };
        legacy::tar_names(&m, root, &mut ts.value);
        let by_key: HashMap<&str, Storage<'d>> = st
            .value
            .iter()
            .map(|(k, &(off, len))| {
                let bytes = Cow::Borrowed(&st_bytes[off..off + len]);
                (k.as_str(), (bytes, storages.data_offset + off as u64))
            })
            .collect();
        self.views(&ts.value, |key| by_key.get(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(shape: &[u64], stride: &[u64], offset: u64, numel: u64) -> TensorRef {
        TensorRef {
            name: "t".into(),
            dtype: DType::F32,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
            storage_offset: offset,
            storage_key: "0".into(),
            storage_numel: numel,
            offset: 0,
        }
    }

    #[test]
    fn cut_checks_bounds_and_gathers_strided_views() {
        let storage: Vec<u8> = (0..6u32).flat_map(|i| (i as f32).to_le_bytes()).collect();
        // The transpose of a 2x3 matrix.
        let t = view(&[3, 2], &[1, 3], 0, 6);
        let got = cut(&t, &storage).unwrap();
        let vals: Vec<f32> = got
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(vals, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert!(matches!(
            cut(&view(&[2, 3], &[3, 1], 1, 6), &storage),
            Err(ViewError::OutOfBounds { .. })
        ));
        // Declared larger than what the storage holds.
        assert!(matches!(
            cut(&view(&[2], &[1], 0, 100), &storage),
            Err(ViewError::OutOfBounds { .. })
        ));
        // A broadcast of one element to a huge shape is not materialised.
        assert!(matches!(
            cut(&view(&[1 << 20, 1 << 20], &[0, 0], 0, 6), &storage),
            Err(ViewError::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_and_truncated_files_are_problems_not_empty_results() {
        let mut n = 0;
        let l = visit(b"hello world", ZipLimits::default(), &mut |_| n += 1);
        assert_eq!((n, l.problems.len()), (0, 1));
        let st = safetensors::write(
            &[("w".to_string(), DType::F32, vec![2], &[0u8; 8][..])],
            &Default::default(),
        );
        let l = visit(&st, ZipLimits::default(), &mut |v| assert_eq!(v.name, "w"));
        assert_eq!(
            (l.tensors, l.problems.len(), l.format.as_str()),
            (1, 0, "safetensors")
        );
        let l = visit(&st[..st.len() - 3], ZipLimits::default(), &mut |_| n += 1);
        assert_eq!((l.tensors, n), (0, 0));
        assert!(!l.problems.is_empty());
    }
}
