//! DSSE envelopes signed with ECDSA P-256, as `cosign verify-blob-attestation --key K
//! --insecure-ignore-tlog` checks them: the signature is over the pre-authentication encoding
//! `DSSEv1 <len(type)> <type> <len(payload)> <payload>`, DER-encoded, base64 in the envelope.

use std::path::Path;

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use serde_json::{Value, json};

use crate::provenance::PAYLOAD_TYPE;

/// The pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

fn signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read key {}: {e}", path.display()))?;
    if let Ok(k) = SigningKey::from_pkcs8_pem(&pem) {
        return Ok(k);
    }
    let secret = p256::SecretKey::from_sec1_pem(&pem).map_err(|_| {
        anyhow::anyhow!(
            "{}: not an unencrypted P-256 private key (PKCS#8 or SEC1 PEM)",
            path.display()
        )
    })?;
    Ok(SigningKey::from(secret))
}

/// Wraps `statement` in a signed envelope.
pub fn sign(statement: &[u8], key: &Path) -> anyhow::Result<Vec<u8>> {
    let key = signing_key(key)?;
    let sig: Signature = key.sign(&pae(PAYLOAD_TYPE, statement));
    let der: DerSignature = sig.to_der();
    let envelope = json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": base64_encode(statement),
        "signatures": [ { "keyid": "", "sig": base64_encode(der.as_bytes()) } ]
    });
    Ok(serde_json::to_vec_pretty(&envelope)?)
}

/// The decoded payload of an envelope.
pub fn payload(envelope: &Value) -> Result<Vec<u8>, String> {
    if envelope["payloadType"] != PAYLOAD_TYPE {
        return Err(format!("DSSE payloadType is not {PAYLOAD_TYPE}"));
    }
    let text = envelope["payload"]
        .as_str()
        .ok_or("DSSE envelope has no payload")?;
    base64_decode(text).ok_or_else(|| "DSSE payload is not base64".to_owned())
}

/// Checks that some signature of the envelope in `bytes` verifies with the public key (SPKI
/// PEM, as `cosign generate-key-pair` or `openssl ec -pubout` write it).
pub fn verify(bytes: &[u8], key: &Path) -> Result<(), String> {
    let pem =
        std::fs::read_to_string(key).map_err(|e| format!("cannot read {}: {e}", key.display()))?;
    let key = VerifyingKey::from_public_key_pem(&pem)
        .map_err(|e| format!("{}: not a P-256 public key: {e}", key.display()))?;
    let envelope: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let body = payload(&envelope)?;
    let message = pae(PAYLOAD_TYPE, &body);
    for s in envelope["signatures"].as_array().into_iter().flatten() {
        let Some(sig) = s["sig"].as_str().and_then(base64_decode) else {
            continue;
        };
        let parsed = Signature::from_der(&sig).or_else(|_| Signature::from_slice(&sig));
        if let Ok(sig) = parsed {
            if key.verify(&message, &sig).is_ok() {
                return Ok(());
            }
        }
    }
    Err("no signature verifies with this key".into())
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            assert_eq!(base64_decode(&base64_encode(data)).unwrap(), data);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
    }

    #[test]
    fn pae_matches_the_spec_example() {
        // From the DSSE specification's test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
