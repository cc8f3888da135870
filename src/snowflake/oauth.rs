//! Snowflake OAuth token client: refresh-token and authorization-code (PKCE S256) grants.
//!
//! Client authentication is HTTP Basic with the form-urlencoded client id and secret, the
//! only secret scheme Snowflake documents. Both documented error shapes are read
//! (`{"error","error_description"}` and `{"data":null,"message","code","success":false,
//! "error"}`) and mapped to [`Error::OAuth`] with an [`OAuthErrorKind`]; 429 and 5xx
//! become [`Error::Throttled`] / [`Error::Unavailable`], transport failures
//! [`Error::NotSent`] / [`Error::OutcomeUnknown`], so callers can tell a dead grant (stop,
//! ask a human) from a transient failure (retry later), and a request that never left from
//! one that may have been executed.
//!
//! **Resent only when it never left.** With single-use refresh tokens, a refresh whose
//! answer was lost may already have rotated the token on Snowflake's side; resending the
//! old token would then count as a replay and revoke the whole chain. So a token request
//! is resent (within [`OAuthConfig::retry`]) only after [`Error::NotSent`], when it
//! provably never reached Snowflake. A request sent without a complete answer is
//! [`Error::OutcomeUnknown`] and is never resent here; the caller decides (for example,
//! resend only when the integration does not use single-use tokens). Throttling and 5xx
//! are returned, not retried, for the same reason.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::form_urlencoded::{Serializer, byte_serialize};

use super::account::Account;
use super::error::{Error, OAuthErrorKind, Result};
use super::retry::{RetryPolicy, parse_retry_after};
use super::transport::{self, excerpt};

/// The path of the token endpoint.
pub const TOKEN_PATH: &str = "/oauth/token-request";
/// The path of the authorization endpoint.
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";

/// An OAuth client's id and secret, as `SYSTEM$SHOW_OAUTH_CLIENT_SECRETS` shows them.
#[derive(Clone)]
pub struct ClientCredentials {
    /// `OAUTH_CLIENT_ID`.
    pub client_id: String,
    /// `OAUTH_CLIENT_SECRET` (or `_2`).
    pub client_secret: SecretString,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// The `Authorization: Basic` value: base64 of `urlenc(id):urlenc(secret)`.
    fn basic(&self) -> SecretString {
        let id: String = byte_serialize(self.client_id.as_bytes()).collect();
        let secret: String =
            byte_serialize(self.client_secret.expose_secret().as_bytes()).collect();
        SecretString::from(format!(
            "Basic {}",
            STANDARD.encode(format!("{id}:{secret}"))
        ))
    }
}

/// A successful token answer. `Debug` redacts both tokens.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token (10 minutes by default).
    #[serde(deserialize_with = "secret")]
    pub access_token: SecretString,
    /// Always `Bearer`.
    #[serde(default = "bearer")]
    pub token_type: String,
    /// Seconds the access token lives.
    #[serde(default = "default_expires_in", deserialize_with = "lenient_u64")]
    pub expires_in: u64,
    /// A refresh token: on a code exchange with offline access, and on every refresh in
    /// single-use mode (then it must be persisted before anything else).
    #[serde(default, deserialize_with = "optional_secret")]
    pub refresh_token: Option<SecretString>,
    /// Seconds the refresh token lives, when Snowflake says.
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub refresh_token_expires_in: Option<u64>,
    /// The user (code exchange only).
    #[serde(default)]
    pub username: Option<String>,
    /// The granted scope, when Snowflake says.
    #[serde(default)]
    pub scope: Option<String>,
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::from)
}

fn optional_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .filter(|s| !s.is_empty())
        .map(SecretString::from))
}

fn bearer() -> String {
    "Bearer".to_owned()
}

fn default_expires_in() -> u64 {
    600
}

fn lenient_opt_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    Ok(lenient_opt_u64(d)?.unwrap_or_else(default_expires_in))
}

/// An authorization-code exchange.
#[derive(Debug, Clone)]
pub struct CodeExchange<'a> {
    /// The one-time code from the redirect.
    pub code: &'a SecretString,
    /// The redirect URI used on the authorize request.
    pub redirect_uri: &'a str,
    /// The PKCE verifier, if a challenge was sent.
    pub code_verifier: Option<&'a SecretString>,
    /// Ask for single-use refresh tokens.
    pub enable_single_use_refresh_tokens: bool,
}

/// Timeouts and limits of the token client.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Limit of one token request.
    pub request_timeout: Duration,
    /// Resends of a request that never reached Snowflake ([`Error::NotSent`] only).
    pub retry: RetryPolicy,
    /// Largest answer body accepted.
    pub max_response_bytes: usize,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy {
                max_attempts: 3,
                ..RetryPolicy::default()
            },
            max_response_bytes: 1 << 20,
        }
    }
}

