//! The Secret writer on a real API server: created, left alone when nothing changed (no
//! write), repaired after an edit, recreated when its type changes, moved when its name
//! changes, and never taking over a Secret that is not its own.

mod support;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use secrecy::SecretString;
use serde_json::json;
use snowflake_token_operator::api::SnowflakeToken;
use snowflake_token_operator::controller::secret::writer::{WriteError, Written, write_secret};
use snowflake_token_operator::controller::secret::{
    CredentialValue, SecretContent, desired_secret,
};
use support::{ControlPlane, Options, TestNamespace, control_plane};

fn plane() -> &'static ControlPlane {
    control_plane(Options::API_ONLY)
}

/// Creates or updates a SnowflakeToken (so the Secret can be owned by it) with `secret` settings.
async fn token(
    client: &kube::Client,
    ns: &str,
    name: &str,
    secret: serde_json::Value,
) -> SnowflakeToken {
    let api: Api<SnowflakeToken> = Api::namespaced(client.clone(), ns);
    let token = support::pat_token(name, secret);
    // Always applied by one manager, so that fields dropped from `secret` are removed.
    api.patch(
        name,
        &PatchParams::apply("tests").force(),
        &Patch::Apply(&token),
    )
    .await
    .expect("applied")
}

fn content(secret: &str) -> SecretContent {
    SecretContent {
        username: "BI_SVC".into(),
        account: "myorg-acct".into(),
        host: "myorg-acct.snowflakecomputing.com".into(),
        expires_at: "2026-04-01T00:00:00Z".parse().expect("timestamp"),
        issued_at: "2026-03-01T00:00:00Z".parse().expect("timestamp"),
        credential: CredentialValue::Pat {
            secret: SecretString::from(secret.to_owned()),
            token_name: "PBI".into(),
            role: Some("ANALYST".into()),
            answers_rotate: None,
        },
    }
}

