//! `SnowflakeToken`: a credential for a Snowflake user, kept valid and written to a Secret.

use std::time::Duration as StdDuration;

use kube::core::Rule;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::duration::{DurationError, GoDuration};
use super::refs::LocalObjectRef;
use super::rules::GO_DURATION;
use super::service_user::DeletionPolicy;
use super::token_keypair::KeyPairSpec;
use super::token_oauth::OAuthSpec;
use super::token_secret::{RolloutTarget, TokenSecretSpec};
pub use super::token_status::{CredentialKind, SnowflakeTokenStatus};

/// A credential for a Snowflake user, kept valid forever and written into a Secret: a
/// programmatic access token (PAT) minted, rotated before it expires and revoked on
/// delete; a Snowflake OAuth access token refreshed from a refresh token; or an RSA key
/// pair registered on the user and rotated through its two public-key slots.
// Each printcolumn(...) repeats `type_ = "string"`, which clippy takes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "snowflake-token-operator.io",
    version = "v1alpha1",
    kind = "SnowflakeToken",
    namespaced,
    status = "SnowflakeTokenStatus",
    shortname = "sftoken",
    category = "snowflake",
    doc = "A Snowflake credential (programmatic access token, OAuth access token or RSA key pair) for one user, kept valid by the operator and written into a Secret.",
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".status.credentialType",
        description = "ProgrammaticAccessToken, OAuth or KeyPair"
    ),
    printcolumn(
        name = "User",
        type_ = "string",
        json_path = ".status.userName",
        description = "Snowflake user the credential belongs to"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether a valid credential is in the Secret"
    ),
    printcolumn(
        name = "Expires",
        // A timestamp, not "date": kubectl prints a date column as an age, and a time in
        // the future as "<invalid>".
        type_ = "string",
        json_path = ".status.expiresAt",
        description = "When the current credential expires"
    ),
    printcolumn(
        name = "Next Rotation",
        // A timestamp, not "date": kubectl prints a date column as an age, and a time in
        // the future as "<invalid>".
        type_ = "string",
        json_path = ".status.renewalTime",
        description = "When the operator renews the credential"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1,
        description = "Reason of the Ready condition"
    ),
    printcolumn(
        name = "Secret",
        type_ = "string",
        json_path = ".status.secretName",
        priority = 1,
        description = "Secret holding the credential"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("[has(self.programmaticAccessToken), has(self.oauth), has(self.keyPair)].filter(set, set).size() == 1").message(
    "set exactly one of programmaticAccessToken (a programmatic access token the operator mints and rotates), oauth (an OAuth access token refreshed from a refresh token) or keyPair (an RSA key pair the operator generates and rotates)"
))]
#[x_kube(validation = Rule::new("has(self.programmaticAccessToken) == has(oldSelf.programmaticAccessToken) && has(self.keyPair) == has(oldSelf.keyPair)").message(
    "the kind of credential (programmaticAccessToken, oauth or keyPair) cannot be changed: the credential already issued would be orphaned; create a new SnowflakeToken instead"
))]
#[serde(rename_all = "camelCase")]
pub struct SnowflakeTokenSpec {
    /// The SnowflakeConnection (in this namespace) used to mint, rotate and revoke the
    /// token, and whose account and host are written into the Secret. Cannot be changed
    /// later: the token issued lives in that connection's account.
    #[x_kube(validation = Rule::new("self == oldSelf").message("connectionRef cannot be changed: the credential was issued in that connection's account and would be orphaned there; create a new SnowflakeToken instead"))]
    pub connection_ref: LocalObjectRef,

    /// The Snowflake user the credential belongs to. Cannot be changed later: the
    /// credential already issued belongs to that user.
    #[x_kube(validation = Rule::new("self == oldSelf").message("user cannot be changed: the credential belongs to that user; create a new SnowflakeToken instead"))]
    pub user: TokenUser,

    /// Issue a programmatic access token (PAT). Exactly one of
    /// `programmaticAccessToken`, `oauth` and `keyPair` must be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programmatic_access_token: Option<PatSpec>,

