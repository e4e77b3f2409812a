//! The one traversal: any file's bytes, sniffed by content, walked into typed entries that a
//! [`Visitor`] receives in file order.
//!
//! Every container a loader reads is opened here, once, the way that loader opens it: zip
//! (torch layout or not, every member read and sniffed), tar (legacy `torch.save` or not), npy
//! and npz, HDF5 (attributes, variable-length rows, datasets), safetensors, GGUF, legacy
//! torch, raw and compressed joblib and pickles, Keras JSON. What comes out:
//!
//! - every pickle stream a loader would unpickle, run by the machine, with where it is and
//!   which loader reads it ([`Pickle`]); the visitor audits it and hands back the payloads
//!   nested in it, which are walked in turn ([`Payload`]);
//! - every tensor, as a view of its bytes ([`TensorView`]), in batches ([`Visitor::tensors`]);
//! - structure a check may want to see ([`Entry`]: zip archives and members, GGUF and
//!   safetensors headers, TorchScript code, Keras configs, bytes after the data);
//! - everything that could not be read, with why ([`Entry::Problem`]), and every member
//!   passed over, with why ([`Entry::Skipped`], [`Entry::Note`]): nothing is dropped silently.
//!
//! The walk judges nothing; `mlsec checkpoint` turns entries into findings, and
//! [`crate::load::visit`] keeps only the tensors. Nothing is executed; the only I/O is the
//! companion files of an old joblib dump, read from [`Walker::dir`] when the caller gives it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use mlsec_pickle::Machine;

use crate::gguf::{self, Gguf};
use crate::hdf5::{self, AttrValue};
use crate::load::{self, TensorView, ViewError, cut, swap_bytes, torch_layout};
use crate::safetensors::{self, Safetensors};
use crate::sniff::{Format, looks_like_pickle, sniff};
use crate::torch::{TensorProblem, TensorRef, collect_tensors, is_legacy_magic};
use crate::zip::{ZipArchive, ZipEntry, ZipError, ZipLimits};
use crate::{joblib, legacy, npy, tar};

/// How deep nested payloads and archives are followed.
pub const MAX_NESTING: usize = 4;

/// Decoded (not borrowed) tensor bytes held at once before they are handed over: HDF5
/// datasets are decoded one at a time and handed over in batches of about this size.
const BATCH_BYTES: usize = 256 << 20;

/// A storage's bytes and its file offset.
type Storage<'s> = (Cow<'s, [u8]>, u64);

/// Where something is: the file, the member path inside containers, and how offsets in the
/// buffer being read map to file offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub file: String,
    pub member: Option<String>,
    /// Whether offsets in this buffer are file offsets (`anchor` added); a compressed member
    /// or a nested payload is not mapped, and everything in it is located at `anchor`.
    pub mapped: bool,
    /// File offset used as the location when offsets are not file offsets.
    pub anchor: u64,
    /// Offsets of the outer calls that handed this payload over, outermost first.
    pub nested: Vec<u64>,
}

impl Site {
    pub fn file(file: &str) -> Site {
        Site {
            file: file.to_owned(),
            member: None,
            mapped: true,
            anchor: 0,
            nested: Vec::new(),
        }
    }

    /// The file offset where something at `offset` of this buffer is reported.
    pub fn span(&self, offset: u64) -> u64 {
        if self.mapped { offset } else { self.anchor }
    }

    /// An offset in the site's own buffer (a zip, a member's bytes) as an offset of this site:
    /// shifted to a file offset when the buffer is mapped.
    pub fn at(&self, buffer_offset: u64) -> u64 {
        if self.mapped {
            self.anchor + buffer_offset
        } else {
            buffer_offset
        }
    }

    /// `"<member>: "`, or nothing at the top of the file: the prefix of messages about it.
    pub fn prefix(&self) -> String {
        self.member
            .as_ref()
            .map(|m| format!("{m}: "))
            .unwrap_or_default()
    }
}

/// The loader that unpickles a pickle, which decides what it may import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `torch.save` (zip and legacy formats).
    Torch,
    /// `torch.jit.save`: the torch list plus TorchScript classes (`__torch__.*`, resolved by
    /// TorchScript's compilation unit, not imported) and `torch.jit._pickle` helpers.
    TorchScript,
    /// numpy object arrays (`.npy`, `.npz` members).
    Numpy,
    /// `joblib.dump`.
    Joblib,
    /// A pickle of unknown origin: the union of the others.
    Generic,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Torch => "torch",
            Profile::TorchScript => "torchscript",
            Profile::Numpy => "numpy",
            Profile::Joblib => "joblib",
            Profile::Generic => "generic",
        }
    }

    /// The profile a raw pickle's imports suggest.
    pub fn infer(m: &Machine<'_>) -> Profile {
        if m.imports.iter().any(|i| i.module.starts_with("joblib")) {
            Profile::Joblib
        } else if m
            .imports
            .iter()
            .any(|i| i.module == "torch" || i.module.starts_with("torch."))
        {
            Profile::Torch
        } else {
            Profile::Generic
        }
    }
}

/// A pickle a loader would unpickle, after the machine ran over every stream of it.
pub struct Pickle<'p, 'd> {
    pub machine: &'p Machine<'d>,
    pub site: &'p Site,
    /// The loader known from the container (`None`: only the pickle's imports tell).
    pub profile: Option<Profile>,
    /// Whether a stream that fails to parse is a problem; false for bytes that may not be a
    /// pickle at all (HDF5 attributes and rows that only look like one).
    pub parse_errors: bool,
    /// How many payloads deep this pickle is (0: in the file or one of its members).
    pub depth: usize,
}

/// A payload nested in a pickle (a byte string a call would unpickle or load), to be walked.
pub struct Payload {
    pub bytes: Vec<u8>,
    pub site: Site,
    pub profile: Option<Profile>,
}

/// The context tensors are handed over in.
pub struct Tensors<'a> {
    /// The container as named so far ([`Walker::format`]).
    pub format: &'a str,
    /// Whether they are model weights (false for the datasets of HDF5 data files).
    pub weights: bool,
}

/// Why a tensor could not be cut from its storage.
pub enum BadView {
    /// The storage it names is not in the file.
    Missing,
    /// It reaches outside its storage.
    OutOfBounds { have: u64, end: Option<u64> },
    /// A strided view far larger than its storage.
    TooLarge { numel: u64 },
}

