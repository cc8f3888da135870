//! New objects before the backlog. At start (and after a relist) a watch delivers every
//! object at once; queued as they come, a token created a second later waits behind all
//! of them (minutes at 10,000 objects, the way a one-worker queue makes people wait).
//! Instead the initial list is handed to the controller only as fast as its workers take
//! it (a few batches ahead), while objects created or changed after the list go straight
//! in: a person's `kubectl apply` is served next, whatever the backlog.
//!
//! Going in first is not enough to be served first: kube-runtime's scheduler keeps the
//! requests that are due in a last-in-first-out stack (tokio-util's `DelayQueue`), so a
//! new object handed over before a stream of backlog objects is served after all of them.
//! The backlog therefore waits while a live object is handed over and not yet taken, and
//! so the pacer itself drops the changes the controller ignores (a status write: see
//! [`paced`]'s `changes`), which would otherwise count as live and never be taken.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, Stream, StreamExt};
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tokio::sync::Notify;

/// A released object not taken within this long (deleted meanwhile, or folded into
/// another request by the scheduler) stops counting against the limit.
const FORGET_AFTER: Duration = Duration::from_secs(10);

/// An object by namespace and name.
type Key = (String, String);

fn key_of(meta: &kube::api::ObjectMeta) -> Key {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

#[derive(Debug, Default)]
struct Books {
    /// Objects of the initial list not yet handed over (nor reconciled another way).
    waiting: HashSet<Key>,
    /// Objects handed over and not yet reconciled, with when.
    released: HashMap<Key, Instant>,
    /// Objects created or changed after the list, handed over and not yet reconciled,
    /// with when: the backlog waits for them (see the module's documentation).
    live: HashMap<Key, Instant>,
}

/// Keeps the books of a paced initial list: what still waits in the backlog, and what was
/// handed to the controller and not yet reconciled.
///
/// Other triggers of the controller (a dependency becoming ready, an owned Secret's
/// event) ask [`Pacer::is_waiting`] first and leave a waiting object alone: it is
/// reconciled when its turn comes, so they do not rebuild the backlog in front of a
/// person's new object. An object reconciled some other way meanwhile (a live change) is
/// struck from the backlog, so its turn costs nothing.
#[derive(Debug)]
pub struct Pacer {
    limit: usize,
    books: Mutex<Books>,
    taken: Notify,
}

impl Pacer {
    /// At most `limit` initial-list objects waiting in the controller's queue.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            books: Mutex::default(),
            taken: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn room(&self) -> bool {
        let mut books = self.lock();
        books.released.retain(|_, at| at.elapsed() < FORGET_AFTER);
        books.live.retain(|_, at| at.elapsed() < FORGET_AFTER);
        books.live.is_empty() && books.released.len() < self.limit
    }

    fn went_live(&self, key: Key) {
        self.lock().live.insert(key, Instant::now());
    }

    fn enqueue(&self, key: Key) {
        self.lock().waiting.insert(key);
    }

    fn deleted(&self, key: &Key) {
        let mut books = self.lock();
        books.waiting.remove(key);
        // Its reconcile will not come (the object left the store): nothing to wait for.
        books.live.remove(key);
    }

    /// Moves `key` from the backlog to the released; false if it no longer waits
    /// (reconciled meanwhile, deleted, or a duplicate of a relist).
    fn release(&self, key: Key) -> bool {
        let mut books = self.lock();
        if !books.waiting.remove(&key) {
            return false;
        }
        books.released.insert(key, Instant::now());
        true
    }

    fn forget_released(&self, key: &Key) {
        self.lock().released.remove(key);
    }

    /// Whether the object `namespace`/`name` waits in the backlog of the initial list.
    pub fn is_waiting(&self, namespace: &str, name: &str) -> bool {
        self.lock()
            .waiting
            .contains(&(namespace.to_owned(), name.to_owned()))
    }

    /// A reconcile of `object` began: it leaves the backlog if it was there, and its
    /// place among the released goes to the next object (once no live object waits).
    pub fn taken(&self, object: &impl Resource) {
        let key = key_of(object.meta());
        let mut books = self.lock();
        books.waiting.remove(&key);
        let released = books.released.remove(&key).is_some();
        let live = books.live.remove(&key).is_some();
        if released || live {
            self.taken.notify_one();
        }
    }
}

struct State<S, K: Resource<DynamicType = ()> + 'static> {
    events: S,
    /// The initial list in order; the objects themselves are read from the store when
    /// their turn comes (a second copy of 10,000 objects is memory the store already holds).
    backlog: VecDeque<ObjectRef<K>>,
    store: Store<K>,
    pacer: Arc<Pacer>,
    /// What of an object the controller reacts to (a predicate, as kube-runtime's
    /// `predicate_filter` takes), and its value when each object was last handed over.
    changes: fn(&K) -> Option<u64>,
    handed: HashMap<Key, u64>,
    /// Between `Init` and `InitDone`: the store is swapped in only at `InitDone`, so
    /// nothing of the list is released before (its reconcile would find no object).
    listing: bool,
    ended: bool,
}

