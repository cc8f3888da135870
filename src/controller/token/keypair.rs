//! The key-pair side of `SnowflakeToken`: observe (Secret, `DESC USER`), decide
//! ([`keypair_policy::decide`]), apply (generate, record the intent, register, check,
//! write the Secret, unset what retired).
//!
//! Crash safety. The fingerprint of a new key is written into the status
//! (`pendingPublicKeyFingerprint`) before its public half is registered, and the private
//! key reaches the Secret before anything else changes. An operator that stops between
//! the registration and the Secret write leaves a key nobody has in a slot; the restarted
//! operator recognises it by the recorded fingerprint and replaces it, so a slot is never
//! lost to an unstored key nor taken for a key a person registered.
//!
//! Cost. `DESC USER` is asked only when something is due (a rotation, a retirement, a
//! key that is not in the Secret) or at the periodic drift check; a steady token costs
//! no statement.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::EventType;

use super::keypair_policy::{self, Cause, Facts, HeldKey, Known, Plan, SlotState};
use super::record::{self, HeldKeyPair};
use super::{Observed, Progress, Readiness, Resolved};
use crate::api::conditions::reason;
use crate::api::keys::REVOKE_HOLD_ANNOTATION;
use crate::api::{KeyPairSpec, PrivateKeyFormat, SnowflakeToken, SnowflakeTokenStatus};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::requeue;
use crate::controller::secret::{CredentialValue, KeyRecord, SecretContent, desired_secret};
use crate::controller::status;
use crate::snowflake::keys::GeneratedKey;
use crate::snowflake::{
    self, JwtSigner, KeySlot, PrivateKey, PublicKeys, SnowflakeApi, SnowflakeClient, SqlApiClient,
};

/// Condition type set while a rotation finds no free slot.
pub const ROTATION_BLOCKED: &str = super::pat::ROTATION_BLOCKED;
/// Ready reason and event reason when both slots hold keys that are not the operator's.
pub const KEY_SLOTS_TAKEN: &str = "KeySlotsTaken";
/// Event reason when a previous key's slot was unset.
pub const PREVIOUS_KEY_REMOVED: &str = "PreviousKeyRemoved";

/// The key in force, as the Secret and the status record it.
struct Current<'a> {
    value: &'a record::KeyPairValue,
    slot: KeySlot,
}

