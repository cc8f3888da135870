//! What goes wrong: every refusal a user can cause has its own reason and says the fix;
//! nothing is minted for a spec that cannot be written; a Secret write that fails keeps
//! the minted value for the retry; an outage backs off; a crash between the statement and
//! the Secret write is repaired by a rotation that keeps the old value valid.

use jiff::SignedDuration;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use snowflake_token_operator::api::{SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken};
use snowflake_token_operator::emulator::{FaultKind, FaultSpec};

use crate::harness::{Env, PATIENCE, pat_token, service_user};
use crate::support::wait_for;

fn condition_message(token: &SnowflakeToken) -> String {
    token
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

/// A connection, user BI (with a network policy) and token `pbi` (30 days, restricted to
/// ANALYST, `extra` in its spec), all Ready, in a namespace of `prefix`.
async fn ready_pbi(prefix: &str, extra: serde_json::Value) -> Env {
    let env = Env::new(prefix).await;
    env.ready_connection().await;
    env.ready_service_user(
        "bi",
        json!({"roles": ["ANALYST"], "networkPolicy": "CORP_NP"}),
    )
    .await;
    env.apply::<SnowflakeToken>(pat_token(
        "pbi",
        json!({"serviceUserRef": {"name": "bi"}}),
        json!({"roleRestriction": "ANALYST", "daysToExpiry": 30}),
        extra,
    ))
    .await;
    env.wait_ready::<SnowflakeToken>("pbi", "True", None).await;
    env
}

#[tokio::test]
async fn every_refusal_a_user_can_cause_has_its_own_reason_and_fix() {
    let env = Env::new("pat-reasons").await;
    env.ready_connection().await;
    env.apply::<SnowflakeServiceUser>(service_user(
        "bi",
        json!({"roles": ["ANALYST"], "networkPolicy": "CORP_NP"}),
    ))
    .await;
    env.apply::<SnowflakeServiceUser>(service_user("nopolicy", json!({"roles": ["ANALYST"]})))
        .await;
    env.apply::<SnowflakeServiceUser>(service_user("jane", json!({"userName": "JANE_DOE"})))
        .await;
    env.wait_ready::<SnowflakeServiceUser>("bi", "True", None)
        .await;
    env.wait_ready::<SnowflakeServiceUser>("nopolicy", "True", None)
        .await;
    let bi = json!({"serviceUserRef": {"name": "bi"}});
    // name, user, PAT settings, reason, a word of the fix
    let table = [
        (
            "not-granted",
            bi.clone(),
            json!({"roleRestriction": "REPORTER"}),
            "RoleNotGranted",
            "grant the role",
        ),
        (
            "no-role",
            bi.clone(),
            json!({"roleRestriction": "GHOST_ROLE"}),
            "RoleNotFound",
            "create the role",
        ),
        (
            "unrestricted",
            bi.clone(),
            json!({}),
            "RoleRestrictionRequired",
            "roleRestriction",
        ),
        (
            "no-user",
            json!({"name": "GHOST"}),
            json!({"roleRestriction": "ANALYST"}),
            "UserNotFound",
            "create the user",
        ),
        (
            "no-policy",
            json!({"serviceUserRef": {"name": "nopolicy"}}),
            json!({"roleRestriction": "ANALYST"}),
            "NetworkPolicyRequired",
            "networkPolicy",
        ),
        (
            "person",
            json!({"serviceUserRef": {"name": "jane"}}),
            json!({"roleRestriction": "ANALYST"}),
            "ServiceUserNotReady",
            "UserNotService",
        ),
        (
            "no-such-user-ref",
            json!({"serviceUserRef": {"name": "nobody"}}),
            json!({"roleRestriction": "ANALYST"}),
            "ServiceUserNotReady",
            "not found",
        ),
    ];
    for (name, user, pat, _, _) in &table {
        env.apply::<SnowflakeToken>(pat_token(name, user.clone(), pat.clone(), json!({})))
            .await;
    }
    for (name, _, _, reason, fix) in &table {
        let token: SnowflakeToken = env.wait_ready(name, "False", Some(reason)).await;
        let message = condition_message(&token);
        assert!(message.contains(fix), "{name}: {message}");
        // Nothing was written: no Secret for a token that has no value.
        assert!(env.secret_data(name).await.is_none(), "{name}");
    }
    let failure = env.wait_event("not-granted", "RoleNotGranted").await;
    assert!(failure.contains("REPORTER"), "{failure}");
    assert_eq!(
        env.wait_event_type("not-granted", "RoleNotGranted").await,
        "Warning"
    );
    // Waiting on a user that is not Ready is news, not a second alarm: the user's own
    // event is the warning.
    assert_eq!(
        env.wait_event_type("no-such-user-ref", "ServiceUserNotReady")
            .await,
        "Normal"
    );
}

#[tokio::test]
async fn the_token_limit_is_reported_before_it_blocks_a_rotation() {
    let env = Env::new("pat-cap").await;
    env.ready_connection().await;
    env.ready_service_user(
        "full",
        json!({"roles": ["ANALYST"], "networkPolicy": "CORP_NP"}),
    )
    .await;
    // Someone else's 14 tokens on the user.
    for i in 0..14 {
        env.admin_sql(&format!(
            "ALTER USER FULL ADD PAT OTHER_{i} ROLE_RESTRICTION = 'ANALYST'"
        ));
    }
    env.apply::<SnowflakeToken>(pat_token(
        "last",
        json!({"serviceUserRef": {"name": "full"}}),
        json!({"roleRestriction": "ANALYST"}),
        json!({}),
    ))
    .await;
    env.wait_ready::<SnowflakeToken>("last", "True", Some("Minted"))
        .await;
    // The next periodic check sees 15 of 15: the rotation would fail, and it says so now.
    env.advance(SignedDuration::from_hours(2));
    let blocked = wait_for(PATIENCE, "RotationBlocked", || async {
        let token = env.api::<SnowflakeToken>().get("last").await.ok()?;
        token
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "RotationBlocked" && c.status == "True")
    })
    .await;
    assert_eq!(blocked.reason, "TokenLimitReached");
    assert!(
        blocked.message.contains("will still hold 15 of its 15"),
        "{}",
        blocked.message
    );
    // At the renewal time the rotation is refused with the same reason; the Secret keeps
    // its value.
    let value = env.wait_password("last", None).await;
    env.advance(SignedDuration::from_hours(11 * 24));
    env.wait_ready::<SnowflakeToken>("last", "False", Some("TokenLimitReached"))
        .await;
    assert_eq!(env.wait_password("last", None).await, value);
    assert!(env.pat_works(&value).await);
    // Room again: the rotation goes through and the warning goes away.
    env.admin_sql("ALTER USER FULL REMOVE PAT OTHER_0");
    env.advance(SignedDuration::from_hours(2));
    let token: SnowflakeToken = env.wait_ready("last", "True", Some("Rotated")).await;
    assert!(
        !token
            .status
            .expect("status")
            .conditions
            .iter()
            .any(|c| c.type_ == "RotationBlocked"),
    );
}

