//! Leader election on a `coordination.k8s.io/v1` Lease, so that several replicas of the
//! operator can run and only one of them reconciles.
//!
//! Hand-written: kube-runtime 5.0 has no leader election, and no well-kept crate for it
//! supports kube 5.0. It keeps to the Lease fields and rules of client-go's
//! `leaderelection` package, so `kubectl get lease` reads the same as for any controller:
//!
//! * The Lease names its holder (`holderIdentity`) and how long a term lasts
//!   (`leaseDurationSeconds`); the holder writes `renewTime` every
//!   [`LeaseConfig::renew_interval`].
//! * A candidate takes the Lease when it is missing (it creates it), free (no holder, as
//!   after [`Leadership::release`]) or expired: the holder's `renewTime` plus
//!   `leaseDurationSeconds` has passed on the candidate's wall clock. A holder without
//!   `renewTime` or without a positive `leaseDurationSeconds` counts as expired. Taking the
//!   Lease from another holder sets `acquireTime` and counts one `leaseTransitions`.
//! * Every write replaces the Lease at the resourceVersion it was read at, so of two
//!   candidates exactly one wins; the other gets 409 Conflict and reads the Lease again.
//! * The holder gives leadership up ([`Leadership::lost`]) as soon as the Lease names
//!   someone else or is gone, or when no renewal has succeeded for
//!   [`LeaseConfig::renew_deadline`] (`lease_duration - renew_interval`): before any other
//!   candidate may think the Lease expired. The caller then stops reconciling, and the
//!   operator exits.
//!
//! Expiry is judged from `renewTime`, which the holder writes from its own clock, so the
//! replicas' clocks must agree to well within `renew_interval` (NTP does that by orders of
//! magnitude). client-go instead times how long it has seen the same record, which spares it
//! that assumption but makes a fresh candidate wait a whole lease duration even when the
//! holder died long ago.
//!
//! Each process needs its own identity: two processes of one identity both believe they
//! hold the Lease. The pod's name (from the downward API) is unique among running pods,
//! and lets a restarted container take its own Lease back at once.
//!
//! ```no_run
//! # async fn run_controllers() {}
//! # async fn example(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use snowflake_token_operator::controller::leader::{LeaderElector, LeaseConfig};
//!
//! let config = LeaseConfig::new("sfto-system", "snowflake-token-operator", "sfto-7d9c-x2kq");
//! let mut leadership = LeaderElector::new(client, config).acquire().await?;
//! tokio::select! {
//!     () = run_controllers() => leadership.release().await,
//!     lost = leadership.lost() => {
//!         tracing::error!(%lost, "exiting: another replica may be reconciling now");
//!         std::process::exit(1);
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Which Lease to compete for, under which identity, and how often to write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Namespace of the Lease (usually the operator's own).
    pub namespace: String,
    /// Name of the Lease; every replica of one operator uses the same.
    pub name: String,
    /// This process's identity, written as `holderIdentity`; unique per process.
    pub identity: String,
    /// How long a term lasts without renewal (`leaseDurationSeconds`, rounded up to whole
    /// seconds): how long the others wait after the holder stopped renewing.
    pub lease_duration: Duration,
    /// How often the holder renews (writes `renewTime`).
    pub renew_interval: Duration,
    /// How often a candidate looks at the Lease again, and how soon the holder tries again
    /// after a failed renewal.
    pub retry_interval: Duration,
}

