//! The OAuth side of `SnowflakeToken`: a fresh access token in the Secret, refreshed from
//! the refresh token a person obtained once (`snowflake-token-operator authorize`), and a
//! person told in time when that refresh token will die.
//!
//! **A single-use chain is never lost to a failed write.** In single-use mode every
//! refresh answers with a new refresh token and spends the one sent; sending a spent one
//! again kills the whole chain. So after Snowflake answers:
//! 1. the new refresh token goes into the refresh-token Secret, before anything else, and
//!    only over the version read before the refresh (a person's `authorize` meanwhile
//!    wins; the answer is then dropped and the person's token used);
//! 2. then the access token goes into the token's Secret.
//!
//! An answer whose writes failed is kept in memory ([`OAuthPending`]) and the next attempt
//! writes it instead of refreshing, so a spent refresh token is never sent. What cannot be
//! saved is a crash in the instant between Snowflake's answer and the first write: the
//! next refresh is then refused (`invalid_grant`) and the token asks for `authorize`.
//!
//! A refresh whose answer was lost is sent again: if Snowflake did refresh, the chain is
//! spent for us either way (the new refresh token never arrived), and in single-use mode
//! the earlier access tokens died with that refresh, so resending costs nothing; if it
//! did not, the resend succeeds.
//!
//! The refresh-token Secret is read fresh from the API server at every reconcile (a
//! cached copy could hold an earlier, spent link of the chain).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use secrecy::{ExposeSecret, SecretString};

use super::oauth_policy::{self, Cause, Facts, RefreshFacts, Step};
use super::record::Held;
use super::{Observed, Progress, Readiness, Resolved, set_flag};
use crate::api::keys::{
    ISSUED_AT_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, REFRESH_TOKEN_FOR_LABEL,
};
use crate::api::{OAuthSpec, SnowflakeToken, SnowflakeTokenStatus};
use crate::controller::context::{Context, OAuthPending};
use crate::controller::error::{Error, Reason};
use crate::controller::secret::writer::WriteError;
use crate::controller::secret::{CredentialValue, SecretContent, desired_secret, value_digest};
use crate::snowflake::Category;
use crate::snowflake::oauth::{ClientCredentials, OAuthApi, OAuthClient, OAuthConfig};

/// Condition type set while the refresh token expires within `refreshTokenExpiryWarning`.
pub const EXPIRING_SOON: &str = "RefreshTokenExpiringSoon";
/// Ready reason while there is no refresh token to use.
pub const REFRESH_TOKEN_MISSING: &str = "RefreshTokenMissing";
/// Ready reason of a fresh access token.
pub const REFRESHED: &str = "Refreshed";

/// The field manager of the refresh-token Secret's writes: not the one of the token's own
/// Secret, so that the two applies can never take each other's fields away.
const REFRESH_FIELD_MANAGER: &str = "snowflake-token-operator-refresh";

/// The command a person runs to store a new refresh token.
pub fn authorize_command(token: &SnowflakeToken) -> String {
    format!(
        "snowflake-token-operator authorize --namespace {} {}",
        token.metadata.namespace.as_deref().unwrap_or("default"),
        token.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The OAuth client's id and secret from the Secret `reference` names in `namespace`.
pub async fn read_client_credentials(
    client: &kube::Client,
    namespace: &str,
    reference: &crate::api::OAuthClientSecretRef,
) -> Result<ClientCredentials, Error> {
    let purpose = "the OAuth client's id and secret (spec.oauth.clientSecretRef), as SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('<INTEGRATION>') prints them";
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(&reference.name)
        .await
        .map_err(|e| Error::kube(format!("reading Secret {}", reference.name), e))?
        .ok_or_else(|| Error::SecretMissing {
            name: reference.name.clone(),
            purpose: purpose.into(),
        })?;
    let key = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::SecretKeyMissing {
                name: reference.name.clone(),
                key: key.to_owned(),
                purpose: purpose.into(),
            })
    };
    Ok(ClientCredentials {
        client_id: key(&reference.client_id_key)?,
        client_secret: SecretString::from(key(&reference.client_secret_key)?),
    })
}

