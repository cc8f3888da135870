//! What the crash and fault tests share: consumers logging in all along with whatever each
//! Secret holds, and the checks that no credential was lost, no refresh chain broken and
//! no credential leaked.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use secrecy::SecretString;
use serde_json::json;
use snowflake_token_operator::api::SnowflakeToken;
use snowflake_token_operator::api::conditions::{READY, find};
use snowflake_token_operator::emulator::oauth::TokenHash;
use snowflake_token_operator::emulator::secret::sha256_hex;

use crate::driver_support::{BI_CLIENT, SINGLE_USE_CLIENT, whoami};
use crate::emulator_support::{self, post_sql};
use crate::harness::{Env, PATIENCE, pat_token};
use crate::oauth::oauth_token;

/// What the consumers saw.
#[derive(Default)]
pub struct Tally {
    pub logins: AtomicU64,
    pub failures: Mutex<Vec<String>>,
    /// Every credential read from a Secret, to look for where none may appear.
    pub seen: Mutex<HashSet<String>>,
}

/// Consumers of the Secrets of PAT tokens (`password`) and OAuth tokens (`access_token`),
/// each reading its Secret through the API and logging in every 50 ms until stopped.
pub struct Consumers {
    pub tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Consumers {
    /// Starts one consumer per token; `single_use` names the OAuth tokens of single-use
    /// chains.
    pub fn start(
        env: &Arc<Env>,
        pats: &[&'static str],
        oauth: &[&'static str],
        single_use: &[&'static str],
    ) -> Self {
        let tally = Arc::new(Tally::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = vec![];
        let keyed = pats
            .iter()
            .map(|name| (*name, "password"))
            .chain(oauth.iter().map(|name| (*name, "access_token")));
        for (name, key) in keyed {
            tasks.push(tokio::spawn(consume(
                env.clone(),
                name,
                key,
                single_use.contains(&name),
                stop.clone(),
                tally.clone(),
            )));
        }
        Self { tally, stop, tasks }
    }

    /// Stops the consumers and returns what they saw.
    pub async fn stop(self) -> Arc<Tally> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("consumer");
        }
        self.tally
    }
}

/// A consumer of Secret `name`: reads it through the API at each connection and logs in
/// with the value at `key`. With single-use refresh tokens each refresh ends the earlier
/// access tokens, so (as the README tells consumers) a refused access token is read again
/// and retried once the Secret holds a new one; anything else refused is a failure. A
/// Secret that cannot be read (the API server is down) is read again.
async fn consume(
    env: Arc<Env>,
    name: &'static str,
    key: &'static str,
    single_use: bool,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let secrets: Api<Secret> = env.api();
    let read = || async {
        let secret = secrets.get(name).await.ok()?;
        let value = secret.data?.get(key)?.0.clone();
        String::from_utf8(value).ok()
    };
    let mut pace = tokio::time::interval(Duration::from_millis(50));
    while !stop.load(Ordering::Relaxed) {
        pace.tick().await;
        let Some(value) = read().await else { continue };
        tally.seen.lock().expect("lock").insert(value.clone());
        if logs_in(&env, key, &value).await {
            tally.logins.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let recovered = single_use && {
            let deadline = Instant::now() + PATIENCE;
            let mut recovered = false;
            while Instant::now() < deadline && !recovered {
                pace.tick().await;
                if let Some(next) = read().await.filter(|next| *next != value) {
                    tally.seen.lock().expect("lock").insert(next.clone());
                    recovered = logs_in(&env, key, &next).await;
                }
            }
            recovered
        };
        if !recovered {
            tally
                .failures
                .lock()
                .expect("lock")
                .push(format!("{name}: refused at {}", Timestamp::now()));
        }
    }
}

async fn logs_in(env: &Env, key: &str, value: &str) -> bool {
    if key == "access_token" {
        whoami(&env.emulator, &SecretString::from(value.to_owned()))
            .await
            .is_ok()
    } else {
        post_sql(
            &emulator_support::http(),
            &env.emulator,
            value,
            "SELECT CURRENT_USER()",
            "",
        )
        .await
        .0 == 200
    }
}

/// The tokens the crash and fault tests run: a connection, a service user and a PAT
/// token of each name in `pats`, and OAuth tokens of user BI_SVC `multi_use` and
/// `single_use` (on the seed's multi-use and single-use integrations); returns once all
/// are Ready.
pub async fn ready_fleet(env: &Env, pats: &[&str], multi_use: &str, single_use: &str) {
    env.ready_connection().await;
    for name in pats {
        env.ready_service_user(
            name,
            json!({"roles": ["ANALYST"], "networkPolicy": "CORP_NP"}),
        )
        .await;
        env.apply::<SnowflakeToken>(pat_token(
            name,
            json!({"serviceUserRef": {"name": name}}),
            json!({"roleRestriction": "ANALYST"}),
            json!({}),
        ))
        .await;
    }
    oauth_token(env, multi_use, BI_CLIENT, json!({})).await;
    oauth_token(env, single_use, SINGLE_USE_CLIENT, json!({})).await;
    for name in pats.iter().chain(&[multi_use, single_use]) {
        env.wait_ready::<SnowflakeToken>(name, "True", None).await;
    }
}

/// The Snowflake user of PAT token `token` (each has a service user of its own name).
pub fn user_of(token: &str) -> String {
    token.to_uppercase().replace('-', "_")
}

/// The `ROTATE` statements Snowflake ran so far.
pub fn rotations(env: &Env) -> u64 {
    env.emulator
        .emulator()
        .stats()
        .statements
        .get("ALTER USER ROTATE PAT")
        .copied()
        .unwrap_or(0)
}

pub async fn data(env: &Env, secret: &str, key: &str) -> Option<String> {
    env.secret_data(secret).await?.get(key).cloned()
}

/// Whether `token` is Ready for its current generation.
pub fn ready_now(token: &SnowflakeToken) -> bool {
    token.status.as_ref().is_some_and(|s| {
        find(&s.conditions, READY).is_some_and(|c| c.status == "True")
            && s.observed_generation == token.metadata.generation
    })
}

/// Asks for a rotation of each of `tokens`.
pub async fn request_rotation(env: &Env, tokens: &[&str], request: &str) {
    for token in tokens {
        let patch = json!({"metadata": {"annotations": {
            "snowflake-token-operator.io/rotate": request,
        }}});
        env.api::<SnowflakeToken>()
            .patch(token, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("annotated");
    }
}

/// Whether PAT token `name` is Ready with its Secret holding the live value, having
/// honoured `request` if one is given.
pub async fn settled_one(env: &Env, name: &str, request: Option<&str>) -> bool {
    let Ok(token) = env.api::<SnowflakeToken>().get(name).await else {
        return false;
    };
    let honoured = request.is_none_or(|request| {
        token
            .status
            .as_ref()
            .and_then(|s| s.last_rotate_request.as_deref())
            == Some(request)
    });
    let Some(value) = data(env, name, "password").await else {
        return false;
    };
    let live = env
        .pats_of(&user_of(name))
        .iter()
        .any(|p| p.rotated_to.is_none() && p.secret_sha256 == sha256_hex(value.as_bytes()));
    honoured && ready_now(&token) && live
}

/// Whether the queued fault was taken by a request (none left pending).
pub async fn fault_taken(env: &Env) -> bool {
    let url = format!("{}/_emulator/faults", env.emulator.base_url());
    let body: serde_json::Value = emulator_support::http()
        .get(&url)
        .send()
        .await
        .expect("faults")
        .json()
        .await
        .expect("json");
    body["faults"].as_array().is_some_and(Vec::is_empty)
}

/// No credential lost: each PAT Secret holds its token's live value and Snowflake holds
/// no other live token of that name for the user (rotated-out values aside).
pub async fn assert_pats_live(env: &Env, pats: &[&str]) {
    for name in pats {
        let value = data(env, name, "password").await.expect("a value");
        let live: Vec<_> = env
            .pats_of(&user_of(name))
            .into_iter()
            .filter(|p| p.rotated_to.is_none())
            .collect();
        assert_eq!(live.len(), 1, "{name}: {live:?}");
        assert_eq!(
            live[0].secret_sha256,
            sha256_hex(value.as_bytes()),
            "{name}"
        );
    }
}

/// No broken chain: the refresh token in each OAuth token's Secret is live, and none of
/// the account's refresh tokens was revoked (a replay revokes its whole chain).
pub async fn assert_chains_intact(env: &Env, oauth: &[&str]) {
    let snapshot = env.emulator.emulator().oauth_snapshot();
    for name in oauth {
        let refresh = data(env, &format!("{name}-refresh"), "refresh_token")
            .await
            .expect("a refresh token");
        assert_eq!(
            snapshot
                .refresh_tokens
                .get(&TokenHash::of(&refresh))
                .map(|t| t.status),
            Some("active"),
            "{name}'s refresh token"
        );
    }
    assert!(
        snapshot
            .refresh_tokens
            .values()
            .all(|t| t.status != "revoked"),
        "a chain was revoked"
    );
}

/// No credential of `seen` (plus the refresh tokens of `oauth`, and the namespace's
/// Secrets) in the events, statuses and operator logs of the namespace, nor in `logs`
/// (named texts).
pub async fn assert_nothing_leaked(
    env: &Env,
    seen: &HashSet<String>,
    oauth: &[&str],
    logs: Vec<(String, String)>,
) {
    assert!(!seen.is_empty(), "no credential seen");
    let mut seen = seen.clone();
    for name in oauth {
        seen.extend(data(env, &format!("{name}-refresh"), "refresh_token").await);
    }
    let leaks = crate::hygiene::leaks_of(&env.client, env.ns(), &seen, logs).await;
    assert!(
        leaks.is_empty(),
        "credentials appear where none may: {leaks:?}"
    );
}
