//! The operator's phases: idle memory, cold start (with new tokens behind the backlog),
//! no-op reconciles, forced rotations (one plain, one through a burst of 429s), restart
//! and the spread of renewals; and the emulator's own ceiling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use snowflake_token_operator::api::{SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken};
use snowflake_token_operator::emulator::{FaultKind, FaultSpec};
use snowflake_token_operator::snowflake::{
    Account, JwtSigner, PrivateKey, SnowflakeApi, SnowflakeClient, SqlApiClient, SqlApiConfig,
    SystemClock,
};

use super::procs::{Process, free_port, get_text, until};
use super::report::{Check, Report};
use super::{Bench, NS, mem, operator_metric, percentile, ratio, secs};

const ADMIN_KEY: &str = "examples/emulator/keys/demo_operator_admin.p8.pem";

fn admin_pem() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(ADMIN_KEY);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Statements per second the emulator serves alone (admin JWT, `SELECT CURRENT_USER()`,
/// 32 at once), so figures bound by the emulator can be told from ours.
pub async fn emulator_ceiling(bench: &Bench, report: &mut Report) {
    let account = Account::new("myorg-demo", Some(&bench.emulator_url)).expect("account");
    let key = PrivateKey::from_pem(&admin_pem(), None).expect("demo key");
    let signer =
        JwtSigner::new(&account, "OPERATOR_ADMIN", &key, Arc::new(SystemClock)).expect("signer");
    let config = SqlApiConfig {
        max_in_flight: 32,
        ..SqlApiConfig::default()
    };
    let client =
        SnowflakeClient::new(SqlApiClient::new(account, Arc::new(signer), config).expect("client"));
    let n = 3000;
    let started = Instant::now();
    let client = &client;
    let failures = futures::stream::iter(0..n)
        .map(|_| async move { client.verify_identity().await.is_err() })
        .buffer_unordered(32)
        .filter(|failed| futures::future::ready(*failed))
        .count()
        .await;
    let took = started.elapsed();
    report.figure(
        "emulator alone",
        format!("statements per second ({n} SELECTs, 32 in flight, {failures} failed)"),
        format!("{:.0}/s", f64::from(n) / took.as_secs_f64()),
        None,
    );
}

/// The operator, started as its own process with identity `operator`.
pub struct Operator {
    pub process: Process,
    pub metrics: u16,
}

pub async fn start_operator(bench: &Bench, name: &str) -> Operator {
    start_operator_with(bench, name, None).await
}

/// [`start_operator`], wrapped in `profiler` (a command line) when there is one.
pub async fn start_operator_with(bench: &Bench, name: &str, profiler: Option<&str>) -> Operator {
    let (metrics, health) = (free_port(), free_port());
    let kubeconfig = bench.plane.kubeconfig_as("operator");
    let mut program = bench.binary.clone();
    let mut args: Vec<String> = Vec::new();
    if let Some(profiler) = profiler {
        let mut words = profiler.split_whitespace().map(str::to_owned);
        program = words.next().expect("a profiler command").into();
        args.extend(words);
        args.push(bench.binary.display().to_string());
    }
    args.extend([
        "run".into(),
        "--kubeconfig".into(),
        kubeconfig.display().to_string(),
        "--metrics-addr".into(),
        format!("127.0.0.1:{metrics}"),
        "--health-addr".into(),
        format!("127.0.0.1:{health}"),
        "--concurrency".into(),
        bench.flags.concurrency.to_string(),
        "--log-format".into(),
        "json".into(),
    ]);
    let process = Process::spawn(name, &program, &args, &[], &bench.logs);
    let url = format!("http://127.0.0.1:{health}/readyz");
    let http = bench.http.clone();
    until(Duration::from_secs(60), "the operator's /readyz", || {
        let (http, url) = (http.clone(), url.clone());
        async move { get_text(&http, &url).await.map(drop) }
    })
    .await;
    Operator { process, metrics }
}

/// First time each token was seen satisfying a predicate, from a watch.
#[derive(Clone)]
struct Tracker {
    seen: Arc<Mutex<HashMap<String, Instant>>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Tracker {
    fn start(
        api: Api<SnowflakeToken>,
        done: impl Fn(&SnowflakeToken) -> bool + Send + 'static,
    ) -> Self {
        let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let record = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(Ok(token)) = stream.next().await {
                if done(&token) {
                    let name = token.metadata.name.clone().unwrap_or_default();
                    record
                        .lock()
                        .expect("tracker")
                        .entry(name)
                        .or_insert_with(Instant::now);
                }
            }
        });
        Self {
            seen,
            task: Arc::new(task),
        }
    }

    fn count(&self) -> usize {
        self.seen.lock().expect("tracker").len()
    }

    fn at(&self, name: &str) -> Option<Instant> {
        self.seen.lock().expect("tracker").get(name).copied()
    }

    async fn wait_for(&self, n: usize, limit: Duration, what: &str) -> Instant {
        until(limit, what, || async {
            let seen = self.seen.lock().expect("tracker");
            (seen.len() >= n).then(|| seen.values().max().copied().unwrap_or_else(Instant::now))
        })
        .await
    }

    fn stop(&self) {
        self.task.abort();
    }
}

