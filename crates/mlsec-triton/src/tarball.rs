//! Lists the entries of a python-backend environment tarball (`.tar` or `.tar.gz`, the
//! conda-pack output that `EXECUTION_ENV_PATH` names) without extracting anything: a streaming
//! gzip inflate and the shared streaming tar reader (`mlsec_util::tar::Stream`), in bounded
//! memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use miniz_oxide::inflate::stream::{InflateState, inflate};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};
use mlsec_util::{gzip, tar};

/// Stop after this many entries or this many uncompressed bytes.
const MAX_ENTRIES: u64 = 2_000_000;
const MAX_BYTES: u64 = 64 << 30;

/// What a tarball contains that an extraction should not do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TarReport {
    pub entries: u64,
    /// Entries whose path is absolute or has `..` (they extract outside the environment).
    pub escaping: Vec<String>,
    /// Symlinks and hard links whose target is absolute or climbs out with `..`.
    pub links_out: Vec<String>,
    /// Entries with the setuid or setgid bit.
    pub setuid: Vec<String>,
    /// Device nodes and FIFOs.
    pub devices: Vec<String>,
    /// Why the walk stopped early, if it did.
    pub error: Option<String>,
}

fn escapes(path: &str) -> bool {
    path.starts_with('/') || path.split('/').any(|c| c == "..")
}

