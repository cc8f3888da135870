//! The PAT side of `SnowflakeToken`: observe (Secret, listing), decide
//! ([`pat_policy::decide`]), apply (one statement), deliver (check, Secret, restarts).
//!
//! A value Snowflake showed is kept in memory until the Secret holds it, so a failed
//! write is retried with the same value and never mints another (which would fill the
//! user's 15-token cap in a few retries).

use std::sync::Arc;

use jiff::Timestamp;
use kube::runtime::events::EventType;
use secrecy::SecretString;

use super::pat_policy::{self, Cause, Facts, Listed, SecretFacts, Step};
use super::record::Held;
use super::{Observed, Progress, Readiness, Resolved};
use crate::api::conditions::reason;
use crate::api::keys::REVOKE_HOLD_ANNOTATION;
use crate::api::{PatSpec, RotationGrace, SnowflakeToken, SnowflakeTokenStatus};
use crate::controller::context::{Context, PendingValue};
use crate::controller::error::{Error, Reason};
use crate::controller::requeue;
use crate::controller::secret::{CredentialValue, SecretContent, desired_secret};
use crate::snowflake::{
    self, BearerKind, PatInfo, SnowflakeApi, SnowflakeClient, SqlApiClient, StaticToken,
};

/// Snowflake's per-user token limit (reference §4.4).
pub const TOKEN_CAP: usize = 15;

/// Ready reason of a token whose PAT Snowflake reports disabled.
pub const TOKEN_DISABLED: &str = "TokenDisabled";
/// Reason of a token revoked and held (`revoke --no-replace`).
pub const REVOKED: &str = "Revoked";
/// Condition type set while a rotation would exceed the user's token limit.
pub const ROTATION_BLOCKED: &str = "RotationBlocked";

