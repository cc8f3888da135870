//! `POST /oauth/token-request` (reference §6.3, §6.4): client authentication by HTTP Basic,
//! the `authorization_code` and `refresh_token` grants, and single-use refresh-token chains
//! with replay detection.

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::IntegrationConfig;
use super::directory::Directory;
use super::error::{InvalidClientReason, InvalidGrantReason, TokenError};
use super::secret::{
    CredentialKind, Secret, generate, is_valid_verifier, parse_basic_auth, pkce_s256,
};
use super::server::{AccessRecord, Chain, ChainId, OAuthServer, RefreshRecord, after};

/// The form fields of a token request. Unknown fields (e.g. the `scope` the Python
/// connector sends on refresh) are accepted and ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<Secret>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<Secret>,
    pub refresh_token: Option<Secret>,
    pub scope: Option<String>,
    pub enable_single_use_refresh_tokens: Option<String>,
}

/// A successful token answer (HTTP 200).
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub access_token: Secret,
    /// Seconds the access token is valid.
    pub expires_in: u32,
    /// Present on a code exchange with offline access, and on every single-use refresh.
    pub refresh_token: Option<Secret>,
    pub refresh_token_expires_in: Option<u32>,
    /// The user, on a code exchange only (as documented).
    pub username: Option<String>,
    /// The granted scope, e.g. `refresh_token session:role:ANALYST`.
    pub scope: String,
}

impl TokenResponse {
    /// The JSON body; the one place the credentials leave the server.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "access_token": self.access_token.expose(),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
            "idpInitiated": false,
        });
        if let Some(refresh) = &self.refresh_token {
            body["refresh_token"] = json!(refresh.expose());
        }
        if let Some(seconds) = self.refresh_token_expires_in {
            body["refresh_token_expires_in"] = json!(seconds);
        }
        if let Some(user) = &self.username {
            body["username"] = json!(user);
        }
        body
    }
}

impl OAuthServer {
    /// Handles a token request. `authorization` is the raw `Authorization` header.
    pub fn token(
        &mut self,
        directory: &dyn Directory,
        request: &TokenRequest,
        authorization: Option<&str>,
        now: Timestamp,
    ) -> Result<TokenResponse, TokenError> {
        self.prune(now);
        let integration = self.authenticate_client(authorization)?.clone();
        match request.grant_type.as_deref() {
            Some("authorization_code") => self.exchange_code(directory, &integration, request, now),
            Some("refresh_token") => self.refresh(directory, &integration, request, now),
            None | Some("") => Err(TokenError::InvalidRequest("grant_type")),
            Some(_) => Err(TokenError::UnsupportedGrantType),
        }
    }

    /// HTTP Basic with the client id and either client secret (see `parse_basic_auth` for
    /// the two readings accepted).
    fn authenticate_client(
        &self,
        authorization: Option<&str>,
    ) -> Result<&IntegrationConfig, TokenError> {
        let fail = |reason| TokenError::InvalidClient(reason);
        let header = authorization.ok_or(fail(InvalidClientReason::MissingCredentials))?;
        let candidates = parse_basic_auth(header);
        if candidates.is_empty() {
            return Err(fail(InvalidClientReason::MalformedCredentials));
        }
        let mut reason = InvalidClientReason::UnknownClient;
        for (client_id, secret) in &candidates {
            let Some(integration) = self.integration_by_client_id(client_id) else {
                continue;
            };
            // Compare hashes, not strings, so the time taken says nothing about the secret.
            let presented = secret.hash();
            let matches = std::iter::once(&integration.client_secret)
                .chain(integration.client_secret_2.as_ref())
                .any(|s| s.hash() == presented);
            if !matches {
                reason = InvalidClientReason::WrongSecret;
            } else if !integration.enabled {
                return Err(fail(InvalidClientReason::IntegrationDisabled));
            } else {
                return Ok(integration);
            }
        }
        Err(fail(reason))
    }

    fn exchange_code(
        &mut self,
        directory: &dyn Directory,
        integration: &IntegrationConfig,
        request: &TokenRequest,
        now: Timestamp,
    ) -> Result<TokenResponse, TokenError> {
        let code = request
            .code
            .as_ref()
            .ok_or(TokenError::InvalidRequest("code"))?;
        let redirect_uri = request
            .redirect_uri
            .as_deref()
            .ok_or(TokenError::InvalidRequest("redirect_uri"))?;
        let hash = code.hash();
        let invalid = |reason| TokenError::InvalidGrant(reason);
        let record = match self.codes.get(&hash) {
            Some(r) if r.integration == integration.name && now < r.expires_at => r.clone(),
            _ => return Err(invalid(InvalidGrantReason::InvalidCode)),
        };
        if let Some(chain) = record.redeemed_by {
            // A code used twice: whoever holds it is not to be trusted (RFC 6749 §4.1.2).
            self.revoke_chain(chain);
            return Err(invalid(InvalidGrantReason::InvalidCode));
        }
        // From here on any failure burns the code: it is single-use even when misused.
        let checked = check_code(
            &record.redirect_uri,
            record.code_challenge.as_deref(),
            redirect_uri,
            request,
        )
        .and_then(|()| self.check_user(directory, integration, &record.user, &record.role));
        let user = match checked {
            Ok(user) => user,
            Err(e) => {
                self.codes.remove(&hash);
                return Err(e);
            }
        };
        let single_use = integration.single_use_refresh_tokens_required
            || request
                .enable_single_use_refresh_tokens
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let chain = self.new_chain(Chain {
            integration: integration.name.clone(),
            user: user.clone(),
            role: record.role.clone(),
            scope: record.scope.render(&record.role),
            single_use,
            revoked: false,
        });
        if let Some(code) = self.codes.get_mut(&hash) {
            code.redeemed_by = Some(chain);
        }
        let with_refresh = record.scope.offline_access && integration.issue_refresh_tokens;
        let mut response = self.issue(chain, integration, with_refresh, now);
        response.username = Some(user);
        Ok(response)
    }

