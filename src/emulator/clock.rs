//! The emulator's clock: wall time plus an adjustable offset, so tests (and the
//! `/_emulator/clock/advance` endpoint) can move time forward to expire tokens
//! without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

/// A shared clock. Cloning shares the offset: advancing one clone advances all.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// A clock that follows the system time (offset zero).
    pub fn new() -> Self {
        Self::default()
    }

    /// The emulated current time.
    pub fn now(&self) -> Timestamp {
        let offset = SignedDuration::from_millis(self.offset_ms.load(Ordering::SeqCst));
        Timestamp::now()
            .checked_add(offset)
            .unwrap_or(Timestamp::MAX)
    }

    /// Moves the emulated time forward (or backward, with a negative duration).
    pub fn advance(&self, by: SignedDuration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// The total offset applied to the system time so far.
    pub fn offset(&self) -> SignedDuration {
        SignedDuration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_one_clone_moves_every_clone() {
        let clock = Clock::new();
        let other = clock.clone();
        let before = other.now();
        clock.advance(SignedDuration::from_hours(25));
        let moved = other.now().duration_since(before);
        assert!(moved >= SignedDuration::from_hours(25));
        assert!(moved < SignedDuration::from_hours(26));
        assert_eq!(other.offset(), SignedDuration::from_hours(25));
    }
}
