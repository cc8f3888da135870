//! The typed operations: which statements they send, in which order, and how they read
//! the answers.

use secrecy::ExposeSecret;
use snowflake_token_operator::snowflake::{Category, DesiredUser, SnowflakeApi};

use crate::support::*;

const MISSING_USER: &str = r#"{"code":"002003","sqlState":"02000","message":"SQL compilation error:\nUser 'BI_SVC' does not exist or not authorized.","statementHandle":"01b-2"}"#;

fn ok_status() -> Step {
    Step::Reply(
        200,
        result_set(&["status"], r#"[["Statement executed successfully."]]"#),
    )
}

fn statements(script: &Script) -> Vec<String> {
    script
        .seen()
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            body["statement"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

fn desired() -> DesiredUser {
    DesiredUser {
        name: "BI_SVC".into(),
        default_role: Some("ANALYST".into()),
        default_warehouse: Some("BI_WH".into()),
        comment: Some("Power BI gateway".into()),
        roles: vec!["ANALYST".into(), "REPORTER".into()],
        network_policy: Some("BI_NP".into()),
        disabled: false,
        ..Default::default()
    }
}

#[tokio::test]
async fn converging_a_missing_user_creates_it_and_grants_its_roles() {
    let (base, script) = server(vec![
        Step::Reply(422, MISSING_USER.into()),
        ok_status(),
        ok_status(),
        ok_status(),
    ])
    .await;
    let (client, _) = connect(&base, fast_config());
    let changes = client.converge_service_user(&desired(), &[]).await.unwrap();
    assert!(changes.created);
    assert_eq!(changes.roles_granted, ["ANALYST", "REPORTER"]);
    assert_eq!(
        statements(&script),
        [
            r#"DESC USER "BI_SVC""#,
            r#"CREATE USER IF NOT EXISTS "BI_SVC" TYPE = SERVICE DEFAULT_ROLE = "ANALYST" DEFAULT_WAREHOUSE = "BI_WH" COMMENT = 'Power BI gateway' NETWORK_POLICY = "BI_NP" DISABLED = FALSE"#,
            r#"GRANT ROLE "ANALYST" TO USER "BI_SVC""#,
            r#"GRANT ROLE "REPORTER" TO USER "BI_SVC""#,
        ]
    );
}

#[tokio::test]
async fn converging_an_existing_user_repairs_drift_and_revokes_only_managed_roles() {
    let desc = result_set(
        &["property", "value", "default", "description"],
        r#"[["NAME","BI_SVC","null",""],
            ["DEFAULT_ROLE","ANALYST","null",""],
            ["DEFAULT_WAREHOUSE","OTHER_WH","null",""],
            ["DEFAULT_NAMESPACE","SANDBOX","null",""],
            ["COMMENT","Power BI gateway","null",""],
            ["NETWORK_POLICY","BI_NP","null",""],
            ["DISABLED","true","false",""]]"#,
    );
    let grants = result_set(
        &[
            "created_on",
            "role",
            "granted_to",
            "grantee_name",
            "granted_by",
        ],
        r#"[["1","ANALYST","USER","BI_SVC","SECURITYADMIN"],
            ["1","OLD_ROLE","USER","BI_SVC","SECURITYADMIN"],
            ["1","HAND_GRANTED","USER","BI_SVC","SECURITYADMIN"]]"#,
    );
    let (base, script) = server(vec![
        Step::Reply(200, desc),
        ok_status(),
        ok_status(),
        Step::Reply(200, grants),
        ok_status(),
        ok_status(),
    ])
    .await;
    let (client, _) = connect(&base, fast_config());
    let managed = vec!["ANALYST".to_owned(), "OLD_ROLE".to_owned()];
    let changes = client
        .converge_service_user(&desired(), &managed)
        .await
        .unwrap();
    assert!(!changes.created);
    assert_eq!(changes.properties_set, ["DEFAULT_WAREHOUSE", "DISABLED"]);
    assert_eq!(changes.properties_unset, ["DEFAULT_NAMESPACE"]);
    assert_eq!(changes.roles_granted, ["REPORTER"]);
    assert_eq!(changes.roles_revoked, ["OLD_ROLE"]);
    assert_eq!(
        statements(&script),
        [
            r#"DESC USER "BI_SVC""#,
            r#"ALTER USER "BI_SVC" SET DEFAULT_WAREHOUSE = "BI_WH" DISABLED = FALSE"#,
            r#"ALTER USER "BI_SVC" UNSET DEFAULT_NAMESPACE"#,
            r#"SHOW GRANTS TO USER "BI_SVC""#,
            r#"GRANT ROLE "REPORTER" TO USER "BI_SVC""#,
            r#"REVOKE ROLE "OLD_ROLE" FROM USER "BI_SVC""#,
        ]
    );
}

#[tokio::test]
async fn a_converged_user_needs_no_change() {
    let desc = result_set(
        &["property", "value"],
        r#"[["DEFAULT_ROLE","ANALYST"],["DEFAULT_WAREHOUSE","BI_WH"],["DEFAULT_NAMESPACE","null"],
            ["COMMENT","Power BI gateway"],["NETWORK_POLICY","BI_NP"],["DISABLED","false"]]"#,
    );
    let grants = result_set(&["role"], r#"[["ANALYST"],["REPORTER"]]"#);
    let (base, script) = server(vec![Step::Reply(200, desc), Step::Reply(200, grants)]).await;
    let (client, _) = connect(&base, fast_config());
    let changes = client
        .converge_service_user(&desired(), &["ANALYST".into()])
        .await
        .unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(script.seen().len(), 2);
}

#[tokio::test]
async fn rotation_is_one_statement_and_tells_when_snowflake_rotated() {
    let rotate = result_set(
        &["TOKEN_NAME", "TOKEN_SECRET", "ROTATED_TOKEN_NAME"],
        r#"[["PBI","new-secret","PBI_ROTATED_1744239049066"]]"#,
    );
    let (base, script) = server(vec![Step::Reply(200, rotate)]).await;
    let (client, _) = connect(&base, fast_config());
    let rotated = client.rotate_pat("BI_SVC", "pbi", 12).await.unwrap();
    assert_eq!(rotated.secret.expose_secret(), "new-secret");
    assert_eq!(rotated.rotated_token_name, "PBI_ROTATED_1744239049066");
    // Snowflake's clock, from the rotated-out name; no expiry in the answer.
    assert_eq!(
        rotated.rotated_at,
        Some("2025-04-09T22:50:49.066Z".parse().unwrap())
    );
    assert_eq!(rotated.expires_at, None);
    assert_eq!(
        statements(&script),
        [
            r#"ALTER USER "BI_SVC" ROTATE PROGRAMMATIC ACCESS TOKEN "PBI" EXPIRE_ROTATED_TOKEN_AFTER_HOURS = 12"#
        ]
    );
}

/// Adds the token PBI, answered with `answer`.
async fn add_pbi(
    answer: &str,
) -> snowflake_token_operator::snowflake::Result<snowflake_token_operator::snowflake::NewPat> {
    let (base, script) = server(vec![Step::Reply(200, answer.into())]).await;
    let (client, _) = connect(&base, fast_config());
    let spec = snowflake_token_operator::snowflake::AddPatRequest {
        name: "PBI".into(),
        ..Default::default()
    };
    let pat = client.add_pat("BI_SVC", &spec).await;
    assert_eq!(script.seen().len(), 1, "adding is one statement");
    pat
}

#[tokio::test]
async fn adding_is_one_statement_and_reads_an_expiry_only_if_answered() {
    let plain = add_pbi(&result_set(
        &["token_name", "token_secret"],
        r#"[["PBI","only-once"]]"#,
    ))
    .await
    .unwrap();
    assert_eq!(plain.secret.expose_secret(), "only-once");
    assert_eq!(plain.expires_at, None);

    let with_expiry = add_pbi(&result_set(
        &["token_name", "token_secret", "expires_at"],
        r#"[["PBI","only-once","1767225600.000000000"]]"#,
    ))
    .await
    .unwrap();
    assert_eq!(
        with_expiry.expires_at,
        Some("2026-01-01T00:00:00Z".parse().unwrap())
    );

    // An expiry that is there but unreadable is an error, not "no expiry".
    let garbled = add_pbi(&result_set(
        &["token_name", "token_secret", "expires_at"],
        r#"[["PBI","only-once","soon"]]"#,
    ))
    .await
    .unwrap_err();
    assert!(garbled.to_string().contains("expires_at"), "{garbled}");
}

#[tokio::test]
async fn removing_from_a_missing_user_counts_as_done_but_other_failures_do_not() {
    let (base, script) = server(vec![Step::Reply(422, MISSING_USER.into())]).await;
    let (client, _) = connect(&base, fast_config());
    client.remove_pat("BI_SVC", "PBI").await.unwrap();
    assert_eq!(
        statements(&script),
        [r#"ALTER USER "BI_SVC" REMOVE PROGRAMMATIC ACCESS TOKEN IF EXISTS "PBI""#]
    );

    let denied = r#"{"code":"003001","sqlState":"42501","message":"Insufficient privileges","statementHandle":"h"}"#;
    let (base, _) = server(vec![Step::Reply(422, denied.into())]).await;
    let (client, _) = connect(&base, fast_config());
    let err = client.remove_pat("BI_SVC", "PBI").await.unwrap_err();
    assert_eq!(err.category(), Category::PermissionDenied);
    let err = client.remove_pat("BI_SVC", "bad-name").await.unwrap_err();
    assert_eq!(err.category(), Category::InvalidInput);
}
