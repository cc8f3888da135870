//! Scale and cost benchmark: the operator (its release binary, as its own process) on a
//! real control plane and the emulator, side by side with the floor (a bare kube-rs
//! writer) and the peer (External Secrets Operator), in one run.
//!
//! ```sh
//! cargo bench --bench scale -- --tokens 1000                 # a quick look
//! cargo bench --bench scale -- --tokens 10000 --peer --out BENCHMARKS.md   # the full run
//! cargo bench --bench scale -- --smoke                       # CI: fails on a missed target
//! ```
//!
//! Needs what the tests need (`KUBEBUILDER_ASSETS` or `../shared/envtest`), and for
//! `--peer` the ESO kit in `../shared/peers/eso`. What each figure means, and its target,
//! is in the table it prints (and in `BENCHMARKS.md`).

#[path = "../../tests/support/mod.rs"]
mod support;

mod audit;
mod peer;
mod procs;
mod report;
mod tokens;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};

use procs::{Process, free_port, get_text, metric_sum, mib, until};
use report::Report;

/// Flags; the defaults are a quick look, `--smoke` the CI size.
#[derive(Parser, Debug, Clone)]
#[command(about = "Scale and cost benchmark of snowflake-token-operator")]
pub struct Flags {
    /// Tokens in the cold start.
    #[arg(long, default_value_t = 1000)]
    tokens: usize,
    /// Tokens per service user (5 leaves room under the 15-token cap for two rotations of
    /// every token inside the grace period).
    #[arg(long, default_value_t = 5)]
    tokens_per_user: usize,
    /// Tokens created while the cold start is worked, one every 200 ms, to time a new
    /// token behind the backlog.
    #[arg(long, default_value_t = 20)]
    backlog: usize,
    /// Unrelated Secrets in another namespace (the operator must not cache them).
    #[arg(long, default_value_t = 30_000)]
    unrelated_secrets: usize,
    /// Parallel writers for the benchmark's own creates and for the floor.
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// The operator's reconcile concurrency (and the peer's `--concurrent` in its second run).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// 429s injected during the second forced rotation.
    #[arg(long, default_value_t = 200)]
    throttle_burst: u32,
    /// Also run External Secrets Operator on the same workload (default flags, then
    /// `--concurrent` = `--concurrency`).
    #[arg(long)]
    peer: bool,
    /// CI size (300 tokens, 1,000 unrelated Secrets); exits non-zero when a ratio or a
    /// write-count target is missed (never on an absolute time).
    #[arg(long)]
    smoke: bool,
    /// Run the cold-start operator under this command (for example `heaptrack -o
    /// /tmp/operator` or `perf record -g -o /tmp/perf.data --`), to profile it. Its memory
    /// and CPU figures are then those of the wrapper, not the operator's own.
    #[arg(long)]
    profile_with: Option<String>,
    /// Write the report here (Markdown).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Ignored (cargo bench passes it).
    #[arg(long, hide = true)]
    bench: bool,
}

/// The namespace of the operator's objects.
const NS: &str = "bench";

