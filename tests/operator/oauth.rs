//! OAuth tokens: the access token in the Secret kept valid at every moment over many
//! refreshes (multi-use and single-use refresh tokens), a dead refresh token reported as
//! `ReauthorizationRequired` and a new one used as soon as a person stores it, the expiry
//! warning once a day, and a single-use refresh token whose write failed stored later
//! without ever being replayed.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Secret;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use snowflake_token_operator::api::SnowflakeToken;
use snowflake_token_operator::api::conditions::find;
use snowflake_token_operator::emulator::EmulatorConfig;
use snowflake_token_operator::snowflake::OAuthApi;

use crate::driver_support::{
    self, BI_CLIENT, CLIENT_SECRET, REDIRECT_URI, SINGLE_USE_CLIENT, authorize_and_exchange, whoami,
};
use crate::failures::{allow_secret_writes, deny_secret_writes_labelled};
use crate::harness::{self, Env, PATIENCE};
use crate::support::wait_for;

fn seed(refresh_days: u32) -> EmulatorConfig {
    harness::oauth_seed(refresh_days, 9)
}

fn seed_with_cli(refresh_days: u32, cli_port: u16) -> EmulatorConfig {
    harness::oauth_seed(refresh_days, cli_port)
}

use harness::CLI_CLIENT;

/// A person's consent, as `authorize` obtains it: the refresh token of the flow.
async fn consent(env: &Env, client_id: &str) -> SecretString {
    authorize_and_exchange(&env.emulator, client_id, Some("ANALYST"), false)
        .await
        .refresh_token
        .expect("a refresh token")
}

/// The client Secret and the refresh-token Secret (labelled as `authorize` labels it),
/// then the token.
pub(crate) async fn oauth_token(env: &Env, name: &str, client_id: &str, oauth: Value) {
    let refresh = consent(env, client_id).await;
    store_refresh_token(env, name, &refresh).await;
    oauth_token_without_consent(env, name, client_id, oauth).await;
}

/// The client Secret and the token; no refresh token yet.
async fn oauth_token_without_consent(env: &Env, name: &str, client_id: &str, oauth: Value) {
    env.apply::<Secret>(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("{name}-client")},
        "stringData": {"OAUTH_CLIENT_ID": client_id, "OAUTH_CLIENT_SECRET": CLIENT_SECRET},
    }))
    .await;
    let mut spec = json!({
        "clientSecretRef": {"name": format!("{name}-client")},
        "refreshTokenSecretRef": {"name": format!("{name}-refresh"), "key": "refresh_token"},
        "role": "ANALYST",
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), oauth.as_object()) {
        spec.extend(extra.clone());
    }
    env.apply::<SnowflakeToken>(json!({
        "apiVersion": "snowflake-token-operator.io/v1alpha1",
        "kind": "SnowflakeToken",
        "metadata": {"name": name},
        "spec": {
            "connectionRef": {"name": "snowflake"},
            "user": {"name": "BI_SVC"},
            "oauth": spec,
        },
    }))
    .await;
}

/// What a person's `authorize` leaves: the refresh token in its Secret, labelled for
/// the operator's watch.
async fn store_refresh_token(env: &Env, token: &str, refresh: &SecretString) {
    env.apply::<Secret>(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": format!("{token}-refresh"),
            "labels": {
                "app.kubernetes.io/managed-by": "snowflake-token-operator",
                "snowflake-token-operator.io/refresh-token-for": token,
            },
        },
        "stringData": {"refresh_token": refresh.expose_secret()},
    }))
    .await;
}

async fn access_token(env: &Env, token: &str) -> Option<String> {
    env.secret_data(token).await?.get("access_token").cloned()
}

