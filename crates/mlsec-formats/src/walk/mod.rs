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
//! Code map: `mod.rs` (the entries, the visitor, sniffing and dispatch), `pickle.rs` (pickles,
//! joblib, legacy torch), `archive.rs` (zip, tar), `h5.rs` (HDF5), `arrays.rs` (views, npy,
//! GGUF, safetensors, Keras JSON).
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

mod archive;
mod arrays;
mod h5;
mod pickle;

pub use self::h5::keras_weights;

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
}
