//! Tensors: views cut from their storages ([`cut`]), the tensor readers of each layout
//! ([`hdf5_tensors`], [`joblib_tensors`], [`gguf_tensors`]) that the traversal
//! ([`crate::walk`]) uses, and [`visit`]: every tensor of a file, for readers that want the
//! weights rather than a security verdict (`mlsec inspect`, export-guard's digests, the
//! runtime's data files). `visit` is a visitor of the one traversal that keeps the tensors and
//! turns everything that kept some from being read into problems.
//!
//! Pickles are emulated to find tensor records, never loaded: no code runs. A file's pickles
//! are not judged here; run `mlsec checkpoint` for that.

use std::borrow::Cow;
use std::collections::BTreeMap;

use mlsec_pickle::Machine;

use crate::dtype::DType;
use crate::torch::TensorRef;
use crate::walk::{BadView, Entry, Payload, Pickle, Tensors, Visitor, Walker};
use crate::zip::{ZipArchive, ZipEntry, ZipLimits};
use crate::{gguf, hdf5, joblib};

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

/// `bytes` in C order: Fortran-order data with more than one dimension above 1 reordered
/// (`es`: element size), anything else as it is.
pub fn c_order<'a>(bytes: Cow<'a, [u8]>, shape: &[u64], es: usize, fortran: bool) -> Cow<'a, [u8]> {
    if fortran && !bytes.is_empty() && shape.iter().filter(|&&d| d > 1).count() > 1 {
        Cow::Owned(fortran_to_c(&bytes, shape, es))
    } else {
        bytes
    }
}

