//! Zip archives that torch's miniz-based reader and Python's `zipfile` (numpy's `.npz`) read
//! differently, or that only a careful reader reads at all (issue 17, part 2). Each carries the
//! `os.system('echo MLSEC_MARKER')` pickle in one member (a torch `data.pkl` or an object
//! `.npy`) and, where two members compete, a harmless pickle of the same length in the other.
//! The manifest rows name the loader, whether it runs the payload, and which member it reads;
//! `scripts/bypass/verify.py` checks them with torch and numpy.

use std::path::Path;

use anyhow::Result;

use super::bypass::{object_npy, payload};

/// (fixture, loader, whether the loader runs the payload, what the loader reads)
pub const MANIFEST: &[(&str, &str, bool, &str)] = &[
    (
        "zip-concat.pt",
        "torch.load",
        true,
        "the first of two glued zips (offsets taken as absolute)",
    ),
    (
        "zip-concat.npz",
        "numpy.load",
        true,
        "the second of two glued zips (offsets shifted)",
    ),
    (
        "zip64-locator.pt",
        "torch.load",
        true,
        "the ZIP64 end record the locator points at",
    ),
    (
        "zip64-locator.npz",
        "numpy.load",
        true,
        "the ZIP64 end record right before the locator",
    ),
    (
        "zip-count-short.npz",
        "numpy.load",
        true,
        "arr_1.npy, past the entry count, within the directory size",
    ),
    (
        "zip-duplicate.pt",
        "torch.load",
        true,
        "the second archive/data.pkl",
    ),
    (
        "zip-duplicate.npz",
        "numpy.load",
        true,
        "the last arr_0.npy",
    ),
    (
        "zip-local-name.pt",
        "torch.load",
        true,
        "the central name; the local name is ignored",
    ),
    (
        "zip-local-name.npz",
        "numpy.load",
        false,
        "nothing: zipfile refuses a local name that differs",
    ),
    (
        "zip-method-mismatch.pt",
        "torch.load",
        true,
        "the central method (stored); the local one says deflate",
    ),
    (
        "zip-data-descriptor.pt",
        "torch.load",
        true,
        "the central sizes; the local header has zeros",
    ),
    (
        "zip64.pt",
        "torch.load",
        true,
        "a well-formed ZIP64 archive",
    ),
    (
        "zip-cp437-name.npz",
        "numpy.load",
        true,
        "the cp437 name, which decodes like the UTF-8 one and comes last",
    ),
    (
        "zip-nul-name.npz",
        "numpy.load",
        true,
        "`arr_0.npy\\0x`, cut at the NUL, which comes last",
    ),
    (
        "zip-bad-utf8-name.npz",
        "numpy.load",
        false,
        "nothing: zipfile refuses a name flagged UTF-8 that is not",
    ),
    (
        "zip-backslash.npz",
        "numpy.load",
        true,
        "the member named with a backslash",
    ),
    (
        "zip-prepended-pickle.pt",
        "torch.load",
        true,
        "the pickle in front: no local header at byte 0 is no zip to torch",
    ),
    (
        "zip-tail-signature.pt",
        "torch.load",
        true,
        "the real end record; zipfile refuses the cut-short signature after it",
    ),
    (
        "zip-comment-overrun.pt",
        "torch.load",
        true,
        "the archive, whose end-record comment runs past the file",
    ),
    (
        "zip-fake-eocd-comment.pt",
        "torch.load",
        false,
        "the fake end record in the real one's comment (the harmless directory)",
    ),
];

const EOCD: u32 = 0x0605_4b50;

/// A member as the zip says it is; `local_*` make the local header disagree.
#[derive(Default)]
struct Member<'a> {
    name: &'a [u8],
    data: &'a [u8],
    flags: u16,
    local_name: Option<&'a [u8]>,
    local_method: Option<u16>,
    descriptor: bool,
}

