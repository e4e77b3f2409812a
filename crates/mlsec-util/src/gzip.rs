//! The gzip member header (RFC 1952): where the raw deflate data starts.

/// The length of the gzip header at the start of `data` (magic, method 8 = deflate, and the
/// optional extra, name, comment and header-CRC fields its flags announce), or `None` when it
/// is not a gzip header or is cut short.
pub fn header_len(data: &[u8]) -> Option<usize> {
    if data.len() < 10 || data[0] != 0x1f || data[1] != 0x8b || data[2] != 8 {
        return None;
    }
    let flags = data[3];
    let mut at = 10usize;
    if flags & 0x04 != 0 {
        let extra = usize::from(u16::from_le_bytes([*data.get(at)?, *data.get(at + 1)?]));
        at += 2 + extra;
    }
    for bit in [0x08, 0x10] {
        if flags & bit != 0 {
            at += data.get(at..)?.iter().position(|&c| c == 0)? + 1;
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    (at <= data.len()).then_some(at)
}

/// The raw deflate data of the gzip member `data` (header skipped).
pub fn body(data: &[u8]) -> Option<&[u8]> {
    data.get(header_len(data)?..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_fields_and_truncation() {
        let plain = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xaa];
        assert_eq!(header_len(&plain), Some(10));
        assert_eq!(body(&plain), Some(&[0xaa][..]));
        // FEXTRA (2 bytes), FNAME "a", FCOMMENT "", FHCRC.
        let full = [
            0x1f, 0x8b, 8, 0x1e, 0, 0, 0, 0, 0, 3, 2, 0, 9, 9, b'a', 0, 0, 7, 7,
        ];
        assert_eq!(header_len(&full), Some(full.len()));
        for cut in 0..full.len() {
            assert_eq!(header_len(&full[..cut]), None, "cut {cut}");
        }
        assert_eq!(header_len(&[0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3]), None);
        assert_eq!(header_len(b"PK\x03\x04.........."), None);
    }
}