#[tokio::test]
async fn nothing_is_minted_for_a_secret_that_cannot_be_written() {
    let env = Env::new("pat-prevalidate").await;
    env.ready_connection().await;
    env.ready_service_user(
        "bi",
        json!({"roles": ["ANALYST"], "networkPolicy": "CORP_NP"}),
    )
    .await;
    // A Secret of that name that is not the operator's.
    env.apply::<k8s_openapi::api::core::v1::Secret>(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "taken"},
        "stringData": {"password": "someone else's"},
    }))
    .await;
    let bi = json!({"serviceUserRef": {"name": "bi"}});
    env.apply::<SnowflakeToken>(pat_token(
        "conflict",
        bi.clone(),
        json!({"roleRestriction": "ANALYST"}),
        json!({"secret": {"name": "taken"}}),
    ))
    .await;
    env.apply::<SnowflakeToken>(pat_token(
        "broken-template",
        bi,
        json!({"roleRestriction": "ANALYST"}),
        json!({"secret": {"template": {"profiles.yml": "user: {{ no_such_variable }}"}}}),
    ))
    .await;
    let conflict: SnowflakeToken = env
        .wait_ready("conflict", "False", Some("SecretConflict"))
        .await;
    assert!(condition_message(&conflict).contains("not managed by snowflake-token-operator"));
    let broken: SnowflakeToken = env
        .wait_ready("broken-template", "False", Some("InvalidSpec"))
        .await;
    assert!(condition_message(&broken).contains("profiles.yml"));
    assert!(
        env.pats_of("BI").is_empty(),
        "nothing minted: {:?}",
        env.pats_of("BI")
    );
    assert_eq!(
        env.secret_data("taken").await.expect("kept")["password"],
        "someone else's"
    );
}