fn is_ready(token: &SnowflakeToken) -> bool {
    token.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

fn rotated_for(token: &SnowflakeToken, request: &str) -> bool {
    is_ready(token)
        && token
            .status
            .as_ref()
            .and_then(|s| s.last_rotate_request.as_deref())
            == Some(request)
}

fn user_name(i: usize) -> String {
    format!("svc-{i}")
}

fn service_user(name: &str) -> SnowflakeServiceUser {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "snowflake-token-operator.io/v1alpha1",
        "kind": "SnowflakeServiceUser",
        "metadata": {"name": name},
        "spec": {
            "connectionRef": {"name": "snowflake"},
            "roles": ["ANALYST"],
            "networkPolicy": "BI_NETWORK_POLICY",
        },
    }))
    .expect("user")
}

fn token(name: &str, user: &str) -> SnowflakeToken {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "snowflake-token-operator.io/v1alpha1",
        "kind": "SnowflakeToken",
        "metadata": {"name": name},
        "spec": {
            "connectionRef": {"name": "snowflake"},
            "user": {"serviceUserRef": {"name": user}},
            "programmaticAccessToken": {"roleRestriction": "ANALYST"},
        },
    }))
    .expect("token")
}

async fn setup_objects(bench: &Bench) {
    let flags = &bench.flags;
    let client = &bench.admin;
    super::namespace(client, NS).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let key: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "snowflake-admin-key"},
        "stringData": {"rsa_key.p8": admin_pem()},
    }))
    .expect("key secret");
    secrets
        .create(&Default::default(), &key)
        .await
        .expect("key secret");
    let connections: Api<SnowflakeConnection> = Api::namespaced(client.clone(), NS);
    let connection: SnowflakeConnection = serde_json::from_value(serde_json::json!({
        "apiVersion": "snowflake-token-operator.io/v1alpha1",
        "kind": "SnowflakeConnection",
        "metadata": {"name": "snowflake"},
        "spec": {
            "account": "myorg-demo",
            "host": bench.emulator_url,
            "user": "OPERATOR_ADMIN",
            "role": "USERADMIN",
            "auth": {"keyPair": {"privateKeySecretRef": {"name": "snowflake-admin-key", "key": "rsa_key.p8"}}},
        },
    }))
    .expect("connection");
    connections
        .create(&Default::default(), &connection)
        .await
        .expect("connection");
    let users: Api<SnowflakeServiceUser> = Api::namespaced(client.clone(), NS);
    let user_count = flags.tokens.div_ceil(flags.tokens_per_user);
    bench
        .create_all(&users, user_count, |i| service_user(&user_name(i)))
        .await;
    let tokens: Api<SnowflakeToken> = Api::namespaced(client.clone(), NS);
    let per_user = flags.tokens_per_user;
    bench
        .create_all(&tokens, flags.tokens, |i| {
            token(&format!("tok-{i}"), &user_name(i / per_user))
        })
        .await;
}

