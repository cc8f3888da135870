//! The labels and annotations the operator itself writes and reads, in one place so the
//! controllers, the CLI, the chart and the CRD rules agree on them.

/// The label on every Secret the operator writes. The operator watches only Secrets with
/// this label (never every Secret of the cluster), so it is reserved: `spec.secret.labels`
/// cannot set it.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "snowflake-token-operator";

/// The label selector of the Secrets the operator manages.
pub fn managed_by_selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY}")
}

/// The prefix of the operator's own label and annotation keys; reserved, so
/// `spec.secret.labels` and `spec.secret.annotations` cannot use it.
pub const PREFIX: &str = "snowflake-token-operator.io/";

/// Label on a written Secret: the name of the SnowflakeToken it holds the credential of
/// (the owner reference says the same; a label can be selected on).
pub const TOKEN_LABEL: &str = "snowflake-token-operator.io/token";

/// Annotation on a written Secret: when the credential in it was issued (RFC 3339), so
/// consumers and `kubectl describe` can tell one value from the next without reading it.
pub const ISSUED_AT_ANNOTATION: &str = "snowflake-token-operator.io/issued-at";

/// Annotation on a written Secret: the name of the programmatic access token whose value
/// it holds. With [`EXPIRES_AT_ANNOTATION`] and [`VALUE_SHA256_ANNOTATION`] it is the
/// record the operator compares with `SHOW USER PATS` to tell whether the Secret holds the
/// current value, an older one, or one somebody edited.
pub const TOKEN_NAME_ANNOTATION: &str = "snowflake-token-operator.io/token-name";

/// Annotation on a written Secret: when the credential in it expires (RFC 3339).
pub const EXPIRES_AT_ANNOTATION: &str = "snowflake-token-operator.io/expires-at";

/// Annotation on a written Secret: the SHA-256 (hex) of the credential it holds, so that
/// an edited value is recognised without the operator keeping any value itself. A hash of
/// a random token reveals nothing of it.
pub const VALUE_SHA256_ANNOTATION: &str = "snowflake-token-operator.io/value-sha256";

/// Annotation on a written Secret: the rotate request (the token's [`ROTATE_ANNOTATION`])
/// its value answers. The status records the same, but a crash between the Secret write
/// and the status write would otherwise leave the request looking unanswered, and the
/// restarted operator would rotate again.
pub const ANSWERS_ROTATE_ANNOTATION: &str = "snowflake-token-operator.io/answers-rotate";

/// Annotation on a key-pair Secret: the fingerprint (`SHA256:...`) of the public key
/// whose private key it holds. With [`KEY_SLOT_ANNOTATION`] and the previous-key
/// annotations it is the record by which the operator tells the slots it manages from
/// keys a person registered, which it never touches.
pub const KEY_FINGERPRINT_ANNOTATION: &str = "snowflake-token-operator.io/public-key-fingerprint";

/// Annotation on a key-pair Secret: the slot its key is registered in, `1`
/// (`RSA_PUBLIC_KEY`) or `2` (`RSA_PUBLIC_KEY_2`).
pub const KEY_SLOT_ANNOTATION: &str = "snowflake-token-operator.io/public-key-slot";

/// Annotation on a key-pair Secret: the size of its key in bits, so a changed
/// `keyPair.keySize` is noticed without decoding the key.
pub const KEY_BITS_ANNOTATION: &str = "snowflake-token-operator.io/key-bits";

/// Annotation on a key-pair Secret during a grace period: the fingerprint of the
/// previous key, still registered.
pub const PREVIOUS_KEY_FINGERPRINT_ANNOTATION: &str =
    "snowflake-token-operator.io/previous-public-key-fingerprint";

/// Annotation on a key-pair Secret during a grace period: the slot of the previous key.
pub const PREVIOUS_KEY_SLOT_ANNOTATION: &str =
    "snowflake-token-operator.io/previous-public-key-slot";