/// A ValidatingAdmissionPolicy refusing the token's Secret in one namespace while the
/// namespace carries `deny-token-secrets=true`.
async fn deny_secret_writes(env: &Env) {
    deny_secret_writes_labelled(env, "snowflake-token-operator.io/token").await;
}

/// Refuses (in the test's namespace) every create and update of a Secret carrying the
/// label `label`, until [`allow_secret_writes`].
pub async fn deny_secret_writes_labelled(env: &Env, label: &str) {
    let policy = format!("deny-token-secrets-{}", env.ns());
    refuse_writes(
        env,
        &policy,
        json!({"apiGroups": [""], "apiVersions": ["v1"], "resources": ["secrets"]}),
        &format!("!has(object.metadata.labels) || !('{label}' in object.metadata.labels)"),
        "token Secrets are refused here (test)",
    )
    .await;
    // The API server loads policies asynchronously: wait until a probe is refused.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = env.api();
    let probe: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "probe", "labels": {label: "probe"}},
    }))
    .expect("probe");
    wait_for(PATIENCE, "the admission policy in force", || async {
        match secrets
            .create(
                &kube::api::PostParams {
                    dry_run: true,
                    ..Default::default()
                },
                &probe,
            )
            .await
        {
            Err(kube::Error::Api(status)) if status.message.contains("refused here") => Some(()),
            _ => None,
        }
    })
    .await;
}

/// Installs an admission policy `policy` (and its binding) refusing, in the test's
/// namespace, every create and update matching `rule` (`apiGroups`, `apiVersions`,
/// `resources`) for which the CEL `expression` is false, with `message`. The API server
/// loads it asynchronously: the caller waits until a probe is refused.
pub async fn refuse_writes(
    env: &Env,
    policy: &str,
    rule: serde_json::Value,
    expression: &str,
    message: &str,
) {
    let mut rule = rule;
    rule["operations"] = json!(["CREATE", "UPDATE"]);
    let params = PatchParams::apply("tests").force();
    let manifest = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [rule]},
            "validations": [{"expression": expression, "message": message}],
        },
    });
    Api::<k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy>::all(
        env.client.clone(),
    )
    .patch(policy, &params, &Patch::Apply(&manifest))
    .await
    .expect("policy");
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": policy},
        "spec": {
            "policyName": policy,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": env.ns(),
            }}},
        },
    });
    Api::<k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding>::all(
        env.client.clone(),
    )
    .patch(policy, &params, &Patch::Apply(&binding))
    .await
    .expect("binding");
}

pub async fn allow_secret_writes(env: &Env) {
    lift_refusal(env, &format!("deny-token-secrets-{}", env.ns())).await;
}

/// Removes the policy of [`refuse_writes`] and its binding.
pub async fn lift_refusal(env: &Env, policy: &str) {
    Api::<k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding>::all(
        env.client.clone(),
    )
    .delete(policy, &DeleteParams::default())
    .await
    .expect("binding deleted");
    Api::<k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy>::all(
        env.client.clone(),
    )
    .delete(policy, &DeleteParams::default())
    .await
    .expect("policy deleted");
}

