//! The client's retries through the emulator's fault injection: what is resent (same
//! `requestId`, `retry=true`), what is never resent, and where the budget ends.

use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use snowflake_token_operator::emulator::secret::sha256_hex;
use snowflake_token_operator::emulator::{FaultKind, FaultSpec, RunningEmulator};
use snowflake_token_operator::snowflake::{AddPatRequest, Category, Error, SnowflakeApi};
use uuid::Uuid;

use crate::support::{
    admin_client, client_with, fast_config, fast_retry, logged, pat_client, start,
};

/// Where statements are submitted and polled.
pub const STATEMENTS: &str = "/api/v2/statements";

/// A fault for the next `count` statement submits.
pub fn on_submit(kind: FaultKind, count: u32) -> FaultSpec {
    FaultSpec::new(kind, count)
        .on_path(STATEMENTS)
        .on_method("POST")
}

/// A valid token for BI_SVC.
pub fn spec() -> AddPatRequest {
    AddPatRequest {
        name: "PBI".into(),
        role_restriction: Some("ANALYST".into()),
        ..AddPatRequest::default()
    }
}

/// `(executions, resends)` the emulator logged for `request_id`.
pub fn log_of(running: &RunningEmulator, request_id: Uuid) -> (u32, u32) {
    let id = request_id.to_string();
    running
        .request_log()
        .iter()
        .filter(|e| e.request_id == id)
        .fold((0, 0), |(x, r), e| (x + e.executions, r + e.resends))
}

#[tokio::test]
async fn a_response_lost_after_execution_yields_exactly_one_token() {
    let running = start(true).await;
    let client = admin_client(&running);
    running.inject_fault(on_submit(FaultKind::DropConnectionAfterExecute, 1));

    let pat = client.add_pat("BI_SVC", &spec()).await.unwrap();

    let snapshot = running.snapshot();
    let pats = &snapshot.user("BI_SVC").unwrap().pats;
    assert_eq!(pats.len(), 1, "one token, not two: {pats:?}");
    assert_eq!(
        pats[0].secret_sha256,
        sha256_hex(pat.secret.expose_secret().as_bytes()),
        "the secret handed out is the one the first execution stored"
    );
    let adds = logged(&running, "ALTER USER ADD PAT");
    assert_eq!(adds.len(), 1, "{adds:?}");
    assert_eq!(adds[0].executions, 1);
    assert_eq!(
        adds[0].resends, 1,
        "the lost answer was fetched by a resend"
    );
    assert_eq!(running.emulator().executions_for(&adds[0].request_id), 1);
    pat_client(&running, &pat.secret)
        .verify_identity()
        .await
        .unwrap();
}

#[tokio::test]
async fn server_errors_are_resent_with_the_same_request_id() {
    let running = start(true).await;
    let client = admin_client(&running);
    running.inject_fault(on_submit(FaultKind::ServiceUnavailable, 1));
    running.inject_fault(on_submit(FaultKind::InternalServerError, 1));
    let request_id = Uuid::new_v4();
    let rs = client
        .sql_api()
        .execute_with_request_id("SELECT CURRENT_USER()", request_id)
        .await
        .unwrap();
    assert_eq!(
        rs.first_row("SELECT").unwrap().at(0),
        Some("OPERATOR_ADMIN")
    );
    // Both failures were answered before the statement ran; the attempt that got
    // through carried the same requestId and retry=true.
    assert_eq!(log_of(&running, request_id), (1, 1));
}

#[tokio::test]
async fn a_throttling_storm_within_the_budget_is_ridden_out() {
    let running = start(true).await;
    let client = admin_client(&running);
    let budget = fast_retry().max_attempts;
    running.inject_fault(on_submit(
        FaultKind::TooManyRequests {
            retry_after_secs: None,
        },
        budget - 1,
    ));
    let request_id = Uuid::new_v4();
    client
        .sql_api()
        .execute_with_request_id("SELECT CURRENT_ROLE()", request_id)
        .await
        .unwrap();
    assert_eq!(log_of(&running, request_id), (1, 1));
}

#[tokio::test]
async fn a_throttling_storm_with_retry_after_is_ridden_out_no_sooner_than_asked() {
    let running = start(true).await;
    let client = admin_client(&running);
    running.inject_fault(on_submit(
        FaultKind::TooManyRequests {
            retry_after_secs: Some(1),
        },
        2,
    ));
    let started = Instant::now();
    let request_id = Uuid::new_v4();
    client
        .sql_api()
        .execute_with_request_id("SELECT CURRENT_USER()", request_id)
        .await
        .unwrap();
    // Backoff alone would have retried within 2 x 20 ms.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "came back after {:?}, before Retry-After",
        started.elapsed()
    );
    assert_eq!(log_of(&running, request_id), (1, 1));
}

