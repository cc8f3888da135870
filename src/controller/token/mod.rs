//! `SnowflakeToken`: a credential kept valid in a Secret.
//!
//! One reconcile: validate what can be validated before Snowflake is touched (the spec,
//! the whole Secret rendered with a placeholder value, a Secret name taken by someone
//! else), observe the Secret, resolve the connection and the user, then hand over to the
//! credential's side ([`pat`]; OAuth slots in beside it) which decides and applies one
//! step. Status, events, metrics and rollout restarts are handled here for both sides.
//!
//! Backoff is driven by `status.failureCount`: status-only changes do not trigger a
//! reconcile (the watch filters them, see `controller::run`), so writing a failure never
//! bypasses the wait before the next attempt.

pub mod keypair;
pub mod keypair_policy;
pub mod oauth;
pub mod oauth_policy;
pub mod pat;
pub mod pat_policy;
pub mod record;

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use secrecy::SecretString;

use self::record::Held;
use super::connection;
use super::connector::Connected;
use super::context::Context;
use super::error::{Error, Reason};
use super::finalizer;
use super::rollout::{self, Restart};
use super::secret::writer::{WriteError, Written, check_ours, write_observed};
use super::secret::{CredentialValue, PAT_VALUE_KEY, SecretContent, desired_secret};
use super::{requeue, status};
use crate::api::conditions::{READY, find, new_condition, set_condition};
use crate::api::{
    Credential, CredentialKind, DeletionPolicy, SnowflakeConnection, SnowflakeToken,
    SnowflakeTokenStatus,
};
use crate::metrics::TokenLabels;
use crate::snowflake::SnowflakeApi;

/// The controller's name in metrics.
pub const CONTROLLER: &str = "token";
const KIND: &str = "SnowflakeToken";

/// The token's references, resolved.
pub struct Resolved {
    /// The connection.
    pub conn: Arc<SnowflakeConnection>,
    /// Its UID (key of per-user caches).
    pub connection_uid: String,
    /// Its client.
    pub client: Arc<Connected>,
    /// The Snowflake user the credential belongs to.
    pub user: String,
}

/// The token's Secret as observed.
pub struct Observed {
    /// The Secret at the desired name, if it exists (always one of ours: a foreign one is
    /// an error before this is built).
    pub current: Option<Secret>,
    /// What the Secret (or, after a rename, the previous one) holds.
    pub held: Held,
    /// The Secret `held` was read from: the one at the desired name, or after a rename
    /// the previous one.
    pub source: Option<Secret>,
}

/// How the reconcile leaves the `Ready` condition.
pub enum Readiness {
    /// A valid credential is in the Secret.
    Ready {
        /// The reason.
        reason: &'static str,
        /// The message.
        message: String,
        /// Leave an existing `Ready=True` condition as it is (nothing happened).
        keep_if_ready: bool,
    },
    /// Not usable, without an error (for example disabled in Snowflake).
    NotReady {
        /// The reason.
        reason: &'static str,
        /// The message.
        message: String,
    },
}

/// What one credential side achieved.
pub struct Progress {
    /// The `Ready` condition.
    pub readiness: Readiness,
    /// When to reconcile again.
    pub requeue_at: Timestamp,
    /// Events to publish.
    pub events: Vec<(EventType, &'static str, String)>,
    /// Restart the targets for the value issued at this time.
    pub restart_for: Option<String>,
    /// Whether a new value was written.
    pub new_value: bool,
}

/// The key under which this process remembers the revoke request it answered for `uid`
/// (beside the rotate request, under `uid` itself).
fn revoke_key(uid: &str) -> String {
    format!("{uid}/revoke")
}

/// The value of the `revoke` annotation not answered yet. Answered means recorded in the
/// status or, while the cached status lags behind this process's last write, in memory
/// (the status then catches up).
pub fn revoke_request(
    ctx: &Context,
    token: &SnowflakeToken,
    uid: &str,
    next: &mut SnowflakeTokenStatus,
) -> Option<String> {
    let requested = token
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::api::keys::REVOKE_ANNOTATION))
        .cloned();
    if requested.is_some() && requested == ctx.honoured(&revoke_key(uid)) {
        next.last_revoke_request.clone_from(&requested);
    }
    requested.filter(|r| next.last_revoke_request.as_ref() != Some(r))
}

