//! A bounded tar reader (ustar, GNU long names and base-256 sizes, pax `path` records).
//!
//! Two front ends over one header decoder ([`Header::decode`]: checksum, octal fields, ustar
//! prefix): [`parse`] lists the members of an archive held in memory (the legacy `torch.save`
//! tar format; members are byte ranges of the input, nothing is copied), and [`Stream`] walks
//! an archive fed in chunks (a conda-pack environment behind a streaming gzip inflate, too
//! large to hold), keeping only one header block and a bounded long name.

pub const BLOCK: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tar: {0}")]
pub struct TarError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, TarError> {
    Err(TarError(m.into()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    pub name: String,
    /// Type flag (`b'0'` or `0` for a regular file, `b'5'` directory, ...).
    pub kind: u8,
    /// File offset of the member's header block.
    pub header_offset: u64,
    /// File offset and size of the member's data.
    pub data_offset: u64,
    pub size: u64,
}

impl TarEntry {
    pub fn is_file(&self) -> bool {
        matches!(self.kind, b'0' | 0 | b'7')
    }

    pub fn data<'a>(&self, archive: &'a [u8]) -> &'a [u8] {
        &archive[self.data_offset as usize..(self.data_offset + self.size) as usize]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarArchive {
    pub entries: Vec<TarEntry>,
    /// Offset of the end-of-archive marker (or of the end of the data).
    pub end: u64,
    /// The data ends without the end-of-archive marker (two zero blocks) after the last
    /// member, or inside it, so the archive may have been cut there. Python's `tarfile`
    /// (and so `torch.load`) accepts it, so the members are still listed; a scanner reports
    /// it as an error.
    pub missing_end_marker: bool,
}

fn field(h: &[u8], at: usize, len: usize) -> &[u8] {
    let f = &h[at..at + len];
    let n = f.iter().position(|&c| c == 0).unwrap_or(len);
    &f[..n]
}

fn octal(f: &[u8]) -> Option<u64> {
    // Base-256 (GNU) for large values: high bit of the first byte set.
    if f.first().is_some_and(|&c| c & 0x80 != 0) {
        if f[0] & 0x40 != 0 {
            return None; // negative
        }
        let mut v: u64 = u64::from(f[0] & 0x3f);
        for &c in &f[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(c))?;
        }
        return Some(v);
    }
    let s = std::str::from_utf8(f).ok()?;
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap_or(&[])).into_owned()
}

/// The `path` record of a pax extended header, if any.
fn pax_path(data: &[u8]) -> Option<String> {
    let mut rest = data;
    let mut path = None;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&c| c == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        if len <= sp || len > rest.len() {
            return None;
        }
        let rec = &rest[sp + 1..len];
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        if let Some(v) = rec.strip_prefix(b"path=") {
            path = Some(String::from_utf8_lossy(v).into_owned());
        }
        rest = &rest[len..];
    }
    path
}

/// Whether the block at 0 is a tar header with a valid checksum.
pub fn is_tar(data: &[u8]) -> bool {
    data.len() >= BLOCK && checksum_ok(&data[..BLOCK])
}

fn checksum_ok(h: &[u8]) -> bool {
    let Some(stored) = octal(field(h, 148, 8)) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &c) in h.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { c };
        unsigned += u64::from(c);
        signed += i64::from(c as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

/// One decoded header block (a member, or a GNU long-name / pax record announcing the next).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name field, with the ustar prefix joined in front.
    pub name: String,
    /// Type flag (`b'0'` or `0` regular file, `b'1'` hard link, `b'2'` symlink, `b'5'`
    /// directory, `b'L'` GNU long name, `b'x'`/`b'g'` pax records, ...).
    pub kind: u8,
    pub size: u64,
    /// Permission bits (0 when the field is not octal).
    pub mode: u64,
    /// The link target of hard and symbolic links.
    pub link: String,
}

impl Header {
    /// Decodes the header block `h` (512 bytes) found at `offset`: an error when its checksum
    /// or size field is invalid.
    pub fn decode(h: &[u8], offset: u64) -> Result<Header, TarError> {
        if h.len() < BLOCK || !checksum_ok(h) {
            return err(format!("header checksum mismatch at offset {offset}"));
        }
        let Some(size) = octal(&h[124..136]) else {
            return err(format!("invalid member size at offset {offset}"));
        };
        let mut name = text(field(h, 0, 100));
        if &h[257..262] == b"ustar" && h[345] != 0 {
            name = format!("{}/{name}", text(field(h, 345, 155)));
        }
        Ok(Header {
            name,
            kind: h[156],
            size,
            mode: octal(field(h, 100, 8)).unwrap_or(0),
            link: text(field(h, 157, 100)),
        })
    }

    /// The block count of the member's data, padding included, in bytes.
    pub fn padded_size(&self) -> u64 {
        self.size.div_ceil(BLOCK as u64) * BLOCK as u64
    }

    /// What a header of this kind does to the next member's name: `Some(body)` says the data
    /// of this header (its `size` bytes) names the next member (`L` GNU long name, `x` pax).
    fn names_next(&self) -> bool {
        matches!(self.kind, b'L' | b'x')
    }
}

