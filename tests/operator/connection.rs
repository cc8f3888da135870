//! SnowflakeConnection: verified with the key from its Secret; every way the key can be
//! wrong has its own reason; a key rotated in the Secret is picked up without a restart; a
//! connection that does not exist is named by what refers to it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::json;
use snowflake_token_operator::api::conditions::{READY, find};
use snowflake_token_operator::api::{SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken};

use crate::emulator_support::key;
use crate::harness::{Env, pat_token, service_user};

#[tokio::test]
async fn a_connection_is_verified_and_reports_its_key_fingerprint() {
    let env = Env::new("conn-ok").await;
    env.connection(1).await;
    let conn: SnowflakeConnection = env.wait_ready("snowflake", "True", Some("Verified")).await;
    let status = conn.status.expect("status");
    assert_eq!(
        status.public_key_fingerprint.as_deref(),
        Some(key(1).fingerprint.as_str())
    );
    let message = &status.conditions[0].message;
    assert!(message.contains("OPERATOR_ADMIN"), "{message}");
    // Ready for the probes once every cache is synced.
    crate::support::wait_for(crate::harness::PATIENCE, "/readyz ready", || async {
        env.health.is_ready().then_some(())
    })
    .await;
}

#[tokio::test]
async fn every_broken_key_has_its_own_reason_and_a_fixed_key_is_picked_up() {
    let env = Env::new("conn-keys").await;
    // No Secret at all.
    env.connection(1).await;
    env.delete::<k8s_openapi::api::core::v1::Secret>("snowflake-admin-key")
        .await;
    env.resync();
    env.wait_ready::<SnowflakeConnection>("snowflake", "False", Some("SecretNotFound"))
        .await;
    // The Secret without the key the connection names.
    env.apply::<k8s_openapi::api::core::v1::Secret>(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "snowflake-admin-key"},
        "stringData": {"other.pem": "x"},
    }))
    .await;
    env.resync();
    // Same reason as a missing Secret, with a message naming the key.
    let message = crate::support::wait_for(
        crate::harness::PATIENCE,
        "the missing key reported",
        || async {
            let conn = env
                .api::<SnowflakeConnection>()
                .get("snowflake")
                .await
                .ok()?;
            let ready = conn
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready")?;
            (ready.reason == "SecretNotFound" && ready.message.contains("has no key"))
                .then_some(ready.message)
        },
    )
    .await;
    assert!(message.contains("rsa_key.p8"), "{message}");
    // Not a PEM key.
    env.key_secret("snowflake-admin-key", "not a key").await;
    env.resync();
    env.wait_ready::<SnowflakeConnection>("snowflake", "False", Some("InvalidPrivateKey"))
        .await;
    // A valid key that is not registered on the user: Snowflake refuses the JWT.
    env.key_secret("snowflake-admin-key", &key(3).private_pem)
        .await;
    env.resync();
    let refused: SnowflakeConnection = env
        .wait_ready("snowflake", "False", Some("AuthenticationFailed"))
        .await;
    let status = refused.status.expect("status");
    // The fingerprint of the configured key is shown, to compare with DESC USER.
    assert_eq!(
        status.public_key_fingerprint.as_deref(),
        Some(key(3).fingerprint.as_str())
    );
    assert!(status.conditions[0].message.contains("RSA_PUBLIC_KEY"));
    // The user rotates the key in the Secret (to the second registered key): picked up at
    // the next periodic check, no restart.
    env.key_secret("snowflake-admin-key", &key(2).private_pem)
        .await;
    env.resync();
    let fixed: SnowflakeConnection = env.wait_ready("snowflake", "True", Some("Verified")).await;
    assert_eq!(
        fixed
            .status
            .expect("status")
            .public_key_fingerprint
            .as_deref(),
        Some(key(2).fingerprint.as_str())
    );
}

#[tokio::test]
async fn an_unreachable_account_is_snowflake_unavailable() {
    let env = Env::new("conn-down").await;
    env.key_secret("snowflake-admin-key", &key(1).private_pem)
        .await;
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    env.apply::<SnowflakeConnection>(json!({
        "apiVersion": "snowflake-token-operator.io/v1alpha1",
        "kind": "SnowflakeConnection",
        "metadata": {"name": "snowflake"},
        "spec": {
            "account": "myorg-test",
            "host": format!("http://127.0.0.1:{port}"),
            "user": "OPERATOR_ADMIN",
            "auth": {"keyPair": {"privateKeySecretRef": {"name": "snowflake-admin-key", "key": "rsa_key.p8"}}},
        }
    }))
    .await;
    env.wait_ready::<SnowflakeConnection>("snowflake", "False", Some("SnowflakeUnavailable"))
        .await;
}

