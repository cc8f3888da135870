//! SnowflakeToken, PAT side: minted into a Secret that logs in, rotated with the old value
//! still valid for the grace period, repaired, rotated on request exactly once, never
//! re-enabled when disabled, minted again when removed, revoked on delete.

use jiff::SignedDuration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use snowflake_token_operator::api::SnowflakeToken;

use crate::harness::{Env, PATIENCE, pat_token};
use crate::support::api_faults::Writes;
use crate::support::wait_for;

/// A connection, a service user `bi` (BI) with ANALYST and a network policy.
async fn ready_user(env: &Env) {
    env.ready_connection().await;
    env.ready_service_user(
        "bi",
        json!({"roles": ["ANALYST"], "defaultRole": "ANALYST", "networkPolicy": "CORP_NP"}),
    )
    .await;
}

/// [`ready_user`] and a Ready PAT token `pbi` of it (role ANALYST); returns its value.
async fn ready_pbi(env: &Env) -> String {
    ready_user(env).await;
    env.apply::<SnowflakeToken>(pat_token(
        "pbi",
        bi(),
        json!({"roleRestriction": "ANALYST"}),
        json!({}),
    ))
    .await;
    env.wait_ready::<SnowflakeToken>("pbi", "True", None).await;
    env.wait_password("pbi", None).await
}

fn bi() -> serde_json::Value {
    json!({"serviceUserRef": {"name": "bi"}})
}

pub fn deployment(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
            },
        },
    })
}

pub async fn restarted_at(env: &Env, name: &str) -> Option<String> {
    let deployment = env.api::<Deployment>().get(name).await.expect("deployment");
    deployment
        .spec?
        .template
        .metadata?
        .annotations?
        .get("snowflake-token-operator.io/restarted-at")
        .cloned()
}

#[tokio::test]
async fn a_pat_is_minted_into_a_secret_and_rotated_with_overlap() {
    let env = Env::new("pat-rotate").await;
    ready_user(&env).await;
    env.apply::<Deployment>(deployment("gateway")).await;
    env.apply::<SnowflakeToken>(pat_token(
        "pbi",
        bi(),
        json!({"roleRestriction": "analyst", "daysToExpiry": 30, "rotatedTokenGracePeriodHours": 24}),
        json!({"rolloutRestartTargets": [{"kind": "Deployment", "name": "gateway"}]}),
    ))
    .await;
    let token: SnowflakeToken = env.wait_ready("pbi", "True", Some("Minted")).await;
    let status = token.status.expect("status");
    assert_eq!(status.token_name.as_deref(), Some("PBI"));
    assert_eq!(status.user_name.as_deref(), Some("BI"));
    assert_eq!(status.secret_name.as_deref(), Some("pbi"));
    let expires = status.expires_at.expect("expiry").0;
    let renewal = status.renewal_time.expect("renewal").0;
    // Renewal at two thirds of the lifetime, moved earlier by at most an hour of jitter.
    let before = expires.duration_since(renewal);
    assert!(
        before >= SignedDuration::from_hours(240) && before <= SignedDuration::from_hours(241),
        "{before:?}"
    );
    let data = env.secret_data("pbi").await.expect("secret");
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["account", "expires_at", "host", "password", "username"]
    );
    assert_eq!(data["username"], "BI");
    let first = data["password"].clone();
    assert!(env.pat_works(&first).await, "the minted value logs in");
    env.wait_event("pbi", "Minted").await;
    let first_restart = restarted_at(&env, "gateway").await.expect("restarted once");

    // 21 days later the rotation is due.
    env.advance(SignedDuration::from_hours(21 * 24));
    let second = env.wait_password("pbi", Some(&first)).await;
    let rotated: SnowflakeToken = env.wait_ready("pbi", "True", Some("Rotated")).await;
    assert!(env.pat_works(&second).await, "the new value logs in");
    assert!(
        env.pat_works(&first).await,
        "the old value keeps working during the grace period"
    );
    let pats = env.pats_of("BI");
    assert_eq!(pats.len(), 2, "{pats:?}");
    assert!(pats.iter().any(|p| p.name.starts_with("PBI_ROTATED_")));
    let status = rotated.status.expect("status");
    assert!(
        status.last_rotation_time.expect("rotated").0
            > expires - SignedDuration::from_hours(11 * 24)
    );
    env.wait_event("pbi", "Rotated").await;
    // The workload was restarted for the new value, once.
    let second_restart = restarted_at(&env, "gateway").await.expect("restarted");
    assert_ne!(first_restart, second_restart);

    // After the grace period only the new value works, and the expired companion is
    // removed at the next check.
    env.advance(SignedDuration::from_hours(25));
    assert!(
        !env.pat_works(&first).await,
        "the old value expired with its grace period"
    );
    assert!(env.pat_works(&second).await);
    env.advance(SignedDuration::from_hours(2));
    wait_for(PATIENCE, "the expired companion removed", || async {
        (env.pats_of("BI").len() == 1).then_some(())
    })
    .await;
    assert_eq!(restarted_at(&env, "gateway").await, Some(second_restart));
}

