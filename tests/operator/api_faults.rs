//! A misbehaving API server: on a control plane of its own (so that its restart disturbs
//! no other test), the operator rotates PATs and refreshes OAuth tokens (a multi-use and
//! a single-use chain) while its API server answers Secret and status writes with 409 and
//! 500, its watch streams are cut, and kube-apiserver itself is killed and started again
//! with rotations coming due meanwhile. Consumers log in all along with whatever each
//! Secret holds, and a watch of the Secrets records every version written.
//!
//! Asserted: no consumer refused, no Secret version without its credential, no
//! duplicate token (one live value per token, the rotations asked for and no more), no
//! broken refresh chain, every token Ready again, the failures counted in the metrics,
//! and no credential in the operator's events or statuses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use snowflake_token_operator::api::SnowflakeToken;
use snowflake_token_operator::emulator::{FaultKind, FaultSpec};

use crate::consumers::{
    Consumers, assert_chains_intact, assert_nothing_leaked, assert_pats_live, data, fault_taken,
    ready_fleet, ready_now, request_rotation, rotations, settled_one,
};
use crate::harness::{self, Env, PATIENCE};
use crate::support::api_faults::Writes;
use crate::support::{ControlPlane, Options, wait_for};

const PATS: [&str; 2] = ["faults0", "faults1"];
const MULTI_USE: &str = "faults-multi";
const SINGLE_USE: &str = "faults-single";
const OAUTH: [&str; 2] = [MULTI_USE, SINGLE_USE];

