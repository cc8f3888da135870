//! Error paths: each refusal of the emulator arrives as the right `Error` variant,
//! category and Snowflake code.

use std::sync::atomic::Ordering;

use snowflake_token_operator::snowflake::{AddPatRequest, Category, Error, SnowflakeApi};

use crate::support::{
    admin_client, by_hand, client_with, counted_client, fast_config, pat_client, start,
};

fn spec(name: &str, role: Option<&str>) -> AddPatRequest {
    AddPatRequest {
        name: name.into(),
        role_restriction: role.map(str::to_owned),
        ..AddPatRequest::default()
    }
}

/// The code and category of a statement Snowflake refused.
fn refused(err: &Error) -> (&str, Category) {
    assert!(
        matches!(err, Error::Statement { .. }),
        "expected a refused statement, got {err:?}"
    );
    (err.snowflake_code().unwrap_or_default(), err.category())
}

#[tokio::test]
async fn the_fifteen_token_cap_counts_disabled_tokens() {
    let running = start(true).await;
    let client = admin_client(&running);
    for i in 0..15 {
        client
            .add_pat("BI_SVC", &spec(&format!("T{i}"), Some("ANALYST")))
            .await
            .unwrap();
    }
    client.set_pat_disabled("BI_SVC", "T0", true).await.unwrap();
    let err = client
        .add_pat("BI_SVC", &spec("T15", Some("ANALYST")))
        .await
        .unwrap_err();
    let (code, _) = refused(&err);
    assert_eq!(code, "001008");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("maximum number"), "{err}");
    assert_eq!(running.snapshot().user("BI_SVC").unwrap().pats.len(), 15);

    client.remove_pat("BI_SVC", "T0").await.unwrap();
    client
        .add_pat("BI_SVC", &spec("T15", Some("ANALYST")))
        .await
        .unwrap();
}

#[tokio::test]
async fn service_users_need_a_granted_role_restriction() {
    let running = start(true).await;
    let client = admin_client(&running);

    let err = client
        .add_pat("BI_SVC", &spec("T", None))
        .await
        .unwrap_err();
    let (code, category) = refused(&err);
    assert_eq!((code, category), ("001008", Category::InvalidInput));
    assert!(err.to_string().contains("ROLE_RESTRICTION"), "{err}");

    let err = client
        .add_pat("BI_SVC", &spec("T", Some("UNGRANTED")))
        .await
        .unwrap_err();
    let (code, category) = refused(&err);
    assert_eq!((code, category), ("001008", Category::InvalidInput));
    assert!(err.to_string().contains("not granted"), "{err}");

    let err = client
        .add_pat("BI_SVC", &spec("T", Some("NO_SUCH_ROLE")))
        .await
        .unwrap_err();
    assert_eq!(refused(&err), ("002003", Category::NotFound));
    assert!(running.snapshot().user("BI_SVC").unwrap().pats.is_empty());
}

#[tokio::test]
async fn service_users_need_a_network_policy() {
    let running = start(true).await;
    let err = admin_client(&running)
        .add_pat("NOPOL_SVC", &spec("T", Some("ANALYST")))
        .await
        .unwrap_err();
    let (code, category) = refused(&err);
    assert_eq!(code, "390432");
    assert_eq!(category, Category::Conflict);
    assert!(!err.is_transient());
}

#[tokio::test]
async fn unknown_users_and_tokens_are_not_found() {
    let running = start(true).await;
    let client = admin_client(&running);
    let err = client
        .add_pat("NO_SUCH_USER", &spec("T", Some("ANALYST")))
        .await
        .unwrap_err();
    assert_eq!(refused(&err), ("002003", Category::NotFound));
    let err = client.rotate_pat("BI_SVC", "NOPE", 24).await.unwrap_err();
    assert_eq!(refused(&err), ("002003", Category::NotFound));
    let err = client
        .set_pat_disabled("BI_SVC", "NOPE", true)
        .await
        .unwrap_err();
    assert_eq!(refused(&err), ("002003", Category::NotFound));
    let err = client.list_pats("NO_SUCH_USER").await.unwrap_err();
    assert_eq!(err.category(), Category::NotFound, "{err}");
}

#[tokio::test]
async fn a_role_without_privileges_is_refused() {
    let running = start(true).await;
    // ALICE (PERSON, role ANALYST) may not manage other users or their tokens.
    let alice = client_with(&running, "ALICE", 2, fast_config());
    let err = alice.drop_user("BI_SVC").await.unwrap_err();
    assert_eq!(refused(&err), ("003001", Category::PermissionDenied));
    let err = alice
        .add_pat("BI_SVC", &spec("T", Some("ANALYST")))
        .await
        .unwrap_err();
    assert_eq!(refused(&err), ("003001", Category::PermissionDenied));
    assert!(running.snapshot().user("BI_SVC").is_some());
}

#[tokio::test]
async fn an_unknown_key_is_an_auth_error_after_one_fresh_jwt() {
    let running = start(true).await;
    // Key 3 is registered for no user.
    let (client, auth) = counted_client(&running, "OPERATOR_ADMIN", 3);
    let err = client.verify_identity().await.unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(err.category(), Category::Auth);
    assert_eq!(err.snowflake_code(), Some("390144"));
    assert!(!err.is_transient());
    assert_eq!(auth.invalidations.load(Ordering::SeqCst), 1);
    assert_eq!(auth.bearers.load(Ordering::SeqCst), 2);

    // The same counting with a good key: no re-signing at all.
    let (client, auth) = counted_client(&running, "OPERATOR_ADMIN", 2);
    client.verify_identity().await.unwrap();
    assert_eq!(auth.invalidations.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_key_removed_from_the_user_is_refused() {
    let running = start(true).await;
    let client = client_with(&running, "OPERATOR_ADMIN", 2, fast_config());
    client.verify_identity().await.unwrap();
    by_hand(&running, "ALTER USER OPERATOR_ADMIN UNSET RSA_PUBLIC_KEY_2");
    let err = client.verify_identity().await.unwrap_err();
    assert_eq!(err.category(), Category::Auth, "{err}");
}

#[tokio::test]
async fn a_pat_session_cannot_manage_tokens() {
    let running = start(true).await;
    let admin = admin_client(&running);
    let pat = admin
        .add_pat("BI_SVC", &spec("PBI", Some("ANALYST")))
        .await
        .unwrap();
    let session = pat_client(&running, &pat.secret);
    for err in [
        session
            .add_pat("BI_SVC", &spec("MORE", Some("ANALYST")))
            .await
            .unwrap_err(),
        session.rotate_pat("BI_SVC", "PBI", 1).await.unwrap_err(),
        session.remove_pat("BI_SVC", "PBI").await.unwrap_err(),
    ] {
        assert_eq!(refused(&err), ("003001", Category::PermissionDenied));
        assert!(
            err.to_string().contains("programmatic access token"),
            "{err}"
        );
    }
    let snapshot = running.snapshot();
    let pats = &snapshot.user("BI_SVC").unwrap().pats;
    assert_eq!(pats.len(), 1, "nothing was added, rotated or removed");
}
