//! The client's retries through the emulator's fault injection: what is resent (same
//! `requestId`, `retry=true`), what is never resent, and where the budget ends.

use std::time::{Duration, Instant};

use jiff::SignedDuration;
use secrecy::ExposeSecret;
use snowflake_token_operator::emulator::secret::sha256_hex;
use snowflake_token_operator::emulator::{FaultKind, FaultSpec, RunningEmulator};
use snowflake_token_operator::snowflake::{Category, Error, PatSpec, SnowflakeApi};
use uuid::Uuid;

use crate::support::{
    admin_client, client_with, fast_config, fast_retry, logged, pat_client, start,
};

const STATEMENTS: &str = "/api/v2/statements";

fn on_submit(kind: FaultKind, count: u32) -> FaultSpec {
    FaultSpec::new(kind, count)
        .on_path(STATEMENTS)
        .on_method("POST")
}

fn spec() -> PatSpec {
    PatSpec {
        name: "PBI".into(),
        role_restriction: Some("ANALYST".into()),
        ..PatSpec::default()
    }
}

/// `(executions, resends)` the emulator logged for `request_id`.
fn log_of(running: &RunningEmulator, request_id: Uuid) -> (u32, u32) {
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
async fn retry_after_is_honoured() {
    let running = start(true).await;
    let client = admin_client(&running);
    running.inject_fault(on_submit(
        FaultKind::TooManyRequests {
            retry_after_secs: Some(1),
        },
        1,
    ));
    let started = Instant::now();
    client.verify_identity().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "came back after {:?}, before Retry-After",
        started.elapsed()
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
async fn an_asynchronous_statement_is_polled_to_completion() {
    let running = start(true).await;
    let client = admin_client(&running);
    running.inject_fault(on_submit(
        FaultKind::AsyncDelay {
            delay_ms: None,
            polls: Some(3),
        },
        1,
    ));
    // A throttled status poll is ridden out like a throttled submit.
    running.inject_fault(
        FaultSpec::new(
            FaultKind::TooManyRequests {
                retry_after_secs: None,
            },
            2,
        )
        .on_path(STATEMENTS)
        .on_method("GET"),
    );
    let pat = client.add_pat("BI_SVC", &spec()).await.unwrap();
    assert_eq!(running.snapshot().user("BI_SVC").unwrap().pats.len(), 1);
    pat_client(&running, &pat.secret)
        .verify_identity()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_statement_running_for_emulated_minutes_is_awaited() {
    let running = start(true).await;
    let client = admin_client(&running);
    running.inject_fault(on_submit(
        FaultKind::AsyncDelay {
            delay_ms: Some(120_000),
            polls: None,
        },
        1,
    ));
    let call = tokio::spawn(async move { client.verify_identity().await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.request_log().is_empty() {
        assert!(Instant::now() < deadline, "the statement never arrived");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!call.is_finished(), "answered before its emulated delay");
    running.advance_clock(SignedDuration::from_mins(3));
    let identity = call.await.unwrap().unwrap();
    assert_eq!(identity.user, "OPERATOR_ADMIN");
}

#[tokio::test]
async fn a_hung_request_times_out_and_is_resent() {
    let running = start(true).await;
    let config = snowflake_token_operator::snowflake::SqlApiConfig {
        request_timeout: Duration::from_millis(300),
        ..fast_config()
    };
    let client = client_with(&running, "OPERATOR_ADMIN", 1, config);
    running.inject_fault(on_submit(FaultKind::Latency { ms: 5_000 }, 1));
    let started = Instant::now();
    let request_id = Uuid::new_v4();
    client
        .sql_api()
        .execute_with_request_id("SELECT CURRENT_USER()", request_id)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the client waited for the hung answer ({:?})",
        started.elapsed()
    );
    let (executions, resends) = log_of(&running, request_id);
    assert!(executions >= 1 && resends >= 1, "{executions} {resends}");
}

#[tokio::test]
async fn in_flight_requests_are_bounded_per_connection() {
    let running = start(true).await;
    let config = snowflake_token_operator::snowflake::SqlApiConfig {
        max_in_flight: 1,
        ..fast_config()
    };
    let client = client_with(&running, "OPERATOR_ADMIN", 1, config);
    client.verify_identity().await.unwrap();
    running.inject_fault(on_submit(FaultKind::Latency { ms: 300 }, 2));
    let started = Instant::now();
    let (a, b) = tokio::join!(client.verify_identity(), client.verify_identity());
    a.unwrap();
    b.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "two delayed requests overlapped on a connection bounded to one ({:?})",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_429_with_a_query_status_on_a_poll_means_still_running() {
    let running = start(true).await;
    let client = admin_client(&running);
    running.inject_fault(on_submit(
        FaultKind::AsyncDelay {
            delay_ms: None,
            polls: Some(1),
        },
        1,
    ));
    // More "still running" answers than the retry budget has attempts: they are not
    // throttling, so they must not spend it.
    let polls = fast_retry().max_attempts * 2;
    running.inject_fault(
        FaultSpec::new(FaultKind::ThrottledPoll, polls)
            .on_path(STATEMENTS)
            .on_method("GET"),
    );
    let identity = client.verify_identity().await.unwrap();
    assert_eq!(identity.user, "OPERATOR_ADMIN");
}

#[tokio::test]
async fn a_statement_timeout_is_reported_and_not_resent() {
    let running = start(true).await;
    let client = admin_client(&running);
    running.inject_fault(on_submit(FaultKind::StatementTimeout, 2));
    let err = client.add_pat("BI_SVC", &spec()).await.unwrap_err();
    assert!(matches!(err, Error::StatementTimeout { .. }), "{err:?}");
    assert_eq!(err.category(), Category::Timeout);
    assert_eq!(err.snowflake_code(), Some("000630"));
    assert!(running.snapshot().user("BI_SVC").unwrap().pats.is_empty());
    // One of the two queued timeouts is left: the statement was sent once.
    let left: serde_json::Value = reqwest::get(format!("{}/_emulator/faults", running.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(left["faults"][0]["count"], 1, "{left}");
}
