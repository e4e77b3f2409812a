//! Base64 (RFC 4648) through `base64ct`.
//!
//! [`encode`] writes the standard alphabet with padding (DSSE envelopes, Sigstore bundles).
//! [`decode_lenient`] reads what Python's `base64.b64decode` and friends accept in practice,
//! which is what a hostile pickle or envelope may hold: either alphabet (`+/` or `-_`),
//! whitespace anywhere, missing padding and non-canonical trailing bits. It ends at the first
//! `=`. It exists so a scanner sees the bytes a permissive reader would see.

use base64ct::{Base64, Base64Unpadded, Encoding};

/// Standard alphabet, padded.
pub fn encode(data: &[u8]) -> String {
    Base64::encode_string(data)
}

/// Decodes leniently (see the module doc); `None` on a character outside both alphabets.
pub fn decode_lenient(text: &[u8]) -> Option<Vec<u8>> {
    let mut canonical = Vec::with_capacity(text.len());
    for &c in text {
        match c {
            b'=' => break,
            c if c.is_ascii_whitespace() => {}
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => canonical.push(c),
            b'-' => canonical.push(b'+'),
            b'_' => canonical.push(b'/'),
            _ => return None,
        }
    }
    // A lone sextet holds no whole byte: a permissive reader drops it.
    if canonical.len() % 4 == 1 {
        canonical.pop();
    }
    // Bits past the last whole byte are dropped, so clear them: base64ct wants them zero.
    let keep = match canonical.len() % 4 {
        2 => 0b11_0000,
        3 => 0b11_1100,
        _ => 0b11_1111,
    };
    if let Some(last) = canonical.last_mut() {
        let value = sextet(*last) & keep;
        *last = ALPHABET[usize::from(value)];
    }
    Base64Unpadded::decode_vec(std::str::from_utf8(&canonical).ok()?).ok()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn sextet(c: u8) -> u8 {
    match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_padding() {
        assert_eq!(encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode(b"fo"), "Zm8=");
        for data in [&b""[..], b"f", b"fo", b"foo", b"\xff\xfe\x00"] {
            assert_eq!(decode_lenient(encode(data).as_bytes()).unwrap(), data);
        }
    }

    #[test]
    fn lenient_like_python() {
        assert_eq!(decode_lenient(b"Zm9v\nYmFy").unwrap(), b"foobar");
        assert_eq!(decode_lenient(b"Zm8").unwrap(), b"fo");
        assert_eq!(decode_lenient(b"Zm9=").unwrap(), b"fo");
        assert_eq!(
            decode_lenient(b"-_-_").unwrap(),
            decode_lenient(b"+/+/").unwrap()
        );
        assert_eq!(decode_lenient(b"Zm8=Zm8=").unwrap(), b"fo");
        assert_eq!(decode_lenient(b"Zm9vY").unwrap(), b"foo");
        assert_eq!(decode_lenient(b"Zm9v!"), None);
    }
}