/// Reorders column-major elements into row-major order.
fn fortran_to_c(src: &[u8], shape: &[u64], es: usize) -> Vec<u8> {
    let rank = shape.len();
    let mut out = Vec::with_capacity(src.len());
    // Fortran strides (in elements) of each dimension.
    let mut fstride = vec![1usize; rank];
    for d in 1..rank {
        fstride[d] = fstride[d - 1].saturating_mul(shape[d - 1] as usize);
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
    /// Every part that could not be read, and every array read that holds no numbers
    /// (object arrays, strings). Never empty when a file yields no tensor for a reason other
    /// than holding none.
    pub problems: Vec<Problem>,
    /// Whether each problem is only an array without numbers (same index as `problems`).
    not_numbers: Vec<bool>,
}

impl Loaded {
    fn problem(&mut self, message: impl Into<String>, offset: Option<u64>) {
        self.problems.push(Problem {
            message: message.into(),
            offset,
        });
        self.not_numbers.push(false);
    }

    /// The problems that are parts of the file not read (corrupt, truncated, unsupported),
    /// leaving out arrays that were read but hold no numbers.
    pub fn unreadable(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .zip(&self.not_numbers)
            .filter(|(_, skip)| !**skip)
            .map(|(p, _)| p)
    }
}

/// Hands every tensor of the file's bytes to `visit`, whatever the container (sniffed by
/// content), through the one traversal ([`crate::walk`]). Bounded by the file: zip members
/// under `limits`, strided views capped.
pub fn visit<'d>(
    data: &'d [u8],
    limits: ZipLimits,
    visit: &mut dyn FnMut(TensorView<'d>),
) -> Loaded {
    let mut c = Collector {
        file: data,
        out: Loaded::default(),
        visit,
    };
    let mut w = Walker::new(&mut c, "", limits);
    w.walk(data, true);
    let format = std::mem::take(&mut w.format);
    let mut out = c.out;
    out.format = format;
    if out.tensors == 0 && out.problems.is_empty() {
        out.problem(
            format!(
                "no tensors read: the {} file holds none this reader decodes",
                out.format
            ),
            None,
        );
    }
    out
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

/// Keeps the tensors of a walk and turns everything that kept tensors from being read into
/// problems. Pickles are not audited and their payloads not followed.
struct Collector<'d, 'v> {
    file: &'d [u8],
    out: Loaded,
    visit: &'v mut dyn FnMut(TensorView<'d>),
}

/// `bytes` with the file's lifetime when they lie in the file (stored members, safetensors,
/// legacy storages), else copied.
fn rebase<'d>(file: &'d [u8], bytes: Cow<'_, [u8]>) -> Cow<'d, [u8]> {
    if let Cow::Borrowed(b) = &bytes {
        let (start, base) = (b.as_ptr() as usize, file.as_ptr() as usize);
        if start >= base && start - base + b.len() <= file.len() {
            let at = start - base;
            return Cow::Borrowed(&file[at..at + b.len()]);
        }
    }
    Cow::Owned(bytes.into_owned())
}

impl Visitor for Collector<'_, '_> {
    fn pickle(&mut self, p: Pickle<'_, '_>) -> Vec<Payload> {
        let m = p.machine;
        // Bytes after a complete first stream that do not start a pickle are never read by a
        // single load; any other stream that fails keeps its tensors from being read.
        let failed = m.streams.iter().enumerate().find_map(|(i, st)| {
            let e = st.error.as_ref()?;
            let trailing = i > 0 && e.offset == m.base + st.start as u64;
            (!trailing).then_some(e)
        });
        if let Some(e) = failed.filter(|_| p.parse_errors) {
            self.out.problem(
                format!("{}cannot parse pickle: {}", p.site.prefix(), e.message),
                Some(p.site.span(e.offset)),
            );
        }
        Vec::new()
    }

    fn tensors(&mut self, views: Vec<TensorView<'_>>, _: Tensors<'_>) {
        for v in views {
            self.out.tensors += 1;
            (self.visit)(TensorView {
                bytes: rebase(self.file, v.bytes),
                name: v.name,
                dtype: v.dtype,
                shape: v.shape,
                offset: v.offset,
                storage: v.storage,
            });
        }
    }

    fn entry(&mut self, e: Entry<'_>) {
        match e {
            Entry::Problem { message, span } => self.out.problem(message, span),
            Entry::NotNumbers { message, span } => {
                self.out.problem(message, span);
                if let Some(last) = self.out.not_numbers.last_mut() {
                    *last = true;
                }
            }
            Entry::NotScanned { what, .. } => self.out.problem(
                format!("{what}: not a format this reader reads tensors from"),
                None,
            ),
            Entry::Unrecognised => self.out.problem(
                "unrecognised file format: not a model file this tool reads",
                None,
            ),
            Entry::BadView { tensor, why, .. } => {
                let message = match why {
                    BadView::Missing => format!(
                        "storage `{}` of tensor `{}` is missing",
                        tensor.storage_key, tensor.name
                    ),
                    BadView::OutOfBounds { .. } => format!(
                        "tensor `{}` reaches outside its storage `{}`",
                        tensor.name, tensor.storage_key
                    ),
                    BadView::TooLarge { numel } => format!(
                        "tensor `{}`: strided view of {numel} elements is too large to read",
                        tensor.name
                    ),
                };
                self.out.problem(message, Some(tensor.offset));
            }
            // Quantized tensors and tensors outside the file are missing from what was read.
            Entry::Gguf { gguf } => {
                for a in &gguf.anomalies {
                    if a.kind == gguf::AnomalyKind::OutOfBounds {
                        self.out
                            .problem(format!("GGUF: {}", a.message), Some(a.offset));
                    }
                }
                let mut quantized: BTreeMap<String, usize> = BTreeMap::new();
                for t in gguf
                    .tensors
                    .iter()
                    .filter(|t| t.ggml_type.dtype().is_none())
                {
                    *quantized.entry(t.ggml_type.name()).or_default() += 1;
                }
                if !quantized.is_empty() {
                    let n: usize = quantized.values().sum();
                    let kinds: Vec<String> =
                        quantized.iter().map(|(k, v)| format!("{v} {k}")).collect();
                    self.out.problem(
                        format!(
                            "{n} quantized GGUF tensor(s) not decoded ({}): only F32, F16, BF16, F64 and integer tensors are read",
                            kinds.join(", ")
                        ),
                        None,
                    );
                }
            }
            Entry::Safetensors { st } => {
                for a in &st.anomalies {
                    let what = if a.name.is_empty() {
                        String::new()
                    } else {
                        format!("tensor `{}`: ", a.name)
                    };
                    self.out
                        .problem(format!("safetensors header: {what}{}", a.message), Some(8));
                }
            }
            Entry::CrcMismatch { entry, .. } => self.out.problem(
                format!(
                    "member `{}` does not match its CRC-32: its data is corrupt",
                    entry.name
                ),
                None,
            ),
            Entry::Bomb { .. }
            | Entry::Note(_)
            | Entry::Zip { .. }
            | Entry::TrailingData { .. }
            | Entry::Code { .. }
            | Entry::KerasConfig { .. }
            | Entry::Skipped { .. }
            | Entry::Companion(_) => {}
        }
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
        let st = crate::safetensors::write(
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
