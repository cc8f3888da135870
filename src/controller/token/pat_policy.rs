//! The PAT decision, pure: from what the Secret holds, what Snowflake lists (when it was
//! asked), the spec, the rotate annotation and `now`, the one next step.
//!
//! The Secret's record is the truth about the value consumers have; `SHOW USER PATS` is
//! the truth about Snowflake. The status is only a report, except `tokenName` (a token
//! was minted before) and the last honoured rotate request.

use jiff::Timestamp;

use crate::api::{OnDisabled, PatSpec};
use crate::snowflake::{PatInfo, PatStatus, rotated_out_at};

/// Why a new value is issued (bounded: metrics label, event text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The token does not exist yet.
    New,
    /// The renewal time came.
    Due,
    /// The rotate annotation changed.
    Requested,
    /// The Secret is missing, or its value is not the one the operator wrote.
    SecretLost,
    /// Snowflake holds a newer value than the Secret (a crash after the statement and
    /// before the Secret write, or a rotation outside the operator).
    StaleSecret,
    /// The token was removed in Snowflake.
    TokenMissing,
    /// The token was disabled in Snowflake and is replaced.
    Disabled,
    /// The revoke annotation changed: the token was removed and is replaced.
    Revoked,
}

impl Cause {
    /// The bounded name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "New",
            Self::Due => "Due",
            Self::Requested => "Requested",
            Self::SecretLost => "SecretLost",
            Self::StaleSecret => "StaleSecret",
            Self::TokenMissing => "TokenMissing",
            Self::Disabled => "Disabled",
            Self::Revoked => "Revoked",
        }
    }
}

/// What the Secret holds, reduced to what the decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretFacts {
    /// Nothing usable: missing, edited, or holding another token's value.
    Nothing,
    /// The operator's value of this token, expiring at this time.
    Holds {
        /// Its expiry.
        expires_at: Timestamp,
        /// When it was issued (Snowflake's rotation time for a rotated value).
        issued_at: Timestamp,
    },
}

/// What `SHOW USER PATS` says about the token, when it was asked this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// Not asked this reconcile.
    NotAsked,
    /// Not listed (never minted, or removed).
    Absent,
    /// Listed.
    Present {
        /// `ACTIVE`, `DISABLED`, `EXPIRED`.
        disabled: bool,
        /// Its current value's expiry.
        expires_at: Option<Timestamp>,
        /// When it was last rotated, from its newest `<NAME>_ROTATED_<ms>` value still
        /// listed (Snowflake lists expired tokens for days).
        rotated_at: Option<Timestamp>,
    },
}

impl Listed {
    /// The listing of `name` in `pats`.
    pub fn of(name: &str, pats: &[PatInfo]) -> Self {
        match pats.iter().find(|p| p.name.eq_ignore_ascii_case(name)) {
            None => Self::Absent,
            Some(pat) => Self::Present {
                disabled: pat.status == PatStatus::Disabled,
                expires_at: pat.expires_at,
                rotated_at: pats
                    .iter()
                    .filter_map(|p| rotated_out_at(name, &p.name))
                    .max(),
            },
        }
    }
}

/// Everything the decision looks at.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Now.
    pub now: Timestamp,
    /// The PAT settings.
    pub spec: &'a PatSpec,
    /// What the Secret holds.
    pub secret: SecretFacts,
    /// What Snowflake lists.
    pub listed: Listed,
    /// Whether the status says a token was minted before (so a missing value means
    /// "rotate", not "add").
    pub minted_before: bool,
    /// Whether the status reports the token disabled (the last listing said so).
    pub known_disabled: bool,
    /// Whether the rotate annotation carries a value not yet honoured.
    pub rotate_requested: bool,
    /// The renewal time of the held value, jitter included.
    pub renewal_at: Option<Timestamp>,
}

