//! A zip reader that reports everything a loader could disagree on.
//!
//! The central directory is read twice, as torch's miniz-based reader and as Python's
//! `zipfile` read it ([`Reader`]: which end record, which ZIP64 record, absolute or shifted
//! offsets, entry count or directory size, name decoding), and the members either of them
//! reads are all returned; a difference between the two readings is itself an anomaly. Each
//! entry's local header is compared with its central record, and members are read stored or
//! deflated with size, ratio and CRC checks. Anomalies are returned, not hidden: the caller
//! turns them into findings.

use std::borrow::Cow;

/// Limits on decompression (zip bombs).
#[derive(Debug, Clone, Copy)]
pub struct ZipLimits {
    /// Largest uncompressed/compressed ratio of a deflated member.
    pub max_ratio: u64,
    /// Largest uncompressed size of one deflated member.
    pub max_member_size: u64,
}

impl Default for ZipLimits {
    fn default() -> ZipLimits {
        ZipLimits {
            max_ratio: 1000,
            max_member_size: 4 << 30,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ZipEntry {
    pub name: String,
    pub flags: u16,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub size: u64,
    /// Offset of the local header in the file.
    pub local_offset: u64,
    /// Offset of the member's data in the file.
    pub data_offset: u64,
    /// Offset of the central directory record.
    pub central_offset: u64,
}

/// Something about the archive's structure that loaders may interpret differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipAnomaly {
    /// Local header disagrees with the central directory (name, flags, method, sizes).
    HeaderMismatch {
        name: String,
        offset: u64,
        field: &'static str,
        central: String,
        local: String,
    },
    /// Two central records with the same name.
    Duplicate { name: String, offset: u64 },
    /// Bytes before the first local header (a polyglot, or a self-extractor stub).
    PrependedData { len: u64 },
    /// Bytes after the end-of-central-directory record and its comment.
    TrailingData { offset: u64, len: u64 },
    /// An end-of-central-directory comment longer than the bytes after the record: torch and
    /// Python's `zipfile` read the archive anyway, stricter readers refuse it.
    CommentOverrun {
        offset: u64,
        declared: u64,
        available: u64,
    },
    /// torch and Python's `zipfile` read different members, or only one of them can open the
    /// archive (see [`Reader`]). The members only one of them reads are named.
    ReaderDifferential {
        offset: u64,
        message: String,
        torch_only: String,
        zipfile_only: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("not a zip archive: no end-of-central-directory record")]
    NoEocd,
    #[error("corrupt zip: {0}")]
    Corrupt(String),
    #[error("zip member `{name}` uses unsupported compression method {method}")]
    Method { name: String, method: u16 },
    #[error("zip member `{name}` is encrypted")]
    Encrypted { name: String },
    #[error(
        "zip member `{name}` would inflate to {size} bytes from {compressed} (limit: ratio {max_ratio}, {max_size} bytes)"
    )]
    Bomb {
        name: String,
        size: u64,
        compressed: u64,
        max_ratio: u64,
        max_size: u64,
    },
    #[error("zip member `{name}` is corrupt: {message}")]
    Member { name: String, message: String },
}

pub struct ZipArchive<'a> {
    pub data: &'a [u8],
    pub entries: Vec<ZipEntry>,
    pub anomalies: Vec<ZipAnomaly>,
    pub limits: ZipLimits,
}

/// A member's bytes and whether its CRC matched the central directory.
pub struct Member<'a> {
    pub bytes: Cow<'a, [u8]>,
    pub crc_ok: bool,
    pub actual_crc: u32,
}

fn u16_at(d: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(d: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(d: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(o..o + 8)?.try_into().ok()?))
}

fn corrupt(msg: impl Into<String>) -> ZipError {
    ZipError::Corrupt(msg.into())
}

/// Whether the data starts like a zip (local header or empty archive).
pub fn is_zip(data: &[u8]) -> bool {
    data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06")
}

/// Whether the data has an end-of-central-directory record (a zip, perhaps with a stub).
pub fn has_eocd(data: &[u8]) -> bool {
    find_eocd(data).is_some()
}

