//! Readiness changes of connections and service users, told to their dependents only
//! once the cache holds them.
//!
//! A token waiting on its user reads the user's readiness from the users' cache. Were the
//! trigger a watch of its own, it could deliver "the user is Ready" before the cache's
//! watch delivered the same change: the token would read the old copy, see its user still
//! unverified, and sleep until its recheck (30 s; a third of a 300-token cold start did).
//! Announced from the cache's own stream, after the reflector applied the event, the
//! change is in the cache before any dependent hears of it. It also saves the separate
//! watches (their traffic, their memory).

use std::collections::HashMap;

use futures::channel::mpsc;
use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

/// Announces, to each listener, the objects whose readiness (as `readiness` sums it up)
/// changed: every object once when first seen, then at each change.
pub struct Announcer<K: Resource<DynamicType = ()>> {
    readiness: fn(&K) -> u64,
    last: HashMap<ObjectRef<K>, u64>,
    /// During a relist: what was known before it (objects gone meanwhile are dropped at
    /// its end).
    before: Option<HashMap<ObjectRef<K>, u64>>,
    listeners: Vec<mpsc::UnboundedSender<ObjectRef<K>>>,
}

impl<K: Resource<DynamicType = ()>> Announcer<K> {
    /// An announcer of changes to `readiness`.
    pub fn new(readiness: fn(&K) -> u64) -> Self {
        Self {
            readiness,
            last: HashMap::new(),
            before: None,
            listeners: Vec::new(),
        }
    }

    /// A new listener: the references of the objects whose readiness changed. Unbounded,
    /// but it carries a reference per change, not the objects.
    pub fn listen(&mut self) -> mpsc::UnboundedReceiver<ObjectRef<K>> {
        let (tx, rx) = mpsc::unbounded();
        self.listeners.push(tx);
        rx
    }

    /// Takes note of an event the cache has applied.
    pub fn observe(&mut self, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Init => self.before = Some(std::mem::take(&mut self.last)),
            watcher::Event::InitApply(object) | watcher::Event::Apply(object) => {
                let reference = ObjectRef::from_obj(object);
                let now = (self.readiness)(object);
                let was = match &mut self.before {
                    Some(before) => before.remove(&reference),
                    None => None,
                }
                .or_else(|| self.last.get(&reference).copied());
                self.last.insert(reference.clone(), now);
                if was != Some(now) {
                    self.listeners
                        .retain(|l| l.unbounded_send(reference.clone()).is_ok());
                }
            }
            watcher::Event::InitDone => self.before = None,
            watcher::Event::Delete(object) => {
                self.last.remove(&ObjectRef::from_obj(object));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    use super::*;

    fn map(name: &str, value: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            data: Some([("ready".to_owned(), value.to_owned())].into()),
            ..ConfigMap::default()
        }
    }

    fn readiness(map: &ConfigMap) -> u64 {
        u64::from(map.data.as_ref().is_some_and(|d| d["ready"] == "yes"))
    }

    fn heard(rx: &mut mpsc::UnboundedReceiver<ObjectRef<ConfigMap>>) -> Vec<String> {
        let mut names = Vec::new();
        while let Ok(r) = rx.try_recv() {
            names.push(r.name);
        }
        names
    }

    #[test]
    fn each_listener_hears_of_new_objects_and_of_readiness_changes_only() {
        let mut announcer = Announcer::new(readiness);
        let mut users = announcer.listen();
        let mut tokens = announcer.listen();
        announcer.observe(&watcher::Event::Init);
        announcer.observe(&watcher::Event::InitApply(map("a", "no")));
        announcer.observe(&watcher::Event::InitDone);
        announcer.observe(&watcher::Event::Apply(map("a", "no")));
        announcer.observe(&watcher::Event::Apply(map("a", "yes")));
        announcer.observe(&watcher::Event::Apply(map("b", "yes")));
        assert_eq!(heard(&mut users), ["a", "a", "b"]);
        assert_eq!(heard(&mut tokens), ["a", "a", "b"]);
    }

    #[test]
    fn a_relist_announces_only_what_changed_while_the_watch_was_down() {
        let mut announcer = Announcer::new(readiness);
        let mut rx = announcer.listen();
        announcer.observe(&watcher::Event::Apply(map("same", "yes")));
        announcer.observe(&watcher::Event::Apply(map("changed", "no")));
        announcer.observe(&watcher::Event::Apply(map("gone", "yes")));
        heard(&mut rx);
        announcer.observe(&watcher::Event::Init);
        announcer.observe(&watcher::Event::InitApply(map("same", "yes")));
        announcer.observe(&watcher::Event::InitApply(map("changed", "yes")));
        announcer.observe(&watcher::Event::InitDone);
        assert_eq!(heard(&mut rx), ["changed"]);
        // "gone" was forgotten with the relist: back, it is news again.
        announcer.observe(&watcher::Event::Apply(map("gone", "yes")));
        assert_eq!(heard(&mut rx), ["gone"]);
    }
}
