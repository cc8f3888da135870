//! SnowflakeServiceUser: created TYPE = SERVICE, converged, drift repaired, never adopting
//! someone else's user, dropped only with deletionPolicy Delete.

use jiff::SignedDuration;
use serde_json::json;
use snowflake_token_operator::api::{SnowflakeConnection, SnowflakeServiceUser};

use crate::harness::{Env, service_user};

#[tokio::test]
async fn a_service_user_is_created_converged_and_repaired() {
    let env = Env::new("user-converge").await;
    env.ready_connection().await;
    env.apply::<SnowflakeServiceUser>(service_user(
        "dbt-prod",
        json!({
            "defaultRole": "analyst",
            "defaultWarehouse": "TRANSFORM_WH",
            "comment": "dbt in production",
            "roles": ["ANALYST", "LOADER"],
            "networkPolicy": "CORP_NP",
        }),
    ))
    .await;
    let user: SnowflakeServiceUser = env.wait_ready("dbt-prod", "True", Some("Converged")).await;
    let status = user.status.expect("status");
    assert_eq!(status.user_name.as_deref(), Some("DBT_PROD"));
    assert_eq!(status.granted_roles, ["ANALYST", "LOADER"]);
    let snapshot = env.emulator.snapshot();
    let created = snapshot.user("DBT_PROD").expect("user created");
    assert_eq!(created.user_type, "SERVICE");
    assert_eq!(created.default_role.as_deref(), Some("ANALYST"));
    assert_eq!(created.network_policy.as_deref(), Some("CORP_NP"));
    assert!(created.roles.contains(&"LOADER".to_owned()));
    let created = env.wait_event("dbt-prod", "Created").await;
    assert_eq!(
        created,
        "Created: user DBT_PROD created, granted ANALYST, LOADER"
    );

    // Someone changes the user in Snowflake: the periodic check repairs it.
    env.admin_sql("ALTER USER DBT_PROD SET DEFAULT_WAREHOUSE = OTHER_WH COMMENT = 'hand-edited'");
    env.admin_sql("REVOKE ROLE LOADER FROM USER DBT_PROD");
    env.advance(SignedDuration::from_hours(2));
    crate::support::wait_for(crate::harness::PATIENCE, "drift repaired", || async {
        let snapshot = env.emulator.snapshot();
        let user = snapshot.user("DBT_PROD")?;
        (user.default_warehouse.as_deref() == Some("TRANSFORM_WH")
            && user.comment.as_deref() == Some("dbt in production")
            && user.roles.contains(&"LOADER".to_owned()))
        .then_some(())
    })
    .await;

    // A role dropped from the spec is revoked; one granted by someone else stays.
    env.admin_sql("GRANT ROLE REPORTER TO USER DBT_PROD");
    env.apply::<SnowflakeServiceUser>(service_user(
        "dbt-prod",
        json!({
            "defaultRole": "analyst",
            "defaultWarehouse": "TRANSFORM_WH",
            "comment": "dbt in production",
            "roles": ["ANALYST"],
            "networkPolicy": "CORP_NP",
        }),
    ))
    .await;
    crate::support::wait_for(crate::harness::PATIENCE, "LOADER revoked", || async {
        let snapshot = env.emulator.snapshot();
        let user = snapshot.user("DBT_PROD")?;
        (!user.roles.contains(&"LOADER".to_owned())).then(|| user.roles.clone())
    })
    .await;
    let roles = env
        .emulator
        .snapshot()
        .user("DBT_PROD")
        .expect("user")
        .roles
        .clone();
    assert!(roles.contains(&"REPORTER".to_owned()), "{roles:?}");

    // Dropped outside: created again.
    env.admin_sql("DROP USER DBT_PROD");
    env.advance(SignedDuration::from_hours(2));
    crate::support::wait_for(crate::harness::PATIENCE, "user recreated", || async {
        env.emulator.snapshot().user("DBT_PROD").map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn a_user_that_is_not_a_service_user_is_never_adopted() {
    let env = Env::new("user-person").await;
    env.ready_connection().await;
    env.apply::<SnowflakeServiceUser>(service_user(
        "jane",
        json!({"userName": "JANE_DOE", "comment": "take over"}),
    ))
    .await;
    let user: SnowflakeServiceUser = env
        .wait_ready("jane", "False", Some("UserNotService"))
        .await;
    let message = &user.status.expect("status").conditions[0].message;
    assert!(message.contains("TYPE = PERSON"), "{message}");
    let snapshot = env.emulator.snapshot();
    assert_eq!(snapshot.user("JANE_DOE").expect("user").comment, None);
}

#[tokio::test]
async fn deletion_policy_decides_whether_the_user_is_dropped() {
    let env = Env::new("user-delete").await;
    env.ready_connection().await;
    env.apply::<SnowflakeServiceUser>(service_user("kept", json!({})))
        .await;
    env.apply::<SnowflakeServiceUser>(service_user("dropped", json!({"deletionPolicy": "Delete"})))
        .await;
    let kept: SnowflakeServiceUser = env.wait_ready("kept", "True", None).await;
    let dropped: SnowflakeServiceUser = env.wait_ready("dropped", "True", None).await;
    // A finalizer only where it is needed.
    assert!(kept.metadata.finalizers.unwrap_or_default().is_empty());
    assert_eq!(
        dropped.metadata.finalizers.unwrap_or_default(),
        ["snowflake-token-operator.io/cleanup"]
    );
    env.delete::<SnowflakeServiceUser>("kept").await;
    env.delete::<SnowflakeServiceUser>("dropped").await;
    env.gone::<SnowflakeServiceUser>("kept").await;
    env.gone::<SnowflakeServiceUser>("dropped").await;
    let snapshot = env.emulator.snapshot();
    assert!(snapshot.user("KEPT").is_some());
    assert!(snapshot.user("DROPPED").is_none());
}

#[tokio::test]
async fn deleting_a_user_whose_connection_is_gone_does_not_wedge() {
    let mut env = Env::new("user-orphan").await;
    env.ready_connection().await;
    env.apply::<SnowflakeServiceUser>(service_user("orphan", json!({"deletionPolicy": "Delete"})))
        .await;
    env.wait_ready::<SnowflakeServiceUser>("orphan", "True", None)
        .await;
    // A fresh operator process (no client cached) and no connection any more.
    env.stop_operator().await;
    env.delete::<SnowflakeConnection>("snowflake").await;
    env.start_operator().await;
    env.delete::<SnowflakeServiceUser>("orphan").await;
    env.gone::<SnowflakeServiceUser>("orphan").await;
    let event = env.wait_event("orphan", "CleanupAbandoned").await;
    assert!(event.contains("by hand"), "{event}");
}

#[tokio::test]
async fn a_refusal_without_a_reason_of_its_own_is_snowflake_rejected_with_its_text() {
    let env = Env::new("user-rejected").await;
    env.ready_connection().await;
    env.apply::<SnowflakeServiceUser>(service_user(
        "etl",
        json!({"networkPolicy": "NO_SUCH_POLICY"}),
    ))
    .await;
    let user: SnowflakeServiceUser = env
        .wait_ready("etl", "False", Some("SnowflakeRejected"))
        .await;
    let message = &user.status.expect("status").conditions[0].message;
    // Snowflake's own words reach the user, with what the operator was doing.
    assert!(message.contains("NO_SUCH_POLICY"), "{message}");
    assert!(message.contains("does not exist"), "{message}");
    // Fixed in the spec: converged.
    env.apply::<SnowflakeServiceUser>(service_user("etl", json!({"networkPolicy": "CORP_NP"})))
        .await;
    env.wait_ready::<SnowflakeServiceUser>("etl", "True", None)
        .await;
    let snapshot = env.emulator.snapshot();
    assert_eq!(
        snapshot
            .user("ETL")
            .expect("user")
            .network_policy
            .as_deref(),
        Some("CORP_NP")
    );
}

/// Text a user may put in a comment that breaks naive quoting: quotes, backslashes, a
/// statement separator and a second statement, comment markers, dollar quotes, a
/// newline, and characters outside ASCII; padded to the field's maximum of 1,024.
fn hostile_comment(tag: &str) -> String {
    let mut text = format!(
        "{tag}: it's \"quoted\" \\' \\\\ back\\slash'; DROP USER JANE_DOE; -- rest\n\
         /* block */ $$ dollar $$ ünïcødé 日本語 🎉 '' \\x00 %s {{{{x}}}}"
    );
    while text.chars().count() < 1024 {
        text.push('·');
    }
    text
}

#[tokio::test]
async fn hostile_text_reaches_snowflake_exactly_as_written_in_one_statement() {
    let env = Env::new("user-hostile").await;
    env.ready_connection().await;
    let comment = hostile_comment("user");
    // The longest identifiers the rules allow, with the `$` Snowflake accepts.
    let warehouse = format!("W$_{}", "X$".repeat(126));
    assert_eq!(warehouse.len(), 255);
    env.apply::<SnowflakeServiceUser>(service_user(
        "hostile",
        json!({
            "comment": comment,
            "defaultWarehouse": warehouse,
            "roles": ["ANALYST"],
            "networkPolicy": "CORP_NP",
        }),
    ))
    .await;
    env.wait_ready::<SnowflakeServiceUser>("hostile", "True", Some("Converged"))
        .await;
    let pat_comment = hostile_comment("token");
    env.apply::<snowflake_token_operator::api::SnowflakeToken>(crate::harness::pat_token(
        "hostile-pat",
        json!({"serviceUserRef": {"name": "hostile"}}),
        json!({"roleRestriction": "ANALYST", "comment": pat_comment}),
        json!({}),
    ))
    .await;
    env.wait_ready::<snowflake_token_operator::api::SnowflakeToken>("hostile-pat", "True", None)
        .await;

    let snapshot = env.emulator.snapshot();
    let user = snapshot.user("HOSTILE").expect("user created");
    assert_eq!(user.comment.as_deref(), Some(comment.as_str()));
    assert_eq!(user.default_warehouse.as_deref(), Some(warehouse.as_str()));
    assert_eq!(user.pats.len(), 1);
    assert_eq!(user.pats[0].comment.as_deref(), Some(pat_comment.as_str()));
    // Nothing after a quote ran as a statement of its own.
    assert!(snapshot.user("JANE_DOE").is_some(), "JANE_DOE was dropped");
    let statements = env.emulator.emulator().stats().statements.clone();
    assert!(
        !statements.keys().any(|k| k.starts_with("DROP")),
        "{statements:?}"
    );
    // What Snowflake gives back compares equal to what was asked: a drift check finds
    // nothing to change.
    let altered = |env: &Env| {
        env.emulator
            .emulator()
            .stats()
            .statements
            .iter()
            .filter(|(k, _)| k.starts_with("ALTER USER") && !k.contains("PAT"))
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    let before = altered(&env);
    let checks = env.emulator.request_log().len();
    env.advance(SignedDuration::from_hours(2));
    crate::support::wait_for(crate::harness::PATIENCE, "a drift check", || async {
        let log = env.emulator.request_log();
        log[checks..]
            .iter()
            .any(|e| e.statement.starts_with("DESCRIBE USER") || e.statement.starts_with("SHOW"))
            .then_some(())
    })
    .await;
    env.wait_ready::<SnowflakeServiceUser>("hostile", "True", Some("Converged"))
        .await;
    assert_eq!(altered(&env), before, "the drift check changed the user");
}
