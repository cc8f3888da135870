//! Every typed operation of the client against the emulator, checked in the emulator's
//! state (never through the client alone).

use jiff::SignedDuration;
use secrecy::ExposeSecret;
use snowflake_token_operator::snowflake::{
    AddPatRequest, Category, DesiredUser, Error, PatStatus, SnowflakeApi, WorkloadIdentity,
};

use crate::support::{admin_client, by_hand, pat_client, start};

fn desired() -> DesiredUser {
    DesiredUser {
        name: "ETL_SVC".into(),
        default_role: Some("ANALYST".into()),
        default_warehouse: Some("ETL_WH".into()),
        default_namespace: Some("ANALYTICS.PUBLIC".into()),
        comment: Some("managed by snowflake-token-operator".into()),
        roles: vec!["ANALYST".into(), "LOADER".into()],
        network_policy: Some("CORP_NP".into()),
        disabled: false,
        workload_identities: Vec::new(),
        manage_workload_identities: false,
    }
}

const ISSUER: &str = "https://oidc.cluster.test";

fn identity(account: &str, audiences: &[&str]) -> WorkloadIdentity {
    WorkloadIdentity {
        name: format!("SFTO_{}", account.to_ascii_uppercase()),
        issuer: ISSUER.into(),
        subject: format!("system:serviceaccount:data:{account}"),
        audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
    }
}

/// `(name, subject, audiences)` of the user's workload identities, in Snowflake.
fn identities_of(
    running: &snowflake_token_operator::emulator::RunningEmulator,
) -> Vec<(String, String, Vec<String>)> {
    running
        .snapshot()
        .user("ETL_SVC")
        .expect("user")
        .workload_identities
        .iter()
        .map(|w| (w.name.clone(), w.subject.clone(), w.audiences.clone()))
        .collect()
}

