//! The peer: External Secrets Operator (`../shared/peers/eso/`) syncing the same number
//! of objects from its fake provider on the same control plane, started (like ours) with
//! every object already there; default flags, then `--concurrent` = our concurrency.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::runtime::{WatchStreamExt, watcher};

use super::procs::{Process, free_port, until};
use super::report::Report;
use super::{Bench, mem, ratio, secs};

fn kit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peers/eso")
}

/// Unpacks the ESO binary into the cache (once) and checks it against the kit's sums.
fn binary() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .expect("HOME")
        .join("snowflake-token-operator/peers/eso");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let binary = cache.join("external-secrets");
    if !binary.exists() {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "xz -dc '{}' > '{}.part' && chmod +x '{}.part' && mv '{}.part' '{}'",
                kit().join("external-secrets.xz").display(),
                binary.display(),
                binary.display(),
                binary.display(),
                binary.display()
            ))
            .status()
            .expect("xz");
        assert!(status.success(), "cannot unpack the ESO binary");
    }
    let sums = std::fs::read_to_string(kit().join("SHA256SUMS")).expect("SHA256SUMS");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd '{}' && printf '%s\\n' '{}' | sha256sum -c --quiet -",
            cache.display(),
            sums.trim()
        ))
        .status()
        .expect("sha256sum");
    assert!(
        status.success(),
        "the unpacked ESO binary does not match the kit's SHA256SUMS"
    );
    binary
}

fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("external-secrets.io", "v1", kind))
}

async fn install_crds(bench: &Bench) {
    let crds = kit().join("crds.yaml");
    support_kubectl(
        bench,
        &["apply", "--server-side", "-f", &crds.display().to_string()],
    )
    .await;
    support_kubectl(
        bench,
        &[
            "wait",
            "--for",
            "condition=Established",
            "crd",
            "--all",
            "--timeout=120s",
        ],
    )
    .await;
}

async fn support_kubectl(bench: &Bench, args: &[&str]) {
    let out = super::support::kubectl(bench.plane, args).await;
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn objects(bench: &Bench, namespace: &str) {
    super::namespace(&bench.admin, namespace).await;
    let stores: Api<DynamicObject> =
        Api::namespaced_with(bench.admin.clone(), namespace, &resource("SecretStore"));
    let store: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "fake"},
        "spec": {"provider": {"fake": {"data": [{"key": "/snowflake/pat", "value": "not-a-real-token"}]}}},
    }))
    .expect("store");
    stores
        .create(&PostParams::default(), &store)
        .await
        .expect("SecretStore");
    let externals: Api<DynamicObject> =
        Api::namespaced_with(bench.admin.clone(), namespace, &resource("ExternalSecret"));
    bench
        .create_all(&externals, bench.flags.tokens, |i| {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "external-secrets.io/v1",
                "kind": "ExternalSecret",
                "metadata": {"name": format!("es-{i}")},
                "spec": {
                    "refreshInterval": "1h",
                    "secretStoreRef": {"name": "fake", "kind": "SecretStore"},
                    "target": {"name": format!("es-{i}")},
                    "data": [{"secretKey": "password", "remoteRef": {"key": "/snowflake/pat"}}],
                },
            }))
            .expect("external secret")
        })
        .await;
}

struct PeerRun {
    /// How the peer died before syncing everything, if it did: when, how many it had
    /// synced, and the first line of its log.
    crashed: Option<(Duration, usize, String)>,
    took: Duration,
    p95: Duration,
    rss: u64,
    peak: u64,
    quiet_writes: u64,
}

async fn one(bench: &Bench, binary: &Path, namespace: &str, concurrent: Option<usize>) -> PeerRun {
    objects(bench, namespace).await;
    let secrets: Api<Secret> = Api::namespaced(bench.admin.clone(), namespace);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let record = seen.clone();
    let watch = tokio::spawn(async move {
        let mut stream = watcher(secrets, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        let mut names = std::collections::HashSet::new();
        while let Some(Ok(secret)) = stream.next().await {
            if names.insert(secret.metadata.name.clone().unwrap_or_default()) {
                record.lock().expect("seen").push(Instant::now());
            }
        }
    });
    let mut args = vec![
        "--metrics-addr".to_owned(),
        format!("127.0.0.1:{}", free_port()),
        "--enable-leader-election=false".into(),
        "--loglevel".into(),
        "error".into(),
        "--namespace".into(),
        namespace.into(),
    ];
    if let Some(n) = concurrent {
        args.push("--concurrent".into());
        args.push(n.to_string());
    }
    let kubeconfig = bench.plane.kubeconfig_as("peer");
    let started = Instant::now();
    let mut process = Process::spawn(
        &format!("eso-{namespace}"),
        binary,
        &args,
        &[("KUBECONFIG", &kubeconfig.display().to_string())],
        &bench.logs,
    );
    let n = bench.flags.tokens;
    let mut peak = 0;
    let mut crashed = None;
    until(Duration::from_secs(7200), "the peer's Secrets", || {
        peak = peak.max(process.memory().peak);
        let count = seen.lock().expect("seen").len();
        if count < n && !process.alive() {
            crashed = Some((started.elapsed(), count, process.first_log_line()));
        }
        let done = count >= n || crashed.is_some();
        async move { done.then_some(()) }
    })
    .await;
    let mut times: Vec<Duration> = seen
        .lock()
        .expect("seen")
        .iter()
        .map(|at| at.duration_since(started))
        .collect();
    times.sort();
    watch.abort();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let memory = process.memory();
    let mark = bench.audit();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let quiet = bench.writes_since(&mark, "peer").await;
    process.stop(Duration::from_secs(10));
    PeerRun {
        crashed,
        took: times.last().copied().unwrap_or_default(),
        p95: super::percentile(&times, 95.0),
        rss: memory.rss,
        peak: peak.max(memory.peak),
        quiet_writes: quiet.total(),
    }
}

pub async fn run(bench: &Bench, report: &mut Report, floor: Duration) {
    let binary = binary();
    install_crds(bench).await;
    let ours = report.cold_start().unwrap_or_default();
    for (label, namespace, concurrent) in [
        ("default flags (--concurrent 1)", "peer-default", None),
        (
            "--concurrent = our concurrency",
            "peer-concurrent",
            Some(bench.flags.concurrency),
        ),
    ] {
        let run = one(bench, &binary, namespace, concurrent).await;
        let section = format!("peer: External Secrets Operator 0.16.2, {label}");
        if let Some((after, synced, line)) = &run.crashed {
            report.figure(
                &section,
                format!(
                    "{} ExternalSecrets all synced (from start)",
                    bench.flags.tokens
                ),
                format!(
                    "never: it crashed after {} with {synced} synced (`{line}`)",
                    secs(*after)
                ),
                None,
            );
            continue;
        }
        report.figure(
            &section,
            format!(
                "{} ExternalSecrets all synced (from start)",
                bench.flags.tokens
            ),
            secs(run.took),
            None,
        );
        report.figure(
            &section,
            "ratio to ours / to the floor",
            format!(
                "{:.2}× / {:.2}×",
                ratio(run.took, ours),
                ratio(run.took, floor)
            ),
            None,
        );
        report.figure(
            &section,
            "per-object time to synced p95",
            secs(run.p95),
            None,
        );
        report.figure(
            &section,
            "RSS after / peak",
            format!("{} / {}", mem(run.rss), mem(run.peak)),
            None,
        );
        report.figure(
            &section,
            "API writes over a 20 s quiet period",
            run.quiet_writes.to_string(),
            None,
        );
    }
}