/// What the watch said, as far as the pacing goes.
enum Next<K, E> {
    Out(Result<K, E>),
    Continue,
}

impl<S, K> State<S, K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    fn take<E>(&mut self, event: Option<Result<watcher::Event<K>, E>>) -> Next<K, E> {
        match event {
            None => {
                tracing::debug!(backlog = self.backlog.len(), "pacer: the watch ended");
                self.ended = true;
            }
            Some(Err(e)) => return Next::Out(Err(e)),
            Some(Ok(watcher::Event::Init)) => {
                tracing::debug!(backlog = self.backlog.len(), "pacer: a list began");
                self.listing = true;
            }
            Some(Ok(watcher::Event::InitApply(object))) => {
                self.pacer.enqueue(key_of(object.meta()));
                self.backlog.push_back(ObjectRef::from_obj(&object));
            }
            Some(Ok(watcher::Event::InitDone)) => {
                tracing::debug!(backlog = self.backlog.len(), "pacer: the list is complete");
                self.listing = false;
            }
            Some(Ok(watcher::Event::Apply(object))) => {
                let key = key_of(object.meta());
                if self.hand_over(&key, &object) {
                    self.pacer.went_live(key);
                    return Next::Out(Ok(object));
                }
            }
            Some(Ok(watcher::Event::Delete(object))) => {
                let key = key_of(object.meta());
                self.handed.remove(&key);
                self.pacer.deleted(&key);
            }
        }
        Next::Continue
    }

    /// Whether `object` changed in what the controller reacts to since it was last handed
    /// over (or was never handed over); records it as handed over.
    fn hand_over(&mut self, key: &Key, object: &K) -> bool {
        let Some(value) = (self.changes)(object) else {
            return true;
        };
        self.handed.insert(key.clone(), value) != Some(value)
    }

    /// The next object of the backlog still waiting, as the store has it now.
    fn next_waiting(&mut self) -> Option<K> {
        while let Some(reference) = self.backlog.pop_front() {
            let key = (
                reference.namespace.clone().unwrap_or_default(),
                reference.name.clone(),
            );
            if !self.pacer.release(key.clone()) {
                continue;
            }
            match self.store.get(&reference) {
                Some(object) => {
                    self.hand_over(&key, &object);
                    return Some((*object).clone());
                }
                // Deleted between the list and its turn.
                None => self.pacer.forget_released(&key),
            }
        }
        None
    }
}

