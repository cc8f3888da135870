//! RSA public keys as users register them (`RSA_PUBLIC_KEY='MIIB…'`): base64 DER
//! SubjectPublicKeyInfo, or a PEM block in the seed file. Fingerprints follow the
//! reference: `SHA256:` + standard padded base64 of SHA-256(DER SPKI).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

/// A registered key slot.
#[derive(Clone, Debug)]
pub struct PublicKeySlot {
    /// The key as `DESC USER` shows it: base64 DER without armour.
    pub der_base64: String,
    pub fingerprint: String,
    pub set_at: Timestamp,
    pub key: RsaPublicKey,
}

/// Why a key was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid RSA public key: {0}")]
pub struct KeyError(String);

impl PublicKeySlot {
    /// Parses base64 DER (whitespace ignored) or a PEM `PUBLIC KEY` block.
    pub fn parse(text: &str, set_at: Timestamp) -> Result<Self, KeyError> {
        let body: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("-----"))
            .flat_map(|line| line.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|e| KeyError(format!("not base64: {e}")))?;
        let key = RsaPublicKey::from_public_key_der(&der)
            .map_err(|e| KeyError(format!("not a DER SubjectPublicKeyInfo RSA key: {e}")))?;
        if key.size() * 8 < 2048 {
            return Err(KeyError("RSA keys must have at least 2048 bits".into()));
        }
        Ok(Self {
            der_base64: STANDARD.encode(&der),
            fingerprint: fingerprint_of_der(&der),
            set_at,
            key,
        })
    }
}

/// `SHA256:<base64 of SHA-256 of the DER SPKI>`.
pub fn fingerprint_of_der(der: &[u8]) -> String {
    format!("SHA256:{}", STANDARD.encode(Sha256::digest(der)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_without_panicking() {
        assert!(PublicKeySlot::parse("not a key", Timestamp::UNIX_EPOCH).is_err());
        assert!(PublicKeySlot::parse("MIIBIjAN", Timestamp::UNIX_EPOCH).is_err());
    }
}