#[tokio::test]
async fn a_failed_secret_write_is_retried_with_the_same_value() {
    let env = Env::new("pat-write-fails").await;
    env.ready_connection().await;
    env.ready_service_user(
        "bi",
        json!({"roles": ["ANALYST"], "networkPolicy": "CORP_NP"}),
    )
    .await;
    deny_secret_writes(&env).await;
    env.apply::<SnowflakeToken>(pat_token(
        "pbi",
        json!({"serviceUserRef": {"name": "bi"}}),
        json!({"roleRestriction": "ANALYST"}),
        json!({}),
    ))
    .await;
    // Several failed attempts (backoff: 0.2 s doubling to 2 s)...
    wait_for(PATIENCE, "three failed attempts", || async {
        let token = env.api::<SnowflakeToken>().get("pbi").await.ok()?;
        (token.status?.failure_count? >= 3).then_some(())
    })
    .await;
    let token = env
        .wait_ready::<SnowflakeToken>("pbi", "False", Some("KubernetesError"))
        .await;
    assert!(
        condition_message(&token).contains("refused here"),
        "{}",
        condition_message(&token)
    );
    // ...and still one token, never rotated: only the write is retried.
    let pats = env.pats_of("BI");
    assert_eq!(pats.len(), 1, "{pats:?}");
    let minted = pats[0].secret_sha256.clone();
    allow_secret_writes(&env).await;
    let value = env.wait_password("pbi", None).await;
    env.wait_ready::<SnowflakeToken>("pbi", "True", Some("Minted"))
        .await;
    assert!(env.pat_works(&value).await);
    let pats = env.pats_of("BI");
    assert_eq!(pats.len(), 1, "{pats:?}");
    assert_eq!(
        pats[0].secret_sha256, minted,
        "the value minted first is the one delivered"
    );
}