/// One reconcile of a PAT token whose references resolved.
pub async fn converge(
    token: &SnowflakeToken,
    pat: &PatSpec,
    ctx: &Context,
    resolved: &Resolved,
    observed: &Observed,
    next: &mut SnowflakeTokenStatus,
) -> Result<Progress, Error> {
    let now = ctx.now();
    let uid = token.metadata.uid.clone().unwrap_or_default();
    let token_name = token.pat_name().unwrap_or_default();
    let renew_before = pat
        .renew_before()
        .map_err(|e| Error::InvalidSpec(format!("programmaticAccessToken.renewBefore: {e}")))?;
    next.token_name = Some(token_name.clone());
    let answered_by = match &observed.held {
        Held::Intact(v) => v.answers_rotate.as_deref(),
        _ => None,
    };
    let (requested, rotate_requested) = super::rotate_request(ctx, token, &uid, answered_by, next);
    let mut run = Run {
        ctx,
        token,
        pat,
        resolved,
        observed,
        uid: uid.clone(),
        token_name: token_name.clone(),
        now,
        events: Vec::new(),
    };

    // A value Snowflake already showed: deliver it before anything else.
    if let Some(pending) = ctx.take_pending(&uid) {
        let delivered = run.deliver(pending).await?;
        return Ok(run.finish(next, delivered, requested, renew_before));
    }

    // A revoke request (a leak): the token and its rotated-out values go now, without a
    // grace period; then a fresh value, unless the token is held revoked.
    let hold = token
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(REVOKE_HOLD_ANNOTATION));
    if let Some(request) = super::revoke_request(ctx, token, &uid, next) {
        run.revoke(&request).await?;
        super::revoke_honoured(ctx, &uid, next, request);
        if !hold {
            let value = run.mint(Cause::Revoked).await?;
            let delivered = run.deliver(value).await?;
            return Ok(run.finish(next, delivered, requested, renew_before));
        }
    }
    if hold {
        return Ok(run.held_revoked(next));
    }

    let held = match &observed.held {
        Held::Intact(v) if v.token_name.as_deref() == Some(token_name.as_str()) => {
            SecretFacts::Holds {
                expires_at: v.expires_at,
                issued_at: v.issued_at,
            }
        }
        _ => SecretFacts::Nothing,
    };
    let held_expiry = match held {
        SecretFacts::Holds { expires_at, .. } => Some(expires_at),
        SecretFacts::Nothing => None,
    };
    let renewal_at = held_expiry
        .map(|e| renewal(&uid, pat, e, renew_before))
        .transpose()?;
    let minted_before = next.token_name.is_some() && next.expires_at.is_some();
    let known_disabled = super::ready_reason(next) == Some(TOKEN_DISABLED);

    let drift_due = ctx
        .last_checked(&uid)
        .is_none_or(|last| now >= next_check(ctx, &uid, last));
    let mut listing: Option<Arc<Vec<PatInfo>>> = None;
    if drift_due {
        listing = Some(run.list().await?);
    }
    let mut step = decide(
        &run,
        held,
        listing.as_deref(),
        minted_before,
        known_disabled,
        rotate_requested,
        renewal_at,
    );
    if step == Step::List {
        listing = Some(run.list().await?);
        step = decide(
            &run,
            held,
            listing.as_deref(),
            minted_before,
            known_disabled,
            rotate_requested,
            renewal_at,
        );
    }
    if let Some(pats) = &listing {
        run.tidy(pats, next, renewal_at).await;
    }
    let listed_expiry = listing
        .as_deref()
        .and_then(|pats| match Listed::of(&token_name, pats) {
            Listed::Present { expires_at, .. } => expires_at,
            _ => None,
        });

    let delivered = match step {
        Step::Keep | Step::List | Step::Correct(_) => {
            let Held::Intact(value) = &observed.held else {
                return Err(Error::InvalidSpec(
                    "internal: nothing to keep without a held value".into(),
                ));
            };
            // The Secret may still need rendering again (a changed name, template, label).
            let expires_at = match step {
                Step::Correct(listed) => {
                    tracing::info!(token = %token_name, recorded = %value.expires_at, %listed, "recording the expiry Snowflake lists");
                    crate::controller::context::whole_seconds(listed)
                }
                _ => value.expires_at,
            };
            let pending = PendingValue {
                token_name: token_name.clone(),
                secret: value.value.clone(),
                expires_at,
                issued_at: value.issued_at,
                cause: None,
                verified: true,
            };
            let written = run.write(pending).await?;
            Delivered {
                new_value: false,
                cause: None,
                ..written
            }
        }
        Step::WaitDisabled => {
            return Ok(run.disabled(next, held_expiry, renew_before));
        }
        Step::Replace => {
            let removed = run.remove_all("removing disabled").await?;
            run.events.push((
                EventType::Warning,
                "Revoked",
                format!(
                    "disabled token {token_name} removed with its rotated-out values ({}) to be replaced",
                    removed.join(", ")
                ),
            ));
            let value = run.mint(Cause::Disabled).await?;
            run.deliver(value).await?
        }
        Step::Mint(cause) => {
            let value = match run.mint(cause).await {
                Err(Error::Snowflake { source, .. })
                    if source.category() == snowflake::Category::AlreadyExists =>
                {
                    // It exists after all (minted by an earlier run whose value never
                    // reached the Secret): rotate it instead of minting another.
                    let basis = run.current_expiry(None, held_expiry, next).await?;
                    run.rotate(Cause::SecretLost, basis).await?
                }
                other => other?,
            };
            run.deliver(value).await?
        }
        Step::Rotate(cause) => {
            let basis = run.current_expiry(listed_expiry, held_expiry, next).await?;
            let value = match run.rotate(cause, basis).await {
                Err(Error::Snowflake { source, .. })
                    if source.category() == snowflake::Category::NotFound
                        && !source.to_string().to_ascii_lowercase().contains("user '") =>
                {
                    run.mint(Cause::TokenMissing).await?
                }
                other => other?,
            };
            run.deliver(value).await?
        }
    };
    Ok(run.finish(next, delivered, requested, renew_before))
}

