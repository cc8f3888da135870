//! Shared helpers of the driver-protocol and OAuth tests: an emulator seeded with OAuth
//! integrations, the operator's own client pointed at it, the full authorize + code
//! exchange through the client, and the official Python connectors run as subprocesses
//! (`connector`).
#![allow(dead_code)]

pub mod connector;

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use snowflake_token_operator::emulator::{Emulator, EmulatorConfig, RunningEmulator, ServeOptions};
use snowflake_token_operator::snowflake::oauth::{
    self, AuthorizeRequest, CodeExchange, Pkce, TokenResponse,
};
use snowflake_token_operator::snowflake::{
    Account, ClientCredentials, OAuthApi, OAuthClient, OAuthConfig, PrivateKey, SnowflakeClient,
    SqlApiConfig, SystemClock,
};

use crate::emulator_support;

/// The account name the connector and the client use.
pub const ACCOUNT: &str = "MYORG-TEST";
/// Where the test integrations send the browser back (nothing listens: the tests read
/// the 302 `Location` instead of following it).
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/callback";
/// Integration with multi-use refresh tokens.
pub const BI_CLIENT: &str = "bi-app-client";
/// Integration that requires single-use refresh tokens.
pub const SINGLE_USE_CLIENT: &str = "single-use-client";
/// Integration whose test user never consents (for 390302).
pub const NO_CONSENT_CLIENT: &str = "no-consent-client";
/// Test-only client secret (contains `+ / =`, which Basic authentication must survive).
pub const CLIENT_SECRET: &str = "test+only/secret=";

/// The emulator test seed plus three OAuth integrations for BI_SVC and ALICE.
pub fn seed_yaml() -> String {
    format!(
        r#"{base}
oauth:
  integrations:
    - name: BI_APP
      client_id: {BI_CLIENT}
      client_secret: "{CLIENT_SECRET}"
      redirect_uri: {REDIRECT_URI}
      auto_login_user: BI_SVC
    - name: SINGLE_USE_APP
      client_id: {SINGLE_USE_CLIENT}
      client_secret: "{CLIENT_SECRET}"
      redirect_uri: {REDIRECT_URI}
      single_use_refresh_tokens_required: true
      auto_login_user: BI_SVC
    - name: NO_CONSENT_APP
      client_id: {NO_CONSENT_CLIENT}
      client_secret: "{CLIENT_SECRET}"
      redirect_uri: {REDIRECT_URI}
      auto_login_user: ALICE
      auto_consent: false
"#,
        base = emulator_support::seed_yaml()
    )
}

/// Starts an emulator with the OAuth seed on a free loopback port.
pub async fn start(test_endpoints: bool) -> RunningEmulator {
    let config = EmulatorConfig::from_yaml(&seed_yaml()).expect("seed parses");
    Emulator::start(
        config,
        ServeOptions {
            listen: "127.0.0.1:0".parse().expect("addr"),
            test_endpoints,
        },
    )
    .await
    .expect("emulator starts")
}

pub fn account(running: &RunningEmulator) -> Account {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Account::new(ACCOUNT, Some(&running.base_url())).expect("account")
}

/// The operator's client, as OPERATOR_ADMIN with fixture key 1.
pub fn admin_client(running: &RunningEmulator) -> SnowflakeClient {
    let key = PrivateKey::from_pem(&emulator_support::key(1).private_pem, None).expect("key");
    SnowflakeClient::with_key_pair(
        account(running),
        "OPERATOR_ADMIN",
        &key,
        SqlApiConfig::default(),
        Arc::new(SystemClock),
    )
    .expect("client")
}

pub fn oauth_client(running: &RunningEmulator) -> OAuthClient {
    OAuthClient::new(&account(running), OAuthConfig::default()).expect("oauth client")
}

pub fn credentials(client_id: &str) -> ClientCredentials {
    ClientCredentials {
        client_id: client_id.to_owned(),
        client_secret: SecretString::from(CLIENT_SECRET.to_owned()),
    }
}

/// A reqwest client that does not follow redirects, to read the authorize answer.
pub fn browser() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client")
}

/// `GET /oauth/authorize` built by the client; returns the status and the `Location`.
pub async fn authorize(
    running: &RunningEmulator,
    request: &AuthorizeRequest<'_>,
) -> (u16, Option<url::Url>, Value) {
    let url = oauth::authorize_url(&account(running), request).expect("authorize url");
    let response = browser().get(url).send().await.expect("authorize request");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(|l| url::Url::parse(l).expect("absolute Location"));
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, location, body)
}

/// A query parameter of a redirect.
pub fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The full authorization-code flow through the client: PKCE S256, `state` checked on
/// the redirect, code exchanged with HTTP Basic client authentication.
pub async fn authorize_and_exchange(
    running: &RunningEmulator,
    client_id: &str,
    role: Option<&str>,
    single_use: bool,
) -> TokenResponse {
    let pkce = Pkce::generate();
    let state = oauth::generate_state();
    let (status, location, _) = authorize(
        running,
        &AuthorizeRequest {
            client_id,
            redirect_uri: REDIRECT_URI,
            state: &state,
            code_challenge: &pkce.challenge,
            role,
            offline_access: true,
        },
    )
    .await;
    assert_eq!(status, 302, "authorize redirects to the client");
    let location = location.expect("Location header");
    assert!(location.as_str().starts_with(REDIRECT_URI));
    assert_eq!(param(&location, "state").as_deref(), Some(state.as_str()));
    let code = SecretString::from(param(&location, "code").expect("code on the redirect"));
    oauth_client(running)
        .exchange_code(
            &credentials(client_id),
            &CodeExchange {
                code: &code,
                redirect_uri: REDIRECT_URI,
                code_verifier: Some(&pkce.verifier),
                enable_single_use_refresh_tokens: single_use,
            },
        )
        .await
        .expect("code exchange")
}

/// `SELECT CURRENT_USER(), CURRENT_ROLE()` on the SQL API with `bearer` (type sniffed).
pub async fn whoami(
    running: &RunningEmulator,
    bearer: &SecretString,
) -> Result<(String, String), String> {
    let (status, _, body) = emulator_support::post_sql(
        &emulator_support::http(),
        running,
        bearer.expose_secret(),
        "SELECT CURRENT_USER(), CURRENT_ROLE()",
        "",
    )
    .await;
    if status != 200 {
        return Err(body["code"].as_str().unwrap_or_default().to_owned());
    }
    Ok((
        body["data"][0][0].as_str().unwrap_or_default().to_owned(),
        body["data"][0][1].as_str().unwrap_or_default().to_owned(),
    ))
}
