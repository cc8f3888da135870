//! Every test's leak check: the operator's logs (at debug level, whatever `RUST_LOG`
//! says), the namespace's events and the statuses of its resources must not contain any
//! credential the namespace's Secrets hold (PATs, access and refresh tokens, client
//! secrets, private keys). [`Env`](crate::harness::Env) runs it when a test ends
//! without failing, so every scenario of this binary is also a leak test.
//!
//! All tests of the binary log into one buffer (a subscriber is global); each test looks
//! only for its own namespace's credentials, which no other test holds.

use std::collections::HashSet;
use std::sync::OnceLock;

use base64::Engine as _;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, ListParams};
use snowflake_token_operator::api::{SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::emulator_support::capture::Capture;

/// The process's log capture, and the filter it was installed with.
static CAPTURE: OnceLock<Capture> = OnceLock::new();

/// The operator's and kube's debug logs, what the harness captures.
pub const DEBUG: &str = "snowflake_token_operator=debug,kube_client=debug,kube_runtime=debug";

/// Installs the process's subscriber on the first call: `RUST_LOG` to the test's output,
/// and what `filter` selects (an `EnvFilter` directive such as [`DEBUG`] or `trace`) into
/// the capture returned. Later calls return the same capture, whatever their filter: a
/// test binary that wants more than [`DEBUG`] calls this before its first `Env`.
pub fn capture(filter: &str) -> Capture {
    CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            let shown = tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(EnvFilter::from_default_env());
            let captured = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(capture.clone())
                .with_filter(EnvFilter::new(filter));
            let _ = tracing_subscriber::registry()
                .with(shown)
                .with(captured)
                .try_init();
            capture
        })
        .clone()
}

/// Keys of the operator's Secrets that hold no credential (a host name, for one, is
/// long enough to look like one, and may well be logged).
const PUBLIC_KEYS: [&str; 9] = [
    "username",
    "public_key_fingerprint",
    "account",
    "host",
    "expires_at",
    "token_type",
    "token_name",
    "role",
    "OAUTH_CLIENT_ID",
];

/// The credentials held by the Secrets of `namespace`: every value that is one word of
/// 24 characters or more (tokens, client secrets), and every line of a PEM body.
async fn credentials(client: &kube::Client, namespace: &str) -> Vec<String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Ok(secrets) = secrets.list(&ListParams::default()).await else {
        return vec![];
    };
    let mut found = vec![];
    for secret in secrets.items {
        for (key, value) in secret.data.unwrap_or_default() {
            if PUBLIC_KEYS.contains(&key.as_str()) {
                continue;
            }
            let Ok(text) = String::from_utf8(value.0) else {
                continue;
            };
            if text.contains("-----BEGIN") {
                found.extend(
                    text.lines()
                        .filter(|l| l.len() >= 40 && !l.starts_with("-----"))
                        .map(str::to_owned),
                );
            } else if text.len() >= 24 && !text.contains(char::is_whitespace) {
                found.push(text);
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Where the credentials of `namespace` appear but must not: `(place, how many)`.
pub async fn leaks(client: &kube::Client, namespace: &str) -> Vec<(String, usize)> {
    leaks_of(client, namespace, &HashSet::new(), Vec::new()).await
}

/// [`leaks`], also looking for `more` credentials (values consumers saw, rotated out since)
/// and in `more_places` (named texts, such as an operator process's log files).
pub async fn leaks_of(
    client: &kube::Client,
    namespace: &str,
    more: &HashSet<String>,
    more_places: Vec<(String, String)>,
) -> Vec<(String, usize)> {
    let mut credentials = credentials(client, namespace).await;
    credentials.extend(more.iter().cloned());
    // A PEM line also appears base64-encoded (the Secret's own data) only in Secrets,
    // which are not searched; a token could be logged encoded, so search that too.
    let needles: Vec<String> = credentials
        .iter()
        .flat_map(|c| {
            [
                c.clone(),
                base64::engine::general_purpose::STANDARD.encode(c),
            ]
        })
        .collect();
    let mut places = more_places;
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    if let Ok(events) = events.list(&ListParams::default()).await {
        places.push(("events".to_owned(), json(&events.items)));
    }
    let statuses = [
        statuses::<SnowflakeToken>(client, namespace).await,
        statuses::<SnowflakeServiceUser>(client, namespace).await,
        statuses::<SnowflakeConnection>(client, namespace).await,
    ];
    places.push(("statuses".to_owned(), statuses.concat()));
    places.push(("the operator's logs".to_owned(), capture(DEBUG).text()));
    places
        .into_iter()
        .filter_map(|(place, text)| {
            let found = needles.iter().filter(|n| text.contains(n.as_str())).count();
            (found > 0).then_some((place, found))
        })
        .collect()
}

/// The statuses of every `K` of the namespace, as JSON text.
async fn statuses<K>(client: &kube::Client, namespace: &str) -> String
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = api.list(&ListParams::default()).await else {
        return String::new();
    };
    let statuses: Vec<serde_json::Value> = list
        .items
        .iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .map(|o| o["status"].clone())
        .collect();
    json(&statuses)
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The check itself: a credential of a Secret is found in the logs (base64-encoded) and
/// in an event.
#[tokio::test]
async fn the_leak_check_finds_a_credential_wherever_it_appears() {
    use crate::harness::Env;
    use serde_json::json;

    let env = Env::new("hygiene").await;
    let value = format!("ver:1-hint:x-{}", uuid::Uuid::new_v4().simple());
    env.apply::<Secret>(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "leaky"},
        "stringData": {"password": value},
    }))
    .await;
    assert!(leaks(&env.client, env.ns()).await.is_empty());
    tracing::info!(
        target: "snowflake_token_operator::test",
        "{}",
        base64::engine::general_purpose::STANDARD.encode(&value)
    );
    assert_eq!(
        leaks(&env.client, env.ns()).await,
        [("the operator's logs".to_owned(), 1)]
    );
    env.apply::<Event>(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "leaky"},
        "involvedObject": {"kind": "Secret", "name": "leaky", "namespace": env.ns()},
        "message": format!("the value is {value}"),
    }))
    .await;
    let found = leaks(&env.client, env.ns()).await;
    assert!(
        found.iter().any(|(place, _)| place == "events"),
        "{found:?}"
    );
    // Gone again, so that the check at the end of this test passes: the Secret, whose
    // value the logs keep.
    env.delete::<Secret>("leaky").await;
    env.delete::<Event>("leaky").await;
}
