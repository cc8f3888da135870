//! The Snowflake client: key-pair JWT, SQL API v2, statement builders, typed operations,
//! and the Snowflake OAuth token client.
//!
//! Layers, bottom up: [`account`] (identifier → URL and JWT account), [`keys`] and [`jwt`]
//! (key-pair authentication), [`sql`] (the only path from user text to SQL), [`sqlapi`]
//! (transport with retries, polling and an in-flight bound), [`ops`] (the typed operations
//! behind [`SnowflakeApi`], which controllers use and tests fake), and [`oauth`].
//!
//! Decisions worth knowing when calling this module:
//! * Identifiers are always double-quoted and therefore case-sensitive: pass user, role,
//!   warehouse and policy names as `SHOW` prints them (normally uppercase). Names from
//!   resources are resolved for this once, in [`crate::api::desired`]. PAT names are
//!   validated and uppercased, as Snowflake stores them.
//! * [`DesiredUser`] is the whole desired state: a `None` property is unset if set.
//!   Roles are revoked only when the caller says it granted them before, so grants made by
//!   hand are never touched.
//! * PATs are added without `IF NOT EXISTS`: an existing name is an `AlreadyExists` error,
//!   never a success without a secret (the controller rotates instead).
//! * Removing a PAT of a missing user or a missing PAT succeeds (cleanup must not wedge);
//!   [`SnowflakeApi::remove_pat_and_rotated`] also removes its `_ROTATED_` values.
//! * What could not be read is an error, never a silent `None`: an unreadable timestamp
//!   in `SHOW USER PATS`. ADD and ROTATE cost one statement each: their answers carry no
//!   documented expiry, and the caller derives it ([`RotatedPat::rotated_at`]) instead of
//!   reading it back.
//! * A statement is resent (same `requestId`, `retry=true`) only after throttling, 5xx,
//!   a request that never left ([`Error::NotSent`]), one without an answer
//!   ([`Error::OutcomeUnknown`]) or one refused JWT; OAuth token requests are resent only
//!   when they never left (see [`oauth`]).
//! * Nothing secret (tokens, keys, JWTs, client secrets, result cells) is ever formatted
//!   by `Debug`, `Display` or logs.

pub mod account;
mod answers;
pub mod clock;
pub mod error;
pub mod jwt;
pub mod keys;
pub mod oauth;
pub mod ops;
pub mod resultset;
pub mod retry;
pub mod sql;
pub mod sqlapi;
pub mod transport;
pub mod types;

pub use account::Account;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Category, Error, OAuthErrorKind, Result};
pub use jwt::{Authenticator, BearerKind, JwtSigner, StaticToken};
pub use keys::PrivateKey;
pub use oauth::{
    AuthorizeRequest, ClientCredentials, CodeExchange, OAuthApi, OAuthClient, OAuthConfig, Pkce,
    TokenResponse,
};
pub use ops::{SnowflakeApi, SnowflakeClient};
pub use resultset::{ResultSet, Row};
pub use retry::RetryPolicy;
pub use sqlapi::{SqlApiClient, SqlApiConfig};
pub use types::{
    AddPatRequest, DEFAULT_OIDC_AUDIENCE, DesiredUser, Identity, KeySlot, ListedIdentity,
    MANAGED_IDENTITY_PREFIX, NewPat, PatInfo, PatStatus, PublicKeys, RotatedPat, UserChanges,
    WorkloadIdentity, rotated_out_at,
};
