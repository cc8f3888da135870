//! The OAuth part of a `SnowflakeToken`: an access token refreshed from a refresh token.

use std::time::Duration as StdDuration;

use kube::KubeSchema;
use kube::core::Rule;
use serde::{Deserialize, Serialize};

use super::duration::{DurationError, GoDuration};
use super::refs::SecretKeyRef;
use super::rules::{GO_DURATION, duration, duration_between};

/// A Snowflake OAuth access token (lifetime about 10 minutes) refreshed from a refresh
/// token obtained once by a person (`snowflake-token-operator authorize`). Single-use
/// refresh tokens are supported: each new refresh token is stored before it is used.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = warning_before_the_refresh_token_expires())]
#[serde(rename_all = "camelCase")]
pub struct OAuthSpec {
    /// The Secret with the OAuth client's id and secret, with the keys
    /// `SYSTEM$SHOW_OAUTH_CLIENT_SECRETS` prints (`OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET`).
    pub client_secret_ref: OAuthClientSecretRef,

    /// The Secret key holding the refresh token. The operator writes rotated single-use
    /// refresh tokens back to this key, so it must be allowed to update that Secret.
    pub refresh_token_secret_ref: SecretKeyRef,

    /// Role the access token's sessions use (scope `session:role:<role>`). Defaults to
    /// the role consented when the refresh token was obtained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = crate::api::rules::snowflake_identifier())]
    pub role: Option<String>,

    /// Refresh the access token this long before it expires (a duration such as `2m`;
    /// default `2m`). Clamped to half the access token's lifetime when that is shorter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = duration())]
    #[x_kube(validation = duration_between("1s", "1h"))]
    pub refresh_before: Option<GoDuration>,

    /// Set the `RefreshTokenExpiringSoon` condition and emit a warning event when the
    /// refresh token expires within this duration (default `168h`, 7 days), so a person
    /// re-authorizes in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = duration())]
    #[x_kube(validation = duration_between("1h", "8760h"))]
    pub refresh_token_expiry_warning: Option<GoDuration>,

    /// How long Snowflake's security integration issues refresh tokens for
    /// (`OAUTH_REFRESH_TOKEN_VALIDITY`; default `2160h`, Snowflake's 90 days). Used to
    /// predict the refresh token's expiry when Snowflake's answer does not state it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = duration())]
    #[x_kube(validation = duration_between("1h", "8760h"))]
    pub refresh_token_validity: Option<GoDuration>,
}

/// Default of `refreshBefore`.
pub const DEFAULT_REFRESH_BEFORE: StdDuration = StdDuration::from_secs(2 * 60);
/// Default of `refreshTokenExpiryWarning`.
pub const DEFAULT_REFRESH_TOKEN_EXPIRY_WARNING: StdDuration = StdDuration::from_secs(7 * 86_400);
/// Default of `refreshTokenValidity` (Snowflake's default `OAUTH_REFRESH_TOKEN_VALIDITY`).
pub const DEFAULT_REFRESH_TOKEN_VALIDITY: StdDuration = StdDuration::from_secs(90 * 86_400);

/// The warning must come before the refresh token dies.
fn warning_before_the_refresh_token_expires() -> Rule {
    Rule::new(format!(
        "!has(self.refreshTokenExpiryWarning) || \
         !self.refreshTokenExpiryWarning.matches(r'{GO_DURATION}') || \
         duration(self.refreshTokenExpiryWarning) < \
         (has(self.refreshTokenValidity) && self.refreshTokenValidity.matches(r'{GO_DURATION}') \
           ? duration(self.refreshTokenValidity) : duration('2160h'))"
    ))
    .message("refreshTokenExpiryWarning must be shorter than refreshTokenValidity (default 2160h)")
}

impl OAuthSpec {
    /// How long before expiry an access token with lifetime `access_token_lifetime` is
    /// refreshed: `refreshBefore` (default 2 minutes), at most half the lifetime.
    pub fn refresh_before_for(
        &self,
        access_token_lifetime: StdDuration,
    ) -> Result<StdDuration, DurationError> {
        Ok(
            or_default(&self.refresh_before, DEFAULT_REFRESH_BEFORE)?
                .min(access_token_lifetime / 2),
        )
    }

