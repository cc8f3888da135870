//! What resources ask of Snowflake, through `api::desired` and the client, against the
//! emulator (which, like Snowflake, keeps the case of quoted names): names written in any
//! case in a resource mean Snowflake's uppercase objects, and converging twice changes
//! nothing.

use snowflake_token_operator::api::{SnowflakeServiceUser, SnowflakeToken};
use snowflake_token_operator::snowflake::{Account, SnowflakeApi};

use crate::support::{admin_client, fast_config, pat_client, start};

fn service_user(spec: serde_json::Value) -> SnowflakeServiceUser {
    serde_json::from_value(serde_json::json!({"metadata": {"name": "etl-svc"}, "spec": spec}))
        .expect("a SnowflakeServiceUser")
}

#[tokio::test]
async fn lowercase_names_in_a_service_user_mean_snowflake_s_uppercase_objects() {
    let running = start(true).await;
    let client = admin_client(&running);
    let user = service_user(serde_json::json!({
        "connectionRef": {"name": "test"},
        "defaultRole": "analyst",
        "defaultWarehouse": "etl_wh",
        "defaultNamespace": "analytics.public",
        "roles": ["analyst", "Loader"],
        "networkPolicy": "corp_np",
    }));
    let desired = user.desired_user();
    let changes = client.converge_service_user(&desired, &[]).await.unwrap();
    assert!(changes.created);
    assert_eq!(changes.roles_granted, ["ANALYST", "LOADER"]);

    let snapshot = running.snapshot();
    let created = snapshot.user("ETL_SVC").expect("user ETL_SVC");
    assert_eq!(created.default_role.as_deref(), Some("ANALYST"));
    assert_eq!(created.default_warehouse.as_deref(), Some("ETL_WH"));
    assert_eq!(created.network_policy.as_deref(), Some("CORP_NP"));
    assert!(created.roles.iter().any(|r| r == "ANALYST"));
    assert!(created.roles.iter().any(|r| r == "LOADER"));
    assert!(
        !created.roles.iter().any(|r| r == "analyst"),
        "{:?}",
        created.roles
    );

    // Nothing is re-set on the next reconcile.
    let again = client
        .converge_service_user(&desired, &desired.roles)
        .await
        .unwrap();
    assert!(again.is_empty(), "second converge changed {again:?}");
}

#[tokio::test]
async fn a_token_restricted_to_a_lowercase_role_is_minted_for_the_granted_role() {
    let running = start(true).await;
    let client = admin_client(&running);
    let token: SnowflakeToken = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "power-bi"},
        "spec": {
            "connectionRef": {"name": "test"},
            "user": {"name": "bi_svc"},
            "programmaticAccessToken": {"roleRestriction": "analyst", "daysToExpiry": 7},
        }
    }))
    .expect("a SnowflakeToken");
    let user = token.explicit_user_name().expect("user.name");
    let pat = token.spec.programmatic_access_token.as_ref().expect("PAT");
    let request = pat.add_pat_request(token.pat_name().expect("PAT name"));
    let minted = client.add_pat(&user, &request).await.unwrap();
    assert_eq!(minted.name, "POWER_BI");
    let identity = pat_client(&running, &minted.secret)
        .verify_identity()
        .await
        .unwrap();
    assert_eq!(identity.user, "BI_SVC");
    assert_eq!(identity.role.as_deref(), Some("ANALYST"));
}

#[tokio::test]
async fn removing_a_pat_revokes_its_rotated_values_too() {
    let running = start(true).await;
    let client = admin_client(&running);
    let request = snowflake_token_operator::snowflake::AddPatRequest {
        name: "PBI".into(),
        role_restriction: Some("ANALYST".into()),
        ..Default::default()
    };
    let first = client.add_pat("BI_SVC", &request).await.unwrap();
    let second = client.rotate_pat("BI_SVC", "PBI", 24).await.unwrap();
    let third = client.rotate_pat("BI_SVC", "PBI", 24).await.unwrap();
    let other = client
        .add_pat(
            "BI_SVC",
            &snowflake_token_operator::snowflake::AddPatRequest {
                name: "OTHER".into(),
                ..request.clone()
            },
        )
        .await
        .unwrap();
    // The two earlier values are still valid during their grace period.
    pat_client(&running, &first.secret)
        .verify_identity()
        .await
        .expect("first value within its grace period");
    assert_eq!(client.list_pats("BI_SVC").await.unwrap().len(), 4);

    let mut removed = client
        .remove_pat_and_rotated("BI_SVC", "pbi")
        .await
        .unwrap();
    removed.sort();
    assert_eq!(removed.len(), 3, "{removed:?}");
    assert_eq!(removed[0], "PBI");
    assert!(
        removed[1..].iter().all(|n| n.starts_with("PBI_ROTATED_")),
        "{removed:?}"
    );
    for secret in [&first.secret, &second.secret, &third.secret] {
        assert!(
            pat_client(&running, secret)
                .verify_identity()
                .await
                .is_err(),
            "a value of the removed token still authenticates"
        );
    }
    // Other tokens of the user are left alone.
    let names: Vec<_> = client
        .list_pats("BI_SVC")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["OTHER"]);
    pat_client(&running, &other.secret)
        .verify_identity()
        .await
        .expect("the other token still works");
    // Done twice, or for a missing user, it is done.
    assert!(
        client
            .remove_pat_and_rotated("BI_SVC", "PBI")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        client
            .remove_pat_and_rotated("NOBODY", "PBI")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_account_written_as_a_global_url_signs_as_org_account() {
    let running = start(true).await;
    // What the current Python connector accepts and signs as MYORG-TEST.
    let account = Account::new("myorg-test.global", Some(&running.base_url())).expect("parses");
    assert_eq!(account.jwt_account(), "MYORG-TEST");
    let key = snowflake_token_operator::snowflake::PrivateKey::from_pem(
        &crate::support::key(1).private_pem,
        None,
    )
    .expect("fixture key");
    let global = snowflake_token_operator::snowflake::SnowflakeClient::with_key_pair(
        account,
        "OPERATOR_ADMIN",
        &key,
        fast_config(),
        std::sync::Arc::new(crate::support::EmulatedTime(
            running.emulator().clock().clone(),
        )),
    )
    .expect("client");
    let identity = global
        .verify_identity()
        .await
        .expect("the emulator accepts the JWT");
    assert_eq!(identity.user, "OPERATOR_ADMIN");
}