#[tokio::test]
async fn an_outage_backs_off_and_keeps_the_secret() {
    let env = ready_pbi("pat-outage", json!({})).await;
    let value = env.wait_password("pbi", None).await;
    // Snowflake answers 503 to everything for a long while; the rotation comes due.
    env.emulator.inject_fault(
        FaultSpec::new(FaultKind::ServiceUnavailable, 100_000).on_path("/api/v2/statements"),
    );
    let before = env.emulator.request_log().len();
    env.advance(SignedDuration::from_hours(21 * 24));
    // The token reports the outage itself, or through its connection or service user
    // (whichever is checked first after the clock jump).
    let token: SnowflakeToken = env.wait_ready("pbi", "False", None).await;
    let reason = token
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.reason.clone())
        .unwrap_or_default();
    assert!(
        [
            "SnowflakeUnavailable",
            "ConnectionNotReady",
            "ServiceUserNotReady"
        ]
        .contains(&reason.as_str()),
        "{reason}"
    );
    let message = condition_message(&token);
    assert!(message.contains("keeps its current value"), "{message}");
    // Watch it for a while: the failures are spaced by the backoff (0.2 s doubling to 2 s,
    // 3 client attempts each), not retried as fast as statuses are written.
    wait_for(PATIENCE, "five failed attempts", || async {
        let token = env.api::<SnowflakeToken>().get("pbi").await.ok()?;
        (token.status?.failure_count? >= 5).then_some(())
    })
    .await;
    let token = env.api::<SnowflakeToken>().get("pbi").await.expect("token");
    let failures = token.status.and_then(|s| s.failure_count).unwrap_or(0) as usize;
    let requests = env.emulator.request_log().len() - before;
    // Per failed attempt: up to 3 client attempts of one statement, plus the other
    // controllers' own (also backed-off) attempts; never dozens.
    assert!(
        requests <= (failures + 2) * 3 * 3,
        "{requests} Snowflake requests for {failures} attempts"
    );
    assert_eq!(
        env.wait_password("pbi", None).await,
        value,
        "the Secret keeps its value"
    );
    // Snowflake comes back: the rotation happens.
    env.emulator.emulator().clear_faults();
    env.resync();
    let rotated = env.wait_password("pbi", Some(&value)).await;
    env.wait_ready::<SnowflakeToken>("pbi", "True", Some("Rotated"))
        .await;
    assert!(env.pat_works(&rotated).await);
    assert!(
        env.pat_works(&value).await,
        "the old value keeps its grace period"
    );
    // The outage and the backoff are visible in the metrics.
    let metrics = env.metrics.encode();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("snowflake_requests_total{")
                && l.contains(r#"outcome="Unavailable""#)),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with(r#"snowflake_operator_failures_total{controller="token""#)),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_rotation_whose_value_never_reached_the_secret_is_repaired_by_rotating_again() {
    let mut env = Env::new("pat-crash").await;
    env.ready_connection().await;
    env.ready_service_user(
        "bi",
        json!({"roles": ["ANALYST"], "networkPolicy": "CORP_NP"}),
    )
    .await;
    env.apply::<SnowflakeToken>(pat_token(
        "pbi",
        json!({"serviceUserRef": {"name": "bi"}}),
        json!({"roleRestriction": "ANALYST"}),
        json!({}),
    ))
    .await;
    env.wait_ready::<SnowflakeToken>("pbi", "True", None).await;
    let value = env.wait_password("pbi", None).await;
    // What a crash right after Snowflake answered a ROTATE leaves behind: Snowflake holds
    // a new value (shown once, now lost), the Secret the old one.
    env.stop_operator().await;
    env.advance(SignedDuration::from_mins(1));
    env.admin_sql("ALTER USER BI ROTATE PAT PBI EXPIRE_ROTATED_TOKEN_AFTER_HOURS = 24");
    assert!(
        env.pat_works(&value).await,
        "the old value is in its grace period"
    );
    env.start_operator().await;
    // The first check after the start sees Snowflake's newer value and rotates again.
    let repaired = env.wait_password("pbi", Some(&value)).await;
    assert!(env.pat_works(&repaired).await);
    assert!(
        env.pat_works(&value).await,
        "consumers of the old value keep working"
    );
    let names: Vec<String> = env.pats_of("BI").into_iter().map(|p| p.name).collect();
    assert_eq!(names.iter().filter(|n| *n == "PBI").count(), 1, "{names:?}");
}

#[tokio::test]
async fn a_value_the_operator_cannot_try_from_its_address_is_used_with_a_warning() {
    let env = Env::new("pat-verify").await;
    env.ready_connection().await;
    // The user's policy admits 10.0.0.0/8 only: the operator (127.0.0.1) cannot log in.
    env.ready_service_user(
        "remote",
        json!({"roles": ["ANALYST"], "networkPolicy": "REMOTE_ONLY"}),
    )
    .await;
    env.apply::<SnowflakeToken>(pat_token(
        "remote",
        json!({"serviceUserRef": {"name": "remote"}}),
        json!({"roleRestriction": "ANALYST"}),
        json!({}),
    ))
    .await;
    env.wait_ready::<SnowflakeToken>("remote", "True", Some("Minted"))
        .await;
    let warning = env.wait_event("remote", "VerificationSkipped").await;
    assert!(warning.contains("network policy"), "{warning}");
    assert!(env.secret_data("remote").await.is_some());
}

