//! DSSE envelopes signed with ECDSA P-256, as `cosign verify-blob-attestation --key K
//! --insecure-ignore-tlog` checks them: the signature is over the pre-authentication encoding
//! `DSSEv1 <len(type)> <type> <len(payload)> <payload>`, DER-encoded, base64 in the envelope.

use std::path::Path;

use mlsec_util::base64;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use serde_json::{Value, json};

use crate::error::DsseError;
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
        "payload": base64::encode(statement),
        "signatures": [ { "keyid": "", "sig": base64::encode(der.as_bytes()) } ]
    });
    Ok(serde_json::to_vec_pretty(&envelope)?)
}

/// The decoded payload of an envelope.
pub fn payload(envelope: &Value) -> Result<Vec<u8>, DsseError> {
    if envelope["payloadType"] != PAYLOAD_TYPE {
        return Err(DsseError::PayloadType);
    }
    let text = envelope["payload"].as_str().ok_or(DsseError::NoPayload)?;
    base64::decode_lenient(text.as_bytes()).ok_or(DsseError::NotBase64)
}

/// Checks that some signature of the envelope in `bytes` verifies with the public key (SPKI
/// PEM, as `cosign generate-key-pair` or `openssl ec -pubout` write it).
pub fn verify(bytes: &[u8], key: &Path) -> Result<(), DsseError> {
    let pem = std::fs::read_to_string(key).map_err(|source| DsseError::ReadKey {
        path: key.display().to_string(),
        source,
    })?;
    let key = VerifyingKey::from_public_key_pem(&pem).map_err(|e| DsseError::NotAKey {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    let envelope: Value = serde_json::from_slice(bytes).map_err(DsseError::Json)?;
    let body = payload(&envelope)?;
    let message = pae(PAYLOAD_TYPE, &body);
    for s in envelope["signatures"].as_array().into_iter().flatten() {
        let Some(sig) = s["sig"]
            .as_str()
            .and_then(|s| base64::decode_lenient(s.as_bytes()))
        else {
            continue;
        };
        let parsed = Signature::from_der(&sig).or_else(|_| Signature::from_slice(&sig));
        if let Ok(sig) = parsed
            && key.verify(&message, &sig).is_ok()
        {
            return Ok(());
        }
    }
    Err(DsseError::NoSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // From the DSSE specification's test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
