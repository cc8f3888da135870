//! The key-pair decision, pure: from the slots `DESC USER` shows, the keys the operator
//! knows as its own, the spec and `now`, what to register, unset and record.
//!
//! Ownership is by fingerprint. The key in the Secret is the operator's; so are the
//! previous key the Secret records, and the keys the status names (the key last in force,
//! the previous one, and a key being registered whose private half never reached the
//! Secret). Every other key in a slot is someone else's and is never touched: it is
//! neither overwritten nor unset, and when it leaves no slot free the operator says so.

use jiff::{SignedDuration, Timestamp};

use crate::controller::secret::RetiringKey;
use crate::snowflake::{KeySlot, PublicKeys};

/// Why a new key is registered (bounded: metrics label, event text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// No key of this token yet.
    New,
    /// The rotation period is over.
    Due,
    /// The rotate annotation changed.
    Requested,
    /// The key size or format in the spec changed.
    SpecChanged,
    /// The Secret is missing, or its key is not the one the operator wrote.
    SecretLost,
    /// The Secret's key is no longer registered on the user (unset by someone).
    KeyMissing,
    /// The revoke annotation changed: the keys were unset and a new one is registered.
    Revoked,
}

impl Cause {
    /// The bounded name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "New",
            Self::Due => "Due",
            Self::Requested => "Requested",
            Self::SpecChanged => "SpecChanged",
            Self::SecretLost => "SecretLost",
            Self::KeyMissing => "KeyMissing",
            Self::Revoked => "Revoked",
        }
    }
}

/// The key in the Secret, as its record describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldKey {
    /// Its fingerprint.
    pub fingerprint: String,
    /// Its slot by the record.
    pub slot: KeySlot,
    /// When it was written.
    pub issued_at: Timestamp,
    /// The previous key, registered until its removal time.
    pub previous: Option<RetiringKey>,
    /// Whether its size and format are the ones the spec asks for.
    pub as_specified: bool,
}

/// What one slot holds, from the operator's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotState {
    /// Nothing registered.
    Empty,
    /// The key in the Secret.
    Held,
    /// The previous key, registered until the time given.
    Retiring(Timestamp),
    /// A key of the operator that consumers may still use (it was in the Secret) but the
    /// Secret no longer holds.
    Orphaned,
    /// A key of the operator whose private half never reached the Secret: nobody can use
    /// it.
    Unstored,
    /// Someone else's key.
    Foreign(String),
}

/// The fingerprints the operator knows as its own besides the key in the Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// Keys that were in the Secret at some time (status, a record that no longer matches
    /// its value).
    pub used: Vec<String>,
    /// Keys registered whose private half was never stored.
    pub unstored: Vec<String>,
}

/// The facts of one decision.
#[derive(Debug)]
pub struct Facts<'a> {
    /// Now.
    pub now: Timestamp,
    /// What `DESC USER` shows.
    pub slots: &'a PublicKeys,
    /// The key in the Secret, when the Secret holds an intact one.
    pub held: Option<&'a HeldKey>,
    /// The operator's other keys.
    pub known: &'a Known,
    /// Whether the Secret existed (with a key not intact) rather than not at all.
    pub secret_lost: bool,
    /// A rotate request not answered yet.
    pub rotate_requested: bool,
    /// `rotationPeriod`.
    pub rotation_period: SignedDuration,
    /// `gracePeriod`.
    pub grace_period: SignedDuration,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Register a new key in this slot, for this reason.
    pub register: Option<(KeySlot, Cause)>,
    /// Slots of the operator to unset (after the Secret is written, when a new key is
    /// registered).
    pub unset: Vec<KeySlot>,
    /// The previous key the Secret records after this step.
    pub previous: Option<RetiringKey>,
    /// A new key is due but no slot is free: the slot and fingerprint in the way.
    pub blocked: Option<(KeySlot, String)>,
    /// The slot of the key in force after this step (`None` while nothing is held).
    pub in_force: Option<KeySlot>,
}

