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

/// PBKDF2 iterations of a generated encrypted key. The passphrase is 256 random bits, so
/// stretching it adds nothing; this is what `openssl pkcs8 -topk8 -v2 aes-256-cbc` uses,
/// and it keeps every consumer's decryption at each login cheap.
const PBKDF2_ITERATIONS: u32 = 2048;

/// A newly generated private key, encoded for a Secret.
pub struct GeneratedKey {
    /// The key.
    pub key: PrivateKey,
    /// Its PKCS#8 PEM (`BEGIN PRIVATE KEY`, or `BEGIN ENCRYPTED PRIVATE KEY` with a
    /// passphrase).
    pub pem: SecretString,
    /// The passphrase of an encrypted PEM.
    pub passphrase: Option<SecretString>,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("key", &self.key)
            .field("encrypted", &self.passphrase.is_some())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Generates a new RSA key of `bits` bits (at least [`MIN_KEY_BITS`]) from the
    /// operating system's random source, encoded as PKCS#8 PEM, encrypted (PBES2:
    /// PBKDF2-SHA256, AES-256-CBC) with a generated passphrase when `encrypt` is set.
    /// CPU-bound (a second or more for 4096 bits): run it off the async runtime.
    pub fn generate(bits: usize, encrypt: bool) -> Result<GeneratedKey> {
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        use rsa::rand_core::{OsRng, RngCore};
        if bits < MIN_KEY_BITS {
            return Err(Error::PrivateKey(format!(
                "a {bits}-bit key is too small; Snowflake requires at least {MIN_KEY_BITS}"
            )));
        }
        let fail = |what: &str, e: &dyn fmt::Display| {
            Error::PrivateKey(format!("cannot {what} the new key ({e})"))
        };
        let rsa = RsaPrivateKey::new(&mut OsRng, bits).map_err(|e| fail("generate", &e))?;
        let der = rsa.to_pkcs8_der().map_err(|e| fail("encode", &e))?;
        let (pem, passphrase) = if encrypt {
            let mut secret = [0u8; 32];
            let mut salt = [0u8; 16];
            let mut iv = [0u8; 16];
            OsRng.fill_bytes(&mut secret);
            OsRng.fill_bytes(&mut salt);
            OsRng.fill_bytes(&mut iv);
            let passphrase = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
            let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(
                PBKDF2_ITERATIONS,
                &salt,
                &iv,
            )
            .map_err(|e| fail("encrypt", &e))?;
            let info =
                pkcs8::PrivateKeyInfo::try_from(der.as_bytes()).map_err(|e| fail("encode", &e))?;
            let encrypted = info
                .encrypt_with_params(params, passphrase.as_bytes())
                .map_err(|e| fail("encrypt", &e))?;
            let pem = encrypted
                .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
                .map_err(|e| fail("encode", &e))?;
            (pem.to_string(), Some(SecretString::from(passphrase)))
        } else {
            let pem = der
                .to_pem("PRIVATE KEY", LineEnding::LF)
                .map_err(|e| fail("encode", &e))?;
            (pem.to_string(), None)
        };
        Ok(GeneratedKey {
            key: Self::from_rsa(rsa)?,
            pem: SecretString::from(pem),
            passphrase,
        })
    }
}

/// `SHA256:` followed by the standard padded base64 of SHA-256 over `der`.
pub fn fingerprint_of_spki_der(der: &[u8]) -> String {
    format!("SHA256:{}", STANDARD.encode(Sha256::digest(der)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_reads_back_with_the_same_fingerprint() {
        let plain = PrivateKey::generate(2048, false).expect("generated");
        assert!(plain.passphrase.is_none());
        let pem = plain.pem.expose_secret();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        let read = PrivateKey::from_pem(pem, None).expect("reads back");
        assert_eq!(read.fingerprint(), plain.key.fingerprint());
        assert_eq!(read.bits(), 2048);
        assert!(!format!("{plain:?}").contains(&pem[40..80]));

        let encrypted = PrivateKey::generate(2048, true).expect("generated");
        let pem = encrypted.pem.expose_secret();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        let passphrase = encrypted.passphrase.as_ref().expect("a passphrase");
        assert!(passphrase.expose_secret().len() >= 43);
        let read = PrivateKey::from_pem(pem, Some(passphrase)).expect("decrypts");
        assert_eq!(read.fingerprint(), encrypted.key.fingerprint());
        assert_ne!(read.fingerprint(), plain.key.fingerprint());
        let wrong = SecretString::from("not-the-passphrase");
        assert!(PrivateKey::from_pem(pem, Some(&wrong)).is_err());
        assert!(!format!("{encrypted:?}").contains(passphrase.expose_secret()));
    }

    #[test]
    fn keys_of_4096_bits_are_generated_and_small_ones_refused() {
        let big = PrivateKey::generate(4096, false).expect("generated");
        assert_eq!(big.key.bits(), 4096);
        assert!(PrivateKey::generate(1024, false).is_err());
    }
}