/// Annotation on a key-pair Secret during a grace period: when the previous key's slot is
/// unset (RFC 3339).
pub const PREVIOUS_KEY_REMOVAL_ANNOTATION: &str =
    "snowflake-token-operator.io/previous-key-removal-time";

/// Annotation on a SnowflakeToken asking for a rotation now (any new value, such as a
/// timestamp, asks again); written by `snowflake-token-operator rotate`.
pub const ROTATE_ANNOTATION: &str = "snowflake-token-operator.io/rotate";

/// Annotation on a SnowflakeToken: set it to a new value (a timestamp) to revoke the
/// credential now, e.g. after a leak: a PAT and all its rotated-out values are removed in
/// Snowflake without a grace period and a fresh one is minted into the Secret (targets
/// restarted); an OAuth token's stored refresh token is deleted, so a person authorizes
/// again. Honoured once per value (`status.lastRevokeRequest`).
pub const REVOKE_ANNOTATION: &str = "snowflake-token-operator.io/revoke";

/// Annotation on a SnowflakeToken: while present, no PAT is minted for it (set with
/// [`REVOKE_ANNOTATION`] by `revoke --no-replace`): the token stays revoked, `Ready=False`
/// reason `Revoked`, until the annotation is removed.
pub const REVOKE_HOLD_ANNOTATION: &str = "snowflake-token-operator.io/revoke-hold";

/// Annotation on the pod template of a rollout-restart target, changed to restart its pods
/// after the credential changed (as `kubectl rollout restart` does with its own key).
pub const RESTARTED_AT_ANNOTATION: &str = "snowflake-token-operator.io/restarted-at";

/// Annotation on an OAuth token's Secret: the SHA-256 (hex) of the refresh token its
/// access token came from (in single-use mode, of the one Snowflake answered with it). A
/// different value in the refresh-token Secret means a person authorized again.
pub const REFRESH_TOKEN_SHA256_ANNOTATION: &str =
    "snowflake-token-operator.io/refresh-token-sha256";

/// Annotation on an OAuth token's Secret: the session role of its access token, as
/// Snowflake granted it (the role is bound to the refresh token when a person authorizes;
/// a refresh cannot change it), so a changed `oauth.role` is reported as needing
/// authorization again.
pub const OAUTH_ROLE_ANNOTATION: &str = "snowflake-token-operator.io/oauth-role";

/// Label on a refresh-token Secret: the SnowflakeToken it feeds. Written by `authorize`
/// (and by the operator when it stores a rotated single-use refresh token) together with
/// the managed-by label, so the operator's Secret watch sees a person authorizing again
/// and refreshes at once.
pub const REFRESH_TOKEN_FOR_LABEL: &str = "snowflake-token-operator.io/refresh-token-for";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_keys_carry_the_reserved_prefix() {
        for key in [
            TOKEN_LABEL,
            ISSUED_AT_ANNOTATION,
            TOKEN_NAME_ANNOTATION,
            EXPIRES_AT_ANNOTATION,
            VALUE_SHA256_ANNOTATION,
            ROTATE_ANNOTATION,
            REVOKE_ANNOTATION,
            REVOKE_HOLD_ANNOTATION,
            RESTARTED_AT_ANNOTATION,
            REFRESH_TOKEN_SHA256_ANNOTATION,
            REFRESH_TOKEN_FOR_LABEL,
            OAUTH_ROLE_ANNOTATION,
            KEY_FINGERPRINT_ANNOTATION,
            KEY_SLOT_ANNOTATION,
            KEY_BITS_ANNOTATION,
            PREVIOUS_KEY_FINGERPRINT_ANNOTATION,
            PREVIOUS_KEY_SLOT_ANNOTATION,
            PREVIOUS_KEY_REMOVAL_ANNOTATION,
        ] {
            assert!(key.starts_with(PREFIX), "{key}");
        }
        assert_eq!(
            managed_by_selector(),
            "app.kubernetes.io/managed-by=snowflake-token-operator"
        );
    }
}