/// The end-of-central-directory record as miniz (torch) finds it: the last signature, in the
/// final 64 KiB + 22 bytes, with a whole record after it.
fn find_eocd(data: &[u8]) -> Option<usize> {
    if data.len() < 22 {
        return None;
    }
    let lowest = data.len().saturating_sub(22 + 65535);
    (lowest..=data.len() - 22)
        .rev()
        .find(|&i| data[i..].starts_with(b"PK\x05\x06"))
}

/// The zip readers a model file meets. They agree on a well-formed archive and disagree on
/// several malformed ones, which is where a scanner that models only one of them can be shown a
/// different archive than the loader (checked against torch 2.15 and Python 3.11's `zipfile`
/// by `scripts/bypass/verify.py`, see `docs/checkpoint.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// `torch.load`'s `PyTorchStreamReader` over miniz: the last end-of-central-directory
    /// signature with a full record after it; ZIP64 end record where the locator points; the
    /// entry count from the end record; offsets taken as absolute file offsets; names as bytes.
    Torch,
    /// Python's `zipfile` (`numpy.load` of an `.npz`, Keras `.keras`, skops): the end record
    /// found by `rfind` (refused when it is cut short); the ZIP64 end record right before its
    /// locator; central records read until the directory's size is used up, whatever the count;
    /// the directory taken as ending right before the end record, offsets shifted by the bytes
    /// in front of it; names UTF-8 when flag bit 11 says so, cp437 otherwise, cut at a NUL.
    Zipfile,
}

impl Reader {
    /// The loaders that read a zip this way.
    pub fn loaders(self) -> &'static str {
        match self {
            Reader::Torch => "torch.load",
            Reader::Zipfile => "Python zipfile (numpy.load, Keras, skops)",
        }
    }
}

/// One reader's view of the archive.
struct Directory {
    entries: Vec<ZipEntry>,
    anomalies: Vec<ZipAnomaly>,
    /// Where the central directory this reader uses starts.
    start: u64,
}

/// cp437, the encoding Python's `zipfile` gives names without flag bit 11 (bytes 0x80-0xFF).
const CP437_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";

fn cp437(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b < 0x80 {
                char::from(b)
            } else {
                CP437_HIGH.chars().nth(usize::from(b - 0x80)).unwrap_or('?')
            }
        })
        .collect()
}

/// The end-of-central-directory record as `zipfile._EndRecData` finds it: the last 22 bytes
/// when they are a record without a comment, else the last signature in the final 64 KiB + 22
/// bytes, which must have a whole record after it.
fn find_eocd_zipfile(data: &[u8]) -> Result<usize, ZipError> {
    if data.len() < 22 {
        return Err(ZipError::NoEocd);
    }
    let tail = data.len() - 22;
    if data[tail..].starts_with(b"PK\x05\x06") && data.ends_with(b"\0\0") {
        return Ok(tail);
    }
    let lowest = data.len().saturating_sub(22 + 65535);
    let found = (lowest..=data.len() - 4)
        .rev()
        .find(|&i| data[i..].starts_with(b"PK\x05\x06"))
        .ok_or(ZipError::NoEocd)?;
    if found > tail {
        return Err(corrupt(format!(
            "the last end-of-central-directory signature (byte {found}) has no whole record after it"
        )));
    }
    Ok(found)
}

