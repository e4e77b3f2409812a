//! Optional HMAC-SHA256 authentication of datagrams.
//!
//! Wire format: `<tag> <json>`, where `<tag>` is the 64 lowercase hex digits of
//! HMAC-SHA256(key, json bytes) and one ASCII space separates it from the exact JSON bytes the
//! tag covers (no canonicalisation: the receiver checks the bytes it received). The key is the
//! key file's contents with trailing whitespace (a final newline) removed; it must be at least
//! 16 bytes. Without a key, a datagram is the JSON alone (a leading tag is accepted and ignored).

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of the hex tag.
pub const TAG_HEX_LEN: usize = 64;

/// A datagram authentication key.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Why a datagram failed authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no HMAC tag")]
    Missing,
    #[error("HMAC tag does not match")]
    Mismatch,
}

impl Key {
    pub fn new(bytes: &[u8]) -> anyhow::Result<Key> {
        let end = bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        anyhow::ensure!(end >= 16, "HMAC key must be at least 16 bytes (got {end})");
        Ok(Key(bytes[..end].to_vec()))
    }

    pub fn load(path: &Path) -> anyhow::Result<Key> {
        let bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read key file {}: {e}", path.display()))?;
        Key::new(&bytes).map_err(|e| anyhow::anyhow!("key file {}: {e:#}", path.display()))
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }

    /// The tag of `json` as 64 hex digits.
    pub fn tag_hex(&self, json: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(json);
        mlsec_util::hex::encode(&mac.finalize().into_bytes())
    }

    /// A datagram in the wire format.
    pub fn seal(&self, json: &[u8]) -> Vec<u8> {
        let mut out = self.tag_hex(json).into_bytes();
        out.push(b' ');
        out.extend_from_slice(json);
        out
    }

    /// Checks a datagram's tag in constant time and returns the JSON it covers.
    pub fn open<'a>(&self, datagram: &'a [u8]) -> Result<&'a [u8], AuthError> {
        let (tag, json) = split_tag(datagram).ok_or(AuthError::Missing)?;
        let mut raw = [0u8; 32];
        for (i, out) in raw.iter_mut().enumerate() {
            let hex =
                std::str::from_utf8(&tag[2 * i..2 * i + 2]).map_err(|_| AuthError::Missing)?;
            *out = u8::from_str_radix(hex, 16).map_err(|_| AuthError::Missing)?;
        }
        let mut mac = self.mac();
        mac.update(json);
        mac.verify_slice(&raw).map_err(|_| AuthError::Mismatch)?;
        Ok(json)
    }
}

/// Splits `<64 hex> <json>`; `None` if the datagram does not start with a tag.
pub fn split_tag(datagram: &[u8]) -> Option<(&[u8], &[u8])> {
    if datagram.len() > TAG_HEX_LEN
        && datagram[TAG_HEX_LEN] == b' '
        && datagram[..TAG_HEX_LEN].iter().all(u8::is_ascii_hexdigit)
    {
        Some((&datagram[..TAG_HEX_LEN], &datagram[TAG_HEX_LEN + 1..]))
    } else {
        None
    }
}

/// The JSON of a datagram without authentication (a tag, if any, is ignored).
pub fn strip_tag(datagram: &[u8]) -> &[u8] {
    split_tag(datagram).map_or(datagram, |(_, json)| json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_and_reject_tampering() {
        let key = Key::new(b"0123456789abcdef-secret\n").unwrap();
        let json = br#"{"v":1,"rank":0}"#;
        let sealed = key.seal(json);
        assert_eq!(key.open(&sealed).unwrap(), json);
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() = b']';
        assert_eq!(key.open(&tampered), Err(AuthError::Mismatch));
        assert_eq!(key.open(json), Err(AuthError::Missing));
        let other = Key::new(b"another key of 16+ bytes").unwrap();
        assert_eq!(other.open(&sealed), Err(AuthError::Mismatch));
        assert_eq!(strip_tag(&sealed), json);
        assert!(Key::new(b"short\n").is_err());
    }

    #[test]
    fn tag_matches_rfc4231_test_case_2() {
        let key = Key(b"Jefe".to_vec());
        assert_eq!(
            key.tag_hex(b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