#[allow(clippy::too_many_arguments)]
fn decide(
    run: &Run<'_>,
    secret: SecretFacts,
    listing: Option<&Vec<PatInfo>>,
    minted_before: bool,
    known_disabled: bool,
    rotate_requested: bool,
    renewal_at: Option<Timestamp>,
) -> Step {
    let listed = listing.map_or(Listed::NotAsked, |pats| Listed::of(&run.token_name, pats));
    pat_policy::decide(&Facts {
        now: run.now,
        spec: run.pat,
        secret,
        listed,
        minted_before,
        known_disabled,
        rotate_requested,
        renewal_at,
    })
}

/// The jittered renewal time of a value expiring at `expires_at`.
fn renewal(
    uid: &str,
    pat: &PatSpec,
    expires_at: Timestamp,
    renew_before: std::time::Duration,
) -> Result<Timestamp, Error> {
    let at = pat
        .renewal_time(expires_at)
        .map_err(|e| Error::InvalidSpec(format!("programmaticAccessToken.renewBefore: {e}")))?;
    Ok(requeue::jittered_renewal(uid, at, renew_before))
}

/// When the token is next compared with Snowflake after a check at `last`.
fn next_check(ctx: &Context, uid: &str, last: Timestamp) -> Timestamp {
    let interval = ctx.config.drift_interval;
    let wait = interval + requeue::spread(uid, "drift", interval / 10);
    last.checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default())
        .unwrap_or(Timestamp::MAX)
}

/// The result of delivering a value.
pub struct Delivered {
    /// Whether a new value reached the Secret.
    pub new_value: bool,
    /// Why it was issued.
    pub cause: Option<Cause>,
    /// Its expiry.
    pub expires_at: Timestamp,
    /// Its issue time.
    pub issued_at: Timestamp,
    /// Whether the Secret was written (created, updated, recreated).
    pub secret_written: bool,
}

struct Run<'a> {
    ctx: &'a Context,
    token: &'a SnowflakeToken,
    pat: &'a PatSpec,
    resolved: &'a Resolved,
    observed: &'a Observed,
    uid: String,
    token_name: String,
    now: Timestamp,
    events: Vec<(EventType, &'static str, String)>,
}

