//! Key-pair JWTs for the SQL API.
//!
//! Claims follow Snowflake's key-pair rule: `iss` = `ACCOUNT.USER.SHA256:<fp>`,
//! `sub` = `ACCOUNT.USER` (both uppercase), `iat` and `exp` in seconds. Snowflake never
//! accepts a JWT more than an hour after `iat`, so tokens live 59 minutes (Snowflake's own
//! sample) and are renewed when less than the renewal margin is left, so a token never
//! expires in flight. Signing costs an RSA operation, hence the cache.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::account::Account;
use super::clock::Clock;
use super::error::{Error, Result};
use super::keys::PrivateKey;

/// Default lifetime of a JWT: below Snowflake's one-hour ceiling.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(59 * 60);
/// Default margin: a cached JWT with less than this left is replaced.
pub const DEFAULT_RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
/// Snowflake's ceiling on `exp - iat`.
pub const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// The claims Snowflake reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// `ACCOUNT.USER.SHA256:<fingerprint>`.
    pub iss: String,
    /// `ACCOUNT.USER`.
    pub sub: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

/// Something that supplies the bearer token for SQL API requests.
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// The current token; cheap when cached.
    fn bearer(&self) -> Result<SecretString>;
    /// The `X-Snowflake-Authorization-Token-Type` header value.
    fn token_type(&self) -> &'static str;
    /// Drops any cached token after Snowflake refused it, so the next call signs anew.
    fn invalidate(&self);
}

struct Cached {
    token: SecretString,
    issued_at: Timestamp,
    expires_at: Timestamp,
}

/// The signer's cache: the current token, and the `iat` of the last one Snowflake refused.
#[derive(Default)]
struct Cache {
    current: Option<Cached>,
    refused_iat: Option<Timestamp>,
}

/// How far back a JWT signed after a refusal dates its `iat`.
///
/// Re-signing after a 401 helps only if the new token differs in what Snowflake checks.
/// Signed again with `iat = now` within the same second, it would be the very same bytes
/// (RS256 is deterministic). The refusals a new token can cure are clock ones: Snowflake's
/// clock ahead of ours (our cached token looks older to it: a new `exp` helps), or behind
/// ours (our `iat` lies in its future: an earlier `iat` helps). So the token signed after a
/// refusal is dated this much earlier, which both changes its bytes and absorbs a skew of up
/// to a minute, while its `exp` stays well inside Snowflake's hour after `iat`.
pub const SKEW_ALLOWANCE: Duration = Duration::from_secs(60);

/// Signs and caches key-pair JWTs for one user.
pub struct JwtSigner {
    encoding_key: EncodingKey,
    fingerprint: String,
    iss: String,
    sub: String,
    lifetime: Duration,
    renew_before: Duration,
    clock: Arc<dyn Clock>,
    cache: Mutex<Cache>,
}

impl fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSigner")
            .field("sub", &self.sub)
            .field("fingerprint", &self.fingerprint)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// A signer for `user` of `account`, with the default lifetime and renewal margin.
    pub fn new(
        account: &Account,
        user: &str,
        key: &PrivateKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let user = user.trim();
        if user.is_empty() {
            return Err(Error::InvalidInput("the JWT user name is empty".into()));
        }
        let der = key.pkcs1_der()?;
        let sub = format!("{}.{}", account.jwt_account(), user.to_uppercase());
        Ok(Self {
            encoding_key: EncodingKey::from_rsa_der(der.as_bytes()),
            fingerprint: key.fingerprint().to_owned(),
            iss: format!("{sub}.{}", key.fingerprint()),
            sub,
            lifetime: DEFAULT_LIFETIME,
            renew_before: DEFAULT_RENEW_BEFORE,
            clock,
            cache: Mutex::new(Cache::default()),
        })
    }

    /// Overrides lifetime and renewal margin (tests, or to match an emulator's rules).
    /// The lifetime is capped at Snowflake's one hour; the margin at half the lifetime.
    pub fn with_lifetime(mut self, lifetime: Duration, renew_before: Duration) -> Self {
        self.lifetime = lifetime.min(MAX_LIFETIME);
        self.renew_before = renew_before.min(self.lifetime / 2);
        self
    }

    /// The `iss` claim.
    pub fn issuer(&self) -> &str {
        &self.iss
    }

    /// The `sub` claim.
    pub fn subject(&self) -> &str {
        &self.sub
    }

    /// Signs a new token issued at `now`.
    fn sign(&self, now: Timestamp) -> Result<Cached> {
        let lifetime = SignedDuration::try_from(self.lifetime)
            .map_err(|e| Error::Jwt(format!("bad lifetime: {e}")))?;
        let expires_at = now
            .checked_add(lifetime)
            .map_err(|e| Error::Jwt(format!("expiry out of range: {e}")))?;
        let claims = Claims {
            iss: self.iss.clone(),
            sub: self.sub.clone(),
            iat: now.as_second(),
            exp: expires_at.as_second(),
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.encoding_key)
                .map_err(|e| Error::Jwt(e.to_string()))?;
        Ok(Cached {
            token: SecretString::from(token),
            issued_at: now,
            expires_at,
        })
    }
}