fn main() -> std::process::ExitCode {
    let mut flags = Flags::parse();
    if flags.smoke {
        flags.tokens = flags.tokens.min(300);
        flags.unrelated_secrets = flags.unrelated_secrets.min(1000);
        flags.backlog = flags.backlog.min(10);
        flags.throttle_burst = flags.throttle_burst.min(50);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = runtime.block_on(run(flags.clone()));
    print!("{}", report.table());
    if let Some(out) = &flags.out {
        std::fs::write(out, with_analysis(report.markdown(&flags), out))
            .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        println!("written to {}", out.display());
    }
    let missed = report.missed();
    if flags.smoke && !missed.is_empty() {
        eprintln!("targets missed: {}", missed.join("; "));
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}

/// The heading of the part of the report people write (the causes of missed targets, with
/// their measurements): kept from the existing file when the figures are written again.
const ANALYSIS: &str = "\n## Analysis\n";

/// `figures`, followed by the analysis section of the report at `out`, if it has one.
fn with_analysis(figures: String, out: &std::path::Path) -> String {
    let existing = std::fs::read_to_string(out).unwrap_or_default();
    match existing.find(ANALYSIS) {
        Some(at) => figures + &existing[at..],
        None => figures,
    }
}

/// Everything the phases share.
pub struct Bench {
    pub flags: Flags,
    pub plane: &'static support::ControlPlane,
    pub admin: kube::Client,
    pub http: reqwest::Client,
    pub emulator_url: String,
    pub logs: PathBuf,
    pub binary: PathBuf,
    pub emulator_pid: u32,
}

impl Bench {
    /// CPU time used so far by every process of the run: the control plane's and the
    /// operator (its kubeconfig lives in the control plane's folder), the emulator, this
    /// program, and `extra`.
    pub fn cpu(&self, extra: &[(&str, u32)]) -> Vec<(String, Duration)> {
        let mut all: Vec<(String, Duration)> =
            procs::pids_matching(&self.plane.dir.display().to_string())
                .into_iter()
                .map(|(pid, name)| (name, procs::cpu_of(pid)))
                .collect();
        all.push(("emulator".into(), procs::cpu_of(self.emulator_pid)));
        all.push(("benchmark".into(), procs::cpu_of(std::process::id())));
        for (name, pid) in extra {
            all.push(((*name).to_owned(), procs::cpu_of(*pid)));
        }
        all
    }
}

/// CPU seconds each process used between two [`Bench::cpu`] readings.
pub fn cpu_between(
    before: &[(String, Duration)],
    after: &[(String, Duration)],
    wall: Duration,
) -> String {
    let mut parts: Vec<String> = after
        .iter()
        .map(|(name, used)| {
            let earlier = before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(Duration::ZERO, |(_, d)| *d);
            (name, used.saturating_sub(earlier))
        })
        .filter(|(_, d)| !d.is_zero())
        .map(|(name, d)| format!("{name} {:.1}", d.as_secs_f64()))
        .collect();
    parts.push(format!("of {:.1} available", 2.0 * wall.as_secs_f64()));
    format!("CPU s: {}", parts.join(", "))
}

impl Bench {
    pub fn audit(&self) -> audit::Mark {
        audit::Mark::now(self.plane.audit_log.as_ref().expect("audit log"))
    }

    pub async fn writes_since(&self, mark: &audit::Mark, user: &str) -> audit::Writes {
        mark.writes_of(user, &self.admin, "default").await
    }

    pub async fn emulator_stats(&self) -> serde_json::Value {
        let text = get_text(
            &self.http,
            &format!("{}/_emulator/stats", self.emulator_url),
        )
        .await
        .expect("emulator stats");
        serde_json::from_str(&text).expect("stats JSON")
    }

    pub async fn reset_peaks(&self) {
        self.http
            .delete(format!("{}/_emulator/stats", self.emulator_url))
            .send()
            .await
            .expect("reset peaks");
    }

    /// Creates `count` objects from `make(i)` with the benchmark's writers.
    pub async fn create_all<K, F>(&self, api: &Api<K>, count: usize, make: F)
    where
        K: kube::Resource
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        F: Fn(usize) -> K,
    {
        let make = &make;
        futures::stream::iter(0..count)
            .map(|i| async move {
                let object = make(i);
                api.create(&PostParams::default(), &object)
                    .await
                    .unwrap_or_else(|e| panic!("create {i}: {e}"));
            })
            .buffer_unordered(self.flags.workers)
            .collect::<Vec<_>>()
            .await;
    }
}

async fn namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("ns");
    let _ = api.create(&PostParams::default(), &ns).await;
}

async fn run(flags: Flags) -> Report {
    let mut report = Report::default();
    let plane = support::control_plane(support::Options {
        audit: true,
        ..support::Options::API_ONLY
    });
    let logs = plane.dir.join("bench-logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    report.note(format!("logs of this run: {}", logs.display()));
    let admin = plane.client().await;
    let http = reqwest::Client::builder().build().expect("http client");
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_snowflake-token-operator"));

    // The emulator, as its own process.
    let port = free_port();
    let emulator_url = format!("http://127.0.0.1:{port}");
    let seed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/emulator/account.yaml");
    let emulator = Process::spawn(
        "emulator",
        &binary,
        &[
            "emulator".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--config".into(),
            seed.display().to_string(),
            "--enable-test-endpoints".into(),
        ],
        &[("RUST_LOG", "warn")],
        &logs,
    );
    let bench = Bench {
        flags: flags.clone(),
        plane,
        admin,
        http,
        emulator_url,
        logs,
        binary,
        emulator_pid: emulator.pid(),
    };
    until(Duration::from_secs(30), "the emulator", || async {
        get_text(
            &bench.http,
            &format!("{}/_emulator/stats", bench.emulator_url),
        )
        .await
    })
    .await;

    tokens::emulator_ceiling(&bench, &mut report).await;
    let floor = floor(&bench, &mut report).await;
    tokens::run(&bench, &mut report, floor).await;
    if let Some(out) = &flags.out {
        // Written now too, so a long peer run that is cut short leaves our figures.
        let _ = std::fs::write(out, with_analysis(report.markdown(&flags), out));
    }
    if flags.peer {
        peer::run(&bench, &mut report, floor).await;
    }
    drop(emulator);
    report
}

/// The floor: a bare writer (no rate limit, `--workers` in parallel) creating N Secrets
/// and then updating each once: the least an operator that writes one Secret and one
/// status per object can cost on this control plane.
async fn floor(bench: &Bench, report: &mut Report) -> Duration {
    let n = bench.flags.tokens;
    let client = bench.plane.client_as("floor").await;
    namespace(&client, "floor").await;
    let api: Api<Secret> = Api::namespaced(client.clone(), "floor");
    let cpu_before = bench.cpu(&[]);
    let mark = bench.audit();
    let started = Instant::now();
    bench
        .create_all(&api, n, |i| secret(&format!("floor-{i}"), "floor"))
        .await;
    let api = &api;
    futures::stream::iter(0..n)
        .map(|i| async move {
            let patch = serde_json::json!({"metadata": {"annotations": {"bench/updated": "1"}}});
            api.patch(
                &format!("floor-{i}"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .unwrap_or_else(|e| panic!("floor update {i}: {e}"));
        })
        .buffer_unordered(bench.flags.workers)
        .collect::<Vec<_>>()
        .await;
    let took = started.elapsed();
    report.note(format!(
        "floor ({n} Secrets created and updated): {}",
        cpu_between(&cpu_before, &bench.cpu(&[]), took)
    ));
    report.figure(
        "floor",
        format!(
            "{n} Secret creates + {n} updates, {} writers",
            bench.flags.workers
        ),
        format!("{:.1} s", took.as_secs_f64()),
        None,
    );
    let writes = bench.writes_since(&mark, "floor").await;
    report.figure(
        "floor",
        "API server time per object, in its writes (audit log)",
        format!(
            "{:.1} ms ({})",
            writes.server_time().as_secs_f64() * 1000.0 / n.max(1) as f64,
            writes.describe_served()
        ),
        None,
    );
    took
}

/// An Opaque Secret with one key.
pub fn secret(name: &str, value: &str) -> Secret {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"bench": "unrelated"}},
        "stringData": {"value": value},
    }))
    .expect("secret")
}

/// Fills namespace `noise` with unrelated Secrets (each with a 1 KiB value, as real ones
/// are not empty).
pub async fn unrelated_secrets(bench: &Bench, count: usize) -> Duration {
    let client = bench.plane.client_as("floor").await;
    namespace(&client, "noise").await;
    let api: Api<Secret> = Api::namespaced(client, "noise");
    let value = "x".repeat(1024);
    let started = Instant::now();
    bench
        .create_all(&api, count, |i| secret(&format!("noise-{i}"), &value))
        .await;
    started.elapsed()
}

/// Percentile `p` (0..=100) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The operator's `/metrics` counter sum of `family`.
pub async fn operator_metric(bench: &Bench, metrics_port: u16, family: &str) -> f64 {
    let text = get_text(
        &bench.http,
        &format!("http://127.0.0.1:{metrics_port}/metrics"),
    )
    .await
    .unwrap_or_default();
    metric_sum(&text, family)
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn ratio(ours: Duration, theirs: Duration) -> f64 {
    ours.as_secs_f64() / theirs.as_secs_f64().max(1e-9)
}

pub fn mem(bytes: u64) -> String {
    format!("{:.1} MiB", mib(bytes))
}
