//! Kubernetes Events (`events.k8s.io/v1`) about our objects, an identical event repeated
//! within a few minutes counted as a series on the first one instead of written again.
//!
//! This replaces kube-runtime's `Recorder`, which does the same but keeps every Event it
//! published, whole, for six minutes and scans them all on each publish: a cold start of
//! 10,000 tokens held some 30 MB of Events there, and each publish walked 10,000 entries.
//! Here an entry is the event's name, its count and when it was last seen, and expired
//! entries are dropped at most once a minute. Unlike the `Recorder`, the note is part of
//! what makes two events identical: a series keeps one note, so a new message starts a
//! new event rather than being counted under an older text.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;

/// How long a published event can be counted again as a series (kube-runtime's and
/// client-go's value).
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);
/// How often expired entries are dropped.
const SWEEP_EVERY: SignedDuration = SignedDuration::from_mins(1);

/// What one event says.
pub struct Said<'a> {
    /// Normal or Warning.
    pub type_: EventType,
    /// The reason (`Minted`, `SnowflakeUnavailable`).
    pub reason: &'a str,
    /// The action (`Reconcile`, `Delete`).
    pub action: &'a str,
    /// The message.
    pub note: &'a str,
}

struct Published {
    name: String,
    count: i32,
    last: Timestamp,
}

#[derive(Default)]
struct Cache {
    /// By a 64-bit hash of (object, type, reason, action, note): two different events
    /// colliding is a one-in-10^11 chance at 10,000 entries, and would only add a count
    /// to the other's series.
    entries: HashMap<u64, Published>,
    swept: Option<Timestamp>,
}

/// Publishes events as one reporting controller instance.
pub struct Publisher {
    client: kube::Client,
    controller: String,
    instance: String,
    cache: Mutex<Cache>,
}

fn key(regarding: &ObjectReference, said: &Said<'_>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (
        &regarding.namespace,
        &regarding.name,
        &regarding.uid,
        &regarding.kind,
        matches!(said.type_, EventType::Warning),
        said.reason,
        said.action,
        said.note,
    )
        .hash(&mut hasher);
    hasher.finish()
}

impl Publisher {
    /// A publisher for `controller` (the reporting controller) and `instance`.
    pub fn new(client: kube::Client, controller: &str, instance: &str) -> Self {
        Self {
            client,
            controller: controller.to_owned(),
            instance: instance.to_owned(),
            cache: Mutex::default(),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The series to extend, if this event was published within the window.
    fn earlier(&self, key: u64, now: Timestamp) -> Option<(String, i32)> {
        let mut cache = self.cache();
        if cache
            .swept
            .is_none_or(|at| now.duration_since(at) > SWEEP_EVERY)
        {
            cache
                .entries
                .retain(|_, e| now.duration_since(e.last) < SERIES_WINDOW);
            cache.swept = Some(now);
        }
        cache
            .entries
            .get(&key)
            .filter(|e| now.duration_since(e.last) < SERIES_WINDOW)
            .map(|e| (e.name.clone(), e.count))
    }

    /// Publishes `said` about `regarding` (in its namespace).
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        said: &Said<'_>,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = key(regarding, said);
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        if let Some((name, count)) = self.earlier(key, now) {
            let series = EventSeries {
                count: count + 1,
                last_observed_time: MicroTime(now),
            };
            let patch = serde_json::json!({ "series": series });
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.remember(key, name, count + 1, now);
                    return Ok(());
                }
                // Deleted meanwhile (TTL, a person): a new one is created below.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let name = format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or(&self.controller),
            now.as_nanosecond()
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.to_owned()),
                ..Default::default()
            },
            action: Some(said.action.to_owned()),
            reason: Some(said.reason.to_owned()),
            note: Some(fit_note(said.note)),
            type_: Some(
                match said.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_owned(),
            ),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        api.create(&PostParams::default(), &event).await?;
        self.remember(key, name, 1, now);
        Ok(())
    }

    fn remember(&self, key: u64, name: String, count: i32, last: Timestamp) {
        self.cache()
            .entries
            .insert(key, Published { name, count, last });
    }

    /// Entries held (for tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.cache().entries.len()
    }
}

/// The API server refuses an Event whose note is over 1 KiB (events.k8s.io/v1
/// validation): a long message (a Snowflake error, an admission policy's text) is cut at
/// a character boundary with an ellipsis, so the event is published rather than lost.
fn fit_note(note: &str) -> String {
    const LIMIT: usize = 1024;
    if note.len() <= LIMIT {
        return note.to_owned();
    }
    let mut end = LIMIT - '…'.len_utf8();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said<'a>(note: &'a str) -> Said<'a> {
        Said {
            type_: EventType::Normal,
            reason: "Minted",
            action: "Reconcile",
            note,
        }
    }

    fn reference(name: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("SnowflakeToken".into()),
            namespace: Some("ns".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        }
    }

    #[test]
    fn the_note_and_the_object_tell_events_apart() {
        let a = key(&reference("a"), &said("token X minted"));
        assert_eq!(a, key(&reference("a"), &said("token X minted")));
        assert_ne!(a, key(&reference("a"), &said("token Y minted")));
        assert_ne!(a, key(&reference("b"), &said("token X minted")));
    }

    #[tokio::test]
    async fn expired_entries_are_swept() {
        // A client that is never called: the cache is exercised on its own.
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
        let publisher = Publisher::new(kube::Client::try_from(config).expect("client"), "c", "i");
        let now = Timestamp::now();
        publisher.remember(1, "old".into(), 1, now - SignedDuration::from_mins(7));
        publisher.remember(2, "recent".into(), 3, now - SignedDuration::from_mins(1));
        assert_eq!(publisher.earlier(1, now), None, "past the window");
        assert_eq!(publisher.earlier(2, now), Some(("recent".into(), 3)));
        assert_eq!(publisher.held(), 1, "the expired entry was dropped");
    }

    #[test]
    fn a_long_note_is_cut_to_what_the_api_server_accepts() {
        assert_eq!(fit_note("short"), "short");
        let long = "é".repeat(700);
        let fitted = fit_note(&long);
        assert!(fitted.len() <= 1024, "{}", fitted.len());
        assert!(fitted.ends_with('…'));
        assert!(long.starts_with(fitted.trim_end_matches('…')));
    }
}