#[tokio::test]
async fn an_absurd_retry_after_ends_the_retries_instead_of_panicking() {
    let running = start(true).await;
    let client = admin_client(&running);
    running.inject_fault(on_submit(
        FaultKind::TooManyRequests {
            retry_after_secs: Some(u64::MAX),
        },
        1,
    ));
    let started = Instant::now();
    let err = client.verify_identity().await.unwrap_err();
    let Error::RetriesExhausted { attempts, last } = &err else {
        panic!("expected RetriesExhausted, got {err:?}");
    };
    assert_eq!(*attempts, 1, "no resend after a wait past the deadline");
    assert!(matches!(**last, Error::Throttled { .. }), "{last:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up at once"
    );
}

#[tokio::test]
async fn a_storm_longer_than_the_budget_ends_in_retries_exhausted() {
    let running = start(true).await;
    let client = admin_client(&running);
    let budget = fast_retry().max_attempts;
    running.inject_fault(on_submit(
        FaultKind::TooManyRequests {
            retry_after_secs: None,
        },
        100,
    ));
    let err = client.verify_identity().await.unwrap_err();
    let Error::RetriesExhausted { attempts, last } = &err else {
        panic!("expected RetriesExhausted, got {err:?}");
    };
    assert_eq!(*attempts, budget);
    assert!(matches!(**last, Error::Throttled { .. }), "{last:?}");
    assert_eq!(err.category(), Category::Throttled);
    assert_eq!(err.snowflake_code(), Some("390505"));
    assert!(err.is_transient(), "a caller may try again later");
    assert!(running.request_log().is_empty(), "nothing got through");

    running.emulator().clear_faults();
    running.inject_fault(on_submit(FaultKind::ServiceUnavailable, 100));
    let err = client.verify_identity().await.unwrap_err();
    assert_eq!(err.category(), Category::Unavailable, "{err}");
    assert!(matches!(err, Error::RetriesExhausted { .. }));
}

#[tokio::test]
async fn a_permanent_failure_is_not_resent() {
    let running = start(true).await;
    let client = admin_client(&running);
    let err = client.add_pat("NOPOL_SVC", &spec()).await.unwrap_err();
    assert!(matches!(err, Error::Statement { .. }), "{err:?}");
    let adds = logged(&running, "ALTER USER ADD PAT");
    assert_eq!(adds.len(), 1, "{adds:?}");
    assert_eq!((adds[0].executions, adds[0].resends), (1, 0));

    let request_id = Uuid::new_v4();
    let err = client
        .sql_api()
        .execute_with_request_id("SELEC CURRENT_USER()", request_id)
        .await
        .unwrap_err();
    assert_eq!(err.snowflake_code(), Some("001003"), "{err}");
    assert_eq!(log_of(&running, request_id), (1, 0));
}

#[tokio::test]
async fn with_patience_a_storm_longer_than_the_attempts_is_ridden_out() {
    let running = start(true).await;
    let config = snowflake_token_operator::snowflake::SqlApiConfig {
        throttle_patience: Some(Duration::from_secs(20)),
        ..fast_config()
    };
    let client = client_with(&running, "OPERATOR_ADMIN", 1, config);
    let storm = fast_retry().max_attempts * 4;
    running.inject_fault(on_submit(
        FaultKind::TooManyRequests {
            retry_after_secs: None,
        },
        storm,
    ));
    let pat = client.add_pat("BI_SVC", &spec()).await.unwrap();
    assert!(!pat.secret.expose_secret().is_empty());
    let adds = logged(&running, "ALTER USER ADD PAT");
    assert_eq!(adds.len(), 1, "{adds:?}");
    assert_eq!(adds[0].executions, 1, "minted once, through {storm} 429s");
    let snapshot = running.snapshot();
    assert_eq!(snapshot.user("BI_SVC").unwrap().pats.len(), 1);

    // 5xx too; and other transient failures still count against the attempts.
    running.inject_fault(on_submit(FaultKind::ServiceUnavailable, storm));
    client.verify_identity().await.unwrap();
}

#[tokio::test]
async fn patience_spent_ends_the_retries() {
    let running = start(true).await;
    let config = snowflake_token_operator::snowflake::SqlApiConfig {
        throttle_patience: Some(Duration::from_millis(300)),
        ..fast_config()
    };
    let client = client_with(&running, "OPERATOR_ADMIN", 1, config);
    running.inject_fault(on_submit(
        FaultKind::TooManyRequests {
            retry_after_secs: None,
        },
        100_000,
    ));
    let started = Instant::now();
    let err = client.verify_identity().await.unwrap_err();
    assert!(matches!(err, Error::RetriesExhausted { .. }), "{err:?}");
    assert_eq!(err.category(), Category::Throttled);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(10));
}
