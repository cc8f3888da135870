//! Workload identity federation: a SnowflakeServiceUser trusting service accounts of its
//! namespace, and pods (here: TokenRequests, as the kubelet makes them for a projected
//! token volume) logging in with the official Python connector and no Secret at all.
//!
//! The emulator stands in for Snowflake fetching the issuer's keys: the test cluster's
//! issuer (`https://kubernetes.default.svc`) is private, so its JWKS is read from the API
//! server (`/openid/v1/jwks`, authenticated) and handed to the emulator, as the seed's
//! `workloadIdentity.issuers` would.

use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Value, json};
use snowflake_token_operator::api::SnowflakeServiceUser;

use crate::driver_support::connector::{Login, connector_logins};
use crate::harness::{Env, PATIENCE, service_user};
use crate::support::wait_for;

/// The issuer of the test cluster's service-account tokens (`--service-account-issuer`).
const ISSUER: &str = "https://kubernetes.default.svc";
/// The Snowflake user the resource `etl-user` names.
const USER: &str = "ETL_USER";

/// Hands the API server's signing keys to the emulator.
async fn trust_cluster_issuer(env: &Env) {
    let request = http::Request::get("/openid/v1/jwks")
        .body(Vec::new())
        .expect("request");
    let jwks = env
        .client
        .request_text(request)
        .await
        .expect("the cluster's JWKS");
    env.emulator
        .emulator()
        .trust_issuer_keys(ISSUER, serde_json::from_str(&jwks).expect("a JWKS"));
}

async fn service_account(env: &Env, name: &str) {
    Api::<ServiceAccount>::namespaced(env.client.clone(), env.ns())
        .create(
            &PostParams::default(),
            &ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    ..ObjectMeta::default()
                },
                ..ServiceAccount::default()
            },
        )
        .await
        .expect("service account created");
}

/// A token of `account` for `audience`, as the kubelet requests it for a projected volume.
async fn token_of(env: &Env, account: &str, audience: &str, seconds: i64) -> String {
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![audience.to_owned()],
            expiration_seconds: Some(seconds),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    Api::<ServiceAccount>::namespaced(env.client.clone(), env.ns())
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .expect("TokenRequest")
        .status
        .expect("status")
        .token
}

/// `token` with its signature made by another key: same header, same claims.
fn forged(token: &str) -> String {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (header, claims) = (parts.next().expect("header"), parts.next().expect("claims"));
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .expect("base64url claims"),
    )
    .expect("JSON claims");
    let header: jsonwebtoken::Header = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("base64url header"),
    )
    .expect("JSON header");
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        crate::emulator_support::key(3).private_pem.as_bytes(),
    )
    .expect("fixture key");
    jsonwebtoken::encode(&header, &claims, &key).expect("signed")
}

/// Writes `token` where a projected volume puts it: owner-only, no trailing newline.
fn token_file(dir: &Path, name: &str, token: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, token).expect("token file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("mode");
    path
}

/// Logs in with every connector, once per token file.
async fn logins(env: &Env, files: &[&Path]) -> Vec<(String, Vec<Login>)> {
    let specs: Vec<Value> = files
        .iter()
        .map(|file| json!({"wif_token_file": file}))
        .collect();
    connector_logins(&env.emulator, &specs)
        .await
        .into_iter()
        .map(|(connector, logins)| (connector.to_string(), logins))
        .collect()
}

fn logged_in() -> Login {
    Login::Ok {
        user: USER.into(),
        role: "ANALYST".into(),
    }
}

fn refused() -> Login {
    Login::Refused {
        errno: 390144,
        sqlstate: "28000".into(),
    }
}

fn spec(token_path: &Path) -> Value {
    json!({
        "defaultRole": "ANALYST",
        "roles": ["ANALYST"],
        "workloadIdentity": {
            "serviceAccounts": ["etl"],
            "configMap": {"tokenPath": token_path},
        },
    })
}