impl Run<'_> {
    async fn list(&self) -> Result<Arc<Vec<PatInfo>>, Error> {
        let client = &self.resolved.client;
        let pats = self
            .ctx
            .listings
            .get(
                &self.resolved.connection_uid,
                &self.resolved.user,
                self.now,
                || {
                    self.ctx
                        .snowflake("list_pats", client.api.list_pats(&self.resolved.user))
                },
            )
            .await
            .map_err(|e| {
                Error::snowflake(
                    format!("listing the tokens of user {}", self.resolved.user),
                    e,
                )
            })?;
        self.ctx.mark_checked(&self.uid, self.now);
        Ok(pats)
    }

    /// Applies the operator's own change to the user's cached listing, so the next token
    /// of the user decides on it without another `SHOW`.
    async fn amend(&self, change: impl FnOnce(&mut Vec<PatInfo>)) {
        self.ctx
            .listings
            .amend(&self.resolved.connection_uid, &self.resolved.user, change)
            .await;
    }

    /// Removes the token and all its rotated-out values in Snowflake (no grace period) and
    /// says so in a warning event; the next reconcile lists again.
    async fn revoke(&mut self, request: &str) -> Result<(), Error> {
        let removed = self.remove_all("revoking").await?;
        self.ctx.forget_checked(&self.uid);
        let removed = if removed.is_empty() {
            "none was left in Snowflake".to_owned()
        } else {
            removed.join(", ")
        };
        self.events.push((
            EventType::Warning,
            REVOKED,
            format!(
                "token {} of user {} revoked at request {request:?}: removed in Snowflake with its rotated-out values, without a grace period ({removed})",
                self.token_name, self.resolved.user
            ),
        ));
        Ok(())
    }

    /// Removes the token and its rotated-out values in Snowflake (`doing` says why, in an
    /// error) and forgets the user's cached listing; returns the names removed.
    async fn remove_all(&mut self, doing: &str) -> Result<Vec<String>, Error> {
        let removed = self
            .ctx
            .snowflake(
                "remove_pat",
                self.resolved
                    .client
                    .api
                    .remove_pat_and_rotated(&self.resolved.user, &self.token_name),
            )
            .await
            .map_err(|e| {
                Error::snowflake(
                    format!(
                        "{doing} token {} of user {}",
                        self.token_name, self.resolved.user
                    ),
                    e,
                )
            })?;
        self.invalidate().await;
        Ok(removed)
    }

    /// `Ready=False` reason `Revoked` while the hold annotation is present: nothing is
    /// minted or rotated, nothing asked of Snowflake.
    fn held_revoked(self, next: &mut SnowflakeTokenStatus) -> Progress {
        let name = self.token.metadata.name.as_deref().unwrap_or_default();
        let revoked = next
            .last_revoke_request
            .as_ref()
            .map(|r| format!(" (revoked at request {r:?})"))
            .unwrap_or_default();
        let message = format!(
            "token {} of user {} is held revoked{revoked} by annotation {REVOKE_HOLD_ANNOTATION}: no value is minted or rotated while it is there, and the Secret's last value no longer authenticates once revoked; `kubectl annotate sftoken {name} {REVOKE_HOLD_ANNOTATION}-` lets the operator mint a new one",
            self.token_name, self.resolved.user,
        );
        next.renewal_time = None;
        let mut events = self.events;
        if super::ready_reason(next) != Some(REVOKED) {
            events.push((EventType::Warning, REVOKED, message.clone()));
        }
        Progress {
            readiness: Readiness::NotReady {
                reason: REVOKED,
                message,
            },
            requeue_at: next_check(self.ctx, &self.uid, self.now),
            events,
            restart_for: None,
            new_value: false,
        }
    }

    async fn invalidate(&self) {
        self.ctx
            .listings
            .invalidate(&self.resolved.connection_uid, &self.resolved.user)
            .await;
    }

    /// Removes this token's rotated-out values whose grace period is over and reports
    /// (condition `RotationBlocked`) when the user has no room left for a rotation.
    async fn tidy(
        &mut self,
        pats: &[PatInfo],
        next: &mut SnowflakeTokenStatus,
        renewal_at: Option<Timestamp>,
    ) {
        let user = &self.resolved.user;
        let expired = pat_policy::expired_companions(&self.token_name, pats, self.now);
        for name in &expired {
            let removed = self
                .ctx
                .snowflake(
                    "remove_pat",
                    self.resolved.client.api.remove_pat(user, name),
                )
                .await;
            if let Err(e) = removed {
                tracing::warn!(token = %self.token_name, %user, companion = %name, error = %e, "cannot remove an expired rotated-out token");
            }
        }
        if !expired.is_empty() {
            self.amend(|pats| pats.retain(|p| !expired.contains(&p.name.as_str())))
                .await;
        }
        let at = renewal_at.map_or(self.now, |r| r.max(self.now));
        let (live, room) = pat_policy::room_for_rotation(pats, at, TOKEN_CAP);
        let blocked = (!room).then(|| {
            format!(
                "at the next rotation ({at}) user {user} will still hold {live} of its {TOKEN_CAP} tokens (rotated-out values count until their grace period ends), so the rotation of {} would be refused; {}",
                self.token_name,
                crate::controller::error::remedy(Reason::TokenLimitReached)
            )
        });
        super::set_flag(
            next,
            ROTATION_BLOCKED,
            Reason::TokenLimitReached.as_str(),
            blocked,
            self.now,
        );
    }

    /// The expiry of the value Snowflake holds now, for the grace period of a rotation:
    /// from the listing, else the Secret's record, else the status, else a listing.
    async fn current_expiry(
        &self,
        listed: Option<Timestamp>,
        held: Option<Timestamp>,
        next: &SnowflakeTokenStatus,
    ) -> Result<Option<Timestamp>, Error> {
        if let Some(at) = listed.or(held).or(next.expires_at.as_ref().map(|t| t.0)) {
            return Ok(Some(at));
        }
        let pats = self.list().await?;
        Ok(match Listed::of(&self.token_name, &pats) {
            Listed::Present { expires_at, .. } => expires_at,
            _ => None,
        })
    }

    async fn mint(&mut self, cause: Cause) -> Result<PendingValue, Error> {
        let user = &self.resolved.user;
        let request = self.pat.add_pat_request(self.token_name.clone());
        let added = self
            .ctx
            .snowflake("add_pat", self.resolved.client.api.add_pat(user, &request))
            .await
            .map_err(|e| {
                Error::snowflake(
                    format!("adding token {} to user {user}", self.token_name),
                    e,
                )
            })?;
        self.ctx.mark_checked(&self.uid, self.now);
        let issued_at = self.now;
        let expires_at = self.expiry(added.expires_at, issued_at);
        self.amend(|pats| {
            pats.push(PatInfo {
                expires_at: Some(expires_at),
                ..PatInfo::active(&added.name)
            });
        })
        .await;
        let value = PendingValue {
            token_name: added.name,
            secret: added.secret,
            expires_at,
            issued_at,
            cause: Some(cause),
            verified: false,
        };
        self.ctx.keep_pending(&self.uid, value.clone());
        Ok(value)
    }

    async fn rotate(
        &mut self,
        cause: Cause,
        basis: Option<Timestamp>,
    ) -> Result<PendingValue, Error> {
        let user = &self.resolved.user;
        let grace = match basis {
            Some(expires_at) => self.pat.rotation_grace(expires_at, self.now),
            None => {
                let configured =
                    u32::try_from(self.pat.rotated_token_grace_period_hours).unwrap_or(0);
                RotationGrace {
                    hours: configured,
                    configured,
                }
            }
        };
        let rotated = self
            .ctx
            .snowflake(
                "rotate_pat",
                self.resolved
                    .client
                    .api
                    .rotate_pat(user, &self.token_name, grace.hours),
            )
            .await
            .map_err(|e| {
                Error::snowflake(
                    format!("rotating token {} of user {user}", self.token_name),
                    e,
                )
            })?;
        self.ctx.mark_checked(&self.uid, self.now);
        if grace.shortened() {
            self.events.push((
                EventType::Warning,
                "GracePeriodShortened",
                format!(
                    "the previous value of {} stays valid for {} h instead of {} h: it had only that long left when it was rotated",
                    self.token_name, grace.hours, grace.configured
                ),
            ));
        }
        // Snowflake's own rotation time: what the policy compares later rotations with.
        // Trusted only near the operator's clock: that the name's `<epoch_ms>` is the
        // rotation time is what Snowflake's examples show, not a documented promise, and
        // a stamp far off would misplace the expiry (and so the next renewal).
        let issued_at = rotated
            .rotated_at
            .filter(|at| at.duration_since(self.now).abs() <= pat_policy::TRUSTED_STAMP_SKEW)
            .map_or(self.now, crate::controller::context::whole_seconds);
        let expires_at = self.expiry(rotated.expires_at, issued_at);
        let companion_expires = issued_at
            .checked_add(jiff::SignedDuration::from_hours(i64::from(grace.hours)))
            .unwrap_or(Timestamp::MAX);
        self.amend(|pats| {
            if let Some(pat) = pats
                .iter_mut()
                .find(|p| p.name.eq_ignore_ascii_case(&rotated.name))
            {
                pat.expires_at = Some(expires_at);
            }
            pats.push(PatInfo {
                expires_at: Some(companion_expires),
                rotated_to: Some(rotated.name.clone()),
                ..PatInfo::active(&rotated.rotated_token_name)
            });
        })
        .await;
        let value = PendingValue {
            token_name: rotated.name,
            secret: rotated.secret,
            expires_at,
            issued_at,
            cause: Some(cause),
            verified: false,
        };
        self.ctx.keep_pending(&self.uid, value.clone());
        Ok(value)
    }

    /// A new value's expiry: the one Snowflake answered with, else `daysToExpiry` after
    /// `issued_at` (what Snowflake computes, reference §4.3; reading it back would cost a
    /// statement per value). A drift check that lists another expiry corrects the record
    /// ([`Step::Correct`]).
    fn expiry(&self, answered: Option<Timestamp>, issued_at: Timestamp) -> Timestamp {
        answered.map_or_else(
            || {
                issued_at
                    .checked_add(
                        jiff::SignedDuration::try_from(self.pat.lifetime()).unwrap_or_default(),
                    )
                    .unwrap_or(Timestamp::MAX)
            },
            crate::controller::context::whole_seconds,
        )
    }

    /// Checks a new value (unless switched off), writes it into the Secret and restarts
    /// the targets. On failure the value stays pending for the next attempt.
    async fn deliver(&mut self, mut value: PendingValue) -> Result<Delivered, Error> {
        if self.pat.verify_before_swap && !value.verified {
            match self.verify(&value.secret).await {
                Ok(()) => value.verified = true,
                Err(e) if is_network_policy_refusal(&e) => {
                    value.verified = true;
                    self.events.push((
                        EventType::Warning,
                        "VerificationSkipped",
                        format!(
                            "the new value of {} could not be tried from the operator's address because the user's network policy refused it ({e}); it is used without the check",
                            self.token_name
                        ),
                    ));
                }
                Err(e) => {
                    let token = value.token_name.clone();
                    self.ctx.keep_pending(&self.uid, value);
                    return Err(Error::Verification { token, source: e });
                }
            }
        }
        let cause = value.cause;
        let delivered = self.write(value).await?;
        // Delivered: the copy kept for a retry is no longer needed.
        drop(self.ctx.take_pending(&self.uid));
        Ok(Delivered {
            new_value: true,
            cause,
            ..delivered
        })
    }

    async fn verify(&self, secret: &SecretString) -> snowflake::Result<()> {
        let mut config = self.ctx.config.snowflake.clone();
        config.role = None;
        let auth = Arc::new(StaticToken::new(
            secret.clone(),
            BearerKind::ProgrammaticAccessToken,
        ));
        let api = SqlApiClient::with_http_client(
            self.resolved.client.api.sql_api().http_client().clone(),
            self.resolved.client.account.clone(),
            auth,
            config,
        );
        let identity = self
            .ctx
            .snowflake("verify_token", SnowflakeClient::new(api).verify_identity())
            .await?;
        if !identity.user.eq_ignore_ascii_case(&self.resolved.user) {
            return Err(snowflake::Error::Protocol(format!(
                "the new value authenticated as {} instead of {}",
                identity.user, self.resolved.user
            )));
        }
        Ok(())
    }

    /// The rotate request `value` answers: a new value answers the token's request (as
    /// [`Self::finish`] records in the status); the value already held keeps what it
    /// answered, so rendering it again changes nothing.
    fn answers_rotate(&self, value: &PendingValue) -> Option<String> {
        if value.cause.is_some() {
            return super::rotate_annotation(self.token);
        }
        match &self.observed.held {
            Held::Intact(v) => v.answers_rotate.clone(),
            _ => None,
        }
    }

    /// Writes `value` into the Secret as the spec renders it (no write when it already is).
    async fn write(&mut self, value: PendingValue) -> Result<Delivered, Error> {
        let content = SecretContent {
            username: self.resolved.user.clone(),
            account: self.resolved.client.account.identifier().to_owned(),
            host: self.resolved.client.account.host(),
            expires_at: value.expires_at,
            issued_at: value.issued_at,
            credential: CredentialValue::Pat {
                secret: value.secret.clone(),
                token_name: value.token_name.clone(),
                role: self
                    .pat
                    .role_restriction
                    .as_deref()
                    .map(crate::api::desired::resolve_identifier),
                answers_rotate: self.answers_rotate(&value),
            },
        };
        let desired = desired_secret(self.token, &content)?;
        let written = match super::write_secret(self.ctx, self.token, self.observed, &desired).await
        {
            Ok(written) => written,
            Err(e) => {
                if value.cause.is_some() {
                    self.ctx.keep_pending(&self.uid, value);
                }
                return Err(e);
            }
        };
        if written {
            self.ctx.mark_written(&self.uid, value.issued_at);
        }
        Ok(Delivered {
            new_value: false,
            cause: None,
            expires_at: value.expires_at,
            issued_at: value.issued_at,
            secret_written: written,
        })
    }

    fn disabled(
        self,
        next: &mut SnowflakeTokenStatus,
        held_expiry: Option<Timestamp>,
        _renew_before: std::time::Duration,
    ) -> Progress {
        let message = format!(
            "token {} of user {} is disabled in Snowflake (by a person, or by Snowflake after finding the value leaked); the operator never re-enables it: find out why, then request a replacement with `snowflake-token-operator rotate {}` (or set programmaticAccessToken.onDisabled: Replace)",
            self.token_name,
            self.resolved.user,
            self.token.metadata.name.as_deref().unwrap_or_default()
        );
        if let Some(at) = held_expiry {
            next.expires_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at));
        }
        next.renewal_time = None;
        let mut events = self.events;
        events.push((EventType::Warning, TOKEN_DISABLED, message.clone()));
        Progress {
            readiness: Readiness::NotReady {
                reason: TOKEN_DISABLED,
                message,
            },
            requeue_at: next_check(self.ctx, &self.uid, self.now),
            events,
            restart_for: None,
            new_value: false,
        }
    }

    fn finish(
        self,
        next: &mut SnowflakeTokenStatus,
        delivered: Delivered,
        requested: Option<String>,
        renew_before: std::time::Duration,
    ) -> Progress {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let renewal_at = renewal(&self.uid, self.pat, delivered.expires_at, renew_before)
            .unwrap_or(delivered.expires_at);
        next.expires_at = Some(Time(delivered.expires_at));
        next.renewal_time = Some(Time(renewal_at));
        next.last_rotation_time = Some(Time(delivered.issued_at));
        if delivered.new_value {
            // The rotation went through: whatever blocked it is gone (the next check
            // looks again).
            next.conditions.retain(|c| c.type_ != ROTATION_BLOCKED);
            // Any new value answers a pending rotate request (also the annotation a token
            // was created with).
            if let Some(request) = &requested {
                self.ctx.honour(&self.uid, request);
            }
            next.last_rotate_request = requested;
        }
        let mut events = self.events;
        let (reason, verb) = match delivered.cause {
            Some(Cause::New | Cause::TokenMissing | Cause::Revoked) => (reason::MINTED, "minted"),
            Some(Cause::SecretLost) => (
                "SecretRepaired",
                "minted again (the Secret was missing or edited)",
            ),
            Some(_) => (reason::ROTATED, "rotated"),
            None => ("UpToDate", "current"),
        };
        if let Some(cause) = delivered.cause {
            events.push((
                EventType::Normal,
                reason,
                format!(
                    "token {} of user {} {verb} ({}); the new value expires {} and is in Secret {}",
                    self.token_name,
                    self.resolved.user,
                    cause.as_str(),
                    delivered.expires_at,
                    self.token.secret_name()
                ),
            ));
        }
        let check = next_check(
            self.ctx,
            &self.uid,
            self.ctx.last_checked(&self.uid).unwrap_or(self.now),
        );
        Progress {
            readiness: Readiness::Ready {
                reason,
                message: format!(
                    "token {} of user {} is in Secret {}; it expires {} and is renewed from {}",
                    self.token_name,
                    self.resolved.user,
                    self.token.secret_name(),
                    delivered.expires_at,
                    renewal_at
                ),
                keep_if_ready: delivered.cause.is_none(),
            },
            requeue_at: renewal_at.min(check),
            events,
            restart_for: delivered.new_value.then(|| delivered.issued_at.to_string()),
            new_value: delivered.new_value,
        }
    }
}

/// Whether Snowflake refused a login because of the user's network policy (the
/// operator's address outside it, or no policy where one is required).
fn is_network_policy_refusal(error: &snowflake::Error) -> bool {
    matches!(error.snowflake_code(), Some("390422" | "390432"))
}