impl Facts<'_> {
    /// What `slot` holds for this token.
    pub fn state(&self, slot: KeySlot) -> SlotState {
        let Some(fp) = self.slots.get(slot) else {
            return SlotState::Empty;
        };
        if let Some(held) = self.held {
            if held.fingerprint == fp {
                return SlotState::Held;
            }
            if let Some(previous) = &held.previous
                && previous.fingerprint == fp
            {
                return SlotState::Retiring(previous.removal_at);
            }
        }
        if self.known.used.iter().any(|k| k == fp) {
            return SlotState::Orphaned;
        }
        if self.known.unstored.iter().any(|k| k == fp) {
            return SlotState::Unstored;
        }
        SlotState::Foreign(fp.to_owned())
    }

    /// When the key in the Secret is due for rotation.
    pub fn rotation_due_at(&self) -> Option<Timestamp> {
        let held = self.held?;
        Some(
            held.issued_at
                .checked_add(self.rotation_period)
                .unwrap_or(Timestamp::MAX),
        )
    }

    fn removal_from_now(&self) -> Timestamp {
        self.now
            .checked_add(self.grace_period)
            .unwrap_or(Timestamp::MAX)
    }
}

/// How willingly a slot takes a new key: lower is better; `None` never.
fn preference(state: &SlotState) -> Option<u8> {
    match state {
        SlotState::Empty => Some(0),
        SlotState::Unstored => Some(1),
        // Its grace period is cut short (the caller warns).
        SlotState::Retiring(_) => Some(2),
        SlotState::Orphaned => Some(3),
        SlotState::Held | SlotState::Foreign(_) => None,
    }
}

/// The one plan for these facts.
pub fn decide(facts: &Facts<'_>) -> Plan {
    let states = KeySlot::BOTH.map(|slot| (slot, facts.state(slot)));
    let held_slot = states
        .iter()
        .find(|(_, s)| *s == SlotState::Held)
        .map(|(slot, _)| *slot);
    let cause = match (facts.held, held_slot) {
        (None, _) if facts.secret_lost => Some(Cause::SecretLost),
        (None, _) => Some(Cause::New),
        (Some(_), None) => Some(Cause::KeyMissing),
        (Some(_), Some(_)) if facts.rotate_requested => Some(Cause::Requested),
        (Some(held), Some(_)) if !held.as_specified => Some(Cause::SpecChanged),
        (Some(_), Some(_)) if facts.rotation_due_at().is_some_and(|at| facts.now >= at) => {
            Some(Cause::Due)
        }
        _ => None,
    };
    let target = cause.and_then(|_| {
        states
            .iter()
            .filter_map(|(slot, state)| preference(state).map(|p| (p, *slot)))
            .min()
            .map(|(_, slot)| slot)
    });
    let mut plan = Plan {
        register: None,
        unset: Vec::new(),
        previous: None,
        blocked: None,
        in_force: held_slot,
    };
    match (cause, target) {
        (Some(cause), Some(target)) => {
            plan.register = Some((target, cause));
            plan.in_force = Some(target);
            // The other slot: the key replaced retires after the grace period, a key
            // nobody has goes now, a stranger's stays.
            let (other, state) = &states[usize::from(target == KeySlot::First)];
            match state {
                SlotState::Held | SlotState::Orphaned => {
                    plan.previous = facts.slots.get(*other).map(|fp| RetiringKey {
                        fingerprint: fp.to_owned(),
                        slot: other.number(),
                        removal_at: facts.removal_from_now(),
                    });
                }
                SlotState::Retiring(at) => {
                    plan.previous = facts.slots.get(*other).map(|fp| RetiringKey {
                        fingerprint: fp.to_owned(),
                        slot: other.number(),
                        removal_at: *at,
                    });
                }
                SlotState::Unstored => plan.unset.push(*other),
                SlotState::Empty | SlotState::Foreign(_) => {}
            }
        }
        (Some(_), None) => {
            // Both slots are taken by keys that are not the operator's to replace: the
            // one in the way is the slot not holding the key in force.
            let way = states
                .iter()
                .find(|(slot, _)| Some(*slot) != held_slot)
                .map(|(slot, state)| match state {
                    SlotState::Foreign(fp) => (*slot, fp.clone()),
                    _ => (*slot, String::new()),
                });
            plan.blocked = way;
            keep_other(facts, &states, held_slot, &mut plan);
        }
        (None, _) => keep_other(facts, &states, held_slot, &mut plan),
    }
    plan
}