/// Records `request` as answered, in the status and in memory.
pub fn revoke_honoured(ctx: &Context, uid: &str, next: &mut SnowflakeTokenStatus, request: String) {
    ctx.honour(&revoke_key(uid), &request);
    next.last_revoke_request = Some(request);
}

/// The token's `rotate` annotation (the rotate request a new value answers).
pub fn rotate_annotation(token: &SnowflakeToken) -> Option<String> {
    token
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::api::keys::ROTATE_ANNOTATION))
        .cloned()
}

/// The token's `rotate` annotation, and whether it is still to be answered. Answered
/// means recorded in the status, or in memory (when the cached status lags behind this
/// process's last write), or by the value in the Secret (`answered_by`: when this process
/// died after the Secret write and before the status write); the status then catches up.
pub fn rotate_request(
    ctx: &Context,
    token: &SnowflakeToken,
    uid: &str,
    answered_by: Option<&str>,
    next: &mut SnowflakeTokenStatus,
) -> (Option<String>, bool) {
    let requested = rotate_annotation(token);
    let answered_by_secret = answered_by.is_some() && answered_by == requested.as_deref();
    if requested.is_some() && (requested == ctx.honoured(uid) || answered_by_secret) {
        next.last_rotate_request.clone_from(&requested);
    }
    let pending = requested.is_some() && requested != next.last_rotate_request;
    (requested, pending)
}

/// The reason of the `Ready` condition in `status`.
pub fn ready_reason(status: &SnowflakeTokenStatus) -> Option<&str> {
    find(&status.conditions, READY).map(|c| c.reason.as_str())
}

/// Sets the condition `type_` to True with `message`, or removes it when `None`.
pub fn set_flag(
    status: &mut SnowflakeTokenStatus,
    type_: &str,
    reason: &str,
    message: Option<String>,
    now: Timestamp,
) {
    match message {
        Some(message) => {
            set_condition(
                &mut status.conditions,
                new_condition(
                    type_,
                    true,
                    reason,
                    message,
                    status.observed_generation,
                    Time(now),
                ),
            );
        }
        None => status.conditions.retain(|c| c.type_ != type_),
    }
}

/// One reconcile.
/// How soon a resource waiting on a dependency without a verdict looks again, should the
/// dependency's own change not wake it (it normally does, through the dependency watch).
pub const PENDING_RECHECK: std::time::Duration = std::time::Duration::from_secs(30);

pub async fn reconcile(token: Arc<SnowflakeToken>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    // Woken (by its Secret's event, say) before the watch delivered this process's own
    // last write of it: decide on the object as it is, not on the cached copy.
    let token = if ctx.is_stale(&*token) {
        let api: Api<SnowflakeToken> =
            Api::namespaced(ctx.client.clone(), &token.namespace().unwrap_or_default());
        match api
            .get_opt(&token.name_any())
            .await
            .map_err(|e| Error::kube("reading the token", e))?
        {
            Some(fresh) => Arc::new(fresh),
            None => return Ok(Action::await_change()),
        }
    } else {
        token
    };
    let result = if token.metadata.deletion_timestamp.is_some() {
        clean_up(&token, &ctx).await
    } else {
        converge(&token, &ctx).await
    };
    ctx.metrics.reconciled(CONTROLLER, result.is_ok(), started);
    result
}

fn type_label(kind: Option<CredentialKind>) -> &'static str {
    match kind {
        Some(CredentialKind::OAuth) => "OAuth",
        Some(CredentialKind::KeyPair) => "KeyPair",
        _ => "ProgrammaticAccessToken",
    }
}