impl LeaseConfig {
    /// The Lease `namespace/name` for `identity`, with client-go's timings: a 15 s lease,
    /// renewed every 5 s, retried every 2 s.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_interval: Duration::from_secs(5),
            retry_interval: Duration::from_secs(2),
        }
    }

    /// How long the holder keeps leadership without a successful renewal:
    /// `lease_duration - renew_interval`, so that it has given up before any candidate
    /// (whose clock agrees to within `renew_interval`) may take the Lease over.
    pub fn renew_deadline(&self) -> Duration {
        self.lease_duration.saturating_sub(self.renew_interval)
    }

    /// `leaseDurationSeconds`: the lease duration rounded up to whole seconds, so the
    /// others never wait less than this process assumes. Call after [`Self::validate`].
    fn lease_duration_seconds(&self) -> i32 {
        let seconds =
            self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(seconds).unwrap_or(i32::MAX)
    }

    fn validate(&self) -> Result<(), LeaderError> {
        let problem = if self.namespace.is_empty() || self.name.is_empty() {
            Some("the Lease needs a namespace and a name")
        } else if self.identity.is_empty() {
            // An empty holderIdentity means "free": every candidate would take it.
            Some("the identity must not be empty")
        } else if self.lease_duration < Duration::from_secs(1)
            || self.lease_duration > Duration::from_secs(i32::MAX as u64)
        {
            Some("the lease duration must be between 1 s and i32::MAX seconds")
        } else if self.renew_interval.is_zero() || self.renew_interval >= self.lease_duration {
            Some("the renew interval must be positive and shorter than the lease duration")
        } else if self.retry_interval.is_zero() {
            Some("the retry interval must be positive")
        } else {
            None
        };
        problem.map_or(Ok(()), |problem| Err(LeaderError::InvalidConfig(problem)))
    }

    /// `namespace/name`, for logs and errors.
    fn lease(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Why leadership could not be acquired.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The [`LeaseConfig`] cannot work.
    #[error("invalid leader election settings: {0}")]
    InvalidConfig(&'static str),
    /// The API server refused a request, or could not be reached.
    #[error("cannot read or write Lease {lease}: {source}")]
    Kube {
        /// `namespace/name` of the Lease.
        lease: String,
        /// The API error.
        source: kube::Error,
    },
}

impl LeaderError {
    /// Whether trying again later may succeed without a change of settings or RBAC.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Kube { source, .. } => !matches!(
                source,
                kube::Error::Api(status) if (400..500).contains(&status.code) && status.code != 409 && status.code != 429
            ),
            Self::InvalidConfig(_) => false,
        }
    }
}

/// Why leadership ended; the caller must stop reconciling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Lost {
    /// The Lease names another holder, or none (someone else wrote it).
    #[error("Lease {lease} is held by {} now", .holder.as_deref().unwrap_or("nobody"))]
    TakenOver {
        /// `namespace/name` of the Lease.
        lease: String,
        /// The holder it names now.
        holder: Option<String>,
    },
    /// The Lease was deleted.
    #[error("Lease {lease} was deleted")]
    Deleted {
        /// `namespace/name` of the Lease.
        lease: String,
    },
    /// No renewal succeeded within [`LeaseConfig::renew_deadline`].
    #[error("Lease {lease} was not renewed for {elapsed:?}: {last_error}")]
    NotRenewed {
        /// `namespace/name` of the Lease.
        lease: String,
        /// Time since the last successful renewal began.
        elapsed: Duration,
        /// The last failure.
        last_error: String,
    },
    /// The renewal task ended without saying why (it panicked, or the runtime is
    /// shutting down).
    #[error("the renewal of Lease {lease} stopped")]
    RenewalStopped {
        /// `namespace/name` of the Lease.
        lease: String,
    },
}

/// Competes for one Lease.
#[derive(Debug, Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
}

