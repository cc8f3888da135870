//! The emulator's OAuth face over raw HTTP (no client code): a token request whose
//! answer is lost to the drop-connection fault was still processed in full, so a
//! client that blindly resends it meets a replay.

mod emulator_support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use emulator_support::{browser, http, start_with};
use serde_json::Value;
use snowflake_token_operator::emulator::oauth::TokenHash;
use snowflake_token_operator::emulator::{EmulatorConfig, FaultKind, FaultSpec, RunningEmulator};

const CLIENT_ID: &str = "single-use-client";
/// Test-only client secret.
const CLIENT_SECRET: &str = "test-only-secret";
/// Nothing listens there: the test reads the 302's `Location` instead of following it.
const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/callback";
const TOKEN_PATH: &str = "/oauth/token-request";

/// The emulator test seed plus an integration with single-use refresh tokens.
fn config() -> EmulatorConfig {
    let yaml = format!(
        r#"{base}
oauth:
  integrations:
    - name: SINGLE_USE_APP
      client_id: {CLIENT_ID}
      client_secret: "{CLIENT_SECRET}"
      redirect_uri: {REDIRECT_URI}
      single_use_refresh_tokens_required: true
      auto_login_user: BI_SVC
"#,
        base = emulator_support::seed_yaml()
    );
    EmulatorConfig::from_yaml(&yaml).expect("seed parses")
}

/// `GET /oauth/authorize` with offline access; returns the one-time code.
async fn authorize(running: &RunningEmulator) -> String {
    let query = serde_urlencoded::to_string([
        ("client_id", CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "refresh_token session:role:ANALYST"),
        ("state", "emulator-test"),
    ])
    .expect("query");
    let response = browser()
        .get(format!("{}/oauth/authorize?{query}", running.base_url()))
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status().as_u16(), 302, "authorize redirects");
    let location = response.headers()["location"].to_str().expect("ASCII");
    let location = url::Url::parse(location).expect("absolute Location");
    location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code on the redirect")
}

/// `POST /oauth/token-request` with HTTP Basic client authentication: the status and
/// JSON body, or `None` when the connection closed without an answer.
async fn token_request(running: &RunningEmulator, form: &[(&str, &str)]) -> Option<(u16, Value)> {
    let basic = STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let response = http()
        .post(format!("{}{TOKEN_PATH}", running.base_url()))
        .header("Authorization", format!("Basic {basic}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).expect("form"))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.expect("JSON body")))
}

fn drop_next_token_answer(running: &RunningEmulator) {
    running
        .inject_fault(FaultSpec::new(FaultKind::DropConnectionAfterExecute, 1).on_path(TOKEN_PATH));
}

/// A resend of a request whose answer was lost: answered this time, `invalid_grant`.
async fn assert_refused_as_replay(running: &RunningEmulator, form: &[(&str, &str)]) {
    let (status, body) = token_request(running, form)
        .await
        .expect("an answer this time");
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}

/// The admin view of a refresh token: its status and chain.
fn refresh_token_status(running: &RunningEmulator, token: &str) -> (String, u64) {
    let snapshot = running.emulator().oauth_snapshot();
    let found = &snapshot.refresh_tokens[&TokenHash::of(token)];
    (found.status.to_owned(), found.chain)
}

#[tokio::test]
async fn a_refresh_whose_answer_was_lost_still_rotated_the_refresh_token() {
    let running = start_with(config(), false).await;
    let code = authorize(&running).await;
    let (status, tokens) = token_request(
        &running,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await
    .expect("an answer");
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let refresh_form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];

    drop_next_token_answer(&running);
    assert!(
        token_request(&running, &refresh_form).await.is_none(),
        "the connection closes without an answer"
    );
    let (status, chain) = refresh_token_status(&running, refresh);
    assert_eq!(
        status, "used",
        "the refresh was processed: its token is spent"
    );
    let snapshot = running.emulator().oauth_snapshot();
    let successors: Vec<_> = snapshot
        .refresh_tokens
        .iter()
        .filter(|(hash, t)| **hash != TokenHash::of(refresh) && t.chain == chain)
        .map(|(_, t)| t.status)
        .collect();
    assert_eq!(successors, ["active"], "a rotated refresh token was issued");

    // Resending the lost request is a replay: refused, and the whole chain dies.
    assert_refused_as_replay(&running, &refresh_form).await;
    let snapshot = running.emulator().oauth_snapshot();
    assert!(
        snapshot
            .refresh_tokens
            .values()
            .filter(|t| t.chain == chain)
            .all(|t| t.status == "revoked"),
        "the replay revoked the chain, the unseen successor included"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn a_code_exchange_whose_answer_was_lost_still_redeemed_the_code() {
    let running = start_with(config(), false).await;
    let code = authorize(&running).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
    ];
    drop_next_token_answer(&running);
    assert!(token_request(&running, &exchange).await.is_none());
    let snapshot = running.emulator().oauth_snapshot();
    assert!(snapshot.authorization_codes[&TokenHash::of(&code)].redeemed);
    assert_eq!(
        snapshot.refresh_tokens.len(),
        1,
        "the exchange issued its tokens"
    );

    assert_refused_as_replay(&running, &exchange).await;
    running.shutdown().await;
}