    /// Keep a Snowflake OAuth access token fresh from a refresh token. Exactly one of
    /// `programmaticAccessToken`, `oauth` and `keyPair` must be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthSpec>,

    /// Generate an RSA key pair, register its public key on the user and rotate it
    /// through the user's two key slots. Exactly one of `programmaticAccessToken`,
    /// `oauth` and `keyPair` must be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pair: Option<KeyPairSpec>,

    /// The Secret the credential is written to.
    #[serde(default)]
    pub secret: TokenSecretSpec,

    /// Workloads restarted (like `kubectl rollout restart`) after the credential in the
    /// Secret changed, for consumers that read it only at startup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["kind".into(), "name".into()]))]
    pub rollout_restart_targets: Vec<RolloutTarget>,

    /// What happens when this resource is deleted: `Delete` (default) removes the PAT (or
    /// unsets the public keys the operator registered) in Snowflake and lets the Secret be
    /// garbage-collected; `Retain` leaves both.
    #[serde(default = "default_deletion_policy")]
    pub deletion_policy: DeletionPolicy,
}

fn default_deletion_policy() -> DeletionPolicy {
    DeletionPolicy::Delete
}

/// The Snowflake user a token belongs to: exactly one of `serviceUserRef` or `name`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(validation = Rule::new("has(self.serviceUserRef) != has(self.name)").message(
    "set exactly one of user.serviceUserRef (a SnowflakeServiceUser in this namespace) or user.name (a user that already exists in Snowflake)"
))]
#[serde(rename_all = "camelCase")]
pub struct TokenUser {
    /// A SnowflakeServiceUser in this namespace; the token is issued once it is Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_user_ref: Option<LocalObjectRef>,

    /// Name of a user that already exists in Snowflake and is not managed here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = crate::api::rules::snowflake_identifier())]
    pub name: Option<String>,
}

/// A programmatic access token: minted with `ALTER USER ... ADD PROGRAMMATIC ACCESS
/// TOKEN`, rotated before expiry with Snowflake's own overlap, revoked on delete.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("!(has(self.renewBefore) && has(self.renewBeforePercentage))").message(
    "set at most one of renewBefore and renewBeforePercentage"
))]
#[x_kube(validation = renew_before_within_the_lifetime())]
#[x_kube(validation = Rule::new("has(self.tokenName) == has(oldSelf.tokenName)").message(
    "tokenName cannot be added or removed after creation: it names the token in Snowflake; create a new SnowflakeToken instead"
))]
#[x_kube(validation = Rule::new("has(self.roleRestriction) == has(oldSelf.roleRestriction)").message(
    "roleRestriction cannot be added or removed after creation: Snowflake keeps a token's role across rotations; create a new SnowflakeToken instead"
))]
#[x_kube(validation = Rule::new("self.rotatedTokenGracePeriodHours <= self.daysToExpiry * 24").message(
    "rotatedTokenGracePeriodHours cannot exceed the token lifetime (daysToExpiry x 24 hours)"
))]
#[x_kube(validation = renewal_leaves_the_grace_period())]
#[serde(rename_all = "camelCase")]
pub struct PatSpec {
    /// Name of the token in Snowflake: letters, digits and `_`, case-insensitive (stored
    /// uppercase). Defaults to the resource's `metadata.name` uppercased with `-` and `.`
    /// replaced by `_`. Cannot be changed later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    #[x_kube(validation = crate::api::rules::pat_name())]
    #[x_kube(validation = Rule::new("self == oldSelf").message("tokenName cannot be changed; create a new SnowflakeToken instead"))]
    pub token_name: Option<String>,

    /// The only role sessions opened with the token can use (`ROLE_RESTRICTION`); it must
    /// be granted to the user. Snowflake requires it for SERVICE users unless an
    /// authentication policy waives it. Cannot be changed later: Snowflake keeps it
    /// across rotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = crate::api::rules::snowflake_identifier())]
    #[x_kube(validation = Rule::new("self == oldSelf").message("roleRestriction cannot be changed: Snowflake keeps a token's role across rotations; create a new SnowflakeToken instead"))]
    pub role_restriction: Option<String>,

