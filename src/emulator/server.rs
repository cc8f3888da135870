//! Serving the emulator: routers composed per face, a fault-injection middleware,
//! and an accept loop on hyper-util's auto (HTTP/1 + HTTP/2) builder where a handler
//! can ask its own connection to be dropped (the "executed, but the answer was lost"
//! fault). Graceful shutdown drains open connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use super::config::{ConfigError, EmulatorConfig};
use super::faults::{ConnectionControl, FaultKind, FaultSpec, InjectedFault, Matched};
use super::handle::Emulator;
use super::state::StateSnapshot;
use super::statements::RequestLogEntry;
use super::{admin, driver, oauth_http, sqlapi, wire};

/// How long shutdown waits for open connections.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Mount `/_emulator/` (faults, clock, state). Off for demos.
    pub test_endpoints: bool,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Every face of the emulator: SQL API, driver protocol, OAuth, and (for tests) admin.
pub fn faces(test_endpoints: bool) -> Router<Emulator> {
    let mut router = sqlapi::router()
        .merge(driver::router())
        .merge(oauth_http::router());
    if test_endpoints {
        router = router.merge(admin::router());
    }
    router
}

/// The complete application for `emulator`.
pub fn app(emulator: &Emulator, test_endpoints: bool) -> Router {
    faces(test_endpoints)
        .layer(middleware::from_fn_with_state(
            emulator.clone(),
            apply_faults,
        ))
        .layer(middleware::from_fn_with_state(
            emulator.clone(),
            count_submits,
        ))
        .with_state(emulator.clone())
}

/// Counts `POST /api/v2/statements` in flight and answered (faults included), for
/// [`super::stats`].
async fn count_submits(State(emulator): State<Emulator>, request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::POST || request.uri().path() != "/api/v2/statements"
    {
        return next.run(request).await;
    }
    let credential = request
        .headers()
        .get("x-snowflake-authorization-token-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("OAUTH")
        .to_ascii_uppercase();
    /// Ends the count also when the client goes away before the answer (the future is
    /// dropped), so nothing stays "in flight" for ever; such a submit counts as status 0.
    struct InFlight {
        emulator: Emulator,
        credential: String,
        status: u16,
    }
    impl Drop for InFlight {
        fn drop(&mut self) {
            self.emulator.stats().end(&self.credential, self.status);
        }
    }
    emulator.stats().begin(&credential);
    let mut in_flight = InFlight {
        emulator,
        credential,
        status: 0,
    };
    let response = next.run(request).await;
    in_flight.status = response.status().as_u16();
    response
}

/// Applies queued faults to requests outside `/_emulator/`.
async fn apply_faults(
    State(emulator): State<Emulator>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with("/_emulator/") {
        return next.run(request).await;
    }
    let token_type = request
        .headers()
        .get("x-snowflake-authorization-token-type")
        .and_then(|v| v.to_str().ok());
    let fault = emulator.faults().take(Matched {
        method: request.method().as_str(),
        path: &path,
        token_type,
    });
    match fault {
        None => next.run(request).await,
        Some(FaultKind::TooManyRequests { retry_after_secs }) => {
            tracing::info!(%path, "fault: 429");
            wire::too_many_requests(retry_after_secs)
        }
        Some(FaultKind::ServiceUnavailable) => {
            tracing::info!(%path, "fault: 503");
            wire::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "390503",
                "Service Unavailable.",
            )
        }
        Some(FaultKind::InternalServerError) => {
            tracing::info!(%path, "fault: 500");
            wire::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "390500",
                "Internal error.",
            )
        }
        Some(FaultKind::Latency { ms }) => {
            // The request is served at once and only its answer is late, so a client
            // that gives up and resends meets the first execution's result: the slow
            // answer behind a client timeout, without a race between original and resend.
            tracing::info!(%path, ms, "fault: added latency");
            let response = next.run(request).await;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            response
        }
        Some(FaultKind::Stall { ms }) => {
            tracing::info!(%path, ms, "fault: stalled, then 503 without serving");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            wire::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "390503",
                "Service Unavailable.",
            )
        }
        Some(kind) => {
            request.extensions_mut().insert(InjectedFault(kind));
            next.run(request).await
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct RunningEmulator {
    emulator: Emulator,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    /// `None` once the server task has been awaited.
    task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Builds an emulator from `config` and serves it.
    pub async fn start(
        config: EmulatorConfig,
        options: ServeOptions,
    ) -> Result<RunningEmulator, ServeError> {
        let emulator = Emulator::new(&config)?;
        emulator.serve(options).await
    }

    /// Serves this emulator on `options.listen` (port 0 picks a free port).
    pub async fn serve(&self, options: ServeOptions) -> Result<RunningEmulator, ServeError> {
        let listener =
            TcpListener::bind(options.listen)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: options.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let router = app(self, options.test_endpoints);
        let task = tokio::spawn(accept_loop(listener, router, shutdown_rx));
        tracing::info!(%addr, test_endpoints = options.test_endpoints, "Snowflake emulator listening");
        Ok(RunningEmulator {
            emulator: self.clone(),
            addr,
            shutdown,
            task: Some(task),
        })
    }
}

async fn accept_loop(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let control = ConnectionControl::default();
        let service_control = control.clone();
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(service_control.clone());
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let router = router.clone();
                async move {
                    let response = router.oneshot(request.map(axum::body::Body::new)).await;
                    Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
                }
            });
        let connection = Builder::new(TokioExecutor::new())
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                }
                _ = control.dropped() => {
                    tracing::debug!(%peer, "connection dropped on purpose");
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("emulator shutdown: connections still open after the drain timeout");
    }
}

/// Dropping a running emulator stops its accept loop (without waiting for it).
impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl RunningEmulator {
    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared handle (clock, state, faults, direct SQL execution).
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// Moves the emulated clock.
    pub fn advance_clock(&self, by: jiff::SignedDuration) {
        self.emulator.clock().advance(by);
    }

    pub fn inject_fault(&self, spec: FaultSpec) {
        self.emulator.inject_fault(spec);
    }

    pub fn snapshot(&self) -> StateSnapshot {
        self.emulator.snapshot()
    }

    pub fn request_log(&self) -> Vec<RequestLogEntry> {
        self.emulator.request_log()
    }

    /// Stops accepting, drains open connections, and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "emulator server task failed");
        }
    }

    /// Waits until the server stops (it only stops through [`RunningEmulator::shutdown`]
    /// or a panic); for the CLI, which selects this against signals.
    pub async fn wait(&mut self) {
        let Some(task) = self.task.as_mut() else {
            return;
        };
        let result = task.await;
        self.task = None;
        if let Err(e) = result {
            tracing::warn!(error = %e, "emulator server task failed");
        }
    }
}