/// Whether a link target leaves the tree, resolved from the link's own directory.
fn link_escapes(entry: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return true;
    }
    let mut depth: i64 = entry
        .trim_start_matches("./")
        .split('/')
        .filter(|c| !c.is_empty())
        .count() as i64
        - 1;
    for c in target.split('/') {
        match c {
            ".." => depth -= 1,
            "" | "." => {}
            _ => depth += 1,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// Why a tarball walk stopped early (the text goes into [`TarReport::error`]).
#[derive(Debug, thiserror::Error)]
enum TarballError {
    #[error("cannot open: {0}")]
    Open(std::io::Error),
    #[error("read error: {0}")]
    Read(std::io::Error),
    #[error("malformed gzip header")]
    GzipHeader,
    #[error("corrupt gzip data ({0:?})")]
    Corrupt(MZError),
    #[error("truncated gzip stream")]
    Truncated,
    #[error("stopped after {MAX_BYTES} uncompressed bytes")]
    TooLarge,
    #[error(transparent)]
    Tar(#[from] tar::TarError),
}

/// Classifies the members the shared tar reader yields.
struct Walker {
    report: TarReport,
    stream: tar::Stream,
    total: u64,
}

impl Walker {
    /// Feeds uncompressed bytes; `Ok(true)` when the walk is over (end of the archive, or the
    /// entry limit).
    fn push(&mut self, data: &[u8]) -> Result<bool, TarballError> {
        let report = &mut self.report;
        self.stream.push(data, &mut |m| {
            classify(report, &m.header);
            if report.entries >= MAX_ENTRIES {
                report.error = Some(format!("stopped after {MAX_ENTRIES} entries"));
                return false;
            }
            true
        })?;
        Ok(self.stream.ended())
    }
}

fn classify(r: &mut TarReport, h: &tar::Header) {
    let (name, kind, link) = (&h.name, h.kind, &h.link);
    r.entries += 1;
    let keep = |list: &mut Vec<String>, text: String| {
        if list.len() < 20 {
            list.push(text);
        }
    };
    if escapes(name) {
        keep(&mut r.escaping, name.clone());
    }
    if (kind == b'2' || kind == b'1') && (link_escapes(name, link) || kind == b'1' && escapes(link))
    {
        keep(&mut r.links_out, format!("{name} -> {link}"));
    }
    if h.mode & 0o6000 != 0 && (kind == b'0' || kind == 0) {
        keep(&mut r.setuid, name.clone());
    }
    if matches!(kind, b'3' | b'4' | b'6') {
        keep(&mut r.devices, name.clone());
    }
}

/// Reads the tarball at `path` (gzip-compressed or not) and reports risky entries.
pub fn scan(path: &Path) -> TarReport {
    let mut walker = Walker {
        report: TarReport::default(),
        stream: tar::Stream::new(),
        total: 0,
    };
    if let Err(e) = scan_into(path, &mut walker) {
        walker.report.error = Some(e.to_string());
    }
    walker.report
}

fn scan_into(path: &Path, walker: &mut Walker) -> Result<(), TarballError> {
    let mut file = File::open(path).map_err(TarballError::Open)?;
    let mut input = vec![0u8; 1 << 16];
    let n = read_full(&mut file, &mut input)?;
    let gzip = n >= 10 && input[0] == 0x1f && input[1] == 0x8b;
    if !gzip {
        let mut chunk = &input[..n];
        loop {
            if walker.push(chunk)? {
                return Ok(());
            }
            let n = read_full(&mut file, &mut input)?;
            if n == 0 {
                return Ok(());
            }
            chunk = &input[..n];
        }
    }
    let start = gzip::header_len(&input[..n]).ok_or(TarballError::GzipHeader)?;
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let mut out = vec![0u8; 1 << 16];
    let mut pending: Vec<u8> = input[start..n].to_vec();
    loop {
        let mut offset = 0;
        let eof = pending.is_empty();
        loop {
            let res = inflate(&mut state, &pending[offset..], &mut out, MZFlush::None);
            offset += res.bytes_consumed;
            walker.total += res.bytes_written as u64;
            if walker.push(&out[..res.bytes_written])? {
                return Ok(());
            }
            if walker.total > MAX_BYTES {
                return Err(TarballError::TooLarge);
            }
            match res.status {
                Ok(MZStatus::StreamEnd) => return Ok(()),
                Ok(_) => {}
                Err(MZError::Buf) if offset >= pending.len() => break,
                Err(MZError::Buf) => {}
                Err(e) => return Err(TarballError::Corrupt(e)),
            }
            if offset >= pending.len() && res.bytes_written < out.len() {
                break;
            }
        }
        if eof {
            return Err(TarballError::Truncated);
        }
        let n = read_full(&mut file, &mut input)?;
        pending = input[..n].to_vec();
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> Result<usize, TarballError> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(TarballError::Read(e)),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, kind: u8, link: &str, mode: u32, size: usize) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(format!("{mode:07o}").as_bytes());
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&c| u32::from(c)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    fn tar() -> Vec<u8> {
        let mut t = Vec::new();
        t.extend(header("bin/python", b'0', "", 0o755, 600));
        t.extend(vec![b'x'; 1024]);
        t.extend(header("../../etc/cron.d/x", b'0', "", 0o644, 0));
        t.extend(header("lib/evil", b'2', "../../../root/.ssh", 0o777, 0));
        t.extend(header("lib/ok", b'2', "../bin/python", 0o777, 0));
        t.extend(header("bin/su", b'0', "", 0o4755, 0));
        let long = b"very/long/../../../name";
        t.extend(header("././@LongLink", b'L', "", 0o644, long.len()));
        let mut data = long.to_vec();
        data.resize(512, 0);
        t.extend(data);
        t.extend(header("short", b'0', "", 0o644, 0));
        t.extend(vec![0u8; 1024]);
        t
    }

    fn check(report: &TarReport) {
        assert_eq!(report.error, None);
        assert_eq!(report.entries, 6);
        assert_eq!(
            report.escaping,
            ["../../etc/cron.d/x", "very/long/../../../name"]
        );
        assert_eq!(report.links_out, ["lib/evil -> ../../../root/.ssh"]);
        assert_eq!(report.setuid, ["bin/su"]);
    }

    #[test]
    fn plain_and_gzip_tarballs() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("env.tar");
        std::fs::write(&plain, tar()).unwrap();
        check(&scan(&plain));
        let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        gz.extend(miniz_oxide::deflate::compress_to_vec(&tar(), 6));
        gz.extend([0u8; 8]);
        let packed = dir.path().join("env.tar.gz");
        std::fs::write(&packed, &gz).unwrap();
        check(&scan(&packed));
        // Truncated: an error, never a clean result.
        std::fs::write(&packed, &gz[..gz.len() / 2]).unwrap();
        assert!(scan(&packed).error.is_some());
    }
}
