//! Scanning one file: sniff the container, audit every pickle in it, reconstruct tensors and
//! check their values. The [`Scanner`] only walks: every finding comes from a rule's `check`
//! in [`crate::rules`], called with what the walk found (a zip anomaly or member, a tensor
//! view or its statistics, a GGUF or safetensors anomaly, a chat template).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use mlsec_core::{Finding, Location, Pointer, ScanError, Span};
use mlsec_tensors::dtype::DType;
use mlsec_tensors::legacy;
pub use mlsec_tensors::load::TensorView;
use mlsec_tensors::load::{self, ViewError, cut, swap_bytes, torch_layout};
use mlsec_tensors::pickle::Machine;
use mlsec_tensors::sniff::{Format, sniff};
use mlsec_tensors::torch::{TensorRef, collect_tensors, is_legacy_magic};
use mlsec_tensors::zip::{ZipArchive, ZipError, ZipLimits};
use mlsec_tensors::{gguf, npy, safetensors};

use crate::audit::{audit, infer_profile};
use crate::policy::Profile;
use crate::rules;
use crate::site::Site;
use mlsec_tensors::stats::{self, Stats};

/// A storage's bytes and its file offset.
type Storage<'s> = (Cow<'s, [u8]>, u64);

/// How deep nested payloads are followed.
const MAX_NESTING: usize = 4;

/// Decoded (not borrowed) tensor bytes held at once before their statistics are computed:
/// HDF5 datasets are decoded one at a time and summarised in batches of about this size.
const BATCH_BYTES: usize = 256 << 20;

#[derive(Debug, Clone)]
pub struct Options {
    pub threshold: f64,
    pub zip_limits: ZipLimits,
    /// Per-tensor `[min, max]` ranges of an original-format reference fingerprint.
    pub ranges: HashMap<String, (f64, f64)>,
    /// Threads for per-tensor statistics within one file.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threshold: 100.0,
            zip_limits: ZipLimits::default(),
            ranges: HashMap::new(),
            threads: 1,
        }
    }
}

/// One reconstructed tensor and its statistics.
#[derive(Debug, Clone)]
pub struct TensorRecord {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub stats: Stats,
    /// Storage key and element offset, for tied weights.
    pub storage: Option<(String, u64)>,
}

/// The result of scanning one file.
#[derive(Debug, Default)]
pub struct FileResult {
    pub file: String,
    pub format: String,
    pub findings: Vec<Finding>,
    pub errors: Vec<ScanError>,
    pub tensors: Vec<TensorRecord>,
    /// Whether the file is an unknown non-model file that was skipped.
    pub skipped: bool,
    /// Things the user may want to know that are neither findings nor errors (data that holds
    /// no numbers, an archive member in no format read), each starting with the file name.
    pub notes: Vec<String>,
    /// Companion files of an old joblib file (joblib < 0.10) read with it (canonical paths),
    /// so that a directory scan does not scan them a second time.
    pub companions: Vec<std::path::PathBuf>,
    /// A format recognised but not scanned (found in a directory walk; a file named on the
    /// command line gets an error instead).
    pub not_scanned: Option<String>,
}

impl FileResult {
    /// Findings about code execution or archive tampering (not weight statistics).
    pub fn security_findings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.rule.id < "CKPT030" && f.severity > mlsec_core::Severity::Info)
            .count()
    }
}

pub struct Scanner<'o> {
    pub opts: &'o Options,
    pub out: FileResult,
    /// When set, tensors are handed here instead of being only summarised.
    pub visitor: Option<&'o mut dyn FnMut(&TensorView<'_>)>,
    /// Whether tensors recorded now are model weights, judged by the weight rules (NaN/Inf,
    /// threshold, outliers); false for the arrays of HDF5 data files.
    judge_weights: bool,
    /// The directory of the file, where an old joblib file's companion files are (`None`:
    /// only the bytes are known, and companion arrays are errors).
    pub dir: Option<std::path::PathBuf>,
    /// Whether the file was named by the user (not found in a directory walk): a format that
    /// is recognised but not scanned is then an error rather than a warning.
    pub named: bool,
}