/// Reads the central directory the way `reader` does, and checks every entry's local header.
fn read_directory(data: &[u8], reader: Reader) -> Result<Directory, ZipError> {
    let eocd = match reader {
        Reader::Torch => find_eocd(data).ok_or(ZipError::NoEocd)?,
        Reader::Zipfile => find_eocd_zipfile(data)?,
    };
    let comment_len = u64::from(u16_at(data, eocd + 20).ok_or_else(|| corrupt("short EOCD"))?);
    let mut anomalies = Vec::new();
    let len = data.len() as u64;
    let end = eocd as u64 + 22 + comment_len;
    // Neither torch nor zipfile checks the comment length: an overrun is read, and reported.
    if end > len {
        anomalies.push(ZipAnomaly::CommentOverrun {
            offset: eocd as u64,
            declared: comment_len,
            available: len - eocd as u64 - 22,
        });
    } else if end < len {
        anomalies.push(ZipAnomaly::TrailingData {
            offset: end,
            len: len - end,
        });
    }
    let mut count = u64::from(u16_at(data, eocd + 10).unwrap_or(0));
    let mut cd_size = u64::from(u32_at(data, eocd + 12).unwrap_or(0));
    let mut cd_offset = u64::from(u32_at(data, eocd + 16).unwrap_or(0));
    let mut zip64 = false;
    // ZIP64: a locator right before the end record says there is a ZIP64 end record.
    if eocd >= 20 && data[eocd - 20..].starts_with(b"PK\x06\x07") {
        let locator = eocd - 20;
        let record = match reader {
            // Where the locator points (an absolute offset), or nothing is read.
            Reader::Torch => {
                let at = u64_at(data, locator + 8).unwrap_or(u64::MAX);
                let found = usize::try_from(at).ok().filter(|&p| {
                    data.get(p..)
                        .is_some_and(|d| d.len() >= 56 && d.starts_with(b"PK\x06\x06"))
                });
                Some(found.ok_or_else(|| {
                    corrupt(format!(
                        "no ZIP64 end record at byte {at}, where its locator points"
                    ))
                })?)
            }
            // Right before the locator; without one there the plain record is used.
            Reader::Zipfile => locator
                .checked_sub(56)
                .filter(|&p| data[p..].starts_with(b"PK\x06\x06")),
        };
        if let Some(p) = record {
            let short = || corrupt("short ZIP64 end record");
            count = u64_at(data, p + 32).ok_or_else(short)?;
            cd_size = u64_at(data, p + 40).ok_or_else(short)?;
            cd_offset = u64_at(data, p + 48).ok_or_else(short)?;
            zip64 = true;
        }
    }
    // torch: offsets are file offsets. zipfile: the directory ends right before the end
    // records, and the difference from its stated offset shifts every local header.
    let (start, shift) = match reader {
        Reader::Torch => {
            if count > cd_size / 46 {
                return Err(corrupt(format!(
                    "{count} entries cannot fit in a {cd_size}-byte central directory"
                )));
            }
            (cd_offset, 0i128)
        }
        Reader::Zipfile => {
            let records = if zip64 { 76 } else { 0 };
            let concat = eocd as i128 - i128::from(cd_size) - i128::from(cd_offset) - records;
            let start = i128::from(cd_offset) + concat;
            let start = u64::try_from(start)
                .map_err(|_| corrupt("central directory offset points before the file"))?;
            (start, concat)
        }
    };
    let cd = usize::try_from(start)
        .ok()
        .zip(usize::try_from(cd_size).ok())
        .and_then(|(s, n)| data.get(s..s.checked_add(n)?))
        .ok_or_else(|| corrupt("central directory runs past the end of the file"))?;
    let mut entries: Vec<ZipEntry> = Vec::new();
    let mut raw_names: Vec<&[u8]> = Vec::new();
    let mut pos = 0usize;
    loop {
        let more = match reader {
            Reader::Torch => (entries.len() as u64) < count,
            Reader::Zipfile => pos < cd.len(),
        };
        if !more {
            break;
        }
        let at = start + pos as u64;
        if !cd
            .get(pos..)
            .is_some_and(|d| d.len() >= 46 && d.starts_with(b"PK\x01\x02"))
        {
            return Err(corrupt(format!(
                "bad central directory record at byte {at}"
            )));
        }
        let h = |o| u16_at(cd, pos + o).ok_or_else(|| corrupt("short central record"));
        let w = |o| u32_at(cd, pos + o).ok_or_else(|| corrupt("short central record"));
        let flags = h(8)?;
        let method = h(10)?;
        let crc32 = w(16)?;
        let mut compressed_size = u64::from(w(20)?);
        let mut size = u64::from(w(24)?);
        let (n, e, c) = (h(28)? as usize, h(30)? as usize, h(32)? as usize);
        let mut local = u64::from(w(42)?);
        let name_bytes = cd
            .get(pos + 46..pos + 46 + n)
            .ok_or_else(|| corrupt("central record name runs past the central directory"))?;
        let extra = cd
            .get(pos + 46 + n..pos + 46 + n + e)
            .ok_or_else(|| corrupt("central record extra field runs past the central directory"))?;
        if pos + 46 + n + e + c > cd.len() {
            return Err(corrupt(
                "central record comment runs past the central directory",
            ));
        }
        // ZIP64 extended information replaces the 0xFFFFFFFF fields in order.
        let mut x = 0;
        while x + 4 <= extra.len() {
            let id = u16_at(extra, x).unwrap_or(0);
            let len = u16_at(extra, x + 2).unwrap_or(0) as usize;
            if id == 1 {
                let mut f = x + 4;
                for field in [&mut size, &mut compressed_size, &mut local] {
                    if *field == 0xFFFF_FFFF
                        && let Some(v) = u64_at(extra, f)
                    {
                        *field = v;
                        f += 8;
                    }
                }
            }
            x += 4 + len;
        }
        let name = match reader {
            Reader::Torch => String::from_utf8_lossy(name_bytes).into_owned(),
            Reader::Zipfile => {
                let mut name = if flags & 0x0800 != 0 {
                    String::from_utf8(name_bytes.to_vec()).map_err(|_| {
                        corrupt(format!(
                            "central record at byte {at}: name flagged UTF-8 is not UTF-8"
                        ))
                    })?
                } else {
                    cp437(name_bytes)
                };
                if let Some(nul) = name.find('\0') {
                    name.truncate(nul);
                }
                name
            }
        };
        let local_offset = u64::try_from(i128::from(local) + shift)
            .map_err(|_| corrupt(format!("member `{name}`: local header before the file")))?;
        entries.push(ZipEntry {
            name,
            flags,
            method,
            crc32,
            compressed_size,
            size,
            local_offset,
            data_offset: 0,
            central_offset: at,
        });
        raw_names.push(name_bytes);
        pos += 46 + n + e + c;
    }
    let mut seen = std::collections::HashSet::new();
    for (entry, central_name) in entries.iter_mut().zip(&raw_names) {
        if !seen.insert(entry.name.clone()) {
            anomalies.push(ZipAnomaly::Duplicate {
                name: entry.name.clone(),
                offset: entry.central_offset,
            });
        }
        check_local(data, entry, central_name, &mut anomalies)?;
    }
    let first = entries
        .iter()
        .map(|e| e.local_offset)
        .min()
        .unwrap_or(start);
    if first > 0 {
        anomalies.push(ZipAnomaly::PrependedData { len: first });
    }
    Ok(Directory {
        entries,
        anomalies,
        start,
    })
}

