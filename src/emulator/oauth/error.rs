//! Errors of the authorization server, each able to render itself as the HTTP answer
//! Snowflake gives (reference §6.5), so the HTTP layer is a one-liner per endpoint.
//!
//! Numeric codes: 390302 consent invalid, 390303 access token invalid, 390304 bad
//! response_type, 390305 bad state, 390306 unknown client, 390307 redirect_uri mismatch,
//! 390308 invalid scope, 390309 username mismatch, 390311 bad code_challenge parameters,
//! 390318 access token expired (the code the official Python connector expects).
//! Token-endpoint errors carry no numeric code (`"code": null`, as documented).

use http::StatusCode;
use serde_json::{Value, json};
use thiserror::Error;

use super::config::{ErrorBodyShape, ErrorRendering};

/// An HTTP answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorResponse {
    pub status: StatusCode,
    pub body: Value,
}

/// Builds a body in the configured shape.
fn render(shape: ErrorBodyShape, error: &str, description: &str, code: Option<&str>) -> Value {
    match shape {
        ErrorBodyShape::Oauth => json!({"error": error, "error_description": description}),
        ErrorBodyShape::Snowflake => json!({
            "data": null, "message": description, "code": code, "success": false, "error": error,
        }),
        ErrorBodyShape::Combined => json!({
            "error": error, "error_description": description,
            "data": null, "message": description, "code": code, "success": false,
        }),
    }
}

/// Why `/oauth/authorize` refused. Messages name client ids and roles, never secrets.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum AuthorizeError {
    #[error("The client_id parameter is missing.")]
    MissingClientId,
    #[error("Invalid client_id: no enabled OAuth integration has this client id.")]
    UnknownClient,
    #[error("The redirect_uri parameter is missing.")]
    MissingRedirectUri,
    #[error("The redirect_uri does not match the OAuth integration's redirect URI.")]
    RedirectUriMismatch,
    #[error("Invalid response_type: only \"code\" is supported.")]
    UnsupportedResponseType,
    #[error("Invalid state: at most 2048 printable ASCII characters are allowed.")]
    InvalidState,
    #[error("Invalid scope: {0}")]
    InvalidScope(String),
    #[error("Invalid scope: role {0} is not granted to the user.")]
    RoleNotGranted(String),
    #[error("Invalid scope: role {0} is blocked for this OAuth integration.")]
    RoleBlocked(String),
    #[error("Invalid code_challenge parameters: {0}")]
    InvalidCodeChallenge(&'static str),
    #[error("Consent is invalid: {0}")]
    ConsentInvalid(&'static str),
}

impl AuthorizeError {
    /// Snowflake's numeric error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ConsentInvalid(_) => "390302",
            Self::UnsupportedResponseType => "390304",
            Self::InvalidState => "390305",
            Self::MissingClientId | Self::UnknownClient => "390306",
            Self::MissingRedirectUri | Self::RedirectUriMismatch => "390307",
            Self::InvalidScope(_) | Self::RoleNotGranted(_) | Self::RoleBlocked(_) => "390308",
            Self::InvalidCodeChallenge(_) => "390311",
        }
    }

    /// The RFC 6749 §4.1.2.1 `error` value.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            Self::ConsentInvalid(_) => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnknownClient => "unauthorized_client",
            Self::InvalidScope(_) | Self::RoleNotGranted(_) | Self::RoleBlocked(_) => {
                "invalid_scope"
            }
            Self::MissingClientId
            | Self::MissingRedirectUri
            | Self::RedirectUriMismatch
            | Self::InvalidState
            | Self::InvalidCodeChallenge(_) => "invalid_request",
        }
    }

    /// The page shown when the error cannot be sent back to the client: HTTP 400 and a JSON
    /// body with the numeric code.
    pub fn response(&self, rendering: &ErrorRendering) -> ErrorResponse {
        ErrorResponse {
            status: StatusCode::BAD_REQUEST,
            body: render(
                rendering.body_shape,
                self.oauth_error(),
                &self.to_string(),
                Some(self.code()),
            ),
        }
    }
}

/// Why client authentication at the token endpoint failed (all answered `invalid_client`;
/// the reason is kept for logs and tests, never sent: it would help guessing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidClientReason {
    /// No `Authorization` header.
    MissingCredentials,
    /// Not `Basic`, bad base64, no colon, or bad urlencoding.
    MalformedCredentials,
    /// No integration has this client id.
    UnknownClient,
    /// Neither client secret matches.
    WrongSecret,
    /// The integration is disabled.
    IntegrationDisabled,
}

/// Why a grant was refused with `invalid_grant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidGrantReason {
    /// The code is unknown, expired, already used or was issued to another client.
    InvalidCode,
    /// The code exchange's redirect_uri differs from the authorize request's.
    RedirectUriMismatch,
    /// The PKCE verifier is missing, malformed, unexpected or does not match.
    CodeVerifierMismatch,
    /// The refresh token is unknown, expired, revoked or was issued to another client.
    InvalidRefreshToken,
    /// A used single-use refresh token was presented again: the whole chain is now revoked.
    RefreshTokenReplayed,
    /// The user no longer exists or is disabled.
    UserUnavailable,
    /// The session role is no longer granted to the user, or is now blocked.
    RoleUnavailable,
}