impl LeaderElector {
    /// An elector for the Lease `config` names.
    pub fn new(client: kube::Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
        }
    }

    /// Waits until this process holds the Lease (creating it when missing, taking it over
    /// when free or expired), then returns the [`Leadership`], which renews it in a
    /// background task.
    ///
    /// API errors that may pass (unreachable, 5xx, 429) are logged and retried every
    /// `retry_interval`; others (forbidden, namespace missing) are returned, as are invalid
    /// settings. Cancelling this future while it writes may leave the Lease naming this
    /// identity; it then expires after `lease_duration`.
    pub async fn acquire(&self) -> Result<Leadership, LeaderError> {
        self.config.validate()?;
        let lease = self.config.lease();
        let identity = self.config.identity.as_str();
        let mut waiting_for = None;
        loop {
            let started = Instant::now();
            match self.try_acquire().await {
                Ok(Attempt::Acquired { held, expired }) => {
                    let spec = held.spec.as_ref();
                    info!(
                        lease,
                        identity,
                        transitions = spec.and_then(|s| s.lease_transitions),
                        expired_holder = expired,
                        "leadership acquired"
                    );
                    return Ok(Leadership::start(
                        self.api.clone(),
                        self.config.clone(),
                        *held,
                        started,
                    ));
                }
                Ok(Attempt::Held { holder, until }) => {
                    if waiting_for.as_ref() != Some(&holder) {
                        info!(lease, identity, holder, %until, "waiting: another replica holds the Lease");
                    } else {
                        debug!(lease, identity, holder, %until, "the Lease is still held");
                    }
                    waiting_for = Some(holder);
                }
                Ok(Attempt::Outrun) => {
                    debug!(
                        lease,
                        identity, "another replica wrote the Lease first; reading it again"
                    );
                    continue;
                }
                Err(e) if e.is_transient() => {
                    warn!(lease, identity, error = %e, "cannot compete for the Lease; trying again");
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(self.config.retry_interval).await;
        }
    }

    /// Reads the Lease once and takes it if [`claim`] allows.
    async fn try_acquire(&self) -> Result<Attempt, LeaderError> {
        let kube = |source| LeaderError::Kube {
            lease: self.config.lease(),
            source,
        };
        let now = Timestamp::now();
        let Some(current) = self.api.get_opt(&self.config.name).await.map_err(kube)? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.held_spec(LeaseSpec::default(), now, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => Ok(Attempt::Acquired {
                    held: Box::new(created),
                    expired: None,
                }),
                Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(Attempt::Outrun),
                Err(e) => Err(kube(e)),
            };
        };
        let spec = current.spec.clone().unwrap_or_default();
        let transitions = spec.lease_transitions.unwrap_or(0).max(0);
        let (spec, previous) = match claim(current.spec.as_ref(), &self.config.identity, now) {
            Claim::Held { holder, until } => return Ok(Attempt::Held { holder, until }),
            // Still ours (this identity restarted): a renewal, not a new term.
            Claim::Ours => (
                LeaseSpec {
                    acquire_time: spec.acquire_time.clone().or(Some(MicroTime(now))),
                    ..self.held_spec(spec, now, transitions)
                },
                None,
            ),
            Claim::Free => (
                self.held_spec(spec, now, transitions.saturating_add(1)),
                None,
            ),
            Claim::Expired { holder } => (
                self.held_spec(spec, now, transitions.saturating_add(1)),
                Some(holder),
            ),
        };
        let next = Lease {
            spec: Some(spec),
            ..current
        };
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &next)
            .await
        {
            Ok(taken) => Ok(Attempt::Acquired {
                held: Box::new(taken),
                expired: previous,
            }),
            // Someone else wrote it (409) or deleted it (404) since it was read.
            Err(kube::Error::Api(status)) if status.is_conflict() || status.is_not_found() => {
                Ok(Attempt::Outrun)
            }
            Err(e) => Err(kube(e)),
        }
    }

    /// `spec` naming this identity from `now`, with `transitions`.
    fn held_spec(&self, spec: LeaseSpec, now: Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.lease_duration_seconds()),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..spec
        }
    }
}

/// One look at the Lease by a candidate.
enum Attempt {
    /// This process holds it now; `expired` is the holder whose term it took over.
    Acquired {
        held: Box<Lease>,
        expired: Option<String>,
    },
    /// Another holder's term runs until `until`.
    Held { holder: String, until: Timestamp },
    /// Someone else wrote or deleted it between the read and the write.
    Outrun,
}

/// What a candidate may do with a Lease, from its spec alone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Claim {
    /// It names this identity: renew it, without a transition.
    Ours,
    /// Nobody holds it (no or an empty `holderIdentity`): take it.
    Free,
    /// Its holder's term is over (or unreadable): take it over.
    Expired { holder: String },
    /// Another holder's term runs until `until`.
    Held { holder: String, until: Timestamp },
}