/// Compares an entry's local header with its central record and finds its data: both readers
/// take the data offset from the local header's name and extra lengths, and everything else
/// (method, sizes, flags) from the central record.
fn check_local(
    data: &[u8],
    entry: &mut ZipEntry,
    central_name: &[u8],
    anomalies: &mut Vec<ZipAnomaly>,
) -> Result<(), ZipError> {
    let lo = usize::try_from(entry.local_offset).unwrap_or(usize::MAX);
    if !data.get(lo..).is_some_and(|d| d.starts_with(b"PK\x03\x04")) {
        return Err(corrupt(format!(
            "member `{}`: no local header at byte {lo}",
            entry.name
        )));
    }
    let h = |o| u16_at(data, lo + o).ok_or_else(|| corrupt("short local header"));
    let n = h(26)? as usize;
    let e = h(28)? as usize;
    let local_name = data
        .get(lo + 30..lo + 30 + n)
        .ok_or_else(|| corrupt("local name runs past the end"))?;
    let mut mismatch = |field: &'static str, central: String, local: String| {
        let a = ZipAnomaly::HeaderMismatch {
            name: entry.name.clone(),
            offset: entry.local_offset,
            field,
            central,
            local,
        };
        if !anomalies.contains(&a) {
            anomalies.push(a);
        }
    };
    if local_name != central_name {
        mismatch(
            "name",
            String::from_utf8_lossy(central_name).into_owned(),
            String::from_utf8_lossy(local_name).into_owned(),
        );
    }
    let local_flags = h(6)?;
    // Bit 3 (data descriptor) legitimately differs between the headers.
    if local_flags & !0x0008 != entry.flags & !0x0008 {
        mismatch(
            "flags",
            format!("{:#06x}", entry.flags),
            format!("{local_flags:#06x}"),
        );
    }
    let local_method = h(8)?;
    if local_method != entry.method {
        mismatch("method", entry.method.to_string(), local_method.to_string());
    }
    if local_flags & 0x0008 == 0 {
        let lc = u32_at(data, lo + 14).unwrap_or(0);
        let lcs = u32_at(data, lo + 18).unwrap_or(0);
        if lc != entry.crc32 {
            mismatch(
                "crc32",
                format!("{:#010x}", entry.crc32),
                format!("{lc:#010x}"),
            );
        }
        if lcs != 0xFFFF_FFFF && u64::from(lcs) != entry.compressed_size {
            mismatch(
                "compressed size",
                entry.compressed_size.to_string(),
                lcs.to_string(),
            );
        }
    }
    entry.data_offset = (lo + 30 + n + e) as u64;
    let end = entry.data_offset.checked_add(entry.compressed_size);
    if end.is_none_or(|e| e > data.len() as u64) {
        return Err(corrupt(format!(
            "member `{}` data runs past the end of the file",
            entry.name
        )));
    }
    Ok(())
}