async fn converge(token: &SnowflakeToken, ctx: &Context) -> Result<Action, Error> {
    let wants_finalizer = token.spec.deletion_policy == DeletionPolicy::Delete;
    if finalizer::has(token) != wants_finalizer {
        finalizer::set(&ctx.client, token, wants_finalizer).await?;
    }
    let now = ctx.now();
    let namespace = token.metadata.namespace.clone().unwrap_or_default();
    let name = token.metadata.name.clone().unwrap_or_default();
    let uid = token.metadata.uid.clone().unwrap_or_default();
    let generation = token.metadata.generation;
    let mut current = token.status.clone();
    let mut next = current.clone().unwrap_or_default();
    next.observed_generation = generation;
    next.credential_type = token.spec.kind_of_credential();
    let kind_label = type_label(next.credential_type);

    let was = current
        .as_ref()
        .and_then(|s| find(&s.conditions, READY).map(|c| (c.status.clone(), c.reason.clone())));
    let result = side(token, ctx, &mut next, &mut current).await;
    if let Err(error) = &result
        && error.is_pending_dependency()
    {
        // Its connection or user is still being verified (a fresh `kubectl apply`, a
        // cold start, a spec change): its verdict wakes this token. Nothing to report
        // meanwhile, and no write: at scale this halves a cold start's writes.
        tracing::debug!(%namespace, %name, error = %error, "token waiting for a dependency");
        return Ok(Action::requeue(PENDING_RECHECK));
    }
    let mut events = Vec::new();
    let action = match result {
        Ok(progress) => {
            if let Some(issued_at) = &progress.restart_for {
                restart_targets(token, ctx, issued_at, &mut events).await;
            }
            next.secret_name = Some(token.secret_name());
            next.failure_count = None;
            match progress.readiness {
                Readiness::Ready {
                    reason,
                    message,
                    keep_if_ready,
                } => {
                    let ready_now = crate::api::conditions::is_true(&next.conditions, READY);
                    if !(keep_if_ready && ready_now) {
                        status::ready(&mut next.conditions, reason, message, generation, now);
                    }
                    ctx.metrics.set_ready(KIND, &namespace, &name, true);
                }
                Readiness::NotReady { reason, message } => {
                    status::not_ready_because(
                        &mut next.conditions,
                        reason,
                        message,
                        generation,
                        now,
                    );
                    ctx.metrics.set_ready(KIND, &namespace, &name, false);
                }
            }
            if progress.new_value
                && let Some(cause) = progress.events.iter().find(|e| e.0 == EventType::Normal)
            {
                ctx.metrics.rotated(kind_label, cause.1);
            }
            // Events of the side that report a state (TokenDisabled) only on transitions.
            let transition =
                find(&next.conditions, READY).map(|c| (c.status.clone(), c.reason.clone())) != was;
            for event in progress.events {
                if event.1 != pat::TOKEN_DISABLED || transition {
                    events.push(event);
                }
            }
            ctx.succeeded(&uid);
            Action::requeue(
                requeue::until(now, progress.requeue_at).max(std::time::Duration::from_secs(1)),
            )
        }
        Err(error) => {
            let failures = next.failure_count.unwrap_or(0).saturating_add(1);
            next.failure_count = Some(failures);
            next.last_failure_time = Some(Time(now));
            status::not_ready(&mut next.conditions, &error, generation, now);
            if let Some(expires) = &next.expires_at
                && let Some(ready) = next.conditions.iter_mut().find(|c| c.type_ == READY)
                && !ready.message.contains("keeps its current value")
            {
                ready.message.push_str(&format!(
                    " (the Secret keeps its current value, valid until {})",
                    expires.0
                ));
            }
            ctx.metrics.set_ready(KIND, &namespace, &name, false);
            ctx.metrics.failed(CONTROLLER, error.reason().as_str());
            if error.event_type() == EventType::Warning {
                tracing::warn!(%namespace, %name, reason = error.reason().as_str(), failures, error = %error, "token not ready");
            } else {
                tracing::info!(%namespace, %name, reason = error.reason().as_str(), error = %error, "token waiting");
            }
            let transition =
                find(&next.conditions, READY).map(|c| (c.status.clone(), c.reason.clone())) != was;
            if transition {
                events.push((
                    error.event_type(),
                    error.reason().as_str(),
                    error.to_string(),
                ));
            }
            if error.is_transient() {
                ctx.retry_after(u32::try_from(failures).unwrap_or(u32::MAX), &uid)
            } else {
                Action::requeue(ctx.config.drift_interval)
            }
        }
    };
    ctx.metrics.set_token_times(
        &TokenLabels {
            namespace: namespace.clone(),
            name: name.clone(),
            r#type: kind_label,
        },
        next.expires_at.as_ref().map(|t| t.0),
        next.renewal_time.as_ref().map(|t| t.0),
        next.refresh_token_expires_at.as_ref().map(|t| t.0),
    );
    let version = status::write(&ctx.client, token, current.as_ref(), &next).await?;
    ctx.wrote_version(&uid, version.as_deref());
    for (type_, reason, note) in events {
        ctx.event(token, type_, reason, "Reconcile", note).await;
    }
    Ok(action)
}

