//! New objects before the backlog. At start (and after a relist) a watch delivers every
//! object at once; queued as they come, a token created a second later waits behind all
//! of them (minutes at 10,000 objects, the way a one-worker queue makes people wait).
//! Instead the initial list is handed to the controller only as fast as its workers take
//! it (a few batches ahead), while objects created or changed after the list go straight
//! in: a person's `kubectl apply` is served next, whatever the backlog.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, Stream, StreamExt};
use kube::Resource;
use kube::runtime::watcher;
use tokio::sync::Notify;

/// A released object not taken within this long (deleted meanwhile, or folded into
/// another request by the scheduler) stops counting against the limit.
const FORGET_AFTER: Duration = Duration::from_secs(10);

/// Counts initial-list objects handed to a controller and not yet reconciled.
#[derive(Debug)]
pub struct Pacer {
    limit: usize,
    released: Mutex<HashMap<String, Instant>>,
    taken: Notify,
}

impl Pacer {
    /// At most `limit` initial-list objects waiting in the controller's queue.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            released: Mutex::default(),
            taken: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.released
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn room(&self) -> bool {
        let mut released = self.lock();
        released.retain(|_, at| at.elapsed() < FORGET_AFTER);
        released.len() < self.limit
    }

    fn release(&self, uid: String) {
        self.lock().insert(uid, Instant::now());
    }

    /// A reconcile of `uid` began: its place goes to the next object of the backlog.
    pub fn taken(&self, uid: &str) {
        if self.lock().remove(uid).is_some() {
            self.taken.notify_one();
        }
    }
}

struct State<S, K> {
    events: S,
    backlog: VecDeque<K>,
    pacer: Arc<Pacer>,
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
    K: Resource,
{
    fn take<E>(&mut self, event: Option<Result<watcher::Event<K>, E>>) -> Next<K, E> {
        match event {
            None => self.ended = true,
            Some(Err(e)) => return Next::Out(Err(e)),
            Some(Ok(watcher::Event::Init)) => self.listing = true,
            Some(Ok(watcher::Event::InitApply(object))) => self.backlog.push_back(object),
            Some(Ok(watcher::Event::InitDone)) => self.listing = false,
            Some(Ok(watcher::Event::Apply(object))) => return Next::Out(Ok(object)),
            Some(Ok(watcher::Event::Delete(_))) => {}
        }
        Next::Continue
    }
}

/// The objects of a reflected watch (as `applied_objects` yields them), with the initial
/// list paced by `pacer`.
pub fn paced<K, S, E>(events: S, pacer: Arc<Pacer>) -> impl Stream<Item = Result<K, E>> + Send
where
    K: Resource + Send + 'static,
    E: Send + 'static,
    S: Stream<Item = Result<watcher::Event<K>, E>> + Send + Unpin + 'static,
{
    let state = State {
        events,
        backlog: VecDeque::new(),
        pacer,
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
                let object: K = st.backlog.pop_front()?;
                st.pacer
                    .release(object.meta().uid.clone().unwrap_or_default());
                return Some((Ok(object), st));
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
                () = tokio::time::sleep(FORGET_AFTER), if waiting => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn object(name: &str) -> ConfigMap {
        let mut map = ConfigMap::default();
        map.metadata.name = Some(name.into());
        map.metadata.uid = Some(format!("uid-{name}"));
        map
    }

    #[tokio::test]
    async fn a_live_change_overtakes_the_initial_list() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<watcher::Event<ConfigMap>, ()>>();
        let pacer = Pacer::new(2);
        let mut objects = Box::pin(paced(rx, pacer.clone()));
        tx.unbounded_send(Ok(watcher::Event::Init)).unwrap();
        for i in 0..5 {
            tx.unbounded_send(Ok(watcher::Event::InitApply(object(&format!("old-{i}")))))
                .unwrap();
        }
        tx.unbounded_send(Ok(watcher::Event::InitDone)).unwrap();
        let name = |o: Option<Result<ConfigMap, ()>>| o.unwrap().unwrap().metadata.name.unwrap();
        // Once the list is complete, two of it go in; the rest wait until those are taken.
        assert_eq!(name(objects.next().await), "old-0");
        assert_eq!(name(objects.next().await), "old-1");
        tx.unbounded_send(Ok(watcher::Event::Apply(object("new"))))
            .unwrap();
        assert_eq!(name(objects.next().await), "new", "a new object goes first");
        pacer.taken("uid-old-0");
        assert_eq!(name(objects.next().await), "old-2");
        pacer.taken("uid-old-1");
        pacer.taken("uid-old-2");
        assert_eq!(name(objects.next().await), "old-3");
        assert_eq!(name(objects.next().await), "old-4");
    }

    #[tokio::test]
    async fn nothing_of_a_list_is_released_before_it_is_complete() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<watcher::Event<ConfigMap>, ()>>();
        let mut objects = Box::pin(paced(rx, Pacer::new(8)));
        tx.unbounded_send(Ok(watcher::Event::Init)).unwrap();
        tx.unbounded_send(Ok(watcher::Event::InitApply(object("a"))))
            .unwrap();
        let early = tokio::time::timeout(Duration::from_millis(50), objects.next()).await;
        assert!(early.is_err(), "released before InitDone");
        tx.unbounded_send(Ok(watcher::Event::InitDone)).unwrap();
        let a = objects.next().await.unwrap().unwrap();
        assert_eq!(a.metadata.name.as_deref(), Some("a"));
    }
}