#[tokio::test]
async fn a_pod_token_of_a_trusted_service_account_logs_in_with_no_secret() {
    let env = Env::new("wif").await;
    trust_cluster_issuer(&env).await;
    env.ready_connection().await;
    service_account(&env, "etl").await;
    service_account(&env, "other").await;
    let dir = tempfile::tempdir().expect("a folder");
    let mounted = dir.path().join("token");
    env.ready_service_user("etl-user", spec(&mounted)).await;

    // The trust in force, in the status and in Snowflake.
    let user: SnowflakeServiceUser = env.api().get("etl-user").await.expect("user");
    let trust = user
        .status
        .and_then(|s| s.workload_identity)
        .expect("trust");
    let subject = format!("system:serviceaccount:{}:etl", env.ns());
    assert_eq!(trust.issuer, ISSUER, "discovered from the cluster");
    assert_eq!(trust.subjects, std::slice::from_ref(&subject));
    assert_eq!(trust.audiences, ["snowflakecomputing.com"]);
    assert_eq!(trust.identities, ["SFTO_ETL"]);
    assert_eq!(trust.config_map.as_deref(), Some("etl-user-snowflake"));
    let snapshot = env.emulator.snapshot();
    let identities = &snapshot
        .user(USER)
        .expect("user created")
        .workload_identities;
    assert_eq!(identities.len(), 1);
    assert_eq!(
        (
            identities[0].issuer.as_str(),
            identities[0].subject.as_str()
        ),
        (ISSUER, subject.as_str())
    );
    let added = env.wait_event("etl-user", "Created").await;
    assert!(added.contains("created"), "{added}");

    // The ConfigMap a pod mounts: its connections.toml is what the connector reads.
    let config: ConfigMap = env
        .api()
        .get("etl-user-snowflake")
        .await
        .expect("ConfigMap");
    let data = config.data.expect("data");
    assert_eq!(data["SNOWFLAKE_USER"], USER);
    assert_eq!(data["SNOWFLAKE_AUTHENTICATOR"], "WORKLOAD_IDENTITY");
    assert_eq!(data["SNOWFLAKE_WORKLOAD_IDENTITY_PROVIDER"], "OIDC");
    assert_eq!(
        data["SNOWFLAKE_TOKEN_FILE_PATH"],
        mounted.display().to_string()
    );
    assert_eq!(data["SNOWFLAKE_ROLE"], "ANALYST");
    let home = dir.path().join("snowflake-home");
    std::fs::create_dir(&home).expect("folder");
    std::fs::write(home.join("connections.toml"), &data["connections.toml"]).expect("file");

    let etl = token_of(&env, "etl", "snowflakecomputing.com", 600).await;
    token_file(dir.path(), "token", &etl);
    let other = token_file(
        dir.path(),
        "other",
        &token_of(&env, "other", "snowflakecomputing.com", 600).await,
    );
    let wrong_audience = token_file(
        dir.path(),
        "audience",
        &token_of(&env, "etl", ISSUER, 600).await,
    );
    let forged = token_file(dir.path(), "forged", &forged(&etl));
    let mut specs = vec![json!({"connection_name": "default", "snowflake_home": home})];
    specs.extend(
        [&mounted, &other, &wrong_audience, &forged]
            .iter()
            .map(|f| json!({"wif_token_file": f})),
    );
    for (connector, logins) in connector_logins(&env.emulator, &specs)
        .await
        .into_iter()
        .map(|(c, l)| (c.to_string(), l))
    {
        assert_eq!(
            logins,
            [logged_in(), logged_in(), refused(), refused(), refused()],
            "{connector}: the ConfigMap's connection and the trusted token log in; another \
             service account, another audience and a forged signature are refused"
        );
    }
    let secrets = Api::<Secret>::namespaced(env.client.clone(), env.ns())
        .list(&Default::default())
        .await
        .expect("Secrets");
    assert_eq!(
        secrets
            .items
            .iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect::<Vec<_>>(),
        ["snowflake-admin-key"],
        "no Secret but the operator's own admin key"
    );

    // Eleven minutes on the token (ten minutes long) has expired; a fresh one works.
    env.advance(SignedDuration::from_secs(11 * 60));
    let fresh = token_file(
        dir.path(),
        "fresh",
        &token_of(&env, "etl", "snowflakecomputing.com", 7200).await,
    );
    for (connector, logins) in logins(&env, &[&mounted, &fresh]).await {
        assert_eq!(
            logins,
            [refused(), logged_in()],
            "{connector}: expired, then fresh"
        );
    }

    // Removing the trust removes the identity and the ConfigMap; the token is refused.
    env.apply::<SnowflakeServiceUser>(service_user(
        "etl-user",
        json!({"defaultRole": "ANALYST", "roles": ["ANALYST"]}),
    ))
    .await;
    let user: SnowflakeServiceUser = env.wait_ready("etl-user", "True", None).await;
    assert_eq!(user.status.and_then(|s| s.workload_identity), None);
    assert!(
        env.emulator
            .snapshot()
            .user(USER)
            .expect("user")
            .workload_identities
            .is_empty(),
        "the identity is removed in Snowflake"
    );
    env.gone::<ConfigMap>("etl-user-snowflake").await;
    for (connector, logins) in logins(&env, &[&fresh]).await {
        assert_eq!(logins, [refused()], "{connector}: the trust is gone");
    }
}