#[tokio::test]
async fn converge_adds_replaces_and_removes_only_the_operators_workload_identities() {
    let running = start(true).await;
    let client = admin_client(&running);
    let with = |identities: Vec<WorkloadIdentity>| DesiredUser {
        workload_identities: identities,
        manage_workload_identities: true,
        ..desired()
    };
    let changes = client
        .converge_service_user(
            &with(vec![identity("etl", &[]), identity("dbt", &["sf"])]),
            &[],
        )
        .await
        .unwrap();
    assert!(changes.created);
    assert_eq!(changes.identities_added, ["SFTO_ETL", "SFTO_DBT"]);
    assert_eq!(
        identities_of(&running),
        [
            (
                "SFTO_ETL".into(),
                "system:serviceaccount:data:etl".into(),
                vec![]
            ),
            (
                "SFTO_DBT".into(),
                "system:serviceaccount:data:dbt".into(),
                vec!["sf".into()]
            ),
        ]
    );
    // Identities of others: the DEFAULT one and a name without the operator's prefix.
    by_hand(
        &running,
        &format!(
            "ALTER USER ETL_SVC SET WORKLOAD_IDENTITY = (TYPE = OIDC ISSUER = '{ISSUER}' SUBJECT = 'by-hand')"
        ),
    );
    by_hand(
        &running,
        &format!(
            "ALTER USER ETL_SVC ADD WORKLOAD IDENTITY GITHUB TYPE = OIDC ISSUER = '{ISSUER}' SUBJECT = 'ci'"
        ),
    );

    // Converged: nothing to do, also when the default audience is spelled out.
    let spelled_out = with(vec![
        identity("etl", &["snowflakecomputing.com"]),
        identity("dbt", &["sf", "sf"]),
    ]);
    let changes = client
        .converge_service_user(&spelled_out, &[])
        .await
        .unwrap();
    assert!(changes.is_empty(), "{changes:?}");

    // Drift: one removed by hand, one changed by hand; both repaired.
    by_hand(
        &running,
        "ALTER USER ETL_SVC REMOVE WORKLOAD IDENTITY SFTO_ETL",
    );
    by_hand(
        &running,
        "ALTER USER ETL_SVC REMOVE WORKLOAD IDENTITY SFTO_DBT",
    );
    by_hand(
        &running,
        &format!(
            "ALTER USER ETL_SVC ADD WORKLOAD IDENTITY SFTO_DBT TYPE = OIDC ISSUER = '{ISSUER}' SUBJECT = 'system:serviceaccount:other:dbt'"
        ),
    );
    let changes = client
        .converge_service_user(&spelled_out, &[])
        .await
        .unwrap();
    assert_eq!(changes.identities_added, ["SFTO_ETL", "SFTO_DBT"]);
    let names = |running| {
        identities_of(running)
            .into_iter()
            .map(|(n, s, _)| (n, s))
            .collect::<Vec<_>>()
    };
    assert!(
        names(&running).contains(&("SFTO_DBT".into(), "system:serviceaccount:data:dbt".into())),
        "{:?}",
        names(&running)
    );

    // An audience change replaces the identity; a dropped one is removed; others stay.
    let changes = client
        .converge_service_user(&with(vec![identity("etl", &["custom"])]), &[])
        .await
        .unwrap();
    assert_eq!(changes.identities_added, ["SFTO_ETL"]);
    assert_eq!(changes.identities_removed, ["SFTO_DBT"]);
    let mut left = names(&running);
    left.sort();
    assert_eq!(
        left,
        [
            ("DEFAULT".into(), "by-hand".into()),
            ("GITHUB".into(), "ci".into()),
            ("SFTO_ETL".into(), "system:serviceaccount:data:etl".into()),
        ]
    );
    let changes = client.converge_service_user(&desired(), &[]).await.unwrap();
    assert!(changes.is_empty(), "not managed: not even listed");
    let changes = client
        .converge_service_user(&with(vec![]), &[])
        .await
        .unwrap();
    assert_eq!(changes.identities_removed, ["SFTO_ETL"]);
    assert_eq!(
        identities_of(&running).len(),
        2,
        "only the operator's were removed"
    );
}

fn bi_pat(name: &str) -> AddPatRequest {
    AddPatRequest {
        name: name.into(),
        role_restriction: Some("ANALYST".into()),
        days_to_expiry: Some(30),
        comment: Some("for the BI tool".into()),
        ..AddPatRequest::default()
    }
}

#[tokio::test]
async fn verify_identity_reports_the_session_user_and_role() {
    let running = start(true).await;
    let identity = admin_client(&running).verify_identity().await.unwrap();
    assert_eq!(identity.user, "OPERATOR_ADMIN");
    assert_eq!(identity.role.as_deref(), Some("USERADMIN"));
}

#[tokio::test]
async fn converge_creates_the_user_with_every_property_and_role() {
    let running = start(true).await;
    let client = admin_client(&running);
    let changes = client.converge_service_user(&desired(), &[]).await.unwrap();
    assert!(changes.created);
    assert_eq!(changes.roles_granted, vec!["ANALYST", "LOADER"]);

    let snapshot = running.snapshot();
    let user = snapshot.user("ETL_SVC").expect("user created");
    assert_eq!(user.user_type, "SERVICE");
    assert_eq!(user.default_role.as_deref(), Some("ANALYST"));
    assert_eq!(user.default_warehouse.as_deref(), Some("ETL_WH"));
    assert_eq!(
        user.default_namespace
            .as_deref()
            .map(|n| n.replace('"', "")),
        Some("ANALYTICS.PUBLIC".into())
    );
    assert_eq!(
        user.comment.as_deref(),
        Some("managed by snowflake-token-operator")
    );
    assert_eq!(user.network_policy.as_deref(), Some("CORP_NP"));
    assert!(!user.disabled);
    assert!(user.roles.iter().any(|r| r == "ANALYST"));
    assert!(user.roles.iter().any(|r| r == "LOADER"));

    let again = client
        .converge_service_user(&desired(), &["ANALYST".into(), "LOADER".into()])
        .await
        .unwrap();
    assert!(again.is_empty(), "second converge changed {again:?}");
}

