//! Snowflake OAuth authorization server model (reference §6): security integrations seeded
//! from the configuration, `/oauth/authorize` with a test-mode login, `/oauth/token-request`
//! with one-time codes, PKCE S256 and single-use refresh-token chains, and validation of the
//! access tokens it issued.
//!
//! Pure logic: no HTTP, no clock (every operation takes `now`), no dependency on the rest of
//! the emulator (users come through [`Directory`]). The HTTP layer deserializes the query or
//! form into [`AuthorizeRequest`] / [`TokenRequest`], calls the operation, and renders the
//! result with `to_json`, `location` or the error's `response`.
//!
//! Decisions where Snowflake is silent or UNCONFIRMED (reference §9 item 7):
//! - Token-endpoint errors are HTTP 400; `invalid_client` too by default (the only status
//!   the drivers' fixtures show), configurable to 401 (`errors.invalid_client_status`).
//!   The body merges both documented shapes unless `errors.body_shape` picks one.
//! - Authorize errors found before the client id, redirect URI and state are verified are a
//!   400 page with the numeric code; later ones redirect to the client with `error`,
//!   `error_description` and `state` (RFC 6749 §4.1.2.1), as the Python connector expects.
//! - HTTP Basic client credentials are read urldecoded (documented) and, failing that, as
//!   sent (what the official Python connector does).
//! - A code is burnt by any failed exchange; a second exchange of a redeemed code revokes
//!   everything issued from it (RFC 6749 §4.1.2). Codes live 10 minutes by default.
//! - An expired access token answers 390318 (the code the Python connector knows), an
//!   unknown or revoked one 390303.
//! - Without `refresh_token` in the scope no refresh token is issued; refresh requests may
//!   carry a `scope`, which is ignored (the Python connector sends one).

mod admin;
mod authorize;
mod config;
mod directory;
mod error;
mod scope;
mod secret;
mod server;
mod token;

#[cfg(test)]
mod tests;

pub use admin::{SecretSlot, UnknownIntegration};
pub use authorize::{AuthorizeFailure, AuthorizeRedirect, AuthorizeRequest};
pub use config::{
    ClientType, ConfigError, ErrorBodyShape, ErrorRendering, IntegrationConfig, OAuthConfig,
    PRIVILEGED_ROLES,
};
pub use directory::{Directory, DirectoryUser, InMemoryDirectory, PUBLIC_ROLE};
pub use error::{
    AccessTokenError, AuthorizeError, ErrorResponse, InvalidClientReason, InvalidGrantReason,
    TokenError,
};
pub use scope::Scope;
pub use secret::{Secret, TokenHash, looks_like_access_token, pkce_s256};
pub use server::{
    CodeSnapshot, IntegrationSnapshot, OAuthServer, OAuthSession, OAuthSnapshot, TokenSnapshot,
};
pub use token::{TokenRequest, TokenResponse};
