//! The PAT decision, pure: from what the Secret holds, what Snowflake lists (when it was
//! asked), the spec, the rotate annotation and `now`, the one next step.
//!
//! The Secret's record is the truth about the value consumers have; `SHOW USER PATS` is
//! the truth about Snowflake. The status is only a report, except `tokenName` (a token
//! was minted before) and the last honoured rotate request.

use jiff::Timestamp;

use crate::api::{OnDisabled, PatSpec};
use crate::snowflake::{PatInfo, PatStatus};

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
    /// Nothing to do in Snowflake; keep the Secret rendered as the spec says.
    Keep,
}

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
        SecretFacts::Holds { expires_at } => {
            if let Listed::Present {
                expires_at: Some(listed),
                ..
            } = f.listed
                && listed.duration_since(expires_at).abs() > jiff::SignedDuration::from_secs(2)
            {
                return Step::Rotate(Cause::StaleSecret);
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
        let holds = SecretFacts::Holds {
            expires_at: expires,
        };
        let active = Listed::Present {
            disabled: false,
            expires_at: Some(expires),
        };
        let disabled = Listed::Present {
            disabled: true,
            expires_at: Some(expires),
        };
        let newer = Listed::Present {
            disabled: false,
            expires_at: Some(at("2026-03-25T00:00:00Z")),
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