    fn refresh(
        &mut self,
        directory: &dyn Directory,
        integration: &IntegrationConfig,
        request: &TokenRequest,
        now: Timestamp,
    ) -> Result<TokenResponse, TokenError> {
        let token = request
            .refresh_token
            .as_ref()
            .ok_or(TokenError::InvalidRequest("refresh_token"))?;
        let invalid = TokenError::InvalidGrant(InvalidGrantReason::InvalidRefreshToken);
        let hash = token.hash();
        let record = self
            .refresh_tokens
            .get(&hash)
            .cloned()
            .ok_or(invalid.clone())?;
        let chain = self
            .chains
            .get(&record.chain)
            .cloned()
            .ok_or(invalid.clone())?;
        if chain.integration != integration.name || chain.revoked || now >= record.expires_at {
            return Err(invalid);
        }
        if record.used {
            self.revoke_chain(record.chain);
            return Err(TokenError::InvalidGrant(
                InvalidGrantReason::RefreshTokenReplayed,
            ));
        }
        self.check_user(directory, integration, &chain.user, &chain.role)?;
        if chain.single_use {
            if let Some(used) = self.refresh_tokens.get_mut(&hash) {
                used.used = true;
            }
            // The used token and everything minted before it die with this refresh.
            self.access_tokens.retain(|_, a| a.chain != record.chain);
        }
        Ok(self.issue(record.chain, integration, chain.single_use, now))
    }

    /// The user of a grant must still exist, be enabled, hold the role, and the role must
    /// not have become blocked. Returns the stored user name.
    fn check_user(
        &self,
        directory: &dyn Directory,
        integration: &IntegrationConfig,
        user: &str,
        role: &str,
    ) -> Result<String, TokenError> {
        let found =
            directory
                .lookup_user(user)
                .filter(|u| !u.disabled)
                .ok_or(TokenError::InvalidGrant(
                    InvalidGrantReason::UserUnavailable,
                ))?;
        let blocked =
            integration.effective_blocked_roles(self.config.add_privileged_roles_to_blocked_list);
        if !found.has_role(role) || blocked.contains(role) {
            return Err(TokenError::InvalidGrant(
                InvalidGrantReason::RoleUnavailable,
            ));
        }
        Ok(found.name)
    }

    /// Mints an access token (and optionally a refresh token) on `chain`.
    fn issue(
        &mut self,
        chain: ChainId,
        integration: &IntegrationConfig,
        with_refresh: bool,
        now: Timestamp,
    ) -> TokenResponse {
        let access = generate(CredentialKind::AccessToken);
        self.access_tokens.insert(
            access.hash(),
            AccessRecord {
                chain,
                expires_at: after(now, integration.access_token_validity_seconds),
            },
        );
        let refresh = with_refresh.then(|| {
            let token = generate(CredentialKind::RefreshToken);
            self.refresh_tokens.insert(
                token.hash(),
                RefreshRecord {
                    chain,
                    expires_at: after(now, integration.refresh_token_validity_seconds),
                    used: false,
                },
            );
            token
        });
        let scope = self
            .chains
            .get(&chain)
            .map(|c| c.scope.clone())
            .unwrap_or_default();
        TokenResponse {
            access_token: access,
            expires_in: integration.access_token_validity_seconds,
            refresh_token_expires_in: refresh
                .as_ref()
                .map(|_| integration.refresh_token_validity_seconds),
            refresh_token: refresh,
            username: None,
            scope,
        }
    }
}

/// The code's bindings: same redirect URI string, and the PKCE verifier when (and only
/// when) a challenge was given at authorize.
fn check_code(
    bound_redirect: &str,
    challenge: Option<&str>,
    redirect_uri: &str,
    request: &TokenRequest,
) -> Result<(), TokenError> {
    if bound_redirect != redirect_uri {
        return Err(TokenError::InvalidGrant(
            InvalidGrantReason::RedirectUriMismatch,
        ));
    }
    let verified = match (challenge, request.code_verifier.as_ref()) {
        (None, None) => true,
        (Some(challenge), Some(verifier)) => {
            is_valid_verifier(verifier.expose()) && pkce_s256(verifier.expose()) == challenge
        }
        _ => false,
    };
    if verified {
        Ok(())
    } else {
        Err(TokenError::InvalidGrant(
            InvalidGrantReason::CodeVerifierMismatch,
        ))
    }
}
