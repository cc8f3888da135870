//! Workload identity federation logins (`AUTHENTICATOR = WORKLOAD_IDENTITY`, `PROVIDER =
//! OIDC`, the ID token in `TOKEN`; docs/workload-identity-research.md): the token names
//! its user through the identity that trusts its `iss` and `sub`, and is accepted only if
//! it is signed by a key of the issuer's JWKS, carries an accepted audience and is within
//! its lifetime on the emulated clock.
//!
//! An issuer's keys come from the seed or [`Emulator::trust_issuer_keys`] (a private
//! issuer, such as a test cluster's API server, that nobody can fetch anonymously), else
//! from the issuer itself, as Snowflake gets them: `{issuer}/.well-known/openid-configuration`,
//! then its `jwks_uri`. Fetched keys are kept for [`FETCHED_KEYS_TTL`] and fetched again
//! when a token names a key id they lack (a rotated signing key).
//!
//! Every refusal but a disabled user's answers [`AuthError::WORKLOAD_IDENTITY_INVALID`]
//! (Snowflake's code for these refusals is UNCONFIRMED; one code for all of them tells an
//! attacker nothing about which check failed). Which check failed is logged, never the
//! token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::auth::{AuthError, Authenticated};
use super::config::WorkloadIdentityConfig;
use super::handle::Emulator;
use super::principal::AuthMethod;
use super::secret::TokenSecret;

/// How long keys fetched from an issuer are used before they are fetched again.
pub const FETCHED_KEYS_TTL: Duration = Duration::from_secs(300);
/// Clock skew tolerated on `exp` and `nbf`.
const SKEW_SECS: i64 = 60;
/// Time allowed for each request of a discovery fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The signature algorithms accepted: the asymmetric ones OIDC issuers use (Kubernetes
/// signs with RS256 or ES256). `HS*` would let anyone holding a shared secret sign.
const ACCEPTED_ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// The issuers' keys: configured ones (never expire) and fetched ones.
#[derive(Default)]
pub struct IssuerKeys {
    configured: HashMap<String, JwkSet>,
    fetched: Mutex<HashMap<String, (JwkSet, Instant)>>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("configured", &self.configured.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl IssuerKeys {
    pub fn from_config(config: &WorkloadIdentityConfig) -> Self {
        Self {
            configured: config
                .issuers
                .iter()
                .map(|i| (i.issuer.clone(), i.jwks.clone()))
                .collect(),
            fetched: Mutex::default(),
        }
    }

    /// Trusts `keys` for `issuer` from now on, replacing what was configured or fetched.
    pub fn configure(&mut self, issuer: &str, keys: JwkSet) {
        self.configured.insert(issuer.to_owned(), keys);
        self.lock_fetched().remove(issuer);
    }

    fn lock_fetched(&self) -> std::sync::MutexGuard<'_, HashMap<String, (JwkSet, Instant)>> {
        self.fetched
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn configured(&self, issuer: &str) -> Option<JwkSet> {
        self.configured.get(issuer).cloned()
    }

    fn cached(&self, issuer: &str) -> Option<JwkSet> {
        self.lock_fetched()
            .get(issuer)
            .filter(|(_, at)| at.elapsed() < FETCHED_KEYS_TTL)
            .map(|(keys, _)| keys.clone())
    }

    fn remember(&self, issuer: &str, keys: JwkSet) {
        self.lock_fetched()
            .insert(issuer.to_owned(), (keys, Instant::now()));
    }
}

/// RFC 7519 lets `aud` be one string or an array.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims read before the signature is checked, to find the trusting identity.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    nbf: Option<i64>,
}

/// Why a login was refused: for the log only, the client gets one answer for all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("provider {0:?} is not supported by the emulator (only OIDC)")]
    Provider(String),
    #[error("no TOKEN in the login request")]
    NoToken,
    #[error("the token is not a JWT with iss, sub, aud and exp")]
    Malformed,
    #[error("no workload identity trusts this issuer and subject")]
    Untrusted,
    #[error("the login names another user than the identity's")]
    OtherUser,
    #[error("several users trust this issuer and subject and the login names none")]
    Ambiguous,
    #[error("the token's audience is not accepted by the identity")]
    Audience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the issuer's keys could not be fetched: {0}")]
    Keys(String),
    #[error("no key of the issuer matches the token's key id")]
    UnknownKey,
    #[error("the signature does not verify with the issuer's keys")]
    Signature,
    #[error("the user is disabled")]
    UserDisabled,
}

impl From<&Refusal> for AuthError {
    fn from(refusal: &Refusal) -> Self {
        match refusal {
            Refusal::UserDisabled => AuthError::USER_DISABLED,
            _ => AuthError::WORKLOAD_IDENTITY_INVALID,
        }
    }
}

