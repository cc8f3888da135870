//! `SHOW USER PATS` shared by the tokens of one user: a user holds up to 15 tokens, and
//! when they are checked together (a cold start, the first check after a restart) one
//! statement answers for all of them. A listing is reused for a few seconds and dropped
//! as soon as the operator itself changes that user's tokens, so a token never decides
//! on a listing older than its own last change.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

use crate::snowflake::PatInfo;

type Key = (String, String);
type Slot = Arc<tokio::sync::Mutex<Option<(Timestamp, Arc<Vec<PatInfo>>)>>>;

/// Recent listings per (connection UID, user).
#[derive(Debug, Default)]
pub struct Listings {
    slots: Mutex<HashMap<Key, Slot>>,
}

/// How long a listing is reused.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

impl Listings {
    fn slot(&self, key: &Key) -> Slot {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(key.clone()).or_default().clone()
    }

    /// The user's tokens: a listing fetched less than [`FRESH_FOR`] before `now`, else
    /// `fetch` (callers for the same user wait for one fetch instead of each sending one).
    /// Age is measured on the operator's clock, the one its decisions use.
    pub async fn get<F, Fut>(
        &self,
        connection_uid: &str,
        user: &str,
        now: Timestamp,
        fetch: F,
    ) -> crate::snowflake::Result<Arc<Vec<PatInfo>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = crate::snowflake::Result<Vec<PatInfo>>>,
    {
        let slot = self.slot(&(connection_uid.to_owned(), user.to_owned()));
        let mut cached = slot.lock().await;
        if let Some((at, pats)) = cached.as_ref()
            && *at <= now
            && now.duration_since(*at).unsigned_abs() < FRESH_FOR
        {
            return Ok(pats.clone());
        }
        let pats = Arc::new(fetch().await?);
        *cached = Some((now, pats.clone()));
        Ok(pats)
    }

    /// Applies a change the operator just made to a user's tokens to the cached listing,
    /// if there is one (it keeps its age: [`FRESH_FOR`] still bounds how long it is
    /// trusted). One `ADD` or `ROTATE` then costs one statement, not also a `SHOW` for
    /// every other token of the user that decides in the next few seconds.
    pub async fn amend(
        &self,
        connection_uid: &str,
        user: &str,
        change: impl FnOnce(&mut Vec<PatInfo>),
    ) {
        let slot = self.slot(&(connection_uid.to_owned(), user.to_owned()));
        let mut cached = slot.lock().await;
        if let Some((_, pats)) = cached.as_mut() {
            change(Arc::make_mut(pats));
        }
    }

    /// Drops the listing of a user whose tokens changed in a way the operator cannot
    /// describe.
    pub async fn invalidate(&self, connection_uid: &str, user: &str) {
        let slot = self.slot(&(connection_uid.to_owned(), user.to_owned()));
        *slot.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_and_invalidation_refetches() {
        let now = Timestamp::UNIX_EPOCH;
        let listings = Arc::new(Listings::default());
        let fetches = Arc::new(AtomicUsize::new(0));
        let calls = (0..10).map(|_| {
            let listings = listings.clone();
            let fetches = fetches.clone();
            async move {
                listings
                    .get("conn", "BI", now, || async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        Ok(Vec::new())
                    })
                    .await
            }
        });
        for result in futures::future::join_all(calls).await {
            assert!(result.is_ok());
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        listings.invalidate("conn", "BI").await;
        let again = listings
            .get("conn", "BI", now, || async {
                fetches.fetch_add(1, Ordering::SeqCst);
                Ok(Vec::new())
            })
            .await;
        assert!(again.is_ok());
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_amended_listing_is_reused_with_the_change() {
        let now = Timestamp::UNIX_EPOCH;
        let listings = Listings::default();
        // Nothing cached: nothing to amend, and nothing invented.
        listings
            .amend("conn", "BI", |pats| pats.push(PatInfo::active("LOST")))
            .await;
        let fetched = listings
            .get("conn", "BI", now, || async {
                Ok(vec![PatInfo::active("PBI")])
            })
            .await
            .expect("fetch");
        assert_eq!(fetched.len(), 1);
        listings
            .amend("conn", "BI", |pats| pats.push(PatInfo::active("TABLEAU")))
            .await;
        let again = listings
            .get("conn", "BI", now, || async {
                panic!("the amended listing is fresh")
            })
            .await
            .expect("cached");
        let names: Vec<_> = again.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["PBI", "TABLEAU"]);
        // The earlier caller's snapshot is not changed under it.
        assert_eq!(fetched.len(), 1);
        // Old on the operator's clock (an emulated clock may jump): fetched again.
        let later = now + jiff::SignedDuration::from_secs(6);
        let refetched = listings
            .get("conn", "BI", later, || async { Ok(Vec::new()) })
            .await
            .expect("refetch");
        assert!(refetched.is_empty());
    }
}
