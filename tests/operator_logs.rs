//! No credential leaves the Secret: a mint, a rotation, a repaired Secret and a failed
//! pre-swap check run with TRACE logging of every crate captured, and no PAT value
//! appears in the logs, the events, the status, or the `Debug` output of the objects.
//!
//! A test binary of its own, because it installs the process-wide log subscriber.

#[path = "emulator_support/mod.rs"]
mod emulator_support;
#[path = "operator/harness.rs"]
mod harness;
#[path = "support/mod.rs"]
mod support;

use jiff::SignedDuration;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::ListParams;
use serde_json::json;
use snowflake_token_operator::api::{SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken};

use emulator_support::capture::Capture;
use harness::{Env, pat_token, service_user};

#[tokio::test]
async fn no_token_value_in_logs_events_status_or_debug_output() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(capture.clone())
        .init();

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