pub async fn run(bench: &Bench, report: &mut Report, floor: Duration) {
    let flags = &bench.flags;
    let n = flags.tokens;

    // Idle, with nothing to do, then with the unrelated Secrets present.
    let operator = start_operator(bench, "operator-idle").await;
    settle().await;
    let idle = operator.process.memory();
    report.figure(
        "memory",
        "operator RSS idle (no objects)",
        mem(idle.rss),
        Check::info("at most 20 MiB", idle.rss <= 20 << 20),
    );
    let took = super::unrelated_secrets(bench, flags.unrelated_secrets).await;
    report.note(format!(
        "{} unrelated Secrets (1 KiB each) created in {} before the cold start; they stay for the rest of the run",
        flags.unrelated_secrets,
        secs(took)
    ));
    settle().await;
    let idle_noise = operator.process.memory();
    report.figure(
        "memory",
        format!(
            "operator RSS idle, {} unrelated Secrets present",
            flags.unrelated_secrets
        ),
        mem(idle_noise.rss),
        Check::info("at most 20 MiB", idle_noise.rss <= 20 << 20),
    );
    operator.process.stop(Duration::from_secs(10));

    // Cold start: everything exists, the operator starts.
    setup_objects(bench).await;
    let tokens: Api<SnowflakeToken> = Api::namespaced(bench.admin.clone(), NS);
    let ready = Tracker::start(tokens.clone(), is_ready);
    let stats_before = bench.emulator_stats().await;
    bench.reset_peaks().await;
    let cpu_before = bench.cpu(&[]);
    let cold_mark = bench.audit();
    let started = Instant::now();
    let operator =
        start_operator_with(bench, "operator", bench.flags.profile_with.as_deref()).await;
    // New users with a token each while the backlog is worked (from the first Ready
    // token on): someone onboarding an application during a restart.
    let backlog = {
        let ready = ready.clone();
        let tokens = tokens.clone();
        let users: Api<SnowflakeServiceUser> = Api::namespaced(bench.admin.clone(), NS);
        let count = flags.backlog;
        tokio::spawn(async move {
            until(Duration::from_secs(600), "a first Ready token", || async {
                (ready.count() > 0).then_some(())
            })
            .await;
            let mut created = Vec::new();
            for j in 0..count {
                let (user, name) = (format!("late-{j}"), format!("new-{j}"));
                let at = Instant::now();
                users
                    .create(&Default::default(), &service_user(&user))
                    .await
                    .expect("backlog user");
                tokens
                    .create(&Default::default(), &token(&name, &user))
                    .await
                    .expect("backlog token");
                created.push((name, at));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            created
        })
    };
    let mut operator = operator;
    let mut peak = operator.process.memory();
    let total = n + flags.backlog;
    until(Duration::from_secs(900), "every token Ready", || {
        operator.process.ensure_running();
        let memory = operator.process.memory();
        peak.peak = peak.peak.max(memory.peak);
        let count = ready.count();
        async move { (count >= total).then_some(()) }
    })
    .await;
    let cold: Vec<Duration> = {
        let mut v: Vec<Duration> = (0..n)
            .filter_map(|i| ready.at(&format!("tok-{i}")))
            .map(|at| at.duration_since(started))
            .collect();
        v.sort();
        v
    };
    let cold_all = cold.last().copied().unwrap_or_default();
    report.set_cold_start(cold_all);
    let cpu_after = bench.cpu(&[]);
    report.note(format!(
        "cold start of {n} tokens: {}",
        super::cpu_between(&cpu_before, &cpu_after, cold_all)
    ));
    report.figure(
        "cold start",
        format!(
            "{n} tokens across {} users all Ready (from operator start)",
            n.div_ceil(flags.tokens_per_user)
        ),
        secs(cold_all),
        // Reported, not gated: see the CPU note (kube-apiserver is the bound).
        Check::info(
            format!("≤ 2 × floor ({})", secs(floor * 2)),
            ratio(cold_all, floor) <= 2.0,
        ),
    );
    report.figure(
        "cold start",
        "ratio to the floor",
        format!("{:.2}×", ratio(cold_all, floor)),
        None,
    );
    report.figure(
        "cold start",
        "per-token time to Ready p50 / p95 / max",
        format!(
            "{} / {} / {}",
            secs(percentile(&cold, 50.0)),
            secs(percentile(&cold, 95.0)),
            secs(percentile(&cold, 100.0))
        ),
        None,
    );
    let created = backlog.await.expect("backlog task");
    let mut latencies: Vec<Duration> = created
        .iter()
        .filter_map(|(name, at)| Some(ready.at(name)?.saturating_duration_since(*at)))
        .collect();
    latencies.sort();
    let p95 = percentile(&latencies, 95.0);
    report.figure(
        "cold start",
        format!(
            "a new user and token created behind the backlog: token Ready after p50 / p95 ({} pairs)",
            latencies.len()
        ),
        format!("{} / {}", secs(percentile(&latencies, 50.0)), secs(p95)),
        Check::info("p95 ≤ 5 s", p95 <= Duration::from_secs(5)),
    );
    ready.stop();
    let cold_writes = bench.writes_since(&cold_mark, "operator").await;
    report.figure(
        "cold start",
        "API writes per token during the cold start",
        format!(
            "{:.2} ({})",
            cold_writes.total() as f64 / total as f64,
            cold_writes.describe()
        ),
        None,
    );
    // Where the API server's time goes, next to the floor's figure: the cold start is
    // bound by kube-apiserver's CPU (see the note), so this is its cause.
    report.figure(
        "cold start",
        "API server time per token, in the operator's writes (audit log)",
        format!(
            "{:.1} ms ({})",
            cold_writes.server_time().as_secs_f64() * 1000.0 / total as f64,
            cold_writes.describe_served()
        ),
        None,
    );
    let stats_after = bench.emulator_stats().await;
    report.figure(
        "Snowflake pressure",
        "peak statements in flight on the connection (cold start)",
        stats_after["peakInFlight"]["KEYPAIR_JWT"].to_string(),
        Check::gate(
            "≤ --snowflake-max-in-flight (8)",
            stats_after["peakInFlight"]["KEYPAIR_JWT"]
                .as_u64()
                .unwrap_or(0)
                <= 8,
        ),
    );
    report.figure(
        "Snowflake pressure",
        "statements during the cold start, by kind",
        describe_statements(&stats_before, &stats_after),
        None,
    );
    peak.peak = peak.peak.max(operator.process.memory().peak);
    settle().await;
    let steady = operator.process.memory();
    report.figure(
        "memory",
        format!("operator RSS peak (VmHWM) during the cold start of {n} tokens"),
        mem(peak.peak),
        Check::info("at most 64 MiB (at 10,000 tokens)", peak.peak <= 64 << 20),
    );
    report.figure(
        "memory",
        format!("operator RSS at steady state with {total} tokens"),
        mem(steady.rss),
        Check::info("at most 64 MiB (at 10,000 tokens)", steady.rss <= 64 << 20),
    );

    // No-op reconciles: SIGHUP asks for a reconcile of every object; none should write.
    let mark = bench.audit();
    let before = operator_metric(
        bench,
        operator.metrics,
        "snowflake_operator_reconciles_total",
    )
    .await;
    operator.process.hangup();
    let objects = (total + n.div_ceil(flags.tokens_per_user) + flags.backlog + 1) as f64;
    let reconciled = until(
        Duration::from_secs(600),
        "a reconcile of every object",
        || async {
            let now = operator_metric(
                bench,
                operator.metrics,
                "snowflake_operator_reconciles_total",
            )
            .await;
            (now - before >= objects).then_some(now - before)
        },
    )
    .await;
    let writes = bench.writes_since(&mark, "operator").await;
    report.figure(
        "writes",
        format!("API writes by the operator in {reconciled:.0} no-op reconciles (SIGHUP resync)"),
        format!("{} ({})", writes.total(), writes.describe()),
        Check::gate("0", writes.total() == 0),
    );
    let mark = bench.audit();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let quiet = bench.writes_since(&mark, "operator").await;
    report.figure(
        "writes",
        "API writes by the operator over a 20 s quiet period",
        format!("{} ({})", quiet.total(), quiet.describe()),
        Check::gate("0", quiet.total() == 0),
    );

    // A forced rotation of every token.
    let rotation = rotate_all(bench, &tokens, "bench-1", total, None).await;
    let per = |x: u64| x as f64 / total as f64;
    let secret_and_status =
        rotation.writes.of("secrets") + rotation.writes.of("snowflaketokens/status");
    report.figure(
        "rotation",
        format!("forced rotation of all {total} tokens, until all Ready again"),
        secs(rotation.took),
        None,
    );
    report.note(format!(
        "forced rotation of {total} tokens: {}",
        rotation.cpu
    ));
    report.figure(
        "rotation",
        "API writes per rotation: Secret + status",
        format!("{:.2}", per(secret_and_status)),
        Check::gate("2", secret_and_status == 2 * total as u64),
    );
    report.figure(
        "rotation",
        "API writes per rotation, all (Events included)",
        format!(
            "{:.2} ({})",
            per(rotation.writes.total()),
            rotation.writes.describe()
        ),
        None,
    );
    report.figure(
        "rotation",
        "management statements per rotation (ROTATE; ADD, REMOVE, SHOW)",
        format!("{:.2} ({})", per(rotation.management), rotation.statements),
        Check::gate("1", rotation.management == total as u64),
    );
    report.figure(
        "rotation",
        "verification statements per rotation (PAT login)",
        format!("{:.2}", per(rotation.verifications)),
        Check::gate("1", rotation.verifications == total as u64),
    );
    report.figure(
        "Snowflake pressure",
        "peak statements in flight on the connection (rotation)",
        rotation.peak.to_string(),
        Check::gate("≤ 8", rotation.peak <= 8),
    );

    // The same through a burst of 429s.
    let fault = serde_json::to_value(
        FaultSpec::new(
            FaultKind::TooManyRequests {
                retry_after_secs: None,
            },
            flags.throttle_burst,
        )
        .on_path("/api/v2/statements"),
    )
    .expect("fault JSON");
    let failures_before =
        operator_metric(bench, operator.metrics, "snowflake_operator_failures_total").await;
    let throttled = rotate_all(bench, &tokens, "bench-2", total, Some(fault)).await;
    let failures = operator_metric(bench, operator.metrics, "snowflake_operator_failures_total")
        .await
        - failures_before;
    let lost = throttled.took.saturating_sub(rotation.took);
    report.figure(
        "Snowflake pressure",
        format!(
            "{} × 429 during a second forced rotation: time lost / reconcile failures",
            flags.throttle_burst
        ),
        format!("{} / {failures:.0}", secs(lost)),
        Check::gate("no failures", failures == 0.0),
    );
    report.figure(
        "Snowflake pressure",
        "answers during the throttled rotation",
        throttled.answers,
        None,
    );

    // Restart: nothing rotates, nothing is written, renewals stay spread.
    operator.process.stop(Duration::from_secs(30));
    let mark = bench.audit();
    let restarted = start_operator(bench, "operator-restarted").await;
    let before = 0.0;
    until(
        Duration::from_secs(600),
        "a reconcile of every object after the restart",
        || async {
            let now = operator_metric(
                bench,
                restarted.metrics,
                "snowflake_operator_reconciles_total",
            )
            .await;
            (now - before >= objects).then_some(())
        },
    )
    .await;
    let writes = bench.writes_since(&mark, "operator").await;
    report.figure(
        "restart",
        "API writes by the operator after a restart (first reconcile of every object)",
        format!("{} ({})", writes.total(), writes.describe()),
        Check::gate("0", writes.total() == 0),
    );
    spread(bench, &tokens, report).await;
    restarted.process.stop(Duration::from_secs(30));
}

fn describe_statements(before: &serde_json::Value, after: &serde_json::Value) -> String {
    let Some(kinds) = after["statements"].as_object() else {
        return String::new();
    };
    kinds
        .iter()
        .filter_map(|(kind, n)| {
            let d = n.as_u64()? - before["statements"][kind].as_u64().unwrap_or(0);
            (d > 0).then(|| format!("{kind} {d}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn diff(before: &serde_json::Value, after: &serde_json::Value, path: &[&str]) -> u64 {
    let get = |v: &serde_json::Value| path.iter().fold(v, |v, k| &v[*k]).as_u64().unwrap_or(0);
    get(after) - get(before)
}

struct Rotation {
    took: Duration,
    cpu: String,
    writes: super::audit::Writes,
    management: u64,
    verifications: u64,
    statements: String,
    answers: String,
    peak: u64,
}

async fn rotate_all(
    bench: &Bench,
    tokens: &Api<SnowflakeToken>,
    request: &'static str,
    total: usize,
    fault: Option<serde_json::Value>,
) -> Rotation {
    let names: Vec<String> = (0..bench.flags.tokens)
        .map(|i| format!("tok-{i}"))
        .chain((0..bench.flags.backlog).map(|j| format!("new-{j}")))
        .collect();
    let tracker = Tracker::start(tokens.clone(), move |t| rotated_for(t, request));
    let before = bench.emulator_stats().await;
    bench.reset_peaks().await;
    let mark = bench.audit();
    if let Some(fault) = fault {
        let answer = bench
            .http
            .post(format!("{}/_emulator/faults", bench.emulator_url))
            .json(&fault)
            .send()
            .await
            .expect("fault");
        assert!(
            answer.status().is_success(),
            "the emulator refused the fault: {}",
            answer.text().await.unwrap_or_default()
        );
    }
    let cpu_before = bench.cpu(&[]);
    let started = Instant::now();
    let names = &names;
    futures::stream::iter(names.iter())
        .map(|name| async move {
            let patch = serde_json::json!({"metadata": {"annotations": {"snowflake-token-operator.io/rotate": request}}});
            tokens
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap_or_else(|e| panic!("annotate {name}: {e}"));
        })
        .buffer_unordered(bench.flags.workers)
        .collect::<Vec<_>>()
        .await;
    let done = tracker
        .wait_for(total, Duration::from_secs(900), "every token rotated")
        .await;
    tracker.stop();
    let took = done.duration_since(started);
    let cpu = super::cpu_between(&cpu_before, &bench.cpu(&[]), took);
    let writes = bench.writes_since(&mark, "operator").await;
    let after = bench.emulator_stats().await;
    let management = [
        "ALTER USER ROTATE PAT",
        "ALTER USER ADD PAT",
        "ALTER USER REMOVE PAT",
        "SHOW USER PATS",
    ]
    .iter()
    .map(|k| diff(&before, &after, &["statements", k]))
    .sum();
    let answers = after["answers"]
        .as_object()
        .map(|a| {
            a.iter()
                .filter_map(|(code, n)| {
                    let d = n.as_u64()? - before["answers"][code].as_u64().unwrap_or(0);
                    (d > 0).then(|| format!("{code}: {d}"))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Rotation {
        took,
        cpu,
        writes,
        management,
        verifications: diff(&before, &after, &["submits", "PROGRAMMATIC_ACCESS_TOKEN"]),
        statements: describe_statements(&before, &after),
        answers,
        peak: after["peakInFlight"]["KEYPAIR_JWT"].as_u64().unwrap_or(0),
    }
}

/// Renewal times after the restart, by minute: no minute more than twice the mean.
async fn spread(bench: &Bench, tokens: &Api<SnowflakeToken>, report: &mut Report) {
    let list = tokens.list(&Default::default()).await.expect("tokens");
    let times: Vec<i64> = list
        .items
        .iter()
        .filter_map(|t| Some(t.status.as_ref()?.renewal_time.as_ref()?.0.as_second()))
        .collect();
    let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
        return;
    };
    let minutes = ((last - first) / 60 + 1) as usize;
    let mut buckets = vec![0usize; minutes];
    for t in &times {
        buckets[((t - first) / 60) as usize] += 1;
    }
    let mean = times.len() as f64 / minutes as f64;
    let max = buckets.iter().copied().max().unwrap_or(0);
    let enough = mean >= 20.0;
    report.figure(
        "spread",
        format!(
            "renewals after the restart: {} over {minutes} minutes, busiest minute / mean",
            times.len()
        ),
        format!("{max} / {mean:.1} = {:.2}×", max as f64 / mean),
        if enough {
            Check::gate("≤ 2×", max as f64 <= 2.0 * mean)
        } else {
            Check::info(
                "≤ 2× (too few per minute to judge)",
                max as f64 <= 2.0 * mean,
            )
        },
    );
    let histogram: Vec<String> = buckets
        .chunks(buckets.len().div_ceil(12).max(1))
        .map(|c| c.iter().sum::<usize>().to_string())
        .collect();
    report.note(format!(
        "renewal histogram after the restart ({} buckets of {} min, from {}): {}",
        histogram.len(),
        buckets.len().div_ceil(12).max(1),
        jiff::Timestamp::from_second(*first)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        histogram.join(" ")
    ));
    let _ = bench;
}

/// Lets memory settle before it is read (allocator, caches): a measurement pause, not a
/// wait for a condition.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(3)).await;
}
