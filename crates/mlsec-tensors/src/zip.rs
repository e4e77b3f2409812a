//! A zip reader that reports everything a loader could disagree on.
//!
//! The central directory is read from the end-of-central-directory record (with ZIP64), each
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

fn find_eocd(data: &[u8]) -> Option<usize> {
    if data.len() < 22 {
        return None;
    }
    let lowest = data.len().saturating_sub(22 + 65535);
    (lowest..=data.len() - 22)
        .rev()
        .find(|&i| data[i..].starts_with(b"PK\x05\x06"))
}

impl<'a> ZipArchive<'a> {
    pub fn parse(data: &'a [u8], limits: ZipLimits) -> Result<ZipArchive<'a>, ZipError> {
        let eocd = find_eocd(data).ok_or(ZipError::NoEocd)?;
        let comment_len = u16_at(data, eocd + 20).ok_or_else(|| corrupt("short EOCD"))? as usize;
        let mut anomalies = Vec::new();
        let end = eocd + 22 + comment_len;
        if end > data.len() {
            return Err(corrupt("EOCD comment runs past the end of the file"));
        }
        if end < data.len() {
            anomalies.push(ZipAnomaly::TrailingData {
                offset: end as u64,
                len: (data.len() - end) as u64,
            });
        }
        let mut count = u64::from(u16_at(data, eocd + 10).unwrap_or(0));
        let mut cd_size = u64::from(u32_at(data, eocd + 12).unwrap_or(0));
        let mut cd_offset = u64::from(u32_at(data, eocd + 16).unwrap_or(0));
        let mut cd_end = eocd as u64;
        // ZIP64: locator right before the EOCD.
        if eocd >= 20 && data[eocd - 20..].starts_with(b"PK\x06\x07") {
            let rec = u64_at(data, eocd - 20 + 8).ok_or_else(|| corrupt("short ZIP64 locator"))?;
            // The record sits just before the locator; its stated offset may be shifted by a stub.
            let rec_pos = (eocd - 20)
                .checked_sub(56)
                .filter(|&p| data[p..].starts_with(b"PK\x06\x06"))
                .or_else(|| {
                    usize::try_from(rec)
                        .ok()
                        .filter(|&p| data.get(p..).is_some_and(|d| d.starts_with(b"PK\x06\x06")))
                })
                .ok_or_else(|| corrupt("ZIP64 end record not found"))?;
            count = u64_at(data, rec_pos + 32).ok_or_else(|| corrupt("short ZIP64 record"))?;
            cd_size = u64_at(data, rec_pos + 40).ok_or_else(|| corrupt("short ZIP64 record"))?;
            cd_offset = u64_at(data, rec_pos + 48).ok_or_else(|| corrupt("short ZIP64 record"))?;
            cd_end = rec_pos as u64;
        }
        let cd_start = cd_end
            .checked_sub(cd_size)
            .ok_or_else(|| corrupt("central directory size exceeds its position"))?;
        // Like Python's zipfile: bytes prepended to the archive shift every offset.
        let concat = cd_start
            .checked_sub(cd_offset)
            .ok_or_else(|| corrupt("central directory offset points past its position"))?;
        if count > cd_size / 46 + 1 {
            return Err(corrupt(format!(
                "{count} entries cannot fit in a {cd_size}-byte central directory"
            )));
        }
        let mut entries: Vec<ZipEntry> = Vec::with_capacity(count as usize);
        let mut pos = cd_start as usize;
        for _ in 0..count {
            if !data
                .get(pos..)
                .is_some_and(|d| d.starts_with(b"PK\x01\x02"))
            {
                return Err(corrupt(format!(
                    "bad central directory record at byte {pos}"
                )));
            }
            let h = |o| u16_at(data, pos + o).ok_or_else(|| corrupt("short central record"));
            let w = |o| u32_at(data, pos + o).ok_or_else(|| corrupt("short central record"));
            let flags = h(8)?;
            let method = h(10)?;
            let crc32 = w(16)?;
            let mut compressed_size = u64::from(w(20)?);
            let mut size = u64::from(w(24)?);
            let (n, e, c) = (h(28)? as usize, h(30)? as usize, h(32)? as usize);
            let mut local = u64::from(w(42)?);
            let name_bytes = data
                .get(pos + 46..pos + 46 + n)
                .ok_or_else(|| corrupt("central record name runs past the end"))?;
            let extra = data
                .get(pos + 46 + n..pos + 46 + n + e)
                .ok_or_else(|| corrupt("central record extra field runs past the end"))?;
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
            let name = String::from_utf8_lossy(name_bytes).into_owned();
            let local_offset = local
                .checked_add(concat)
                .ok_or_else(|| corrupt("local header offset overflows"))?;
            entries.push(ZipEntry {
                name,
                flags,
                method,
                crc32,
                compressed_size,
                size,
                local_offset,
                data_offset: 0,
                central_offset: pos as u64,
            });
            pos += 46 + n + e + c;
        }
        let mut seen = std::collections::HashSet::new();
        for entry in &mut entries {
            if !seen.insert(entry.name.clone()) {
                anomalies.push(ZipAnomaly::Duplicate {
                    name: entry.name.clone(),
                    offset: entry.central_offset,
                });
            }
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
            let local_name = String::from_utf8_lossy(local_name).into_owned();
            let mut mismatch = |field: &'static str, central: String, local: String| {
                anomalies.push(ZipAnomaly::HeaderMismatch {
                    name: entry.name.clone(),
                    offset: entry.local_offset,
                    field,
                    central,
                    local,
                });
            };
            if local_name != entry.name {
                mismatch("name", entry.name.clone(), local_name);
            }
            let local_flags = h(6)?;
            // Bit 3 (data descriptor) and bit 11 (UTF-8) legitimately vary between writers'
            // headers only in the descriptor case; compare the rest.
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
        }
        let first = entries
            .iter()
            .map(|e| e.local_offset)
            .min()
            .unwrap_or(cd_start);
        if first > 0 {
            anomalies.push(ZipAnomaly::PrependedData { len: first });
        }
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

/// A minimal zip writer (stored and deflated members), used by fixture generators and tests.
#[derive(Default)]
pub struct ZipWriter {
    pub out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

impl ZipWriter {
    pub fn new() -> ZipWriter {
        ZipWriter::default()
    }

    /// Adds a member; `deflate` compresses it. `align` pads data to that many bytes like
    /// PyTorch's writer (0 for none).
    pub fn add(&mut self, name: &str, data: &[u8], deflate: bool, align: usize) {
        let crc = crc32fast::hash(data);
        let body = if deflate {
            miniz_oxide::deflate::compress_to_vec(data, 6)
        } else {
            data.to_vec()
        };
        let offset = self.out.len() as u32;
        let mut extra = Vec::new();
        if align > 0 {
            let unpadded = self.out.len() + 30 + name.len() + 4;
            let pad = (align - unpadded % align) % align;
            extra.extend_from_slice(&0x4246u16.to_le_bytes()); // "FB", as PyTorch writes
            extra.extend_from_slice(&(pad as u16).to_le_bytes());
            extra.extend(std::iter::repeat_n(b'Z', pad));
        }
        let method: u16 = if deflate { 8 } else { 0 };
        let header = |sig: &[u8], central: bool| {
            let mut h = Vec::new();
            h.extend_from_slice(sig);
            if central {
                h.extend_from_slice(&20u16.to_le_bytes());
            }
            h.extend_from_slice(&20u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&method.to_le_bytes());
            h.extend_from_slice(&0u32.to_le_bytes()); // time/date
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(body.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h
        };
        let mut local = header(b"PK\x03\x04", false);
        local.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        local.extend_from_slice(name.as_bytes());
        local.extend_from_slice(&extra);
        self.out.extend_from_slice(&local);
        self.out.extend_from_slice(&body);
        let mut central = header(b"PK\x01\x02", true);
        central.extend_from_slice(&0u16.to_le_bytes()); // extra
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
        self.central.extend_from_slice(&central);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        let cd_offset = self.out.len() as u32;
        self.out.extend_from_slice(&self.central);
        self.out.extend_from_slice(b"PK\x05\x06");
        self.out.extend_from_slice(&[0; 4]);
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out
            .extend_from_slice(&(self.central.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&cd_offset.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_anomalies() {
        let mut w = ZipWriter::new();
        w.add("a/data.pkl", b"\x80\x02N.", false, 64);
        w.add("a/data/0", &[7u8; 5000], true, 0);
        let zip = w.finish();
        let z = ZipArchive::parse(&zip, ZipLimits::default()).unwrap();
        assert!(z.anomalies.is_empty(), "{:?}", z.anomalies);
        assert_eq!(z.entries.len(), 2);
        assert_eq!(z.entries[0].data_offset % 64, 0);
        let m = z.read(&z.entries[1]).unwrap();
        assert!(m.crc_ok);
        assert_eq!(m.bytes.len(), 5000);

        let mut pre = b"#!/bin/sh\n".to_vec();
        pre.extend_from_slice(&zip);
        pre.extend_from_slice(b"tail");
        let z = ZipArchive::parse(&pre, ZipLimits::default()).unwrap();
        assert!(z.anomalies.contains(&ZipAnomaly::PrependedData { len: 10 }));
        assert!(matches!(
            z.anomalies[0],
            ZipAnomaly::TrailingData { len: 4, .. }
        ));
        assert_eq!(&z.read(&z.entries[0]).unwrap().bytes[..], b"\x80\x02N.");

        let strict = ZipLimits {
            max_ratio: 10,
            ..ZipLimits::default()
        };
        let z = ZipArchive::parse(&zip, strict).unwrap();
        assert!(matches!(z.read(&z.entries[1]), Err(ZipError::Bomb { .. })));
        assert!(ZipArchive::parse(&zip[..zip.len() - 3], ZipLimits::default()).is_err());
    }
}