    /// Lifetime of each token value in days (`DAYS_TO_EXPIRY`), 1 to 365. An account
    /// PAT policy may lower the maximum. Cannot be changed later: Snowflake computes every
    /// rotated value's expiry from the lifetime the token was added with.
    #[serde(default = "default_days_to_expiry")]
    #[schemars(range(min = 1, max = 365))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("daysToExpiry cannot be changed: Snowflake keeps a token's lifetime across rotations; create a new SnowflakeToken instead"))]
    pub days_to_expiry: i32,

    /// Renew this long before the token expires (a duration such as `72h`). Mutually
    /// exclusive with `renewBeforePercentage`; with neither set the token is renewed
    /// after two thirds of its lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = crate::api::rules::duration())]
    #[x_kube(validation = crate::api::rules::duration_between("1m", "8760h"))]
    pub renew_before: Option<GoDuration>,

    /// Renew when this percentage of the lifetime remains (1 to 99). Mutually exclusive
    /// with `renewBefore`; with neither set the token is renewed when a third remains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 99))]
    pub renew_before_percentage: Option<i32>,

    /// Hours the previous token value stays valid after a rotation
    /// (`EXPIRE_ROTATED_TOKEN_AFTER_HOURS`), so consumers can pick up the new value
    /// without an outage. 0 revokes the old value immediately. At most the lifetime.
    #[serde(default = "default_grace_period_hours")]
    #[schemars(range(min = 0, max = 8760))]
    pub rotated_token_grace_period_hours: i32,

    /// Minutes (1 to 1440) during which the token may be used although the user has no
    /// network policy (`MINS_TO_BYPASS_NETWORK_POLICY_REQUIREMENT`; PERSON users only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1440))]
    pub mins_to_bypass_network_policy_requirement: Option<i32>,

    /// Comment stored on the token in Snowflake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub comment: Option<String>,

    /// Before a new value replaces the old one in the Secret, log in with it once
    /// (`SELECT CURRENT_USER()` over the SQL API) so that a value that does not work never
    /// reaches the workloads. A refusal by the user's network policy (the operator's own
    /// address may rightly be outside it) is reported as a warning event and the value is
    /// used anyway. Default true.
    #[serde(default = "default_true")]
    pub verify_before_swap: bool,

    /// What to do when the token is found disabled in Snowflake (by a person, or by
    /// Snowflake itself after it found the value leaked, for example in a public
    /// repository). The operator never re-enables it. `WaitForRotateRequest` (default):
    /// report `Ready=False` reason `TokenDisabled` and a warning event, and mint a
    /// replacement when the `snowflake-token-operator.io/rotate` annotation changes
    /// (`snowflake-token-operator rotate`), so a person decides after looking into it.
    /// `Replace`: remove the disabled token and its rotated-out values and mint a
    /// replacement at once.
    #[serde(default)]
    pub on_disabled: OnDisabled,
}

/// What happens to a token found disabled in Snowflake.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum OnDisabled {
    /// Report it and wait for the rotate annotation to change.
    #[default]
    WaitForRotateRequest,
    /// Remove it and mint a replacement at once.
    Replace,
}

fn default_true() -> bool {
    true
}

fn default_days_to_expiry() -> i32 {
    15
}

fn default_grace_period_hours() -> i32 {
    24
}

/// `renewBefore` must leave some of the lifetime before the renewal.
fn renew_before_within_the_lifetime() -> Rule {
    Rule::new(format!(
        "!has(self.renewBefore) || !self.renewBefore.matches(r'{GO_DURATION}') || \
         duration(self.renewBefore).getSeconds() < self.daysToExpiry * 86400"
    ))
    .message("renewBefore must be shorter than the token lifetime (daysToExpiry days)")
}