#[tokio::test]
async fn converge_repairs_drift_of_every_property() {
    let running = start(true).await;
    let client = admin_client(&running);
    client.converge_service_user(&desired(), &[]).await.unwrap();
    by_hand(
        &running,
        "ALTER USER ETL_SVC SET DEFAULT_ROLE = LOADER DEFAULT_WAREHOUSE = OTHER_WH \
         COMMENT = 'edited by hand' NETWORK_POLICY = REMOTE_ONLY DISABLED = TRUE",
    );
    by_hand(&running, "ALTER USER ETL_SVC UNSET DEFAULT_NAMESPACE");

    let changes = client
        .converge_service_user(&desired(), &["ANALYST".into(), "LOADER".into()])
        .await
        .unwrap();
    let mut set = changes.properties_set.clone();
    set.sort_unstable();
    assert_eq!(
        set,
        vec![
            "COMMENT",
            "DEFAULT_NAMESPACE",
            "DEFAULT_ROLE",
            "DEFAULT_WAREHOUSE",
            "DISABLED",
            "NETWORK_POLICY"
        ]
    );
    assert!(!changes.created);
    let snapshot = running.snapshot();
    let user = snapshot.user("ETL_SVC").unwrap();
    assert_eq!(user.default_role.as_deref(), Some("ANALYST"));
    assert_eq!(user.default_warehouse.as_deref(), Some("ETL_WH"));
    assert_eq!(user.network_policy.as_deref(), Some("CORP_NP"));
    assert!(!user.disabled);
    assert!(user.default_namespace.is_some());

    let unwanted = DesiredUser {
        default_warehouse: None,
        comment: None,
        disabled: true,
        ..desired()
    };
    let changes = client
        .converge_service_user(&unwanted, &["ANALYST".into(), "LOADER".into()])
        .await
        .unwrap();
    assert_eq!(changes.properties_set, vec!["DISABLED"]);
    let mut unset = changes.properties_unset.clone();
    unset.sort_unstable();
    assert_eq!(unset, vec!["COMMENT", "DEFAULT_WAREHOUSE"]);
    let snapshot = running.snapshot();
    let user = snapshot.user("ETL_SVC").unwrap();
    assert_eq!(user.default_warehouse, None);
    assert_eq!(user.comment, None);
    assert!(user.disabled);
    assert!(
        client
            .converge_service_user(&unwanted, &["ANALYST".into(), "LOADER".into()])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn converge_grants_missing_roles_and_revokes_only_managed_ones() {
    let running = start(true).await;
    let client = admin_client(&running);
    client.converge_service_user(&desired(), &[]).await.unwrap();
    by_hand(&running, "REVOKE ROLE ANALYST FROM USER ETL_SVC");
    by_hand(&running, "GRANT ROLE UNGRANTED TO USER ETL_SVC");

    let only_analyst = DesiredUser {
        roles: vec!["ANALYST".into()],
        ..desired()
    };
    let changes = client
        .converge_service_user(&only_analyst, &["ANALYST".into(), "LOADER".into()])
        .await
        .unwrap();
    assert_eq!(changes.roles_granted, vec!["ANALYST"]);
    assert_eq!(changes.roles_revoked, vec!["LOADER"]);
    let snapshot = running.snapshot();
    let roles = &snapshot.user("ETL_SVC").unwrap().roles;
    assert!(roles.iter().any(|r| r == "ANALYST"));
    assert!(!roles.iter().any(|r| r == "LOADER"));
    assert!(
        roles.iter().any(|r| r == "UNGRANTED"),
        "a grant made by hand must survive: {roles:?}"
    );
}

#[tokio::test]
async fn converge_refuses_to_adopt_a_person_user_of_the_same_name() {
    let running = start(true).await;
    by_hand(
        &running,
        "CREATE USER ETL_SVC TYPE = PERSON COMMENT = 'a colleague'",
    );
    let err = admin_client(&running)
        .converge_service_user(&desired(), &[])
        .await
        .expect_err("a PERSON user is not converged");
    assert!(
        matches!(&err, Error::NotAServiceUser { user, user_type } if user == "ETL_SVC" && user_type == "PERSON"),
        "{err:?}"
    );
    assert_eq!(err.category(), Category::Conflict);
    let snapshot = running.snapshot();
    let user = snapshot.user("ETL_SVC").expect("still there");
    assert_eq!(user.user_type, "PERSON");
    assert_eq!(
        user.comment.as_deref(),
        Some("a colleague"),
        "nothing was changed"
    );
    assert!(
        !user.roles.iter().any(|r| r == "LOADER"),
        "no role was granted"
    );
}

#[tokio::test]
async fn drop_user_removes_the_user_and_a_missing_user_counts_as_dropped() {
    let running = start(true).await;
    let client = admin_client(&running);
    client.converge_service_user(&desired(), &[]).await.unwrap();
    client.drop_user("ETL_SVC").await.unwrap();
    assert!(running.snapshot().user("ETL_SVC").is_none());
    client.drop_user("ETL_SVC").await.unwrap();
}

#[tokio::test]
async fn add_pat_returns_a_working_secret_and_lists_every_column() {
    let running = start(true).await;
    let client = admin_client(&running);
    let pat = client.add_pat("BI_SVC", &bi_pat("powerbi")).await.unwrap();
    assert_eq!(pat.name, "POWERBI");
    let now = running.emulator().clock().now();
    assert_eq!(
        pat.expires_at, None,
        "Snowflake's ADD answer carries no expiry"
    );

    let identity = pat_client(&running, &pat.secret)
        .verify_identity()
        .await
        .unwrap();
    assert_eq!(identity.user, "BI_SVC");
    assert_eq!(identity.role.as_deref(), Some("ANALYST"));

    let pats = client.list_pats("BI_SVC").await.unwrap();
    let [info] = &pats[..] else {
        panic!("one token expected: {pats:?}")
    };
    assert_eq!(info.name, "POWERBI");
    assert_eq!(info.user_name.as_deref(), Some("BI_SVC"));
    assert_eq!(info.role_restriction.as_deref(), Some("ANALYST"));
    let expires = info.expires_at.expect("listed expiry");
    let days = expires.duration_since(now).as_hours() / 24;
    assert!((29..=30).contains(&days), "expires in {days} days");
    assert_eq!(info.status, PatStatus::Active);
    assert_eq!(info.comment.as_deref(), Some("for the BI tool"));
    assert!(info.created_on.is_some_and(|c| c <= now));
    assert_eq!(info.created_by.as_deref(), Some("OPERATOR_ADMIN"));
    assert_eq!(info.mins_to_bypass_network_policy_requirement, Some(0));
    assert_eq!(info.rotated_to, None);

    let err = client
        .add_pat("BI_SVC", &bi_pat("POWERBI"))
        .await
        .unwrap_err();
    assert_eq!(err.category(), Category::AlreadyExists, "{err}");
    assert_eq!(err.snowflake_code(), Some("002002"));
}

#[tokio::test]
async fn rotate_keeps_the_old_secret_for_the_grace_period_only() {
    let running = start(true).await;
    let client = admin_client(&running);
    let first = client.add_pat("BI_SVC", &bi_pat("PBI")).await.unwrap();
    let before = running.emulator().clock().now().as_millisecond();
    let rotated = client.rotate_pat("BI_SVC", "pbi", 2).await.unwrap();
    let after = running.emulator().clock().now().as_millisecond();
    assert_eq!(rotated.name, "PBI");
    let epoch_ms: i64 = rotated
        .rotated_token_name
        .strip_prefix("PBI_ROTATED_")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("old name {}", rotated.rotated_token_name));
    assert!(
        (before..=after).contains(&epoch_ms),
        "{epoch_ms} is the rotation time in epoch milliseconds"
    );
    assert_ne!(rotated.secret.expose_secret(), first.secret.expose_secret());

    let pats = client.list_pats("BI_SVC").await.unwrap();
    let old = pats
        .iter()
        .find(|p| p.name == rotated.rotated_token_name)
        .expect("old token listed");
    assert_eq!(old.rotated_to.as_deref(), Some("PBI"));
    // The new value expires DAYS_TO_EXPIRY after the rotation time the answer carries:
    // what the operator records without reading it back.
    let rotated_at = rotated
        .rotated_at
        .expect("rotation time from the rotated-out name");
    assert_eq!(rotated_at.as_millisecond(), epoch_ms);
    let current = pats.iter().find(|p| p.name == "PBI").expect("PBI listed");
    // (To the millisecond the name carries.)
    let derived = rotated_at + SignedDuration::from_hours(30 * 24);
    let listed = current.expires_at.expect("listed expiry");
    assert!(
        listed.duration_since(derived) >= SignedDuration::ZERO
            && listed.duration_since(derived) < SignedDuration::from_millis(1),
        "listed {listed}, derived {derived}"
    );

    let old_session = pat_client(&running, &first.secret);
    let new_session = pat_client(&running, &rotated.secret);
    assert_eq!(old_session.verify_identity().await.unwrap().user, "BI_SVC");
    assert_eq!(new_session.verify_identity().await.unwrap().user, "BI_SVC");

    running.advance_clock(SignedDuration::from_hours(3));
    let err = old_session.verify_identity().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(err.category(), Category::Auth);
    assert_eq!(err.snowflake_code(), Some("394400"));
    assert_eq!(new_session.verify_identity().await.unwrap().user, "BI_SVC");
    // The admin connection re-signs its JWT for the new emulated time by itself.
    let pats = client.list_pats("BI_SVC").await.unwrap();
    let old = pats
        .iter()
        .find(|p| p.name == rotated.rotated_token_name)
        .expect("expired tokens stay listed");
    assert_eq!(old.status, PatStatus::Expired);
}

#[tokio::test]
async fn disable_enable_and_remove_a_pat() {
    let running = start(true).await;
    let client = admin_client(&running);
    let pat = client.add_pat("BI_SVC", &bi_pat("PBI")).await.unwrap();
    let session = pat_client(&running, &pat.secret);

    client
        .set_pat_disabled("BI_SVC", "PBI", true)
        .await
        .unwrap();
    assert_eq!(
        client.list_pats("BI_SVC").await.unwrap()[0].status,
        PatStatus::Disabled
    );
    let err = session.verify_identity().await.unwrap_err();
    assert_eq!(err.category(), Category::Auth, "{err}");

    client
        .set_pat_disabled("BI_SVC", "pbi", false)
        .await
        .unwrap();
    assert_eq!(
        client.list_pats("BI_SVC").await.unwrap()[0].status,
        PatStatus::Active
    );
    session.verify_identity().await.unwrap();

    client.remove_pat("BI_SVC", "PBI").await.unwrap();
    assert!(client.list_pats("BI_SVC").await.unwrap().is_empty());
    assert!(running.snapshot().user("BI_SVC").unwrap().pats.is_empty());
    let err = session.verify_identity().await.unwrap_err();
    assert_eq!(err.category(), Category::Auth, "{err}");
    // Cleanup never wedges: a missing token and a missing user count as removed.
    client.remove_pat("BI_SVC", "PBI").await.unwrap();
    client.remove_pat("NO_SUCH_USER", "PBI").await.unwrap();
}
