//! `SHOW USER PATS` shared by the tokens of one user: a user holds up to 15 tokens, and
//! when they are checked together (a cold start, the first check after a restart) one
//! statement answers for all of them. A listing is reused for a few seconds and dropped
//! as soon as the operator itself changes that user's tokens, so a token never decides
//! on a listing older than its own last change.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::snowflake::PatInfo;

type Key = (String, String);
type Slot = Arc<tokio::sync::Mutex<Option<(Instant, Arc<Vec<PatInfo>>)>>>;

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

    /// The user's tokens: a listing fetched less than [`FRESH_FOR`] ago, else `fetch`
    /// (callers for the same user wait for one fetch instead of each sending one).
    pub async fn get<F, Fut>(
        &self,
        connection_uid: &str,
        user: &str,
        fetch: F,
    ) -> crate::snowflake::Result<Arc<Vec<PatInfo>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = crate::snowflake::Result<Vec<PatInfo>>>,
    {
        let slot = self.slot(&(connection_uid.to_owned(), user.to_owned()));
        let mut cached = slot.lock().await;
        if let Some((at, pats)) = cached.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return Ok(pats.clone());
        }
        let pats = Arc::new(fetch().await?);
        *cached = Some((Instant::now(), pats.clone()));
        Ok(pats)
    }

    /// Drops the listing of a user whose tokens the operator just changed.
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
        let listings = Arc::new(Listings::default());
        let fetches = Arc::new(AtomicUsize::new(0));
        let calls = (0..10).map(|_| {
            let listings = listings.clone();
            let fetches = fetches.clone();
            async move {
                listings
                    .get("conn", "BI", || async {
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
            .get("conn", "BI", || async {
                fetches.fetch_add(1, Ordering::SeqCst);
                Ok(Vec::new())
            })
            .await;
        assert!(again.is_ok());
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }
}