/// One reconcile of a key-pair token whose references resolved. `baseline` is the status
/// as last written: the intent write before a registration moves it.
pub async fn converge(
    token: &SnowflakeToken,
    spec: &KeyPairSpec,
    ctx: &Context,
    resolved: &Resolved,
    observed: &Observed,
    next: &mut SnowflakeTokenStatus,
    baseline: &mut Option<SnowflakeTokenStatus>,
) -> Result<Progress, Error> {
    let now = ctx.now();
    let uid = token.metadata.uid.clone().unwrap_or_default();
    let invalid = |field: &str, e: crate::api::DurationError| {
        Error::InvalidSpec(format!("keyPair.{field}: {e}"))
    };
    let period = spec
        .rotation_period()
        .map_err(|e| invalid("rotationPeriod", e))?;
    let grace = spec.grace_period().map_err(|e| invalid("gracePeriod", e))?;
    let signed =
        |d: std::time::Duration| SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    next.token_name = None;
    next.expires_at = None;

    let held = record::held_key_pair(observed.source.as_ref());
    let answered_by = match &held {
        HeldKeyPair::Intact(v) => v.answers_rotate.as_deref(),
        _ => None,
    };
    let (requested, rotate_requested) = super::rotate_request(ctx, token, &uid, answered_by, next);
    let hold = token
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(REVOKE_HOLD_ANNOTATION));
    let revoke = super::revoke_request(ctx, token, &uid, next);

    let current = match &held {
        HeldKeyPair::Intact(value) => {
            KeySlot::from_number(value.record.slot).map(|slot| Current { value, slot })
        }
        _ => None,
    };
    let held_key = current.as_ref().map(|c| HeldKey {
        fingerprint: c.value.record.fingerprint.clone(),
        slot: c.slot,
        issued_at: c.value.issued_at,
        previous: c.value.record.previous.clone(),
        as_specified: c.value.record.bits == spec.bits()
            && c.value.encrypted() == (spec.format == PrivateKeyFormat::EncryptedPkcs8),
    });
    let mut known = Known::default();
    known.used.extend(
        [
            &next.public_key_fingerprint,
            &next.previous_public_key_fingerprint,
        ]
        .into_iter()
        .flatten()
        .cloned(),
    );
    if let HeldKeyPair::Unknown { recorded } = &held {
        known.used.extend(recorded.iter().cloned());
    }
    known
        .unstored
        .extend(next.pending_public_key_fingerprint.clone());

    let mut run = Run {
        ctx,
        token,
        spec,
        resolved,
        observed,
        uid: uid.clone(),
        now,
        events: Vec::new(),
    };

    // Nothing due and no drift check due: keep, without asking Snowflake.
    let due_at = held_key.as_ref().map(|h| {
        h.issued_at
            .checked_add(signed(period))
            .unwrap_or(Timestamp::MAX)
    });
    let removal_at = held_key
        .as_ref()
        .and_then(|h| h.previous.as_ref().map(|p| p.removal_at));
    let something_due = held_key.as_ref().is_none_or(|h| !h.as_specified)
        || rotate_requested
        || revoke.is_some()
        || next.pending_public_key_fingerprint.is_some()
        || due_at.is_some_and(|at| now >= at)
        || removal_at.is_some_and(|at| now >= at);
    let drift_due = ctx
        .last_checked(&uid)
        .is_none_or(|last| now >= next_check(ctx, &uid, last));
    if !something_due
        && !drift_due
        && let (Some(current), Some(held_key)) = (&current, &held_key)
    {
        if hold {
            return Ok(run.held_revoked(next));
        }
        let plan = Plan {
            register: None,
            unset: Vec::new(),
            previous: held_key.previous.clone(),
            blocked: None,
            in_force: Some(current.slot),
        };
        return run.keep(current.value, &plan, period, next).await;
    }

    let mut slots = run.public_keys().await?;
    if let Some(request) = revoke {
        run.revoke(&request, &mut slots, held_key.as_ref(), &known)
            .await?;
        super::revoke_honoured(ctx, &uid, next, request);
        next.public_key_fingerprint = None;
        next.public_key_slot = None;
        next.previous_public_key_fingerprint = None;
        next.previous_key_removal_time = None;
        next.pending_public_key_fingerprint = None;
        if hold {
            return Ok(run.held_revoked(next));
        }
        let plan = keypair_policy::decide(&Facts {
            now,
            slots: &slots,
            held: None,
            known: &Known::default(),
            secret_lost: false,
            rotate_requested: false,
            rotation_period: signed(period),
            grace_period: signed(grace),
        });
        let plan = Plan {
            register: plan.register.map(|(slot, _)| (slot, Cause::Revoked)),
            ..plan
        };
        return run
            .apply(plan, &slots, requested, period, next, baseline)
            .await;
    }
    if hold {
        return Ok(run.held_revoked(next));
    }
    let facts = Facts {
        now,
        slots: &slots,
        held: held_key.as_ref(),
        known: &known,
        secret_lost: matches!(held, HeldKeyPair::Unknown { .. }),
        rotate_requested,
        rotation_period: signed(period),
        grace_period: signed(grace),
    };
    let plan = keypair_policy::decide(&facts);
    if let Some(target) = plan.register.map(|(slot, _)| slot)
        && let SlotState::Retiring(at) = facts.state(target)
    {
        run.events.push((
            EventType::Warning,
            "GracePeriodShortened",
            format!(
                "the previous key {} of user {} is replaced in {target} before the end of its grace period ({at}): a rotation was needed and no other slot was free",
                slots.get(target).unwrap_or_default(),
                resolved.user
            ),
        ));
    }
    match (
        &plan.register,
        &plan.blocked,
        plan.in_force.and(current.as_ref()),
    ) {
        (None, Some((slot, fingerprint)), None) => {
            run.unset_now(&plan.unset, &slots).await?;
            Err(run.slots_taken(*slot, fingerprint, &slots))
        }
        (None, _, Some(current)) => {
            run.unset_now(&plan.unset, &slots).await?;
            if let Some((slot, fingerprint)) = &plan.blocked {
                run.blocked(next, *slot, fingerprint);
            } else {
                next.conditions.retain(|c| c.type_ != ROTATION_BLOCKED);
            }
            run.keep(current.value, &plan, period, next).await
        }
        _ => {
            run.apply(plan, &slots, requested, period, next, baseline)
                .await
        }
    }
}

