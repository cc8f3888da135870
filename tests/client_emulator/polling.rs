//! Statements that take time: 202 then polling (with throttled and failing polls),
//! emulated delays, Snowflake's 408, a hung request, and the in-flight bound.

use std::time::{Duration, Instant};

use jiff::SignedDuration;
use snowflake_token_operator::emulator::{FaultKind, FaultSpec};
use snowflake_token_operator::snowflake::{Category, Error, SnowflakeApi, SqlApiConfig};
use uuid::Uuid;

use crate::retries::{STATEMENTS, log_of, on_submit, spec};
use crate::support::{
    admin_client, client_with, fast_config, fast_retry, logged, pat_client, start,
};

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
    let config = SqlApiConfig {
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
    assert_eq!(
        (executions, resends >= 1),
        (1, true),
        "the resend must meet the first execution, not run the statement again"
    );
}

#[tokio::test]
async fn in_flight_requests_are_bounded_per_connection() {
    let running = start(true).await;
    let config = SqlApiConfig {
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

#[tokio::test]
async fn a_failure_found_by_polling_is_the_statements_error() {
    let running = start(true).await;
    let client = admin_client(&running);
    running.inject_fault(on_submit(
        FaultKind::AsyncDelay {
            delay_ms: None,
            polls: Some(2),
        },
        1,
    ));
    let err = client.add_pat("NOPOL_SVC", &spec()).await.unwrap_err();
    assert!(matches!(err, Error::Statement { .. }), "{err:?}");
    assert_eq!(err.snowflake_code(), Some("390432"));
    let adds = logged(&running, "ALTER USER ADD PAT");
    assert_eq!((adds[0].executions, adds[0].resends), (1, 0));
}