/// The refresh requests the operator sent to Snowflake's token endpoint (its metrics).
fn refresh_requests(env: &Env) -> f64 {
    env.metrics
        .encode()
        .lines()
        .filter(|l| {
            l.starts_with("snowflake_requests_total{") && l.contains("operation=\"oauth_refresh\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn wait_access_token(env: &Env, token: &str, not: Option<&str>) -> String {
    wait_for(PATIENCE, "a new access token in the Secret", || async {
        let value = access_token(env, token).await?;
        (Some(value.as_str()) != not).then_some(value)
    })
    .await
}

async fn works(env: &Env, access_token: &str) -> bool {
    whoami(&env.emulator, &SecretString::from(access_token.to_owned()))
        .await
        .is_ok_and(|(user, role)| user == "BI_SVC" && role == "ANALYST")
}

fn now(env: &Env) -> Timestamp {
    env.emulator.emulator().clock().now()
}

async fn status(env: &Env, name: &str) -> snowflake_token_operator::api::SnowflakeTokenStatus {
    env.api::<SnowflakeToken>()
        .get(name)
        .await
        .expect("token")
        .status
        .unwrap_or_default()
}

/// Steps the shared clock 4 minutes at a time (access tokens live 10, refreshed 2 before):
/// before the operator hears of each step, the Secret's access token must log in; when a
/// refresh is due, the next value must log in too, and in single-use mode the previous
/// one must be dead.
async fn stays_fresh(env: &Env, name: &str, single_use: bool, steps: usize) -> usize {
    let mut refreshes = 0;
    let mut held = wait_access_token(env, name, None).await;
    assert!(works(env, &held).await, "the first access token logs in");
    for step in 0..steps {
        env.emulator.advance_clock(SignedDuration::from_mins(4));
        assert!(
            works(env, &held).await,
            "step {step}: the access token in the Secret is valid at every moment"
        );
        let due = status(env, name)
            .await
            .renewal_time
            .expect("renewal time")
            .0;
        if now(env) < due {
            continue;
        }
        env.resync();
        let next = wait_access_token(env, name, Some(&held)).await;
        assert!(
            works(env, &next).await,
            "step {step}: the refreshed token logs in"
        );
        assert_eq!(
            works(env, &held).await,
            !single_use,
            "step {step}: a refresh ends the earlier access token only in single-use mode"
        );
        held = next;
        refreshes += 1;
    }
    refreshes
}

#[tokio::test]
async fn an_access_token_stays_valid_over_many_refreshes() {
    let env = Env::with_seed("oauth-fresh", seed(90)).await;
    env.ready_connection().await;
    oauth_token(&env, "tableau", BI_CLIENT, json!({"refreshBefore": "2m"})).await;
    let token = env
        .wait_ready::<SnowflakeToken>("tableau", "True", Some("Refreshed"))
        .await;
    let status = token.status.expect("status");
    assert!(status.access_token_expires_at.is_some() && status.refresh_token_expires_at.is_some());
    assert_eq!(
        status.credential_type,
        Some(snowflake_token_operator::api::CredentialKind::OAuth)
    );
    let data = env.secret_data("tableau").await.expect("Secret");
    for key in [
        "access_token",
        "token_type",
        "expires_at",
        "username",
        "account",
        "host",
    ] {
        assert!(data.contains_key(key), "key {key} in {:?}", data.keys());
    }
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["username"], "BI_SVC");
    let refreshes = stays_fresh(&env, "tableau", false, 20).await;
    assert!(refreshes >= 8, "{refreshes} refreshes");
    // Refreshes are not events (one every few minutes would flood them).
    let events = env.events_of("tableau").await;
    assert!(events.len() <= 2, "{events:?}");
}

#[tokio::test]
async fn a_single_use_chain_stays_valid_and_each_new_refresh_token_is_stored() {
    let env = Env::with_seed("oauth-single", seed(90)).await;
    env.ready_connection().await;
    oauth_token(&env, "tableau", SINGLE_USE_CLIENT, json!({})).await;
    env.wait_ready::<SnowflakeToken>("tableau", "True", Some("Refreshed"))
        .await;
    let first_refresh =
        env.secret_data("tableau-refresh").await.expect("Secret")["refresh_token"].clone();
    let refreshes = stays_fresh(&env, "tableau", true, 12).await;
    assert!(refreshes >= 5, "{refreshes} refreshes");
    let stored = env.secret_data("tableau-refresh").await.expect("Secret")["refresh_token"].clone();
    assert_ne!(
        stored, first_refresh,
        "each answer's refresh token is stored"
    );
    let message = find(&status(&env, "tableau").await.conditions, "Ready")
        .expect("Ready")
        .message
        .clone();
    assert!(message.contains("single-use"), "{message}");
}

#[tokio::test]
async fn a_dead_refresh_token_asks_for_authorize_and_a_new_one_is_used_at_once() {
    let env = Env::with_seed("oauth-dead", seed(90)).await;
    env.ready_connection().await;
    oauth_token(&env, "tableau", SINGLE_USE_CLIENT, json!({})).await;
    env.wait_ready::<SnowflakeToken>("tableau", "True", Some("Refreshed"))
        .await;
    let held = wait_access_token(&env, "tableau", None).await;
    // Someone else refreshes with the stored token, then replays it: Snowflake kills the
    // whole chain (reference §6.4), the operator's link included.
    let stored = SecretString::from(
        env.secret_data("tableau-refresh").await.expect("Secret")["refresh_token"].clone(),
    );
    let client = driver_support::oauth_client(&env.emulator);
    let credentials = driver_support::credentials(SINGLE_USE_CLIENT);
    client
        .refresh(&credentials, &stored, None)
        .await
        .expect("someone else refreshes with the stored token");
    assert!(
        client.refresh(&credentials, &stored, None).await.is_err(),
        "the replay is refused and kills the chain"
    );
    env.advance(SignedDuration::from_mins(9));
    let token = env
        .wait_ready::<SnowflakeToken>("tableau", "False", Some("ReauthorizationRequired"))
        .await;
    let ready = find(
        &token.status.clone().unwrap_or_default().conditions,
        "Ready",
    )
    .expect("Ready")
    .message
    .clone();
    let command = format!(
        "snowflake-token-operator authorize --namespace {} tableau",
        env.ns()
    );
    assert!(ready.contains(&command), "{ready}");
    env.wait_event_type("tableau", "ReauthorizationRequired")
        .await;
    assert_eq!(
        access_token(&env, "tableau").await.as_deref(),
        Some(held.as_str()),
        "the Secret is never blanked"
    );
    // Stopped: more reconciles send nothing to the token endpoint.
    let before = refresh_requests(&env);
    for _ in 0..3 {
        env.advance(SignedDuration::from_mins(5));
    }
    env.wait_ready::<SnowflakeToken>("tableau", "False", Some("ReauthorizationRequired"))
        .await;
    assert_eq!(
        refresh_requests(&env),
        before,
        "a dead refresh token is never sent again"
    );

    // A person authorizes again: used at once, without waiting for any timer.
    let fresh = consent(&env, SINGLE_USE_CLIENT).await;
    store_refresh_token(&env, "tableau", &fresh).await;
    env.wait_ready::<SnowflakeToken>("tableau", "True", Some("Refreshed"))
        .await;
    let renewed = wait_access_token(&env, "tableau", Some(&held)).await;
    assert!(works(&env, &renewed).await);
    env.wait_event("tableau", "Reauthorized").await;
}

#[tokio::test]
async fn the_refresh_token_expiry_is_announced_once_a_day_in_its_window() {
    let env = Env::with_seed("oauth-expiry", seed(3)).await;
    env.ready_connection().await;
    oauth_token(
        &env,
        "tableau",
        BI_CLIENT,
        json!({"refreshTokenValidity": "72h", "refreshTokenExpiryWarning": "48h"}),
    )
    .await;
    let token = env
        .wait_ready::<SnowflakeToken>("tableau", "True", Some("Refreshed"))
        .await;
    assert!(
        find(
            &token.status.unwrap_or_default().conditions,
            "RefreshTokenExpiringSoon"
        )
        .is_none(),
        "not yet in the window"
    );
    let warnings = || async {
        env.events_of("tableau")
            .await
            .into_iter()
            .filter(|e| e.contains("RefreshTokenExpiringSoon"))
            .count()
    };
    // 25 h later: 47 h left, inside the 48 h window.
    env.advance(SignedDuration::from_hours(25));
    let message = wait_for(PATIENCE, "the expiry warning condition", || async {
        let status = status(&env, "tableau").await;
        find(&status.conditions, "RefreshTokenExpiringSoon").map(|c| c.message.clone())
    })
    .await;
    assert!(message.contains("within 2 days"), "{message}");
    assert!(
        message.contains("snowflake-token-operator authorize"),
        "{message}"
    );
    env.wait_event_type("tableau", "RefreshTokenExpiringSoon")
        .await;
    // Many reconciles the same day: still one warning.
    for _ in 0..4 {
        env.advance(SignedDuration::from_mins(9));
        wait_access_token(&env, "tableau", None).await;
    }
    env.wait_ready::<SnowflakeToken>("tableau", "True", None)
        .await;
    assert_eq!(warnings().await, 1, "{:?}", env.events_of("tableau").await);
    // The next day: once more.
    env.advance(SignedDuration::from_hours(24));
    wait_for(PATIENCE, "the next day's warning", || async {
        let status = status(&env, "tableau").await;
        find(&status.conditions, "RefreshTokenExpiringSoon")
            .filter(|c| c.message.contains("within a day"))
            .map(drop)
    })
    .await;
    wait_for(PATIENCE, "a second warning event", || async {
        (warnings().await == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_new_single_use_refresh_token_whose_write_failed_is_stored_later_not_replayed() {
    let env = Env::with_seed("oauth-write", seed(90)).await;
    env.ready_connection().await;
    oauth_token(&env, "tableau", SINGLE_USE_CLIENT, json!({})).await;
    env.wait_ready::<SnowflakeToken>("tableau", "True", Some("Refreshed"))
        .await;
    let held = wait_access_token(&env, "tableau", None).await;
    deny_secret_writes_labelled(&env, "snowflake-token-operator.io/refresh-token-for").await;
    let before = refresh_requests(&env);
    env.advance(SignedDuration::from_mins(9));
    wait_for(
        PATIENCE,
        "failed attempts to store the refresh token",
        || async { (status(&env, "tableau").await.failure_count? >= 3).then_some(()) },
    )
    .await;
    assert_eq!(
        refresh_requests(&env),
        before + 1.0,
        "one refresh; the retries only write its answer"
    );
    allow_secret_writes(&env).await;
    let renewed = wait_access_token(&env, "tableau", Some(&held)).await;
    env.wait_ready::<SnowflakeToken>("tableau", "True", Some("Refreshed"))
        .await;
    assert!(works(&env, &renewed).await);
    // The chain is intact: the stored refresh token refreshes again.
    env.advance(SignedDuration::from_mins(9));
    let again = wait_access_token(&env, "tableau", Some(&renewed)).await;
    assert!(works(&env, &again).await);
    env.wait_ready::<SnowflakeToken>("tableau", "True", Some("Refreshed"))
        .await;
}

/// A free loopback port (bound and released: good enough for one test's listener).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Runs `snowflake-token-operator authorize` against the test's control plane.
fn authorize_command(env: &Env, extra: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_snowflake-token-operator"));
    command
        .arg("authorize")
        .arg("--kubeconfig")
        .arg(&harness::plane().kubeconfig)
        .args(["--namespace", env.ns(), "tableau", "--timeout", "60s"])
        .args(extra)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Reads the child's stderr until the authorize URL shows; returns it and the reader.
async fn authorize_url_of(
    child: &mut tokio::process::Child,
) -> (
    String,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
) {
    use tokio::io::AsyncBufReadExt as _;
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let url = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.expect("stderr line") {
            if let Some(url) = line.trim().strip_prefix("http") {
                return format!("http{url}");
            }
        }
        panic!("authorize exited without printing a URL");
    })
    .await
    .expect("the URL within the patience");
    (url, lines)
}

async fn rest_of(
    mut lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
) -> String {
    let mut all = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        all.push_str(&line);
        all.push('\n');
    }
    all
}

#[tokio::test]
async fn authorize_stores_a_refresh_token_that_the_operator_uses_at_once() {
    let port = free_port();
    let env = Env::with_seed("oauth-authorize", seed_with_cli(90, port)).await;
    env.ready_connection().await;
    oauth_token_without_consent(&env, "tableau", CLI_CLIENT, json!({})).await;
    let token = env
        .wait_ready::<SnowflakeToken>("tableau", "False", Some("RefreshTokenMissing"))
        .await;
    let message = find(&token.status.unwrap_or_default().conditions, "Ready")
        .expect("Ready")
        .message
        .clone();
    let command = format!(
        "snowflake-token-operator authorize --namespace {} tableau",
        env.ns()
    );
    assert!(message.contains(&command), "{message}");

    // The person runs the command; the test plays the browser (the emulator consents
    // for its test user without a login page).
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let mut child = authorize_command(&env, &["--redirect-uri", &redirect])
        .spawn()
        .expect("authorize starts");
    let (url, lines) = authorize_url_of(&mut child).await;
    let browser = driver_support::browser();
    let consent = browser.get(&url).send().await.expect("authorize page");
    assert_eq!(consent.status().as_u16(), 302);
    let back = consent.headers()["location"]
        .to_str()
        .expect("Location")
        .to_owned();
    assert!(back.starts_with(&redirect), "{back}");
    let landed = browser
        .get(&back)
        .send()
        .await
        .expect("the command's listener");
    assert!(landed.status().is_success());
    let status = child.wait().await.expect("authorize exits");
    let said = rest_of(lines).await;
    assert!(status.success(), "{said}");
    assert!(said.contains("Authorized as BI_SVC"), "{said}");

    let stored = env
        .api::<Secret>()
        .get("tableau-refresh")
        .await
        .expect("Secret");
    let labels = stored.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels
            .get("snowflake-token-operator.io/refresh-token-for")
            .map(String::as_str),
        Some("tableau")
    );
    // Picked up at once (the Secret watch), no timer involved.
    env.wait_ready::<SnowflakeToken>("tableau", "True", Some("Refreshed"))
        .await;
    let access = wait_access_token(&env, "tableau", None).await;
    for (connector, logins) in crate::driver_support::connector::connector_logins(
        &env.emulator,
        &[json!({"user": "BI_SVC", "oauth_token": access})],
    )
    .await
    {
        assert_eq!(
            logins,
            vec![crate::driver_support::connector::Login::Ok {
                user: "BI_SVC".into(),
                role: "ANALYST".into()
            }],
            "{connector}"
        );
    }
}

#[tokio::test]
async fn authorize_refuses_a_foreign_redirect_and_an_error_and_writes_nothing() {
    let env = Env::with_seed("oauth-authorize-bad", seed(90)).await;
    env.ready_connection().await;
    oauth_token_without_consent(&env, "tableau", BI_CLIENT, json!({})).await;
    for (pasted, expected) in [
        (
            format!("{REDIRECT_URI}?code=abc&state=not-the-one-sent"),
            "state does not match",
        ),
        (
            format!("{REDIRECT_URI}?error=access_denied&error_description=the+user+said+no"),
            "refused the authorization (access_denied: the user said no)",
        ),
    ] {
        let mut child = authorize_command(&env, &["--no-browser", "--redirect-uri", REDIRECT_URI])
            .spawn()
            .expect("authorize starts");
        let (url, lines) = authorize_url_of(&mut child).await;
        assert!(url.contains("code_challenge_method=S256"), "{url}");
        {
            use tokio::io::AsyncWriteExt as _;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin
                .write_all(format!("{pasted}\n").as_bytes())
                .await
                .expect("paste");
        }
        let status = child.wait().await.expect("authorize exits");
        let said = rest_of(lines).await;
        assert!(!status.success(), "{said}");
        assert!(said.contains(expected), "{said}");
        assert!(
            env.api::<Secret>()
                .get_opt("tableau-refresh")
                .await
                .expect("get")
                .is_none(),
            "nothing written"
        );
    }
}

#[tokio::test]
async fn each_oauth_refusal_has_its_own_reason() {
    let env = Env::with_seed("oauth-refusals", seed(90)).await;
    env.ready_connection().await;
    oauth_token(&env, "tableau", BI_CLIENT, json!({})).await;
    env.wait_ready::<SnowflakeToken>("tableau", "True", Some("Refreshed"))
        .await;
    let held = wait_access_token(&env, "tableau", None).await;

    // A wrong client secret (rotated in Snowflake, say).
    env.apply::<Secret>(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "tableau-client"},
        "stringData": {"OAUTH_CLIENT_ID": BI_CLIENT, "OAUTH_CLIENT_SECRET": "not-the-secret"},
    }))
    .await;
    env.advance(SignedDuration::from_mins(9));
    let token = env
        .wait_ready::<SnowflakeToken>("tableau", "False", Some("OAuthClientRejected"))
        .await;
    let message = find(&token.status.unwrap_or_default().conditions, "Ready")
        .expect("Ready")
        .message
        .clone();
    assert!(
        message.contains("SYSTEM$SHOW_OAUTH_CLIENT_SECRETS"),
        "{message}"
    );
    assert_eq!(
        access_token(&env, "tableau").await.as_deref(),
        Some(held.as_str()),
        "the Secret keeps its access token"
    );

    // The right secret again, and another role: the refresh token was authorized for
    // ANALYST, and a refresh cannot change that, so the token asks for authorize again
    // while the Secret is kept fresh for ANALYST.
    env.apply::<Secret>(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "tableau-client"},
        "stringData": {"OAUTH_CLIENT_ID": BI_CLIENT, "OAUTH_CLIENT_SECRET": CLIENT_SECRET},
    }))
    .await;
    env.api::<SnowflakeToken>()
        .patch(
            "tableau",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"oauth": {"role": "LOADER"}}})),
        )
        .await
        .expect("role changed");
    let token = env
        .wait_ready::<SnowflakeToken>("tableau", "False", Some("ReauthorizationRequired"))
        .await;
    let message = find(&token.status.unwrap_or_default().conditions, "Ready")
        .expect("Ready")
        .message
        .clone();
    assert!(
        message.contains("asks for role LOADER") && message.contains("authorized for role ANALYST"),
        "{message}"
    );
    assert!(message.contains("authorize"), "{message}");
    let secret = env.api::<Secret>().get("tableau").await.expect("Secret");
    assert_eq!(
        secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("snowflake-token-operator.io/oauth-role"))
            .map(String::as_str),
        Some("ANALYST"),
        "the Secret says which role its access token has"
    );
    let fresh = wait_access_token(&env, "tableau", Some(&held)).await;
    assert_ne!(
        fresh, held,
        "the Secret is refreshed after the client secret is right again"
    );

    // Back to ANALYST: Ready again without a person.
    env.api::<SnowflakeToken>()
        .patch(
            "tableau",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"oauth": {"role": "ANALYST"}}})),
        )
        .await
        .expect("role changed back");
    env.wait_ready::<SnowflakeToken>("tableau", "True", Some("Refreshed"))
        .await;
}
