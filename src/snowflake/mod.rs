//! The Snowflake client: key-pair JWT, SQL API v2, statement builders, typed operations,
//! and the Snowflake OAuth token client.
//!
//! Layers, bottom up: [`account`] (identifier → URL and JWT account), [`keys`] and [`jwt`]
//! (key-pair authentication), [`sql`] (the only path from user text to SQL), [`sqlapi`]
//! (transport with retries, polling and an in-flight bound), [`ops`] (the typed operations
//! behind [`SnowflakeApi`], which controllers use and tests fake), and [`oauth`].

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
    DesiredUser, Identity, NewPat, PatInfo, PatSpec, PatStatus, RotatedPat, UserChanges,
};
