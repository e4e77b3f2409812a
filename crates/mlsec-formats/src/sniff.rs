//! Format detection by content, never by extension.

use std::path::Path;

use crate::{npy, safetensors, zip};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A pickle stream (raw pickle, joblib, legacy `torch.save`).
    Pickle,
    /// A zip archive (PyTorch, TorchScript, `.npz`, `.keras`, ...), possibly with a stub.
    Zip,
    Npy,
    Safetensors,
    Onnx,
    Hdf5,
    Tar,
    Gguf,
    Unknown,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Pickle => "pickle",
            Format::Zip => "zip",
            Format::Npy => "npy",
            Format::Safetensors => "safetensors",
            Format::Onnx => "onnx",
            Format::Hdf5 => "hdf5",
            Format::Tar => "tar",
            Format::Gguf => "gguf",
            Format::Unknown => "unknown",
        }
    }
}

pub fn sniff(data: &[u8]) -> Format {
    if zip::is_zip(data) {
        return Format::Zip;
    }
    if data.starts_with(npy::MAGIC) {
        return Format::Npy;
    }
    if data.starts_with(b"\x89HDF\r\n\x1a\n") {
        return Format::Hdf5;
    }
    if data.starts_with(b"GGUF") {
        return Format::Gguf;
    }
    if data.get(257..262) == Some(b"ustar") {
        return Format::Tar;
    }
    if safetensors::sniff(data) {
        return Format::Safetensors;
    }
    if looks_like_pickle(data) {
        return Format::Pickle;
    }
    if looks_like_onnx(data) {
        return Format::Onnx;
    }
    // HDF5 with a user block: the superblock at 512, 1024, 2048, ...
    if crate::hdf5::superblock(data).is_some() {
        return Format::Hdf5;
    }
    // A zip with bytes prepended (a polyglot or self-extractor) is still a zip to loaders.
    if zip::has_eocd(data) {
        return Format::Zip;
    }
    Format::Unknown
}

/// ONNX `ModelProto`: field 1 (`ir_version`, varint) first, then a known length-delimited
/// field (producer name, graph, opset import, ...).
fn looks_like_onnx(data: &[u8]) -> bool {
    if data.first() != Some(&0x08) {
        return false;
    }
    let Some(&v) = data.get(1) else { return false };
    if !(1..=32).contains(&v) {
        return false;
    }
    matches!(
        data.get(2),
        Some(0x12 | 0x1a | 0x22 | 0x2a | 0x32 | 0x3a | 0x42 | 0x52 | 0x5a | 0x72)
    )
}

/// Extensions under which a file is expected to be a model; an unrecognised file with one
/// of them is an error rather than skipped.
pub fn model_extension(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(
        ext.as_str(),
        "pt" | "pth"
            | "bin"
            | "ckpt"
            | "pkl"
            | "pickle"
            | "joblib"
            | "npy"
            | "npz"
            | "safetensors"
            | "h5"
            | "hdf5"
            | "keras"
            | "onnx"
            | "pb"
            | "mar"
            | "dill"
            | "tar"
            | "model"
            | "gguf"
            | "msgpack"
            | "sav"
    )
}

/// The bytes of a file: memory-mapped when large.
pub enum FileBytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Owned(v) => v,
        }
    }
}

/// Reads a file, mapping it when it is larger than 1 MiB.
#[allow(unsafe_code)]
pub fn read_file(path: &Path) -> std::io::Result<FileBytes> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len < 1 << 20 {
        let mut v = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(&mut &file, &mut v)?;
        return Ok(FileBytes::Owned(v));
    }
    // SAFETY: the map is read-only and private to this process. If another process truncates
    // the file while it is mapped, reads may fault (SIGBUS); the scanner accepts that risk
    // for model files it is asked to scan, as every mmap-based loader (safetensors, numpy)
    // does. This is the only `unsafe` in the reader.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(FileBytes::Mapped(map))
}

/// Whether `data` plausibly starts a pickle: PROTO 0..=5, or a protocol 0/1 stream that
/// parses to its first STOP, or that runs out of bytes after importing something (a truncated
/// stream still imports and calls what comes before the cut).
pub fn looks_like_pickle(data: &[u8]) -> bool {
    match data {
        [0x80, p, ..] if *p <= 5 => return data.len() > 2,
        [first, ..] if b"(}]cNIJKLSVXUTGF)l".contains(first) => {}
        _ => return false,
    }
    let limit = data.len().min(1 << 20);
    let mut m = crate::joblib::machine(&data[..limit], 0);
    let s = m.run_stream(0);
    match &s.error {
        None => s.end >= 2,
        Some(e) => e.is_truncation() && limit == data.len() && !m.imports.is_empty(),
    }
}

/// Whether a file is a Keras model saved as JSON (`model.to_json()`): an object with
/// `class_name` and `config`, and `keras_version` or `backend`. Only the first 64 KiB are looked
/// at for the keys; the whole file is parsed when they are there.
pub fn is_keras_json(data: &[u8]) -> bool {
    let head = &data[..data.len().min(64 << 10)];
    let text = String::from_utf8_lossy(head);
    text.trim_start().starts_with('{')
        && text.contains("\"class_name\"")
        && text.contains("\"config\"")
        && (text.contains("\"keras_version\"") || text.contains("\"backend\""))
}
