//! The OAuth decision, pure: from what the Secret holds (an access token, its expiry, the
//! refresh token it came from), the refresh-token Secret, what Snowflake last refused and
//! `now`, the one next step; and the dates a person is told about.
//!
//! The refresh-token Secret is the truth about the chain: a value different from the
//! one the held access token came from means a person authorized again, so it is used at
//! once. A refresh token Snowflake refused (`invalid_grant`) is never sent again: the
//! token waits for a new one.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Why the access token is refreshed (bounded: metrics label, event text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The Secret holds no access token of ours yet (first refresh, or it was lost).
    New,
    /// The refresh time came.
    Due,
    /// The refresh-token Secret holds a new value (a person authorized again).
    Reauthorized,
}

impl Cause {
    /// The bounded name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "New",
            Self::Due => "Due",
            Self::Reauthorized => "Reauthorized",
        }
    }
}

/// The refresh-token Secret, reduced to what the decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshFacts {
    /// No Secret, or no value under the key.
    Missing,
    /// A value, by its digest.
    Present {
        /// SHA-256 of the value.
        digest: String,
    },
}

/// Everything the decision looks at.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Now.
    pub now: Timestamp,
    /// The access token the Secret holds intact: its expiry.
    pub access_expires_at: Option<Timestamp>,
    /// The digest of the refresh token the held access token came from (or, in single-use
    /// mode, the one Snowflake answered with it).
    pub held_from: Option<String>,
    /// The refresh-token Secret.
    pub refresh: RefreshFacts,
    /// The digest of a refresh token Snowflake refused as dead (`invalid_grant`).
    pub refused: Option<String>,
    /// When the held access token is refreshed (see [`refresh_time`]).
    pub refresh_at: Option<Timestamp>,
}

/// The next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do before this time.
    WaitUntil(Timestamp),
    /// Refresh now.
    Refresh(Cause),
    /// No refresh token to use: the Secret is missing or empty.
    NoRefreshToken,
    /// The refresh token in the Secret was refused as dead: wait for a person to
    /// authorize again (a new value in the Secret).
    Reauthorize,
}

/// The one next step.
pub fn decide(facts: &Facts) -> Step {
    let RefreshFacts::Present { digest } = &facts.refresh else {
        return Step::NoRefreshToken;
    };
    if facts.refused.as_ref() == Some(digest) {
        return Step::Reauthorize;
    }
    let (Some(_), Some(refresh_at)) = (facts.access_expires_at, facts.refresh_at) else {
        return Step::Refresh(Cause::New);
    };
    if facts.held_from.as_ref() != Some(digest) {
        return Step::Refresh(Cause::Reauthorized);
    }
    if facts.now >= refresh_at {
        return Step::Refresh(Cause::Due);
    }
    Step::WaitUntil(refresh_at)
}

/// When an access token expiring at `expires_at`, issued at `issued_at`, is refreshed:
/// `refresh_before` ahead of its expiry (at most half its lifetime), and up to a tenth of
/// `refresh_before` earlier by the object's fixed jitter, so tokens refreshed together
/// drift apart instead of refreshing together forever.
pub fn refresh_time(
    uid: &str,
    issued_at: Timestamp,
    expires_at: Timestamp,
    refresh_before: Duration,
) -> Timestamp {
    let lifetime = Duration::try_from(expires_at.duration_since(issued_at)).unwrap_or_default();
    let before = refresh_before.min(lifetime / 2);
    let early = crate::controller::requeue::spread(uid, "oauth-refresh", before / 10);
    // Whole seconds: the time is shown in the status, which keeps no fraction.
    let ahead = SignedDuration::from_secs(i64::try_from((before + early).as_secs()).unwrap_or(0));
    expires_at
        .checked_sub(ahead)
        .unwrap_or(issued_at)
        .max(issued_at)
}

