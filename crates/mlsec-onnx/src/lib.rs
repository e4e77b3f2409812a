//! The project's one ONNX decoder, shared by `export-guard` and the model runtimes.
//!
//! - [`proto`]: prost types generated from `onnx.proto` (IR 14) by `cargo xtask codegen`, with
//!   every `bytes` field as [`bytes::Bytes`], so decoding from a memory map does not copy
//!   tensor data.
//! - [`load`] / [`decode_model`]: bounded decoding (size limit, prost's recursion limit).
//! - [`wire`]: a wire-format walker that reports the unknown field numbers prost drops.
//! - [`tensor`]: element types, checked element counts, and tensor data from `raw_data`, the
//!   typed fields or external data files, with the location checked to stay in the model
//!   directory.
//!
//! Nothing here executes anything from the model; it only reads bytes.

pub mod tensor;
pub mod wire;

/// prost types for `package onnx`.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    rustdoc::bare_urls,
    rustdoc::invalid_html_tags,
    rustdoc::broken_intra_doc_links
)]
#[path = "generated/onnx.rs"]
pub mod proto;

/// The field-number table of every message, for [`wire`].
#[path = "generated/schema.rs"]
pub mod schema;

use std::path::{Path, PathBuf};

pub use bytes;
pub use prost;

use bytes::Bytes;
use prost::Message as _;

/// The IR version of the schema the types were generated from.
pub const SCHEMA_IR_VERSION: i64 = 14;

/// Files at least this large are memory-mapped instead of read.
pub const MMAP_THRESHOLD: u64 = 1 << 20;

/// A serialized protobuf message cannot exceed 2 GiB.
pub const MAX_PROTO_BYTES: u64 = 2 << 30;

/// Why a model could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{size} bytes exceeds the 2 GiB protobuf limit")]
    TooLarge { size: u64 },
    #[error("the file is empty")]
    Empty,
    /// prost's message, shortened: its nesting trail can be hundreds of frames long.
    #[error("not a valid ONNX ModelProto: {0}")]
    Decode(String),
    #[error("malformed protobuf at byte {offset}: {message}")]
    Wire { offset: u64, message: String },
}

/// A decoded model and the bytes it was decoded from (memory-mapped for large files).
#[derive(Debug, Clone)]
pub struct LoadedModel {
    pub path: PathBuf,
    /// The directory external data locations are relative to.
    pub dir: PathBuf,
    pub bytes: Bytes,
    pub model: proto::ModelProto,
}

/// Reads (or memory-maps) and decodes `path`.
pub fn load(path: &Path) -> Result<LoadedModel, OnnxError> {
    let bytes = read_bytes(path)?;
    let model = decode_model(bytes.clone())?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    Ok(LoadedModel {
        path: path.to_owned(),
        dir,
        bytes,
        model,
    })
}

/// The file's bytes: read for small files, memory-mapped for large ones.
pub fn read_bytes(path: &Path) -> Result<Bytes, OnnxError> {
    let io = |source| OnnxError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > MAX_PROTO_BYTES {
        return Err(OnnxError::TooLarge { size });
    }
    if size < MMAP_THRESHOLD {
        let mut buf = Vec::with_capacity(size as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&file, MAX_PROTO_BYTES + 1),
            &mut buf,
        )
        .map_err(io)?;
        return Ok(Bytes::from(buf));
    }
    Ok(Bytes::from_owner(map_file(&file).map_err(io)?))
}

/// Any file's bytes (read when small, memory-mapped when large), without the protobuf size
/// limit: for data files such as external tensor data or checkpoints.
pub fn read_any(path: &Path) -> std::io::Result<Bytes> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size < MMAP_THRESHOLD {
        return std::fs::read(path).map(Bytes::from);
    }
    Ok(Bytes::from_owner(map_file(&file)?))
}

/// Maps a file read-only.
///
/// The only `unsafe` in this crate. `Mmap::map` is unsafe because another process may
/// truncate or rewrite the file while it is mapped; we map files we only read, and a
/// concurrent truncation can at worst end the process with SIGBUS, never corrupt memory we
/// hand out as `&[u8]` beyond the bytes the file had.
#[allow(unsafe_code)]
pub fn map_file(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: read-only private mapping of a file we opened; see the doc comment.
    unsafe { memmap2::Mmap::map(file) }
}

/// Decodes a `ModelProto` with prost's recursion limit (100 nested messages): a deeply nested
/// file is an error, not a stack overflow. `raw_data` of the result shares `bytes`.
pub fn decode_model(bytes: Bytes) -> Result<proto::ModelProto, OnnxError> {
    if bytes.is_empty() {
        return Err(OnnxError::Empty);
    }
    if bytes.len() as u64 > MAX_PROTO_BYTES {
        return Err(OnnxError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    proto::ModelProto::decode(bytes).map_err(decode_error)
}

fn decode_error(e: prost::DecodeError) -> OnnxError {
    let text = e.to_string();
    let text = text
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(&text);
    if text.chars().count() <= 240 {
        return OnnxError::Decode(text.to_owned());
    }
    let head: String = text.chars().take(80).collect();
    let tail: Vec<char> = text.chars().rev().take(120).collect();
    let tail: String = tail.into_iter().rev().collect();
    OnnxError::Decode(format!("{head} ... {tail}"))
}

/// Decodes a standalone `TensorProto` (e.g. a `.pb` test input).
pub fn decode_tensor(bytes: Bytes) -> Result<proto::TensorProto, OnnxError> {
    proto::TensorProto::decode(bytes).map_err(decode_error)
}
