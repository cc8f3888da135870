//! Snowflake misbehaving, through the emulator's fault injection, while the operator
//! rotates PATs and refreshes OAuth tokens (a multi-use and a single-use chain): bursts
//! of 429 (with `Retry-After`) and 503 longer than the client's retries, statements
//! answered 202 and finished only after several polls (some polls themselves answered
//! 429), and statements executed whose answer is lost with the connection. The faults hit
//! the operator's admin session only (`KEYPAIR_JWT`), so the consumers logging in all
//! along with whatever each Secret holds judge the operator, not the faults.
//!
//! Asserted: no consumer refused, exactly one rotation per request (a resent statement
//! is Snowflake's same statement, by its request id), one live value per token, no broken
//! refresh chain, every token Ready again, the throttling and the failed attempts counted
//! in the metrics, and no credential in events or statuses.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use snowflake_token_operator::api::SnowflakeToken;
use snowflake_token_operator::emulator::{FaultKind, FaultSpec};

use crate::consumers::{
    Consumers, assert_chains_intact, assert_nothing_leaked, assert_pats_live, data, fault_taken,
    ready_fleet, ready_now, request_rotation, rotations, settled_one,
};
use crate::harness::{self, Env, PATIENCE};
use crate::support::wait_for;

const PATS: [&str; 2] = ["sf-faults0", "sf-faults1"];
const MULTI_USE: &str = "sf-faults-multi";
const SINGLE_USE: &str = "sf-faults-single";
const OAUTH: [&str; 2] = [MULTI_USE, SINGLE_USE];

/// A fault on the operator's own statements (its key-pair session).
fn on_admin_statements(kind: FaultKind, count: u32) -> FaultSpec {
    FaultSpec::new(kind, count)
        .on_path("/api/v2/statements")
        .on_token_type("KEYPAIR_JWT")
}

/// Asks both PAT tokens for a rotation and waits until both honoured it with every
/// queued fault used; returns the rotations Snowflake ran meanwhile.
async fn rotate_through(env: &Env, request: &str) -> u64 {
    let before = rotations(env);
    request_rotation(env, &PATS, request).await;
    wait_for(PATIENCE * 2, request, || async {
        for name in PATS {
            if !settled_one(env, name, Some(request)).await {
                return None;
            }
        }
        fault_taken(env).await.then_some(())
    })
    .await;
    rotations(env) - before
}

fn metric_sum(env: &Env, prefix: &str, contains: &[&str]) -> u64 {
    env.metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with(prefix) && contains.iter().all(|c| l.contains(c)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn throttling_outages_slow_statements_and_lost_answers_duplicate_nothing() {
    let env = Env::with_seed("sf-faults", harness::oauth_seed_refreshing(60)).await;
    ready_fleet(&env, &PATS, MULTI_USE, SINGLE_USE).await;
    let env = Arc::new(env);
    let consumers = Consumers::start(&env, &PATS, &OAUTH, &[SINGLE_USE]);

    // 1. Throttled, then unavailable, for longer than the client retries (3 attempts):
    // the reconcile fails and is retried with backoff.
    env.emulator.inject_fault(on_admin_statements(
        FaultKind::TooManyRequests {
            retry_after_secs: Some(1),
        },
        6,
    ));
    env.emulator
        .inject_fault(on_admin_statements(FaultKind::ServiceUnavailable, 6));
    assert_eq!(rotate_through(&env, "burst").await, 2);
    assert!(
        metric_sum(
            &env,
            "snowflake_requests_total{",
            &[r#"outcome="Throttled""#]
        ) > 0,
        "{}",
        env.metrics.encode()
    );
    assert!(
        metric_sum(
            &env,
            "snowflake_requests_total{",
            &[r#"outcome="Unavailable""#]
        ) > 0
    );
    assert!(
        metric_sum(
            &env,
            "snowflake_operator_failures_total{",
            &[r#"controller="token""#]
        ) > 0
    );

    // 2. Slow statements: answered 202 and finished after three polls, some polls
    // answered 429 (Snowflake's "still running").
    env.emulator.inject_fault(on_admin_statements(
        FaultKind::AsyncDelay {
            delay_ms: None,
            polls: Some(3),
        },
        4,
    ));
    env.emulator.inject_fault(
        FaultSpec::new(FaultKind::ThrottledPoll, 2)
            .on_path("/api/v2/statements/")
            .on_method("GET")
            .on_token_type("KEYPAIR_JWT"),
    );
    assert_eq!(rotate_through(&env, "slow").await, 2);

    // 3. Executed, then the connection dropped before the answer: the client sends the
    // same request id again and Snowflake answers with the statement it already ran.
    env.emulator.inject_fault(on_admin_statements(
        FaultKind::DropConnectionAfterExecute,
        4,
    ));
    let logged = env.emulator.request_log().len();
    assert_eq!(
        rotate_through(&env, "dropped").await,
        2,
        "a resent ROTATE must not rotate twice"
    );
    let phase = &env.emulator.request_log()[logged..];
    let rotates: Vec<_> = phase
        .iter()
        .filter(|e| e.statement == "ALTER USER ROTATE PAT")
        .collect();
    assert!(
        rotates.iter().any(|e| e.resends > 0) && rotates.iter().all(|e| e.executions == 1),
        "the lost answers were ROTATEs, resent and run once: {rotates:?}"
    );

    // 4. The OAuth token endpoint throttled and unavailable: the refreshes go through
    // once it answers, on the same chains.
    let mut access_tokens = vec![];
    for name in OAUTH {
        access_tokens.push((name, data(&env, name, "access_token").await));
    }
    env.emulator.inject_fault(
        FaultSpec::new(
            FaultKind::TooManyRequests {
                retry_after_secs: Some(1),
            },
            3,
        )
        .on_path("/oauth/token-request"),
    );
    env.emulator.inject_fault(
        FaultSpec::new(FaultKind::ServiceUnavailable, 3).on_path("/oauth/token-request"),
    );
    for (name, before) in access_tokens {
        wait_for(PATIENCE * 2, &format!("{name} refreshed"), || async {
            let token = env.api::<SnowflakeToken>().get(name).await.ok()?;
            (ready_now(&token) && data(&env, name, "access_token").await != before).then_some(())
        })
        .await;
    }
    assert!(fault_taken(&env).await, "the OAuth faults were met");

    let tally = consumers.stop().await;
    let failures = tally.failures.lock().expect("lock").clone();
    let logins = tally.logins.load(Ordering::Relaxed);
    eprintln!(
        "snowflake faults: {logins} consumer logins, {} refused",
        failures.len()
    );
    assert!(failures.is_empty(), "consumers refused: {failures:?}");
    assert!(logins > 0);
    assert_pats_live(&env, &PATS).await;
    assert_chains_intact(&env, &OAUTH).await;
    for user in env.emulator.snapshot().users {
        assert!(
            user.pats.len() <= 15,
            "{}: {} tokens",
            user.name,
            user.pats.len()
        );
    }
    let seen = tally.seen.lock().expect("lock").clone();
    assert_nothing_leaked(&env, &seen, &OAUTH, vec![]).await;
}