/// Names for evidence: at most eight, then how many more.
fn name_list(entries: &[&ZipEntry]) -> String {
    let mut s: Vec<String> = entries.iter().take(8).map(|e| e.name.clone()).collect();
    if entries.len() > 8 {
        s.push(format!("... {} more", entries.len() - 8));
    }
    s.join(", ")
}

impl<'a> ZipArchive<'a> {
    /// Reads the archive as torch and as Python's `zipfile` do. The entries are every member
    /// either of them reads (torch's first, in its central-directory order); where they read
    /// different members, or only one of them can open the archive, a
    /// [`ZipAnomaly::ReaderDifferential`] says so. Fails only when neither can read it.
    pub fn parse(data: &'a [u8], limits: ZipLimits) -> Result<ZipArchive<'a>, ZipError> {
        let torch = read_directory(data, Reader::Torch);
        let zipfile = read_directory(data, Reader::Zipfile);
        let (mut entries, mut anomalies) = (Vec::new(), Vec::new());
        let mut add = |dir: Directory, entries: &mut Vec<ZipEntry>| {
            for a in dir.anomalies {
                if !anomalies.contains(&a) {
                    anomalies.push(a);
                }
            }
            for e in dir.entries {
                let same = |o: &ZipEntry| {
                    o.central_offset == e.central_offset && o.local_offset == e.local_offset
                };
                if !entries.iter().any(same) {
                    entries.push(e);
                }
            }
        };
        let differential = match (torch, zipfile) {
            (Ok(t), Ok(z)) => {
                let same = |a: &ZipEntry, b: &ZipEntry| {
                    a.central_offset == b.central_offset && a.local_offset == b.local_offset
                };
                let only_torch: Vec<&ZipEntry> = t
                    .entries
                    .iter()
                    .filter(|a| !z.entries.iter().any(|b| same(a, b)))
                    .collect();
                let only_zipfile: Vec<&ZipEntry> = z
                    .entries
                    .iter()
                    .filter(|a| !t.entries.iter().any(|b| same(a, b)))
                    .collect();
                let d = (!only_torch.is_empty() || !only_zipfile.is_empty()).then(|| {
                    ZipAnomaly::ReaderDifferential {
                        offset: t.start,
                        message: format!(
                            "torch.load reads {} member(s) from the central directory at byte {}, Python's zipfile {} from byte {}",
                            t.entries.len(),
                            t.start,
                            z.entries.len(),
                            z.start
                        ),
                        torch_only: name_list(&only_torch),
                        zipfile_only: name_list(&only_zipfile),
                    }
                });
                add(t, &mut entries);
                add(z, &mut entries);
                d
            }
            (Ok(t), Err(e)) => {
                let d = ZipAnomaly::ReaderDifferential {
                    offset: t.start,
                    message: format!(
                        "only torch.load's zip reader opens the archive; Python's zipfile fails: {e}"
                    ),
                    torch_only: name_list(&t.entries.iter().collect::<Vec<_>>()),
                    zipfile_only: String::new(),
                };
                add(t, &mut entries);
                Some(d)
            }
            (Err(e), Ok(z)) => {
                // torch.load reads a file as a zip only when it starts with a local header;
                // otherwise it reads it as a pickle, and the zip is not its business.
                let d = data.starts_with(b"PK\x03\x04").then(|| ZipAnomaly::ReaderDifferential {
                    offset: z.start,
                    message: format!(
                        "only Python's zipfile opens the archive; torch.load's zip reader fails: {e}"
                    ),
                    torch_only: String::new(),
                    zipfile_only: name_list(&z.entries.iter().collect::<Vec<_>>()),
                });
                add(z, &mut entries);
                d
            }
            (Err(_), Err(e)) => return Err(e),
        };
        anomalies.extend(differential);
        Ok(ZipArchive {
            data,
            entries,
            anomalies,
            limits,
        })
    }

    /// The compressed bytes of a member.
    pub fn raw(&self, entry: &ZipEntry) -> &'a [u8] {
        let s = entry.data_offset as usize;
        &self.data[s..s + entry.compressed_size as usize]
    }