/// Authenticates an OIDC ID token presented with `AUTHENTICATOR = WORKLOAD_IDENTITY`.
pub async fn authenticate(
    emulator: &Emulator,
    provider: Option<&str>,
    token: Option<&TokenSecret>,
    login_name: Option<&str>,
) -> Result<Authenticated, Refusal> {
    let provider = provider.unwrap_or_default();
    if !provider.eq_ignore_ascii_case("OIDC") {
        return Err(Refusal::Provider(provider.to_owned()));
    }
    let token = token.ok_or(Refusal::NoToken)?.expose();
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
    let claims: Claims =
        jsonwebtoken::dangerous::insecure_decode_claims(token).map_err(|_| Refusal::Malformed)?;
    let (Some(issuer), Some(subject), Some(audience), Some(exp)) =
        (claims.iss, claims.sub, claims.aud, claims.exp)
    else {
        return Err(Refusal::Malformed);
    };
    let (user, identity, accepted) = emulator.with_state(|state| {
        let trusting = state.workload_identities_trusting(&issuer, &subject);
        if trusting.is_empty() {
            return Err(Refusal::Untrusted);
        }
        let named: Vec<_> = trusting
            .iter()
            .filter(|(u, _)| {
                login_name.is_none_or(|n| {
                    n.eq_ignore_ascii_case(&u.login_name) || n.eq_ignore_ascii_case(&u.name)
                })
            })
            .collect();
        match named.as_slice() {
            [] => Err(Refusal::OtherUser),
            [(user, identity)] => Ok((
                user.name.clone(),
                identity.name.clone(),
                identity.accepted_audiences(),
            )),
            _ => Err(Refusal::Ambiguous),
        }
    })?;
    let presented = match audience {
        Audience::One(one) => vec![one],
        Audience::Many(many) => many,
    };
    if !presented.iter().any(|a| accepted.contains(a)) {
        return Err(Refusal::Audience);
    }
    let now = emulator.clock().now().as_second();
    if now >= exp + SKEW_SECS {
        return Err(Refusal::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + SKEW_SECS) {
        return Err(Refusal::NotYetValid);
    }
    if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
        return Err(Refusal::Signature);
    }
    let key = signing_key(emulator, &issuer, header.kid.as_deref()).await?;
    let key = DecodingKey::from_jwk(&key).map_err(|_| Refusal::UnknownKey)?;
    // Audience, issuer and lifetime were checked above (the lifetime on the emulated
    // clock, which jsonwebtoken cannot use); here only the signature is left to check.
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .map_err(|_| Refusal::Signature)?;
    emulator.with_state(|state| {
        let user = state.users.get_mut(&user).ok_or(Refusal::Untrusted)?;
        if user.disabled {
            return Err(Refusal::UserDisabled);
        }
        let identity = user
            .workload_identities
            .iter_mut()
            .find(|w| w.name == identity && !w.disabled)
            .ok_or(Refusal::Untrusted)?;
        identity.last_used = Some(emulator.clock().now());
        Ok(Authenticated {
            user: user.name.clone(),
            method: AuthMethod::WorkloadIdentity {
                identity: identity.name.clone(),
            },
            forced_role: None,
        })
    })
}

/// The issuer's key that signed a token with key id `kid`: configured keys first, then
/// cached fetched keys, then a fresh fetch (also when the cached set lacks `kid`).
async fn signing_key(emulator: &Emulator, issuer: &str, kid: Option<&str>) -> Result<Jwk, Refusal> {
    if let Some(keys) = emulator.issuer_keys(|keys| keys.configured(issuer)) {
        return pick(&keys, kid).ok_or(Refusal::UnknownKey);
    }
    if let Some(keys) = emulator.issuer_keys(|keys| keys.cached(issuer))
        && let Some(key) = pick(&keys, kid)
    {
        return Ok(key);
    }
    let keys = fetch(issuer).await.map_err(Refusal::Keys)?;
    let key = pick(&keys, kid);
    emulator.issuer_keys(|cache| cache.remember(issuer, keys));
    key.ok_or(Refusal::UnknownKey)
}

/// The key named `kid`, or the only key when the token names none.
fn pick(keys: &JwkSet, kid: Option<&str>) -> Option<Jwk> {
    match kid {
        Some(kid) => keys.find(kid).cloned(),
        None if keys.keys.len() == 1 => keys.keys.first().cloned(),
        None => None,
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// OIDC discovery: the configuration document (whose `issuer` must be the issuer), then the
/// key set at its `jwks_uri`.
async fn fetch(issuer: &str) -> Result<JwkSet, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let get = |url: String| {
        let client = client.clone();
        async move {
            let response = client
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("GET {url}: {}", e.without_url()))?;
            if !response.status().is_success() {
                return Err(format!("GET {url}: HTTP {}", response.status()));
            }
            response
                .bytes()
                .await
                .map_err(|e| format!("GET {url}: {}", e.without_url()))
        }
    };
    let discovery: Discovery = serde_json::from_slice(&get(url.clone()).await?)
        .map_err(|e| format!("{url} is not an OIDC discovery document: {e}"))?;
    if discovery.issuer != issuer {
        return Err(format!(
            "{url} names issuer {:?}, not {issuer:?}",
            discovery.issuer
        ));
    }
    let jwks_uri = discovery.jwks_uri;
    serde_json::from_slice(&get(jwks_uri.clone()).await?)
        .map_err(|e| format!("{jwks_uri} is not a JSON Web Key Set: {e}"))
}
