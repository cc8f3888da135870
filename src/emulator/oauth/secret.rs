//! Opaque credentials of the authorization server: how they are generated, hashed, kept out
//! of logs, and the small encoding helpers (PKCE, form-urldecoding) the protocol needs.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A secret string (client secret, authorization code, access or refresh token, PKCE
/// verifier). `Debug` prints `Secret(***)` so a secret can never leak through `{:?}`, tracing
/// fields or error chains; the value is only reachable through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the single place that must send it (an HTTP response body).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 hash under which the server stores this secret.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// Lowercase hex SHA-256 of a secret. The server stores only these, never a code or token,
/// so a state dump (admin endpoint) cannot be replayed against it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    /// Hashes a raw secret value.
    pub fn of(value: &str) -> Self {
        let digest = Sha256::digest(value.as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push_str(&format!("{byte:02x}"));
        }
        Self(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a generated credential is, encoded as a prefix so the emulator's bearer
/// authentication can tell an OAuth access token from a PAT or a JWT without a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CredentialKind {
    AuthorizationCode,
    AccessToken,
    RefreshToken,
    ClientSecret,
}

impl CredentialKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "emuoac_",
            Self::AccessToken => ACCESS_TOKEN_PREFIX,
            Self::RefreshToken => "emuort_",
            // No prefix: a client secret is never presented as a bearer token.
            Self::ClientSecret => "",
        }
    }
}

const ACCESS_TOKEN_PREFIX: &str = "emuoat_";

/// True when `token` has the shape of an access token issued by this server; lets the
/// emulator route an untyped `Authorization: Bearer` to OAuth validation.
pub fn looks_like_access_token(token: &str) -> bool {
    token.starts_with(ACCESS_TOKEN_PREFIX)
}

/// A fresh opaque credential: a type prefix and 256 random bits from the thread-local
/// CSPRNG, base64url without padding (URL- and header-safe, needs no escaping in forms).
pub(crate) fn generate(kind: CredentialKind) -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret(format!(
        "{}{}",
        kind.prefix(),
        URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The PKCE S256 transform: `BASE64URL_NOPAD(SHA256(ascii(verifier)))` (RFC 7636 §4.2).
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// True for a syntactically valid S256 challenge: 43 base64url characters (a 32-byte digest).
pub(crate) fn is_valid_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// True for a verifier allowed by RFC 7636 §4.1: 43..=128 unreserved characters.
pub(crate) fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte), as
/// RFC 6749 §2.3.1 requires for the client id and secret inside HTTP Basic credentials.
/// `None` for a malformed escape or bytes that are not UTF-8.
pub(crate) fn form_urldecode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // Two hex digits exactly: `u8::from_str_radix` alone would also take a
                // sign (`%+1`), which is a malformed escape, not byte 0x01.
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Percent-decodes `%XX` escapes only (`+` stays a plus), as `session:role-encoded:` needs.
pub(crate) fn percent_decode(input: &str) -> Option<String> {
    form_urldecode(&input.replace('+', "%2B"))
}

/// Decodes an `Authorization: Basic …` header into the candidate `(client_id,
/// client_secret)` readings: the urldecoded pair that RFC 6749 §2.3.1 and Snowflake's docs
/// prescribe first, then the pair as sent, because the official Python connector does not
/// urlencode (auth/_oauth_base.py `_create_token_request_headers`) and Snowflake secrets
/// contain `+`, `/` and `=`. Empty when the scheme is not Basic or the encoding is broken:
/// the token endpoint answers that with `invalid_client`, like a wrong secret.
pub(crate) fn parse_basic_auth(header: &str) -> Vec<(String, Secret)> {
    let Some((scheme, value)) = header.trim().split_once(' ') else {
        return Vec::new();
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Vec::new();
    }
    let Some(text) = STANDARD
        .decode(value.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
    else {
        return Vec::new();
    };
    let Some((id, secret)) = text.split_once(':') else {
        return Vec::new();
    };
    let mut candidates = Vec::with_capacity(2);
    if let (Some(id), Some(secret)) = (form_urldecode(id), form_urldecode(secret)) {
        candidates.push((id, Secret(secret)));
    }
    if !candidates
        .iter()
        .any(|(i, s)| i == id && s.expose() == secret)
    {
        candidates.push((id.to_owned(), Secret(secret.to_owned())));
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let secret = Secret::new("hunter2-very-secret");
        let shown = format!("{secret:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn generated_credentials_are_unique_prefixed_and_opaque() {
        let a = generate(CredentialKind::AccessToken);
        let b = generate(CredentialKind::AccessToken);
        assert_ne!(a, b);
        assert!(looks_like_access_token(a.expose()));
        assert!(!looks_like_access_token(
            generate(CredentialKind::RefreshToken).expose()
        ));
        assert_eq!(a.expose().len(), "emuoat_".len() + 43);
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn pkce_matches_an_independent_computation() {
        // Expected value computed with Python: urlsafe_b64encode(sha256(verifier)) minus "=".
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r7wW1gFWFOEjXk"),
            "bwWFMyPfdG9qreDhH2lmftFx_dFeLDalzcT1gb_j68g"
        );
        assert!(is_valid_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_valid_s256_challenge("short"));
        assert!(is_valid_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r7wW1gFWFOEjXk"
        ));
        assert!(!is_valid_verifier("too-short"));
    }

    #[test]
    fn basic_auth_reads_urlencoded_then_raw_parts() {
        // id "my client", secret "a+b/c=" urlencoded, then base64.
        let header = format!("Basic {}", STANDARD.encode("my+client:a%2Bb%2Fc%3D"));
        let candidates = parse_basic_auth(&header);
        assert_eq!(candidates[0].0, "my client");
        assert_eq!(candidates[0].1.expose(), "a+b/c=");
        assert_eq!(candidates[1].0, "my+client");
        assert_eq!(candidates[1].1.expose(), "a%2Bb%2Fc%3D");
        // Sent without urlencoding, as the Python connector does.
        let raw = parse_basic_auth(&format!("Basic {}", STANDARD.encode("id:a+b/c=")));
        assert!(raw.iter().any(|(i, s)| i == "id" && s.expose() == "a+b/c="));
        // Nothing to urldecode: one reading only.
        assert_eq!(
            parse_basic_auth(&format!("Basic {}", STANDARD.encode("id:abc"))).len(),
            1
        );
        assert!(parse_basic_auth("Bearer abc").is_empty());
        assert!(parse_basic_auth("Basic !!!").is_empty());
        assert!(parse_basic_auth(&format!("Basic {}", STANDARD.encode("nocolon"))).is_empty());
        let bad_escape = parse_basic_auth(&format!("Basic {}", STANDARD.encode("a:%zz")));
        assert_eq!(bad_escape.len(), 1, "only the raw reading remains");
    }

    #[test]
    fn form_urldecode_refuses_escapes_that_are_not_two_hex_digits() {
        assert_eq!(form_urldecode("a%2Bb+c").as_deref(), Some("a+b c"));
        assert_eq!(form_urldecode("%+1"), None);
        assert_eq!(form_urldecode("%-1"), None);
        assert_eq!(form_urldecode("% 1"), None);
        assert_eq!(form_urldecode("%4"), None);
    }

    #[test]
    fn percent_decode_keeps_plus() {
        assert_eq!(percent_decode("A%20B+C").as_deref(), Some("A B+C"));
    }
}