/// The OAuth operations controllers use; fakeable in tests.
pub trait OAuthApi: Send + Sync {
    /// `grant_type=refresh_token`.
    fn refresh(
        &self,
        credentials: &ClientCredentials,
        refresh_token: &SecretString,
        scope: Option<&str>,
    ) -> impl Future<Output = Result<TokenResponse>> + Send;

    /// `grant_type=authorization_code`.
    fn exchange_code(
        &self,
        credentials: &ClientCredentials,
        exchange: &CodeExchange<'_>,
    ) -> impl Future<Output = Result<TokenResponse>> + Send;
}

/// The token client for one account.
#[derive(Debug)]
pub struct OAuthClient {
    http: reqwest::Client,
    token_url: String,
    config: OAuthConfig,
}

impl OAuthClient {
    /// A client for `account`'s token endpoint (its host override included).
    pub fn new(account: &Account, config: OAuthConfig) -> Result<Self> {
        Ok(Self {
            http: transport::http_client(config.connect_timeout)?,
            token_url: account.url(TOKEN_PATH),
            config,
        })
    }

    /// A client for `account`'s token endpoint over an existing HTTP client (a
    /// connection's: its pool and TLS roots are shared instead of built per request).
    pub fn with_http_client(http: reqwest::Client, account: &Account, config: OAuthConfig) -> Self {
        Self {
            http,
            token_url: account.url(TOKEN_PATH),
            config,
        }
    }