/// When the refresh token expires: as Snowflake's answer says (`refresh_token_expires_in`
/// from `answered_at`); else, for a refresh token issued with this answer (single-use
/// mode), the integration's validity from `answered_at`; else what was known before;
/// else the validity from when the refresh token was recorded (`recorded_at`, by
/// `authorize` or the Secret's creation).
pub fn refresh_token_expiry(
    answered_at: Timestamp,
    expires_in: Option<u64>,
    issued_with_answer: bool,
    known: Option<Timestamp>,
    recorded_at: Option<Timestamp>,
    validity: Duration,
) -> Option<Timestamp> {
    let plus = |at: Timestamp, d: Duration| {
        SignedDuration::try_from(d)
            .ok()
            .and_then(|d| at.checked_add(d).ok())
    };
    if let Some(seconds) = expires_in {
        return plus(answered_at, Duration::from_secs(seconds));
    }
    if issued_with_answer {
        return plus(answered_at, validity);
    }
    known.or_else(|| recorded_at.and_then(|at| plus(at, validity)))
}

/// What a person is told while the refresh token expires within `window`: the message of
/// the `RefreshTokenExpiringSoon` condition and its warning event. It names the days left
/// (rounded up), so it changes (and the event is published again) once a day, not per
/// reconcile, and a restart repeats nothing. `None` outside the window.
pub fn expiry_warning(
    now: Timestamp,
    expires_at: Timestamp,
    window: Duration,
    command: &str,
) -> Option<String> {
    let left = Duration::try_from(expires_at.duration_since(now)).unwrap_or_default();
    if left > window {
        return None;
    }
    let when = match days_left(left) {
        0 => "has expired".to_owned(),
        1 => "expires within a day".to_owned(),
        days => format!("expires within {days} days"),
    };
    Some(format!(
        "the refresh token {when} (at {expires_at}); a person must authorize again before then: {command}"
    ))
}

/// Whole days, rounded up: `(0, 1 day]` is 1.
fn days_left(left: Duration) -> u64 {
    left.as_secs().div_ceil(86_400)
}

/// When [`expiry_warning`]'s message next changes: the window opening, then each whole
/// day before the expiry, then the expiry itself; `None` once expired.
pub fn next_warning_change(
    now: Timestamp,
    expires_at: Timestamp,
    window: Duration,
) -> Option<Timestamp> {
    if expires_at <= now {
        return None;
    }
    let left = Duration::try_from(expires_at.duration_since(now)).unwrap_or_default();
    let next_left = if left > window {
        window
    } else {
        Duration::from_secs(days_left(left).saturating_sub(1).saturating_mul(86_400))
    };
    expires_at
        .checked_sub(SignedDuration::try_from(next_left).ok()?)
        .ok()
}

/// The `scope` of a refresh: the session role, when the spec names one (reference §6.2;
/// names outside Snowflake's unquoted-identifier alphabet are sent encoded).
pub fn scope_for(role: Option<&str>) -> Option<String> {
    let role = role?;
    let plain = role
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$');
    Some(if plain {
        format!("session:role:{role}")
    } else {
        let encoded: String = url::form_urlencoded::byte_serialize(role.as_bytes()).collect();
        format!("session:role-encoded:{encoded}")
    })
}

