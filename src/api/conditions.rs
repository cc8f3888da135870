//! Condition types, reasons and the pure helpers controllers use to maintain
//! `status.conditions`.
//!
//! Timestamps move only on transitions: setting a condition whose status did not change
//! keeps its `lastTransitionTime`, so a no-op reconcile produces an identical status and
//! therefore no write (and no self-triggered watch event).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The one condition every kind reports: the resource is converged and usable.
pub const READY: &str = "Ready";

/// `status` value of a condition that holds.
pub const STATUS_TRUE: &str = "True";
/// `status` value of a condition that does not hold.
pub const STATUS_FALSE: &str = "False";
/// `status` value of a condition not yet evaluated.
pub const STATUS_UNKNOWN: &str = "Unknown";

/// Reasons (CamelCase, stable: alerts and users match on them).
pub mod reason {
    /// The connection authenticated and ran its verification statement.
    pub const VERIFIED: &str = "Verified";
    /// The Snowflake user exists and matches the spec.
    pub const CONVERGED: &str = "Converged";
    /// A new PAT was minted and stored in the Secret.
    pub const MINTED: &str = "Minted";
    /// The PAT was rotated and the new value stored in the Secret.
    pub const ROTATED: &str = "Rotated";
    /// A fresh OAuth access token was obtained and stored in the Secret.
    pub const REFRESHED: &str = "Refreshed";
    /// The referenced SnowflakeConnection does not exist or is not Ready.
    pub const CONNECTION_NOT_READY: &str = "ConnectionNotReady";
    /// The referenced SnowflakeServiceUser does not exist or is not Ready.
    pub const SERVICE_USER_NOT_READY: &str = "ServiceUserNotReady";
    /// A referenced Secret or key is missing.
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    /// Snowflake refused the operator's credentials.
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    /// Snowflake could not be reached or answered with a transient error; the existing
    /// Secret is kept and the operation is retried with backoff.
    pub const SNOWFLAKE_UNAVAILABLE: &str = "SnowflakeUnavailable";
    /// Snowflake refused the statement (privileges, limits, policy); retried after a
    /// spec change or the periodic drift check.
    pub const SNOWFLAKE_REJECTED: &str = "SnowflakeRejected";
    /// The OAuth refresh token is invalid, expired or revoked: a person must authorize again.
    pub const REAUTHORIZATION_REQUIRED: &str = "ReauthorizationRequired";
    /// The OAuth refresh token expires soon: a person should authorize again.
    pub const REFRESH_TOKEN_EXPIRING_SOON: &str = "RefreshTokenExpiringSoon";
    /// The spec is valid for the schema but cannot be acted upon (for example a template
    /// that does not render).
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Work is in progress; no outcome yet.
    pub const PROGRESSING: &str = "Progressing";
}

/// Builds a condition; `status` true/false maps to `"True"`/`"False"`.
pub fn new_condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if status { STATUS_TRUE } else { STATUS_FALSE }.to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
        observed_generation,
        last_transition_time: now,
    }
}

/// The condition of type `type_`, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of type `type_` is present with status `"True"`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == STATUS_TRUE)
}

/// Inserts or replaces the condition of `new.type_`, keeping the existing
/// `lastTransitionTime` when the status is unchanged. Returns whether anything changed,
/// so the caller can skip the status write when nothing did.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            if *existing == new {
                false
            } else {
                *existing = new;
                true
            }
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).expect("valid timestamp"))
    }

    fn ready(status: bool, reason: &str, generation: i64, now: i64) -> Condition {
        new_condition(READY, status, reason, "msg", Some(generation), at(now))
    }

    #[test]
    fn adding_a_condition_is_a_change() {
        let mut conditions = Vec::new();
        assert!(set_condition(
            &mut conditions,
            ready(true, reason::MINTED, 1, 10)
        ));
        assert!(is_true(&conditions, READY));
        assert_eq!(
            find(&conditions, READY).map(|c| c.status.as_str()),
            Some("True")
        );
    }

    #[test]
    fn same_status_keeps_transition_time_and_is_a_no_op() {
        let mut conditions = vec![ready(true, reason::MINTED, 1, 10)];
        assert!(!set_condition(
            &mut conditions,
            ready(true, reason::MINTED, 1, 99)
        ));
        assert_eq!(conditions[0].last_transition_time, at(10));
    }

    #[test]
    fn same_status_new_reason_updates_but_keeps_transition_time() {
        let mut conditions = vec![ready(true, reason::MINTED, 1, 10)];
        assert!(set_condition(
            &mut conditions,
            ready(true, reason::ROTATED, 2, 99)
        ));
        assert_eq!(conditions[0].reason, reason::ROTATED);
        assert_eq!(conditions[0].observed_generation, Some(2));
        assert_eq!(conditions[0].last_transition_time, at(10));
    }

    #[test]
    fn status_flip_moves_transition_time() {
        let mut conditions = vec![ready(true, reason::MINTED, 1, 10)];
        assert!(set_condition(
            &mut conditions,
            ready(false, reason::SNOWFLAKE_UNAVAILABLE, 1, 50)
        ));
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].status, STATUS_FALSE);
        assert_eq!(conditions[0].last_transition_time, at(50));
        assert!(!is_true(&conditions, READY));
    }

    #[test]
    fn other_types_are_left_alone() {
        let mut conditions = vec![ready(true, reason::MINTED, 1, 10)];
        let warning = new_condition(
            reason::REFRESH_TOKEN_EXPIRING_SOON,
            true,
            reason::REFRESH_TOKEN_EXPIRING_SOON,
            "authorize again",
            Some(1),
            at(20),
        );
        assert!(set_condition(&mut conditions, warning));
        assert_eq!(conditions.len(), 2);
        assert!(is_true(&conditions, READY));
    }
}