/// Why `/oauth/token-request` refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("This is an invalid client.")]
    InvalidClient(InvalidClientReason),
    #[error("{}", grant_description(*.0))]
    InvalidGrant(InvalidGrantReason),
    #[error("The grant_type is not supported: use authorization_code or refresh_token.")]
    UnsupportedGrantType,
    #[error("The request is missing a required parameter: {0}.")]
    InvalidRequest(&'static str),
}

fn grant_description(reason: InvalidGrantReason) -> &'static str {
    match reason {
        InvalidGrantReason::InvalidCode => "The authorization code is invalid or has expired.",
        InvalidGrantReason::RedirectUriMismatch => {
            "The redirect_uri does not match the one of the authorization request."
        }
        InvalidGrantReason::CodeVerifierMismatch => {
            "The code_verifier does not match the code_challenge."
        }
        InvalidGrantReason::InvalidRefreshToken => "The refresh token is invalid or has expired.",
        InvalidGrantReason::RefreshTokenReplayed => {
            "The refresh token was already used; all tokens of this authorization have been revoked."
        }
        InvalidGrantReason::UserUnavailable => "The user does not exist or is disabled.",
        InvalidGrantReason::RoleUnavailable => {
            "The role of this authorization is not granted or is blocked."
        }
    }
}

impl TokenError {
    /// The RFC 6749 §5.2 `error` value.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidRequest(_) => "invalid_request",
        }
    }

    /// The HTTP answer: 400, except `invalid_client` which uses the configured status.
    pub fn response(&self, rendering: &ErrorRendering) -> ErrorResponse {
        let status = match self {
            Self::InvalidClient(_) => StatusCode::from_u16(rendering.invalid_client_status)
                .unwrap_or(StatusCode::BAD_REQUEST),
            _ => StatusCode::BAD_REQUEST,
        };
        ErrorResponse {
            status,
            body: render(
                rendering.body_shape,
                self.oauth_error(),
                &self.to_string(),
                None,
            ),
        }
    }
}

/// Why an access token was refused when used (SQL API bearer or driver login).
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum AccessTokenError {
    /// Unknown or revoked token, or its integration is disabled.
    #[error("Invalid OAuth access token. ")]
    Invalid,
    /// The token was valid but its lifetime is over. The Python connector
    /// (network.py `OAUTH_ACCESS_TOKEN_EXPIRED_GS_CODE`) knows this as 390318.
    #[error("OAuth access token expired. ")]
    Expired,
    /// The driver login named a user other than the token's.
    #[error(
        "The user you were trying to authenticate as differs from the user tied to the access token."
    )]
    UsernameMismatch,
}

impl AccessTokenError {
    /// Snowflake's numeric error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid => "390303",
            Self::Expired => "390318",
            Self::UsernameMismatch => "390309",
        }
    }

    /// The SQL API answer: 401 `{"code", "message"}` (reference §3.2).
    pub fn sql_api_response(&self) -> ErrorResponse {
        ErrorResponse {
            status: StatusCode::UNAUTHORIZED,
            body: json!({"code": self.code(), "message": self.to_string()}),
        }
    }

    /// The driver login answer: HTTP 200 with `success: false` (reference §7a).
    pub fn login_response(&self) -> ErrorResponse {
        ErrorResponse {
            status: StatusCode::OK,
            body: json!({"data": null, "code": self.code(), "message": self.to_string(), "success": false}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_render_every_documented_shape() {
        let err = TokenError::InvalidGrant(InvalidGrantReason::InvalidCode);
        let mut rendering = ErrorRendering::default();
        let combined = err.response(&rendering);
        assert_eq!(combined.status, StatusCode::BAD_REQUEST);
        assert_eq!(combined.body["error"], "invalid_grant");
        assert_eq!(
            combined.body["error_description"],
            "The authorization code is invalid or has expired."
        );
        assert_eq!(combined.body["message"], combined.body["error_description"]);
        assert_eq!(combined.body["success"], false);
        assert!(combined.body["code"].is_null() && combined.body["data"].is_null());

        rendering.body_shape = ErrorBodyShape::Oauth;
        let oauth = err.response(&rendering);
        assert_eq!(oauth.body.as_object().map(|o| o.len()), Some(2));

        rendering.body_shape = ErrorBodyShape::Snowflake;
        let sf = TokenError::InvalidClient(InvalidClientReason::WrongSecret).response(&rendering);
        assert_eq!(
            sf.body,
            json!({"data":null,"message":"This is an invalid client.","code":null,"success":false,"error":"invalid_client"})
        );
    }

    #[test]
    fn invalid_client_status_is_configurable() {
        let mut rendering = ErrorRendering::default();
        let err = TokenError::InvalidClient(InvalidClientReason::UnknownClient);
        assert_eq!(err.response(&rendering).status, StatusCode::BAD_REQUEST);
        rendering.invalid_client_status = 401;
        assert_eq!(err.response(&rendering).status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            TokenError::UnsupportedGrantType.response(&rendering).status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn access_token_errors_carry_their_codes() {
        let sql = AccessTokenError::Invalid.sql_api_response();
        assert_eq!(sql.status, StatusCode::UNAUTHORIZED);
        assert_eq!(sql.body["code"], "390303");
        let login = AccessTokenError::UsernameMismatch.login_response();
        assert_eq!(login.status, StatusCode::OK);
        assert_eq!(login.body["code"], "390309");
        assert_eq!(login.body["success"], false);
    }
}