/// At the renewal, the value being replaced must have at least the grace period left:
/// Snowflake caps `EXPIRE_ROTATED_TOKEN_AFTER_HOURS` at the hours the current value has
/// left, so a renewal closer to expiry would silently shorten the overlap consumers were
/// promised. The three branches mirror [`PatSpec::renew_before`] in integer arithmetic.
fn renewal_leaves_the_grace_period() -> Rule {
    Rule::new(format!(
        "has(self.renewBefore) \
           ? (!self.renewBefore.matches(r'{GO_DURATION}') || \
              duration(self.renewBefore).getSeconds() >= self.rotatedTokenGracePeriodHours * 3600) \
           : has(self.renewBeforePercentage) \
             ? self.daysToExpiry * 24 * self.renewBeforePercentage >= self.rotatedTokenGracePeriodHours * 100 \
             : self.daysToExpiry * 24 >= self.rotatedTokenGracePeriodHours * 3"
    ))
    .message(
        "the token would be renewed less than rotatedTokenGracePeriodHours before it expires, \
         so the old value could not stay valid for the whole grace period (Snowflake caps it at \
         the time the old value has left): renew earlier (renewBefore, renewBeforePercentage; by \
         default a third of daysToExpiry before expiry) or lower rotatedTokenGracePeriodHours",
    )
}

impl PatSpec {
    /// The lifetime of one token value.
    pub fn lifetime(&self) -> StdDuration {
        StdDuration::from_secs(u64::from(self.days_to_expiry.unsigned_abs()) * 86_400)
    }

    /// How long before expiry the token is renewed: `renewBefore`, else
    /// `renewBeforePercentage` of the lifetime, else a third of the lifetime. Never more
    /// than the lifetime itself. An unusable `renewBefore` (which admission refuses) is an
    /// error for the caller to report on the resource.
    pub fn renew_before(&self) -> Result<StdDuration, DurationError> {
        let lifetime = self.lifetime();
        let before = match (&self.renew_before, self.renew_before_percentage) {
            (Some(before), _) => before.get()?,
            (None, Some(percent)) => lifetime * percent.clamp(0, 100).unsigned_abs() / 100,
            (None, None) => lifetime / 3,
        };
        Ok(before.min(lifetime))
    }

    /// When a token value expiring at `expires_at` must be renewed.
    pub fn renewal_time(
        &self,
        expires_at: jiff::Timestamp,
    ) -> Result<jiff::Timestamp, DurationError> {
        let before = jiff::SignedDuration::try_from(self.renew_before()?)
            .unwrap_or(jiff::SignedDuration::MAX);
        Ok(expires_at
            .checked_sub(before)
            .unwrap_or(jiff::Timestamp::MIN))
    }

    /// The `EXPIRE_ROTATED_TOKEN_AFTER_HOURS` to send when rotating, at `now`, a token value
    /// that expires at `expires_at`: `rotatedTokenGracePeriodHours`, capped at the whole
    /// hours the value has left, because Snowflake refuses a grace period longer than the
    /// current secret's remaining life. Admission makes sure a rotation on schedule has
    /// the whole grace period left; a late one (the operator was down, Snowflake was
    /// unreachable) gets less, and [`RotationGrace::shortened`] says so, for the caller to
    /// report rather than shorten the overlap silently.
    pub fn rotation_grace(
        &self,
        expires_at: jiff::Timestamp,
        now: jiff::Timestamp,
    ) -> RotationGrace {
        let configured = u32::try_from(self.rotated_token_grace_period_hours).unwrap_or(0);
        let hours_left = expires_at.duration_since(now).as_hours().max(0);
        RotationGrace {
            hours: configured.min(u32::try_from(hours_left).unwrap_or(u32::MAX)),
            configured,
        }
    }
}

/// The grace period of one rotation (see [`PatSpec::rotation_grace`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationGrace {
    /// `EXPIRE_ROTATED_TOKEN_AFTER_HOURS` to send.
    pub hours: u32,
    /// `rotatedTokenGracePeriodHours` of the spec.
    pub configured: u32,
}

impl RotationGrace {
    /// Whether the old value gets less than the configured grace period.
    pub fn shortened(&self) -> bool {
        self.hours < self.configured
    }
}