#[tokio::test]
async fn a_label_selector_splits_resources_between_operators() {
    let mut env = Env::new("scope-selector").await;
    let mut config = env.config();
    config.label_selector = Some("shard=a".into());
    env.start_operator_with(config).await;
    env.key_secret("snowflake-admin-key", &key(1).private_pem)
        .await;
    let connection = |name: &str, shard: &str| {
        json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1",
            "kind": "SnowflakeConnection",
            "metadata": {"name": name, "labels": {"shard": shard}},
            "spec": {
                "account": "myorg-test",
                "host": env.emulator.base_url(),
                "user": "OPERATOR_ADMIN",
                "auth": {"keyPair": {"privateKeySecretRef": {"name": "snowflake-admin-key", "key": "rsa_key.p8"}}},
            }
        })
    };
    env.apply::<SnowflakeConnection>(connection("mine", "a"))
        .await;
    env.apply::<SnowflakeConnection>(connection("theirs", "b"))
        .await;
    env.wait_ready::<SnowflakeConnection>("mine", "True", None)
        .await;
    // A full pass later, the other shard's connection is still untouched.
    env.resync();
    env.wait_ready::<SnowflakeConnection>("mine", "True", None)
        .await;
    let theirs = env
        .api::<SnowflakeConnection>()
        .get("theirs")
        .await
        .expect("exists");
    assert!(theirs.status.is_none(), "{:?}", theirs.status);
}

#[tokio::test]
async fn an_account_the_client_cannot_use_is_invalid_account() {
    let env = Env::new("conn-account").await;
    env.key_secret("snowflake-admin-key", &key(1).private_pem)
        .await;
    // Both pass admission's pattern; the client refuses them before sending anything.
    let cases = [
        // The dotted org.account form would silently lose the account in the JWT.
        ("dotted", "myorg.analytics", None),
        ("bad-port", "myorg-test", Some("http://127.0.0.1:99999")),
    ];
    for (name, account, host) in cases {
        let mut spec = json!({
            "account": account,
            "user": "OPERATOR_ADMIN",
            "auth": {"keyPair": {"privateKeySecretRef": {"name": "snowflake-admin-key", "key": "rsa_key.p8"}}},
        });
        if let Some(host) = host {
            spec["host"] = json!(host);
        }
        env.apply::<SnowflakeConnection>(json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1",
            "kind": "SnowflakeConnection",
            "metadata": {"name": name},
            "spec": spec,
        }))
        .await;
    }
    for (name, _, _) in cases {
        let conn: SnowflakeConnection = env.wait_ready(name, "False", Some("InvalidAccount")).await;
        let ready = &conn.status.expect("status").conditions[0];
        assert!(
            ready.message.contains("fix spec.account or spec.host"),
            "{name}: {}",
            ready.message
        );
    }
    let dotted = env.wait_event("dotted", "InvalidAccount").await;
    assert!(dotted.contains("org-account"), "{dotted}");
}

#[tokio::test]
async fn a_missing_connection_is_named_and_nothing_is_created() {
    let env = Env::new("conn-missing").await;
    env.apply::<SnowflakeServiceUser>(service_user(
        "orphan",
        json!({"connectionRef": {"name": "nowhere"}, "roles": ["ANALYST"]}),
    ))
    .await;
    env.apply::<SnowflakeToken>(pat_token(
        "orphan-pat",
        json!({"name": "BI_SVC"}),
        json!({"roleRestriction": "ANALYST"}),
        json!({"connectionRef": {"name": "nowhere"}}),
    ))
    .await;
    let user: SnowflakeServiceUser = env
        .wait_ready("orphan", "False", Some("ConnectionNotReady"))
        .await;
    let token: SnowflakeToken = env
        .wait_ready("orphan-pat", "False", Some("ConnectionNotReady"))
        .await;
    for message in [
        ready_message(user.status.map(|s| s.conditions)),
        ready_message(token.status.map(|s| s.conditions)),
    ] {
        assert!(message.contains("nowhere"), "{message}");
    }
    assert!(env.emulator.snapshot().user("ORPHAN").is_none());
    assert!(env.pats_of("BI_SVC").is_empty());
    assert!(env.secret_data("orphan-pat").await.is_none());
}

fn ready_message(conditions: Option<Vec<Condition>>) -> String {
    find(&conditions.unwrap_or_default(), READY)
        .map(|c| c.message.clone())
        .unwrap_or_default()
}
