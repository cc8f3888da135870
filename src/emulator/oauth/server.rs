//! The authorization server's state and the operations that do not belong to one endpoint:
//! access-token validation, revocation and the admin snapshot.
//!
//! Every grant made from one authorization code forms a *chain* (the code, its refresh
//! tokens and the access tokens minted from them). Revocation and replay detection act on
//! whole chains, which is how Snowflake describes single-use refresh tokens (§6.4).

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::config::{ConfigError, ErrorRendering, IntegrationConfig, OAuthConfig};
use super::error::AccessTokenError;
use super::scope::Scope;
use super::secret::TokenHash;

/// Identifies one chain of grants.
pub(crate) type ChainId = u64;

/// A pending or redeemed authorization code.
#[derive(Debug, Clone)]
pub(crate) struct CodeRecord {
    pub integration: String,
    pub user: String,
    pub role: String,
    pub scope: Scope,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub expires_at: Timestamp,
    /// Set once exchanged; a second exchange revokes this chain (RFC 6749 §4.1.2).
    pub redeemed_by: Option<ChainId>,
}

/// One authorization's lineage.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub integration: String,
    pub user: String,
    pub role: String,
    pub scope: String,
    pub single_use: bool,
    pub revoked: bool,
}

/// A refresh token; `used` only ever becomes true in single-use mode.
#[derive(Debug, Clone)]
pub(crate) struct RefreshRecord {
    pub chain: ChainId,
    pub expires_at: Timestamp,
    pub used: bool,
}

/// An access token.
#[derive(Debug, Clone)]
pub(crate) struct AccessRecord {
    pub chain: ChainId,
    pub expires_at: Timestamp,
}

/// Who an accepted access token authenticates, and as which role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthSession {
    pub user: String,
    pub role: String,
    pub integration: String,
    pub expires_at: Timestamp,
}

/// The in-memory Snowflake OAuth authorization server. Not thread-safe by itself: the
/// emulator keeps it behind its state lock. Stores only SHA-256 hashes of credentials.
#[derive(Debug)]
pub struct OAuthServer {
    pub(crate) config: OAuthConfig,
    pub(crate) codes: HashMap<TokenHash, CodeRecord>,
    pub(crate) chains: HashMap<ChainId, Chain>,
    pub(crate) refresh_tokens: HashMap<TokenHash, RefreshRecord>,
    pub(crate) access_tokens: HashMap<TokenHash, AccessRecord>,
    next_chain: ChainId,
}

/// How long an expired access token is remembered (see [`OAuthServer::prune`]).
const EXPIRED_ACCESS_TOKEN_MEMORY_SECONDS: u32 = 86_400;

/// `now + seconds`, saturating at the end of representable time.
pub(crate) fn after(now: Timestamp, seconds: u32) -> Timestamp {
    now.checked_add(SignedDuration::from_secs(i64::from(seconds)))
        .unwrap_or(Timestamp::MAX)
}