    /// Reads a member: stored or deflated, bounded, with its CRC checked.
    pub fn read(&self, entry: &ZipEntry) -> Result<Member<'a>, ZipError> {
        if entry.flags & 1 != 0 {
            return Err(ZipError::Encrypted {
                name: entry.name.clone(),
            });
        }
        let raw = self.raw(entry);
        let bytes: Cow<'a, [u8]> = match entry.method {
            0 => {
                if entry.size != entry.compressed_size {
                    return Err(ZipError::Member {
                        name: entry.name.clone(),
                        message: format!(
                            "stored member declares {} bytes but holds {}",
                            entry.size, entry.compressed_size
                        ),
                    });
                }
                Cow::Borrowed(raw)
            }
            8 => {
                let bomb = entry.size > self.limits.max_member_size
                    || entry.size / entry.compressed_size.max(1) > self.limits.max_ratio;
                if bomb {
                    return Err(ZipError::Bomb {
                        name: entry.name.clone(),
                        size: entry.size,
                        compressed: entry.compressed_size,
                        max_ratio: self.limits.max_ratio,
                        max_size: self.limits.max_member_size,
                    });
                }
                // The declared size bounds the output: a stream that inflates further is
                // reported, never followed.
                let limit = entry.size as usize;
                let out = miniz_oxide::inflate::decompress_to_vec_with_limit(raw, limit.max(1))
                    .map_err(|e| ZipError::Member {
                        name: entry.name.clone(),
                        message: format!(
                            "inflate failed ({:?}) within the declared size",
                            e.status
                        ),
                    })?;
                if out.len() as u64 != entry.size {
                    return Err(ZipError::Member {
                        name: entry.name.clone(),
                        message: format!(
                            "inflates to {} bytes, central directory says {}",
                            out.len(),
                            entry.size
                        ),
                    });
                }
                Cow::Owned(out)
            }
            method => {
                return Err(ZipError::Method {
                    name: entry.name.clone(),
                    method,
                });
            }
        };
        let actual_crc = crc32fast::hash(&bytes);
        Ok(Member {
            crc_ok: actual_crc == entry.crc32,
            actual_crc,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp437_names_decode_like_python() {
        // bytes(range(0x80, 0x100)).decode('cp437'), spot-checked.
        assert_eq!(cp437(b"\x82.npy"), "é.npy");
        assert_eq!(cp437(b"\x80\x9b\xe1\xff"), "Ç¢ß\u{a0}");
        assert_eq!(CP437_HIGH.chars().count(), 128);
    }
}