#[tokio::test]
async fn a_deleted_or_edited_secret_gets_a_new_value() {
    let env = Env::new("pat-repair").await;
    let first = ready_pbi(&env).await;

    env.delete::<Secret>("pbi").await;
    let second = env.wait_password("pbi", Some(&first)).await;
    assert!(env.pat_works(&second).await);
    env.wait_event("pbi", "SecretRepaired").await;

    let edit = json!({"stringData": {"password": "typed-by-hand"}});
    env.api::<Secret>()
        .patch("pbi", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .expect("edited");
    let third = wait_for(PATIENCE, "a new value after the edit", || async {
        let password = env.secret_data("pbi").await?.get("password")?.clone();
        (password != "typed-by-hand" && password != second).then_some(password)
    })
    .await;
    assert!(env.pat_works(&third).await);
    // Still one token name in Snowflake (rotations, never a second token).
    let names: Vec<String> = env
        .pats_of("BI")
        .into_iter()
        .map(|p| p.name)
        .filter(|n| !n.contains("_ROTATED_"))
        .collect();
    assert_eq!(names, ["PBI"]);
}

#[tokio::test]
async fn the_rotate_annotation_rotates_exactly_once_and_a_restart_rotates_nothing() {
    let mut env = Env::new("pat-manual").await;
    let first = ready_pbi(&env).await;

    let annotate = |value: &str| json!({"metadata": {"annotations": {"snowflake-token-operator.io/rotate": value}}});
    let before = env.emulator.request_log().len();
    env.api::<SnowflakeToken>()
        .patch(
            "pbi",
            &PatchParams::default(),
            &Patch::Merge(&annotate("2026-12-01T10:00:00Z")),
        )
        .await
        .expect("annotated");
    let second = env.wait_password("pbi", Some(&first)).await;
    let token: SnowflakeToken = env.wait_ready("pbi", "True", Some("Rotated")).await;
    // The minimum: one ROTATE and the one login that checks the new value before the
    // swap; no read-back of the expiry. (The connection and the service user may be
    // checked meanwhile: those statements are not the rotation's.)
    let statements: Vec<(String, String)> = env.emulator.request_log()[before..]
        .iter()
        .filter(|r| r.user == "BI" || r.statement.contains("PAT"))
        .map(|r| (r.user.clone(), r.statement.clone()))
        .collect();
    assert_eq!(
        statements,
        [
            (
                "OPERATOR_ADMIN".to_owned(),
                "ALTER USER ROTATE PAT".to_owned()
            ),
            ("BI".to_owned(), "SELECT".to_owned())
        ]
    );
    assert_eq!(
        token.status.expect("status").last_rotate_request.as_deref(),
        Some("2026-12-01T10:00:00Z")
    );
    // Reconciling again, and restarting the operator, rotates nothing.
    env.resync();
    env.start_operator().await;
    env.resync();
    env.wait_ready::<SnowflakeToken>("pbi", "True", None).await;
    let rotations = env
        .pats_of("BI")
        .iter()
        .filter(|p| p.name.contains("_ROTATED_"))
        .count();
    assert_eq!(rotations, 1);
    assert_eq!(env.wait_password("pbi", None).await, second);
}

#[tokio::test]
async fn a_restart_after_the_secret_write_and_before_the_status_write_rotates_nothing() {
    let mut env = Env::new("pat-status-lost").await;
    let first = ready_pbi(&env).await;
    // The rotation's status write never gets through; the operator stops with the new
    // value in the Secret and the status still saying nothing of the request.
    env.api_faults.fail(Writes::Statuses, 500, u32::MAX);
    let patch = json!({"metadata": {"annotations": {
        "snowflake-token-operator.io/rotate": "2026-12-01T10:00:00Z",
    }}});
    env.api::<SnowflakeToken>()
        .patch("pbi", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotated");
    let second = env.wait_password("pbi", Some(&first)).await;
    env.stop_operator().await;
    env.api_faults.clear();
    let token = env.api::<SnowflakeToken>().get("pbi").await.expect("token");
    assert_eq!(token.status.expect("status").last_rotate_request, None);

    // A new process: the Secret says which request its value answers.
    env.start_operator().await;
    let token = wait_for(PATIENCE, "the status caught up", || async {
        let token = env.api::<SnowflakeToken>().get("pbi").await.ok()?;
        (token.status.as_ref()?.last_rotate_request.as_deref() == Some("2026-12-01T10:00:00Z"))
            .then_some(token)
    })
    .await;
    assert!(token.status.is_some());
    assert_eq!(env.wait_password("pbi", None).await, second);
    let rotated = env
        .pats_of("BI")
        .iter()
        .filter(|p| p.name.contains("_ROTATED_"))
        .count();
    assert_eq!(rotated, 1, "one rotation for one request");
}

#[tokio::test]
async fn a_disabled_token_is_never_re_enabled_and_replaced_on_request() {
    let env = Env::new("pat-disabled").await;
    let first = ready_pbi(&env).await;
    env.apply::<SnowflakeToken>(pat_token(
        "auto",
        bi(),
        json!({"roleRestriction": "ANALYST", "onDisabled": "Replace"}),
        json!({}),
    ))
    .await;
    env.wait_ready::<SnowflakeToken>("auto", "True", None).await;
    let auto_first = env.wait_password("auto", None).await;

    // Snowflake disables both (as after finding them in a public repository).
    env.admin_sql("ALTER USER BI MODIFY PAT PBI SET DISABLED = TRUE");
    env.admin_sql("ALTER USER BI MODIFY PAT AUTO SET DISABLED = TRUE");
    env.advance(SignedDuration::from_hours(2));
    let token: SnowflakeToken = env.wait_ready("pbi", "False", Some("TokenDisabled")).await;
    let message = &token.status.expect("status").conditions[0].message;
    assert!(
        message.contains("snowflake-token-operator rotate pbi"),
        "{message}"
    );
    env.wait_event("pbi", "TokenDisabled").await;
    let pbi = env
        .pats_of("BI")
        .into_iter()
        .find(|p| p.name == "PBI")
        .expect("PBI");
    assert_eq!(pbi.status.as_str(), "DISABLED", "never re-enabled");
    // `onDisabled: Replace` got a new value at once.
    let auto_second = env.wait_password("auto", Some(&auto_first)).await;
    assert!(env.pat_works(&auto_second).await);

    // A person looks into it and asks for a replacement.
    env.api::<SnowflakeToken>()
        .patch(
            "pbi",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {"snowflake-token-operator.io/rotate": "after-incident"}}})),
        )
        .await
        .expect("annotated");
    let second = env.wait_password("pbi", Some(&first)).await;
    env.wait_ready::<SnowflakeToken>("pbi", "True", None).await;
    assert!(env.pat_works(&second).await);
    assert!(!env.pat_works(&first).await);
}