impl OAuthServer {
    /// A server with the configured integrations and no grants.
    pub fn new(config: OAuthConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            codes: HashMap::new(),
            chains: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            next_chain: 1,
        })
    }

    /// How errors are rendered (the HTTP layer passes this to `response`).
    pub fn error_rendering(&self) -> &ErrorRendering {
        &self.config.errors
    }

    /// The integration called `name` (for `SYSTEM$SHOW_OAUTH_CLIENT_SECRETS`, `DESC`).
    pub fn integration(&self, name: &str) -> Option<&IntegrationConfig> {
        self.config.integrations.iter().find(|i| i.name == name)
    }

    pub(crate) fn integration_by_client_id(&self, client_id: &str) -> Option<&IntegrationConfig> {
        self.config
            .integrations
            .iter()
            .find(|i| i.client_id == client_id)
    }

    pub(crate) fn new_chain(&mut self, chain: Chain) -> ChainId {
        let id = self.next_chain;
        self.next_chain += 1;
        self.chains.insert(id, chain);
        id
    }

    /// Accepts an access token presented as a bearer (SQL API) or as the driver login's
    /// `TOKEN`. The caller still applies its own user checks (disabled user, network policy),
    /// exactly as for every other authentication method.
    pub fn validate_access_token(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<OAuthSession, AccessTokenError> {
        let record = self
            .access_tokens
            .get(&TokenHash::of(token))
            .ok_or(AccessTokenError::Invalid)?;
        let chain = self
            .chains
            .get(&record.chain)
            .ok_or(AccessTokenError::Invalid)?;
        let enabled = self
            .integration(&chain.integration)
            .is_some_and(|i| i.enabled);
        if chain.revoked || !enabled {
            return Err(AccessTokenError::Invalid);
        }
        if now >= record.expires_at {
            return Err(AccessTokenError::Expired);
        }
        Ok(OAuthSession {
            user: chain.user.clone(),
            role: chain.role.clone(),
            integration: chain.integration.clone(),
            expires_at: record.expires_at,
        })
    }

    /// [`Self::validate_access_token`] for a driver login that also names a user
    /// (`LOGIN_NAME`): a different user is refused with 390309. Login names are
    /// case-insensitive in Snowflake.
    pub fn validate_access_token_for_login(
        &self,
        token: &str,
        login_name: Option<&str>,
        now: Timestamp,
    ) -> Result<OAuthSession, AccessTokenError> {
        let session = self.validate_access_token(token, now)?;
        match login_name {
            Some(name) if !name.eq_ignore_ascii_case(&session.user) => {
                Err(AccessTokenError::UsernameMismatch)
            }
            _ => Ok(session),
        }
    }

    /// `ALTER USER u REMOVE DELEGATED AUTHORIZATIONS FROM SECURITY INTEGRATION i`: revokes
    /// every chain (and pending code) of `user`, for one integration or all when `None`.
    /// Returns how many chains were revoked.
    pub fn revoke_user_tokens(&mut self, user: &str, integration: Option<&str>) -> usize {
        let matches = |i: &str, u: &str| u == user && integration.is_none_or(|want| want == i);
        self.codes
            .retain(|_, c| c.redeemed_by.is_some() || !matches(&c.integration, &c.user));
        let mut revoked = 0;
        for chain in self.chains.values_mut() {
            if !chain.revoked && matches(&chain.integration, &chain.user) {
                chain.revoked = true;
                revoked += 1;
            }
        }
        revoked
    }

    /// Revokes a chain and forgets its access tokens (they die immediately).
    pub(crate) fn revoke_chain(&mut self, id: ChainId) {
        if let Some(chain) = self.chains.get_mut(&id) {
            chain.revoked = true;
        }
        self.access_tokens.retain(|_, a| a.chain != id);
    }

    /// Drops expired codes and tokens and the chains nothing refers to any more, so a
    /// long-running emulator does not grow without bound.
    pub(crate) fn prune(&mut self, now: Timestamp) {
        self.codes.retain(|_, c| now < c.expires_at);
        self.refresh_tokens.retain(|_, r| now < r.expires_at);
        // Expired access tokens are kept a day so their use is answered "expired" (390318)
        // rather than "invalid" (390303).
        self.access_tokens
            .retain(|_, a| now < after(a.expires_at, EXPIRED_ACCESS_TOKEN_MEMORY_SECONDS));
        let live: HashSet<ChainId> = self
            .refresh_tokens
            .values()
            .map(|r| r.chain)
            .chain(self.access_tokens.values().map(|a| a.chain))
            .chain(self.codes.values().filter_map(|c| c.redeemed_by))
            .collect();
        self.chains.retain(|id, _| live.contains(id));
    }

    /// The state for the admin endpoint: hashes, owners and expiries, never a credential.
    pub fn snapshot(&self, now: Timestamp) -> OAuthSnapshot {
        let chain_info = |id: ChainId| self.chains.get(&id);
        let mut snapshot = OAuthSnapshot {
            now,
            integrations: self
                .config
                .integrations
                .iter()
                .map(|i| IntegrationSnapshot {
                    name: i.name.clone(),
                    client_id: i.client_id.clone(),
                    enabled: i.enabled,
                })
                .collect(),
            ..OAuthSnapshot::default()
        };
        for (hash, c) in &self.codes {
            snapshot.authorization_codes.insert(
                hash.clone(),
                CodeSnapshot {
                    integration: c.integration.clone(),
                    user: c.user.clone(),
                    role: c.role.clone(),
                    expires_at: c.expires_at,
                    redeemed: c.redeemed_by.is_some(),
                },
            );
        }
        for (hash, r) in &self.refresh_tokens {
            if let Some(chain) = chain_info(r.chain) {
                snapshot.refresh_tokens.insert(
                    hash.clone(),
                    TokenSnapshot::new(r.chain, chain, r.expires_at, now, r.used),
                );
            }
        }
        for (hash, a) in &self.access_tokens {
            if let Some(chain) = chain_info(a.chain) {
                snapshot.access_tokens.insert(
                    hash.clone(),
                    TokenSnapshot::new(a.chain, chain, a.expires_at, now, false),
                );
            }
        }
        snapshot
    }
}

/// Admin view of the server (see [`OAuthServer::snapshot`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct OAuthSnapshot {
    pub now: Timestamp,
    pub integrations: Vec<IntegrationSnapshot>,
    pub authorization_codes: BTreeMap<TokenHash, CodeSnapshot>,
    pub refresh_tokens: BTreeMap<TokenHash, TokenSnapshot>,
    pub access_tokens: BTreeMap<TokenHash, TokenSnapshot>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntegrationSnapshot {
    pub name: String,
    pub client_id: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CodeSnapshot {
    pub integration: String,
    pub user: String,
    pub role: String,
    pub expires_at: Timestamp,
    pub redeemed: bool,
}

/// A refresh or access token as the admin endpoint shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TokenSnapshot {
    pub chain: u64,
    pub integration: String,
    pub user: String,
    pub role: String,
    pub expires_at: Timestamp,
    /// `active`, `used` (single-use token already exchanged), `revoked` or `expired`.
    pub status: &'static str,
}

impl TokenSnapshot {
    fn new(id: ChainId, chain: &Chain, expires_at: Timestamp, now: Timestamp, used: bool) -> Self {
        let status = if chain.revoked {
            "revoked"
        } else if now >= expires_at {
            "expired"
        } else if used {
            "used"
        } else {
            "active"
        };
        Self {
            chain: id,
            integration: chain.integration.clone(),
            user: chain.user.clone(),
            role: chain.role.clone(),
            expires_at,
            status,
        }
    }
}
