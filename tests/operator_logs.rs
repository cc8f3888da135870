//! No credential leaves the Secret: a mint, a rotation, a repaired Secret and a failed
//! pre-swap check run with TRACE logging of every crate captured, and no PAT value
//! appears in the logs, the events, the status, or the `Debug` output of the objects;
//! nor does any OAuth access token, refresh token or client secret over refreshes, a
//! single-use chain and a refused refresh token.
//!
//! A test binary of its own, because it installs the process-wide log subscriber.

#[path = "driver_support/mod.rs"]
mod driver_support;
#[path = "emulator_support/mod.rs"]
mod emulator_support;
#[path = "operator/harness.rs"]
mod harness;
#[path = "operator/hygiene.rs"]
mod hygiene;
#[path = "support/mod.rs"]
mod support;

use jiff::SignedDuration;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::ListParams;
use serde_json::json;
use snowflake_token_operator::api::{SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken};

use emulator_support::capture::Capture;
use harness::{Env, pat_token, service_user};

/// Every log line of the process (both tests), at TRACE: each test calls this before
/// its `Env` (which would install the harness's debug-level capture).
fn capture() -> Capture {
    hygiene::capture("trace")
}

/// Asserts that none of `values` is in the captured logs, the namespace's events, or the
/// tokens' JSON and `Debug` output.
async fn nowhere(env: &Env, values: &[String]) {
    let events: Vec<Event> = env
        .api::<Event>()
        .list(&ListParams::default())
        .await
        .expect("events")
        .items;
    assert!(events.len() >= 2, "events were published: {events:?}");
    let events = serde_json::to_string(&events).expect("json");
    let tokens = env
        .api::<SnowflakeToken>()
        .list(&ListParams::default())
        .await
        .expect("tokens")
        .items;
    let statuses = serde_json::to_string(&tokens).expect("json");
    let debug = format!("{tokens:?}");
    let logs = capture().text();
    for value in values {
        assert!(value.len() > 16, "a real value");
        for (what, text) in [
            ("logs", &logs),
            ("events", &events),
            ("status", &statuses),
            ("Debug", &debug),
        ] {
            assert!(
                !text.contains(value.as_str()),
                "a credential is in the {what}"
            );
        }
    }
}

#[tokio::test]
async fn no_oauth_token_in_logs_events_status_or_debug_output() {
    let capture = capture();
    let env = Env::with_seed("oauth-leaks", harness::oauth_seed(90, 9)).await;
    env.connection(1).await;
    env.wait_ready::<SnowflakeConnection>("snowflake", "True", None)
        .await;
    let client_id = driver_support::SINGLE_USE_CLIENT;
    env.apply::<Secret>(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "oauth-client"},
        "stringData": {"OAUTH_CLIENT_ID": client_id, "OAUTH_CLIENT_SECRET": driver_support::CLIENT_SECRET},
    }))
    .await;
    let consent =
        driver_support::authorize_and_exchange(&env.emulator, client_id, Some("ANALYST"), false)
            .await
            .refresh_token
            .expect("refresh token");
    use secrecy::ExposeSecret as _;
    let mut values = vec![consent.expose_secret().to_owned()];
    env.apply::<Secret>(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "bi-refresh"},
        "stringData": {"refresh_token": consent.expose_secret()},
    }))
    .await;
    env.apply::<SnowflakeToken>(json!({
        "apiVersion": "snowflake-token-operator.io/v1alpha1",
        "kind": "SnowflakeToken",
        "metadata": {"name": "bi"},
        "spec": {
            "connectionRef": {"name": "snowflake"},
            "user": {"name": "BI_SVC"},
            "oauth": {
                "clientSecretRef": {"name": "oauth-client"},
                "refreshTokenSecretRef": {"name": "bi-refresh", "key": "refresh_token"},
                "role": "ANALYST",
            },
            "secret": {"template": {"header": "Authorization: Bearer {{ access_token }}"}},
        },
    }))
    .await;
    env.wait_ready::<SnowflakeToken>("bi", "True", None).await;
    let read = |name: &'static str, key: &'static str| {
        let env = &env;
        async move { env.secret_data(name).await.expect("Secret")[key].clone() }
    };
    // Refreshes of a single-use chain: each access token and each stored refresh token.
    for _ in 0..3 {
        let access = read("bi", "access_token").await;
        values.push(access.clone());
        values.push(read("bi-refresh", "refresh_token").await);
        env.advance(SignedDuration::from_mins(9));
        support::wait_for(harness::PATIENCE, "a refresh", || async {
            (read("bi", "access_token").await != access).then_some(())
        })
        .await;
    }
    // A refused refresh token (its chain replayed by someone else): an error path.
    let stored = secrecy::SecretString::from(read("bi-refresh", "refresh_token").await);
    values.push(read("bi-refresh", "refresh_token").await);
    let client = driver_support::oauth_client(&env.emulator);
    let credentials = driver_support::credentials(client_id);
    use snowflake_token_operator::snowflake::OAuthApi as _;
    let other = client
        .refresh(&credentials, &stored, None)
        .await
        .expect("refresh");
    values.push(other.access_token.expose_secret().to_owned());
    assert!(client.refresh(&credentials, &stored, None).await.is_err());
    env.advance(SignedDuration::from_mins(9));
    env.wait_ready::<SnowflakeToken>("bi", "False", Some("ReauthorizationRequired"))
        .await;
    values.push(driver_support::CLIENT_SECRET.to_owned());
    assert!(capture.text().contains("token-request") || capture.text().contains("OAuth"));
    nowhere(&env, &values).await;
}