/// The session role in a granted scope (`refresh_token session:role:ANALYST`), if any.
pub fn granted_role(scope: &str) -> Option<String> {
    scope.split_whitespace().find_map(|item| {
        if let Some(role) = item.strip_prefix("session:role-encoded:") {
            let decoded: String = url::form_urlencoded::parse(format!("r={role}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())?;
            Some(decoded)
        } else {
            item.strip_prefix("session:role:").map(str::to_owned)
        }
    })
}

/// When the spec asks for a session role other than the one the refresh token was
/// authorized for: what to tell the user. A refresh cannot change the role (Snowflake binds
/// it to the grant and ignores a refresh's scope), so only authorizing again can.
pub fn role_mismatch(wanted: Option<&str>, granted: Option<&str>) -> Option<(String, String)> {
    let wanted = crate::api::desired::resolve_identifier(wanted?);
    let granted = granted?;
    (wanted != granted).then(|| (wanted, granted.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn present(digest: &str) -> RefreshFacts {
        RefreshFacts::Present {
            digest: digest.into(),
        }
    }

    fn facts() -> Facts {
        Facts {
            now: at("2026-03-01T00:05:00Z"),
            access_expires_at: Some(at("2026-03-01T00:10:00Z")),
            held_from: Some("rt-1".into()),
            refresh: present("rt-1"),
            refused: None,
            refresh_at: Some(at("2026-03-01T00:08:00Z")),
        }
    }

    #[test]
    fn the_next_step_from_the_facts() {
        let cases: Vec<(&str, Facts, Step)> = vec![
            (
                "fresh: wait for the refresh time",
                facts(),
                Step::WaitUntil(at("2026-03-01T00:08:00Z")),
            ),
            (
                "refresh time reached",
                Facts {
                    now: at("2026-03-01T00:08:00Z"),
                    ..facts()
                },
                Step::Refresh(Cause::Due),
            ),
            (
                "no access token yet",
                Facts {
                    access_expires_at: None,
                    refresh_at: None,
                    held_from: None,
                    ..facts()
                },
                Step::Refresh(Cause::New),
            ),
            (
                "a person authorized again",
                Facts {
                    refresh: present("rt-2"),
                    ..facts()
                },
                Step::Refresh(Cause::Reauthorized),
            ),
            (
                "no refresh token",
                Facts {
                    refresh: RefreshFacts::Missing,
                    ..facts()
                },
                Step::NoRefreshToken,
            ),
            (
                "the refused refresh token is never sent again",
                Facts {
                    now: at("2026-03-01T00:09:00Z"),
                    refused: Some("rt-1".into()),
                    ..facts()
                },
                Step::Reauthorize,
            ),
            (
                "a new one after a refusal is used at once",
                Facts {
                    refused: Some("rt-1".into()),
                    refresh: present("rt-2"),
                    ..facts()
                },
                Step::Refresh(Cause::Reauthorized),
            ),
        ];
        for (name, facts, want) in cases {
            assert_eq!(decide(&facts), want, "{name}");
        }
    }

    #[test]
    fn refresh_comes_before_expiry_by_at_most_half_the_lifetime() {
        let issued = at("2026-03-01T00:00:00Z");
        let expires = at("2026-03-01T00:10:00Z");
        let t = refresh_time("uid-1", issued, expires, Duration::from_secs(120));
        assert!(
            t <= at("2026-03-01T00:08:00Z") && t >= at("2026-03-01T00:07:48Z"),
            "{t}"
        );
        let t = refresh_time("uid-1", issued, expires, Duration::from_secs(3600));
        assert!(
            t <= at("2026-03-01T00:05:00Z") && t >= at("2026-03-01T00:04:30Z"),
            "{t}"
        );
        // Deterministic, and different objects spread.
        assert_eq!(
            t,
            refresh_time("uid-1", issued, expires, Duration::from_secs(3600))
        );
        let spread: std::collections::BTreeSet<_> = (0..50)
            .map(|i| {
                refresh_time(
                    &format!("uid-{i}"),
                    issued,
                    expires,
                    Duration::from_secs(120),
                )
            })
            .collect();
        assert!(spread.len() > 10);
        // A token already past its expiry is refreshed at once, never "before issue".
        assert_eq!(
            refresh_time("u", issued, issued, Duration::from_secs(120)),
            issued
        );
    }

    #[test]
    fn the_refresh_token_expiry_comes_from_the_best_source() {
        let now = at("2026-03-01T00:00:00Z");
        let ninety = Duration::from_secs(90 * 86_400);
        let known = Some(at("2026-04-01T00:00:00Z"));
        let recorded = Some(at("2026-02-01T00:00:00Z"));
        assert_eq!(
            refresh_token_expiry(now, Some(86_400), true, known, recorded, ninety),
            Some(at("2026-03-02T00:00:00Z"))
        );
        assert_eq!(
            refresh_token_expiry(now, None, true, known, recorded, ninety),
            Some(at("2026-05-30T00:00:00Z"))
        );
        assert_eq!(
            refresh_token_expiry(now, None, false, known, recorded, ninety),
            known
        );
        assert_eq!(
            refresh_token_expiry(now, None, false, None, recorded, ninety),
            Some(at("2026-05-02T00:00:00Z"))
        );
        assert_eq!(
            refresh_token_expiry(now, None, false, None, None, ninety),
            None
        );
    }

    #[test]
    fn the_warning_changes_once_a_day_inside_its_window() {
        let expires = at("2026-03-15T12:00:00Z");
        let week = Duration::from_secs(7 * 86_400);
        let cmd = "snowflake-token-operator authorize -n bi tableau";
        let warn = |now: &str| expiry_warning(at(now), expires, week, cmd);
        assert_eq!(warn("2026-03-01T00:00:00Z"), None);
        assert_eq!(warn("2026-03-08T11:59:59Z"), None);
        assert_eq!(
            warn("2026-03-08T12:00:00Z").as_deref(),
            Some(
                "the refresh token expires within 7 days (at 2026-03-15T12:00:00Z); a person must authorize again before then: snowflake-token-operator authorize -n bi tableau"
            )
        );
        assert_eq!(warn("2026-03-08T20:00:00Z"), warn("2026-03-08T12:00:00Z"));
        assert!(
            warn("2026-03-09T12:00:00Z")
                .expect("in")
                .contains("within 6 days")
        );
        assert!(
            warn("2026-03-15T00:00:00Z")
                .expect("in")
                .contains("within a day")
        );
        assert!(
            warn("2026-03-16T00:00:00Z")
                .expect("in")
                .contains("has expired")
        );
        // Its changes: the window opening, then each day, then the expiry; each one a
        // new message, and nothing changes in between.
        let mut now = at("2026-03-01T00:00:00Z");
        let mut changes = Vec::new();
        while let Some(next) = next_warning_change(now, expires, week) {
            let before = expiry_warning(next - SignedDuration::from_secs(1), expires, week, cmd);
            let after = expiry_warning(next, expires, week, cmd);
            assert_ne!(before, after, "a wake at {next} changes nothing");
            changes.push(next.to_string());
            now = next;
        }
        assert_eq!(changes.len(), 8, "{changes:?}");
        assert_eq!(changes[0], "2026-03-08T12:00:00Z");
        assert_eq!(changes[1], "2026-03-09T12:00:00Z");
        assert_eq!(changes[7], "2026-03-15T12:00:00Z");
    }

    #[test]
    fn the_scope_names_the_role_encoded_when_it_must_be() {
        assert_eq!(scope_for(None), None);
        assert_eq!(
            scope_for(Some("REPORTING")).as_deref(),
            Some("session:role:REPORTING")
        );
        assert_eq!(
            scope_for(Some("bi team")).as_deref(),
            Some("session:role-encoded:bi+team")
        );
    }

    #[test]
    fn granted_roles_are_read_from_the_scope() {
        for (scope, role) in [
            ("refresh_token session:role:ANALYST", Some("ANALYST")),
            ("session:role:ANALYST", Some("ANALYST")),
            (
                "refresh_token session:role-encoded:bi+team",
                Some("bi team"),
            ),
            ("session:role-encoded:bi%20team", Some("bi team")),
            ("refresh_token", None),
            ("", None),
        ] {
            assert_eq!(granted_role(scope).as_deref(), role, "{scope:?}");
        }
    }

    #[test]
    fn a_role_other_than_the_granted_one_is_a_mismatch() {
        assert_eq!(role_mismatch(Some("analyst"), Some("ANALYST")), None);
        assert_eq!(
            role_mismatch(Some("loader"), Some("ANALYST")),
            Some(("LOADER".into(), "ANALYST".into()))
        );
        // Unknown on either side: nothing to say.
        assert_eq!(role_mismatch(None, Some("ANALYST")), None);
        assert_eq!(role_mismatch(Some("LOADER"), None), None);
    }
}
