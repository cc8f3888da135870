//! Polling a condition with a deadline, instead of sleeping and hoping.

use std::future::Future;
use std::time::{Duration, Instant};

pub use snowflake_token_operator::envtest::{until, until_sync};

/// Polls `check` until it returns `Some` and returns the value; panics naming `what` when
/// `timeout` passes first.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    until(Instant::now() + timeout, check)
        .await
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}