/// When to reconcile again: at the rotation, the previous key's removal or the drift
/// check, whichever comes first. A rotation that is blocked (no free slot) waits for the
/// check instead: its time has passed, and looking again at once would ask Snowflake in
/// a loop.
fn next_wake(
    rotation_at: Timestamp,
    check: Timestamp,
    removal: Timestamp,
    blocked: bool,
) -> Timestamp {
    let rotation = if blocked { Timestamp::MAX } else { rotation_at };
    rotation.min(check).min(removal)
}

/// When the token is next compared with Snowflake after a check at `last`.
fn next_check(ctx: &Context, uid: &str, last: Timestamp) -> Timestamp {
    let interval = ctx.config.drift_interval;
    let wait = interval + requeue::spread(uid, "drift", interval / 10);
    last.checked_add(SignedDuration::try_from(wait).unwrap_or_default())
        .unwrap_or(Timestamp::MAX)
}

struct Run<'a> {
    ctx: &'a Context,
    token: &'a SnowflakeToken,
    spec: &'a KeyPairSpec,
    resolved: &'a Resolved,
    observed: &'a Observed,
    uid: String,
    now: Timestamp,
    events: Vec<(EventType, &'static str, String)>,
}

impl Run<'_> {
    fn user(&self) -> &str {
        &self.resolved.user
    }

    async fn public_keys(&self) -> Result<PublicKeys, Error> {
        let keys = self
            .ctx
            .snowflake(
                "public_keys",
                self.resolved.client.api.public_keys(self.user()),
            )
            .await
            .map_err(|e| {
                Error::snowflake(
                    format!("reading the public keys of user {}", self.user()),
                    e,
                )
            })?;
        self.ctx.mark_checked(&self.uid, self.now);
        Ok(keys)
    }

    async fn unset(&self, slot: KeySlot, fingerprint: &str) -> Result<(), Error> {
        self.ctx
            .snowflake(
                "unset_public_key",
                self.resolved.client.api.unset_public_key(self.user(), slot),
            )
            .await
            .map_err(|e| {
                Error::snowflake(
                    format!("unsetting {slot} ({fingerprint}) of user {}", self.user()),
                    e,
                )
            })
    }

    /// Unsets `unset` (slots of the operator's that are not in use) now.
    async fn unset_now(&mut self, unset: &[KeySlot], slots: &PublicKeys) -> Result<(), Error> {
        for slot in unset {
            let fingerprint = slots.get(*slot).unwrap_or_default().to_owned();
            self.unset(*slot, &fingerprint).await?;
            self.events.push((
                EventType::Normal,
                PREVIOUS_KEY_REMOVED,
                format!(
                    "key {fingerprint} of user {} removed from {slot}: its grace period is over, or it never reached the Secret",
                    self.user()
                ),
            ));
        }
        Ok(())
    }

    /// Unsets every slot holding a key of the operator's (a leak: no grace period).
    async fn revoke(
        &mut self,
        request: &str,
        slots: &mut PublicKeys,
        held: Option<&HeldKey>,
        known: &Known,
    ) -> Result<(), Error> {
        let facts = Facts {
            now: self.now,
            slots: &*slots,
            held,
            known,
            secret_lost: false,
            rotate_requested: false,
            rotation_period: SignedDuration::MAX,
            grace_period: SignedDuration::ZERO,
        };
        let ours: Vec<(KeySlot, String)> = KeySlot::BOTH
            .into_iter()
            .filter(|slot| !matches!(facts.state(*slot), SlotState::Empty | SlotState::Foreign(_)))
            .map(|slot| (slot, facts.slots.get(slot).unwrap_or_default().to_owned()))
            .collect();
        for (slot, fingerprint) in &ours {
            self.unset(*slot, fingerprint).await?;
            slots.set(*slot, None);
        }
        let removed = if ours.is_empty() {
            "none was registered".to_owned()
        } else {
            ours.iter()
                .map(|(slot, fp)| format!("{fp} from {slot}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.events.push((
            EventType::Warning,
            super::pat::REVOKED,
            format!(
                "the key pair of user {} revoked at request {request:?}: its keys were unset at once, without a grace period ({removed})",
                self.user()
            ),
        ));
        Ok(())
    }

    fn held_revoked(self, next: &mut SnowflakeTokenStatus) -> Progress {
        let name = self.token.metadata.name.as_deref().unwrap_or_default();
        let message = format!(
            "the key pair of user {} is held revoked by annotation {REVOKE_HOLD_ANNOTATION}: no key is registered while it is there; `kubectl annotate sftoken {name} {REVOKE_HOLD_ANNOTATION}-` lets the operator register a new one",
            self.resolved.user,
        );
        next.renewal_time = None;
        Progress {
            readiness: Readiness::NotReady {
                reason: super::pat::REVOKED,
                message,
            },
            requeue_at: next_check(self.ctx, &self.uid, self.now),
            events: self.events,
            restart_for: None,
            new_value: false,
        }
    }

    fn slots_taken(&self, slot: KeySlot, fingerprint: &str, slots: &PublicKeys) -> Error {
        let name = self.token.metadata.name.as_deref().unwrap_or_default();
        Error::KeySlotsTaken(format!(
            "both public-key slots of user {} hold keys this token did not register (RSA_PUBLIC_KEY {}, RSA_PUBLIC_KEY_2 {}: a person's, or another key-pair SnowflakeToken's; a user can have one); the operator never replaces a key someone else registered: unset one that is no longer used (ALTER USER {} UNSET {slot} removes {fingerprint}), then `snowflake-token-operator rotate {name}` or wait for the next check",
            self.user(),
            slots.first.as_deref().unwrap_or("empty"),
            slots.second.as_deref().unwrap_or("empty"),
            self.user(),
        ))
    }

    fn blocked(&mut self, next: &mut SnowflakeTokenStatus, slot: KeySlot, fingerprint: &str) {
        let message = format!(
            "a new key is due but {slot} of user {} holds a key this token did not register ({fingerprint}: a person's, or another key-pair SnowflakeToken's; a user can have one), and the other slot holds the key in force: unset {slot} if it is no longer used (ALTER USER {} UNSET {slot}); the current key keeps working meanwhile",
            self.user(),
            self.user()
        );
        let already = crate::api::conditions::is_true(&next.conditions, ROTATION_BLOCKED);
        super::set_flag(
            next,
            ROTATION_BLOCKED,
            KEY_SLOTS_TAKEN,
            Some(message.clone()),
            self.now,
        );
        if !already {
            self.events
                .push((EventType::Warning, KEY_SLOTS_TAKEN, message));
        }
    }

    /// Generates a key as the spec asks, off the async runtime (a 4096-bit key takes
    /// seconds of CPU).
    async fn generate(&self) -> Result<GeneratedKey, Error> {
        let bits = self.spec.bits();
        let encrypt = self.spec.format == PrivateKeyFormat::EncryptedPkcs8;
        tokio::task::spawn_blocking(move || PrivateKey::generate(bits, encrypt))
            .await
            .map_err(|e| Error::InvalidSpec(format!("internal: key generation stopped ({e})")))?
            .map_err(|e| Error::snowflake("generating a key pair", e))
    }

    /// Registers a new key in the plan's slot, checks it, writes it into the Secret and
    /// unsets what retires now.
    async fn apply(
        mut self,
        plan: Plan,
        slots: &PublicKeys,
        requested: Option<String>,
        period: std::time::Duration,
        next: &mut SnowflakeTokenStatus,
        baseline: &mut Option<SnowflakeTokenStatus>,
    ) -> Result<Progress, Error> {
        let Some((slot, cause)) = plan.register else {
            return Err(Error::InvalidSpec("internal: nothing to register".into()));
        };
        // Keys nobody has go first, so that at most one unstored key ever exists.
        self.unset_now(&plan.unset, slots).await?;
        let generated = self.generate().await?;
        let fingerprint = generated.key.fingerprint().to_owned();
        next.conditions.retain(|c| c.type_ != ROTATION_BLOCKED);

        // The intent, before Snowflake sees the key.
        next.pending_public_key_fingerprint = Some(fingerprint.clone());
        let version = status::write(&self.ctx.client, self.token, baseline.as_ref(), next).await?;
        self.ctx.wrote_version(&self.uid, version.as_deref());
        *baseline = Some(next.clone());

        self.ctx
            .snowflake(
                "set_public_key",
                self.resolved.client.api.set_public_key(
                    self.user(),
                    slot,
                    &generated.key.public_key_base64(),
                ),
            )
            .await
            .map_err(|e| {
                Error::snowflake(
                    format!("registering a new key in {slot} of user {}", self.user()),
                    e,
                )
            })?;
        self.ctx.forget_checked(&self.uid);
        if self.spec.verify_before_swap {
            self.verify(&generated.key).await?;
        }

        // Retiring now (a zero grace period): unset once the new key is in the Secret.
        let (previous, retire_now) = match plan.previous {
            Some(p) if p.removal_at <= self.now => (None, Some(p)),
            other => (other, None),
        };
        // To the nanosecond, not whole seconds like the rest: the issue time tells one key
        // of the Secret from the next (the restart annotation, the check that the Secret
        // cache caught up), and two keys can be written within one second (a rotate or
        // revoke request right after a rotation).
        let issued_at = self.ctx.config.clock.now();
        let record = KeyRecord {
            fingerprint: fingerprint.clone(),
            slot: slot.number(),
            bits: generated.key.bits(),
            previous,
        };
        // The new key answers the rotate request the token carries.
        self.write(
            &generated.pem,
            generated.passphrase.as_ref(),
            &record,
            issued_at,
            requested.clone(),
        )
        .await?;
        self.ctx.mark_written(&self.uid, issued_at);
        if let Some(retired) = &retire_now
            && let Some(retired_slot) = KeySlot::from_number(retired.slot)
        {
            self.unset_now(&[retired_slot], slots).await?;
        }

        next.pending_public_key_fingerprint = None;
        if let Some(request) = &requested {
            self.ctx.honour(&self.uid, request);
        }
        next.last_rotate_request = requested;
        next.last_rotation_time = Some(Time(issued_at));
        let verb = match cause {
            Cause::New | Cause::Revoked => (reason::MINTED, "registered"),
            Cause::SecretLost | Cause::KeyMissing => ("SecretRepaired", "registered again"),
            _ => (reason::ROTATED, "rotated"),
        };
        let retiring = record
            .previous
            .as_ref()
            .map(|p| {
                format!(
                    "; the previous key {} stays registered in {} until {}",
                    p.fingerprint,
                    slot.other(),
                    p.removal_at
                )
            })
            .unwrap_or_default();
        // First: the metrics take the first Normal event for the rotation's cause.
        self.events.insert(
            0,
            (
                EventType::Normal,
                verb.0,
            format!(
                "key pair of user {} {} ({}): {fingerprint} in {slot}, private key in Secret {}{retiring}",
                self.user(),
                verb.1,
                cause.as_str(),
                self.token.secret_name()
            ),
            ),
        );
        let now = issued_at;
        let mut progress = self.finish(next, &record, now, period, verb.0, false);

        progress.restart_for = Some(now.to_string());
        progress.new_value = true;
        Ok(progress)
    }

    /// Keeps the key in force: the Secret rendered again (a changed template, a previous
    /// key gone), nothing registered.
    async fn keep(
        self,
        value: &record::KeyPairValue,
        plan: &Plan,
        period: std::time::Duration,
        next: &mut SnowflakeTokenStatus,
    ) -> Result<Progress, Error> {
        let record = KeyRecord {
            slot: plan.in_force.map_or(value.record.slot, KeySlot::number),
            previous: plan.previous.clone(),
            ..value.record.clone()
        };
        self.write(
            &value.private_key,
            value.passphrase.as_ref(),
            &record,
            value.issued_at,
            value.answers_rotate.clone(),
        )
        .await?;
        next.pending_public_key_fingerprint = None;
        let blocked = plan.blocked.is_some();
        Ok(self.finish(next, &record, value.issued_at, period, "UpToDate", blocked))
    }

    async fn write(
        &self,
        private_key: &secrecy::SecretString,
        passphrase: Option<&secrecy::SecretString>,
        record: &KeyRecord,
        issued_at: Timestamp,
        answers_rotate: Option<String>,
    ) -> Result<bool, Error> {
        let content = SecretContent {
            username: self.resolved.user.clone(),
            account: self.resolved.client.account.identifier().to_owned(),
            host: self.resolved.client.account.host(),
            expires_at: issued_at,
            issued_at,
            credential: CredentialValue::KeyPair {
                private_key: private_key.clone(),
                passphrase: passphrase.cloned(),
                record: record.clone(),
                answers_rotate,
            },
        };
        let desired = desired_secret(self.token, &content)?;
        super::write_secret(self.ctx, self.token, self.observed, &desired).await
    }

    /// Logs in once with the new key (key-pair JWT over the SQL API).
    async fn verify(&mut self, key: &PrivateKey) -> Result<(), Error> {
        let fail = |source| Error::Verification {
            token: format!("key {}", key.fingerprint()),
            source,
        };
        let signer = JwtSigner::new(
            &self.resolved.client.account,
            self.user(),
            key,
            self.ctx.config.clock.clone(),
        )
        .map_err(fail)?;
        let mut config = self.ctx.config.snowflake.clone();
        config.role = None;
        let api = SqlApiClient::with_http_client(
            self.resolved.client.api.sql_api().http_client().clone(),
            self.resolved.client.account.clone(),
            Arc::new(signer),
            config,
        );
        let outcome = self
            .ctx
            .snowflake("verify_token", SnowflakeClient::new(api).verify_identity())
            .await;
        match outcome {
            Ok(identity) if identity.user.eq_ignore_ascii_case(self.user()) => Ok(()),
            Ok(identity) => Err(fail(snowflake::Error::Protocol(format!(
                "the new key authenticated as {} instead of {}",
                identity.user,
                self.user()
            )))),
            Err(e) if matches!(e.snowflake_code(), Some("390422" | "390432")) => {
                self.events.push((
                    EventType::Warning,
                    "VerificationSkipped",
                    format!(
                        "the new key {} could not be tried from the operator's address because the user's network policy refused it ({e}); it is used without the check",
                        key.fingerprint()
                    ),
                ));
                Ok(())
            }
            Err(e) => Err(fail(e)),
        }
    }

    fn finish(
        self,
        next: &mut SnowflakeTokenStatus,
        record: &KeyRecord,
        issued_at: Timestamp,
        period: std::time::Duration,
        reason: &'static str,
        blocked: bool,
    ) -> Progress {
        let keep_if_ready = reason == "UpToDate";
        let due = issued_at
            .checked_add(SignedDuration::try_from(period).unwrap_or(SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX);
        let rotation_at = requeue::jittered_renewal(&self.uid, due, period);
        next.public_key_fingerprint = Some(record.fingerprint.clone());
        next.public_key_slot = Some(i32::from(record.slot));
        next.previous_public_key_fingerprint =
            record.previous.as_ref().map(|p| p.fingerprint.clone());
        next.previous_key_removal_time = record.previous.as_ref().map(|p| Time(p.removal_at));
        next.renewal_time = Some(Time(rotation_at));
        if next.last_rotation_time.is_none() {
            next.last_rotation_time = Some(Time(issued_at));
        }
        let slot = KeySlot::from_number(record.slot).unwrap_or(KeySlot::First);
        let check = next_check(
            self.ctx,
            &self.uid,
            self.ctx.last_checked(&self.uid).unwrap_or(self.now),
        );
        let removal = record
            .previous
            .as_ref()
            .map_or(Timestamp::MAX, |p| p.removal_at);
        let previous = record
            .previous
            .as_ref()
            .map(|p| {
                format!(
                    "; the previous key {} is unset at {}",
                    p.fingerprint, p.removal_at
                )
            })
            .unwrap_or_default();
        Progress {
            readiness: Readiness::Ready {
                reason,
                message: format!(
                    "key pair of user {} is in Secret {}: {} in {slot}, rotated from {rotation_at}{previous}",
                    self.resolved.user,
                    self.token.secret_name(),
                    record.fingerprint,
                ),
                keep_if_ready,
            },
            requeue_at: next_wake(rotation_at, check, removal, blocked),
            events: self.events,
            restart_for: None,
            new_value: false,
        }
    }
}

/// The fingerprints of the keys registered for a deleted token: the ones its status
/// names, for the finalizer to unset where they still are.
pub fn registered_by(status: &SnowflakeTokenStatus) -> Vec<String> {
    [
        &status.public_key_fingerprint,
        &status.previous_public_key_fingerprint,
        &status.pending_public_key_fingerprint,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect()
}

/// Unsets the slots of `user` holding one of `fingerprints`; returns what was removed.
pub async fn unset_registered(
    api: &SnowflakeClient,
    user: &str,
    fingerprints: &[String],
) -> snowflake::Result<Vec<String>> {
    let slots = match api.public_keys(user).await {
        Ok(slots) => slots,
        Err(e) if e.category() == snowflake::Category::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for slot in KeySlot::BOTH {
        if let Some(fp) = slots.get(slot)
            && fingerprints.iter().any(|f| f == fp)
        {
            api.unset_public_key(user, slot).await?;
            removed.push(format!("{fp} from {slot}"));
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finalizer_unsets_every_key_the_status_names() {
        let status = SnowflakeTokenStatus {
            public_key_fingerprint: Some("SHA256:a".into()),
            previous_public_key_fingerprint: Some("SHA256:b".into()),
            pending_public_key_fingerprint: Some("SHA256:c".into()),
            ..SnowflakeTokenStatus::default()
        };
        assert_eq!(registered_by(&status), ["SHA256:a", "SHA256:b", "SHA256:c"]);
        assert!(registered_by(&SnowflakeTokenStatus::default()).is_empty());
    }

    #[test]
    fn a_blocked_rotation_waits_for_the_check_instead_of_looping() {
        let at = |t: &str| -> Timestamp { t.parse().expect("timestamp") };
        let past = at("2026-06-01T00:00:00Z");
        let check = at("2026-06-02T01:00:00Z");
        let removal = at("2026-06-02T00:30:00Z");
        assert_eq!(next_wake(past, check, Timestamp::MAX, false), past);
        assert_eq!(next_wake(past, check, Timestamp::MAX, true), check);
        assert_eq!(next_wake(past, check, removal, true), removal);
    }
}