/// No new key: the slot not holding the key in force retires on schedule, a key nobody
/// has goes, a key consumers may still use retires after a grace period from now.
fn keep_other(
    facts: &Facts<'_>,
    states: &[(KeySlot, SlotState); 2],
    held_slot: Option<KeySlot>,
    plan: &mut Plan,
) {
    for (slot, state) in states {
        if Some(*slot) == held_slot {
            continue;
        }
        let fingerprint = || facts.slots.get(*slot).unwrap_or_default().to_owned();
        match state {
            SlotState::Retiring(at) if facts.now >= *at => plan.unset.push(*slot),
            SlotState::Retiring(at) => {
                plan.previous = Some(RetiringKey {
                    fingerprint: fingerprint(),
                    slot: slot.number(),
                    removal_at: *at,
                });
            }
            SlotState::Unstored => plan.unset.push(*slot),
            SlotState::Orphaned if held_slot.is_some() => {
                plan.previous = Some(RetiringKey {
                    fingerprint: fingerprint(),
                    slot: slot.number(),
                    removal_at: facts.removal_from_now(),
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    const NOW: &str = "2026-06-01T00:00:00Z";

    fn slots(first: Option<&str>, second: Option<&str>) -> PublicKeys {
        PublicKeys {
            first: first.map(str::to_owned),
            second: second.map(str::to_owned),
        }
    }

    fn held(fp: &str, slot: KeySlot, issued: &str) -> HeldKey {
        HeldKey {
            fingerprint: fp.into(),
            slot,
            issued_at: at(issued),
            previous: None,
            as_specified: true,
        }
    }

    fn plan(slots: &PublicKeys, held: Option<&HeldKey>, known: &Known) -> Plan {
        decide(&Facts {
            now: at(NOW),
            slots,
            held,
            known,
            secret_lost: false,
            rotate_requested: false,
            rotation_period: SignedDuration::from_hours(90 * 24),
            grace_period: SignedDuration::from_hours(24),
        })
    }

    fn retiring(fp: &str, slot: u8, removal: &str) -> RetiringKey {
        RetiringKey {
            fingerprint: fp.into(),
            slot,
            removal_at: at(removal),
        }
    }

    #[test]
    fn a_new_key_takes_the_first_free_slot_and_never_a_strangers() {
        let none = Known::default();
        let fresh = plan(&slots(None, None), None, &none);
        assert_eq!(fresh.register, Some((KeySlot::First, Cause::New)));
        let person = plan(&slots(Some("SHA256:person"), None), None, &none);
        assert_eq!(person.register, Some((KeySlot::Second, Cause::New)));
        assert!(person.unset.is_empty());
        let both = plan(
            &slots(Some("SHA256:person"), Some("SHA256:other")),
            None,
            &none,
        );
        assert_eq!(both.register, None);
        assert_eq!(both.blocked, Some((KeySlot::First, "SHA256:person".into())));
        assert!(both.unset.is_empty());
    }

    #[test]
    fn a_key_registered_but_never_stored_is_replaced_in_its_slot() {
        let known = Known {
            used: vec![],
            unstored: vec!["SHA256:lost".into()],
        };
        let p = plan(
            &slots(Some("SHA256:person"), Some("SHA256:lost")),
            None,
            &known,
        );
        assert_eq!(p.register, Some((KeySlot::Second, Cause::New)));
        // With a free slot the free one is used and the unstored key removed.
        let p = plan(&slots(Some("SHA256:lost"), None), None, &known);
        assert_eq!(p.register, Some((KeySlot::Second, Cause::New)));
        assert_eq!(p.unset, vec![KeySlot::First]);
        assert_eq!(p.previous, None);
    }

    #[test]
    fn rotation_uses_the_other_slot_and_the_old_key_retires_after_the_grace_period() {
        let current = held("SHA256:a", KeySlot::First, "2026-03-01T00:00:00Z");
        let p = plan(
            &slots(Some("SHA256:a"), None),
            Some(&current),
            &Known::default(),
        );
        assert_eq!(p.register, Some((KeySlot::Second, Cause::Due)));
        assert_eq!(
            p.previous,
            Some(retiring("SHA256:a", 1, "2026-06-02T00:00:00Z"))
        );
        assert!(p.unset.is_empty());
        // Not due yet: nothing.
        let young = held("SHA256:a", KeySlot::First, "2026-05-01T00:00:00Z");
        let p = plan(
            &slots(Some("SHA256:a"), None),
            Some(&young),
            &Known::default(),
        );
        assert_eq!(p.register, None);
        assert_eq!(p.in_force, Some(KeySlot::First));
    }

    #[test]
    fn a_strangers_key_in_the_other_slot_blocks_the_rotation_and_keeps_the_current_key() {
        let current = held("SHA256:a", KeySlot::First, "2026-03-01T00:00:00Z");
        let p = plan(
            &slots(Some("SHA256:a"), Some("SHA256:person")),
            Some(&current),
            &Known::default(),
        );
        assert_eq!(p.register, None);
        assert_eq!(p.blocked, Some((KeySlot::Second, "SHA256:person".into())));
        assert_eq!(p.in_force, Some(KeySlot::First));
        assert!(p.unset.is_empty());
    }

    #[test]
    fn the_previous_key_is_unset_when_its_grace_period_ends() {
        let mut current = held("SHA256:b", KeySlot::Second, "2026-05-31T00:00:00Z");
        current.previous = Some(retiring("SHA256:a", 1, "2026-06-01T00:00:00Z"));
        let p = plan(
            &slots(Some("SHA256:a"), Some("SHA256:b")),
            Some(&current),
            &Known::default(),
        );
        assert_eq!(p.unset, vec![KeySlot::First]);
        assert_eq!(p.previous, None);
        current.previous = Some(retiring("SHA256:a", 1, "2026-06-01T00:00:01Z"));
        let p = plan(
            &slots(Some("SHA256:a"), Some("SHA256:b")),
            Some(&current),
            &Known::default(),
        );
        assert!(p.unset.is_empty());
        assert_eq!(
            p.previous,
            Some(retiring("SHA256:a", 1, "2026-06-01T00:00:01Z"))
        );
        // Replaced by a person meanwhile: forgotten, not unset.
        let p = plan(
            &slots(Some("SHA256:person"), Some("SHA256:b")),
            Some(&current),
            &Known::default(),
        );
        assert!(p.unset.is_empty());
        assert_eq!(p.previous, None);
    }

    #[test]
    fn a_lost_secret_gets_a_new_key_while_the_old_one_retires() {
        let known = Known {
            used: vec!["SHA256:a".into()],
            unstored: vec![],
        };
        let p = decide(&Facts {
            now: at(NOW),
            slots: &slots(Some("SHA256:a"), None),
            held: None,
            known: &known,
            secret_lost: true,
            rotate_requested: false,
            rotation_period: SignedDuration::from_hours(2160),
            grace_period: SignedDuration::from_hours(24),
        });
        assert_eq!(p.register, Some((KeySlot::Second, Cause::SecretLost)));
        assert_eq!(
            p.previous,
            Some(retiring("SHA256:a", 1, "2026-06-02T00:00:00Z"))
        );
    }

    #[test]
    fn an_unregistered_held_key_or_a_changed_spec_gets_a_new_key() {
        let current = held("SHA256:a", KeySlot::First, "2026-05-31T00:00:00Z");
        let p = plan(&slots(None, None), Some(&current), &Known::default());
        assert_eq!(p.register, Some((KeySlot::First, Cause::KeyMissing)));
        let mut resized = current.clone();
        resized.as_specified = false;
        let p = plan(
            &slots(Some("SHA256:a"), None),
            Some(&resized),
            &Known::default(),
        );
        assert_eq!(p.register, Some((KeySlot::Second, Cause::SpecChanged)));
    }
}
