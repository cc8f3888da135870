//! Behaviour of the authorization server as a client sees it: every rule of reference §6
//! and every error code of §6.5.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jiff::{SignedDuration, Timestamp};
use url::Url;

use super::*;

const CLIENT_ID: &str = "bi client";
const SECRET: &str = "s3cr+t/=";
const SECRET_2: &str = "other-secret";
const REDIRECT: &str = "http://127.0.0.1:8765/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r7wW1gFWFOEjXk";

fn integration() -> IntegrationConfig {
    serde_saphyr::from_str(&format!(
        "name: BI_APP\nclient_id: '{CLIENT_ID}'\nclient_secret: '{SECRET}'\nclient_secret_2: '{SECRET_2}'\n\
         redirect_uri: '{REDIRECT}'\nalternate_redirect_uris: ['http://localhost:9000/alt']\nauto_login_user: BI_SVC\n\
         blocked_roles: [BLOCKED]\n"
    ))
    .expect("integration yaml")
}

fn server_with(edit: impl FnOnce(&mut IntegrationConfig)) -> OAuthServer {
    let mut i = integration();
    edit(&mut i);
    let mut second = integration();
    second.name = "OTHER_APP".into();
    second.client_id = "other-client".into();
    OAuthServer::new(OAuthConfig {
        integrations: vec![i, second],
        ..OAuthConfig::default()
    })
    .expect("valid config")
}

fn directory() -> InMemoryDirectory {
    InMemoryDirectory::new().with_user(
        "BI_SVC",
        Some("ANALYST"),
        &["ANALYST", "REPORTER", "ACCOUNTADMIN", "BLOCKED"],
    )
}

fn t0() -> Timestamp {
    Timestamp::from_second(1_800_000_000).expect("valid timestamp")
}

fn at(seconds: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(seconds)
}

/// urlencode each part, then base64, as RFC 6749 §2.3.1 prescribes.
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

fn auth_request(scope: Option<&str>) -> AuthorizeRequest {
    AuthorizeRequest {
        client_id: Some(CLIENT_ID.into()),
        response_type: Some("code".into()),
        redirect_uri: Some(REDIRECT.into()),
        state: Some("xyz-state".into()),
        scope: scope.map(str::to_owned),
        code_challenge: Some(pkce_s256(VERIFIER)),
        code_challenge_method: Some("S256".into()),
    }
}

fn query(location: &str, key: &str) -> Option<String> {
    let url = Url::parse(location).expect("location is a URL");
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn authorize_code(
    server: &mut OAuthServer,
    dir: &InMemoryDirectory,
    request: &AuthorizeRequest,
) -> String {
    let redirect = server.authorize(dir, request, t0()).expect("authorized");
    query(redirect.location(), "code").expect("code in redirect")
}

fn exchange(code: &str) -> TokenRequest {
    TokenRequest {
        grant_type: Some("authorization_code".into()),
        code: Some(Secret::new(code)),
        redirect_uri: Some(REDIRECT.into()),
        code_verifier: Some(Secret::new(VERIFIER)),
        ..TokenRequest::default()
    }
}

fn refresh(token: &Secret) -> TokenRequest {
    TokenRequest {
        grant_type: Some("refresh_token".into()),
        refresh_token: Some(token.clone()),
        scope: Some("session:role:ANALYST".into()),
        ..TokenRequest::default()
    }
}

/// Authorizes with offline access and exchanges the code.
fn login(server: &mut OAuthServer, dir: &InMemoryDirectory, single_use: bool) -> TokenResponse {
    let code = authorize_code(
        server,
        dir,
        &auth_request(Some("refresh_token session:role:ANALYST")),
    );
    let mut request = exchange(&code);
    if single_use {
        request.enable_single_use_refresh_tokens = Some("true".into());
    }
    server
        .token(dir, &request, Some(&basic(CLIENT_ID, SECRET)), t0())
        .expect("code exchange")
}

/// Authorizes with `scope` and exchanges the code with the integration's first secret.
fn login_with_scope(
    server: &mut OAuthServer,
    dir: &InMemoryDirectory,
    scope: &str,
) -> TokenResponse {
    let code = authorize_code(server, dir, &auth_request(Some(scope)));
    server
        .token(dir, &exchange(&code), Some(&basic(CLIENT_ID, SECRET)), t0())
        .expect("code exchange")
}

fn grant_error(result: Result<TokenResponse, TokenError>) -> InvalidGrantReason {
    match result {
        Err(TokenError::InvalidGrant(reason)) => reason,
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

fn authorize_error(server: &mut OAuthServer, request: &AuthorizeRequest) -> AuthorizeFailure {
    server
        .authorize(&directory(), request, t0())
        .expect_err("refused")
}

mod admin;
mod authorize;
mod codes;
mod refresh;
mod token;