/// Everything that can fail, up to and including the credential side. `baseline` is the
/// status as last written (a side that writes the status on the way moves it).
async fn side(
    token: &SnowflakeToken,
    ctx: &Context,
    next: &mut SnowflakeTokenStatus,
    baseline: &mut Option<SnowflakeTokenStatus>,
) -> Result<Progress, Error> {
    let credential = token.spec.credential().ok_or_else(|| {
        Error::InvalidSpec("set exactly one of programmaticAccessToken, oauth or keyPair".into())
    })?;
    validate_rendering(token, credential, ctx.now())?;
    let observed = observe(ctx, token).await?;
    let resolved = resolve(token, ctx).await?;
    next.user_name = Some(resolved.user.clone());
    match credential {
        Credential::Pat(spec) => pat::converge(token, spec, ctx, &resolved, &observed, next).await,
        Credential::OAuth(spec) => {
            oauth::converge(token, spec, ctx, &resolved, &observed, next).await
        }
        Credential::KeyPair(spec) => {
            keypair::converge(token, spec, ctx, &resolved, &observed, next, baseline).await
        }
    }
}

/// Renders the whole Secret with a placeholder value: a template that does not render is
/// refused before a token is minted, not after.
fn validate_rendering(
    token: &SnowflakeToken,
    credential: Credential<'_>,
    now: Timestamp,
) -> Result<(), Error> {
    let placeholder = SecretString::from("placeholder-value");
    let content = SecretContent {
        username: "USER".into(),
        account: "account".into(),
        host: "account.snowflakecomputing.com".into(),
        expires_at: now,
        issued_at: now,
        credential: match credential {
            Credential::Pat(_) => CredentialValue::Pat {
                secret: placeholder,
                token_name: token.pat_name().unwrap_or_default(),
                role: None,
                answers_rotate: None,
            },
            Credential::OAuth(_) => CredentialValue::OAuth {
                access_token: placeholder,
                token_type: "Bearer".into(),
                role: None,
                refreshed_from: String::new(),
            },
            Credential::KeyPair(spec) => CredentialValue::KeyPair {
                private_key: placeholder,
                passphrase: (spec.format == crate::api::PrivateKeyFormat::EncryptedPkcs8)
                    .then(|| SecretString::from("placeholder-passphrase")),
                record: super::secret::KeyRecord {
                    fingerprint: "SHA256:placeholder".into(),
                    slot: 1,
                    bits: spec.bits(),
                    previous: None,
                },
                answers_rotate: None,
            },
        },
    };
    desired_secret(token, &content)?;
    Ok(())
}

/// A Secret of this namespace that the token may write: from the watch cache, or read
/// when the cache does not have it (not one of ours, or just created).
async fn lookup(
    ctx: &Context,
    namespace: &str,
    name: &str,
    owner: &str,
) -> Result<Option<Secret>, Error> {
    let cached = ctx
        .secrets
        .get(&ObjectRef::new(name).within(namespace))
        .map(|s| s.to_secret());
    let secret = match cached {
        Some(secret) => Some(secret),
        None => read(ctx, namespace, name).await?,
    };
    if let Some(secret) = &secret {
        check_ours(secret, name, owner)?;
    }
    Ok(secret)
}

async fn read(ctx: &Context, namespace: &str, name: &str) -> Result<Option<Secret>, Error> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    api.get_opt(name).await.map_err(|source| {
        Error::SecretWrite(WriteError::Kube {
            name: name.to_owned(),
            source,
        })
    })
}

async fn observe(ctx: &Context, token: &SnowflakeToken) -> Result<Observed, Error> {
    let namespace = token.metadata.namespace.clone().unwrap_or_default();
    let owner = token.metadata.name.clone().unwrap_or_default();
    let uid = token.metadata.uid.clone().unwrap_or_default();
    let name = token.secret_name();
    let key = match token.spec.kind_of_credential() {
        Some(CredentialKind::OAuth) => super::secret::OAUTH_VALUE_KEY,
        Some(CredentialKind::KeyPair) => super::secret::KEY_PAIR_VALUE_KEY,
        _ => PAT_VALUE_KEY,
    };
    let mut current = lookup(ctx, &namespace, &name, &owner).await?;
    // The cache may lag behind this process's own last write: read it then.
    if let (Some(written), Some(issued_at)) =
        (ctx.last_written(&uid), record::issued_at(current.as_ref()))
        && issued_at < written
    {
        current = read(ctx, &namespace, &name).await?;
    }
    let previous = token
        .status
        .as_ref()
        .and_then(|s| s.secret_name.clone())
        .filter(|previous| *previous != name);
    let source = match (&current, previous) {
        (Some(secret), _) => Some(secret.clone()),
        // Renamed: the value is still in the previous Secret (if it is ours).
        (None, Some(previous)) => lookup(ctx, &namespace, &previous, &owner)
            .await
            .ok()
            .flatten(),
        (None, None) => None,
    };
    let held = record::held(source.as_ref(), key);
    Ok(Observed {
        current,
        held,
        source,
    })
}