/// The name a GNU long-name (`L`) or pax (`x`) record gives the next member, if any.
fn next_name(kind: u8, body: &[u8]) -> Option<String> {
    match kind {
        b'L' => Some(text(body)),
        _ => pax_path(body),
    }
}

/// Whether a header kind is metadata (long names, pax records) rather than a member.
fn is_meta(kind: u8) -> bool {
    matches!(kind, b'L' | b'x' | b'g' | b'K')
}

/// Parses the member list of a tar archive.
pub fn parse(data: &[u8]) -> Result<TarArchive, TarError> {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    let mut long_name: Option<String> = None;
    loop {
        if pos >= data.len() {
            // No end-of-archive marker: Python's tarfile accepts this too. The last member's
            // padding may be cut short, so the archive ends where the data does.
            return Ok(TarArchive {
                entries,
                end: pos.min(data.len()) as u64,
                missing_end_marker: true,
            });
        }
        let Some(h) = data.get(pos..pos + BLOCK) else {
            return err(format!("truncated header block at offset {pos}"));
        };
        if h.iter().all(|&c| c == 0) {
            return Ok(TarArchive {
                entries,
                end: pos as u64,
                missing_end_marker: data.len() < pos + 2 * BLOCK,
            });
        }
        let header = Header::decode(h, pos as u64)?;
        let data_offset = pos + BLOCK;
        let Some(end) = usize::try_from(header.size)
            .ok()
            .and_then(|s| data_offset.checked_add(s))
            .filter(|&e| e <= data.len())
        else {
            return err(format!(
                "member at offset {pos} declares {} bytes, past the end of the archive",
                header.size
            ));
        };
        let body = &data[data_offset..end];
        let next = data_offset + (end - data_offset).div_ceil(BLOCK) * BLOCK;
        if header.names_next() {
            if let Some(name) = next_name(header.kind, body) {
                long_name = Some(name);
            }
        } else if !is_meta(header.kind) {
            entries.push(TarEntry {
                name: long_name.take().unwrap_or(header.name),
                kind: header.kind,
                header_offset: pos as u64,
                data_offset: data_offset as u64,
                size: header.size,
            });
        }
        pos = next;
    }
}

/// A member the [`Stream`] reader saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The header, with the name a preceding long-name or pax record gave it.
    pub header: Header,
    /// File offset of the member's header block in the uncompressed archive.
    pub header_offset: u64,
}

/// A tar reader fed in chunks of any size ([`Stream::push`]): it never holds more than one
/// header block and a long name (kept up to [`Stream::MAX_NAME`] bytes), and skips member
/// data without looking at it.
#[derive(Debug, Default)]
pub struct Stream {
    block: Vec<u8>,
    /// Bytes of member data (with padding) still to skip.
    skip: u64,
    /// A long-name or pax record being read: its kind, bytes left (with padding), bytes of the
    /// record still to keep, and the record.
    record: Option<(u8, u64, u64, Vec<u8>)>,
    long_name: Option<String>,
    /// Uncompressed bytes consumed so far.
    offset: u64,
    ended: bool,
}

impl Stream {
    /// The longest long name or pax record kept (the rest is skipped).
    pub const MAX_NAME: u64 = 1 << 20;

    pub fn new() -> Stream {
        Stream::default()
    }

    /// Whether the end-of-archive marker was seen (what follows it is not read).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Feeds the next bytes of the archive, calling `on` for every member in order. Stops at
    /// the end-of-archive marker, or when `on` returns `false`; an invalid header is an error
    /// (nothing after it is read).
    pub fn push(
        &mut self,
        mut data: &[u8],
        on: &mut dyn FnMut(&Member) -> bool,
    ) -> Result<(), TarError> {
        while !data.is_empty() && !self.ended {
            if let Some((_, remaining, keep, bytes)) = &mut self.record {
                let take = (*remaining).min(data.len() as u64) as usize;
                let kept = (*keep).min(take as u64) as usize;
                bytes.extend_from_slice(&data[..kept]);
                *keep -= kept as u64;
                *remaining -= take as u64;
                self.offset += take as u64;
                data = &data[take..];
                if *remaining == 0 {
                    let (kind, _, _, bytes) = self.record.take().expect("a record is being read");
                    if let Some(name) = next_name(kind, &bytes) {
                        self.long_name = Some(name);
                    }
                }
                continue;
            }
            if self.skip > 0 {
                let take = self.skip.min(data.len() as u64) as usize;
                self.skip -= take as u64;
                self.offset += take as u64;
                data = &data[take..];
                continue;
            }
            let take = (BLOCK - self.block.len()).min(data.len());
            self.block.extend_from_slice(&data[..take]);
            self.offset += take as u64;
            data = &data[take..];
            if self.block.len() < BLOCK {
                continue;
            }
            let block = std::mem::take(&mut self.block);
            let at = self.offset - BLOCK as u64;
            if block.iter().all(|&c| c == 0) {
                self.ended = true;
                break;
            }
            let header = Header::decode(&block, at).inspect_err(|_| self.ended = true)?;
            let padded = header.padded_size();
            if header.names_next() {
                if padded > 0 {
                    let keep = header.size.min(Self::MAX_NAME);
                    self.record = Some((header.kind, padded, keep, Vec::new()));
                }
                continue;
            }
            if is_meta(header.kind) {
                self.skip = padded;
                continue;
            }
            // Only regular files carry data; other kinds' size fields are not data to skip.
            self.skip = if matches!(header.kind, b'0' | 0 | b'7') {
                padded
            } else {
                0
            };
            let mut header = header;
            if let Some(name) = self.long_name.take() {
                header.name = name;
            }
            let member = Member {
                header,
                header_offset: at,
            };
            if !on(&member) {
                self.ended = true;
            }
        }
        Ok(())
    }
}