#[tokio::test]
async fn a_token_removed_in_snowflake_is_minted_again() {
    let env = Env::new("pat-removed").await;
    let first = ready_pbi(&env).await;
    env.admin_sql("ALTER USER BI REMOVE PAT PBI");
    env.advance(SignedDuration::from_hours(2));
    let second = env.wait_password("pbi", Some(&first)).await;
    assert!(env.pat_works(&second).await);
}

#[tokio::test]
async fn delete_revokes_the_token_and_its_rotated_values_and_retain_keeps_it() {
    let env = Env::new("pat-delete").await;
    ready_user(&env).await;
    env.apply::<SnowflakeToken>(pat_token(
        "gone",
        bi(),
        json!({"roleRestriction": "ANALYST"}),
        json!({}),
    ))
    .await;
    env.apply::<SnowflakeToken>(pat_token(
        "kept",
        bi(),
        json!({"roleRestriction": "ANALYST"}),
        json!({"deletionPolicy": "Retain"}),
    ))
    .await;
    env.wait_ready::<SnowflakeToken>("gone", "True", None).await;
    env.wait_ready::<SnowflakeToken>("kept", "True", None).await;
    let gone = env.wait_password("gone", None).await;
    let kept = env.wait_password("kept", None).await;
    // One rotation, so that a rotated-out value exists too.
    env.api::<SnowflakeToken>()
        .patch(
            "gone",
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"metadata": {"annotations": {"snowflake-token-operator.io/rotate": "1"}}}),
            ),
        )
        .await
        .expect("annotated");
    let gone_second = env.wait_password("gone", Some(&gone)).await;

    env.delete::<SnowflakeToken>("gone").await;
    env.delete::<SnowflakeToken>("kept").await;
    env.gone::<SnowflakeToken>("gone").await;
    env.gone::<SnowflakeToken>("kept").await;
    assert!(!env.pat_works(&gone).await, "rotated-out value revoked");
    assert!(!env.pat_works(&gone_second).await, "current value revoked");
    assert!(env.pat_works(&kept).await, "Retain leaves the token");
    let names: Vec<String> = env.pats_of("BI").into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["KEPT"]);
    env.wait_event("gone", "Revoked").await;
    // The retained Secret outlives its token (no owner reference).
    assert!(env.secret_data("kept").await.is_some());
}

#[tokio::test]
async fn a_steady_state_reconcile_makes_no_writes() {
    let env = Env::new("pat-noop").await;
    ready_pbi(&env).await;
    // Let the reconcile triggered by its own Secret write finish.
    let settled = || async {
        let before = env.requests.writes().len();
        env.resync();
        // A full pass over every resource, observed through the reconcile counter.
        let reconciles = |metrics: &str| {
            metrics
                .lines()
                .filter(|l| {
                    l.starts_with("snowflake_operator_reconciles_total{controller=\"token\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum::<u64>()
        };
        let start = reconciles(&env.metrics.encode());
        wait_for(PATIENCE, "a reconcile pass", || async {
            (reconciles(&env.metrics.encode()) > start).then_some(())
        })
        .await;
        env.requests.writes().len() - before
    };
    let _ = settled().await;
    for _ in 0..3 {
        let writes = settled().await;
        assert_eq!(
            writes,
            0,
            "writes in a no-op pass: {:?}",
            env.requests.writes()
        );
    }
}
