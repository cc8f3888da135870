//! Results split into partitions by the emulator (a seed of 5 rows per partition):
//! the client fetches every further partition, gzip-compressed or plain, through the
//! asynchronous path too, and rides out transient faults on a partition fetch.

use serde_json::Value;
use snowflake_token_operator::emulator::{FaultKind, FaultSpec, RunningEmulator};
use snowflake_token_operator::snowflake::{Category, Error, SnowflakeApi};

use crate::emulator_support::{add_tokens, http, partitioned_config, start_with};
use crate::support::{admin_client, fast_retry};

/// Where partitions are fetched: `GET /api/v2/statements/{handle}?partition=N`.
const STATUS: &str = "/api/v2/statements/";

/// An emulator cutting results into 5-row partitions, with 12 tokens for BI_SVC (so
/// `SHOW USER PATS` has partitions of 5, 5 and 2 rows); returns it and the token names.
async fn twelve_tokens(gzip: bool) -> (RunningEmulator, Vec<String>) {
    let running = start_with(partitioned_config(5, gzip), true).await;
    let tokens = add_tokens(running.emulator(), 12);
    (running, tokens)
}

async fn listed_names(running: &RunningEmulator) -> Vec<String> {
    admin_client(running)
        .list_pats("BI_SVC")
        .await
        .expect("list_pats succeeds")
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// Uses of faults still queued in the emulator (its `/_emulator/faults` test endpoint).
async fn queued_faults(running: &RunningEmulator) -> u64 {
    let body: Value = http()
        .get(format!("{}/_emulator/faults", running.base_url()))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("JSON");
    body["faults"]
        .as_array()
        .expect("a fault list")
        .iter()
        .map(|f| f["count"].as_u64().expect("a count"))
        .sum()
}

/// How many harmless marks (faults adding no latency) [`partition_fetches`] counts from.
const MARKS: u32 = 10;

/// Queues [`MARKS`] harmless faults on the next statement `GET`s, so that
/// [`partition_fetches`] can count those requests from what is left.
fn mark_partition_fetches(running: &RunningEmulator) {
    running.inject_fault(
        FaultSpec::new(FaultKind::Latency { ms: 0 }, MARKS)
            .on_path(STATUS)
            .on_method("GET"),
    );
}

/// How many statement `GET`s (here: partition fetches) consumed a mark.
async fn partition_fetches(running: &RunningEmulator) -> u64 {
    u64::from(MARKS) - queued_faults(running).await
}

#[tokio::test]
async fn list_pats_returns_every_row_of_gzip_compressed_partitions_in_order() {
    let (running, tokens) = twelve_tokens(true).await;
    mark_partition_fetches(&running);
    assert_eq!(listed_names(&running).await, tokens);
    assert_eq!(partition_fetches(&running).await, 2);
}

#[tokio::test]
async fn list_pats_returns_every_row_of_plain_partitions_in_order() {
    let (running, tokens) = twelve_tokens(false).await;
    mark_partition_fetches(&running);
    assert_eq!(listed_names(&running).await, tokens);
    assert_eq!(partition_fetches(&running).await, 2);
}

#[tokio::test]
async fn a_result_fetched_by_polling_is_completed_from_its_partitions() {
    let (running, tokens) = twelve_tokens(true).await;
    running.inject_fault(
        FaultSpec::new(
            FaultKind::AsyncDelay {
                delay_ms: None,
                polls: Some(2),
            },
            1,
        )
        .on_method("POST"),
    );
    mark_partition_fetches(&running);
    assert_eq!(listed_names(&running).await, tokens);
    assert_eq!(
        partition_fetches(&running).await,
        5,
        "two polls answered 202, the poll answering partition 0, then partitions 1 and 2"
    );
}

#[tokio::test]
async fn a_transient_fault_on_a_partition_fetch_is_retried() {
    let (running, tokens) = twelve_tokens(true).await;
    running.inject_fault(
        FaultSpec::new(FaultKind::ServiceUnavailable, 2)
            .on_path(STATUS)
            .on_method("GET"),
    );
    assert_eq!(listed_names(&running).await, tokens);
    assert_eq!(
        queued_faults(&running).await,
        0,
        "both 503s were answered to partition fetches"
    );
}

#[tokio::test]
async fn partition_fetches_failing_beyond_the_budget_fail_the_listing() {
    let (running, _) = twelve_tokens(true).await;
    running.inject_fault(
        FaultSpec::new(FaultKind::ServiceUnavailable, 100)
            .on_path(STATUS)
            .on_method("GET"),
    );
    let err = admin_client(&running)
        .list_pats("BI_SVC")
        .await
        .expect_err("no partition can be fetched");
    let Error::RetriesExhausted { attempts, .. } = &err else {
        panic!("expected RetriesExhausted, got {err:?}");
    };
    assert_eq!(*attempts, fast_retry().max_attempts);
    assert_eq!(err.category(), Category::Unavailable, "{err}");
}