/// Applies `value` as the refresh token of `token` into the Secret its spec names (with
/// its issue time, and the labels that let the operator's Secret watch see it change),
/// over `version` when given. One write: the Secret is never left half-written.
pub async fn store_refresh_token(
    client: &kube::Client,
    token: &SnowflakeToken,
    reference: &crate::api::SecretKeyRef,
    value: &SecretString,
    issued_at: Timestamp,
    version: Option<&str>,
) -> Result<(), kube::Error> {
    let namespace = token.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(reference.name.clone()),
            resource_version: version.map(str::to_owned),
            labels: Some(
                [
                    (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
                    (
                        REFRESH_TOKEN_FOR_LABEL.to_owned(),
                        token.metadata.name.clone().unwrap_or_default(),
                    ),
                ]
                .into(),
            ),
            annotations: Some([(ISSUED_AT_ANNOTATION.to_owned(), issued_at.to_string())].into()),
            ..ObjectMeta::default()
        },
        data: Some(
            [(
                reference.key.clone(),
                ByteString(value.expose_secret().as_bytes().to_vec()),
            )]
            .into(),
        ),
        ..Secret::default()
    };
    api.patch(
        &reference.name,
        &PatchParams::apply(REFRESH_FIELD_MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await
    .map(drop)
}

/// The refresh token as the Secret holds it now.
struct RefreshToken {
    value: SecretString,
    digest: String,
    /// The Secret's resourceVersion when read.
    version: Option<String>,
    /// When it was stored (`authorize` records it; else the Secret's creation).
    recorded_at: Option<Timestamp>,
}

/// One reconcile of an OAuth token whose references resolved.
pub async fn converge(
    token: &SnowflakeToken,
    spec: &OAuthSpec,
    ctx: &Context,
    resolved: &Resolved,
    observed: &Observed,
    next: &mut SnowflakeTokenStatus,
) -> Result<Progress, Error> {
    let now = ctx.now();
    let uid = token.metadata.uid.clone().unwrap_or_default();
    let invalid = |field: &str, e: crate::api::DurationError| {
        Error::InvalidSpec(format!("oauth.{field}: {e}"))
    };
    let validity = spec
        .refresh_token_validity()
        .map_err(|e| invalid("refreshTokenValidity", e))?;
    let window = spec
        .refresh_token_expiry_warning()
        .map_err(|e| invalid("refreshTokenExpiryWarning", e))?;
    if spec.refresh_token_secret_ref.name == token.secret_name() {
        return Err(Error::InvalidSpec(format!(
            "oauth.refreshTokenSecretRef names Secret {}, which is the Secret this token writes: keep the refresh token in a Secret of its own",
            spec.refresh_token_secret_ref.name
        )));
    }
    next.token_name = None;
    let mut run = Run {
        ctx,
        token,
        spec,
        resolved,
        observed,
        uid,
        now,
        validity,
        events: Vec::new(),
        role: match &observed.held {
            Held::Intact(v) => v.role.clone(),
            _ => None,
        },
    };

    // A revoke request: the stored refresh token is deleted (and an answer kept in
    // memory dropped), so no access token comes from it again; a person authorizes anew.
    if let Some(request) = super::revoke_request(ctx, token, &run.uid, next) {
        drop(ctx.take_oauth_pending(&run.uid));
        run.delete_refresh_token(&request).await?;
        super::revoke_honoured(ctx, &run.uid, next, request);
    }

    // An answer not stored completely yet: store it before anything else.
    if let Some(pending) = ctx.take_oauth_pending(&run.uid) {
        return run
            .store(pending, next)
            .await
            .map(|p| run.check_role(p))
            .map(|p| run.warn(p, next, window));
    }

    let refresh = run.read_refresh_token().await?;
    let held = match &observed.held {
        Held::Intact(v) => Some(v),
        _ => None,
    };
    let refresh_before = |issued: Timestamp, expires: Timestamp| {
        let lifetime = Duration::try_from(expires.duration_since(issued)).unwrap_or_default();
        spec.refresh_before_for(lifetime)
            .map_err(|e| invalid("refreshBefore", e))
    };
    let refresh_at = match held {
        Some(v) => Some(oauth_policy::refresh_time(
            &run.uid,
            v.issued_at,
            v.expires_at,
            refresh_before(v.issued_at, v.expires_at)?,
        )),
        None => None,
    };
    let facts = Facts {
        now,
        access_expires_at: held.map(|v| v.expires_at),
        held_from: held.and_then(|v| v.refreshed_from.clone()),
        refresh: refresh
            .as_ref()
            .map_or(RefreshFacts::Missing, |r| RefreshFacts::Present {
                digest: r.digest.clone(),
            }),
        refused: ctx.refused(&run.uid),
        refresh_at,
    };
    // What the status says of the refresh token holds while it is the one in use.
    let same_refresh_token = matches!(
        (&facts.held_from, &refresh),
        (Some(from), Some(r)) if *from == r.digest
    );
    if let Some(v) = held {
        next.expires_at = Some(Time(v.expires_at));
        next.access_token_expires_at = Some(Time(v.expires_at));
        next.last_rotation_time = Some(Time(v.issued_at));
        next.renewal_time = refresh_at.map(Time);
    }
    if !same_refresh_token {
        next.refresh_token_expires_at = refresh
            .as_ref()
            .and_then(|r| {
                oauth_policy::refresh_token_expiry(now, None, false, None, r.recorded_at, validity)
            })
            .map(Time);
    }

    let step = oauth_policy::decide(&facts);
    let progress = match (step, refresh) {
        (Step::WaitUntil(at), _) => Progress {
            readiness: Readiness::Ready {
                reason: REFRESHED,
                message: run.ready_message(next, None),
                keep_if_ready: true,
            },
            requeue_at: at,
            events: Vec::new(),
            restart_for: None,
            new_value: false,
        },
        (Step::Refresh(cause), Some(refresh)) => run.refresh(cause, refresh, next).await?,
        (Step::Reauthorize, _) => run.reauthorization_required(None),
        (Step::NoRefreshToken | Step::Refresh(_), _) => {
            let reference = &spec.refresh_token_secret_ref;
            let command = authorize_command(token);
            run.not_ready(
                REFRESH_TOKEN_MISSING,
                format!(
                    "Secret {} has no refresh token under key {:?}: a person runs `{command}` once to store one; the operator uses it as soon as it is there{}",
                    reference.name,
                    reference.key,
                    run.keeps()
                ),
                ctx.config.connection_interval,
            )
        }
    };
    let progress = run.check_role(progress);
    Ok(run.warn(progress, next, window))
}

struct Run<'a> {
    ctx: &'a Context,
    token: &'a SnowflakeToken,
    spec: &'a OAuthSpec,
    resolved: &'a Resolved,
    observed: &'a Observed,
    uid: String,
    now: Timestamp,
    validity: Duration,
    events: Vec<(EventType, &'static str, String)>,
    /// The session role of the access token in the Secret, when known.
    role: Option<String>,
}

impl Run<'_> {
    fn namespace(&self) -> String {
        self.token.metadata.namespace.clone().unwrap_or_default()
    }

    /// ", the Secret keeps the current access token until T", when it holds one.
    fn keeps(&self) -> String {
        match &self.observed.held {
            Held::Intact(v) if v.expires_at > self.now => format!(
                "; the Secret keeps its current access token, valid until {}",
                v.expires_at
            ),
            _ => String::new(),
        }
    }

    fn not_ready(&mut self, reason: &'static str, message: String, recheck: Duration) -> Progress {
        self.ctx.metrics.failed(super::CONTROLLER, reason);
        Progress {
            readiness: Readiness::NotReady { reason, message },
            requeue_at: self
                .now
                .checked_add(SignedDuration::try_from(recheck).unwrap_or_default())
                .unwrap_or(Timestamp::MAX),
            events: std::mem::take(&mut self.events),
            restart_for: None,
            new_value: false,
        }
    }

    fn reauthorization_required(&mut self, detail: Option<String>) -> Progress {
        let command = authorize_command(self.token);
        let message = format!(
            "Snowflake refused the refresh token in Secret {} as expired, revoked or already used{}: a person runs `{command}` to store a new one; the operator uses it as soon as the Secret changes{}",
            self.spec.refresh_token_secret_ref.name,
            detail.map(|d| format!(" ({d})")).unwrap_or_default(),
            self.keeps()
        );
        // A GET of the refresh-token Secret, no Snowflake request: cheap enough to notice a
        // new token written by hand (without the label the watch sees) within minutes.
        let recheck = self.ctx.config.connection_interval;
        self.not_ready(Reason::ReauthorizationRequired.as_str(), message, recheck)
    }

    /// Removes the refresh token from its Secret (the rest of that Secret stays).
    async fn delete_refresh_token(&mut self, request: &str) -> Result<(), Error> {
        let reference = &self.spec.refresh_token_secret_ref;
        let api: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &self.namespace());
        let patch = serde_json::json!({"data": {reference.key.clone(): null}});
        match api
            .patch(
                &reference.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => {
                return Err(Error::kube(
                    format!("deleting the refresh token from Secret {}", reference.name),
                    e,
                ));
            }
        }
        let command = authorize_command(self.token);
        self.events.push((
            EventType::Warning,
            super::pat::REVOKED,
            format!(
                "revoked at request {request:?}: the refresh token in Secret {} is deleted and never used again; the access token in Secret {} lapses within minutes; `{command}` authorizes anew",
                reference.name,
                self.token.secret_name()
            ),
        ));
        Ok(())
    }

    async fn read_refresh_token(&self) -> Result<Option<RefreshToken>, Error> {
        let reference = &self.spec.refresh_token_secret_ref;
        let api: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &self.namespace());
        let secret = api
            .get_opt(&reference.name)
            .await
            .map_err(|e| Error::kube(format!("reading Secret {}", reference.name), e))?;
        let Some(secret) = secret else {
            return Ok(None);
        };
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&reference.key))
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let Some(value) = value else {
            return Ok(None);
        };
        let recorded_at = secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ISSUED_AT_ANNOTATION))
            .and_then(|t| t.parse().ok())
            .or_else(|| secret.metadata.creation_timestamp.as_ref().map(|t| t.0));
        Ok(Some(RefreshToken {
            digest: value_digest(&value),
            value: SecretString::from(value),
            version: secret.metadata.resource_version.clone(),
            recorded_at,
        }))
    }

    async fn refresh(
        &mut self,
        cause: Cause,
        refresh: RefreshToken,
        next: &mut SnowflakeTokenStatus,
    ) -> Result<Progress, Error> {
        let credentials = read_client_credentials(
            &self.ctx.client,
            &self.namespace(),
            &self.spec.client_secret_ref,
        )
        .await?;
        let scope = oauth_policy::scope_for(self.spec.role.as_deref());
        let client = OAuthClient::with_http_client(
            self.resolved.client.api.sql_api().http_client().clone(),
            &self.resolved.client.account,
            OAuthConfig::default(),
        );
        let answered = self
            .ctx
            .snowflake(
                "oauth_refresh",
                client.refresh(&credentials, &refresh.value, scope.as_deref()),
            )
            .await;
        let answer = match answered {
            Ok(answer) => answer,
            Err(e) if e.category() == Category::OAuthInvalidGrant => {
                // Dead: never sent again (until a person stores a new one).
                self.ctx.refuse(&self.uid, &refresh.digest);
                self.events.push((
                    EventType::Warning,
                    Reason::ReauthorizationRequired.as_str(),
                    format!(
                        "Snowflake refused the refresh token ({e}): run `{}`",
                        authorize_command(self.token)
                    ),
                ));
                return Ok(self.reauthorization_required(Some(e.to_string())));
            }
            Err(e) => return Err(Error::snowflake("refreshing the OAuth access token", e)),
        };
        let issued_at = self.now;
        let lifetime = SignedDuration::from_secs(i64::try_from(answer.expires_in).unwrap_or(600));
        let single_use = answer.refresh_token.is_some();
        let refreshed_from = answer.refresh_token.as_ref().map_or_else(
            || refresh.digest.clone(),
            |t| value_digest(t.expose_secret()),
        );
        let known = next.refresh_token_expires_at.as_ref().map(|t| t.0);
        let pending = OAuthPending {
            access_token: answer.access_token,
            issued_at,
            expires_at: issued_at.checked_add(lifetime).unwrap_or(issued_at),
            refresh_expires_at: oauth_policy::refresh_token_expiry(
                issued_at,
                answer.refresh_token_expires_in,
                single_use,
                known,
                refresh.recorded_at,
                self.validity,
            ),
            refresh_token: answer.refresh_token,
            refresh_secret_version: refresh.version,
            refreshed_from,
            single_use,
            cause,
            granted_role: answer.scope.as_deref().and_then(oauth_policy::granted_role),
        };
        self.store(pending, next).await
    }

    /// Stores an answer: the new refresh token first, then the access token. A failed
    /// write keeps what is left of it for the next attempt.
    async fn store(
        &mut self,
        mut pending: OAuthPending,
        next: &mut SnowflakeTokenStatus,
    ) -> Result<Progress, Error> {
        if let Some(refresh_token) = &pending.refresh_token {
            match store_refresh_token(
                &self.ctx.client,
                self.token,
                &self.spec.refresh_token_secret_ref,
                refresh_token,
                pending.issued_at,
                pending.refresh_secret_version.as_deref(),
            )
            .await
            {
                Ok(()) => pending.refresh_token = None,
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    // The Secret changed since it was read: a person authorized again.
                    // Theirs is the chain to follow; this answer is dropped.
                    self.events.push((
                        EventType::Normal,
                        "RefreshTokenReplaced",
                        format!(
                            "Secret {} changed during a refresh (a person authorized again?): its new refresh token is used",
                            self.spec.refresh_token_secret_ref.name
                        ),
                    ));
                    return Ok(Progress {
                        readiness: Readiness::Ready {
                            reason: REFRESHED,
                            message: self.ready_message(next, None),
                            keep_if_ready: true,
                        },
                        requeue_at: self.now,
                        events: std::mem::take(&mut self.events),
                        restart_for: None,
                        new_value: false,
                    });
                }
                Err(source) => {
                    let name = self.spec.refresh_token_secret_ref.name.clone();
                    tracing::warn!(
                        namespace = %self.namespace(),
                        token = self.token.metadata.name.as_deref().unwrap_or_default(),
                        secret = %name,
                        "the new single-use refresh token could not be stored; it is kept in memory and stored at the next attempt (the spent one is never sent again)"
                    );
                    self.ctx.keep_oauth_pending(&self.uid, pending);
                    return Err(Error::SecretWrite(WriteError::Kube { name, source }));
                }
            }
        }
        let content = SecretContent {
            username: self.resolved.user.clone(),
            account: self.resolved.client.account.identifier().to_owned(),
            host: self.resolved.client.account.host(),
            expires_at: pending.expires_at,
            issued_at: pending.issued_at,
            credential: CredentialValue::OAuth {
                access_token: pending.access_token.clone(),
                token_type: "Bearer".into(),
                role: pending.granted_role.clone().or_else(|| {
                    self.spec
                        .role
                        .as_deref()
                        .map(crate::api::desired::resolve_identifier)
                }),
                refreshed_from: pending.refreshed_from.clone(),
            },
        };
        let desired = desired_secret(self.token, &content)?;
        if let Err(e) = super::write_secret(self.ctx, self.token, self.observed, &desired).await {
            self.ctx.keep_oauth_pending(&self.uid, pending);
            return Err(e);
        }
        if let CredentialValue::OAuth { role, .. } = content.credential {
            self.role = role;
        }
        self.ctx.mark_written(&self.uid, pending.issued_at);
        self.ctx.metrics.rotated("OAuth", pending.cause.as_str());
        let lifetime = Duration::try_from(pending.expires_at.duration_since(pending.issued_at))
            .unwrap_or_default();
        let refresh_before = self
            .spec
            .refresh_before_for(lifetime)
            .map_err(|e| Error::InvalidSpec(format!("oauth.refreshBefore: {e}")))?;
        let refresh_at = oauth_policy::refresh_time(
            &self.uid,
            pending.issued_at,
            pending.expires_at,
            refresh_before,
        );
        next.expires_at = Some(Time(pending.expires_at));
        next.access_token_expires_at = Some(Time(pending.expires_at));
        next.renewal_time = Some(Time(refresh_at));
        next.last_rotation_time = Some(Time(pending.issued_at));
        next.refresh_token_expires_at = pending.refresh_expires_at.map(Time);
        let secret = self.token.secret_name();
        match pending.cause {
            Cause::New => self.events.push((
                EventType::Normal,
                REFRESHED,
                format!(
                    "an access token is in Secret {secret}; it expires {} and is refreshed before",
                    pending.expires_at
                ),
            )),
            Cause::Reauthorized => self.events.push((
                EventType::Normal,
                "Reauthorized",
                format!(
                    "the new refresh token in Secret {} is in use; the access token in Secret {secret} expires {}",
                    self.spec.refresh_token_secret_ref.name, pending.expires_at
                ),
            )),
            // Every few minutes: the status and the metrics say it, an event would flood.
            Cause::Due => {}
        }
        Ok(Progress {
            readiness: Readiness::Ready {
                reason: REFRESHED,
                message: self.ready_message(next, Some(pending.single_use)),
                keep_if_ready: false,
            },
            requeue_at: refresh_at,
            events: std::mem::take(&mut self.events),
            restart_for: None,
            new_value: false,
        })
    }

    /// A valid access token for another role than `oauth.role` asks for is not Ready: the
    /// role was bound when a person authorized, and only authorizing again changes it. The
    /// Secret keeps being refreshed on schedule meanwhile (consumers keep working).
    fn check_role(&mut self, progress: Progress) -> Progress {
        if !matches!(progress.readiness, Readiness::Ready { .. }) {
            return progress;
        }
        let Some((wanted, granted)) =
            oauth_policy::role_mismatch(self.spec.role.as_deref(), self.role.as_deref())
        else {
            return progress;
        };
        let command = authorize_command(self.token);
        let message = format!(
            "oauth.role asks for role {wanted}, but the refresh token in Secret {} was authorized for role {granted} (a refresh cannot change it): a person runs `{command}` to authorize {wanted}; until then the access token in Secret {} is kept fresh for role {granted}",
            self.spec.refresh_token_secret_ref.name,
            self.token.secret_name(),
        );
        self.ctx
            .metrics
            .failed(super::CONTROLLER, Reason::ReauthorizationRequired.as_str());
        Progress {
            readiness: Readiness::NotReady {
                reason: Reason::ReauthorizationRequired.as_str(),
                message,
            },
            ..progress
        }
    }

    /// The `Ready` message of a fresh access token; `single_use` when the last answer
    /// told (each refresh ends the earlier access tokens in that mode).
    fn ready_message(&self, next: &SnowflakeTokenStatus, single_use: Option<bool>) -> String {
        let secret = self.token.secret_name();
        let at = |t: &Option<Time>| {
            t.as_ref()
                .map_or_else(|| "unknown".into(), |t| t.0.to_string())
        };
        let mode = match single_use {
            Some(true) => {
                "; single-use refresh tokens: each refresh ends the previous access token, so consumers read the Secret when they connect (the API, or a mounted file read at each connection, which lags up to the kubelet's sync period), never a copy taken at start (environment variables)"
            }
            Some(false) => {
                "; earlier access tokens stay valid until they expire, so a mounted Secret file is always current enough; environment variables are not (taken at start)"
            }
            None => "",
        };
        format!(
            "the access token in Secret {secret} expires {} and is refreshed from {}; the refresh token expires {}{mode}",
            at(&next.access_token_expires_at),
            at(&next.renewal_time),
            at(&next.refresh_token_expires_at),
        )
    }

    /// Sets or clears the expiry warning (a warning event when its message changes: on
    /// entering the window, then once a day) and moves the requeue to its next change.
    fn warn(
        &self,
        mut progress: Progress,
        next: &mut SnowflakeTokenStatus,
        window: Duration,
    ) -> Progress {
        let Some(expires_at) = next.refresh_token_expires_at.as_ref().map(|t| t.0) else {
            set_flag(next, EXPIRING_SOON, EXPIRING_SOON, None, self.now);
            return progress;
        };
        let command = authorize_command(self.token);
        let warning = oauth_policy::expiry_warning(self.now, expires_at, window, &command);
        let previous = crate::api::conditions::find(&next.conditions, EXPIRING_SOON)
            .map(|c| c.message.clone());
        if let Some(message) = &warning
            && previous.as_ref() != Some(message)
        {
            progress
                .events
                .push((EventType::Warning, EXPIRING_SOON, message.clone()));
        }
        set_flag(next, EXPIRING_SOON, EXPIRING_SOON, warning, self.now);
        if let Some(change) = oauth_policy::next_warning_change(self.now, expires_at, window) {
            progress.requeue_at = progress.requeue_at.min(change);
        }
        progress
    }
}
