//! Retry policy: full-jitter exponential backoff within an attempt and time budget.
//!
//! Full jitter (a uniform delay between zero and the exponential cap) spreads retries of
//! many reconcilers hitting the same throttled account, which a fixed exponential schedule
//! would synchronise. A `Retry-After` from Snowflake is a floor: we never come back sooner
//! than asked.

use std::time::Duration;

use rand::Rng;

/// How transient failures are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = no retries).
    pub max_attempts: u32,
    /// Cap of the first backoff.
    pub base_delay: Duration,
    /// Largest backoff cap.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The exponential cap before retry number `retry` (0-based): `base * 2^retry`,
    /// limited to `max_delay`.
    pub fn cap(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(30)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The delay before retry number `retry`: uniform in `[0, cap(retry)]`, but at least
    /// `retry_after` when the server sent one.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let cap = self.cap(retry);
        let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        let jitter = Duration::from_millis(rng.random_range(0..=cap_ms));
        match retry_after {
            Some(floor) => jitter.max(floor),
            None => jitter,
        }
    }
}

/// Parses a `Retry-After` header given in seconds (the HTTP-date form is ignored).
pub fn parse_retry_after(value: Option<&http::HeaderValue>) -> Option<Duration> {
    let secs: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn backoff_stays_within_the_exponential_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        assert_eq!(policy.cap(0), Duration::from_millis(100));
        assert_eq!(policy.cap(3), Duration::from_millis(800));
        assert_eq!(policy.cap(5), Duration::from_secs(2));
        assert_eq!(policy.cap(60), Duration::from_secs(2));
        let mut rng = StdRng::seed_from_u64(7);
        let mut saw_small = false;
        for retry in 0..20 {
            for _ in 0..50 {
                let d = policy.delay(retry, None, &mut rng);
                assert!(d <= policy.cap(retry), "{d:?} > cap of retry {retry}");
                saw_small |= retry > 4 && d < Duration::from_millis(500);
            }
        }
        assert!(saw_small, "full jitter must reach well below the cap");
    }

    #[test]
    fn retry_after_is_a_floor() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..50 {
            let d = policy.delay(0, Some(Duration::from_secs(3)), &mut rng);
            assert!(d >= Duration::from_secs(3));
        }
        let h = http::HeaderValue::from_static("7");
        assert_eq!(parse_retry_after(Some(&h)), Some(Duration::from_secs(7)));
        let date = http::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(Some(&date)), None);
        assert_eq!(parse_retry_after(None), None);
    }
}