/// Writes the desired Secret (nothing when it is already as desired). Returns whether it
/// wrote.
pub async fn write_secret(
    ctx: &Context,
    token: &SnowflakeToken,
    observed: &Observed,
    desired: &Secret,
) -> Result<bool, Error> {
    let namespace = token.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let previous = token.status.as_ref().and_then(|s| s.secret_name.clone());
    let outcome =
        write_observed(&api, desired, previous.as_deref(), observed.current.clone()).await?;
    Ok(outcome.written != Written::Unchanged)
}

async fn resolve(token: &SnowflakeToken, ctx: &Context) -> Result<Resolved, Error> {
    let namespace = token.metadata.namespace.clone().unwrap_or_default();
    let conn_name = &token.spec.connection_ref.name;
    let conn = connection::ready(ctx, &namespace, conn_name)?;
    let user = match (
        &token.spec.user.service_user_ref,
        token.explicit_user_name(),
    ) {
        (_, Some(name)) => name,
        (Some(reference), None) => {
            let user = ctx
                .users
                .get(&ObjectRef::new(&reference.name).within(&namespace))
                .ok_or_else(|| Error::Dependency {
                    reason: Reason::ServiceUserNotReady,
                    kind: "SnowflakeServiceUser",
                    name: reference.name.clone(),
                    state: "not found in this namespace".into(),
                    pending: false,
                })?;
            if user.spec.connection_ref.name != *conn_name {
                return Err(Error::InvalidSpec(format!(
                    "SnowflakeServiceUser {} lives in connection {}, not {conn_name}: reference the same connection",
                    reference.name, user.spec.connection_ref.name
                )));
            }
            let status = user.status.as_ref();
            let ready = status.is_some_and(|s| {
                s.observed_generation == user.metadata.generation
                    && crate::api::conditions::is_true(&s.conditions, READY)
            });
            if !ready {
                let pending = status.is_none_or(|s| {
                    s.observed_generation != user.metadata.generation
                        || find(&s.conditions, READY).is_none()
                });
                return Err(Error::Dependency {
                    reason: Reason::ServiceUserNotReady,
                    kind: "SnowflakeServiceUser",
                    pending,
                    name: reference.name.clone(),
                    state: status.and_then(|s| find(&s.conditions, READY)).map_or_else(
                        || "has not been converged yet".to_owned(),
                        |c| format!("is not Ready ({}: {})", c.reason, c.message),
                    ),
                });
            }
            user.snowflake_user_name()
        }
        (None, None) => {
            return Err(Error::InvalidSpec(
                "set exactly one of user.serviceUserRef or user.name".into(),
            ));
        }
    };
    let client = ctx.connector.get(&conn).await?;
    Ok(Resolved {
        connection_uid: conn.metadata.uid.clone().unwrap_or_default(),
        conn,
        client,
        user,
    })
}