/// Structure met on the way, and what could not be read.
pub enum Entry<'a> {
    /// Something could not be read: the message says what and why (prefixed with the member
    /// where there is one); `span` is the file offset.
    Problem { message: String, span: Option<u64> },
    /// Something the user may want to know that is neither a finding nor a problem.
    Note(String),
    /// An array read that holds no numbers (an object array, which is a pickle and is walked
    /// as one, or strings, dates, records): not a tensor.
    NotNumbers { message: String, span: Option<u64> },
    /// A format recognised but not read (`what`), with a hint on what reads it.
    NotScanned {
        what: &'static str,
        hint: &'static str,
    },
    /// A file in no format read (only when the walk was not told it is a model).
    Unrecognised,
    /// A zip archive, parsed (its anomalies, its members' names) with its PyTorch prefix.
    Zip {
        site: &'a Site,
        zip: &'a ZipArchive<'a>,
        prefix: Option<&'a str>,
    },
    /// A zip member whose bytes do not match the CRC-32 of its header.
    CrcMismatch {
        site: &'a Site,
        entry: &'a ZipEntry,
        actual: u32,
    },
    /// A zip member that would inflate past the limits: not read.
    Bomb {
        site: &'a Site,
        entry: &'a ZipEntry,
        error: &'a ZipError,
    },
    /// A tensor that could not be cut from its storage.
    BadView {
        site: &'a Site,
        tensor: &'a TensorRef,
        why: BadView,
    },
    /// Bytes after the data a loader reads (`offset` in the site's buffer).
    TrailingData {
        site: &'a Site,
        offset: u64,
        len: u64,
    },
    /// A TorchScript code member (`code/*.py`).
    Code { site: &'a Site, text: &'a str },
    /// A Keras model config (JSON), from a zip member, an HDF5 attribute (at `offset`) or a
    /// whole file.
    KerasConfig {
        site: &'a Site,
        config: &'a serde_json::Value,
        source: KerasSource<'a>,
    },
    /// A parsed GGUF header (its anomalies and metadata).
    Gguf { gguf: &'a Gguf },
    /// A parsed safetensors header (its anomalies).
    Safetensors { st: &'a Safetensors },
    /// A member in no format read; `loadable`: named like a pickle or numpy file.
    Skipped {
        name: &'a str,
        len: usize,
        span: u64,
        loadable: bool,
    },
    /// A companion file of an old joblib dump begins (`Some(file)`) or ends (`None`): what
    /// comes in between is about that file.
    Companion(Option<&'a str>),
}

/// Where a Keras config came from.
#[derive(Debug, Clone, Copy)]
pub enum KerasSource<'a> {
    Member(&'a str),
    /// Attribute name and file offset of its message.
    Attribute(&'a str, u64),
}

/// What receives the walk.
pub trait Visitor {
    /// A pickle, run over every stream: audit it, and return the payloads nested in it that a
    /// loader would unpickle or load in turn (walked next, one level deeper).
    fn pickle(&mut self, p: Pickle<'_, '_>) -> Vec<Payload>;
    /// A batch of tensors, with the container they come from.
    fn tensors(&mut self, views: Vec<TensorView<'_>>, cx: Tensors<'_>);
    /// Everything else.
    fn entry(&mut self, e: Entry<'_>);
}

/// One walk over one file.
pub struct Walker<'v, V: Visitor> {
    pub visitor: &'v mut V,
    pub limits: ZipLimits,
    /// The directory of the file, where an old joblib file's companion files are (`None`:
    /// only the bytes are known, and companion arrays are problems).
    pub dir: Option<PathBuf>,
    /// The container, as named to users (`torch-zip`, `joblib-bz2`, `keras-h5`, ...).
    pub format: String,
    /// Companion files read (canonical paths), so a directory scan does not scan them again.
    pub companions: Vec<PathBuf>,
    file: String,
}

impl<'v, V: Visitor> Walker<'v, V> {
    pub fn new(visitor: &'v mut V, file: &str, limits: ZipLimits) -> Walker<'v, V> {
        Walker {
            visitor,
            limits,
            dir: None,
            format: String::new(),
            companions: Vec::new(),
            file: file.to_owned(),
        }
    }

    fn problem(&mut self, message: impl Into<String>, span: Option<u64>) {
        self.visitor.entry(Entry::Problem {
            message: message.into(),
            span,
        });
    }

    fn note(&mut self, message: String) {
        self.visitor
            .entry(Entry::Note(format!("{}: {message}", self.file)));
    }

    fn not_scanned(&mut self, what: &'static str, hint: &'static str) {
        self.format = what.to_owned();
        self.visitor.entry(Entry::NotScanned { what, hint });
    }

    fn tensors(&mut self, views: Vec<TensorView<'_>>, weights: bool) {
        if views.is_empty() {
            return;
        }
        let cx = Tensors {
            format: &self.format,
            weights,
        };
        self.visitor.tensors(views, cx);
    }

    /// Walks a whole file's bytes. `explicit`: named on the command line or with a model
    /// extension, so an unrecognised format is a problem rather than [`Entry::Unrecognised`].
    pub fn walk(&mut self, data: &[u8], explicit: bool) {
        let site = Site::file(&self.file);
        let format = sniff(data);
        self.format = format.name().to_owned();
        if matches!(format, Format::Unknown | Format::Onnx)
            && let Some(what) = crate::unscanned::recognise(data, &self.file)
        {
            return self.not_scanned(what, "");
        }
        match format {
            Format::Pickle if crate::zip::has_eocd(data) => {
                // A pickle/zip polyglot: pickle loaders read the head, zip readers the rest.
                let head = ZipArchive::parse(data, self.limits)
                    .ok()
                    .and_then(|z| z.entries.iter().map(|e| e.local_offset).min())
                    .map_or(data.len(), |o| o as usize);
                self.raw_pickle(&data[..head], &site, 0);
                self.format = "pickle+zip".into();
                self.zip(data, &site, 0);
            }
            Format::Pickle => self.raw_pickle(data, &site, 0),
            Format::Zip => self.zip(data, &site, 0),
            Format::Npy => self.npy(data, &site, 0, "array"),
            Format::Safetensors => self.safetensors(data),
            Format::Onnx => self.not_scanned("ONNX model", "; use `mlsec export-guard`"),
            Format::Hdf5 => self.hdf5(data, &site),
            Format::Tar => self.tar(data, &site, 0),
            Format::Gguf => self.gguf(data),
            Format::Unknown => match joblib::sniff_compression(data) {
                Some(c) => self.compressed_joblib(data, c, explicit),
                None if crate::sniff::is_keras_json(data) => self.keras_json(data),
                None if explicit => self.problem(
                    "unrecognised file format: not a pickle, zip, npy, safetensors, HDF5 or compressed joblib file",
                    None,
                ),
                None => self.visitor.entry(Entry::Unrecognised),
            },
        }
    }

    /// A whole-file compressed joblib dump (`joblib.dump(..., compress=...)`, or a plain pickle
    /// written through a compressor, which `joblib.load` reads the same way): expanded under
    /// the zip member size limit ([`joblib::expand`]), then read like a raw joblib pickle. A
    /// stream that fails part-way is a problem, and what it decoded before is still walked
    /// (the loader unpickles those bytes). Offsets are in the expanded stream, located at the
    /// start of the file. A file that only looks compressed is unrecognised unless `explicit`.
    fn compressed_joblib(&mut self, data: &[u8], compression: &str, explicit: bool) {
        self.format = format!("joblib-{compression}");
        let limit = usize::try_from(self.limits.max_member_size).unwrap_or(usize::MAX);
        let expanded = joblib::expand(data, limit);
        let pickle = looks_like_pickle(&expanded.data);
        if !pickle && !explicit {
            return self.visitor.entry(Entry::Unrecognised);
        }
        match &expanded.error {
            Some(e) if pickle && !expanded.data.is_empty() => self.problem(
                format!(
                    "{e}; the {} bytes decoded before are checked",
                    expanded.data.len()
                ),
                Some(0),
            ),
            Some(e) => return self.problem(format!("{e}: not checked"), Some(0)),
            None if !pickle => {
                return self.problem(
                    format!("{compression}-compressed data is not a pickle: not checked"),
                    Some(0),
                );
            }
            None => {}
        }
        let site = Site {
            file: self.file.clone(),
            member: Some(format!("{compression} stream")),
            mapped: false,
            anchor: 0,
            nested: Vec::new(),
        };
        let mut m = joblib::machine(&expanded.data, 0);
        m.run_all();
        self.format = load::compressed_format(&m, compression);
        if let Some(m) = self.finish_pickle(m, &site, 0, None, true) {
            self.joblib_arrays(&m, &site);
            self.joblib_companions(&m, &site, 0);
        }
    }

    /// The arrays an old joblib file (joblib < 0.10) keeps in companion files next to it
    /// ([`joblib::companions`]), read from [`Walker::dir`] the way joblib reads them: an
    /// `NDArrayWrapper`'s `.npy` like any `.npy` (an object array is a pickle that numpy
    /// unpickles), a `ZNDArrayWrapper`'s zfile as the raw elements of the dtype and shape in
    /// the pickle. A name that leaves the directory (`..`, an absolute path, a symlink out)
    /// and a missing companion are problems naming it. What is found in a companion is about
    /// the companion file ([`Entry::Companion`]).
    fn joblib_companions(&mut self, m: &Machine<'_>, site: &Site, depth: usize) {
        use joblib::CompanionKind;
        for c in joblib::companions(m) {
            let c = match c {
                Ok(c) => c,
                Err(e) => {
                    self.problem(format!("{e}: not checked"), None);
                    continue;
                }
            };
            let name = c
                .path
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| c.file.clone());
            let at = Some(site.span(c.offset));
            let Some(dir) = self.dir.clone() else {
                self.problem(
                    format!(
                        "joblib array {name}: stored in the companion file `{}` (joblib < 0.10 format), which is not read when only the file's bytes are scanned: not checked",
                        c.file
                    ),
                    at,
                );
                continue;
            };
            let (canon, bytes) = match joblib::open_companion(&dir, &c.file) {
                Ok(found) => found,
                Err(e) => {
                    self.problem(format!("joblib array {name}: {e}: not checked"), at);
                    continue;
                }
            };
            if self.companions.contains(&canon) {
                continue;
            }
            self.companions.push(canon);
            let rel = match self.file.rsplit_once('/') {
                Some((d, _)) => format!("{d}/{}", c.file),
                None => c.file.clone(),
            };
            self.visitor.entry(Entry::Companion(Some(&rel)));
            let csite = Site::file(&rel);
            match c.kind {
                CompanionKind::Npy if bytes.starts_with(npy::MAGIC) => {
                    self.npy(&bytes, &csite, depth, &name);
                }
                CompanionKind::Npy => self.problem(
                    format!(
                        "joblib array {name}: the companion file is not an .npy file: not checked"
                    ),
                    Some(0),
                ),
                CompanionKind::Zfile {
                    descr,
                    body,
                    shape,
                    fortran_order,
                } => self.zfile_companion(&bytes, &name, c.node, descr, body, shape, fortran_order),
            }
            self.visitor.entry(Entry::Companion(None));
        }
    }

    /// A `ZNDArrayWrapper`'s zfile: the raw elements of the dtype and shape in the pickle.
    #[allow(clippy::too_many_arguments)]
    fn zfile_companion(
        &mut self,
        bytes: &[u8],
        name: &str,
        node: mlsec_pickle::NodeId,
        descr: String,
        body: joblib::Body,
        shape: Vec<u64>,
        fortran_order: bool,
    ) {
        if !bytes.starts_with(b"ZF") {
            return self.problem(
                format!("joblib array {name}: the companion file is not a zfile: not checked"),
                Some(0),
            );
        }
        let limit = usize::try_from(self.limits.max_member_size).unwrap_or(usize::MAX);
        let e = joblib::expand(bytes, limit);
        if let Some(err) = &e.error {
            return self.problem(format!("joblib array {name}: {err}: not checked"), Some(0));
        }
        let joblib::Body::Raw { dtype, .. } = body else {
            return self.problem(
                format!("joblib array {name}: dtype `{descr}` of the companion is not a tensor type: not checked"),
                Some(0),
            );
        };
        let numel = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let want = numel.and_then(|n| n.checked_mul(dtype.size() as u64));
        if want != Some(e.data.len() as u64) {
            return self.problem(
                format!(
                    "joblib array {name}: the companion holds {} bytes, shape {shape:?} and dtype `{descr}` need {}: not checked",
                    e.data.len(),
                    want.map_or_else(|| "more than can be counted".into(), |w| w.to_string())
                ),
                Some(0),
            );
        }
        let a = joblib::JoblibArray {
            path: Some(name.to_owned()),
            node,
            descr,
            body,
            shape: shape.clone(),
            fortran_order,
            subclass: None,
            data: 0..e.data.len() as u64,
        };
        // Swapped to little-endian and C order as joblib arrays are.
        let cm = joblib::machine(&e.data, 0);
        if let Some(bytes) = a.elements(&cm) {
            self.tensors(
                vec![TensorView {
                    name: name.to_owned(),
                    dtype,
                    shape,
                    bytes,
                    offset: 0,
                    storage: None,
                }],
                true,
            );
        }
    }

    /// The numeric arrays of a joblib pickle. Arrays that cannot be understood are problems;
    /// object arrays are pickles the audit already covered, and non-numeric arrays (strings,
    /// dates) hold no weights.
    fn joblib_arrays(&mut self, m: &Machine<'_>, site: &Site) {
        let mut views = Vec::new();
        let mut problems = Vec::new();
        let skipped = load::joblib_tensors(m, &mut |v| views.push(v), &mut |p| problems.push(p));
        for v in &mut views {
            v.offset = site.span(v.offset);
        }
        self.tensors(views, true);
        for p in skipped {
            self.visitor.entry(Entry::NotNumbers {
                message: format!("{}{}", site.prefix(), p.message),
                span: p.offset.map(|o| site.span(o)),
            });
        }
        for p in problems {
            let prefix = site.prefix();
            self.problem(
                format!("{prefix}{}: not checked", p.message),
                p.offset.map(|o| site.span(o)),
            );
        }
    }

    /// Any buffer (a zip member, a nested payload): sniffed and walked.
    fn buffer(&mut self, data: &[u8], site: &Site, depth: usize, profile: Option<Profile>) {
        match sniff(data) {
            Format::Zip => self.zip(data, site, depth),
            Format::Hdf5 => self.hdf5(data, site),
            Format::Npy => self.npy(data, site, depth, site.member.as_deref().unwrap_or("array")),
            Format::Pickle => {
                self.pickle(data, site, depth, profile);
            }
            other => self.problem(
                format!(
                    "{}nested payload is a {} file, which cannot be checked",
                    site.prefix(),
                    other.name()
                ),
                Some(site.span(0)),
            ),
        }
    }

    /// Runs the pickle machine over every stream in `data` and hands it over. Returns the
    /// machine for tensor reconstruction when the first stream parsed.
    fn pickle<'d>(
        &mut self,
        data: &'d [u8],
        site: &Site,
        depth: usize,
        profile: Option<Profile>,
    ) -> Option<Machine<'d>> {
        let base = if site.mapped { site.anchor } else { 0 };
        let mut m = joblib::machine(data, base);
        m.run_all();
        self.finish_pickle(m, site, depth, profile, true)
    }

    /// Hands a machine that ran to the visitor, then walks the payloads it returns (up to
    /// [`MAX_NESTING`] deep; marshal payloads are code objects, not walked).
    fn finish_pickle<'d>(
        &mut self,
        m: Machine<'d>,
        site: &Site,
        depth: usize,
        profile: Option<Profile>,
        parse_errors: bool,
    ) -> Option<Machine<'d>> {
        let payloads = self.visitor.pickle(Pickle {
            machine: &m,
            site,
            profile,
            parse_errors,
            depth,
        });
        for p in payloads {
            if depth >= MAX_NESTING {
                self.problem(
                    "nested payloads are nested too deeply to check",
                    Some(p.site.anchor),
                );
                continue;
            }
            self.buffer(&p.bytes, &p.site, depth + 1, p.profile);
        }
        let ok = m.streams.first().is_some_and(|s| s.error.is_none());
        ok.then_some(m)
    }

    fn raw_pickle(&mut self, data: &[u8], site: &Site, depth: usize) {
        // Legacy torch.save: magic, protocol, sys_info, the object, storage keys, storages.
        // The magic-number stream is 14 bytes: probe only the head.
        let mut probe = joblib::machine(&data[..data.len().min(64)], 0);
        let first = probe.run_stream(0);
        if first.error.is_none() && first.root.is_some_and(|r| is_legacy_magic(&probe, r)) {
            self.format = "torch-legacy".into();
            return self.legacy(data, site, depth);
        }
        let Some(m) = self.pickle(data, site, depth, None) else {
            return;
        };
        if Profile::infer(&m) == Profile::Joblib || !m.inline_nodes.is_empty() {
            self.format = "joblib".into();
            self.joblib_arrays(&m, site);
            self.joblib_companions(&m, site, depth);
        }
    }

    fn legacy(&mut self, data: &[u8], site: &Site, depth: usize) {
        let mut m = joblib::machine(data, 0);
        let mut pos = 0;
        for _ in 0..5 {
            let s = m.run_stream(pos);
            if s.error.is_some() {
                break;
            }
            pos = s.end;
        }
        let Some(m) = self.finish_pickle(m, site, depth, Some(Profile::Torch), true) else {
            return;
        };
        if m.streams.len() < 5 || m.streams.iter().any(|s| s.error.is_some()) {
            if m.streams.iter().all(|s| s.error.is_none()) {
                self.problem(
                    "legacy torch checkpoint ends before its storage list",
                    Some(pos as u64),
                );
            }
            return;
        }
        let (Some(root), Some(keys_root)) = (m.streams[3].root, m.streams[4].root) else {
            return;
        };
        let (tensors, problems) = collect_tensors(&m, root);
        self.tensor_problems(&problems);
        let keys: Vec<String> = m
            .seq_of(keys_root)
            .unwrap_or(&[])
            .iter()
            .filter_map(|&k| m.str_of(k).map(str::to_owned))
            .collect();
        let (storages, end) = match legacy::pickle_storages(data, pos, &keys, &tensors) {
            Ok(read) => read,
            Err(p) => return self.problem(p.message, Some(p.offset as u64)),
        };
        if end < data.len() {
            self.visitor.entry(Entry::TrailingData {
                site,
                offset: end as u64,
                len: (data.len() - end) as u64,
            });
        }
        let lookup = |key: &str| {
            storages
                .get(key)
                .map(|&(off, len)| (Cow::Borrowed(&data[off..off + len]), off as u64))
        };
        self.views(&tensors, site, lookup);
    }

    /// An HDF5 file (a Keras `.h5`, a `save_weights` file, the `model.weights.h5` of a
    /// `.keras`, a PyTables, pandas or h5py data file): the `model_config` and
    /// `training_config` root attributes as Keras configs; the attributes of every object,
    /// where any value PyTables would unpickle, or that looks like a pickle, goes to the
    /// visitor as a pickle ([`Walker::hdf5_attribute`]); the rows of PyTables `ObjectAtom`
    /// VLArrays (pickles, located at `path[row]`) and any variable-length byte row that looks
    /// like a pickle, likewise; then every dataset (and every numeric field of a compound
    /// dataset) as a tensor ([`load::hdf5_tensors`]), as weights only in Keras files
    /// ([`keras_weights`]). Objects that cannot be read, external links and truncation are
    /// problems; data without numbers (strings) is a note.
    fn hdf5(&mut self, data: &[u8], site: &Site) {
        // Offsets in `data` as this site's offsets (file offsets when mapped).
        let at = |o: u64| if site.mapped { site.anchor + o } else { o };
        let prefix = site.prefix();
        let top = site.member.is_none() && site.nested.is_empty();
        let limits = load::hdf5_limits(self.limits);
        let file = match hdf5::File::open(data) {
            Ok(f) => f,
            Err(e) => {
                return self.problem(format!("{prefix}{e}: not checked"), Some(site.span(at(0))));
            }
        };
        let root = match file.attributes(file.root) {
            Ok(r) => r,
            Err(e) => {
                self.problem(
                    format!("{prefix}HDF5 attributes of `/`: {e}: not checked"),
                    Some(site.span(at(file.root))),
                );
                Vec::new()
            }
        };
        let mut configs = 0;
        for name in ["model_config", "training_config"] {
            let Some(attr) = root.iter().find(|a| a.name == name) else {
                continue;
            };
            configs += 1;
            let offset = at(attr.offset);
            let text = match &attr.value {
                AttrValue::Strings(v) if v.len() == 1 => &v[0],
                AttrValue::Strings(v) => {
                    self.problem(
                        format!("{prefix}HDF5 attribute `{name}` holds {} strings, not one JSON document: not checked", v.len()),
                        Some(site.span(offset)),
                    );
                    continue;
                }
                AttrValue::Other(class) => {
                    self.problem(
                        format!("{prefix}HDF5 attribute `{name}` is a {class} value, not a JSON string: not checked"),
                        Some(site.span(offset)),
                    );
                    continue;
                }
                AttrValue::Unreadable(_) => continue, // reported with every attribute below
            };
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(config) => self.visitor.entry(Entry::KerasConfig {
                    site,
                    config: &config,
                    source: KerasSource::Attribute(name, offset),
                }),
                Err(e) => self.problem(
                    format!("{prefix}HDF5 attribute `{name}` is not JSON: {e}"),
                    Some(site.span(offset)),
                ),
            }
        }
        if configs > 0 && top {
            self.format = "keras-h5".into();
        }
        // The attributes of every object.
        let walk = file.walk(&limits);
        let mut objects = HashSet::new();
        for (path, header) in &walk.objects {
            let attrs = if *header == file.root {
                root.clone()
            } else {
                match file.attributes(*header) {
                    Ok(a) => a,
                    Err(e) => {
                        self.problem(
                            format!("{prefix}HDF5 attributes of `{path}`: {e}: not checked"),
                            Some(site.span(at(*header))),
                        );
                        continue;
                    }
                }
            };
            for a in &attrs {
                self.hdf5_attribute(path, a, site, at(a.offset));
            }
            // PyTables' marker of a VLArray of pickled objects (`ObjectAtom`).
            if attrs.iter().any(|a| {
                a.name == "PSEUDOATOM" && a.value == AttrValue::Strings(vec!["object".into()])
            }) {
                objects.insert(*header);
            }
        }
        // Variable-length byte sequences: PyTables unpickles every row of an `ObjectAtom`
        // VLArray (pandas' fixed format keeps object columns there) when the array is read.
        // Rows of other byte sequences and strings are walked when they look like pickles.
        // Read errors are reported with the datasets below.
        for info in &walk.datasets {
            if !matches!(info.element, hdf5::Element::Variable { base: 1, .. }) {
                continue;
            }
            let Ok(stored) = file.read(info, &limits) else {
                continue;
            };
            let Ok(items) = file.variable(info, &stored) else {
                continue;
            };
            let object = objects.contains(&info.offset);
            // Rows that reference the same heap object are the same bytes: walked once, at
            // the first row (a few compressed bytes can repeat one reference millions of times).
            let mut seen: HashSet<(usize, usize)> = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                if !item.is_empty() && !seen.insert((item.as_ptr() as usize, item.len())) {
                    continue;
                }
                if !(object || item.first() == Some(&0x80) || looks_like_pickle(item)) {
                    continue;
                }
                let inner = Site {
                    file: site.file.clone(),
                    member: Some(format!("{prefix}{}[{i}]", info.path)),
                    mapped: false,
                    anchor: site.span(at(info.offset)),
                    nested: site.nested.clone(),
                };
                let mut m = joblib::machine(item, 0);
                m.run_all();
                // A row PyTables must unpickle and that does not parse is a problem.
                self.finish_pickle(m, &inner, 0, None, object);
            }
        }
        let weights = keras_weights(&root, &walk) || !top;
        // The datasets, decoded one at a time and handed over in batches.
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        let mut batch: Vec<TensorView<'_>> = Vec::new();
        let mut held = 0usize;
        load::hdf5_tensors(
            data,
            &limits,
            &mut |mut v| {
                v.offset = site.span(at(v.offset));
                if let Cow::Owned(b) = &v.bytes {
                    held += b.len();
                }
                batch.push(v);
                if held > BATCH_BYTES {
                    self.tensors(std::mem::take(&mut batch), weights);
                    held = 0;
                }
            },
            &mut |p| problems.push(p),
            &mut |n| notes.push(n.message),
        );
        self.tensors(batch, weights);
        for p in problems {
            self.problem(
                format!("{prefix}{}", p.message),
                p.offset.map(|o| site.span(at(o))),
            );
        }
        if !weights && !walk.datasets.is_empty() {
            self.note(format!(
                "{prefix}HDF5 data file (no Keras model or weights layout): its datasets are summarised, not judged as weights"
            ));
        }
        for n in notes {
            self.note(format!("{prefix}{n}"));
        }
    }

    /// One HDF5 attribute: every element that PyTables would unpickle (a scalar non-UTF-8
    /// string ending in `.`, see `tables/attributeset.py`) or that merely looks like a pickle
    /// (any string, opaque or byte-sequence element starting with a PROTO opcode or parsing
    /// as a pickle) goes to the visitor as a pickle, located at `path/@name` (`[i]` for the
    /// i-th element of an array). A value that does not parse is what PyTables then returns
    /// as the string itself: not a problem, unless code was called before the parse failed.
    /// An unreadable attribute is a problem: it could hide a pickle.
    fn hdf5_attribute(&mut self, path: &str, a: &hdf5::Attribute, site: &Site, offset: u64) {
        let outer = site.prefix();
        let node = if path == "/" {
            format!("/@{}", a.name)
        } else {
            format!("{path}/@{}", a.name)
        };
        if let AttrValue::Unreadable(why) = &a.value {
            return self.problem(
                format!("{outer}HDF5 attribute `{node}` cannot be read: {why}"),
                Some(site.span(offset)),
            );
        }
        let string = matches!(a.value, AttrValue::Strings(_));
        for (i, raw) in a.raw.iter().enumerate() {
            let pytables =
                a.scalar && string && !a.utf8 && raw.ends_with(b".") && raw.as_slice() != b"0.";
            let looks = raw.first() == Some(&0x80) || raw.ends_with(b".") || looks_like_pickle(raw);
            if !(pytables || looks) {
                continue;
            }
            let pointer = if a.raw.len() > 1 {
                format!("{node}[{i}]")
            } else {
                node.clone()
            };
            let inner = Site {
                file: site.file.clone(),
                member: Some(format!("{outer}{pointer}")),
                mapped: false,
                anchor: site.span(offset),
                nested: site.nested.clone(),
            };
            // A variable-length string is read up to its first NUL by PyTables: both readings.
            let mut readings: Vec<&[u8]> = vec![raw];
            if let Some(nul) = raw.iter().position(|&b| b == 0) {
                readings.push(&raw[..nul]);
            }
            for bytes in readings {
                let mut m = joblib::machine(bytes, 0);
                m.run_all();
                self.finish_pickle(m, &inner, 0, None, false);
            }
        }
    }

    /// A tar archive: the legacy `torch.save` layout (`sys_info`, `pickle`, `storages`,
    /// `tensors`) with tensor reconstruction, and every other member walked by content.
    fn tar(&mut self, data: &[u8], site: &Site, depth: usize) {
        let archive = match tar::parse(data) {
            Ok(a) => a,
            Err(e) => return self.problem(format!("{e}"), Some(site.span(0))),
        };
        if archive.missing_end_marker {
            self.problem(
                "tar: no end-of-archive marker after the last member: the archive may be truncated",
                Some(site.span(archive.end)),
            );
        }
        let member = |name: &str| {
            archive
                .entries
                .iter()
                .rev()
                .find(|e| e.is_file() && e.name == name)
        };
        // Pickle offsets inside a member: file offsets when the member is mapped in the file.
        let member_base = |e: &tar::TarEntry| {
            if site.mapped {
                site.anchor + e.data_offset
            } else {
                0
            }
        };
        let member_site = |e: &tar::TarEntry| {
            let mut s = site.clone();
            s.member = Some(match &site.member {
                Some(outer) => format!("{outer}/{}", e.name),
                None => e.name.clone(),
            });
            s.anchor = if site.mapped {
                site.anchor + e.data_offset
            } else {
                site.anchor
            };
            s
        };
        let mut done: HashSet<&str> = HashSet::new();
        let mut recognised = false;
        let legacy_members = (member("storages"), member("tensors"), member("pickle"));
        let profile =
            matches!(legacy_members, (Some(_), Some(_), Some(_))).then_some(Profile::Torch);
        if let (Some(storages), Some(tensors), Some(pickle)) = legacy_members {
            recognised = true;
            self.format = "torch-legacy-tar".into();
            for e in [storages, tensors, pickle] {
                done.insert(e.name.as_str());
            }
            let st = self.legacy_member(
                legacy::tar_storages(storages.data(data), member_base(storages)),
                &member_site(storages),
                depth,
                "storages",
            );
            let ts = st.as_ref().and_then(|st| {
                self.legacy_member(
                    legacy::tar_tensors(tensors.data(data), member_base(tensors), st),
                    &member_site(tensors),
                    depth,
                    "tensors",
                )
            });
            let ps = member_site(pickle);
            let m = self.pickle(pickle.data(data), &ps, depth, profile);
            if let (Some(st), Some(mut ts), Some(m)) = (st, ts, m)
                && let Some(root) = m.streams[0].root
            {
                legacy::tar_names(&m, root, &mut ts);
                let st_bytes = storages.data(data);
                let st_at = site.span(storages.data_offset);
                let lookup = |key: &str| {
                    st.get(key).map(|&(off, len)| {
                        (Cow::Borrowed(&st_bytes[off..off + len]), st_at + off as u64)
                    })
                };
                self.views(&ts, &ps, lookup);
            }
        }
        // Every other member: pickles (sys_info, ...), npy, nested zips and tars, by content.
        for e in archive.entries.iter().filter(|e| e.is_file()) {
            if done.contains(e.name.as_str()) {
                continue;
            }
            let bytes = e.data(data);
            let s = member_site(e);
            if looks_like_pickle(bytes) {
                recognised = true;
                self.pickle(bytes, &s, depth, profile);
            } else if bytes.starts_with(npy::MAGIC) {
                recognised = true;
                self.npy(bytes, &s, depth, &e.name);
            } else if crate::zip::is_zip(bytes) && depth < MAX_NESTING {
                recognised = true;
                self.zip(bytes, &s, depth + 1);
            } else if tar::is_tar(bytes) && depth < MAX_NESTING {
                recognised = true;
                self.tar(bytes, &s, depth + 1);
            }
        }
        if !recognised {
            self.problem(
                "tar archive without a recognised model layout (no pickle, storages and tensors members, no pickle or .npy member)",
                Some(site.span(0)),
            );
        }
    }

    /// Hands a legacy member's pickles over (torch loader), then reports a record that could
    /// not be read: the member's content only if both passed.
    fn legacy_member<T>(
        &mut self,
        parsed: legacy::Parsed<'_, T>,
        site: &Site,
        depth: usize,
        member: &str,
    ) -> Option<T> {
        let base = parsed.machine.base;
        let ok = self
            .finish_pickle(parsed.machine, site, depth, Some(Profile::Torch), true)
            .is_some();
        if let Some(p) = parsed.problem {
            self.problem(
                format!(
                    "{}: {}; the rest is not read",
                    site.member.as_deref().unwrap_or(member),
                    p.message
                ),
                Some(site.span(base + p.offset as u64)),
            );
            return None;
        }
        ok.then_some(parsed.value)
    }

    fn tensor_problems(&mut self, problems: &[TensorProblem]) {
        for p in problems {
            self.problem(
                format!("tensor `{}`: {}", p.name, p.message),
                Some(p.offset),
            );
        }
    }

    /// Cuts each tensor's view from its storage, checks bounds, and hands the views over.
    fn views<'s>(
        &mut self,
        tensors: &[TensorRef],
        site: &Site,
        storage: impl Fn(&str) -> Option<Storage<'s>>,
    ) {
        let mut cache: HashMap<&str, Option<Storage<'s>>> = HashMap::new();
        for t in tensors {
            cache
                .entry(&t.storage_key)
                .or_insert_with(|| storage(&t.storage_key));
        }
        let mut ready: Vec<TensorView<'_>> = Vec::new();
        for t in tensors {
            let Some((bytes, _)) = &cache[t.storage_key.as_str()] else {
                self.visitor.entry(Entry::BadView {
                    site,
                    tensor: t,
                    why: BadView::Missing,
                });
                continue;
            };
            let view = match cut(t, bytes) {
                Ok(view) => view,
                Err(ViewError::OutOfBounds { have, end }) => {
                    self.visitor.entry(Entry::BadView {
                        site,
                        tensor: t,
                        why: BadView::OutOfBounds { have, end },
                    });
                    continue;
                }
                Err(ViewError::TooLarge { numel }) => {
                    self.visitor.entry(Entry::BadView {
                        site,
                        tensor: t,
                        why: BadView::TooLarge { numel },
                    });
                    continue;
                }
            };
            ready.push(TensorView {
                name: t.name.clone(),
                dtype: t.dtype,
                shape: t.shape.clone(),
                bytes: view,
                offset: site.span(t.offset),
                storage: Some((t.storage_key.clone(), t.storage_offset)),
            });
        }
        self.tensors(ready, true);
    }

    fn npy(&mut self, data: &[u8], site: &Site, depth: usize, name: &str) {
        let parsed = match npy::parse(data) {
            Ok(p) => p,
            Err(e) => {
                return self.problem(format!("{}{e}", site.prefix()), Some(site.span(0)));
            }
        };
        let body = &data[parsed.data_offset..];
        match parsed.body {
            npy::NpyBody::Object => {
                self.visitor.entry(Entry::NotNumbers {
                    message: format!("{name}: object array (a pickle), not numbers: not read"),
                    span: Some(site.span(site.anchor + parsed.data_offset as u64)),
                });
                let mut inner = site.clone();
                inner.anchor = if site.mapped {
                    site.anchor + parsed.data_offset as u64
                } else {
                    site.anchor
                };
                self.pickle(body, &inner, depth, Some(Profile::Numpy));
            }
            // Strings, dates, structured records: read and size-checked, no numbers.
            npy::NpyBody::Records { .. } => {}
            npy::NpyBody::Array { dtype, big_endian } => {
                let mut bytes: Cow<'_, [u8]> = if big_endian {
                    Cow::Owned(swap_bytes(body, dtype.size()))
                } else {
                    Cow::Borrowed(body)
                };
                // Tensors are C order, as numpy indexes them.
                if parsed.fortran_order
                    && !bytes.is_empty()
                    && parsed.shape.iter().filter(|&&d| d > 1).count() > 1
                {
                    bytes = Cow::Owned(load::fortran_to_c(&bytes, &parsed.shape, dtype.size()));
                }
                let name = name.strip_suffix(".npy").unwrap_or(name).to_owned();
                let view = TensorView {
                    name,
                    dtype,
                    shape: parsed.shape.clone(),
                    bytes,
                    offset: site.span(site.anchor + parsed.data_offset as u64),
                    storage: None,
                };
                self.tensors(vec![view], true);
            }
        }
    }

    /// A Keras model saved as JSON (`model.to_json()`, Keras 1 and 2).
    fn keras_json(&mut self, data: &[u8]) {
        self.format = "keras-json".into();
        match serde_json::from_slice::<serde_json::Value>(data) {
            Ok(config) => {
                let site = Site::file(&self.file);
                let name = self.file.clone();
                self.visitor.entry(Entry::KerasConfig {
                    site: &site,
                    config: &config,
                    source: KerasSource::Member(&name),
                });
            }
            Err(e) => self.problem(format!("Keras model JSON: {e}"), None),
        }
    }

    /// A GGUF (llama.cpp) file: its header for the visitor, then every plain (F32, F16, BF16,
    /// F64, integer) tensor; quantized tensors are counted in a note, not decoded.
    fn gguf(&mut self, data: &[u8]) {
        self.format = "gguf".into();
        let g = match gguf::parse(data) {
            Ok(g) => g,
            Err(e) => return self.problem(format!("{e}: not checked"), Some(e.offset)),
        };
        self.visitor.entry(Entry::Gguf { gguf: &g });
        // Tensors whose data is not in the file are header anomalies.
        let mut views = Vec::new();
        let quantized = load::gguf_tensors(data, &g, &mut |v| views.push(v));
        self.tensors(views, true);
        if !quantized.is_empty() {
            let n: usize = quantized.values().sum();
            let kinds: Vec<String> = quantized.iter().map(|(k, v)| format!("{v} {k}")).collect();
            self.note(format!(
                "{n} quantized GGUF tensor(s) not summarised ({}): weight statistics cover F32, F16, BF16, F64 and integer tensors",
                kinds.join(", ")
            ));
        }
    }

    fn safetensors(&mut self, data: &[u8]) {
        self.format = "safetensors".into();
        let st = match safetensors::parse(data) {
            Ok(st) => st,
            Err(e) => return self.problem(e.to_string(), Some(0)),
        };
        self.visitor.entry(Entry::Safetensors { st: &st });
        let views = st
            .tensors
            .iter()
            .map(|t| {
                let s = (st.data_start + t.begin) as usize;
                let e = (st.data_start + t.end) as usize;
                TensorView {
                    name: t.name.clone(),
                    dtype: t.dtype,
                    shape: t.shape.clone(),
                    bytes: Cow::Borrowed(&data[s..e]),
                    offset: s as u64,
                    storage: None,
                }
            })
            .collect();
        self.tensors(views, true);
    }

    fn zip(&mut self, data: &[u8], site: &Site, depth: usize) {
        let z = match ZipArchive::parse(data, self.limits) {
            Ok(z) => z,
            Err(e) => return self.problem(format!("{}{e}", site.prefix()), Some(site.span(0))),
        };
        let at = |o: u64| if site.mapped { site.anchor + o } else { o };
        // The PyTorch layout: `<prefix>/data.pkl`.
        let layout = torch_layout(&z);
        let prefix = layout.as_ref().map(|l| l.prefix.clone());
        self.visitor.entry(Entry::Zip {
            site,
            zip: &z,
            prefix: prefix.as_deref(),
        });
        // Read every member once: CRC, bombs, and what it contains.
        let mut contents: BTreeMap<usize, Cow<'_, [u8]>> = BTreeMap::new();
        for (i, e) in z.entries.iter().enumerate() {
            match z.read(e) {
                Ok(m) => {
                    if !m.crc_ok {
                        self.visitor.entry(Entry::CrcMismatch {
                            site,
                            entry: e,
                            actual: m.actual_crc,
                        });
                    }
                    contents.insert(i, m.bytes);
                }
                Err(err @ ZipError::Bomb { .. }) => {
                    self.visitor.entry(Entry::Bomb {
                        site,
                        entry: e,
                        error: &err,
                    });
                    if let ZipError::Bomb { name, .. } = &err {
                        self.problem(
                            format!("member `{name}` was not inflated (zip bomb limits); its content is not checked"),
                            Some(site.span(at(e.local_offset))),
                        );
                    }
                }
                Err(err) => self.problem(err.to_string(), Some(site.span(at(e.local_offset)))),
            }
        }
        let member_site = |e: &ZipEntry| {
            let mut s = site.clone();
            s.member = Some(match &site.member {
                Some(outer) => format!("{outer}/{}", e.name),
                None => e.name.clone(),
            });
            // Stored members' offsets are file offsets.
            if site.mapped && e.method == 0 {
                s.anchor = site.anchor + e.data_offset;
            } else {
                s.mapped = false;
                s.anchor = site.span(at(e.local_offset));
            }
            s
        };
        let mut storage_members: HashSet<usize> = HashSet::new();
        let mut recognised = false;
        let mut member_profile = Profile::Torch;
        if let (Some(layout), Some(prefix)) = (&layout, &prefix) {
            recognised = true;
            if self.format == "zip" {
                self.format = "torch-zip".into();
            }
            let pkl = layout.pickle;
            let idx = z
                .entries
                .iter()
                .position(|e| std::ptr::eq(e, pkl))
                .expect("the layout's entry is one of the archive's");
            let torch_profile = if layout.torchscript {
                self.format = "torchscript".into();
                Profile::TorchScript
            } else {
                Profile::Torch
            };
            member_profile = torch_profile;
            let s = member_site(pkl);
            let big = layout
                .byteorder
                .and_then(|b| z.entries.iter().position(|e| std::ptr::eq(e, b)))
                .and_then(|i| contents.get(&i))
                .is_some_and(|b| b.as_ref() == b"big");
            if let Some(bytes) = contents.get(&idx) {
                let bytes: &[u8] = bytes;
                let machine = self.pickle(bytes, &s, depth, Some(torch_profile));
                if let Some(m) = machine
                    && let Some(root) = m.streams[0].root
                {
                    let (tensors, problems) = collect_tensors(&m, root);
                    self.tensor_problems(&problems);
                    let names: HashMap<String, usize> = z
                        .entries
                        .iter()
                        .enumerate()
                        .map(|(i, e)| (e.name.clone(), i))
                        .collect();
                    for t in &tensors {
                        if let Some(&i) = names.get(&format!("{prefix}data/{}", t.storage_key)) {
                            storage_members.insert(i);
                        }
                    }
                    let lookup = |key: &str| {
                        let i = *names.get(&format!("{prefix}data/{key}"))?;
                        let b = contents.get(&i)?;
                        let b: Cow<'_, [u8]> = if big {
                            let size = tensors
                                .iter()
                                .find(|t| t.storage_key == key)
                                .map_or(1, |t| t.dtype.size());
                            Cow::Owned(swap_bytes(b, size))
                        } else {
                            Cow::Borrowed(&b[..])
                        };
                        Some((b, z.entries[i].data_offset))
                    };
                    // Tensor locations point at the rebuild call in data.pkl.
                    self.views(&tensors, &s, lookup);
                }
            }
            storage_members.insert(idx);
        }
        // skops: a zip whose `schema.json` says which objects to build on load.
        let skops = prefix.is_none()
            && depth == 0
            && site.member.is_none()
            && z.entries.iter().any(|e| e.name == "schema.json");
        // Every other member that looks like a pickle or .npy is walked, whatever its name.
        for (i, e) in z.entries.iter().enumerate() {
            if storage_members.contains(&i) {
                continue;
            }
            let Some(bytes) = contents.get(&i) else {
                continue;
            };
            let s = member_site(e);
            let code_dir = prefix.as_ref().map(|p| format!("{p}code/"));
            if member_profile == Profile::TorchScript
                && code_dir.is_some_and(|d| e.name.starts_with(&d))
                && e.name.ends_with(".py")
            {
                let text = String::from_utf8_lossy(bytes);
                self.visitor.entry(Entry::Code {
                    site: &s,
                    text: &text,
                });
            } else if bytes.starts_with(npy::MAGIC) {
                recognised = true;
                if prefix.is_none() && self.format == "zip" {
                    self.format = "npz".into();
                }
                self.npy(bytes, &s, depth, &e.name);
            } else if looks_like_pickle(bytes) {
                recognised = true;
                let profile = prefix.is_some().then_some(member_profile);
                self.pickle(bytes, &s, depth, profile);
            } else if crate::zip::is_zip(bytes) && depth < MAX_NESTING {
                recognised = true;
                self.zip(bytes, &s, depth + 1);
            } else if sniff(bytes) == Format::Hdf5 {
                // Keras 3 `.keras`: `model.weights.h5` (any HDF5 member, whatever its name).
                recognised = true;
                self.hdf5(bytes, &s);
            } else if !skops {
                // (A skops file is reported as not scanned as a whole below.)
                self.unread_member(&e.name, prefix.as_deref(), bytes.len(), at(e.local_offset));
            }
        }
        // Keras 3 `.keras`: a zip with `config.json` (and `model.weights.h5`).
        if let Some(i) = z.entries.iter().position(|e| e.name == "config.json")
            && z.entries
                .iter()
                .any(|e| e.name == "model.weights.h5" || e.name == "metadata.json")
        {
            recognised = true;
            self.format = "keras".into();
            match contents
                .get(&i)
                .map(|b| serde_json::from_slice::<serde_json::Value>(b))
            {
                Some(Ok(config)) => {
                    let s = member_site(&z.entries[i]);
                    let member = s.member.clone().unwrap_or_default();
                    self.visitor.entry(Entry::KerasConfig {
                        site: &s,
                        config: &config,
                        source: KerasSource::Member(&member),
                    });
                }
                Some(Err(e)) => self.problem(format!("config.json is not JSON: {e}"), None),
                None => {}
            }
        }
        if skops {
            return self.not_scanned(
                "skops",
                " (its schema.json, which decides what is built, is not checked)",
            );
        }
        if !recognised {
            self.problem(
                "zip archive without a recognised model layout (no data.pkl, pickle or .npy member)",
                None,
            );
        }
    }

    /// A zip member that is none of the formats read: known PyTorch bookkeeping passes, a
    /// member whose name says pickle or numpy is loadable (a loader may read it, and it cannot
    /// be checked), anything else is skipped. Never silently dropped.
    fn unread_member(&mut self, name: &str, prefix: Option<&str>, len: usize, span: u64) {
        let inner = prefix.and_then(|p| name.strip_prefix(p)).unwrap_or(name);
        let bookkeeping = prefix.is_some()
            && (matches!(
                inner,
                "version"
                    | ".format_version"
                    | ".storage_alignment"
                    | "byteorder"
                    | ".data/version"
                    | ".data/serialization_id"
                    | "serialization_id"
            ) || inner.starts_with("data/")
                || inner.starts_with("code/")
                || inner.starts_with("extra/")
                || inner.starts_with(".data/"));
        // Keras 3 `.keras` metadata is read after the members.
        let keras = prefix.is_none() && matches!(name, "config.json" | "metadata.json");
        if bookkeeping || keras || name.ends_with('/') {
            return;
        }
        let lower = name.to_ascii_lowercase();
        let loadable = [
            ".pkl", ".pickle", ".pt", ".pth", ".npy", ".joblib", ".sav", ".ckpt",
        ]
        .iter()
        .any(|ext| lower.ends_with(ext));
        self.visitor.entry(Entry::Skipped {
            name,
            len,
            span,
            loadable,
        });
    }
}

/// Whether an HDF5 file holds Keras weights, which are model weights: a Keras 2 model or
/// `save_weights` file (root attributes `model_config`, `training_config`, `keras_version`,
/// `backend` or `layer_names`, or a `/model_weights` group) or the Keras 3 weights layout
/// (groups named `vars`, as in `model.weights.h5`). Any other HDF5 file (h5py, PyTables and
/// pandas data) holds data, where NaN marks missing values and magnitudes are whatever was
/// measured.
pub fn keras_weights(root: &[hdf5::Attribute], walk: &hdf5::Walk) -> bool {
    const KERAS: [&str; 5] = [
        "model_config",
        "training_config",
        "keras_version",
        "backend",
        "layer_names",
    ];
    root.iter().any(|a| KERAS.contains(&a.name.as_str()))
        || walk
            .groups
            .iter()
            .any(|(p, _)| p == "/model_weights" || p == "/vars" || p.ends_with("/vars"))
}
