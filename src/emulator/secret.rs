//! Secret values the emulator hands out exactly once (PAT secrets). Wrapped so that
//! `Debug` and tracing never show them; only the SQL API response body exposes them.

use sha2::{Digest, Sha256};

/// A PAT secret. `Debug` is redacted; read the value with [`TokenSecret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// Generates a fresh random secret (256 bits, URL-safe base64).
    pub fn generate() -> Self {
        use base64::Engine;
        let bytes: [u8; 32] = rand::random();
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Self(format!("sfemu_pat_{body}"))
    }

    /// Wraps a secret received from a client (e.g. a bearer token).
    pub fn from_presented(value: &str) -> Self {
        Self(value.to_owned())
    }

    /// The clear value, for the one response that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Lowercase hex SHA-256, the only form the emulator stores.
    pub fn sha256_hex(&self) -> String {
        sha256_hex(self.0.as_bytes())
    }
}

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = TokenSecret::generate();
        let shown = format!("{secret:?}");
        assert!(!shown.contains(secret.expose()));
        assert!(shown.contains("redacted"));
        assert_ne!(secret, TokenSecret::generate());
        assert_eq!(secret.sha256_hex().len(), 64);
    }
}