/// A zip written field by field, so that every field can lie.
#[derive(Default)]
struct Raw {
    out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

fn le16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

impl Raw {
    fn add(&mut self, m: Member<'_>) {
        let crc = crc32fast::hash(m.data);
        let body = m.data.to_vec();
        let method: u16 = 0;
        let flags = m.flags | if m.descriptor { 8 } else { 0 };
        let offset = self.out.len() as u32;
        let local_name = m.local_name.unwrap_or(m.name);
        let o = &mut self.out;
        le32(o, 0x0403_4b50);
        le16(o, 20);
        le16(o, flags);
        le16(o, m.local_method.unwrap_or(method));
        le32(o, 0);
        let (lc, lcs, lus) = if m.descriptor {
            (0, 0, 0)
        } else {
            (crc, body.len() as u32, m.data.len() as u32)
        };
        le32(o, lc);
        le32(o, lcs);
        le32(o, lus);
        le16(o, local_name.len() as u16);
        le16(o, 0);
        o.extend_from_slice(local_name);
        o.extend_from_slice(&body);
        if m.descriptor {
            le32(o, 0x0807_4b50);
            le32(o, crc);
            le32(o, body.len() as u32);
            le32(o, m.data.len() as u32);
        }
        let c = &mut self.central;
        le32(c, 0x0201_4b50);
        le16(c, 20);
        le16(c, 20);
        le16(c, flags);
        le16(c, method);
        le32(c, 0);
        le32(c, crc);
        le32(c, body.len() as u32);
        le32(c, m.data.len() as u32);
        le16(c, m.name.len() as u16);
        le16(c, 0);
        le16(c, 0);
        le16(c, 0);
        le16(c, 0);
        le32(c, 0);
        le32(c, offset);
        c.extend_from_slice(m.name);
        self.count += 1;
    }

    fn file(&mut self, name: &str, data: &[u8]) {
        self.add(Member {
            name: name.as_bytes(),
            data,
            ..Member::default()
        });
    }

    /// The central directory written so far, taken out (to build a second one).
    fn take_central(&mut self) -> (Vec<u8>, u16) {
        let count = std::mem::take(&mut self.count);
        (std::mem::take(&mut self.central), count)
    }

    /// Locals, central directory and an end record with the given count and comment.
    fn finish_with(mut self, count: u16, comment: &[u8]) -> Vec<u8> {
        let cd_offset = self.out.len() as u32;
        let cd_size = self.central.len() as u32;
        self.out.extend_from_slice(&self.central);
        self.out
            .extend(eocd(count, cd_size, cd_offset, comment.len() as u16));
        self.out.extend_from_slice(comment);
        self.out
    }