fn value(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()?
        .get(key)
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

#[tokio::test]
async fn unchanged_secrets_are_not_written_and_edited_ones_are_repaired() {
    let ns = TestNamespace::new(plane(), "secret-noop").await;
    let client = plane().client().await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    let pbi = token(&client, ns.name(), "pbi", json!({"labels": {"team": "bi"}})).await;
    let desired = desired_secret(&pbi, &content("value-1")).expect("renders");

    let first = write_secret(&secrets, &desired, None)
        .await
        .expect("written");
    assert_eq!(first.written, Written::Created);
    let version = secrets
        .get("pbi")
        .await
        .expect("exists")
        .metadata
        .resource_version;

    let again = write_secret(&secrets, &desired, Some("pbi"))
        .await
        .expect("written");
    assert_eq!(again.written, Written::Unchanged);
    assert_eq!(
        secrets
            .get("pbi")
            .await
            .expect("exists")
            .metadata
            .resource_version,
        version,
        "a no-op makes no write"
    );

    // Someone edits the credential by hand: the next write repairs it.
    let edit = json!({"stringData": {"password": "typed-by-hand"}});
    secrets
        .patch("pbi", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .expect("edited");
    let repaired = write_secret(&secrets, &desired, Some("pbi"))
        .await
        .expect("written");
    assert_eq!(repaired.written, Written::Updated);
    let live = secrets.get("pbi").await.expect("exists");
    assert_eq!(value(&live, "password").as_deref(), Some("value-1"));

    // A label dropped from the spec is removed (the operator owns exactly what it sets).
    let pbi = token(&client, ns.name(), "pbi", json!({})).await;
    let desired = desired_secret(&pbi, &content("value-1")).expect("renders");
    let relabelled = write_secret(&secrets, &desired, Some("pbi"))
        .await
        .expect("written");
    assert_eq!(relabelled.written, Written::Updated);
    let live = secrets.get("pbi").await.expect("exists");
    assert!(
        !live
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("team")
    );
}

#[tokio::test]
async fn a_new_secret_type_recreates_the_secret() {
    let ns = TestNamespace::new(plane(), "secret-type").await;
    let client = plane().client().await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    let pbi = token(&client, ns.name(), "pbi", json!({})).await;
    let opaque = desired_secret(&pbi, &content("value-1")).expect("renders");
    write_secret(&secrets, &opaque, None)
        .await
        .expect("written");
    let before = secrets.get("pbi").await.expect("exists");

    let pbi = token(
        &client,
        ns.name(),
        "pbi",
        json!({"type": "kubernetes.io/basic-auth"}),
    )
    .await;
    let basic = desired_secret(&pbi, &content("value-1")).expect("renders");
    let outcome = write_secret(&secrets, &basic, Some("pbi"))
        .await
        .expect("written");
    assert_eq!(outcome.written, Written::Recreated);
    let after = secrets.get("pbi").await.expect("exists");
    assert_eq!(after.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_ne!(after.metadata.uid, before.metadata.uid);
    assert_eq!(value(&after, "password").as_deref(), Some("value-1"));
}

#[tokio::test]
async fn a_new_secret_name_moves_the_credential_and_removes_the_old_secret() {
    let ns = TestNamespace::new(plane(), "secret-name").await;
    let client = plane().client().await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    let pbi = token(&client, ns.name(), "pbi", json!({})).await;
    write_secret(
        &secrets,
        &desired_secret(&pbi, &content("v")).expect("renders"),
        None,
    )
    .await
    .expect("written");

    let pbi = token(&client, ns.name(), "pbi", json!({"name": "pbi-snowflake"})).await;
    let moved = desired_secret(&pbi, &content("v")).expect("renders");
    let outcome = write_secret(&secrets, &moved, Some("pbi"))
        .await
        .expect("written");
    assert_eq!(outcome.written, Written::Created);
    assert_eq!(outcome.removed_old.as_deref(), Some("pbi"));
    assert!(secrets.get_opt("pbi").await.expect("get").is_none());
    let live = secrets.get("pbi-snowflake").await.expect("exists");
    assert_eq!(value(&live, "password").as_deref(), Some("v"));
}

#[tokio::test]
async fn secrets_that_are_not_the_token_s_own_are_never_touched() {
    let ns = TestNamespace::new(plane(), "secret-foreign").await;
    let client = plane().client().await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    let foreign: Secret = serde_json::from_value(json!({
        "metadata": {"name": "shared"},
        "stringData": {"password": "someone else's"},
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &foreign)
        .await
        .expect("created");

    let pbi = token(&client, ns.name(), "pbi", json!({"name": "shared"})).await;
    let desired = desired_secret(&pbi, &content("v")).expect("renders");
    let err = write_secret(&secrets, &desired, None).await.unwrap_err();
    assert!(matches!(err, WriteError::NotManaged { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("not managed by snowflake-token-operator")
    );
    let live = secrets.get("shared").await.expect("still there");
    assert_eq!(value(&live, "password").as_deref(), Some("someone else's"));

    // Another token's Secret is refused too, and an old name that is not ours is kept.
    let other = token(&client, ns.name(), "other", json!({"name": "other-secret"})).await;
    write_secret(
        &secrets,
        &desired_secret(&other, &content("o")).expect("renders"),
        None,
    )
    .await
    .expect("written");
    let pbi = token(&client, ns.name(), "pbi", json!({"name": "other-secret"})).await;
    let clash = desired_secret(&pbi, &content("v")).expect("renders");
    let err = write_secret(&secrets, &clash, None).await.unwrap_err();
    assert!(
        matches!(err, WriteError::OtherToken { ref owner, .. } if owner == "other"),
        "{err}"
    );

    let pbi = token(&client, ns.name(), "pbi", json!({"name": "pbi"})).await;
    let own = desired_secret(&pbi, &content("v")).expect("renders");
    let outcome = write_secret(&secrets, &own, Some("shared"))
        .await
        .expect("written");
    assert_eq!(outcome.removed_old, None);
    assert!(secrets.get_opt("shared").await.expect("get").is_some());
}