#[tokio::test]
async fn no_token_value_in_logs_events_status_or_debug_output() {
    let capture = capture();

    let env = Env::new("pat-leaks").await;
    env.connection(1).await;
    env.apply::<SnowflakeServiceUser>(service_user(
        "bi",
        json!({"roles": ["ANALYST"], "networkPolicy": "CORP_NP"}),
    ))
    .await;
    env.apply::<SnowflakeServiceUser>(service_user(
        "remote",
        json!({"roles": ["ANALYST"], "networkPolicy": "REMOTE_ONLY"}),
    ))
    .await;
    env.wait_ready::<SnowflakeConnection>("snowflake", "True", None)
        .await;
    env.wait_ready::<SnowflakeServiceUser>("bi", "True", None)
        .await;
    env.wait_ready::<SnowflakeServiceUser>("remote", "True", None)
        .await;
    env.apply::<SnowflakeToken>(pat_token(
        "pbi",
        json!({"serviceUserRef": {"name": "bi"}}),
        json!({"roleRestriction": "ANALYST", "daysToExpiry": 30}),
        json!({"secret": {"template": {"dsn": "snowflake://{{ username }}:{{ password }}@{{ host }}"}}}),
    ))
    .await;
    // Its pre-swap check is refused by the network policy (an error path with a message).
    env.apply::<SnowflakeToken>(pat_token(
        "remote",
        json!({"serviceUserRef": {"name": "remote"}}),
        json!({"roleRestriction": "ANALYST"}),
        json!({}),
    ))
    .await;
    env.wait_ready::<SnowflakeToken>("pbi", "True", None).await;
    env.wait_ready::<SnowflakeToken>("remote", "True", None)
        .await;
    let mut values = vec![
        env.wait_password("pbi", None).await,
        env.wait_password("remote", None).await,
    ];
    // A rotation, then a repaired Secret.
    env.advance(SignedDuration::from_hours(21 * 24));
    values.push(env.wait_password("pbi", Some(&values[0])).await);
    env.delete::<Secret>("pbi").await;
    values.push(env.wait_password("pbi", Some(&values[2])).await);
    env.wait_ready::<SnowflakeToken>("pbi", "True", None).await;

    let events: Vec<Event> = env
        .api::<Event>()
        .list(&ListParams::default())
        .await
        .expect("events")
        .items;
    assert!(events.len() >= 3, "events were published: {events:?}");
    let events = serde_json::to_string(&events).expect("json");
    let tokens = env
        .api::<SnowflakeToken>()
        .list(&ListParams::default())
        .await
        .expect("tokens")
        .items;
    let statuses = serde_json::to_string(&tokens).expect("json");
    let debug = format!("{tokens:?}");
    let logs = capture.text();
    assert!(logs.contains("ADD PAT"), "the capture saw the flow");
    for value in &values {
        assert!(value.len() > 16);
        for (what, text) in [
            ("logs", &logs),
            ("events", &events),
            ("status", &statuses),
            ("Debug", &debug),
        ] {
            assert!(
                !text.contains(value.as_str()),
                "a token value is in the {what}"
            );
        }
    }
}
