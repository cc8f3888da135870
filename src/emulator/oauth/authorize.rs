//! `GET /oauth/authorize` (reference §6.2), with the browser replaced by the integration's
//! test-mode `auto_login_user`.
//!
//! Error delivery follows RFC 6749 §4.1.2.1: until the client id and the redirect URI are
//! verified (and the state is safe to echo) the error is a 400 page for the user; after
//! that it is a redirect to the client with `error`, `error_description` and `state`.

use std::fmt;

use jiff::Timestamp;
use serde::Deserialize;
use url::Url;

use super::config::ErrorRendering;
use super::directory::Directory;
use super::error::{AuthorizeError, ErrorResponse};
use super::scope::Scope;
use super::secret::{CredentialKind, Secret, generate, is_valid_s256_challenge};
use super::server::{CodeRecord, OAuthServer, after};

/// The query parameters of `/oauth/authorize`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub response_type: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub scope: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// A successful authorization: the 302 `Location` (it carries the code, hence redacted).
pub struct AuthorizeRedirect {
    location: Secret,
}

impl AuthorizeRedirect {
    /// `redirect_uri?…&code=…&state=…[&scope=…]`.
    pub fn location(&self) -> &str {
        self.location.expose()
    }
}

impl fmt::Debug for AuthorizeRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthorizeRedirect(***)")
    }
}

/// A refused authorization and where (if anywhere) to send the user back.
#[derive(Debug, Clone)]
pub struct AuthorizeFailure {
    pub error: AuthorizeError,
    /// Boxed: a `Url` is large and this travels in `Err`.
    redirect: Option<Box<(Url, Option<String>)>>,
}

impl AuthorizeFailure {
    fn page(error: AuthorizeError) -> Self {
        Self {
            error,
            redirect: None,
        }
    }

    /// The 302 target when the error goes back to the client, else `None`.
    pub fn location(&self) -> Option<String> {
        let (url, state) = self.redirect.as_deref()?;
        let mut url = url.clone();
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("error", self.error.oauth_error());
            pairs.append_pair("error_description", &self.error.to_string());
            if let Some(state) = state {
                pairs.append_pair("state", state);
            }
        }
        Some(url.into())
    }

    /// The 400 page for errors that cannot go back to the client.
    pub fn response(&self, rendering: &ErrorRendering) -> ErrorResponse {
        self.error.response(rendering)
    }
}

/// `url` without its query string and fragment: Snowflake ignores the redirect URI's own
/// query when matching it against the integration.
fn without_query(url: &Url) -> String {
    let mut bare = url.clone();
    bare.set_query(None);
    bare.set_fragment(None);
    bare.into()
}

fn state_is_valid(state: &str) -> bool {
    state.len() <= 2048 && state.bytes().all(|b| (0x20..0x7f).contains(&b))
}

