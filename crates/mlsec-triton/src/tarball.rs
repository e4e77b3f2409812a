//! Lists the entries of a python-backend environment tarball (`.tar` or `.tar.gz`, the
//! conda-pack output that `EXECUTION_ENV_PATH` names) without extracting anything: a streaming
//! gzip inflate and a tar header walk, in bounded memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use miniz_oxide::inflate::stream::{InflateState, inflate};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

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

/// Feeds decompressed bytes to the tar walker.
struct Walker {
    report: TarReport,
    buf: Vec<u8>,
    /// Bytes of entry data still to skip.
    skip: u64,
    /// A GNU long name or PAX path for the next entry.
    long_name: Option<String>,
    /// A long-name or PAX entry being read: kind, bytes left (with padding), bytes of
    /// record still to keep, the record.
    collect: Option<(u8, u64, u64, Vec<u8>)>,
    total: u64,
    done: bool,
}

fn octal(field: &[u8]) -> u64 {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // GNU base-256 for large sizes.
        return field[1..].iter().fold(0u64, |acc, b| {
            acc.saturating_mul(256).saturating_add(u64::from(*b))
        });
    }
    field
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .fold(0u64, |acc, b| {
            acc.saturating_mul(8).saturating_add(u64::from(b - b'0'))
        })
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
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

impl Walker {
    fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.done {
            if let Some((_, remaining, keep, bytes)) = &mut self.collect {
                let take = (*remaining).min(data.len() as u64) as usize;
                let kept = (*keep).min(take as u64).min(1 << 20) as usize;
                bytes.extend_from_slice(&data[..kept]);
                *keep -= kept as u64;
                *remaining -= take as u64;
                data = &data[take..];
                if *remaining == 0 {
                    let (kind, _, _, bytes) = self.collect.take().expect("collecting");
                    self.long_name = match kind {
                        b'L' => Some(cstr(&bytes)),
                        _ => pax_path(&bytes).or(self.long_name.take()),
                    };
                }
                continue;
            }
            if self.skip > 0 {
                let take = (self.skip as usize).min(data.len());
                self.skip -= take as u64;
                data = &data[take..];
                continue;
            }
            let need = 512 - self.buf.len();
            let take = need.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == 512 {
                let header = std::mem::take(&mut self.buf);
                self.header(&header);
            }
        }
    }

    fn header(&mut self, h: &[u8]) {
        if h.iter().all(|b| *b == 0) {
            return; // End-of-archive blocks.
        }
        let size = octal(&h[124..136]);
        let padded = size.div_ceil(512) * 512;
        let kind = h[156];
        match kind {
            b'L' | b'x' => {
                // The data is the name (GNU) or PAX records of the next entry; data past the
                // record size is padding.
                if padded > 0 {
                    self.collect = Some((kind, padded, size, Vec::new()));
                }
                return;
            }
            b'g' | b'K' => {
                self.skip = padded;
                return;
            }
            _ => {}
        }
        let mut name = cstr(&h[0..100]);
        if &h[257..262] == b"ustar" {
            let prefix = cstr(&h[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        if let Some(long) = self.long_name.take() {
            name = long;
        }
        let link = cstr(&h[157..257]);
        let mode = octal(&h[100..108]);
        self.report.entries += 1;
        let r = &mut self.report;
        let keep = |list: &mut Vec<String>, text: String| {
            if list.len() < 20 {
                list.push(text);
            }
        };
        if escapes(&name) {
            keep(&mut r.escaping, name.clone());
        }
        if (kind == b'2' || kind == b'1')
            && (link_escapes(&name, &link) || kind == b'1' && escapes(&link))
        {
            keep(&mut r.links_out, format!("{name} -> {link}"));
        }
        if mode & 0o6000 != 0 && (kind == b'0' || kind == 0) {
            keep(&mut r.setuid, name.clone());
        }
        if matches!(kind, b'3' | b'4' | b'6') {
            keep(&mut r.devices, name);
        }
        if self.report.entries >= MAX_ENTRIES {
            self.report.error = Some(format!("stopped after {MAX_ENTRIES} entries"));
            self.done = true;
        }
        self.skip = if matches!(kind, b'0' | 0 | b'7') {
            padded
        } else {
            0
        };
    }
}

fn pax_path(records: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(records);
    text.lines()
        .filter_map(|line| line.split_once(' ').map(|(_, kv)| kv))
        .find_map(|kv| kv.strip_prefix("path=").map(str::to_owned))
}

/// Reads the tarball at `path` (gzip-compressed or not) and reports risky entries.
pub fn scan(path: &Path) -> TarReport {
    let mut walker = Walker {
        report: TarReport::default(),
        buf: Vec::with_capacity(512),
        skip: 0,
        long_name: None,
        collect: None,
        total: 0,
        done: false,
    };
    if let Err(e) = scan_into(path, &mut walker) {
        walker.report.error = Some(e);
    }
    walker.report
}

fn scan_into(path: &Path, walker: &mut Walker) -> Result<(), String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut input = vec![0u8; 1 << 16];
    let n = read_full(&mut file, &mut input)?;
    let gzip = n >= 10 && input[0] == 0x1f && input[1] == 0x8b;
    if !gzip {
        let mut chunk = &input[..n];
        loop {
            walker.push(chunk);
            if walker.done {
                return Ok(());
            }
            let n = read_full(&mut file, &mut input)?;
            if n == 0 {
                return Ok(());
            }
            chunk = &input[..n];
        }
    }
    let start = gzip_header_len(&input[..n]).ok_or("malformed gzip header")?;
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
            walker.push(&out[..res.bytes_written]);
            if walker.done {
                return Ok(());
            }
            if walker.total > MAX_BYTES {
                return Err(format!("stopped after {MAX_BYTES} uncompressed bytes"));
            }
            match res.status {
                Ok(MZStatus::StreamEnd) => return Ok(()),
                Ok(_) => {}
                Err(MZError::Buf) if offset >= pending.len() => break,
                Err(MZError::Buf) => {}
                Err(e) => return Err(format!("corrupt gzip data ({e:?})")),
            }
            if offset >= pending.len() && res.bytes_written < out.len() {
                break;
            }
        }
        if eof {
            return Err("truncated gzip stream".to_owned());
        }
        let n = read_full(&mut file, &mut input)?;
        pending = input[..n].to_vec();
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> Result<usize, String> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(format!("read error: {e}")),
        }
    }
    Ok(n)
}

fn gzip_header_len(b: &[u8]) -> Option<usize> {
    if b.len() < 10 || b[2] != 8 {
        return None;
    }
    let flags = b[3];
    let mut at = 10;
    if flags & 4 != 0 {
        let xlen = usize::from(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]));
        at += 2 + xlen;
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            at += b.get(at..)?.iter().position(|c| *c == 0)? + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    (at <= b.len()).then_some(at)
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
