//! RSA private keys for key-pair authentication.
//!
//! Snowflake accepts RSA keys of at least 2048 bits. The operator reads them from
//! Kubernetes Secrets in whichever PEM form `openssl` produced: PKCS#8 (`BEGIN PRIVATE
//! KEY`), passphrase-encrypted PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`, PBES2) or PKCS#1
//! (`BEGIN RSA PRIVATE KEY`). The public-key fingerprint is computed exactly as Snowflake
//! shows it in `DESC USER` (`RSA_PUBLIC_KEY_FP`), so a mismatch can be reported before
//! Snowflake refuses the JWT.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::error::{Error, Result};

/// The smallest key Snowflake accepts.
pub const MIN_KEY_BITS: usize = 2048;

/// An RSA private key with its precomputed public key and fingerprint.
///
/// `Debug` shows the fingerprint and size only, never key material.
#[derive(Clone)]
pub struct PrivateKey {
    key: RsaPrivateKey,
    public_der: Vec<u8>,
    fingerprint: String,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("bits", &self.bits())
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Loads a PEM private key; `passphrase` is required for encrypted PKCS#8 and ignored
    /// otherwise.
    pub fn from_pem(pem: &str, passphrase: Option<&SecretString>) -> Result<Self> {
        let pem = pem.trim();
        let key = if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            let pass = passphrase.ok_or_else(|| {
                Error::PrivateKey("the key is encrypted but no passphrase was given".into())
            })?;
            RsaPrivateKey::from_pkcs8_encrypted_pem(pem, pass.expose_secret().as_bytes()).map_err(
                |_| {
                    Error::PrivateKey(
                        "cannot decrypt the PKCS#8 key: wrong passphrase or unsupported cipher"
                            .into(),
                    )
                },
            )?
        } else if pem.contains("-----BEGIN PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| {
                Error::PrivateKey(format!("not an RSA key in PKCS#8 PEM form ({e})"))
            })?
        } else if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
            if pem.contains("Proc-Type: 4,ENCRYPTED") {
                return Err(Error::PrivateKey(
                    "legacy OpenSSL-encrypted PKCS#1 keys are not supported; convert with \
                     `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
                        .into(),
                ));
            }
            RsaPrivateKey::from_pkcs1_pem(pem)
                .map_err(|e| Error::PrivateKey(format!("not a valid PKCS#1 RSA key ({e})")))?
        } else {
            return Err(Error::PrivateKey(
                "expected a PEM block BEGIN PRIVATE KEY, BEGIN ENCRYPTED PRIVATE KEY or \
                 BEGIN RSA PRIVATE KEY"
                    .into(),
            ));
        };
        Self::from_rsa(key)
    }

    fn from_rsa(key: RsaPrivateKey) -> Result<Self> {
        let bits = key.n().bits();
        if bits < MIN_KEY_BITS {
            return Err(Error::PrivateKey(format!(
                "the key has {bits} bits; Snowflake requires at least {MIN_KEY_BITS}"
            )));
        }
        let public_der = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| Error::PrivateKey(format!("cannot encode the public key ({e})")))?
            .as_bytes()
            .to_vec();
        let fingerprint = fingerprint_of_spki_der(&public_der);
        Ok(Self {
            key,
            public_der,
            fingerprint,
        })
    }

    /// The key size in bits.
    pub fn bits(&self) -> usize {
        self.key.n().bits()
    }

    /// `SHA256:<base64>` of the DER SubjectPublicKeyInfo, as `DESC USER` shows it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    /// Base64 of the DER public key without PEM armour: the value
    /// `ALTER USER ... SET RSA_PUBLIC_KEY = '...'` takes.
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(&self.public_der)
    }

    /// PKCS#1 DER of the private key, for the JWT signer. Zeroized when dropped.
    pub(crate) fn pkcs1_der(&self) -> Result<rsa::pkcs1::der::SecretDocument> {
        self.key
            .to_pkcs1_der()
            .map_err(|e| Error::PrivateKey(format!("cannot encode the private key ({e})")))
    }
}

/// `SHA256:` followed by the standard padded base64 of SHA-256 over `der`.
pub fn fingerprint_of_spki_der(der: &[u8]) -> String {
    format!("SHA256:{}", STANDARD.encode(Sha256::digest(der)))
}