    /// `refreshTokenExpiryWarning`, or its default of 7 days.
    pub fn refresh_token_expiry_warning(&self) -> Result<StdDuration, DurationError> {
        or_default(
            &self.refresh_token_expiry_warning,
            DEFAULT_REFRESH_TOKEN_EXPIRY_WARNING,
        )
    }

    /// `refreshTokenValidity`, or its default of 90 days.
    pub fn refresh_token_validity(&self) -> Result<StdDuration, DurationError> {
        or_default(&self.refresh_token_validity, DEFAULT_REFRESH_TOKEN_VALIDITY)
    }
}

fn or_default(
    value: &Option<GoDuration>,
    default: StdDuration,
) -> Result<StdDuration, DurationError> {
    value.as_ref().map_or(Ok(default), GoDuration::get)
}

/// The Secret with an OAuth client's credentials.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(validation = crate::api::rules::no_cross_namespace("the Secret"))]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientSecretRef {
    /// Name of the Secret. It must be in the same namespace as this resource.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = crate::api::rules::kubernetes_name())]
    pub name: String,

    /// Key holding the OAuth client id.
    #[serde(default = "default_client_id_key")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = crate::api::rules::secret_key())]
    pub client_id_key: String,

    /// Key holding the OAuth client secret.
    #[serde(default = "default_client_secret_key")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = crate::api::rules::secret_key())]
    pub client_secret_key: String,

    /// Not supported: Secrets are always read from this resource's namespace. Present only
    /// so that a manifest setting it is refused with an explanation instead of having the
    /// field silently dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
}

fn default_client_id_key() -> String {
    "OAUTH_CLIENT_ID".to_owned()
}

fn default_client_secret_key() -> String {
    "OAUTH_CLIENT_SECRET".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let spec: OAuthSpec = serde_json::from_value(serde_json::json!({
            "clientSecretRef": {"name": "tableau-oauth-client"},
            "refreshTokenSecretRef": {"name": "tableau-refresh", "key": "refresh_token"},
        }))
        .expect("valid spec");
        assert_eq!(spec.client_secret_ref.client_id_key, "OAUTH_CLIENT_ID");
        assert_eq!(
            spec.client_secret_ref.client_secret_key,
            "OAUTH_CLIENT_SECRET"
        );
        assert_eq!(
            spec.refresh_before_for(StdDuration::from_secs(600)),
            Ok(StdDuration::from_secs(120))
        );
        assert_eq!(
            spec.refresh_token_expiry_warning(),
            Ok(StdDuration::from_secs(604_800))
        );
        assert_eq!(
            spec.refresh_token_validity(),
            Ok(StdDuration::from_secs(7_776_000))
        );
    }

    #[test]
    fn refresh_before_is_clamped_to_half_the_lifetime() {
        let spec: OAuthSpec = serde_json::from_value(serde_json::json!({
            "clientSecretRef": {"name": "c"},
            "refreshTokenSecretRef": {"name": "r", "key": "k"},
            "refreshBefore": "5m",
        }))
        .expect("valid spec");
        assert_eq!(
            spec.refresh_before_for(StdDuration::from_secs(600)),
            Ok(StdDuration::from_secs(300))
        );
        assert_eq!(
            spec.refresh_before_for(StdDuration::from_secs(60)),
            Ok(StdDuration::from_secs(30))
        );
    }

    #[test]
    fn unusable_durations_are_errors_not_panics() {
        let spec: OAuthSpec = serde_json::from_value(serde_json::json!({
            "clientSecretRef": {"name": "c"},
            "refreshTokenSecretRef": {"name": "r", "key": "k"},
            "refreshBefore": "99999999999999999999h",
            "refreshTokenExpiryWarning": "soon",
            "refreshTokenValidity": "-1h",
        }))
        .expect("any text deserializes");
        assert!(
            spec.refresh_before_for(StdDuration::from_secs(600))
                .is_err()
        );
        assert!(spec.refresh_token_expiry_warning().is_err());
        assert!(spec.refresh_token_validity().is_err());
    }
}
