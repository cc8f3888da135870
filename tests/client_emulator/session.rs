//! How the client opens a session: account forms, the request role, and JWT renewal
//! before Snowflake's one-hour ceiling.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use jiff::SignedDuration;
use snowflake_token_operator::snowflake::{
    Account, Error, PrivateKey, SnowflakeApi, SnowflakeClient, SqlApiConfig,
};

use crate::support::{EmulatedTime, client_with, counted_client, fast_config, key, signer, start};

#[tokio::test]
async fn a_locator_account_signs_its_jwt_with_the_bare_locator() {
    let running = start(true).await;
    // The seeded account's locator is XY12345: `xy12345.us-east-2.aws` must become
    // `XY12345` in iss/sub, which the emulator accepts like the org-account name.
    let account = Account::new("xy12345.us-east-2.aws", Some(&running.base_url())).unwrap();
    let key = PrivateKey::from_pem(&key(1).private_pem, None).unwrap();
    let clock = Arc::new(EmulatedTime(running.emulator().clock().clone()));
    let client =
        SnowflakeClient::with_key_pair(account, "operator_admin", &key, fast_config(), clock)
            .unwrap();
    let identity = client.verify_identity().await.unwrap();
    assert_eq!(identity.user, "OPERATOR_ADMIN");
    // The org-account form signs differently and works as well.
    let org = signer(&running, "OPERATOR_ADMIN", 1);
    assert!(
        org.subject().starts_with("MYORG-TEST."),
        "{}",
        org.subject()
    );
}

#[tokio::test]
async fn the_configured_role_is_the_session_role() {
    let running = start(true).await;
    let public = SqlApiConfig {
        role: Some("PUBLIC".into()),
        ..fast_config()
    };
    let identity = client_with(&running, "ALICE", 2, public)
        .verify_identity()
        .await
        .unwrap();
    assert_eq!(identity.role.as_deref(), Some("PUBLIC"));

    let ungranted = SqlApiConfig {
        role: Some("LOADER".into()),
        ..fast_config()
    };
    let err = client_with(&running, "ALICE", 2, ungranted)
        .verify_identity()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Statement { .. }), "{err:?}");
    assert_eq!(err.snowflake_code(), Some("390189"));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn the_jwt_is_renewed_before_snowflake_would_refuse_it() {
    let running = start(true).await;
    let (client, auth) = counted_client(&running, "OPERATOR_ADMIN", 1);
    client.verify_identity().await.unwrap();
    // An hour later the first JWT is past its expiry and Snowflake's ceiling; the
    // client must notice on its own, not by being refused.
    running.advance_clock(SignedDuration::from_mins(61));
    client.verify_identity().await.unwrap();
    running.advance_clock(SignedDuration::from_mins(56));
    client.verify_identity().await.unwrap();
    assert_eq!(
        auth.invalidations.load(Ordering::SeqCst),
        0,
        "a JWT was refused before being renewed"
    );
}