/// Whether `identity` may take a Lease whose spec is `spec`, at `now`. A term ends at
/// `renewTime + leaseDurationSeconds`; a holder without either (or with a non-positive
/// duration, or an end past the representable times) counts as expired.
fn claim(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Claim {
    let Some(holder) = spec
        .and_then(|s| s.holder_identity.as_deref())
        .filter(|holder| !holder.is_empty())
    else {
        return Claim::Free;
    };
    if holder == identity {
        return Claim::Ours;
    }
    let until = spec.and_then(|s| {
        let renewed = s.renew_time.as_ref()?.0;
        let seconds = s.lease_duration_seconds.filter(|d| *d > 0)?;
        renewed
            .checked_add(SignedDuration::from_secs(i64::from(seconds)))
            .ok()
    });
    match until {
        Some(until) if now < until => Claim::Held {
            holder: holder.to_owned(),
            until,
        },
        _ => Claim::Expired {
            holder: holder.to_owned(),
        },
    }
}

/// Holding the Lease. A background task renews it until [`Self::release`], until
/// leadership is [lost](Self::lost), or until this is dropped: dropping stops renewing
/// without releasing, as if the process had been killed, so the Lease expires after
/// `lease_duration`.
#[derive(Debug)]
pub struct Leadership {
    api: Api<Lease>,
    config: LeaseConfig,
    lost: watch::Receiver<Option<Lost>>,
    stop: Option<oneshot::Sender<()>>,
    renewal: JoinHandle<Lease>,
}

impl Leadership {
    fn start(api: Api<Lease>, config: LeaseConfig, held: Lease, renewed_at: Instant) -> Self {
        let (lost_tx, lost) = watch::channel(None);
        let (stop, stop_rx) = oneshot::channel();
        let renewal = tokio::spawn(renew(
            api.clone(),
            config.clone(),
            held,
            renewed_at,
            lost_tx,
            stop_rx,
        ));
        Self {
            api,
            config,
            lost,
            stop: Some(stop),
            renewal,
        }
    }

    /// Resolves when leadership is lost: the Lease names another holder or was deleted, or
    /// no renewal succeeded within [`LeaseConfig::renew_deadline`], or the renewal task
    /// died. Cancel safe (use it in `tokio::select!`); once lost, it resolves at once.
    pub async fn lost(&mut self) -> Lost {
        let lease = self.config.lease();
        match self.lost.wait_for(Option::is_some).await {
            Ok(lost) => lost.clone().unwrap_or(Lost::RenewalStopped { lease }),
            // The task dropped its sender without a reason: it panicked or was cancelled.
            Err(_) => Lost::RenewalStopped { lease },
        }
    }

    /// Hands the Lease over on shutdown: stops renewing, then clears `holderIdentity` (and,
    /// like client-go, sets `leaseDurationSeconds` to 1) so that another replica takes it at
    /// once. Best effort: failures are logged, and the Lease then expires on its own. Does
    /// nothing to a Lease that no longer names this identity.
    pub async fn release(mut self) {
        let lease = self.config.lease();
        let identity = self.config.identity.clone();
        if let Some(stop) = self.stop.take() {
            // Fails only when the task already ended; it returns its Lease all the same.
            let _ = stop.send(());
        }
        let held = match (&mut self.renewal).await {
            Ok(held) => held,
            Err(e) => {
                warn!(lease, identity, error = %e, "not released: the renewal task failed; the Lease expires on its own");
                return;
            }
        };
        let lost = self.lost.borrow().clone();
        if let Some(reason @ (Lost::TakenOver { .. } | Lost::Deleted { .. })) = lost {
            info!(lease, identity, %reason, "not released: the Lease is no longer ours");
            return;
        }
        let release = write_ours(&self.api, &self.config, held, |spec| {
            let now = Some(MicroTime(Timestamp::now()));
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.acquire_time = now.clone();
            spec.renew_time = now;
        });
        // After a lease duration it has expired anyway.
        match tokio::time::timeout(self.config.lease_duration, release).await {
            Ok(Ok(Ours::Written(_))) => info!(lease, identity, "leadership released"),
            Ok(Ok(Ours::HeldBy(holder))) => {
                info!(
                    lease,
                    identity, holder, "not released: the Lease is no longer ours"
                );
            }
            Ok(Ok(Ours::Deleted)) => info!(lease, identity, "not released: the Lease is gone"),
            Ok(Err(e)) => {
                warn!(lease, identity, error = %e, "cannot release the Lease; it expires on its own");
            }
            Err(_) => warn!(
                lease,
                identity, "cannot release the Lease in time; it expires on its own"
            ),
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// The renewal task: writes `renewTime` every `renew_interval` (every `retry_interval`
/// after a failure) until told to stop or until leadership is lost, which it reports on
/// `lost`. Returns the Lease as last written, for [`Leadership::release`].
async fn renew(
    api: Api<Lease>,
    config: LeaseConfig,
    mut held: Lease,
    mut renewed_at: Instant,
    lost: watch::Sender<Option<Lost>>,
    mut stop: oneshot::Receiver<()>,
) -> Lease {
    let lease = config.lease();
    let identity = config.identity.as_str();
    let deadline = config.renew_deadline();
    let mut wait = config.renew_interval;
    let mut last_error = String::new();
    let reason = loop {
        tokio::select! {
            _ = &mut stop => return held,
            () = tokio::time::sleep(wait) => {}
        }
        let started = Instant::now();
        let left = (renewed_at + deadline).saturating_duration_since(started);
        if left.is_zero() {
            break Lost::NotRenewed {
                lease: lease.clone(),
                elapsed: renewed_at.elapsed(),
                last_error,
            };
        }
        let renewal = write_ours(&api, &config, held.clone(), |spec| {
            spec.renew_time = Some(MicroTime(Timestamp::now()));
        });
        match tokio::time::timeout(left, renewal).await {
            Ok(Ok(Ours::Written(renewed))) => {
                debug!(lease, identity, "Lease renewed");
                held = *renewed;
                renewed_at = started;
                wait = config.renew_interval;
                continue;
            }
            Ok(Ok(Ours::HeldBy(holder))) => {
                break Lost::TakenOver {
                    lease: lease.clone(),
                    holder,
                };
            }
            Ok(Ok(Ours::Deleted)) => {
                break Lost::Deleted {
                    lease: lease.clone(),
                };
            }
            Ok(Err(e)) => {
                warn!(lease, identity, error = %e, "cannot renew the Lease; trying again");
                last_error = e.to_string();
            }
            Err(_) => last_error = format!("no answer within {left:?}"),
        }
        wait = config
            .retry_interval
            .min((renewed_at + deadline).saturating_duration_since(Instant::now()));
    };
    warn!(lease, identity, %reason, "leadership lost");
    lost.send_replace(Some(reason));
    held
}

/// The outcome of [`write_ours`].
enum Ours {
    /// Written; the Lease as the API server returned it.
    Written(Box<Lease>),
    /// The Lease names another holder (or none): not written.
    HeldBy(Option<String>),
    /// The Lease is gone: not written.
    Deleted,
}

/// Replaces `held` edited by `edit`, at its resourceVersion. On a conflict reads the Lease
/// again and, if it still names this identity, edits and writes that (a few times at most).
async fn write_ours(
    api: &Api<Lease>,
    config: &LeaseConfig,
    mut held: Lease,
    edit: impl Fn(&mut LeaseSpec),
) -> Result<Ours, kube::Error> {
    const CONFLICT_RETRIES: usize = 3;
    let mut conflicts = 0;
    loop {
        let mut next = held.clone();
        edit(next.spec.get_or_insert_with(LeaseSpec::default));
        match api
            .replace(&config.name, &PostParams::default(), &next)
            .await
        {
            Ok(written) => return Ok(Ours::Written(Box::new(written))),
            Err(kube::Error::Api(status)) if status.is_not_found() => return Ok(Ours::Deleted),
            Err(kube::Error::Api(status))
                if status.is_conflict() && conflicts < CONFLICT_RETRIES =>
            {
                conflicts += 1;
            }
            Err(e) => return Err(e),
        }
        let Some(current) = api.get_opt(&config.name).await? else {
            return Ok(Ours::Deleted);
        };
        let holder = current
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .filter(|holder| !holder.is_empty());
        if holder.as_deref() != Some(config.identity.as_str()) {
            return Ok(Ours::HeldBy(holder));
        }
        held = current;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn who_may_take_a_lease() {
        let now = at("2026-03-01T12:00:00Z");
        let ago = |seconds: i64| Some(MicroTime(now - SignedDuration::from_secs(seconds)));
        let held = |holder: &str, until: &str| Claim::Held {
            holder: holder.into(),
            until: at(until),
        };
        let expired = |holder: &str| Claim::Expired {
            holder: holder.into(),
        };
        // (what, holderIdentity, renewTime, leaseDurationSeconds, claim)
        let cases = [
            ("no holder", None, ago(1), Some(15), Claim::Free),
            (
                "released: empty holder",
                Some(""),
                ago(0),
                Some(1),
                Claim::Free,
            ),
            ("ours", Some("me"), ago(1), Some(15), Claim::Ours),
            (
                "ours, even expired",
                Some("me"),
                ago(60),
                Some(15),
                Claim::Ours,
            ),
            (
                "another's, renewed 14 s ago",
                Some("other"),
                ago(14),
                Some(15),
                held("other", "2026-03-01T12:00:01Z"),
            ),
            (
                "another's, just at its end",
                Some("other"),
                ago(15),
                Some(15),
                expired("other"),
            ),
            (
                "another's, past its end",
                Some("other"),
                ago(16),
                Some(15),
                expired("other"),
            ),
            (
                "another's, renewed by a clock ahead",
                Some("other"),
                ago(-5),
                Some(15),
                held("other", "2026-03-01T12:00:20Z"),
            ),
            (
                "another's, no renewTime",
                Some("other"),
                None,
                Some(15),
                expired("other"),
            ),
            (
                "another's, no leaseDurationSeconds",
                Some("other"),
                ago(1),
                None,
                expired("other"),
            ),
            (
                "another's, zero duration",
                Some("other"),
                ago(0),
                Some(0),
                expired("other"),
            ),
            (
                "another's, negative duration",
                Some("other"),
                ago(0),
                Some(-15),
                expired("other"),
            ),
            (
                "another's, renewed at the end of time",
                Some("other"),
                Some(MicroTime(Timestamp::MAX)),
                Some(15),
                expired("other"),
            ),
        ];
        for (what, holder, renew_time, duration, want) in cases {
            let spec = LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                renew_time,
                lease_duration_seconds: duration,
                ..LeaseSpec::default()
            };
            assert_eq!(claim(Some(&spec), "me", now), want, "{what}");
        }
        assert_eq!(claim(None, "me", now), Claim::Free, "no spec at all");
    }

    #[test]
    fn defaults_are_client_go_s() {
        let config = LeaseConfig::new("ns", "operator", "pod-a");
        assert_eq!(config.lease_duration, Duration::from_secs(15));
        assert_eq!(config.renew_interval, Duration::from_secs(5));
        assert_eq!(config.retry_interval, Duration::from_secs(2));
        assert_eq!(config.renew_deadline(), Duration::from_secs(10));
        assert_eq!(config.lease_duration_seconds(), 15);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn lease_duration_seconds_round_up() {
        let config = LeaseConfig {
            lease_duration: Duration::from_millis(2500),
            ..LeaseConfig::new("ns", "operator", "pod-a")
        };
        assert_eq!(config.lease_duration_seconds(), 3);
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let base = || LeaseConfig {
            renew_interval: Duration::from_secs(1),
            ..LeaseConfig::new("ns", "operator", "pod-a")
        };
        let cases = [
            (
                "no identity",
                LeaseConfig {
                    identity: String::new(),
                    ..base()
                },
            ),
            (
                "no name",
                LeaseConfig {
                    name: String::new(),
                    ..base()
                },
            ),
            (
                "no namespace",
                LeaseConfig {
                    namespace: String::new(),
                    ..base()
                },
            ),
            (
                "under a second",
                LeaseConfig {
                    lease_duration: Duration::from_millis(900),
                    ..base()
                },
            ),
            (
                "more seconds than leaseDurationSeconds holds",
                LeaseConfig {
                    lease_duration: Duration::from_secs(1 << 31),
                    ..base()
                },
            ),
            (
                "renewing no sooner than the lease ends",
                LeaseConfig {
                    renew_interval: Duration::from_secs(15),
                    ..base()
                },
            ),
            (
                "never renewing",
                LeaseConfig {
                    renew_interval: Duration::ZERO,
                    ..base()
                },
            ),
            (
                "never retrying",
                LeaseConfig {
                    retry_interval: Duration::ZERO,
                    ..base()
                },
            ),
        ];
        for (what, config) in cases {
            let err = config.validate().expect_err(what);
            assert!(!err.is_transient(), "{what}");
        }
        assert!(base().validate().is_ok());
    }
}