/// The next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `ADD PAT`; falls back to rotating when Snowflake says it exists.
    Mint(Cause),
    /// `ROTATE PAT ... EXPIRE_ROTATED_TOKEN_AFTER_HOURS`; falls back to adding when
    /// Snowflake says it does not exist.
    Rotate(Cause),
    /// Remove the (disabled) token and its rotated-out values, then add it again.
    Replace,
    /// Disabled; wait for the rotate annotation.
    WaitDisabled,
    /// Ask Snowflake first (`SHOW USER PATS`): the decision needs it.
    List,
    /// The Secret holds the current value, but Snowflake lists another expiry for it (the
    /// operator derives a new value's expiry instead of reading it back, and a token it
    /// adopted may have another lifetime than the spec): record Snowflake's.
    Correct(Timestamp),
    /// Nothing to do in Snowflake; keep the Secret rendered as the spec says.
    Keep,
}

/// How far Snowflake's clock may be from the operator's: a rotation listed later than
/// this after the held value's issue time is one the Secret missed. (A rotated value's
/// issue time is Snowflake's own rotation time, so this covers only a minted value, and
/// only clock skew.)
pub const CLOCK_TOLERANCE: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// How far the rotation time in a rotated-out name may be from the operator's clock and
/// still be taken as a rotation time (clock skew plus a slow statement). That the name's
/// `<epoch_ms>` is the rotation time is what Snowflake's examples show, not a documented
/// promise: a stamp far off is ignored rather than acted on.
pub const TRUSTED_STAMP_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(600);

/// How far the recorded expiry may be from the listed one before it is corrected: a
/// minted value's expiry is derived from the operator's clock before the statement, so
/// it is early by the statement's latency and the clock skew.
pub const EXPIRY_TOLERANCE: jiff::SignedDuration = jiff::SignedDuration::from_secs(300);

/// Decides the next step.
pub fn decide(f: &Facts<'_>) -> Step {
    let disabled = match f.listed {
        Listed::Present { disabled, .. } => disabled,
        Listed::Absent => false,
        Listed::NotAsked if f.known_disabled => return Step::List,
        Listed::NotAsked => false,
    };
    if disabled {
        return if f.rotate_requested || f.spec.on_disabled == OnDisabled::Replace {
            Step::Replace
        } else {
            Step::WaitDisabled
        };
    }
    if f.listed == Listed::Absent {
        return Step::Mint(if f.minted_before {
            Cause::TokenMissing
        } else {
            Cause::New
        });
    }
    match f.secret {
        SecretFacts::Nothing => match f.listed {
            Listed::Present { .. } => Step::Rotate(Cause::SecretLost),
            _ if f.minted_before => Step::Rotate(Cause::SecretLost),
            _ => Step::Mint(Cause::New),
        },
        SecretFacts::Holds {
            expires_at,
            issued_at,
        } => {
            if let Listed::Present {
                expires_at: listed,
                rotated_at,
                ..
            } = f.listed
            {
                // Rotated after the held value was issued: by a run that died before the
                // Secret write, or by someone else. The held value is a rotated-out one
                // now, alive only for its grace period.
                if rotated_at.is_some_and(|at| {
                    at > issued_at + CLOCK_TOLERANCE && at <= f.now + TRUSTED_STAMP_SKEW
                }) {
                    return Step::Rotate(Cause::StaleSecret);
                }
                if let Some(listed) = listed
                    && listed.duration_since(expires_at).abs() > EXPIRY_TOLERANCE
                {
                    return Step::Correct(listed);
                }
            }
            if f.rotate_requested {
                return Step::Rotate(Cause::Requested);
            }
            match f.renewal_at {
                Some(at) if f.now >= at => Step::Rotate(Cause::Due),
                _ => Step::Keep,
            }
        }
    }
}

/// The user's tokens (counted by Snowflake toward its 15-token cap: not expired; disabled
/// ones count) that will still be live `at` the next rotation, and whether that leaves
/// room for the rotated-out value the rotation adds.
pub fn room_for_rotation(pats: &[PatInfo], at: Timestamp, cap: usize) -> (usize, bool) {
    let live = pats
        .iter()
        .filter(|p| p.status != PatStatus::Expired && p.expires_at.is_none_or(|e| e > at))
        .count();
    (live, live < cap)
}