#[tokio::test]
async fn drift_is_repaired_and_a_foreign_config_map_is_not_overwritten() {
    let env = Env::new("wif-drift").await;
    env.ready_connection().await;
    // Someone else's ConfigMap holds the default name.
    Api::<ConfigMap>::namespaced(env.client.clone(), env.ns())
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("etl-user-snowflake".into()),
                    ..ObjectMeta::default()
                },
                data: Some([("mine".to_owned(), "keep".to_owned())].into()),
                ..ConfigMap::default()
            },
        )
        .await
        .expect("ConfigMap");
    env.apply::<SnowflakeServiceUser>(service_user(
        "etl-user",
        json!({
            "roles": ["ANALYST"],
            "workloadIdentity": {
                "serviceAccounts": ["etl", "dbt.runner"],
                "audiences": ["sf-prod"],
                "issuer": "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
            },
        }),
    ))
    .await;
    let user: SnowflakeServiceUser = env
        .wait_ready("etl-user", "False", Some("ConfigMapConflict"))
        .await;
    let ready = user.status.expect("status").conditions;
    assert!(
        ready
            .iter()
            .any(|c| c.message.contains("etl-user-snowflake")
                && c.message.contains("configMap.name")),
        "{ready:?}"
    );
    let theirs: ConfigMap = env
        .api()
        .get("etl-user-snowflake")
        .await
        .expect("still there");
    assert_eq!(
        theirs.data.expect("data")["mine"],
        "keep",
        "not overwritten"
    );
    // The identities were converged all the same (the ConfigMap comes after).
    let names = || {
        let mut names: Vec<(String, String, Vec<String>)> = env
            .emulator
            .snapshot()
            .user(USER)
            .map(|u| {
                u.workload_identities
                    .iter()
                    .map(|w| (w.name.clone(), w.issuer.clone(), w.audiences.clone()))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let eks = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE".to_owned();
    assert_eq!(
        names(),
        [
            (
                "SFTO_DBT_RUNNER".to_owned(),
                eks.clone(),
                vec!["sf-prod".to_owned()]
            ),
            (
                "SFTO_ETL".to_owned(),
                eks.clone(),
                vec!["sf-prod".to_owned()]
            ),
        ]
    );

    // Another name for the ConfigMap: Ready.
    env.apply::<SnowflakeServiceUser>(service_user(
        "etl-user",
        json!({
            "roles": ["ANALYST"],
            "workloadIdentity": {
                "serviceAccounts": ["etl", "dbt.runner"],
                "audiences": ["sf-prod"],
                "issuer": eks,
                "configMap": {"name": "etl-connection"},
            },
        }),
    ))
    .await;
    env.wait_ready::<SnowflakeServiceUser>("etl-user", "True", None)
        .await;
    let config: ConfigMap = env.api().get("etl-connection").await.expect("ConfigMap");
    assert_eq!(
        config.data.expect("data")["SNOWFLAKE_TOKEN_FILE_PATH"],
        "/var/run/secrets/snowflake/token"
    );

    // An identity removed in Snowflake comes back at the periodic check.
    env.admin_sql("ALTER USER ETL_USER REMOVE WORKLOAD IDENTITY SFTO_ETL");
    env.advance(SignedDuration::from_hours(2));
    wait_for(PATIENCE, "SFTO_ETL added again", || async {
        (names().len() == 2).then_some(())
    })
    .await;
    let repaired = env.wait_event("etl-user", "Converged").await;
    assert!(
        repaired.contains("added workload identity SFTO_ETL"),
        "{repaired}"
    );
}