impl<'o> Scanner<'o> {
    pub fn new(opts: &'o Options, file: &str) -> Scanner<'o> {
        Scanner {
            opts,
            out: FileResult {
                file: file.to_owned(),
                ..FileResult::default()
            },
            visitor: None,
            judge_weights: true,
            dir: None,
            named: true,
        }
    }

    /// A format recognised but not read: an error for a file the user named, a warning (and a
    /// count in the summary) for one met in a directory walk.
    fn not_scanned(&mut self, what: &str, hint: &str) {
        self.out.format = what.to_owned();
        let message =
            format!("not scanned: {what}: `mlsec checkpoint` does not read this format{hint}");
        if self.named {
            self.error(message, None);
        } else {
            self.out.not_scanned = Some(message);
        }
    }

    fn error(&mut self, message: impl Into<String>, offset: Option<u64>) {
        let mut e = ScanError::new(&self.out.file, message);
        if let Some(o) = offset {
            e = e.with_span(Span::Bytes { offset: o, len: 1 });
        }
        self.out.errors.push(e);
    }

    /// Scans a whole file's bytes. `explicit`: named on the command line or with a model
    /// extension, so an unrecognised format is an error rather than skipped.
    pub fn scan_file(&mut self, data: &[u8], explicit: bool) {
        let site = Site::file(&self.out.file);
        let format = sniff(data);
        self.out.format = format.name().to_owned();
        if matches!(format, Format::Unknown | Format::Onnx)
            && let Some(what) = mlsec_tensors::unscanned::recognise(data, &self.out.file)
        {
            return self.not_scanned(what, "");
        }
        match format {
            Format::Pickle if mlsec_tensors::zip::has_eocd(data) => {
                // A pickle/zip polyglot: pickle loaders read the head, zip readers the rest.
                let head = ZipArchive::parse(data, self.opts.zip_limits)
                    .ok()
                    .and_then(|z| z.entries.iter().map(|e| e.local_offset).min())
                    .map_or(data.len(), |o| o as usize);
                self.scan_raw_pickle(&data[..head], &site, 0);
                self.out.format = "pickle+zip".into();
                self.scan_zip(data, &site, 0);
            }
            Format::Pickle => self.scan_raw_pickle(data, &site, 0),
            Format::Zip => self.scan_zip(data, &site, 0),
            Format::Npy => self.scan_npy(data, &site, 0, "array"),
            Format::Safetensors => self.scan_safetensors(data),
            Format::Onnx => self.not_scanned("ONNX model", "; use `mlsec export-guard`"),
            Format::Hdf5 => self.scan_hdf5(data, &site),
            Format::Tar => self.scan_tar(data, &site, 0),
            Format::Gguf => self.scan_gguf(data),
            Format::Unknown => match load::joblib_compression(data) {
                Some(c) => self.scan_compressed_joblib(data, c, explicit),
                None if crate::keras::is_model_json(data) => self.scan_keras_json(data),
                None if explicit => self.error(
                    "unrecognised file format: not a pickle, zip, npy, safetensors, HDF5 or compressed joblib file",
                    None,
                ),
                None => self.out.skipped = true,
            },
        }
    }

    /// A whole-file compressed joblib dump (`joblib.dump(..., compress=...)`, or a plain pickle
    /// written through a compressor, which `joblib.load` reads the same way): expanded under
    /// the zip member size limit ([`mlsec_tensors::joblib::expand`]), then audited and read
    /// like a raw joblib pickle. A stream that fails part-way is an error, and what it decoded
    /// before is still audited (the loader unpickles those bytes). Offsets are in the expanded
    /// stream (`member_offset` evidence), located at the start of the file. A file that only
    /// looks compressed is skipped in a directory scan unless it has a model extension.
    fn scan_compressed_joblib(&mut self, data: &[u8], compression: &str, explicit: bool) {
        self.out.format = format!("joblib-{compression}");
        let limit = usize::try_from(self.opts.zip_limits.max_member_size).unwrap_or(usize::MAX);
        let expanded = mlsec_tensors::joblib::expand(data, limit);
        let pickle = mlsec_tensors::pickle::looks_like_pickle(&expanded.data);
        if !pickle && !explicit {
            self.out.skipped = true;
            return;
        }
        match &expanded.error {
            Some(e) if pickle && !expanded.data.is_empty() => self.error(
                format!(
                    "{e}; the {} bytes decoded before are checked",
                    expanded.data.len()
                ),
                Some(0),
            ),
            Some(e) => return self.error(format!("{e}: not checked"), Some(0)),
            None if !pickle => {
                return self.error(
                    format!("{compression}-compressed data is not a pickle: not checked"),
                    Some(0),
                );
            }
            None => {}
        }
        let site = Site {
            file: self.out.file.clone(),
            member: Some(format!("{compression} stream")),
            mapped: false,
            anchor: 0,
            nested: Vec::new(),
        };
        let mut m = Machine::new(&expanded.data, 0);
        m.run_all();
        self.out.format = load::compressed_format(&m, compression);
        if let Some(m) = self.finish_pickle(m, &site, 0, None) {
            self.joblib_arrays(&m, &site);
            self.joblib_companions(&m, &site, 0);
        }
    }

    /// The arrays an old joblib file (joblib < 0.10) keeps in companion files next to it
    /// ([`mlsec_tensors::joblib::companions`]), read from the file's directory the way joblib
    /// reads them: an `NDArrayWrapper`'s `.npy` like any `.npy` (an object array is a pickle
    /// that numpy unpickles), a `ZNDArrayWrapper`'s zfile as the raw elements of the dtype and
    /// shape in the pickle. A name that leaves the directory (`..`, an absolute path, a
    /// symlink out) and a missing companion are errors naming it. Findings and errors about a
    /// companion's content are located in the companion file.
    fn joblib_companions(&mut self, m: &Machine<'_>, site: &Site, depth: usize) {
        use mlsec_tensors::joblib::{self, Body, CompanionKind};
        for c in joblib::companions(m) {
            let c = match c {
                Ok(c) => c,
                Err(e) => {
                    self.error(format!("{e}: not checked"), None);
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
                self.error(
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
                    self.error(format!("joblib array {name}: {e}: not checked"), at);
                    continue;
                }
            };
            if self.out.companions.contains(&canon) {
                continue;
            }
            self.out.companions.push(canon);
            let rel = match self.out.file.rsplit_once('/') {
                Some((d, _)) => format!("{d}/{}", c.file),
                None => c.file.clone(),
            };
            let (findings, errors) = (self.out.findings.len(), self.out.errors.len());
            let csite = Site::file(&rel);
            match c.kind {
                CompanionKind::Npy if bytes.starts_with(npy::MAGIC) => {
                    self.scan_npy(&bytes, &csite, depth, &name);
                }
                CompanionKind::Npy => self.error(
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
                } => {
                    let limit =
                        usize::try_from(self.opts.zip_limits.max_member_size).unwrap_or(usize::MAX);
                    let e = if bytes.starts_with(b"ZF") {
                        joblib::expand(&bytes, limit)
                    } else {
                        self.error(
                            format!("joblib array {name}: the companion file is not a zfile: not checked"),
                            Some(0),
                        );
                        continue;
                    };
                    if let Some(err) = &e.error {
                        self.error(format!("joblib array {name}: {err}: not checked"), Some(0));
                    } else if let Body::Raw { dtype, .. } = body {
                        let numel = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
                        let want = numel.and_then(|n| n.checked_mul(dtype.size() as u64));
                        if want != Some(e.data.len() as u64) {
                            self.error(
                                format!(
                                    "joblib array {name}: the companion holds {} bytes, shape {shape:?} and dtype `{descr}` need {}: not checked",
                                    e.data.len(),
                                    want.map_or_else(|| "more than can be counted".into(), |w| w.to_string())
                                ),
                                Some(0),
                            );
                        } else {
                            let a = joblib::JoblibArray {
                                path: Some(name.clone()),
                                node: c.node,
                                descr,
                                body,
                                shape: shape.clone(),
                                fortran_order,
                                subclass: None,
                                data: 0..e.data.len() as u64,
                            };
                            // Swapped to little-endian and C order as joblib arrays are.
                            let cm = Machine::new(&e.data, 0);
                            if let Some(bytes) = a.elements(&cm) {
                                self.record_all(vec![TensorView {
                                    name: name.clone(),
                                    dtype,
                                    shape,
                                    bytes,
                                    offset: 0,
                                    storage: None,
                                }]);
                            }
                        }
                    } else {
                        self.error(
                            format!("joblib array {name}: dtype `{descr}` of the companion is not a tensor type: not checked"),
                            Some(0),
                        );
                    }
                }
            }
            for f in &mut self.out.findings[findings..] {
                f.location.file = rel.clone();
            }
            for e in &mut self.out.errors[errors..] {
                e.file = rel.clone();
            }
        }
    }

    /// The numeric arrays of a joblib pickle, through the same statistics as every tensor.
    /// Arrays that cannot be understood are errors; object arrays are pickles the audit
    /// already covered, and non-numeric arrays (strings, dates) hold no weights.
    fn joblib_arrays(&mut self, m: &Machine<'_>, site: &Site) {
        let mut views = Vec::new();
        let mut problems = Vec::new();
        load::joblib_tensors(m, &mut |v| views.push(v), &mut |p| problems.push(p));
        for v in &mut views {
            v.offset = site.span(v.offset);
        }
        self.record_all(views);
        for p in problems {
            let prefix = site
                .member
                .as_ref()
                .map(|m| format!("{m}: "))
                .unwrap_or_default();
            self.error(
                format!("{prefix}{}: not checked", p.message),
                p.offset.map(|o| site.span(o)),
            );
        }
    }

    /// Any buffer (a zip member, a nested payload): sniffed and scanned.
    fn scan_buffer(&mut self, data: &[u8], site: &Site, depth: usize, profile: Option<Profile>) {
        match sniff(data) {
            Format::Zip => self.scan_zip(data, site, depth),
            Format::Hdf5 => self.scan_hdf5(data, site),
            Format::Npy => {
                self.scan_npy(data, site, depth, site.member.as_deref().unwrap_or("array"))
            }
            Format::Pickle => {
                self.scan_pickle(data, site, depth, profile);
            }
            other => self.error(
                format!(
                    "{}nested payload is a {} file, which cannot be checked",
                    site.member
                        .as_ref()
                        .map(|m| format!("{m}: "))
                        .unwrap_or_default(),
                    other.name()
                ),
                Some(site.span(0)),
            ),
        }
    }

    /// Runs the pickle machine over every stream in `data`, audits it and follows nested
    /// payloads. Returns the machine for tensor reconstruction when the first stream parsed.
    fn scan_pickle<'d>(
        &mut self,
        data: &'d [u8],
        site: &Site,
        depth: usize,
        profile: Option<Profile>,
    ) -> Option<Machine<'d>> {
        let base = if site.mapped { site.anchor } else { 0 };
        let mut m = Machine::new(data, base);
        m.run_all();
        self.finish_pickle(m, site, depth, profile)
    }