/// The credential a spec asks for, borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Credential<'a> {
    /// A programmatic access token.
    Pat(&'a PatSpec),
    /// A Snowflake OAuth access token.
    OAuth(&'a OAuthSpec),
    /// An RSA key pair.
    KeyPair(&'a KeyPairSpec),
}

impl SnowflakeTokenSpec {
    /// The credential this spec asks for, or `None` if it sets several or none (which
    /// the CRD's validation refuses at admission).
    pub fn credential(&self) -> Option<Credential<'_>> {
        match (&self.programmatic_access_token, &self.oauth, &self.key_pair) {
            (Some(pat), None, None) => Some(Credential::Pat(pat)),
            (None, Some(oauth), None) => Some(Credential::OAuth(oauth)),
            (None, None, Some(key_pair)) => Some(Credential::KeyPair(key_pair)),
            _ => None,
        }
    }

    /// Which kind of credential this spec asks for (see [`Self::credential`]).
    pub fn kind_of_credential(&self) -> Option<CredentialKind> {
        self.credential().map(|c| match c {
            Credential::Pat(_) => CredentialKind::ProgrammaticAccessToken,
            Credential::OAuth(_) => CredentialKind::OAuth,
            Credential::KeyPair(_) => CredentialKind::KeyPair,
        })
    }
}

impl SnowflakeToken {
    /// Name of the Secret the credential is written to: `spec.secret.name`, else
    /// `metadata.name`.
    pub fn secret_name(&self) -> String {
        self.spec
            .secret
            .name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }

    /// Name of the PAT in Snowflake: `tokenName` (uppercase, as Snowflake stores it), else
    /// derived from `metadata.name`. `None` for OAuth tokens.
    pub fn pat_name(&self) -> Option<String> {
        let pat = self.spec.programmatic_access_token.as_ref()?;
        Some(match &pat.token_name {
            Some(name) => super::desired::resolve_identifier(name),
            None => super::service_user::user_name_from_object_name(
                self.metadata.name.as_deref().unwrap_or_default(),
            ),
        })
    }

    /// The user named by `user.name`, as Snowflake names it; `None` when the token refers
    /// to a SnowflakeServiceUser instead.
    pub fn explicit_user_name(&self) -> Option<String> {
        self.spec
            .user
            .name
            .as_deref()
            .map(super::desired::resolve_identifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(spec: serde_json::Value) -> SnowflakeToken {
        let spec: SnowflakeTokenSpec = serde_json::from_value(spec).expect("valid spec");
        SnowflakeToken::new("power-bi-gateway", spec)
    }

    fn pat(extra: serde_json::Value) -> PatSpec {
        let mut value = serde_json::json!({});
        if let (Some(target), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            target.extend(extra.clone());
        }
        serde_json::from_value(value).expect("valid PAT spec")
    }

    #[test]
    fn pat_defaults_follow_the_design() {
        let p = pat(serde_json::json!({}));
        assert_eq!(p.days_to_expiry, 15);
        assert_eq!(p.rotated_token_grace_period_hours, 24);
        assert_eq!(p.lifetime(), StdDuration::from_secs(15 * 86_400));
        // Renew after two thirds of the lifetime: 5 of 15 days before expiry.
        assert_eq!(p.renew_before(), Ok(StdDuration::from_secs(5 * 86_400)));
    }

    #[test]
    fn renew_before_honours_duration_and_percentage() {
        let by_duration = pat(serde_json::json!({"daysToExpiry": 30, "renewBefore": "72h"}));
        assert_eq!(
            by_duration.renew_before(),
            Ok(StdDuration::from_secs(72 * 3600))
        );
        let by_percent = pat(serde_json::json!({"daysToExpiry": 10, "renewBeforePercentage": 20}));
        assert_eq!(
            by_percent.renew_before(),
            Ok(StdDuration::from_secs(2 * 86_400))
        );
        let too_long = pat(serde_json::json!({"daysToExpiry": 1, "renewBefore": "48h"}));
        assert_eq!(too_long.renew_before(), Ok(StdDuration::from_secs(86_400)));
    }

    #[test]
    fn an_unusable_renew_before_is_an_error_for_the_resource() {
        let huge = pat(serde_json::json!({"renewBefore": "99999999999999999999h"}));
        assert!(matches!(
            huge.renew_before(),
            Err(DurationError::Overflow { .. })
        ));
        let expires: jiff::Timestamp = "2026-03-31T00:00:00Z".parse().expect("timestamp");
        assert!(huge.renewal_time(expires).is_err());
    }

    #[test]
    fn renewal_time_is_expiry_minus_renew_before() {
        let p = pat(serde_json::json!({"daysToExpiry": 30, "renewBefore": "72h"}));
        let expires: jiff::Timestamp = "2026-03-31T00:00:00Z".parse().expect("timestamp");
        let due: jiff::Timestamp = "2026-03-28T00:00:00Z".parse().expect("timestamp");
        assert_eq!(p.renewal_time(expires), Ok(due));
    }

    #[test]
    fn rotation_grace_is_capped_at_the_hours_the_current_value_has_left() {
        let at = |text: &str| -> jiff::Timestamp { text.parse().expect("timestamp") };
        let now = at("2026-03-01T00:00:00Z");
        let grace = |hours, configured| RotationGrace { hours, configured };
        // A late rotation of a 1-day token: 8 hours left, 24 configured, and it says so.
        let one_day = pat(serde_json::json!({"daysToExpiry": 1}));
        let late = one_day.rotation_grace(at("2026-03-01T08:00:00Z"), now);
        assert_eq!(late, grace(8, 24));
        assert!(late.shortened());
        // Part hours do not count: Snowflake compares whole hours.
        assert_eq!(
            one_day.rotation_grace(at("2026-03-01T08:59:59Z"), now),
            grace(8, 24)
        );
        // Plenty of time left: the configured grace period.
        let default = pat(serde_json::json!({}));
        let on_time = default.rotation_grace(at("2026-03-06T00:00:00Z"), now);
        assert_eq!(on_time, grace(24, 24));
        assert!(!on_time.shortened());
        // Already expired: the old value cannot outlive it.
        assert_eq!(
            default.rotation_grace(at("2026-02-28T00:00:00Z"), now),
            grace(0, 24)
        );
        let none = pat(serde_json::json!({"rotatedTokenGracePeriodHours": 0}));
        let immediate = none.rotation_grace(at("2026-03-06T00:00:00Z"), now);
        assert_eq!(immediate, grace(0, 0));
        assert!(!immediate.shortened());
    }

    #[test]
    fn credential_kind_and_names() {
        let t = token(serde_json::json!({
            "connectionRef": {"name": "prod"},
            "user": {"name": "BI_SVC"},
            "programmaticAccessToken": {"roleRestriction": "ANALYST"},
        }));
        assert_eq!(
            t.spec.kind_of_credential(),
            Some(CredentialKind::ProgrammaticAccessToken)
        );
        assert_eq!(t.pat_name().as_deref(), Some("POWER_BI_GATEWAY"));
        assert_eq!(t.secret_name(), "power-bi-gateway");
        assert_eq!(t.spec.deletion_policy, DeletionPolicy::Delete);

        let o = token(serde_json::json!({
            "connectionRef": {"name": "prod"},
            "user": {"name": "TABLEAU"},
            "oauth": {
                "clientSecretRef": {"name": "client"},
                "refreshTokenSecretRef": {"name": "refresh", "key": "refresh_token"},
            },
            "secret": {"name": "tableau-oauth"},
        }));
        assert_eq!(o.spec.kind_of_credential(), Some(CredentialKind::OAuth));
        assert_eq!(o.pat_name(), None);
        assert_eq!(o.secret_name(), "tableau-oauth");
    }

    #[test]
    fn both_or_neither_credential_is_no_credential() {
        let neither = token(serde_json::json!({
            "connectionRef": {"name": "prod"},
            "user": {"name": "BI_SVC"},
        }));
        assert_eq!(neither.spec.credential(), None);
    }
}
