//! Snowflake OAuth authorization server model (reference §6): security integrations seeded
//! from the configuration, `/oauth/authorize` with a test-mode login, `/oauth/token-request`
//! with one-time codes, PKCE S256 and single-use refresh-token chains, and validation of the
//! access tokens it issued.
//!
//! Pure logic: no HTTP, no clock (every operation takes `now`), no dependency on the rest of
//! the emulator (users come through [`Directory`]). The HTTP layer deserializes the query or
//! form into [`AuthorizeRequest`] / [`TokenRequest`], calls the operation, and renders the
//! result with `to_json`, `location` or the error's `response`.

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
