//! When to come back: deterministic per-object jitter and failure backoff (pure).
//!
//! Jitter comes from a hash of the object's UID, so the same object always lands on the
//! same offset: after a restart nothing moves (no burst, no rotation caused by the
//! restart itself), and 10,000 tokens created together still spread over the window.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

/// A number in `[0, 1)` derived from `uid` and `salt` (different salts give independent
/// spreads for one object, e.g. renewal and drift check).
pub fn fraction(uid: &str, salt: &str) -> f64 {
    let digest = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update([0])
        .chain_update(uid.as_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    // 53 bits: exact in an f64.
    (u64::from_be_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// `window` scaled by the object's fraction.
pub fn spread(uid: &str, salt: &str, window: Duration) -> Duration {
    window.mul_f64(fraction(uid, salt))
}

/// The renewal time moved earlier by up to a tenth of `renew_before` (at most an hour), so
/// that tokens created in one burst do not all renew in the same minute.
pub fn jittered_renewal(uid: &str, renewal: Timestamp, renew_before: Duration) -> Timestamp {
    let window = (renew_before / 10).min(Duration::from_secs(3600));
    // Whole seconds: the renewal time is shown in the status, which keeps no fraction.
    let early = SignedDuration::from_secs(spread(uid, "renewal", window).as_secs() as i64);
    renewal.checked_sub(early).unwrap_or(renewal)
}

/// How long to wait after `failures` consecutive failures: exponential from `base`,
/// capped at `max`, with jitter in its upper half (never 0, never a thundering herd).
pub fn backoff(failures: u32, base: Duration, max: Duration, uid: &str) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let full = base.saturating_mul(1 << exponent).min(max);
    let salt = format!("backoff-{failures}");
    full / 2 + spread(uid, &salt, full / 2)
}

/// The time from `now` until `at`, zero when it passed.
pub fn until(now: Timestamp, at: Timestamp) -> Duration {
    Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_deterministic_and_spread() {
        assert_eq!(fraction("uid-1", "a"), fraction("uid-1", "a"));
        assert_ne!(fraction("uid-1", "a"), fraction("uid-1", "b"));
        // 10,000 objects over 100 buckets: none holds more than twice the mean.
        let mut buckets = [0u32; 100];
        for i in 0..10_000 {
            let f = fraction(&format!("{i:08}-uid"), "renewal");
            assert!((0.0..1.0).contains(&f));
            buckets[(f * 100.0) as usize] += 1;
        }
        assert!(buckets.iter().all(|b| *b < 200), "{buckets:?}");
    }

    #[test]
    fn renewal_moves_earlier_by_at_most_a_tenth_capped_at_an_hour() {
        let renewal: Timestamp = "2026-03-10T00:00:00Z".parse().expect("timestamp");
        let table = [
            (
                Duration::from_secs(5 * 86_400),
                SignedDuration::from_hours(1),
            ),
            (Duration::from_secs(600), SignedDuration::from_secs(60)),
        ];
        for (renew_before, most) in table {
            for uid in ["a", "b", "c", "d"] {
                let at = jittered_renewal(uid, renewal, renew_before);
                let early = renewal.duration_since(at);
                assert!(early >= SignedDuration::ZERO && early <= most, "{early:?}");
            }
        }
    }

    #[test]
    fn backoff_grows_to_the_cap_and_is_never_zero() {
        let base = Duration::from_secs(5);
        let max = Duration::from_secs(300);
        let table = [
            (1, Duration::from_millis(2500), Duration::from_secs(5)),
            (2, Duration::from_secs(5), Duration::from_secs(10)),
            (4, Duration::from_secs(20), Duration::from_secs(40)),
            (10, Duration::from_secs(150), Duration::from_secs(300)),
            (u32::MAX, Duration::from_secs(150), Duration::from_secs(300)),
        ];
        for (failures, low, high) in table {
            let wait = backoff(failures, base, max, "uid");
            assert!(wait >= low && wait <= high, "{failures}: {wait:?}");
        }
    }
}