    async fn token_request(
        &self,
        credentials: &ClientCredentials,
        form: SecretString,
    ) -> Result<TokenResponse> {
        let mut auth = transport::header_value(credentials.basic().expose_secret())?;
        auth.set_sensitive(true);
        let policy = &self.config.retry;
        let mut attempt = 0u32;
        loop {
            let request = self
                .http
                .post(&self.token_url)
                .header(reqwest::header::AUTHORIZATION, auth.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(reqwest::header::ACCEPT, "application/json")
                .body(form.expose_secret().to_owned());
            let sent = transport::send(
                request,
                "token request",
                self.config.request_timeout,
                self.config.max_response_bytes,
            )
            .await;
            match sent {
                Ok(reply) => {
                    return parse_token_reply(reply.status.as_u16(), &reply.headers, &reply.body);
                }
                // Nothing reached Snowflake, so nothing can have been rotated.
                Err(err @ Error::NotSent(_)) if attempt + 1 < policy.max_attempts.max(1) => {
                    let delay = policy.delay(attempt, None, &mut rand::rng());
                    tracing::debug!(attempt, ?delay, error = %err, "resending a token request that never left");
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

impl OAuthApi for OAuthClient {
    async fn refresh(
        &self,
        credentials: &ClientCredentials,
        refresh_token: &SecretString,
        scope: Option<&str>,
    ) -> Result<TokenResponse> {
        self.token_request(credentials, refresh_form(refresh_token, scope))
            .await
    }

    async fn exchange_code(
        &self,
        credentials: &ClientCredentials,
        exchange: &CodeExchange<'_>,
    ) -> Result<TokenResponse> {
        self.token_request(credentials, exchange_form(exchange))
            .await
    }
}

/// The form of a refresh request.
fn refresh_form(refresh_token: &SecretString, scope: Option<&str>) -> SecretString {
    let mut form = Serializer::new(String::new());
    form.append_pair("grant_type", "refresh_token");
    form.append_pair("refresh_token", refresh_token.expose_secret());
    if let Some(scope) = scope {
        form.append_pair("scope", scope);
    }
    SecretString::from(form.finish())
}

/// The form of a code exchange.
fn exchange_form(exchange: &CodeExchange<'_>) -> SecretString {
    let mut form = Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code");
    form.append_pair("code", exchange.code.expose_secret());
    form.append_pair("redirect_uri", exchange.redirect_uri);
    if let Some(verifier) = exchange.code_verifier {
        form.append_pair("code_verifier", verifier.expose_secret());
    }
    if exchange.enable_single_use_refresh_tokens {
        form.append_pair("enable_single_use_refresh_tokens", "true");
    }
    SecretString::from(form.finish())
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<Value>,
}

impl ErrorBody {
    /// Snowflake's `code`, a string or a number on the wire.
    fn code(&self) -> String {
        match &self.code {
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    }

    /// The error kind: the `error` value, else what Snowflake's numeric code means.
    fn kind(&self) -> Option<OAuthErrorKind> {
        match self.error.as_deref().map(str::trim) {
            Some(error) if !error.is_empty() => Some(OAuthErrorKind::from_wire(error)),
            _ => OAuthErrorKind::from_snowflake_code(&self.code()),
        }
    }
}

/// Maps a token endpoint answer to tokens or a typed error.
pub fn parse_token_reply(
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<TokenResponse> {
    let error_body: Option<ErrorBody> = transport::json_object(body).ok();
    let oauth_error = error_body.as_ref().and_then(|b| {
        Some(Error::OAuth {
            kind: b.kind()?,
            status,
            code: b.code(),
            description: b
                .error_description
                .clone()
                .or_else(|| b.message.clone())
                .unwrap_or_default(),
        })
    });
    let message = || {
        error_body
            .as_ref()
            .and_then(|b| b.message.clone().or_else(|| b.error_description.clone()))
            .unwrap_or_else(|| excerpt(body))
    };
    match status {
        200 => {
            if let Some(err) = oauth_error {
                return Err(err);
            }
            transport::json_object(body)
                .map_err(|e| transport::json_error("the token response", &e))
        }
        429 => Err(Error::Throttled {
            code: String::new(),
            message: message(),
            retry_after: parse_retry_after(headers.get(http::header::RETRY_AFTER)),
        }),
        500..=599 => Err(Error::Unavailable {
            status,
            code: String::new(),
            message: message(),
            retry_after: parse_retry_after(headers.get(http::header::RETRY_AFTER)),
        }),
        _ => match oauth_error {
            Some(err) => Err(err),
            None if status == 401 => Err(Error::OAuth {
                kind: OAuthErrorKind::InvalidClient,
                status,
                code: String::new(),
                description: message(),
            }),
            None => Err(Error::Protocol(format!(
                "token endpoint answered HTTP {status}: {}",
                message()
            ))),
        },
    }
}

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// The verifier (43 characters of base64url), sent on the code exchange.
    pub verifier: SecretString,
    /// `BASE64URL_NOPAD(SHA256(verifier))`, sent on the authorize request.
    pub challenge: String,
}

impl Pkce {
    /// A fresh verifier from 32 random bytes.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        Self {
            challenge: s256_challenge(&verifier),
            verifier: SecretString::from(verifier),
        }
    }
}

/// The S256 challenge of a verifier.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A random `state` value (base64url of 16 random bytes).
pub fn generate_state() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What goes on the authorize URL.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest<'a> {
    /// `client_id`.
    pub client_id: &'a str,
    /// `redirect_uri`.
    pub redirect_uri: &'a str,
    /// `state`, checked on the redirect (at most 2048 ASCII characters).
    pub state: &'a str,
    /// The S256 `code_challenge`.
    pub code_challenge: &'a str,
    /// Role of the session (`session:role:<ROLE>`), or the user's default.
    pub role: Option<&'a str>,
    /// Ask for a refresh token (`refresh_token` scope).
    pub offline_access: bool,
}

/// The browser URL of the authorize endpoint.
pub fn authorize_url(account: &Account, request: &AuthorizeRequest<'_>) -> Result<String> {
    if request.state.len() > 2048 || !request.state.is_ascii() {
        return Err(Error::InvalidInput(
            "the OAuth state must be at most 2048 ASCII characters".into(),
        ));
    }
    let mut scopes = Vec::new();
    if request.offline_access {
        scopes.push("refresh_token".to_owned());
    }
    if let Some(role) = request.role {
        if role.is_empty() {
            return Err(Error::InvalidInput("the OAuth role scope is empty".into()));
        }
        if role
            .chars()
            .any(|c| c.is_whitespace() || !c.is_ascii_graphic())
        {
            // Names that need escaping travel in the encoded form Snowflake defines, with
            // a space as `%20`: form encoding's `+` would be read back as a literal plus
            // by a server that percent-decodes, naming another role (`MY+ROLE`).
            let encoded = byte_serialize(role.as_bytes())
                .collect::<String>()
                .replace('+', "%20");
            scopes.push(format!("session:role-encoded:{encoded}"));
        } else {
            scopes.push(format!("session:role:{role}"));
        }
    }
    let mut query = Serializer::new(String::new());
    query.append_pair("client_id", request.client_id);
    query.append_pair("response_type", "code");
    query.append_pair("redirect_uri", request.redirect_uri);
    query.append_pair("state", request.state);
    query.append_pair("code_challenge", request.code_challenge);
    query.append_pair("code_challenge_method", "S256");
    if !scopes.is_empty() {
        query.append_pair("scope", &scopes.join(" "));
    }
    Ok(format!(
        "{}?{}",
        account.url(AUTHORIZE_PATH),
        query.finish()
    ))
}

#[cfg(test)]
#[path = "oauth_tests.rs"]
mod tests;