    fn finish(self) -> Vec<u8> {
        let count = self.count;
        self.finish_with(count, b"")
    }
}

fn eocd(count: u16, cd_size: u32, cd_offset: u32, comment_len: u16) -> Vec<u8> {
    let mut v = Vec::new();
    le32(&mut v, EOCD);
    le32(&mut v, 0);
    le16(&mut v, count);
    le16(&mut v, count);
    le32(&mut v, cd_size);
    le32(&mut v, cd_offset);
    le16(&mut v, comment_len);
    v
}

fn zip64_record(count: u64, cd_size: u64, cd_offset: u64) -> Vec<u8> {
    let mut v = Vec::new();
    le32(&mut v, 0x0606_4b50);
    le64(&mut v, 44);
    le16(&mut v, 45);
    le16(&mut v, 45);
    le32(&mut v, 0);
    le32(&mut v, 0);
    le64(&mut v, count);
    le64(&mut v, count);
    le64(&mut v, cd_size);
    le64(&mut v, cd_offset);
    v
}

fn zip64_locator(record: u64) -> Vec<u8> {
    let mut v = Vec::new();
    le32(&mut v, 0x0706_4b50);
    le32(&mut v, 0);
    le64(&mut v, record);
    le32(&mut v, 1);
    v
}

/// The end record of a ZIP64 archive: every field saturated, the ZIP64 record holds them.
fn eocd_saturated() -> Vec<u8> {
    let mut v = Vec::new();
    le32(&mut v, EOCD);
    le16(&mut v, 0xFFFF);
    le16(&mut v, 0xFFFF);
    le16(&mut v, 0xFFFF);
    le16(&mut v, 0xFFFF);
    le32(&mut v, 0xFFFF_FFFF);
    le32(&mut v, 0xFFFF_FFFF);
    le16(&mut v, 0);
    v
}

/// A harmless pickle (an empty dict) exactly `len` bytes long, to take the payload's place.
fn harmless(len: usize) -> Vec<u8> {
    let tail = b"\x80\x02}q\x00.";
    let pad = len - tail.len();
    let mut v: Vec<u8> = b"N0".repeat(pad / 2);
    if pad % 2 == 1 {
        v.push(b'N');
    }
    v.extend_from_slice(tail);
    v
}

/// The smallest torch archive: `archive/data.pkl` and `archive/version`.
fn torch(pickle: &[u8]) -> Raw {
    let mut z = Raw::default();
    z.file("archive/data.pkl", pickle);
    z.file("archive/version", b"3\n");
    z
}

fn npz(array: &[u8]) -> Raw {
    let mut z = Raw::default();
    z.file("arr_0.npy", array);
    z
}

/// Two directories over one set of local headers: `first` listed by the ZIP64 record the
/// locator points at (miniz), `second` by the record right before the locator (zipfile).
fn zip64_two_records(entries: &[(&str, &[u8], &[u8])]) -> Vec<u8> {
    let mut z = Raw::default();
    for (name, first, _) in entries {
        z.file(name, first);
    }
    let (cd_first, n) = z.take_central();
    for (name, _, second) in entries {
        z.file(name, second);
    }
    let (cd_second, _) = z.take_central();
    let mut out = z.out;
    let first_at = out.len() as u64;
    out.extend_from_slice(&cd_first);
    let first_record = out.len() as u64;
    out.extend(zip64_record(n.into(), cd_first.len() as u64, first_at));
    let second_at = out.len() as u64;
    out.extend_from_slice(&cd_second);
    out.extend(zip64_record(n.into(), cd_second.len() as u64, second_at));
    out.extend(zip64_locator(first_record));
    out.extend(eocd_saturated());
    out
}

pub fn generate(out: &Path) -> Result<()> {
    let write = |rel: &str, bytes: &[u8]| std::fs::write(out.join(rel), bytes);
    let p = payload();
    let h = harmless(p.len());
    let np = object_npy("'|O'", &p);
    let nh = object_npy("'|O'", &h);

    // Two whole zips glued together: miniz takes the second end record's offsets as file
    // offsets and lands in the first zip; zipfile shifts them by the first zip's length.
    let mut glued = torch(&p).finish();
    glued.extend(torch(&h).finish());
    write("zip-concat.pt", &glued)?;
    let mut glued = npz(&nh).finish();
    glued.extend(npz(&np).finish());
    write("zip-concat.npz", &glued)?;

    write(
        "zip64-locator.pt",
        &zip64_two_records(&[
            ("archive/data.pkl", &p, &h),
            ("archive/version", b"3\n", b"3\n"),
        ]),
    )?;
    write(
        "zip64-locator.npz",
        &zip64_two_records(&[("arr_0.npy", &nh, &np), ("arr_1.npy", &nh, &nh)]),
    )?;

    // The end record counts one entry; the directory holds two.
    let mut z = npz(&nh);
    z.file("arr_1.npy", &np);
    write("zip-count-short.npz", &z.finish_with(1, b""))?;

    let mut z = torch(&h);
    z.file("archive/data.pkl", &p);
    write("zip-duplicate.pt", &z.finish())?;
    let mut z = npz(&nh);
    z.file("arr_0.npy", &np);
    write("zip-duplicate.npz", &z.finish())?;

    let mut z = Raw::default();
    z.add(Member {
        name: b"archive/data.pkl",
        data: &p,
        local_name: Some(b"archive/data.txt"),
        ..Member::default()
    });
    z.file("archive/version", b"3\n");
    write("zip-local-name.pt", &z.finish())?;
    let mut z = Raw::default();
    z.add(Member {
        name: b"arr_0.npy",
        data: &np,
        local_name: Some(b"arr_1.npy"),
        ..Member::default()
    });
    write("zip-local-name.npz", &z.finish())?;

    let mut z = Raw::default();
    z.add(Member {
        name: b"archive/data.pkl",
        data: &p,
        local_method: Some(8),
        ..Member::default()
    });
    z.file("archive/version", b"3\n");
    write("zip-method-mismatch.pt", &z.finish())?;

    let mut z = Raw::default();
    z.add(Member {
        name: b"archive/data.pkl",
        data: &p,
        descriptor: true,
        ..Member::default()
    });
    z.file("archive/version", b"3\n");
    write("zip-data-descriptor.pt", &z.finish())?;

    let mut z = torch(&p);
    let (cd, n) = z.take_central();
    let mut zip64 = z.out;
    let cd_at = zip64.len() as u64;
    zip64.extend_from_slice(&cd);
    let record = zip64.len() as u64;
    zip64.extend(zip64_record(n.into(), cd.len() as u64, cd_at));
    zip64.extend(zip64_locator(record));
    zip64.extend(eocd_saturated());
    write("zip64.pt", &zip64)?;

    // `é.npy` flagged UTF-8, then `é.npy` in cp437 (0x82) without the flag: zipfile decodes
    // both to the same name, and the last one wins.
    let mut z = Raw::default();
    z.add(Member {
        name: "é.npy".as_bytes(),
        data: &nh,
        flags: 0x0800,
        ..Member::default()
    });
    z.add(Member {
        name: b"\x82.npy",
        data: &np,
        ..Member::default()
    });
    write("zip-cp437-name.npz", &z.finish())?;

    let mut z = npz(&nh);
    z.add(Member {
        name: b"arr_0.npy\0x",
        data: &np,
        ..Member::default()
    });
    write("zip-nul-name.npz", &z.finish())?;

    // torch.load refuses such a name too (its record list is decoded as UTF-8).
    let mut z = npz(&np);
    z.add(Member {
        name: b"arr_\xff.npy",
        data: &nh,
        flags: 0x0800,
        ..Member::default()
    });
    write("zip-bad-utf8-name.npz", &z.finish())?;

    let mut z = Raw::default();
    z.file("dir\\arr_0.npy", &np);
    write("zip-backslash.npz", &z.finish())?;

    let mut polyglot = p.clone();
    polyglot.extend(torch(&h).finish());
    write("zip-prepended-pickle.pt", &polyglot)?;

    // A comment whose last bytes hold an end-of-central-directory signature with too little
    // after it for a record: miniz skips it, zipfile stops there.
    write(
        "zip-tail-signature.pt",
        &torch(&p).finish_with(2, b"xxPK\x05\x06yyyy"),
    )?;

    let mut overrun = torch(&p).finish();
    let n = overrun.len();
    overrun[n - 2..].copy_from_slice(&500u16.to_le_bytes());
    write("zip-comment-overrun.pt", &overrun)?;

    // The real end record lists the payload; a fake one in its comment lists the harmless
    // pickle, and both readers take the last one.
    let mut z = Raw::default();
    z.file("archive/data.pkl", &p);
    z.file("archive/version", b"3\n");
    let (cd_real, n) = z.take_central();
    z.file("archive/data.pkl", &h);
    z.file("archive/version", b"3\n");
    let (cd_fake, _) = z.take_central();
    let mut fake = z.out;
    let real_at = fake.len() as u32;
    fake.extend_from_slice(&cd_real);
    let fake_at = fake.len() as u32;
    fake.extend_from_slice(&cd_fake);
    let comment_len = 4 + 22;
    fake.extend(eocd(n, cd_real.len() as u32, real_at, comment_len));
    fake.extend_from_slice(b"CCCC");
    fake.extend(eocd(n, cd_fake.len() as u32, fake_at, 0));
    write("zip-fake-eocd-comment.pt", &fake)?;
    Ok(())
}