/// The rotated-out values of `name` whose grace period is over: safe to remove.
pub fn expired_companions<'a>(name: &str, pats: &'a [PatInfo], now: Timestamp) -> Vec<&'a str> {
    let prefix = format!("{}_ROTATED_", name.to_ascii_uppercase());
    pats.iter()
        .filter(|p| {
            let companion = p
                .rotated_to
                .as_deref()
                .is_some_and(|to| to.eq_ignore_ascii_case(name))
                || p.name.to_ascii_uppercase().starts_with(&prefix);
            companion
                && !p.name.eq_ignore_ascii_case(name)
                && (p.status == PatStatus::Expired || p.expires_at.is_some_and(|e| e <= now))
        })
        .map(|p| p.name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn spec(on_disabled: OnDisabled) -> PatSpec {
        let mut spec: PatSpec = serde_json::from_value(serde_json::json!({})).expect("spec");
        spec.on_disabled = on_disabled;
        spec
    }

    #[test]
    fn the_next_step_follows_the_secret_and_the_listing() {
        let now = at("2026-03-10T00:00:00Z");
        let expires = at("2026-03-15T12:00:00Z");
        let issued = at("2026-02-28T12:00:00Z");
        let holds = SecretFacts::Holds {
            expires_at: expires,
            issued_at: issued,
        };
        let active = Listed::Present {
            disabled: false,
            expires_at: Some(expires),
            rotated_at: None,
        };
        // The held value came from a rotation: its own rotated-out companion is listed,
        // stamped (by Snowflake) a moment after the issue time the Secret recorded.
        let rotated_by_us = Listed::Present {
            disabled: false,
            expires_at: Some(at("2026-03-15T12:00:01Z")),
            rotated_at: Some(at("2026-02-28T12:00:00.731Z")),
        };
        let disabled = Listed::Present {
            disabled: true,
            expires_at: Some(expires),
            rotated_at: None,
        };
        // Rotated again after the held value was issued (a run died before writing).
        let newer = Listed::Present {
            disabled: false,
            expires_at: Some(at("2026-03-25T00:00:00Z")),
            rotated_at: Some(at("2026-03-10T00:00:00Z")),
        };
        // A rotated-out name stamped far from any clock is no evidence of a rotation.
        let implausible = Listed::Present {
            disabled: false,
            expires_at: Some(expires),
            rotated_at: Some(at("2026-03-12T00:00:00Z")),
        };
        // Same value, another expiry (an adopted token with another lifetime).
        let other_expiry = Listed::Present {
            disabled: false,
            expires_at: Some(at("2026-03-25T12:00:00Z")),
            rotated_at: None,
        };
        let later = Some(at("2026-03-11T00:00:00Z"));
        let past = Some(at("2026-03-09T00:00:00Z"));
        let wait = spec(OnDisabled::WaitForRotateRequest);
        let replace = spec(OnDisabled::Replace);
        // (secret, listed, minted_before, known_disabled, requested, renewal, spec) -> step
        let table = [
            // A new token: mint, without asking Snowflake first.
            (
                SecretFacts::Nothing,
                Listed::NotAsked,
                false,
                false,
                false,
                None,
                &wait,
                Step::Mint(Cause::New),
            ),
            // Minted before, Secret gone or edited: rotate (the old value keeps its grace).
            (
                SecretFacts::Nothing,
                Listed::NotAsked,
                true,
                false,
                false,
                None,
                &wait,
                Step::Rotate(Cause::SecretLost),
            ),
            (
                SecretFacts::Nothing,
                active,
                false,
                false,
                false,
                None,
                &wait,
                Step::Rotate(Cause::SecretLost),
            ),
            // Current and not due: nothing; due: rotate; requested: rotate.
            (
                holds,
                Listed::NotAsked,
                true,
                false,
                false,
                later,
                &wait,
                Step::Keep,
            ),
            (holds, active, true, false, false, later, &wait, Step::Keep),
            (
                holds,
                Listed::NotAsked,
                true,
                false,
                false,
                past,
                &wait,
                Step::Rotate(Cause::Due),
            ),
            (
                holds,
                Listed::NotAsked,
                true,
                false,
                true,
                later,
                &wait,
                Step::Rotate(Cause::Requested),
            ),
            (
                holds,
                rotated_by_us,
                true,
                false,
                false,
                later,
                &wait,
                Step::Keep,
            ),
            // Snowflake has a newer value than the Secret: rotate again.
            (
                holds,
                newer,
                true,
                false,
                false,
                later,
                &wait,
                Step::Rotate(Cause::StaleSecret),
            ),
            (
                holds,
                implausible,
                true,
                false,
                false,
                later,
                &wait,
                Step::Keep,
            ),
            // The same value with another expiry: record it, no new value.
            (
                holds,
                other_expiry,
                true,
                false,
                false,
                later,
                &wait,
                Step::Correct(at("2026-03-25T12:00:00Z")),
            ),
            // Removed in Snowflake: mint again.
            (
                holds,
                Listed::Absent,
                true,
                false,
                false,
                later,
                &wait,
                Step::Mint(Cause::TokenMissing),
            ),
            (
                SecretFacts::Nothing,
                Listed::Absent,
                false,
                false,
                false,
                None,
                &wait,
                Step::Mint(Cause::New),
            ),
            // Disabled: never re-enabled; wait for a request, or replace when asked to.
            (
                holds,
                disabled,
                true,
                false,
                false,
                later,
                &wait,
                Step::WaitDisabled,
            ),
            (
                holds,
                disabled,
                true,
                false,
                true,
                later,
                &wait,
                Step::Replace,
            ),
            (
                holds,
                disabled,
                true,
                false,
                false,
                later,
                &replace,
                Step::Replace,
            ),
            // Known disabled and not listed this time: ask first.
            (
                holds,
                Listed::NotAsked,
                true,
                true,
                true,
                later,
                &wait,
                Step::List,
            ),
        ];
        for (
            i,
            (
                secret,
                listed,
                minted_before,
                known_disabled,
                rotate_requested,
                renewal_at,
                spec,
                step,
            ),
        ) in table.into_iter().enumerate()
        {
            let facts = Facts {
                now,
                spec,
                secret,
                listed,
                minted_before,
                known_disabled,
                rotate_requested,
                renewal_at,
            };
            assert_eq!(decide(&facts), step, "row {i}: {facts:?}");
        }
    }

    fn pat(name: &str, status: PatStatus, expires: &str, rotated_to: Option<&str>) -> PatInfo {
        PatInfo {
            name: name.into(),
            user_name: Some("BI".into()),
            role_restriction: None,
            expires_at: Some(at(expires)),
            status,
            comment: None,
            created_on: None,
            created_by: None,
            mins_to_bypass_network_policy_requirement: None,
            rotated_to: rotated_to.map(str::to_owned),
        }
    }

    #[test]
    fn companions_are_removed_only_after_their_grace_period() {
        let now = at("2026-03-10T00:00:00Z");
        let pats = [
            pat("PBI", PatStatus::Active, "2026-03-20T00:00:00Z", None),
            pat(
                "PBI_ROTATED_1",
                PatStatus::Active,
                "2026-03-09T00:00:00Z",
                Some("PBI"),
            ),
            pat(
                "PBI_ROTATED_2",
                PatStatus::Active,
                "2026-03-10T12:00:00Z",
                Some("PBI"),
            ),
            pat(
                "OTHER_ROTATED_3",
                PatStatus::Active,
                "2026-03-01T00:00:00Z",
                Some("OTHER"),
            ),
        ];
        assert_eq!(expired_companions("pbi", &pats, now), ["PBI_ROTATED_1"]);
        // Two live tokens (expired companions do not count).
        assert_eq!(room_for_rotation(&pats, now, 15), (2, true));
        assert_eq!(room_for_rotation(&pats, now, 2), (2, false));
        // At a later rotation the companion still in its grace period now will be gone.
        assert_eq!(
            room_for_rotation(&pats, at("2026-03-11T00:00:00Z"), 2),
            (1, true)
        );
    }
}