async fn restart_targets(
    token: &SnowflakeToken,
    ctx: &Context,
    issued_at: &str,
    events: &mut Vec<(EventType, &'static str, String)>,
) {
    let namespace = token.metadata.namespace.clone().unwrap_or_default();
    for target in &token.spec.rollout_restart_targets {
        let what = format!("{:?} {}", target.kind, target.name);
        match rollout::restart(&ctx.client, &namespace, target, issued_at).await {
            Restart::Restarted => events.push((
                EventType::Normal,
                "RolloutRestarted",
                format!("{what} restarted to pick up the new value"),
            )),
            Restart::AlreadyDone => {}
            Restart::Missing => events.push((
                EventType::Warning,
                "RolloutTargetMissing",
                format!("{what} (rolloutRestartTargets) does not exist; nothing restarted"),
            )),
            Restart::Failed(e) => events.push((
                EventType::Warning,
                "RolloutRestartFailed",
                format!("{what} could not be restarted ({e}); restart it to pick up the new value"),
            )),
        }
    }
}

/// What a deleted token issued in Snowflake, to be removed before its finalizer goes. Only
/// a credential that was issued has anything to remove; the names are the ones it was
/// issued with (status), which the spec can no longer change.
enum Issued {
    /// A PAT, with its rotated-out values.
    Pat { user: String, pat_name: String },
    /// The public keys the token registered, by fingerprint.
    Keys { user: String, keys: Vec<String> },
}

impl Issued {
    fn of(token: &SnowflakeToken, status: &SnowflakeTokenStatus) -> Option<Self> {
        let user = status.user_name.clone()?;
        match token.spec.credential()? {
            Credential::Pat(_) => Some(Self::Pat {
                user,
                pat_name: status.token_name.clone()?,
            }),
            Credential::KeyPair(_) => {
                let keys = keypair::registered_by(status);
                (!keys.is_empty()).then_some(Self::Keys { user, keys })
            }
            Credential::OAuth(_) => None,
        }
    }

    fn what(&self) -> String {
        match self {
            Self::Pat { user, pat_name } => format!("token {pat_name} of user {user}"),
            Self::Keys { user, .. } => {
                format!("the public keys of user {user} this token registered")
            }
        }
    }

    fn removal<'a>(&self, what: &'a str) -> finalizer::Removal<'a> {
        let (verb, doing, done, by_hand) = match self {
            Self::Pat { user, pat_name } => (
                "remove",
                "removing",
                "removed",
                format!("ALTER USER {user} REMOVE PAT {pat_name}"),
            ),
            Self::Keys { user, keys } => (
                "unset",
                "unsetting",
                "unset",
                format!(
                    "ALTER USER {user} UNSET RSA_PUBLIC_KEY or RSA_PUBLIC_KEY_2, whichever DESC USER shows with fingerprint {}",
                    keys.join(" or ")
                ),
            ),
        };
        finalizer::Removal {
            what,
            verb,
            doing,
            done,
            reason: "Revoked",
            by_hand,
        }
    }

    /// Removes it; returns a detail for the event.
    async fn remove(self, ctx: &Context, client: &Connected) -> crate::snowflake::Result<String> {
        match self {
            Self::Pat { user, pat_name } => {
                let removed = ctx
                    .snowflake(
                        "remove_pat",
                        client.api.remove_pat_and_rotated(&user, &pat_name),
                    )
                    .await?;
                Ok(if removed.len() > 1 {
                    format!(
                        ", with its rotated-out values ({})",
                        removed[1..].join(", ")
                    )
                } else {
                    String::new()
                })
            }
            Self::Keys { user, keys } => {
                let removed = ctx
                    .snowflake(
                        "unset_public_key",
                        keypair::unset_registered(&client.api, &user, &keys),
                    )
                    .await?;
                Ok(if removed.is_empty() {
                    " (none was registered any more)".to_owned()
                } else {
                    format!(" ({})", removed.join(", "))
                })
            }
        }
    }
}

async fn clean_up(token: &SnowflakeToken, ctx: &Context) -> Result<Action, Error> {
    let namespace = token.metadata.namespace.clone().unwrap_or_default();
    let name = token.metadata.name.clone().unwrap_or_default();
    let uid = token.metadata.uid.clone().unwrap_or_default();
    if !finalizer::has(token) {
        ctx.metrics.forget(KIND, &namespace, &name);
        ctx.forget(&uid);
        return Ok(Action::await_change());
    }
    let status = token.status.clone().unwrap_or_default();
    if let (DeletionPolicy::Delete, Some(issued)) =
        (token.spec.deletion_policy, Issued::of(token, &status))
    {
        let what = issued.what();
        let removal = issued.removal(&what);
        let retry = finalizer::remove_in_snowflake(
            ctx,
            token,
            &token.spec.connection_ref.name,
            &removal,
            |client| async move { issued.remove(ctx, &client).await },
        )
        .await;
        if let Some(retry) = retry {
            return Ok(retry);
        }
    }
    finalizer::set(&ctx.client, token, false).await?;
    ctx.metrics.forget(KIND, &namespace, &name);
    ctx.forget(&uid);
    Ok(Action::await_change())
}
