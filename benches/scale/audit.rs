//! Writes counted from the API server's own audit log (JSON lines, one per answered
//! write; the policy is in `tests/support/control_plane.rs`), by identity and resource.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A position in the audit log: writes are counted from here.
pub struct Mark {
    path: PathBuf,
    offset: u64,
}

/// Writes of one identity, by `resource[/subresource]`.
#[derive(Debug, Default, Clone)]
pub struct Writes {
    pub by_resource: BTreeMap<String, u64>,
    /// By `verb resource[/subresource]`: how many, and the API server's time on them
    /// (request received to response complete, the audit event's own timestamps).
    pub served: BTreeMap<String, (u64, Duration)>,
}

impl Writes {
    pub fn total(&self) -> u64 {
        self.by_resource.values().sum()
    }

    pub fn of(&self, resource: &str) -> u64 {
        self.by_resource.get(resource).copied().unwrap_or(0)
    }

    pub fn describe(&self) -> String {
        if self.by_resource.is_empty() {
            return "none".into();
        }
        self.by_resource
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The API server's time on all of these writes.
    pub fn server_time(&self) -> Duration {
        self.served.values().map(|(_, time)| *time).sum()
    }

    /// Each kind of write with its count and mean API-server time, the costliest first.
    pub fn describe_served(&self) -> String {
        if self.served.is_empty() {
            return "none".into();
        }
        let mut kinds: Vec<_> = self.served.iter().collect();
        kinds.sort_by_key(|(_, (_, time))| std::cmp::Reverse(*time));
        kinds
            .into_iter()
            .map(|(kind, (count, time))| {
                format!(
                    "{kind} {count} × {:.1} ms",
                    time.as_secs_f64() * 1000.0 / (*count).max(1) as f64
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The API server's time on the request of an audit event: from its
/// `requestReceivedTimestamp` to its `stageTimestamp` (the policy keeps only the
/// `ResponseComplete` stage).
fn served_in(event: &serde_json::Value) -> Option<Duration> {
    let at = |field: &str| event[field].as_str()?.parse::<jiff::Timestamp>().ok();
    let took = at("stageTimestamp")?.duration_since(at("requestReceivedTimestamp")?);
    Duration::try_from(took).ok()
}

impl Mark {
    /// The end of the log now.
    pub fn now(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            offset: std::fs::metadata(path).map_or(0, |m| m.len()),
        }
    }

    /// The writes `user` made since the mark, up to now. The log is written in batches,
    /// in order: a sentinel write made now (a ConfigMap in `namespace`) marks the end,
    /// and the log is read once the sentinel is in it.
    pub async fn writes_of(&self, user: &str, client: &kube::Client, namespace: &str) -> Writes {
        let sentinel = format!("audit-sentinel-{}", uuid::Uuid::new_v4().simple());
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client.clone(), namespace);
        let map: k8s_openapi::api::core::v1::ConfigMap =
            serde_json::from_value(serde_json::json!({"metadata": {"name": sentinel}}))
                .expect("configmap");
        api.create(&kube::api::PostParams::default(), &map)
            .await
            .expect("sentinel write");
        let text = super::procs::until(Duration::from_secs(180), "the audit log to flush", || {
            let text = read_from(&self.path, self.offset);
            let found = text.contains(&sentinel);
            async move { found.then_some(text) }
        })
        .await;
        let mut writes = Writes::default();
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if event["user"]["username"].as_str() != Some(user) || line.contains(&sentinel) {
                continue;
            }
            let object = &event["objectRef"];
            let mut resource = object["resource"].as_str().unwrap_or("?").to_owned();
            if let Some(sub) = object["subresource"].as_str() {
                resource = format!("{resource}/{sub}");
            }
            let verb = event["verb"].as_str().unwrap_or("?");
            let served = writes
                .served
                .entry(format!("{verb} {resource}"))
                .or_default();
            served.0 += 1;
            served.1 += served_in(&event).unwrap_or_default();
            *writes.by_resource.entry(resource).or_default() += 1;
        }
        writes
    }
}

fn read_from(path: &Path, offset: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let _ = file.seek(SeekFrom::Start(offset));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    text
}