    fn finish_pickle<'d>(
        &mut self,
        m: Machine<'d>,
        site: &Site,
        depth: usize,
        profile: Option<Profile>,
    ) -> Option<Machine<'d>> {
        self.finish_pickle_with(m, site, depth, profile, true)
    }

    /// [`Scanner::finish_pickle`]; `parse_errors`: whether a stream that fails to parse
    /// (without calling code first) is an error, or, for bytes that may not be a pickle at
    /// all (HDF5 attributes), nothing.
    fn finish_pickle_with<'d>(
        &mut self,
        m: Machine<'d>,
        site: &Site,
        depth: usize,
        profile: Option<Profile>,
        parse_errors: bool,
    ) -> Option<Machine<'d>> {
        let profile = profile.unwrap_or_else(|| infer_profile(&m));
        let mut result = audit(&m, profile, site);
        // Where loaders read the frames differently, what any of them would do counts.
        for other in m.other_readings() {
            let extra = audit(&other, profile, site);
            let loader = other.mode().loader();
            for f in extra.findings {
                let seen = result.findings.iter().any(|g| {
                    g.rule.id == f.rule.id && g.location == f.location && g.message == f.message
                });
                if !seen {
                    result.findings.push(f.with_evidence("read_as", loader));
                }
            }
            for n in extra.nested {
                if !result.nested.iter().any(|k| k.bytes == n.bytes) {
                    result.nested.push(n);
                }
            }
        }
        let mut failed = m.streams.iter().find_map(|s| s.error.clone());
        // Bytes after a complete first stream that do not even start a pickle are trailing
        // data a single `load` never reads (old numpy wrote a newline after the pickle): a
        // note, not a parse error.
        // (Not for torch files: the legacy format reads five streams, and a missing one must
        // stay an error.)
        let single_load = !matches!(profile, Profile::Torch | Profile::TorchScript);
        if single_load
            && let Some(trailing) = m.streams.iter().skip(1).find(|st| {
                st.error
                    .as_ref()
                    .is_some_and(|e| e.offset == m.base + st.start as u64)
            })
            && failed.as_ref() == trailing.error.as_ref()
        {
            self.out.notes.push(format!(
                "{}: {} bytes after the pickle's STOP are not a pickle (never read by a single load)",
                self.out.file,
                m.data.len() - trailing.start
            ));
            failed = None;
        }
        self.out
            .findings
            .extend(crate::audit::group(std::mem::take(&mut result.findings)));
        if let Some(err) = &failed {
            let local = err.offset - m.base;
            if let Some(f) = rules::pickle_broken_after_call::check(result.dangerous, err, site) {
                self.out.findings.push(f);
            } else if parse_errors {
                let what = match &site.member {
                    Some(member) => format!("{member}: "),
                    None => String::new(),
                };
                let nested = if site.nested.is_empty() {
                    ""
                } else {
                    "nested payload: "
                };
                let pos = if site.mapped {
                    String::new()
                } else {
                    format!(" (offset {local} in the member)")
                };
                self.error(
                    format!("{nested}{what}cannot parse pickle: {}{pos}", err.message),
                    Some(site.span(err.offset)),
                );
            }
        }
        for nested in result.nested {
            if depth >= MAX_NESTING {
                self.error(
                    "nested payloads are nested too deeply to check",
                    Some(site.span(nested.offset)),
                );
                continue;
            }
            if nested.loader == "marshal" {
                // The call is already a critical finding; code objects are not analysed.
                continue;
            }
            let mut inner = site.clone();
            inner.nested.push(site.span(nested.offset));
            inner.mapped = false;
            inner.anchor = site.span(nested.offset);
            let profile = match nested.loader {
                "torch" => Some(Profile::Torch),
                "numpy" => Some(Profile::Numpy),
                "joblib" => Some(Profile::Joblib),
                _ => None,
            };
            self.scan_buffer(&nested.bytes, &inner, depth + 1, profile);
        }
        let ok = m.streams.first().is_some_and(|s| s.error.is_none());
        ok.then_some(m)
    }

    fn scan_raw_pickle(&mut self, data: &[u8], site: &Site, depth: usize) {
        // Legacy torch.save: magic, protocol, sys_info, the object, storage keys, storages.
        // The magic-number stream is 14 bytes: probe only the head.
        let mut probe = Machine::new(&data[..data.len().min(64)], 0);
        let first = probe.run_stream(0);
        if first.error.is_none() && first.root.is_some_and(|r| is_legacy_magic(&probe, r)) {
            self.out.format = "torch-legacy".into();
            self.scan_legacy(data, site, depth);
            return;
        }
        let Some(m) = self.scan_pickle(data, site, depth, None) else {
            return;
        };
        if infer_profile(&m) == Profile::Joblib || !m.joblib_array_nodes.is_empty() {
            self.out.format = "joblib".into();
            self.joblib_arrays(&m, site);
            self.joblib_companions(&m, site, depth);
        }
    }

    fn scan_legacy(&mut self, data: &[u8], site: &Site, depth: usize) {
        let mut m = Machine::new(data, 0);
        let mut pos = 0;
        for _ in 0..5 {
            let s = m.run_stream(pos);
            if s.error.is_some() {
                break;
            }
            pos = s.end;
        }
        let Some(m) = self.finish_pickle(m, site, depth, Some(Profile::Torch)) else {
            return;
        };
        if m.streams.len() < 5 || m.streams.iter().any(|s| s.error.is_some()) {
            if m.streams.iter().all(|s| s.error.is_none()) {
                self.error(
                    "legacy torch checkpoint ends before its storage list",
                    Some(pos as u64),
                );
            }
            return;
        }
        let root = m.streams[3].root.expect("parsed");
        let keys_root = m.streams[4].root.expect("parsed");
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
            Err(p) => {
                self.error(p.message, Some(p.offset as u64));
                return;
            }
        };
        self.out
            .findings
            .extend(rules::zip_trailing_data::check_legacy(
                site,
                end,
                data.len(),
            ));
        let lookup = |key: &str| {
            storages
                .get(key)
                .map(|&(off, len)| (Cow::Borrowed(&data[off..off + len]), off as u64))
        };
        self.views(&tensors, site, lookup);
    }

    /// An HDF5 file (a Keras `.h5`, a `save_weights` file, the `model.weights.h5` of a
    /// `.keras`, a PyTables, pandas or h5py data file): the `model_config` and
    /// `training_config` root attributes, walked by the same config rules as `.keras`; the
    /// attributes of every object, where any value PyTables would unpickle, or that looks
    /// like a pickle, goes through the pickle audit ([`Scanner::hdf5_attribute`]); the rows
    /// of PyTables `ObjectAtom` VLArrays (pickles, located at `path[row]`) and any
    /// variable-length byte row that looks like a pickle, likewise; then every
    /// dataset (and every numeric field of a compound dataset) as a tensor through the same
    /// statistics as every other container ([`load::hdf5_tensors`]). Weight rules judge the
    /// datasets of Keras files only ([`keras_weights`]): the arrays of a data file are data.
    /// Objects that cannot be read, external links and truncation are errors; data without
    /// numbers (strings) is a note.
    fn scan_hdf5(&mut self, data: &[u8], site: &Site) {
        use mlsec_tensors::hdf5::{self, AttrValue};
        // Offsets in `data` as this site's offsets (file offsets when mapped).
        let at = |o: u64| if site.mapped { site.anchor + o } else { o };
        let prefix = site
            .member
            .as_ref()
            .map(|m| format!("{m}: "))
            .unwrap_or_default();
        let top = site.member.is_none() && site.nested.is_empty();
        let limits = load::hdf5_limits(self.opts.zip_limits);
        let file = match hdf5::File::open(data) {
            Ok(f) => f,
            Err(e) => {
                self.error(format!("{prefix}{e}: not checked"), Some(site.span(at(0))));
                return;
            }
        };
        let root = match file.attributes(file.root) {
            Ok(r) => r,
            Err(e) => {
                self.error(
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
                    self.error(
                        format!("{prefix}HDF5 attribute `{name}` holds {} strings, not one JSON document: not checked", v.len()),
                        Some(site.span(offset)),
                    );
                    continue;
                }
                AttrValue::Other(class) => {
                    self.error(
                        format!("{prefix}HDF5 attribute `{name}` is a {class} value, not a JSON string: not checked"),
                        Some(site.span(offset)),
                    );
                    continue;
                }
                AttrValue::Unreadable(_) => continue, // reported with every attribute below
            };
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(config) => crate::keras::check(
                    &config,
                    site,
                    crate::keras::Source::Attribute(name, offset),
                    &mut self.out.findings,
                ),
                Err(e) => self.error(
                    format!("{prefix}HDF5 attribute `{name}` is not JSON: {e}"),
                    Some(site.span(offset)),
                ),
            }
        }
        if configs > 0 && top {
            self.out.format = "keras-h5".into();
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
                        self.error(
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
        // Rows of other byte sequences and strings are audited when they look like pickles.
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
            for (i, item) in items.iter().enumerate() {
                if !(object
                    || item.first() == Some(&0x80)
                    || mlsec_tensors::pickle::looks_like_pickle(item))
                {
                    continue;
                }
                let inner = Site {
                    file: site.file.clone(),
                    member: Some(format!("{prefix}{}[{i}]", info.path)),
                    mapped: false,
                    anchor: site.span(at(info.offset)),
                    nested: site.nested.clone(),
                };
                let mut m = Machine::new(item, 0);
                m.run_all();
                // A row PyTables must unpickle and we cannot parse is an error.
                self.finish_pickle_with(m, &inner, 0, None, object);
            }
        }
        let weights = keras_weights(&root, &walk) || !top;
        // The datasets, decoded one at a time and summarised in batches.
        let judged = std::mem::replace(&mut self.judge_weights, weights);
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
                    self.record_all(std::mem::take(&mut batch));
                    held = 0;
                }
            },
            &mut |p| problems.push(p),
            &mut |n| notes.push(n.message),
        );
        self.record_all(batch);
        self.judge_weights = judged;
        for p in problems {
            self.error(
                format!("{prefix}{}", p.message),
                p.offset.map(|o| site.span(at(o))),
            );
        }
        if !weights && !walk.datasets.is_empty() {
            self.out.notes.push(format!(
                "{}: {prefix}HDF5 data file (no Keras model or weights layout): its datasets are summarised, not judged as weights",
                self.out.file
            ));
        }
        for n in notes {
            self.out
                .notes
                .push(format!("{}: {prefix}{n}", self.out.file));
        }
    }

    /// One HDF5 attribute: every element that PyTables would unpickle (a scalar non-UTF-8
    /// string ending in `.`, see `tables/attributeset.py`) or that merely looks like a pickle
    /// (any string, opaque or byte-sequence element starting with a PROTO opcode or parsing
    /// as a pickle) is run by the pickle machine and audited like any pickle, located at
    /// `path/@name` (`[i]` for the i-th element of an array). A value that does not parse is
    /// what PyTables then returns as the string itself: not an error, unless code was called
    /// before the parse failed. An unreadable attribute is an error: it could hide a pickle.
    fn hdf5_attribute(
        &mut self,
        path: &str,
        a: &mlsec_tensors::hdf5::Attribute,
        site: &Site,
        offset: u64,
    ) {
        use mlsec_tensors::hdf5::AttrValue;
        let outer = site
            .member
            .as_ref()
            .map(|m| format!("{m}: "))
            .unwrap_or_default();
        let node = if path == "/" {
            format!("/@{}", a.name)
        } else {
            format!("{path}/@{}", a.name)
        };
        if let AttrValue::Unreadable(why) = &a.value {
            self.error(
                format!("{outer}HDF5 attribute `{node}` cannot be read: {why}"),
                Some(site.span(offset)),
            );
            return;
        }
        let string = matches!(a.value, AttrValue::Strings(_));
        for (i, raw) in a.raw.iter().enumerate() {
            let pytables =
                a.scalar && string && !a.utf8 && raw.ends_with(b".") && raw.as_slice() != b"0.";
            let looks = raw.first() == Some(&0x80)
                || raw.ends_with(b".")
                || mlsec_tensors::pickle::looks_like_pickle(raw);
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
                let mut m = Machine::new(bytes, 0);
                m.run_all();
                self.finish_pickle_with(m, &inner, 0, None, false);
            }
        }
    }
    /// A tar archive: the legacy `torch.save` layout (`sys_info`, `pickle`, `storages`,
    /// `tensors`) with tensor reconstruction, and every other member scanned by content.
    fn scan_tar(&mut self, data: &[u8], site: &Site, depth: usize) {
        let archive = match mlsec_tensors::tar::parse(data) {
            Ok(a) => a,
            Err(e) => {
                self.error(format!("{e}"), Some(site.span(0)));
                return;
            }
        };
        if archive.missing_end_marker {
            self.error(
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
        let member_base = |e: &mlsec_tensors::tar::TarEntry| {
            if site.mapped {
                site.anchor + e.data_offset
            } else {
                0
            }
        };
        let member_site = |e: &mlsec_tensors::tar::TarEntry| {
            let mut s = site.clone();
            s.member = Some(match &site.member {
                Some(outer) => format!("{outer}/{}", e.name),
                None => e.name.clone(),
            });
            if site.mapped {
                s.anchor = site.anchor + e.data_offset;
            } else {
                s.anchor = site.anchor;
            }
            s
        };
        let mut done: HashSet<&str> = HashSet::new();
        let mut recognised = false;
        let legacy = ["pickle", "storages", "tensors"]
            .iter()
            .all(|n| member(n).is_some());
        let profile = legacy.then_some(Profile::Torch);
        if legacy {
            recognised = true;
            self.out.format = "torch-legacy-tar".into();
            let storages = member("storages").expect("checked");
            let tensors = member("tensors").expect("checked");
            let pickle = member("pickle").expect("checked");
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
            let m = self.scan_pickle(pickle.data(data), &ps, depth, profile);
            if let (Some(st), Some(mut ts), Some(m)) = (st, ts, m) {
                let root = m.streams[0].root.expect("parsed");
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
            if mlsec_tensors::pickle::looks_like_pickle(bytes) {
                recognised = true;
                self.scan_pickle(bytes, &s, depth, profile);
            } else if bytes.starts_with(npy::MAGIC) {
                recognised = true;
                self.scan_npy(bytes, &s, depth, &e.name);
            } else if mlsec_tensors::zip::is_zip(bytes) && depth < MAX_NESTING {
                recognised = true;
                self.scan_zip(bytes, &s, depth + 1);
            } else if mlsec_tensors::tar::is_tar(bytes) && depth < MAX_NESTING {
                recognised = true;
                self.scan_tar(bytes, &s, depth + 1);
            }
        }
        if !recognised {
            self.error(
                "tar archive without a recognised model layout (no pickle, storages and tensors members, no pickle or .npy member)",
                Some(site.span(0)),
            );
        }
    }

    /// Audits a legacy member's pickles under the torch allowlist, then reports a record that
    /// could not be read: the member's content only if both passed.
    fn legacy_member<T>(
        &mut self,
        parsed: legacy::Parsed<'_, T>,
        site: &Site,
        depth: usize,
        member: &str,
    ) -> Option<T> {
        let base = parsed.machine.base;
        let ok = self
            .finish_pickle(parsed.machine, site, depth, Some(Profile::Torch))
            .is_some();
        if let Some(p) = parsed.problem {
            self.error(
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

    fn tensor_problems(&mut self, problems: &[mlsec_tensors::torch::TensorProblem]) {
        for p in problems {
            self.error(
                format!("tensor `{}`: {}", p.name, p.message),
                Some(p.offset),
            );
        }
    }

    /// Cuts each tensor's view from its storage, checks bounds, and records it.
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
            let entry = &cache[t.storage_key.as_str()];
            let loc = Location::file(&self.out.file)
                .with_pointer(Pointer::Tensor(t.name.clone()))
                .at_bytes(site.span(t.offset), 1);
            let Some((bytes, _)) = entry else {
                self.out
                    .findings
                    .push(rules::tensor_out_of_bounds::check_missing_storage(t, loc));
                continue;
            };
            let view = match cut(t, bytes) {
                Ok(view) => view,
                // Not a finding: the view is not wrong, only too large to gather.
                Err(ViewError::TooLarge { numel }) => {
                    self.error(
                        format!(
                            "tensor `{}`: strided view of {numel} elements is too large to check",
                            t.name
                        ),
                        Some(site.span(t.offset)),
                    );
                    continue;
                }
                Err(problem) => {
                    self.out
                        .findings
                        .extend(rules::tensor_out_of_bounds::check(t, &problem, loc));
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
        self.record_all(ready);
    }

    /// Statistics and weight-integrity findings of one tensor.
    pub fn record(&mut self, view: &TensorView<'_>) {
        let range = self.opts.ranges.get(&view.name).copied();
        let s = stats::compute(view.dtype, &view.bytes, range);
        self.record_with(view, s);
    }

    /// Records many tensors, computing their statistics on `opts.threads` threads.
    pub fn record_all(&mut self, views: Vec<TensorView<'_>>) {
        let threads = self.opts.threads.clamp(1, 64).min(views.len());
        if threads <= 1 {
            for v in &views {
                self.record(v);
            }
            return;
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: std::sync::Mutex<Vec<Option<Stats>>> =
            std::sync::Mutex::new(vec![None; views.len()]);
        let ranges = &self.opts.ranges;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(v) = views.get(i) else { break };
                        let range = ranges.get(&v.name).copied();
                        let s = stats::compute(v.dtype, &v.bytes, range);
                        results.lock().expect("no panic while locked")[i] = Some(s);
                    }
                });
            }
        });
        let results = results.into_inner().expect("threads joined");
        for (v, s) in views.iter().zip(results) {
            self.record_with(v, s.expect("every view computed"));
        }
    }

    fn record_with(&mut self, view: &TensorView<'_>, s: Stats) {
        if let Some(v) = self.visitor.as_mut() {
            v(view);
        }
        let loc = Location::file(&self.out.file)
            .with_pointer(Pointer::Tensor(view.name.clone()))
            .at_bytes(view.offset, 1);
        if self.judge_weights {
            rules::weights::check(
                &self.out.format,
                &view.name,
                view.dtype,
                &s,
                self.opts.threshold,
                &loc,
                &mut self.out.findings,
            );
        }
        self.out.tensors.push(TensorRecord {
            name: view.name.clone(),
            dtype: view.dtype,
            shape: view.shape.clone(),
            stats: s,
            storage: view.storage.clone(),
        });
    }

    fn scan_npy(&mut self, data: &[u8], site: &Site, depth: usize, name: &str) {
        let parsed = match npy::parse(data) {
            Ok(p) => p,
            Err(e) => {
                let prefix = site
                    .member
                    .as_ref()
                    .map(|m| format!("{m}: "))
                    .unwrap_or_default();
                self.error(format!("{prefix}{e}"), Some(site.span(0)));
                return;
            }
        };
        let body = &data[parsed.data_offset..];
        match parsed.body {
            npy::NpyBody::Object => {
                let mut inner = site.clone();
                inner.anchor = if site.mapped {
                    site.anchor + parsed.data_offset as u64
                } else {
                    site.anchor
                };
                self.scan_pickle(body, &inner, depth, Some(Profile::Numpy));
            }
            // Strings, dates, structured records: read and size-checked, no statistics.
            npy::NpyBody::Records { .. } => {}
            npy::NpyBody::Array { dtype, big_endian } => {
                let bytes: Cow<'_, [u8]> = if big_endian {
                    Cow::Owned(swap_bytes(body, dtype.size()))
                } else {
                    Cow::Borrowed(body)
                };
                let name = name.strip_suffix(".npy").unwrap_or(name).to_owned();
                let view = TensorView {
                    name,
                    dtype,
                    shape: parsed.shape.clone(),
                    bytes,
                    offset: site.span(site.anchor + parsed.data_offset as u64),
                    storage: None,
                };
                self.record(&view);
            }
        }
    }

    /// A Keras model saved as JSON (`model.to_json()`, Keras 1 and 2): the config walked by the
    /// same rules as `.keras` and `.h5` configs.
    fn scan_keras_json(&mut self, data: &[u8]) {
        self.out.format = "keras-json".into();
        match serde_json::from_slice::<serde_json::Value>(data) {
            Ok(config) => {
                let site = Site::file(&self.out.file);
                let name = self.out.file.clone();
                crate::keras::check(
                    &config,
                    &site,
                    crate::keras::Source::Member(&name),
                    &mut self.out.findings,
                );
            }
            Err(e) => self.error(format!("Keras model JSON: {e}"), None),
        }
    }

    /// A GGUF (llama.cpp) file: header, metadata and tensor-info anomalies, chat templates,
    /// then the statistics of every plain (F32, F16, BF16, F64, integer) tensor; quantized
    /// tensors are counted in a note, not decoded.
    fn scan_gguf(&mut self, data: &[u8]) {
        self.out.format = "gguf".into();
        let g = match gguf::parse(data) {
            Ok(g) => g,
            Err(e) => {
                self.error(format!("{e}: not checked"), Some(e.offset));
                return;
            }
        };
        let file = &self.out.file;
        let findings = g
            .anomalies
            .iter()
            .filter_map(|a| rules::gguf_anomaly(a, file));
        let templates = g
            .metadata
            .iter()
            .filter_map(|kv| rules::gguf_chat_template_injection::check(kv, file));
        let found: Vec<Finding> = findings.chain(templates).collect();
        self.out.findings.extend(found);
        // Tensors whose data is not in the file are reported above as anomalies.
        let mut views = Vec::new();
        let quantized = load::gguf_tensors(data, &g, &mut |v| views.push(v));
        self.record_all(views);
        if !quantized.is_empty() {
            let n: usize = quantized.values().sum();
            let kinds: Vec<String> = quantized.iter().map(|(k, v)| format!("{v} {k}")).collect();
            self.out.notes.push(format!(
                "{}: {n} quantized GGUF tensor(s) not summarised ({}): weight statistics cover F32, F16, BF16, F64 and integer tensors",
                self.out.file,
                kinds.join(", ")
            ));
        }
    }

    fn scan_safetensors(&mut self, data: &[u8]) {
        self.out.format = "safetensors".into();
        let st = match safetensors::parse(data) {
            Ok(st) => st,
            Err(e) => {
                self.error(e.to_string(), Some(0));
                return;
            }
        };
        for a in &st.anomalies {
            let f = rules::safetensors_header_anomaly::check(a, st.header_len, &self.out.file);
            self.out.findings.push(f);
        }
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
        self.record_all(views);
    }

    fn scan_zip(&mut self, data: &[u8], site: &Site, depth: usize) {
        let z = match ZipArchive::parse(data, self.opts.zip_limits) {
            Ok(z) => z,
            Err(e) => {
                self.error(
                    format!(
                        "{}{e}",
                        site.member
                            .as_ref()
                            .map(|m| format!("{m}: "))
                            .unwrap_or_default()
                    ),
                    Some(site.span(0)),
                );
                return;
            }
        };
        let at = |o: u64| site.at(o);
        self.out.findings.extend(
            z.anomalies
                .iter()
                .filter_map(|a| rules::zip_anomaly(a, site)),
        );
        // The PyTorch layout: `<prefix>/data.pkl`.
        let layout = torch_layout(&z);
        let pkl = layout.as_ref().map(|l| l.pickle);
        let prefix = layout.as_ref().map(|l| l.prefix.clone());
        for e in &z.entries {
            self.out
                .findings
                .extend(rules::zip_case_variant::check(e, site));
            self.out
                .findings
                .extend(rules::zip_entry_outside_prefix::check(
                    e,
                    prefix.as_deref(),
                    site,
                ));
        }
        // Read every member once: CRC, bombs, and what it contains.
        let mut contents: BTreeMap<usize, Cow<'_, [u8]>> = BTreeMap::new();
        for (i, e) in z.entries.iter().enumerate() {
            match z.read(e) {
                Ok(m) => {
                    self.out
                        .findings
                        .extend(rules::zip_crc_mismatch::check(e, &m, site));
                    contents.insert(i, m.bytes);
                }
                Err(err) => {
                    let message = match &err {
                        ZipError::Bomb { name, .. } => format!(
                            "member `{name}` was not inflated (zip bomb limits); its content is not checked"
                        ),
                        _ => err.to_string(),
                    };
                    self.out
                        .findings
                        .extend(rules::zip_bomb::check(e, &err, site));
                    self.error(message, Some(site.span(at(e.local_offset))));
                }
            }
        }
        let member_site = |e: &mlsec_tensors::zip::ZipEntry| {
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
        if let (Some(pkl), Some(prefix)) = (pkl, &prefix) {
            recognised = true;
            if self.out.format == "zip" {
                self.out.format = "torch-zip".into();
            }
            let idx = z
                .entries
                .iter()
                .position(|e| std::ptr::eq(e, pkl))
                .expect("entry");
            let layout = layout.as_ref().expect("pkl comes from the layout");
            let torch_profile = if layout.torchscript {
                self.out.format = "torchscript".into();
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
                let machine = self.scan_pickle(bytes, &s, depth, Some(torch_profile));
                if let Some(m) = machine {
                    let root = m.streams[0].root.expect("parsed");
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
        // Every other member that looks like a pickle or .npy is scanned, whatever its name.
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
                crate::torchscript::check(
                    &String::from_utf8_lossy(bytes),
                    &s,
                    &mut self.out.findings,
                );
            } else if bytes.starts_with(npy::MAGIC) {
                recognised = true;
                if prefix.is_none() && self.out.format == "zip" {
                    self.out.format = "npz".into();
                }
                self.scan_npy(bytes, &s, depth, &e.name);
            } else if mlsec_tensors::pickle::looks_like_pickle(bytes) {
                recognised = true;
                let profile = if prefix.is_some() {
                    Some(member_profile)
                } else {
                    None
                };
                self.scan_pickle(bytes, &s, depth, profile);
            } else if mlsec_tensors::zip::is_zip(bytes) && depth < MAX_NESTING {
                recognised = true;
                self.scan_zip(bytes, &s, depth + 1);
            } else if sniff(bytes) == Format::Hdf5 {
                // Keras 3 `.keras`: `model.weights.h5` (any HDF5 member, whatever its name).
                recognised = true;
                self.scan_hdf5(bytes, &s);
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
            self.out.format = "keras".into();
            match contents
                .get(&i)
                .map(|b| serde_json::from_slice::<serde_json::Value>(b))
            {
                Some(Ok(config)) => {
                    let s = member_site(&z.entries[i]);
                    let member = s.member.clone().unwrap_or_default();
                    crate::keras::check(
                        &config,
                        &s,
                        crate::keras::Source::Member(&member),
                        &mut self.out.findings,
                    );
                }
                Some(Err(e)) => self.error(format!("config.json is not JSON: {e}"), None),
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
            self.error("zip archive without a recognised model layout (no data.pkl, pickle or .npy member)", None);
        }
    }
}

impl Scanner<'_> {
    /// A zip member that is none of the formats read: known PyTorch bookkeeping passes, a
    /// member whose name says pickle or numpy is an error (a loader may read it, and it cannot be
    /// checked), anything else a warning naming it. Never silently dropped.
    fn unread_member(&mut self, name: &str, prefix: Option<&str>, len: usize, offset: u64) {
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
        // Keras 3 `.keras` metadata is read by the Keras check after the members.
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
        if loadable {
            self.error(
                format!(
                    "member `{name}` is named like a pickle or numpy file but is not one ({len} bytes): not checked"
                ),
                Some(offset),
            );
        } else {
            self.out.notes.push(format!(
                "{}: member `{name}` is not a format this tool reads ({len} bytes): not checked",
                self.out.file
            ));
        }
    }
}

/// The tensors of a file, handed to `visit`, plus the scan result (for conversion).
/// Whether an HDF5 file holds Keras weights, whose datasets the weight rules judge: a Keras 2
/// model or `save_weights` file (root attributes `model_config`, `training_config`,
/// `keras_version`, `backend` or `layer_names`, or a `/model_weights` group) or the Keras 3
/// weights layout (groups named `vars`, as in `model.weights.h5`). Any other HDF5 file (h5py,
/// PyTables and pandas data) holds data, where NaN marks missing values and magnitudes are
/// whatever was measured.
pub fn keras_weights(
    root: &[mlsec_tensors::hdf5::Attribute],
    walk: &mlsec_tensors::hdf5::Walk,
) -> bool {
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

pub fn visit_tensors(
    data: &[u8],
    file: &str,
    opts: &Options,
    visit: &mut dyn FnMut(&TensorView<'_>),
) -> FileResult {
    let mut s = Scanner::new(opts, file);
    s.visitor = Some(visit);
    s.scan_file(data, true);
    s.out
}