/// Writes a ustar archive of regular files (for fixtures and tests); names longer than 100
/// bytes get a GNU long-name member.
pub fn write(members: &[(&str, &[u8])]) -> Vec<u8> {
    fn header(name: &[u8], size: usize, kind: u8) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        let n = name.len().min(100);
        h[..n].copy_from_slice(&name[..n]);
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&c| u32::from(c)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }
    let mut out = Vec::new();
    let add = |out: &mut Vec<u8>, name: &[u8], body: &[u8], kind: u8| {
        out.extend(header(name, body.len(), kind));
        out.extend(body);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    };
    for (name, body) in members {
        if name.len() > 100 {
            let mut n = name.as_bytes().to_vec();
            n.push(0);
            add(&mut out, b"././@LongLink", &n, b'L');
        }
        add(&mut out, name.as_bytes(), body, b'0');
    }
    out.extend([0u8; 2 * BLOCK]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_members_and_long_names() {
        let long = "d/".repeat(80) + "file";
        let t = write(&[("pickle", b"abc"), (&long, b""), ("x", &[7u8; 600])]);
        assert!(is_tar(&t));
        let a = parse(&t).unwrap();
        let names: Vec<&str> = a.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["pickle", long.as_str(), "x"]);
        assert_eq!(a.entries[0].data(&t), b"abc");
        assert_eq!(a.entries[2].data(&t), &[7u8; 600][..]);
        assert!(a.entries.iter().all(TarEntry::is_file));
    }

    #[test]
    fn pax_path_overrides_the_name() {
        let rec = b"17 path=pax/name\n";
        assert_eq!(pax_path(rec).as_deref(), Some("pax/name"));
        assert_eq!(pax_path(b"99 path=x\n"), None);
    }

    #[test]
    fn hostile_archives_are_errors_not_panics() {
        let t = write(&[("pickle", &[1u8; 700]), ("storages", b"xyz")]);
        for cut in 0..t.len() {
            let _ = parse(&t[..cut]);
        }
        for i in (0..t.len()).step_by(7) {
            let mut u = t.clone();
            u[i] ^= 0xa5;
            let _ = parse(&u);
        }
        let mut bad = t.clone();
        bad[0] = b'Q';
        assert!(parse(&bad).unwrap_err().0.contains("checksum"));
        assert!(parse(&t[..700]).unwrap_err().0.contains("past the end"));
        // Cut after a member (at its end, or inside its padding): listed, but flagged.
        assert!(!parse(&t).unwrap().missing_end_marker);
        for cut in [1212, 1300, 1536, 2048 + 3, 2560, 3072, 3583] {
            let a = parse(&t[..cut]).unwrap();
            assert!(a.missing_end_marker, "cut {cut}");
        }
        assert_eq!(parse(&t[..1536]).unwrap().entries.len(), 1);
    }

    #[test]
    fn stream_matches_parse_in_any_chunking() {
        let long = "d/".repeat(80) + "file";
        let t = write(&[("pickle", b"abc"), (&long, b""), ("x", &[7u8; 600])]);
        let listed: Vec<(String, u64)> = parse(&t)
            .unwrap()
            .entries
            .iter()
            .map(|e| (e.name.clone(), e.header_offset))
            .collect();
        for chunk in [1, 7, 512, 513, t.len()] {
            let mut stream = Stream::new();
            let mut seen = Vec::new();
            for part in t.chunks(chunk) {
                stream
                    .push(part, &mut |m| {
                        seen.push((m.header.name.clone(), m.header_offset));
                        true
                    })
                    .unwrap();
            }
            assert!(stream.ended());
            assert_eq!(seen, listed, "chunk {chunk}");
        }
        let mut bad = t.clone();
        bad[0] = b'Q';
        let err = Stream::new().push(&bad, &mut |_| true).unwrap_err();
        assert!(err.0.contains("checksum"), "{err}");
    }

    /// Found by the `tar` fuzz target: a last member whose padding is cut short gave an
    /// archive `end` past the input.
    #[test]
    fn cut_padding_ends_the_archive_at_the_data() {
        let full = write(&[("a.txt", b"hello")]);
        // The header and the member's 5 bytes, without the padding and the end marker.
        let t = &full[..BLOCK + 5];
        let a = parse(t).unwrap();
        assert_eq!(a.entries.len(), 1);
        assert_eq!(a.end, t.len() as u64);
        assert!(a.missing_end_marker);
    }
}