/// Every Secret version of `names` the API server holds without its credential (or a
/// deletion of one), from a watch of the namespace's Secrets through the test's client.
fn watch_for_blanks(env: &Env, blanks: Arc<Mutex<Vec<String>>>) -> tokio::task::JoinHandle<()> {
    let keys: Vec<(String, &str)> = PATS
        .iter()
        .map(|n| ((*n).to_owned(), "password"))
        .chain(OAUTH.iter().map(|n| ((*n).to_owned(), "access_token")))
        .chain(
            OAUTH
                .iter()
                .map(|n| (format!("{n}-refresh"), "refresh_token")),
        )
        .collect();
    let secrets: Api<Secret> = env.api();
    tokio::spawn(async move {
        let mut events = watcher(secrets, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = events.next().await {
            let (secret, deleted) = match event {
                Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => (s, false),
                Ok(watcher::Event::Delete(s)) => (s, true),
                _ => continue,
            };
            let name = secret.metadata.name.clone().unwrap_or_default();
            let Some((_, key)) = keys.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            let value = secret.data.as_ref().and_then(|d| d.get(*key));
            if deleted || value.is_none_or(|v| v.0.is_empty()) {
                blanks.lock().expect("lock").push(format!(
                    "{name} at {:?}: {}",
                    secret.metadata.resource_version,
                    if deleted { "deleted" } else { "no value" }
                ));
            }
        }
    })
}

/// Whether every token is Ready with its Secret holding the live value (PATs having
/// honoured `request`).
async fn all_settled(env: &Env, request: Option<&str>) -> bool {
    for name in PATS {
        if !settled_one(env, name, request).await {
            return false;
        }
    }
    for name in OAUTH {
        let Ok(token) = env.api::<SnowflakeToken>().get(name).await else {
            return false;
        };
        if !ready_now(&token) {
            return false;
        }
    }
    true
}

/// Failed token reconciles the metrics count as Kubernetes failures.
fn kubernetes_failures(env: &Env) -> u64 {
    env.metrics
        .encode()
        .lines()
        .filter(|l| {
            l.starts_with("snowflake_operator_failures_total{")
                && l.contains(r#"controller="token""#)
                && l.contains("KubernetesError")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn failing_writes_cut_watches_and_an_api_server_restart_lose_nothing() {
    let plane: &'static ControlPlane = Box::leak(Box::new(
        ControlPlane::start(Options::API_ONLY).expect("a control plane of its own"),
    ));
    let mut env = Env::on_plane(plane, "api-faults", harness::oauth_seed_refreshing(60)).await;
    env.start_operator().await;
    ready_fleet(&env, &PATS, MULTI_USE, SINGLE_USE).await;
    let env = Arc::new(env);
    let blanks = Arc::new(Mutex::new(vec![]));
    let watch = watch_for_blanks(&env, blanks.clone());
    let consumers = Consumers::start(&env, &PATS, &OAUTH, &[SINGLE_USE]);
    let most_tokens = Arc::new(AtomicUsize::new(0));

    // 1. Secret and status writes answered 409 and 500 while both PATs rotate and the
    // OAuth tokens refresh (every 30 s): each write is retried, with the same value.
    let before = rotations(&env);
    env.api_faults.fail(Writes::Secrets, 500, 3);
    env.api_faults.fail(Writes::Statuses, 409, 3);
    env.api_faults.fail(Writes::Secrets, 409, 2);
    env.api_faults.fail(Writes::Statuses, 500, 2);
    request_rotation(&env, &PATS, "writes-fail").await;
    wait_for(PATIENCE * 3, "rotations through failing writes", || async {
        (env.api_faults.spent() && all_settled(&env, Some("writes-fail")).await).then_some(())
    })
    .await;
    let answered = env.api_faults.answered();
    let status_faults = answered.iter().filter(|a| a.ends_with("/status")).count() as u64;
    let made = rotations(&env) - before;
    eprintln!("writes answered with faults: {answered:#?}; {made} rotations for 2 asked");
    assert_eq!(
        made, 2,
        "{made} rotations for 2 asked ({status_faults} status writes failed)"
    );
    for user in env.emulator.snapshot().users {
        most_tokens.fetch_max(user.pats.len(), Ordering::Relaxed);
    }

    // 2. Watch streams cut, three times: the operator watches again and still sees a
    // request made after the cuts.
    let watching = env.api_faults.open_watches();
    assert!(watching >= 3, "{watching} watches open");
    for cut in 1..=3 {
        env.api_faults.cut_watches();
        wait_for(
            PATIENCE,
            &format!("watches open again after cut {cut}"),
            || async { (env.api_faults.open_watches() >= watching).then_some(()) },
        )
        .await;
    }
    let before = rotations(&env);
    request_rotation(&env, &PATS[..1], "after-cuts").await;
    wait_for(PATIENCE, "a rotation asked after the cuts", || async {
        settled_one(&env, PATS[0], Some("after-cuts"))
            .await
            .then_some(())
    })
    .await;
    assert_eq!(rotations(&env) - before, 1);

    // 3. kube-apiserver killed in the middle of both PATs' rotations (their statements
    // held by the emulator until it is down): the operator rotates in Snowflake, cannot
    // write, retries with backoff, and writes the same values once the API server is
    // back: no second rotation. The OAuth tokens keep being refreshed afterwards.
    let before = rotations(&env);
    let failures_before = kubernetes_failures(&env);
    let mut access_tokens = vec![];
    for name in OAUTH {
        access_tokens.push((name, data(&env, name, "access_token").await));
    }
    env.emulator.inject_fault(
        FaultSpec::new(FaultKind::Stall { ms: 3_000 }, 2)
            .on_path("/api/v2/statements")
            .on_method("POST")
            .on_token_type("KEYPAIR_JWT"),
    );
    request_rotation(&env, &PATS, "during-outage").await;
    wait_for(PATIENCE, "both rotations held by the emulator", || async {
        fault_taken(&env).await.then_some(())
    })
    .await;
    env.plane.stop_api_server();
    wait_for(
        PATIENCE,
        "the rotations made while the API server is down",
        || async { (rotations(&env) >= before + 2).then_some(()) },
    )
    .await;
    wait_for(PATIENCE, "failed writes retried with backoff", || async {
        (kubernetes_failures(&env) >= failures_before + 4).then_some(())
    })
    .await;
    env.plane.start_api_server().await;
    wait_for(
        PATIENCE * 2,
        "everything settled after the restart",
        || async { all_settled(&env, Some("during-outage")).await.then_some(()) },
    )
    .await;
    assert_eq!(
        rotations(&env) - before,
        2,
        "one rotation per request, none repeated"
    );
    // The OAuth tokens are refreshed again (a refresh that could not be stored is not
    // made: the operator reads the client Secret first).
    for (name, before) in access_tokens {
        let what = format!("{name} refreshed after the restart");
        wait_for(PATIENCE, &what, || async {
            (data(&env, name, "access_token").await != before).then_some(())
        })
        .await;
    }
    // The watches came back too: a request after the restart is honoured.
    request_rotation(&env, &PATS[1..], "after-restart").await;
    wait_for(PATIENCE, "a rotation asked after the restart", || async {
        settled_one(&env, PATS[1], Some("after-restart"))
            .await
            .then_some(())
    })
    .await;
    for user in env.emulator.snapshot().users {
        most_tokens.fetch_max(user.pats.len(), Ordering::Relaxed);
    }

    let tally = consumers.stop().await;
    watch.abort();
    let failures = tally.failures.lock().expect("lock").clone();
    let logins = tally.logins.load(Ordering::Relaxed);
    eprintln!(
        "api faults: {logins} consumer logins, {} refused, {} rotations in all",
        failures.len(),
        rotations(&env)
    );
    assert!(failures.is_empty(), "consumers refused: {failures:?}");
    assert!(logins > 0);
    let blanks = blanks.lock().expect("lock").clone();
    assert!(
        blanks.is_empty(),
        "Secrets without their credential: {blanks:?}"
    );
    assert!(most_tokens.load(Ordering::Relaxed) <= 15);
    assert_pats_live(&env, &PATS).await;
    assert_chains_intact(&env, &OAUTH).await;
    assert!(kubernetes_failures(&env) > failures_before);
    let seen = tally.seen.lock().expect("lock").clone();
    assert_nothing_leaked(&env, &seen, &OAUTH, vec![]).await;
}
