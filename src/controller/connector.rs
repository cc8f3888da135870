//! One Snowflake client per `SnowflakeConnection`, reused across reconciles of every
//! resource using it, rebuilt when the connection's spec or its key changes.
//!
//! The key Secret is read on demand (one `GET`), never watched or cached with the rest of
//! the cluster's Secrets: the connection controller re-reads it at every periodic check,
//! so a key rotated in the Secret is picked up within that interval without a restart.
//! Entries outlive the connection object, so a token being deleted together with its
//! connection (a namespace going away) can still revoke its PAT.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::error::Error;
use crate::api::{SecretKeyRef, SnowflakeConnection};
use crate::snowflake::{Account, Clock, PrivateKey, SnowflakeClient, SqlApiConfig};

/// A verified-or-not client of one connection.
#[derive(Debug)]
pub struct Connected {
    /// The client, authenticating as the connection's admin user.
    pub api: SnowflakeClient,
    /// The account it talks to.
    pub account: Account,
    /// `SHA256:...` of the public key.
    pub fingerprint: String,
    uid: String,
    generation: i64,
    key_digest: [u8; 32],
}

type Key = (String, String);

/// The client cache.
pub struct Connector {
    client: kube::Client,
    clock: Arc<dyn Clock>,
    config: SqlApiConfig,
    entries: Mutex<HashMap<Key, Arc<Connected>>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

fn key_of(conn: &SnowflakeConnection) -> Key {
    (
        conn.metadata.namespace.clone().unwrap_or_default(),
        conn.metadata.name.clone().unwrap_or_default(),
    )
}

impl Connector {
    /// An empty cache; clients use `config` and sign JWTs with `clock`.
    pub fn new(client: kube::Client, clock: Arc<dyn Clock>, config: SqlApiConfig) -> Self {
        Self {
            client,
            clock,
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Connected>>> {
        // A panic while holding the lock cannot leave the map inconsistent (single
        // insert/remove calls), so a poisoned lock is still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached client if it was built for this spec generation, else [`Self::load`].
    pub async fn get(&self, conn: &SnowflakeConnection) -> Result<Arc<Connected>, Error> {
        let cached = self.entries().get(&key_of(conn)).cloned();
        match cached {
            Some(entry)
                if Some(&entry.uid) == conn.metadata.uid.as_ref()
                    && Some(entry.generation) == conn.metadata.generation =>
            {
                Ok(entry)
            }
            _ => self.load(conn).await,
        }
    }

    /// The last client built for a connection, even if the connection is gone.
    pub fn last_known(&self, namespace: &str, name: &str) -> Option<Arc<Connected>> {
        self.entries()
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Reads the key Secret now and returns the cached client when nothing changed, or a
    /// new one (replacing the cached one) when the spec or the key did.
    pub async fn load(&self, conn: &SnowflakeConnection) -> Result<Arc<Connected>, Error> {
        let namespace = conn.metadata.namespace.clone().unwrap_or_default();
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        let auth = &conn.spec.auth.key_pair;
        let pem = read_key(
            &secrets,
            &auth.private_key_secret_ref,
            "the private key of the connection's admin user (spec.auth.keyPair.privateKeySecretRef)",
        )
        .await?;
        let passphrase = match &auth.passphrase_secret_ref {
            Some(reference) => Some(
                read_key(
                    &secrets,
                    reference,
                    "the passphrase of the encrypted private key (spec.auth.keyPair.passphraseSecretRef)",
                )
                .await?,
            ),
            None => None,
        };
        let mut digest = Sha256::new();
        digest.update(pem.as_bytes());
        digest.update([0]);
        if let Some(passphrase) = &passphrase {
            digest.update(passphrase.as_bytes());
        }
        let key_digest: [u8; 32] = digest.finalize().into();
        let uid = conn.metadata.uid.clone().unwrap_or_default();
        let generation = conn.metadata.generation.unwrap_or_default();
        if let Some(entry) = self.entries().get(&key_of(conn))
            && entry.uid == uid
            && entry.generation == generation
            && entry.key_digest == key_digest
        {
            return Ok(entry.clone());
        }
        let passphrase = passphrase.map(SecretString::from);
        let key = PrivateKey::from_pem(&pem, passphrase.as_ref())
            .map_err(|e| Error::snowflake("loading the private key", e))?;
        let account = conn
            .spec
            .snowflake_account()
            .map_err(|e| Error::snowflake("resolving the account", e))?;
        let mut config = self.config.clone();
        config.role = conn.spec.admin_role();
        let api = SnowflakeClient::with_key_pair(
            account.clone(),
            &conn.spec.admin_user(),
            &key,
            config,
            self.clock.clone(),
        )
        .map_err(|e| Error::snowflake("building the Snowflake client", e))?;
        let entry = Arc::new(Connected {
            api,
            account,
            fingerprint: key.fingerprint().to_owned(),
            uid,
            generation,
            key_digest,
        });
        self.entries().insert(key_of(conn), entry.clone());
        Ok(entry)
    }

    /// Drops the client of a deleted connection.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.entries()
            .remove(&(namespace.to_owned(), name.to_owned()));
    }
}

/// The text of one key of a Secret; a missing Secret, key or an empty value is an error
/// saying what the value is for.
async fn read_key(
    secrets: &Api<Secret>,
    reference: &SecretKeyRef,
    purpose: &str,
) -> Result<String, Error> {
    let secret = secrets
        .get_opt(&reference.name)
        .await
        .map_err(|e| Error::kube(format!("reading Secret {}", reference.name), e))?
        .ok_or_else(|| Error::SecretMissing {
            name: reference.name.clone(),
            purpose: purpose.to_owned(),
        })?;
    let missing = || Error::SecretKeyMissing {
        name: reference.name.clone(),
        key: reference.key.clone(),
        purpose: purpose.to_owned(),
    };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|data| data.get(&reference.key))
        .map(|v| v.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|data| data.get(&reference.key))
                .map(|v| v.clone().into_bytes())
        })
        .filter(|v| !v.is_empty())
        .ok_or_else(missing)?;
    String::from_utf8(bytes).map_err(|_| {
        Error::snowflake(
            "loading the private key",
            crate::snowflake::Error::PrivateKey(format!(
                "key {:?} of Secret {} is not text (expected PEM)",
                reference.key, reference.name
            )),
        )
    })
}
