//! What a written Secret says about the credential it holds: the record annotations
//! (token name, expiry, issue time, SHA-256 of the value) checked against the value
//! itself, so an edited or foreign value is recognised as unknown.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use secrecy::SecretString;

use crate::api::keys::{
    ANSWERS_ROTATE_ANNOTATION, EXPIRES_AT_ANNOTATION, ISSUED_AT_ANNOTATION, KEY_BITS_ANNOTATION,
    KEY_FINGERPRINT_ANNOTATION, KEY_SLOT_ANNOTATION, OAUTH_ROLE_ANNOTATION,
    PREVIOUS_KEY_FINGERPRINT_ANNOTATION, PREVIOUS_KEY_REMOVAL_ANNOTATION,
    PREVIOUS_KEY_SLOT_ANNOTATION, REFRESH_TOKEN_SHA256_ANNOTATION, TOKEN_NAME_ANNOTATION,
    VALUE_SHA256_ANNOTATION,
};
use crate::controller::secret::{
    KEY_PAIR_VALUE_KEY, KeyRecord, PASSPHRASE_KEY, RetiringKey, value_digest,
};

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

/// When the credential in `secret` was issued, by its record.
pub fn issued_at(secret: Option<&Secret>) -> Option<Timestamp> {
    annotation(secret?, ISSUED_AT_ANNOTATION).and_then(|t| t.parse().ok())
}

/// Reads what `secret` holds under `value_key` (`password` or `access_token`).
pub fn held(secret: Option<&Secret>, value_key: &str) -> Held {
    let Some(secret) = secret else {
        return Held::Missing;
    };
    let value = data_text(secret, value_key);
    let digest = annotation(secret, VALUE_SHA256_ANNOTATION);
    let expires_at = annotation(secret, EXPIRES_AT_ANNOTATION).and_then(|t| t.parse().ok());
    let issued_at = annotation(secret, ISSUED_AT_ANNOTATION).and_then(|t| t.parse().ok());
    match (value, digest, expires_at, issued_at) {
        (Some(value), Some(digest), Some(expires_at), Some(issued_at))
            if value_digest(&value) == digest =>
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

/// The key pair a Secret holds, as far as its record and value agree.
pub enum HeldKeyPair {
    /// No Secret.
    Missing,
    /// A Secret of this token whose key is not one the operator recorded; the
    /// fingerprints its record still names (keys the operator registered, which consumers
    /// may have read before the edit).
    Unknown {
        /// Fingerprints named by the record.
        recorded: Vec<String>,
    },
    /// The key the operator wrote, intact.
    Intact(KeyPairValue),
}

/// An intact key pair.
pub struct KeyPairValue {
    /// The private key (PEM).
    pub private_key: SecretString,
    /// The passphrase of an encrypted key.
    pub passphrase: Option<SecretString>,
    /// Its slot and the previous key, by the record.
    pub record: KeyRecord,
    /// When it was written.
    pub issued_at: Timestamp,
    /// The rotate request it answers.
    pub answers_rotate: Option<String>,
}

impl KeyPairValue {
    /// Whether the key is passphrase-encrypted PKCS#8.
    pub fn encrypted(&self) -> bool {
        use secrecy::ExposeSecret as _;
        self.private_key
            .expose_secret()
            .contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    }
}

impl std::fmt::Debug for HeldKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("Missing"),
            Self::Unknown { recorded } => f
                .debug_struct("Unknown")
                .field("recorded", recorded)
                .finish(),
            Self::Intact(v) => f
                .debug_struct("Intact")
                .field("record", &v.record)
                .field("issued_at", &v.issued_at)
                .finish_non_exhaustive(),
        }
    }
}

/// The text under `key` of the Secret's data; `None` when absent, empty or not UTF-8.
fn data_text(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
        .filter(|v| !v.is_empty())
}

/// Reads the key pair `secret` holds.
pub fn held_key_pair(secret: Option<&Secret>) -> HeldKeyPair {
    let Some(secret) = secret else {
        return HeldKeyPair::Missing;
    };
    let fingerprint = annotation(secret, KEY_FINGERPRINT_ANNOTATION).map(str::to_owned);
    let previous = match (
        annotation(secret, PREVIOUS_KEY_FINGERPRINT_ANNOTATION),
        annotation(secret, PREVIOUS_KEY_SLOT_ANNOTATION).and_then(|s| s.parse().ok()),
        annotation(secret, PREVIOUS_KEY_REMOVAL_ANNOTATION).and_then(|t| t.parse().ok()),
    ) {
        (Some(fp), Some(slot @ (1 | 2)), Some(removal_at)) => Some(RetiringKey {
            fingerprint: fp.to_owned(),
            slot,
            removal_at,
        }),
        _ => None,
    };
    let private_key = data_text(secret, KEY_PAIR_VALUE_KEY);
    let passphrase = data_text(secret, PASSPHRASE_KEY);
    let digest = annotation(secret, VALUE_SHA256_ANNOTATION);
    let slot = annotation(secret, KEY_SLOT_ANNOTATION).and_then(|s| s.parse::<u8>().ok());
    let bits = annotation(secret, KEY_BITS_ANNOTATION).and_then(|s| s.parse().ok());
    let issued_at = annotation(secret, ISSUED_AT_ANNOTATION).and_then(|t| t.parse().ok());
    match (private_key, digest, &fingerprint, slot, bits, issued_at) {
        (Some(pem), Some(digest), Some(fp), Some(slot @ (1 | 2)), Some(bits), Some(issued_at))
            if value_digest(&pem) == digest
                && (passphrase.is_some() || !pem.contains("BEGIN ENCRYPTED PRIVATE KEY")) =>
        {
            HeldKeyPair::Intact(KeyPairValue {
                private_key: SecretString::from(pem),
                passphrase: passphrase.map(SecretString::from),
                record: KeyRecord {
                    fingerprint: fp.clone(),
                    slot,
                    bits,
                    previous,
                },
                issued_at,
                answers_rotate: annotation(secret, ANSWERS_ROTATE_ANNOTATION).map(str::to_owned),
            })
        }
        _ => HeldKeyPair::Unknown {
            recorded: fingerprint
                .into_iter()
                .chain(previous.map(|p| p.fingerprint))
                .collect(),
        },
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
