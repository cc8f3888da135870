//! Prometheus metrics and the `/metrics`, `/healthz`, `/readyz` endpoints.
//!
//! Every label is bounded: kinds, controllers, categories and outcomes are closed sets;
//! per-object series (`namespace`, `name`) exist once per resource and are removed when
//! the resource goes, so 10,000 tokens are 10,000 series per family, never more.
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `snowflake_token_expiry_timestamp_seconds` | namespace, name, type | when the credential in the Secret expires |
//! | `snowflake_token_renewal_timestamp_seconds` | namespace, name, type | when the operator renews it |
//! | `snowflake_token_refresh_token_expiry_timestamp_seconds` | namespace, name, type | OAuth: when the refresh token expires (a person must authorize again before) |
//! | `snowflake_resource_ready` | kind, namespace, name | 1 when `Ready=True`, else 0 |
//! | `snowflake_token_rotations_total` | type, cause | new values written (minted, rotated, replaced) |
//! | `snowflake_operator_failures_total` | controller, category | failed reconciles by bounded category |
//! | `snowflake_requests_total` | operation, outcome | Snowflake requests (outcome `ok` or an error category) |
//! | `snowflake_request_duration_seconds` | operation | their latency |
//! | `snowflake_operator_reconcile_duration_seconds` | controller | reconcile latency |
//! | `snowflake_operator_reconciles_total` | controller, result | reconciles (`ok`, `failed`) |

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A resource: kind, namespace, name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    /// `SnowflakeConnection`, `SnowflakeServiceUser` or `SnowflakeToken`.
    pub kind: &'static str,
    /// Namespace of the resource.
    pub namespace: String,
    /// Name of the resource.
    pub name: String,
}

/// A token and its credential type.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// Namespace of the SnowflakeToken.
    pub namespace: String,
    /// Name of the SnowflakeToken.
    pub name: String,
    /// `ProgrammaticAccessToken`, `OAuth` or `KeyPair`.
    pub r#type: &'static str,
}

/// Why a new value was written.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RotationLabels {
    /// `ProgrammaticAccessToken`, `OAuth` or `KeyPair`.
    pub r#type: &'static str,
    /// A bounded cause (`Minted`, `Due`, `Requested`, `SecretRepaired`, ...).
    pub cause: &'static str,
}

/// A failure of one controller, by category.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// `connection`, `serviceuser` or `token`.
    pub controller: &'static str,
    /// The bounded error category (also the condition and event reason).
    pub category: &'static str,
}

/// A Snowflake request and its outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The operation (`verify_identity`, `add_pat`, `rotate_pat`, ...).
    pub operation: &'static str,
    /// `ok`, or the error category.
    pub outcome: &'static str,
}

/// A Snowflake operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// The operation.
    pub operation: &'static str,
}

/// A controller.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// `connection`, `serviceuser` or `token`.
    pub controller: &'static str,
}