#[tokio::test]
async fn an_admin_without_the_privilege_is_told_which_grant_is_missing() {
    let env = Env::new("pat-privileges").await;
    env.key_secret("weak-key", &crate::emulator_support::key(3).private_pem)
        .await;
    env.apply::<SnowflakeConnection>(json!({
        "apiVersion": "snowflake-token-operator.io/v1alpha1",
        "kind": "SnowflakeConnection",
        "metadata": {"name": "weak"},
        "spec": {
            "account": "myorg-test",
            "host": env.emulator.base_url(),
            "user": "WEAK_ADMIN",
            "role": "ANALYST",
            "auth": {"keyPair": {"privateKeySecretRef": {"name": "weak-key", "key": "rsa_key.p8"}}},
        }
    }))
    .await;
    env.wait_ready::<SnowflakeConnection>("weak", "True", None)
        .await;
    let mut token = pat_token(
        "pbi",
        json!({"name": "BI_SVC"}),
        json!({"roleRestriction": "ANALYST"}),
        json!({}),
    );
    token["spec"]["connectionRef"]["name"] = json!("weak");
    env.apply::<SnowflakeToken>(token).await;
    let refused: SnowflakeToken = env
        .wait_ready("pbi", "False", Some("InsufficientPrivileges"))
        .await;
    let message = condition_message(&refused);
    assert!(
        message.contains("MODIFY PROGRAMMATIC AUTHENTICATION METHODS"),
        "{message}"
    );
}

#[tokio::test]
async fn a_new_value_that_does_not_log_in_never_reaches_the_secret() {
    let env = Env::new("pat-verify").await;
    env.ready_connection().await;
    // A disabled user: Snowflake issues the token, but nobody can log in with it.
    let off = json!({"roles": ["ANALYST"], "networkPolicy": "CORP_NP", "disabled": true});
    env.ready_service_user("off", off).await;
    env.apply::<SnowflakeToken>(pat_token(
        "pbi",
        json!({"serviceUserRef": {"name": "off"}}),
        json!({"roleRestriction": "ANALYST"}),
        json!({}),
    ))
    .await;
    let token: SnowflakeToken = env
        .wait_ready("pbi", "False", Some("VerificationFailed"))
        .await;
    let message = condition_message(&token);
    assert!(message.contains("did not authenticate"), "{message}");
    assert!(
        env.secret_data("pbi").await.is_none(),
        "no unproven value is handed out"
    );
    assert_eq!(
        env.wait_event_type("pbi", "VerificationFailed").await,
        "Warning"
    );

    // The user is enabled again: the value Snowflake already issued is checked again and
    // delivered; no second token, no rotation.
    let on = json!({"roles": ["ANALYST"], "networkPolicy": "CORP_NP", "disabled": false});
    env.ready_service_user("off", on).await;
    let password = env.wait_password("pbi", None).await;
    env.wait_ready::<SnowflakeToken>("pbi", "True", Some("Minted"))
        .await;
    assert!(env.pat_works(&password).await);
    let names: Vec<String> = env.pats_of("OFF").into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["PBI"]);
}

#[tokio::test]
async fn a_deletion_retried_through_an_outage_is_one_event_counted_not_one_per_retry() {
    let env = ready_pbi("pat-delete-outage", json!({"deletionPolicy": "Delete"})).await;
    env.emulator.inject_fault(
        FaultSpec::new(FaultKind::ServiceUnavailable, 100_000).on_path("/api/v2/statements"),
    );
    env.api::<SnowflakeToken>()
        .delete("pbi", &DeleteParams::default())
        .await
        .expect("delete");
    // Every retry of the revocation fails the same way: one Warning, its count growing.
    let events: Api<k8s_openapi::api::events::v1::Event> = env.api();
    wait_for(
        PATIENCE,
        "the failed revocation counted as a series",
        || async {
            let warnings: Vec<_> = events
                .list(&Default::default())
                .await
                .ok()?
                .items
                .into_iter()
                .filter(|e| {
                    e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("pbi")
                        && e.action.as_deref() == Some("Delete")
                        && e.type_.as_deref() == Some("Warning")
                })
                .collect();
            assert!(
                warnings.len() <= 1,
                "one event per repeated failure: {warnings:?}"
            );
            (warnings.first()?.series.as_ref()?.count >= 3).then_some(())
        },
    )
    .await;
    // Snowflake comes back: the token is revoked and released.
    env.emulator.emulator().clear_faults();
    env.wait_event("pbi", "Revoked").await;
    wait_for(PATIENCE, "the token gone", || async {
        env.api::<SnowflakeToken>()
            .get_opt("pbi")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}