/// The objects of a reflected watch (as `applied_objects` yields them), with the initial
/// list paced by `pacer`; `store` is the cache the watch fills. A live change goes out
/// only when `changes` (a predicate, as `predicate_filter` takes) differs from when the
/// object last went out; the initial list goes out whole.
pub fn paced<K, S, E>(
    events: S,
    store: Store<K>,
    pacer: Arc<Pacer>,
    changes: fn(&K) -> Option<u64>,
) -> impl Stream<Item = Result<K, E>> + Send
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    E: Send + 'static,
    S: Stream<Item = Result<watcher::Event<K>, E>> + Send + Unpin + 'static,
{
    let state = State {
        events,
        backlog: VecDeque::new(),
        store,
        pacer,
        changes,
        handed: HashMap::new(),
        listing: false,
        ended: false,
    };
    futures::stream::unfold(state, |mut st: State<S, K>| async move {
        loop {
            // What the watch already has comes first: a live change goes straight out,
            // the list into the backlog.
            if !st.ended
                && let Some(event) = st.events.next().now_or_never()
            {
                match st.take(event) {
                    Next::Out(item) => return Some((item, st)),
                    Next::Continue => continue,
                }
            }
            if !st.listing && !st.backlog.is_empty() && st.pacer.room() {
                if let Some(object) = st.next_waiting() {
                    tracing::trace!(backlog = st.backlog.len(), "pacer: released one");
                    return Some((Ok(object), st));
                }
                continue;
            }
            if st.ended && st.backlog.is_empty() {
                return None;
            }
            let waiting = !st.listing && !st.backlog.is_empty();
            tokio::select! {
                event = st.events.next(), if !st.ended => {
                    if let Next::Out(item) = st.take(event) {
                        return Some((item, st));
                    }
                }
                () = st.pacer.taken.notified(), if waiting => {}
                // Released objects that were never taken are forgotten after a while.
                () = tokio::time::sleep(FORGET_AFTER), if waiting => {
                    tracing::debug!(backlog = st.backlog.len(), "pacer: released objects not taken in time");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector;

    fn object(name: &str) -> ConfigMap {
        let mut map = ConfigMap::default();
        map.metadata.name = Some(name.into());
        map.metadata.namespace = Some("ns".into());
        map.metadata.uid = Some(format!("uid-{name}"));
        map
    }

    type Events = futures::channel::mpsc::UnboundedSender<Result<watcher::Event<ConfigMap>, ()>>;

    /// A watch as `reflecting` gives it: each event in the store before it is passed on.
    struct Watch {
        tx: Events,
        writer: reflector::store::Writer<ConfigMap>,
    }

    impl Watch {
        fn send(&mut self, event: watcher::Event<ConfigMap>) {
            self.writer.apply_watcher_event(&event);
            self.tx.unbounded_send(Ok(event)).unwrap();
        }

        fn list(&mut self, names: &[&str]) {
            self.send(watcher::Event::Init);
            for name in names {
                self.send(watcher::Event::InitApply(object(name)));
            }
            self.send(watcher::Event::InitDone);
        }
    }

    type Objects = std::pin::Pin<Box<dyn Stream<Item = Result<ConfigMap, ()>> + Send>>;

    fn start(limit: usize) -> (Watch, Arc<Pacer>, Objects) {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let (store, writer) = reflector::store();
        let pacer = Pacer::new(limit);
        let objects = Box::pin(paced(rx, store, pacer.clone(), |o: &ConfigMap| {
            Some(o.metadata.labels.as_ref().map_or(0, |l| l.len() as u64))
        }));
        (Watch { tx, writer }, pacer, objects)
    }

    fn name(o: Option<Result<ConfigMap, ()>>) -> String {
        o.unwrap().unwrap().metadata.name.unwrap()
    }

    #[tokio::test]
    async fn a_live_change_overtakes_the_initial_list() {
        let (mut watch, pacer, mut objects) = start(2);
        watch.list(&["old-0", "old-1", "old-2", "old-3", "old-4"]);
        // Once the list is complete, two of it go in; the rest wait until those are taken.
        assert_eq!(name(objects.next().await), "old-0");
        assert_eq!(name(objects.next().await), "old-1");
        assert!(pacer.is_waiting("ns", "old-2"));
        watch.send(watcher::Event::Apply(object("new")));
        assert_eq!(name(objects.next().await), "new", "a new object goes first");
        pacer.taken(&object("new"));
        pacer.taken(&object("old-0"));
        assert_eq!(name(objects.next().await), "old-2");
        pacer.taken(&object("old-1"));
        pacer.taken(&object("old-2"));
        assert_eq!(name(objects.next().await), "old-3");
        assert_eq!(name(objects.next().await), "old-4");
        assert!(!pacer.is_waiting("ns", "old-4"));
    }

    /// kube-runtime's scheduler serves due requests last in, first out: a backlog object
    /// handed over after a new one would be served before it, and so would every one
    /// after that, for as long as the backlog lasts.
    #[tokio::test]
    async fn the_backlog_waits_until_a_live_change_is_taken() {
        let (mut watch, pacer, mut objects) = start(2);
        watch.list(&["old-0", "old-1", "old-2", "old-3"]);
        assert_eq!(name(objects.next().await), "old-0");
        watch.send(watcher::Event::Apply(object("new")));
        assert_eq!(name(objects.next().await), "new");
        pacer.taken(&object("old-0"));
        let held = tokio::time::timeout(Duration::from_millis(50), objects.next()).await;
        assert!(held.is_err(), "a backlog object went in over the new one");
        pacer.taken(&object("new"));
        assert_eq!(name(objects.next().await), "old-1");
        // A live object deleted before its reconcile holds nothing up.
        watch.send(watcher::Event::Apply(object("gone")));
        assert_eq!(name(objects.next().await), "gone");
        watch.send(watcher::Event::Delete(object("gone")));
        pacer.taken(&object("old-1"));
        assert_eq!(name(objects.next().await), "old-2");
    }

    /// A change the controller ignores (here: anything but the labels) is dropped here, not
    /// after: downstream it would count as live and hold up the backlog.
    #[tokio::test]
    async fn an_ignored_change_is_dropped_and_holds_nothing_up() {
        let (mut watch, pacer, mut objects) = start(1);
        watch.list(&["a", "b"]);
        assert_eq!(name(objects.next().await), "a");
        // Same labels as handed over (none): dropped.
        watch.send(watcher::Event::Apply(object("a")));
        pacer.taken(&object("a"));
        assert_eq!(
            name(objects.next().await),
            "b",
            "b waited for an ignored change"
        );
        // Labels changed: a live change again.
        let mut a = object("a");
        a.metadata.labels = Some([("k".to_owned(), "v".to_owned())].into());
        watch.send(watcher::Event::Apply(a));
        assert_eq!(name(objects.next().await), "a");
    }

    #[tokio::test]
    async fn nothing_of_a_list_is_released_before_it_is_complete() {
        let (mut watch, _pacer, mut objects) = start(8);
        watch.send(watcher::Event::Init);
        watch.send(watcher::Event::InitApply(object("a")));
        let early = tokio::time::timeout(Duration::from_millis(50), objects.next()).await;
        assert!(early.is_err(), "released before InitDone");
        watch.send(watcher::Event::InitDone);
        assert_eq!(name(objects.next().await), "a");
    }

    #[tokio::test]
    async fn what_was_reconciled_or_deleted_meanwhile_does_not_take_a_turn() {
        let (mut watch, pacer, mut objects) = start(1);
        watch.list(&["a", "b", "c", "d"]);
        assert_eq!(name(objects.next().await), "a");
        // b is reconciled through another trigger (a live change), c is deleted.
        pacer.taken(&object("b"));
        watch.send(watcher::Event::Delete(object("c")));
        assert!(!pacer.is_waiting("ns", "b"));
        // Without this, a turn would go to b (which the scheduler would drop as done)
        // and the backlog would stall until the release was forgotten.
        pacer.taken(&object("a"));
        assert_eq!(name(objects.next().await), "d");
        assert!(!pacer.is_waiting("ns", "c"));
    }

    #[tokio::test]
    async fn the_released_object_is_the_store_s_current_one() {
        let (mut watch, pacer, mut objects) = start(1);
        watch.list(&["a", "b"]);
        assert_eq!(name(objects.next().await), "a");
        let mut changed = object("b");
        changed.data = Some([("k".to_owned(), "v".to_owned())].into());
        // A change made while b waits is in the store before the pacer reads its event
        // (the watch is reflected first, then queued to the pacer).
        watch
            .writer
            .apply_watcher_event(&watcher::Event::Apply(changed.clone()));
        pacer.taken(&object("a"));
        // b takes its turn as the store holds it now.
        let released = objects.next().await.unwrap().unwrap();
        assert_eq!(released.data, changed.data);
    }
}
