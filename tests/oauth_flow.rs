//! Snowflake OAuth end to end between the operator's client and the emulator's
//! authorization server: code exchange with PKCE, refresh, access tokens as SQL API
//! bearers, single-use refresh-token chains, and every error of reference §6.5 produced
//! over HTTP by the emulator and mapped by the client to its typed kind.

mod driver_support;
mod emulator_support;

use std::sync::Arc;
use std::time::Duration;

use driver_support::{
    BI_CLIENT, CLIENT_SECRET, NO_CONSENT_CLIENT, REDIRECT_URI, SINGLE_USE_CLIENT, authorize,
    authorize_and_exchange, credentials, oauth_client, param, whoami,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use snowflake_token_operator::emulator::{FaultKind, FaultSpec};
use snowflake_token_operator::snowflake::oauth::{AuthorizeRequest, Pkce, parse_token_reply};
use snowflake_token_operator::snowflake::{
    BearerKind, ClientCredentials, Error, OAuthApi, OAuthClient, OAuthConfig, OAuthErrorKind,
    SqlApiClient, SqlApiConfig, StaticToken,
};

fn oauth_kind(error: &Error) -> Option<OAuthErrorKind> {
    match error {
        Error::OAuth { kind, .. } => Some(kind.clone()),
        _ => None,
    }
}

/// The client's SQL API transport with an OAuth access token
/// (`X-Snowflake-Authorization-Token-Type: OAUTH`).
fn oauth_sql_client(
    running: &snowflake_token_operator::emulator::RunningEmulator,
    token: &SecretString,
) -> SqlApiClient {
    SqlApiClient::new(
        driver_support::account(running),
        Arc::new(StaticToken::new(token.clone(), BearerKind::OAuth)),
        SqlApiConfig::default(),
    )
    .expect("SQL API client")
}

#[tokio::test]
async fn code_exchange_refresh_and_bearer_use_through_the_client() {
    let running = driver_support::start(true).await;
    let tokens = authorize_and_exchange(&running, BI_CLIENT, Some("ANALYST"), false).await;
    assert_eq!(tokens.username.as_deref(), Some("BI_SVC"));
    assert_eq!(tokens.expires_in, 600, "access tokens live 10 minutes");
    let refresh = tokens.refresh_token.clone().expect("a refresh token");

    // Typed (client header) and sniffed (no header) bearer use on the SQL API.
    let rows = oauth_sql_client(&running, &tokens.access_token)
        .execute("SELECT CURRENT_USER(), CURRENT_ROLE()")
        .await
        .expect("OAuth bearer accepted");
    let row = rows.first_row("whoami").expect("one row");
    assert_eq!((row.at(0), row.at(1)), (Some("BI_SVC"), Some("ANALYST")));
    assert_eq!(
        whoami(&running, &tokens.access_token).await,
        Ok(("BI_SVC".into(), "ANALYST".into()))
    );

    // Multi-use refresh tokens: refreshing twice with the same token works.
    let client = oauth_client(&running);
    for _ in 0..2 {
        let refreshed = client
            .refresh(&credentials(BI_CLIENT), &refresh, None)
            .await
            .expect("refresh");
        assert_eq!(
            whoami(&running, &refreshed.access_token).await,
            Ok(("BI_SVC".into(), "ANALYST".into()))
        );
    }

    // The access token expires after 10 minutes: 390318 on the SQL API.
    running.advance_clock(jiff::SignedDuration::from_mins(11));
    assert_eq!(
        whoami(&running, &tokens.access_token).await,
        Err("390318".into())
    );

    // The admin state shows OAuth grants by hash, never the tokens themselves.
    let state = emulator_support::http()
        .get(format!("{}/_emulator/state", running.base_url()))
        .send()
        .await
        .expect("state")
        .text()
        .await
        .expect("state body");
    let body: Value = serde_json::from_str(&state).expect("JSON state");
    assert!(
        !body["oauth"]["access_tokens"]
            .as_object()
            .expect("map")
            .is_empty()
    );
    assert!(
        !body["oauth"]["refresh_tokens"]
            .as_object()
            .expect("map")
            .is_empty()
    );
    assert!(!state.contains(tokens.access_token.expose_secret()));
    assert!(!state.contains(refresh.expose_secret()));
    assert!(!state.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn replaying_a_used_single_use_refresh_token_kills_the_chain() {
    let running = driver_support::start(false).await;
    let first = authorize_and_exchange(&running, SINGLE_USE_CLIENT, Some("LOADER"), true).await;
    let used = first.refresh_token.clone().expect("refresh token");
    let client = oauth_client(&running);
    let creds = credentials(SINGLE_USE_CLIENT);

    let second = client.refresh(&creds, &used, None).await.expect("refresh");
    let newest = second
        .refresh_token
        .clone()
        .expect("single-use refresh answers carry the next refresh token");
    assert_eq!(
        whoami(&running, &second.access_token).await,
        Ok(("BI_SVC".into(), "LOADER".into()))
    );

    let replay = client
        .refresh(&creds, &used, None)
        .await
        .expect_err("a used refresh token is refused");
    assert_eq!(oauth_kind(&replay), Some(OAuthErrorKind::InvalidGrant));
    assert!(!replay.is_transient());

    let after = client
        .refresh(&creds, &newest, None)
        .await
        .expect_err("the newest refresh token died with the chain");
    assert_eq!(oauth_kind(&after), Some(OAuthErrorKind::InvalidGrant));
    for token in [&first.access_token, &second.access_token] {
        assert_eq!(whoami(&running, token).await, Err("390303".into()));
        let refused = oauth_sql_client(&running, token)
            .execute("SELECT CURRENT_USER()")
            .await
            .expect_err("revoked access token");
        assert_eq!(refused.snowflake_code(), Some("390303"));
    }
}

/// A raw token request (for grants the client never sends).
async fn raw_token_request(
    running: &snowflake_token_operator::emulator::RunningEmulator,
    form: &[(&str, &str)],
) -> Error {
    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{BI_CLIENT}:{CLIENT_SECRET}"));
    let response = driver_support::browser()
        .post(format!("{}/oauth/token-request", running.base_url()))
        .header("Authorization", format!("Basic {basic}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).expect("form"))
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body");
    parse_token_reply(status, &headers, &body).expect_err("refused")
}

/// A raw authorize request with the given query (for malformed requests the client's
/// URL builder refuses to make); returns status, Location and body.
async fn raw_authorize(
    running: &snowflake_token_operator::emulator::RunningEmulator,
    query: &[(&str, &str)],
) -> (u16, Option<url::Url>, reqwest::header::HeaderMap, Vec<u8>) {
    let url = format!(
        "{}/oauth/authorize?{}",
        running.base_url(),
        serde_urlencoded::to_string(query).expect("query")
    );
    let response = driver_support::browser()
        .get(url)
        .send()
        .await
        .expect("authorize");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let location = headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|l| url::Url::parse(l).ok());
    let body = response.bytes().await.expect("body").to_vec();
    (status, location, headers, body)
}

#[tokio::test]
async fn every_documented_oauth_error_is_produced_and_mapped() {
    let running = driver_support::start(false).await;
    let pkce = Pkce::generate();
    let challenge = pkce.challenge.as_str();
    let long_state = "s".repeat(2049);
    let base = |client: &'static str| {
        vec![
            ("client_id", client),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("state", "st"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
    };
    let with = |client: &'static str, key: &'static str, value: &str| {
        let mut query: Vec<(&str, String)> = base(client)
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
        query.retain(|(k, _)| *k != key);
        query.push((key, value.to_owned()));
        query
    };

    // Authorize errors shown as a 400 page (client or redirect URI not trustworthy):
    // (case, query, numeric code, client kind).
    let pages = [
        (
            "unknown client",
            with(BI_CLIENT, "client_id", "nobody"),
            "390306",
            OAuthErrorKind::InvalidClient,
        ),
        (
            "redirect_uri mismatch",
            with(BI_CLIENT, "redirect_uri", "http://127.0.0.1:9/elsewhere"),
            "390307",
            OAuthErrorKind::InvalidRequest,
        ),
        (
            "state too long",
            with(BI_CLIENT, "state", &long_state),
            "390305",
            OAuthErrorKind::InvalidRequest,
        ),
    ];
    for (case, query, code, kind) in pages {
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, location, headers, body) = raw_authorize(&running, &query).await;
        assert_eq!((status, location.is_none()), (400, true), "{case}");
        let json: Value = serde_json::from_slice(&body).expect("JSON page");
        assert_eq!(json["code"], json!(code), "{case}");
        let error = parse_token_reply(status, &headers, &body).expect_err(case);
        assert_eq!(oauth_kind(&error), Some(kind.clone()), "{case}");
        assert_eq!(error.snowflake_code(), Some(code), "{case}");
    }

    // Authorize errors sent back to the client's redirect URI with `error` and `state`.
    let redirects = [
        (
            "consent refused (390302)",
            with(NO_CONSENT_CLIENT, "scope", "session:role:ANALYST"),
            "access_denied",
            OAuthErrorKind::InvalidGrant,
        ),
        (
            "bad response_type (390304)",
            with(BI_CLIENT, "response_type", "token"),
            "unsupported_response_type",
            OAuthErrorKind::InvalidRequest,
        ),
        (
            "role not granted (390308)",
            with(BI_CLIENT, "scope", "session:role:UNGRANTED"),
            "invalid_scope",
            OAuthErrorKind::InvalidScope,
        ),
        (
            "bad code_challenge (390311)",
            with(BI_CLIENT, "code_challenge", "too-short"),
            "invalid_request",
            OAuthErrorKind::InvalidRequest,
        ),
    ];
    for (case, query, error, kind) in redirects {
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, location, _, _) = raw_authorize(&running, &query).await;
        assert_eq!(status, 302, "{case}");
        let location = location.expect("Location");
        assert!(location.as_str().starts_with(REDIRECT_URI), "{case}");
        assert_eq!(param(&location, "state").as_deref(), Some("st"), "{case}");
        assert!(param(&location, "code").is_none(), "{case}");
        let wire = param(&location, "error").expect("error");
        assert_eq!(wire, error, "{case}");
        assert!(param(&location, "error_description").is_some_and(|d| !d.is_empty()));
        assert_eq!(OAuthErrorKind::from_wire(&wire), kind, "{case}");
    }

    // The same authorize URL built by the client, but for a role that is not granted.
    let (status, location, _) = authorize(
        &running,
        &AuthorizeRequest {
            client_id: BI_CLIENT,
            redirect_uri: REDIRECT_URI,
            state: "client-state",
            code_challenge: challenge,
            role: Some("UNGRANTED"),
            offline_access: true,
        },
    )
    .await;
    assert_eq!(status, 302);
    assert_eq!(
        location.and_then(|l| param(&l, "error")).as_deref(),
        Some("invalid_scope")
    );

    // Token-endpoint errors, through the client where it can send the request.
    let client = oauth_client(&running);
    let wrong_secret = ClientCredentials {
        client_id: BI_CLIENT.into(),
        client_secret: SecretString::from("wrong".to_owned()),
    };
    let bogus = SecretString::from("emuort_not-a-refresh-token".to_owned());
    let invalid_client = client
        .refresh(&wrong_secret, &bogus, None)
        .await
        .expect_err("wrong secret");
    assert_eq!(
        oauth_kind(&invalid_client),
        Some(OAuthErrorKind::InvalidClient)
    );
    assert!(!format!("{invalid_client:?} {invalid_client}").contains("wrong"));
    let invalid_grant = client
        .refresh(&credentials(BI_CLIENT), &bogus, None)
        .await
        .expect_err("unknown refresh token");
    assert_eq!(
        oauth_kind(&invalid_grant),
        Some(OAuthErrorKind::InvalidGrant)
    );
    let unsupported = raw_token_request(&running, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        oauth_kind(&unsupported),
        Some(OAuthErrorKind::UnsupportedGrantType)
    );
    let invalid_request = raw_token_request(
        &running,
        &[
            ("grant_type", "authorization_code"),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await;
    assert_eq!(
        oauth_kind(&invalid_request),
        Some(OAuthErrorKind::InvalidRequest)
    );

    // Access-token errors at use: 390303 on the SQL API, 390309 on the driver login.
    let unknown = oauth_sql_client(&running, &SecretString::from("emuoat_unknown".to_owned()))
        .execute("SELECT CURRENT_USER()")
        .await
        .expect_err("unknown access token");
    assert_eq!(unknown.snowflake_code(), Some("390303"));
    assert_eq!(
        OAuthErrorKind::from_snowflake_code("390303"),
        Some(OAuthErrorKind::InvalidGrant)
    );
    let tokens = authorize_and_exchange(&running, BI_CLIENT, None, false).await;
    let login = driver_support::browser()
        .post(format!("{}/session/v1/login-request", running.base_url()))
        .json(&json!({"data": {
            "ACCOUNT_NAME": "MYORG-TEST", "LOGIN_NAME": "ALICE",
            "AUTHENTICATOR": "OAUTH", "TOKEN": tokens.access_token.expose_secret(),
        }}))
        .send()
        .await
        .expect("login")
        .json::<Value>()
        .await
        .expect("JSON");
    assert_eq!(
        (login["success"].clone(), login["code"].clone()),
        (json!(false), json!("390309"))
    );
    assert_eq!(
        OAuthErrorKind::from_snowflake_code("390309"),
        Some(OAuthErrorKind::InvalidGrant)
    );
}

#[tokio::test]
async fn transient_token_endpoint_failures_are_told_apart() {
    let running = driver_support::start(false).await;
    let creds = credentials(BI_CLIENT);
    let refresh = SecretString::from("emuort_whatever".to_owned());

    running.inject_fault(
        FaultSpec::new(FaultKind::ServiceUnavailable, 1).on_path("/oauth/token-request"),
    );
    let unavailable = oauth_client(&running)
        .refresh(&creds, &refresh, None)
        .await
        .expect_err("503");
    assert!(
        matches!(unavailable, Error::Unavailable { status: 503, .. }),
        "{unavailable:?}"
    );
    assert!(unavailable.is_transient());

    running.inject_fault(
        FaultSpec::new(FaultKind::Latency { ms: 3_000 }, 1).on_path("/oauth/token-request"),
    );
    let impatient = OAuthClient::new(
        &driver_support::account(&running),
        OAuthConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_millis(300),
            ..OAuthConfig::default()
        },
    )
    .expect("client");
    let timeout = impatient
        .refresh(&creds, &refresh, None)
        .await
        .expect_err("timeout");
    // The request reached the emulator, which may have rotated the token: an outcome
    // the caller must not resolve by resending blindly.
    assert!(matches!(timeout, Error::OutcomeUnknown(_)), "{timeout:?}");
    assert!(timeout.is_outcome_unknown());
    assert!(timeout.is_transient());
}

#[tokio::test]
async fn a_refresh_whose_answer_is_lost_is_reported_and_never_resent() {
    use snowflake_token_operator::emulator::oauth::TokenHash;
    let running = driver_support::start(false).await;
    let first = authorize_and_exchange(&running, SINGLE_USE_CLIENT, Some("LOADER"), true).await;
    let refresh = first.refresh_token.clone().expect("refresh token");
    let creds = credentials(SINGLE_USE_CLIENT);
    // Two drops queued: a client that resent would lose its second answer too, and its
    // resend of the spent token would be a replay that kills the chain.
    running.inject_fault(
        FaultSpec::new(FaultKind::DropConnectionAfterExecute, 2).on_path("/oauth/token-request"),
    );
    let lost = oauth_client(&running)
        .refresh(&creds, &refresh, None)
        .await
        .expect_err("no answer");
    assert!(matches!(lost, Error::OutcomeUnknown(_)), "{lost:?}");
    assert!(lost.is_outcome_unknown() && lost.is_transient());

    let snapshot = running.emulator().oauth_snapshot();
    let spent = &snapshot.refresh_tokens[&TokenHash::of(refresh.expose_secret())];
    assert_eq!(
        spent.status, "used",
        "Snowflake did rotate the refresh token"
    );
    let chain: Vec<_> = snapshot
        .refresh_tokens
        .values()
        .filter(|t| t.chain == spent.chain)
        .map(|t| t.status)
        .collect();
    assert!(
        chain.contains(&"active") && !chain.contains(&"revoked"),
        "the client resent the spent token and the chain died: {chain:?}"
    );
}
