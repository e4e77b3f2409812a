//! Scanning one file: the one traversal ([`mlsec_formats::walk`]) walks it; the [`Scanner`]
//! is its visitor and turns what the walk meets into findings through the rules' checks
//! ([`crate::rules`]): every pickle through the audit, every tensor through the weight rules,
//! zip archives and members, GGUF and safetensors headers, TorchScript code and Keras configs
//! through theirs. Problems the walk reports are errors; members it passes over are errors or
//! notes.

use std::collections::HashMap;

use mlsec_core::{Finding, Location, Pointer, ScanError, Span};
use mlsec_formats::dtype::DType;
pub use mlsec_formats::load::TensorView;
use mlsec_formats::load::ViewError;
use mlsec_formats::stats::{self, Stats};
use mlsec_formats::walk::{
    self, BadView, Entry, KerasSource, Payload, Pickle, Tensors, Visitor, Walker,
};
use mlsec_formats::zip::ZipLimits;

use crate::audit::audit;
use crate::policy::Profile;
use crate::rules;
use crate::site::Site;

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
    /// The directory of the file, where an old joblib file's companion files are (`None`:
    /// only the bytes are known, and companion arrays are errors).
    pub dir: Option<std::path::PathBuf>,
    /// Whether the file was named by the user (not found in a directory walk): a format that
    /// is recognised but not scanned is then an error rather than a warning.
    pub named: bool,
    /// While a companion file is read: its name, and how many findings and errors there were
    /// before (those after are about the companion).
    companion: Option<(String, usize, usize)>,
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
            dir: None,
            named: true,
            companion: None,
        }
    }

    /// Scans a whole file's bytes. `explicit`: named on the command line or with a model
    /// extension, so an unrecognised format is an error rather than skipped.
    pub fn scan_file(&mut self, data: &[u8], explicit: bool) {
        let file = self.out.file.clone();
        let limits = self.opts.zip_limits;
        let dir = self.dir.clone();
        let mut w = Walker::new(self, &file, limits);
        w.dir = dir;
        w.walk(data, explicit);
        let format = std::mem::take(&mut w.format);
        let companions = std::mem::take(&mut w.companions);
        self.out.format = format;
        self.out.companions = companions;
    }

    fn error(&mut self, message: impl Into<String>, offset: Option<u64>) {
        let mut e = ScanError::new(&self.out.file, message);
        if let Some(o) = offset {
            e = e.with_span(Span::Bytes { offset: o, len: 1 });
        }
        self.out.errors.push(e);
    }

    /// Statistics and weight-integrity findings of one tensor.
    pub fn record(&mut self, view: &TensorView<'_>, format: &str, weights: bool) {
        let range = self.opts.ranges.get(&view.name).copied();
        let s = stats::compute(view.dtype, &view.bytes, range);
        self.record_with(view, s, format, weights);
    }

    /// Records many tensors, computing their statistics on `opts.threads` threads.
    pub fn record_all(&mut self, views: Vec<TensorView<'_>>, format: &str, weights: bool) {
        let threads = self.opts.threads.clamp(1, 64).min(views.len());
        if threads <= 1 {
            for v in &views {
                self.record(v, format, weights);
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
            self.record_with(v, s.expect("every view computed"), format, weights);
        }
    }

    fn record_with(&mut self, view: &TensorView<'_>, s: Stats, format: &str, weights: bool) {
        if let Some(v) = self.visitor.as_mut() {
            v(view);
        }
        let loc = Location::file(&self.out.file)
            .with_pointer(Pointer::Tensor(view.name.clone()))
            .at_bytes(view.offset, 1);
        if weights {
            rules::weights::check(
                format,
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

    /// A zip archive: its anomalies, then each member's name.
    fn zip(&mut self, site: &Site, zip: &mlsec_formats::zip::ZipArchive<'_>, prefix: Option<&str>) {
        self.out.findings.extend(
            zip.anomalies
                .iter()
                .filter_map(|a| rules::zip_anomaly(a, site)),
        );
        for e in &zip.entries {
            self.out
                .findings
                .extend(rules::zip_case_variant::check(e, site));
            self.out
                .findings
                .extend(rules::zip_entry_outside_prefix::check(e, prefix, site));
        }
    }

    /// A tensor that could not be cut from its storage.
    fn bad_view(&mut self, site: &Site, t: &mlsec_formats::torch::TensorRef, why: BadView) {
        let loc = Location::file(&self.out.file)
            .with_pointer(Pointer::Tensor(t.name.clone()))
            .at_bytes(site.span(t.offset), 1);
        match why {
            BadView::Missing => self
                .out
                .findings
                .push(rules::tensor_out_of_bounds::check_missing_storage(t, loc)),
            BadView::OutOfBounds { have, end } => self.out.findings.extend(
                rules::tensor_out_of_bounds::check(t, &ViewError::OutOfBounds { have, end }, loc),
            ),
            // Not a finding: the view is not wrong, only too large to gather.
            BadView::TooLarge { numel } => self.error(
                format!(
                    "tensor `{}`: strided view of {numel} elements is too large to check",
                    t.name
                ),
                Some(site.span(t.offset)),
            ),
        }
    }

    /// A format recognised but not read: an error for a file the user named, a warning (and a
    /// count in the summary) for one met in a directory walk.
    fn not_scanned(&mut self, what: &str, hint: &str) {
        let message =
            format!("not scanned: {what}: `mlsec checkpoint` does not read this format{hint}");
        if self.named {
            self.error(message, None);
        } else {
            self.out.not_scanned = Some(message);
        }
    }

    /// A zip member in no format read: a member whose name says pickle or numpy is an error
    /// (a loader may read it, and it cannot be checked), anything else a note naming it.
    fn skipped(&mut self, name: &str, len: usize, span: u64, loadable: bool) {
        if loadable {
            self.error(
                format!(
                    "member `{name}` is named like a pickle or numpy file but is not one ({len} bytes): not checked"
                ),
                Some(span),
            );
        } else {
            self.out.notes.push(format!(
                "{}: member `{name}` is not a format this tool reads ({len} bytes): not checked",
                self.out.file
            ));
        }
    }

    /// A companion file of an old joblib dump begins or ends: what was found in between is
    /// located in the companion file.
    fn companion(&mut self, file: Option<&str>) {
        match file {
            Some(f) => {
                self.companion =
                    Some((f.to_owned(), self.out.findings.len(), self.out.errors.len()))
            }
            None => {
                if let Some((rel, findings, errors)) = self.companion.take() {
                    for f in &mut self.out.findings[findings..] {
                        f.location.file = rel.clone();
                    }
                    for e in &mut self.out.errors[errors..] {
                        e.file = rel.clone();
                    }
                }
            }
        }
    }
}

impl Visitor for Scanner<'_> {
    /// Audits a pickle (and what the other loaders' readings of its frames would do), reports
    /// a stream that does not parse, and hands back the payloads nested in it.
    fn pickle(&mut self, p: Pickle<'_, '_>) -> Vec<Payload> {
        let (m, site) = (p.machine, p.site);
        let profile = p.profile.unwrap_or_else(|| Profile::infer(m));
        let mut result = audit(m, profile, site);
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
            } else if p.parse_errors {
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
                    format!(
                        "{nested}{}cannot parse pickle: {}{pos}",
                        site.prefix(),
                        err.message
                    ),
                    Some(site.span(err.offset)),
                );
            }
        }
        let mut payloads = Vec::new();
        for nested in result.nested {
            if p.depth >= walk::MAX_NESTING {
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
            payloads.push(Payload {
                bytes: nested.bytes,
                site: inner,
                profile,
            });
        }
        payloads
    }

    fn tensors(&mut self, views: Vec<TensorView<'_>>, cx: Tensors<'_>) {
        self.record_all(views, cx.format, cx.weights);
    }

    fn entry(&mut self, e: Entry<'_>) {
        match e {
            Entry::Problem { message, span } => self.error(message, span),
            // Object arrays are pickles the audit covers; strings and records hold no weights.
            Entry::NotNumbers { .. } => {}
            Entry::Note(n) => self.out.notes.push(n),
            Entry::NotScanned { what, hint } => self.not_scanned(what, hint),
            Entry::Unrecognised => self.out.skipped = true,
            Entry::Zip { site, zip, prefix } => self.zip(site, zip, prefix),
            Entry::CrcMismatch {
                site,
                entry,
                actual,
            } => self
                .out
                .findings
                .extend(rules::zip_crc_mismatch::check(entry, actual, site)),
            Entry::Bomb { site, entry, error } => self
                .out
                .findings
                .extend(rules::zip_bomb::check(entry, error, site)),
            Entry::BadView { site, tensor, why } => self.bad_view(site, tensor, why),
            Entry::TrailingData { site, offset, len } => {
                self.out
                    .findings
                    .extend(rules::zip_trailing_data::check_legacy(
                        site,
                        offset as usize,
                        (offset + len) as usize,
                    ))
            }
            Entry::Code { site, text } => {
                crate::torchscript::check(text, site, &mut self.out.findings)
            }
            Entry::KerasConfig {
                site,
                config,
                source,
            } => {
                let source = match source {
                    KerasSource::Member(m) => crate::keras::Source::Member(m),
                    KerasSource::Attribute(name, offset) => {
                        crate::keras::Source::Attribute(name, offset)
                    }
                };
                crate::keras::check(config, site, source, &mut self.out.findings);
            }
            Entry::Gguf { gguf } => {
                let file = &self.out.file;
                let found: Vec<Finding> = gguf
                    .anomalies
                    .iter()
                    .filter_map(|a| rules::gguf_anomaly(a, file))
                    .chain(
                        gguf.metadata
                            .iter()
                            .filter_map(|kv| rules::gguf_chat_template_injection::check(kv, file)),
                    )
                    .collect();
                self.out.findings.extend(found);
            }
            Entry::Safetensors { st } => {
                for a in &st.anomalies {
                    let f =
                        rules::safetensors_header_anomaly::check(a, st.header_len, &self.out.file);
                    self.out.findings.push(f);
                }
            }
            Entry::Skipped {
                name,
                len,
                span,
                loadable,
            } => self.skipped(name, len, span, loadable),
            Entry::Companion(file) => self.companion(file),
        }
    }
}

/// The tensors of a file, handed to `visit`, plus the scan result (for conversion).
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