impl OAuthServer {
    /// Logs the integration's test user in, checks the request and issues a one-time code.
    pub fn authorize(
        &mut self,
        directory: &dyn Directory,
        request: &AuthorizeRequest,
        now: Timestamp,
    ) -> Result<AuthorizeRedirect, AuthorizeFailure> {
        self.prune(now);
        let client_id = request
            .client_id
            .as_deref()
            .ok_or_else(|| AuthorizeFailure::page(AuthorizeError::MissingClientId))?;
        let integration = self
            .integration_by_client_id(client_id)
            .filter(|i| i.enabled)
            .ok_or_else(|| AuthorizeFailure::page(AuthorizeError::UnknownClient))?
            .clone();
        let raw_redirect = request
            .redirect_uri
            .as_deref()
            .ok_or_else(|| AuthorizeFailure::page(AuthorizeError::MissingRedirectUri))?;
        let redirect = Url::parse(raw_redirect)
            .ok()
            .filter(|url| {
                let bare = without_query(url);
                integration
                    .redirect_uris()
                    .any(|allowed| Url::parse(allowed).is_ok_and(|a| without_query(&a) == bare))
            })
            .ok_or_else(|| AuthorizeFailure::page(AuthorizeError::RedirectUriMismatch))?;
        if request.state.as_deref().is_some_and(|s| !state_is_valid(s)) {
            return Err(AuthorizeFailure::page(AuthorizeError::InvalidState));
        }
        let back = |error| AuthorizeFailure {
            error,
            redirect: Some(Box::new((redirect.clone(), request.state.clone()))),
        };

        if request.response_type.as_deref() != Some("code") {
            return Err(back(AuthorizeError::UnsupportedResponseType));
        }
        let scope = Scope::parse(request.scope.as_deref()).map_err(back)?;
        let code_challenge = check_pkce(request, integration.enforce_pkce).map_err(back)?;

        let user = integration
            .auto_login_user
            .as_deref()
            .ok_or(AuthorizeError::ConsentInvalid(
                "no user can log in without a browser (auto_login_user is not configured).",
            ))
            .and_then(|name| {
                directory.lookup_user(name).filter(|u| !u.disabled).ok_or(
                    AuthorizeError::ConsentInvalid("the user does not exist or is disabled."),
                )
            })
            .map_err(back)?;
        let role = scope
            .role
            .clone()
            .unwrap_or_else(|| user.session_default_role().to_owned());
        if !user.has_role(&role) {
            return Err(back(AuthorizeError::RoleNotGranted(role)));
        }
        let blocked =
            integration.effective_blocked_roles(self.config.add_privileged_roles_to_blocked_list);
        if blocked.contains(&role) {
            return Err(back(AuthorizeError::RoleBlocked(role)));
        }
        if !integration.auto_consent && !integration.pre_authorized_roles.contains(&role) {
            return Err(back(AuthorizeError::ConsentInvalid(
                "the user did not consent to the requested role.",
            )));
        }

        let code = generate(CredentialKind::AuthorizationCode);
        let granted_scope = scope.render(&role);
        self.codes.insert(
            code.hash(),
            CodeRecord {
                integration: integration.name.clone(),
                user: user.name.clone(),
                role,
                scope,
                redirect_uri: raw_redirect.to_owned(),
                code_challenge,
                expires_at: after(now, self.config.authorization_code_validity_seconds),
                redeemed_by: None,
            },
        );
        let mut location = redirect;
        {
            let mut pairs = location.query_pairs_mut();
            pairs.append_pair("code", code.expose());
            if let Some(state) = &request.state {
                pairs.append_pair("state", state);
            }
            if request.scope.is_some() {
                pairs.append_pair("scope", &granted_scope);
            }
        }
        Ok(AuthorizeRedirect {
            location: Secret::new(String::from(location)),
        })
    }
}

/// Validates the PKCE parameters; returns the challenge to bind to the code.
fn check_pkce(request: &AuthorizeRequest, enforce: bool) -> Result<Option<String>, AuthorizeError> {
    match (
        request.code_challenge.as_deref(),
        request.code_challenge_method.as_deref(),
    ) {
        (None, None) if enforce => Err(AuthorizeError::InvalidCodeChallenge(
            "this integration requires PKCE (code_challenge with code_challenge_method=S256).",
        )),
        (None, None) => Ok(None),
        (Some(_), None) | (None, Some(_)) => Err(AuthorizeError::InvalidCodeChallenge(
            "code_challenge and code_challenge_method must be sent together.",
        )),
        (Some(_), Some(method)) if method != "S256" => Err(AuthorizeError::InvalidCodeChallenge(
            "only code_challenge_method=S256 is supported.",
        )),
        (Some(challenge), Some(_)) if !is_valid_s256_challenge(challenge) => Err(
            AuthorizeError::InvalidCodeChallenge("code_challenge must be 43 base64url characters."),
        ),
        (Some(challenge), Some(_)) => Ok(Some(challenge.to_owned())),
    }
}
