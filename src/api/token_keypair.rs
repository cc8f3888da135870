//! The key-pair part of a `SnowflakeToken`: an RSA key pair the operator generates,
//! registers in one of the user's two public-key slots and rotates through the other.

use std::time::Duration as StdDuration;

use kube::KubeSchema;
use kube::core::Rule;
use serde::{Deserialize, Serialize};

use super::duration::{DurationError, GoDuration};
use super::rules::{GO_DURATION, duration, duration_between};

/// An RSA key pair for key-pair authentication (`authenticator=SNOWFLAKE_JWT`). The
/// operator generates the key in memory, registers its public half in a free slot of the
/// user (`RSA_PUBLIC_KEY` or `RSA_PUBLIC_KEY_2`) and writes the private key into the
/// Secret. At each rotation the new key goes into the other slot, the Secret is written,
/// targets are restarted, and the previous key stays registered for `gracePeriod` before
/// its slot is unset. A slot holding a key the operator did not register is never
/// touched. Keys do not expire in Snowflake: `rotationPeriod` says how old a key may get.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = grace_shorter_than_the_rotation_period())]
#[serde(rename_all = "camelCase")]
pub struct KeyPairSpec {
    /// RSA key size in bits: 2048 (default) or 4096. A change takes effect at once: a
    /// key of the new size replaces the current one (a rotation, with the grace period).
    #[serde(default = "default_key_size")]
    #[schemars(extend("enum" = [2048, 4096]))]
    pub key_size: i32,

    /// How long a key is used before a new one replaces it (a duration such as `720h`;
    /// default `2160h`, 90 days; 1h to 8760h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = duration())]
    #[x_kube(validation = duration_between("1h", "8760h"))]
    pub rotation_period: Option<GoDuration>,

    /// How long the previous key stays registered after a rotation, so consumers that
    /// read the Secret only at startup keep working until they pick up the new key
    /// (default `24h`; `0s` unsets it as soon as the new key is in the Secret). Shorter
    /// than `rotationPeriod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = duration())]
    #[x_kube(validation = duration_between("0s", "8760h"))]
    pub grace_period: Option<GoDuration>,

    /// How the private key is written: `PKCS8` (default, `BEGIN PRIVATE KEY`), or
    /// `EncryptedPKCS8` (`BEGIN ENCRYPTED PRIVATE KEY`, PBES2 with PBKDF2-SHA256 and
    /// AES-256-CBC) with a passphrase the operator generates and writes beside it under
    /// `private_key_passphrase`. A change takes effect at once (a rotation).
    #[serde(default)]
    pub format: PrivateKeyFormat,

    /// Before a new key replaces the old one in the Secret, log in with it once
    /// (key-pair JWT over the SQL API, `SELECT CURRENT_USER()`) so that a key that does
    /// not work never reaches the workloads. A refusal by the user's network policy is
    /// reported as a warning event and the key is used anyway. Default true.
    #[serde(default = "default_true")]
    pub verify_before_swap: bool,
}

/// How the private key is encoded in the Secret.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum PrivateKeyFormat {
    /// Unencrypted PKCS#8 PEM.
    #[default]
    #[serde(rename = "PKCS8")]
    Pkcs8,
    /// Passphrase-encrypted PKCS#8 PEM; the passphrase is written beside it.
    #[serde(rename = "EncryptedPKCS8")]
    EncryptedPkcs8,
}

fn default_key_size() -> i32 {
    2048
}

fn default_true() -> bool {
    true
}

/// The default `rotationPeriod`: 90 days.
pub const DEFAULT_ROTATION_PERIOD: StdDuration = StdDuration::from_secs(90 * 86_400);
/// The default `gracePeriod`: a day.
pub const DEFAULT_GRACE_PERIOD: StdDuration = StdDuration::from_secs(86_400);

/// The previous key must be gone before the next rotation needs its slot.
fn grace_shorter_than_the_rotation_period() -> Rule {
    let grace = "(has(self.gracePeriod) ? self.gracePeriod : '24h')";
    let period = "(has(self.rotationPeriod) ? self.rotationPeriod : '2160h')";
    Rule::new(format!(
        "!{grace}.matches(r'{GO_DURATION}') || !{period}.matches(r'{GO_DURATION}') || \
         duration({grace}) < duration({period})"
    ))
    .message(
        "gracePeriod must be shorter than rotationPeriod (defaults 24h and 2160h): the \
         previous key's slot must be free again before the next rotation needs it",
    )
}

impl KeyPairSpec {
    /// `rotationPeriod`, or its default.
    pub fn rotation_period(&self) -> Result<StdDuration, DurationError> {
        self.rotation_period
            .as_ref()
            .map_or(Ok(DEFAULT_ROTATION_PERIOD), GoDuration::get)
    }

    /// `gracePeriod`, or its default.
    pub fn grace_period(&self) -> Result<StdDuration, DurationError> {
        self.grace_period
            .as_ref()
            .map_or(Ok(DEFAULT_GRACE_PERIOD), GoDuration::get)
    }

    /// The key size in bits (admission allows only 2048 and 4096).
    pub fn bits(&self) -> usize {
        if self.key_size == 4096 { 4096 } else { 2048 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_2048_bit_unencrypted_key_rotated_every_90_days() {
        let spec: KeyPairSpec = serde_json::from_value(serde_json::json!({})).expect("spec");
        assert_eq!(spec.bits(), 2048);
        assert_eq!(spec.format, PrivateKeyFormat::Pkcs8);
        assert_eq!(spec.rotation_period(), Ok(DEFAULT_ROTATION_PERIOD));
        assert_eq!(spec.grace_period(), Ok(DEFAULT_GRACE_PERIOD));
        assert!(spec.verify_before_swap);
        let encrypted: KeyPairSpec = serde_json::from_value(serde_json::json!({
            "keySize": 4096, "format": "EncryptedPKCS8", "rotationPeriod": "720h", "gracePeriod": "0s",
        }))
        .expect("spec");
        assert_eq!(encrypted.bits(), 4096);
        assert_eq!(encrypted.format, PrivateKeyFormat::EncryptedPkcs8);
        assert_eq!(
            encrypted.rotation_period(),
            Ok(StdDuration::from_secs(720 * 3600))
        );
        assert_eq!(encrypted.grace_period(), Ok(StdDuration::ZERO));
    }
}