impl Authenticator for JwtSigner {
    fn bearer(&self) -> Result<SecretString> {
        let now = self.clock.now();
        let margin = SignedDuration::try_from(self.renew_before).unwrap_or_default();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = cache.current.as_ref() {
            let fresh = cached
                .expires_at
                .checked_sub(margin)
                .is_ok_and(|renew_at| now < renew_at);
            if fresh {
                return Ok(cached.token.clone());
            }
        }
        let issued_at = match cache.refused_iat.take() {
            // See SKEW_ALLOWANCE; and never the refused token's second again.
            Some(refused) => {
                let skew = SignedDuration::try_from(SKEW_ALLOWANCE).unwrap_or_default();
                let backdated = now.checked_sub(skew).unwrap_or(now);
                let before_refused = refused
                    .checked_sub(SignedDuration::from_secs(1))
                    .unwrap_or(refused);
                backdated.min(before_refused)
            }
            None => now,
        };
        let signed = self.sign(issued_at)?;
        let token = signed.token.clone();
        cache.current = Some(signed);
        Ok(token)
    }

    fn token_type(&self) -> &'static str {
        "KEYPAIR_JWT"
    }

    fn invalidate(&self) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(refused) = cache.current.take() {
            cache.refused_iat = Some(refused.issued_at);
        }
    }
}

/// The kind of a pre-issued bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerKind {
    /// A programmatic access token.
    ProgrammaticAccessToken,
    /// A Snowflake OAuth access token.
    OAuth,
}

/// A fixed bearer token (a PAT or an OAuth access token) used as SQL API credentials.
///
/// Invalidation is a no-op: a refused PAT or OAuth token cannot be renewed here.
pub struct StaticToken {
    token: SecretString,
    kind: BearerKind,
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticToken")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl StaticToken {
    /// Wraps `token` of `kind`.
    pub fn new(token: SecretString, kind: BearerKind) -> Self {
        Self { token, kind }
    }
}

impl Authenticator for StaticToken {
    fn bearer(&self) -> Result<SecretString> {
        Ok(self.token.clone())
    }

    fn token_type(&self) -> &'static str {
        match self.kind {
            BearerKind::ProgrammaticAccessToken => "PROGRAMMATIC_ACCESS_TOKEN",
            BearerKind::OAuth => "OAUTH",
        }
    }

    fn invalidate(&self) {}
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn static_tokens_name_their_type_and_hide_their_value() {
        let pat = StaticToken::new(
            SecretString::from("pat-value-123".to_owned()),
            BearerKind::ProgrammaticAccessToken,
        );
        assert_eq!(pat.token_type(), "PROGRAMMATIC_ACCESS_TOKEN");
        assert_eq!(pat.bearer().unwrap().expose_secret(), "pat-value-123");
        assert!(!format!("{pat:?}").contains("pat-value"));
        let oauth = StaticToken::new(SecretString::from("x".to_owned()), BearerKind::OAuth);
        assert_eq!(oauth.token_type(), "OAUTH");
    }
}