/// A controller and the result of a reconcile.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// `connection`, `serviceuser` or `token`.
    pub controller: &'static str,
    /// `ok` or `failed`.
    pub result: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 5 ms .. ~41 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The operator's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    token_expiry: Family<TokenLabels, Gauge>,
    token_renewal: Family<TokenLabels, Gauge>,
    refresh_token_expiry: Family<TokenLabels, Gauge>,
    ready: Family<ObjectLabels, Gauge>,
    rotations: Family<RotationLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<OperationLabels>,
    reconcile_duration: HistogramFamily<ControllerLabels>,
    reconciles: Family<ReconcileLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every family.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let token_expiry = Family::<TokenLabels, Gauge>::default();
        registry.register(
            "snowflake_token_expiry_timestamp_seconds",
            "When the credential in the token's Secret expires (Unix time)",
            token_expiry.clone(),
        );
        let token_renewal = Family::<TokenLabels, Gauge>::default();
        registry.register(
            "snowflake_token_renewal_timestamp_seconds",
            "When the operator renews the token's credential (Unix time)",
            token_renewal.clone(),
        );
        let refresh_token_expiry = Family::<TokenLabels, Gauge>::default();
        registry.register(
            "snowflake_token_refresh_token_expiry_timestamp_seconds",
            "OAuth: when the refresh token expires and a person must authorize again (Unix time)",
            refresh_token_expiry.clone(),
        );
        let ready = Family::<ObjectLabels, Gauge>::default();
        registry.register(
            "snowflake_resource_ready",
            "1 when the resource's Ready condition is True, else 0",
            ready.clone(),
        );
        let rotations = Family::<RotationLabels, Counter>::default();
        registry.register(
            "snowflake_token_rotations",
            "New credential values written into Secrets, by cause",
            rotations.clone(),
        );
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "snowflake_operator_failures",
            "Failed reconciles, by controller and error category",
            failures.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "snowflake_requests",
            "Snowflake operations, by outcome (ok or the error category)",
            requests.clone(),
        );
        let request_duration: HistogramFamily<OperationLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "snowflake_request_duration_seconds",
            "Latency of Snowflake operations, retries included",
            request_duration.clone(),
        );
        let reconcile_duration: HistogramFamily<ControllerLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "snowflake_operator_reconcile_duration_seconds",
            "Duration of one reconcile",
            reconcile_duration.clone(),
        );
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "snowflake_operator_reconciles",
            "Reconciles, by controller and result",
            reconciles.clone(),
        );
        Self {
            registry,
            token_expiry,
            token_renewal,
            refresh_token_expiry,
            ready,
            rotations,
            failures,
            requests,
            request_duration,
            reconcile_duration,
            reconciles,
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Sets a resource's ready gauge.
    pub fn set_ready(&self, kind: &'static str, namespace: &str, name: &str, ready: bool) {
        self.ready
            .get_or_create(&ObjectLabels {
                kind,
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
            .set(i64::from(ready));
    }

    /// Sets a token's expiry and renewal times (`None` removes the series).
    pub fn set_token_times(
        &self,
        labels: &TokenLabels,
        expires_at: Option<jiff::Timestamp>,
        renewal_at: Option<jiff::Timestamp>,
        refresh_token_expires_at: Option<jiff::Timestamp>,
    ) {
        for (family, at) in [
            (&self.token_expiry, expires_at),
            (&self.token_renewal, renewal_at),
            (&self.refresh_token_expiry, refresh_token_expires_at),
        ] {
            match at {
                Some(at) => {
                    family.get_or_create(labels).set(at.as_second());
                }
                None => {
                    family.remove(labels);
                }
            }
        }
    }

    /// Removes every series of a deleted resource.
    pub fn forget(&self, kind: &'static str, namespace: &str, name: &str) {
        self.ready.remove(&ObjectLabels {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        });
        if kind == "SnowflakeToken" {
            for type_ in ["ProgrammaticAccessToken", "OAuth", "KeyPair"] {
                let labels = TokenLabels {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    r#type: type_,
                };
                self.token_expiry.remove(&labels);
                self.token_renewal.remove(&labels);
                self.refresh_token_expiry.remove(&labels);
            }
        }
    }

    /// Counts a new value written into a Secret.
    pub fn rotated(&self, type_: &'static str, cause: &'static str) {
        self.rotations
            .get_or_create(&RotationLabels {
                r#type: type_,
                cause,
            })
            .inc();
    }

    /// Counts a failed reconcile.
    pub fn failed(&self, controller: &'static str, category: &'static str) {
        self.failures
            .get_or_create(&FailureLabels {
                controller,
                category,
            })
            .inc();
    }

    /// Records one Snowflake operation.
    pub fn snowflake_request(&self, operation: &'static str, outcome: &'static str, took: f64) {
        self.requests
            .get_or_create(&RequestLabels { operation, outcome })
            .inc();
        self.request_duration
            .get_or_create(&OperationLabels { operation })
            .observe(took);
    }

    /// Records one reconcile.
    pub fn reconciled(&self, controller: &'static str, ok: bool, started: Instant) {
        self.reconcile_duration
            .get_or_create(&ControllerLabels { controller })
            .observe(started.elapsed().as_secs_f64());
        self.reconciles
            .get_or_create(&ReconcileLabels {
                controller,
                result: if ok { "ok" } else { "failed" },
            })
            .inc();
    }
}

/// Liveness and readiness, shared by the controllers and the HTTP endpoints.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
}

impl Health {
    /// Marks the process ready (caches synced, or standing by for the lease).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Endpoints {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// `/metrics`, `/healthz` and `/readyz`.
pub fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(serve_ready))
        .with_state(Endpoints { metrics, health })
}

async fn serve_metrics(State(state): State<Endpoints>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn serve_ready(State(state): State<Endpoints>) -> impl IntoResponse {
    if state.health.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_of_a_deleted_token_are_removed() {
        let metrics = Metrics::new();
        let labels = TokenLabels {
            namespace: "bi".into(),
            name: "pbi".into(),
            r#type: "ProgrammaticAccessToken",
        };
        let at = jiff::Timestamp::from_second(1_800_000_000).expect("timestamp");
        metrics.set_token_times(&labels, Some(at), Some(at), None);
        metrics.set_ready("SnowflakeToken", "bi", "pbi", true);
        let text = metrics.encode();
        assert!(text.contains(
            r#"snowflake_token_expiry_timestamp_seconds{namespace="bi",name="pbi",type="ProgrammaticAccessToken"} 1800000000"#
        ), "{text}");
        assert!(text.contains(
            r#"snowflake_resource_ready{kind="SnowflakeToken",namespace="bi",name="pbi"} 1"#
        ));
        metrics.forget("SnowflakeToken", "bi", "pbi");
        let text = metrics.encode();
        assert!(!text.contains(r#"name="pbi""#), "{text}");
    }
}
