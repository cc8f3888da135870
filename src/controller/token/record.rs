//! What a written Secret says about the credential it holds: the record annotations
//! (token name, expiry, issue time, SHA-256 of the value) checked against the value
//! itself, so an edited or foreign value is recognised as unknown.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use secrecy::SecretString;

use crate::api::keys::{
    ANSWERS_ROTATE_ANNOTATION, EXPIRES_AT_ANNOTATION, ISSUED_AT_ANNOTATION, OAUTH_ROLE_ANNOTATION,
    REFRESH_TOKEN_SHA256_ANNOTATION, TOKEN_NAME_ANNOTATION, VALUE_SHA256_ANNOTATION,
};
use crate::controller::secret::value_digest;

/// The credential a Secret holds, as far as its record and value agree.
pub enum Held {
    /// No Secret.
    Missing,
    /// A Secret of this token whose value is not one the operator recorded (edited by
    /// hand, or written before the record existed): it must be replaced.
    Unknown,
    /// The value the operator wrote, intact.
    Intact(HeldValue),
}

/// An intact value.
pub struct HeldValue {
    /// The credential.
    pub value: SecretString,
    /// The PAT it belongs to (`None` for OAuth).
    pub token_name: Option<String>,
    /// When it expires.
    pub expires_at: Timestamp,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// OAuth: SHA-256 of the refresh token it came from.
    pub refreshed_from: Option<String>,
    /// OAuth: the session role of the access token.
    pub role: Option<String>,
    /// PAT: the rotate request the value answers.
    pub answers_rotate: Option<String>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("Missing"),
            Self::Unknown => f.write_str("Unknown"),
            Self::Intact(v) => f
                .debug_struct("Intact")
                .field("token_name", &v.token_name)
                .field("expires_at", &v.expires_at)
                .field("issued_at", &v.issued_at)
                .finish_non_exhaustive(),
        }
    }
}

fn annotation<'a>(secret: &'a Secret, key: &str) -> Option<&'a str> {
    secret
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// Reads what `secret` holds under `value_key` (`password` or `access_token`).
pub fn held(secret: Option<&Secret>, value_key: &str) -> Held {
    let Some(secret) = secret else {
        return Held::Missing;
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|data| data.get(value_key))
        .and_then(|v| String::from_utf8(v.0.clone()).ok());
    let digest = annotation(secret, VALUE_SHA256_ANNOTATION);
    let expires_at = annotation(secret, EXPIRES_AT_ANNOTATION).and_then(|t| t.parse().ok());
    let issued_at = annotation(secret, ISSUED_AT_ANNOTATION).and_then(|t| t.parse().ok());
    match (value, digest, expires_at, issued_at) {
        (Some(value), Some(digest), Some(expires_at), Some(issued_at))
            if !value.is_empty() && value_digest(&value) == digest =>
        {
            Held::Intact(HeldValue {
                value: SecretString::from(value),
                token_name: annotation(secret, TOKEN_NAME_ANNOTATION).map(str::to_owned),
                expires_at,
                issued_at,
                refreshed_from: annotation(secret, REFRESH_TOKEN_SHA256_ANNOTATION)
                    .map(str::to_owned),
                role: annotation(secret, OAUTH_ROLE_ANNOTATION).map(str::to_owned),
                answers_rotate: annotation(secret, ANSWERS_ROTATE_ANNOTATION).map(str::to_owned),
            })
        }
        _ => Held::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use secrecy::ExposeSecret;

    fn secret(value: &str, digest_of: &str) -> Secret {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pbi", "annotations": {
                TOKEN_NAME_ANNOTATION: "PBI",
                EXPIRES_AT_ANNOTATION: "2026-04-01T00:00:00Z",
                ISSUED_AT_ANNOTATION: "2026-03-01T00:00:00Z",
                VALUE_SHA256_ANNOTATION: value_digest(digest_of),
            }},
            "data": {"password": ByteString(value.as_bytes().to_vec())},
        }))
        .expect("secret")
    }

    #[test]
    fn a_recorded_value_is_intact_and_an_edited_one_unknown() {
        let Held::Intact(v) = held(Some(&secret("pat-1", "pat-1")), "password") else {
            panic!("intact expected");
        };
        assert_eq!(v.value.expose_secret(), "pat-1");
        assert_eq!(v.token_name.as_deref(), Some("PBI"));
        assert_eq!(v.expires_at.to_string(), "2026-04-01T00:00:00Z");
        assert!(!format!("{:?}", Held::Intact(v)).contains("pat-1"));
        assert!(matches!(
            held(Some(&secret("typed-by-hand", "pat-1")), "password"),
            Held::Unknown
        ));
        assert!(matches!(
            held(Some(&secret("pat-1", "pat-1")), "access_token"),
            Held::Unknown
        ));
        assert!(matches!(held(None, "password"), Held::Missing));
    }

    #[test]
    fn the_rotate_request_a_value_answers_is_read_back() {
        let mut answering = secret("pat-1", "pat-1");
        answering
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(
                ANSWERS_ROTATE_ANNOTATION.into(),
                "2026-03-01T10:00:00Z".into(),
            );
        let Held::Intact(v) = held(Some(&answering), "password") else {
            panic!("intact expected");
        };
        assert_eq!(v.answers_rotate.as_deref(), Some("2026-03-01T10:00:00Z"));
        let Held::Intact(v) = held(Some(&secret("pat-1", "pat-1")), "password") else {
            panic!("intact expected");
        };
        assert_eq!(v.answers_rotate, None);
    }
}
