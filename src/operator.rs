//! `snowflake-token-operator run`: the process around the controllers: Kubernetes client,
//! `/metrics` and probe endpoints, optional leader election, signals.
//!
//! Lifecycle:
//! - the probe and metrics servers start first; `/readyz` answers 200 once the caches are
//!   synced, or at once while standing by for the lease (a standby replica is healthy);
//! - with leader election, only the Lease holder runs the controllers; a holder that
//!   loses the Lease exits (status 1) so that it never reconciles beside the new holder;
//! - `SIGTERM`/`SIGINT` stops the controllers after their running reconciles, releases the
//!   Lease and exits 0; `SIGHUP` reconciles everything now.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::controller::leader::{LeaderElector, LeaseConfig};
use crate::controller::{self, Config};
use crate::metrics::{self, Health, Metrics};

/// Settings of the process.
#[derive(Debug)]
pub struct RunOptions {
    /// The controllers' settings.
    pub controller: Config,
    /// Where `/metrics` is served.
    pub metrics_addr: SocketAddr,
    /// Where `/healthz` and `/readyz` are served (may equal `metrics_addr`).
    pub health_addr: SocketAddr,
    /// Leader election, when two replicas run.
    pub lease: Option<LeaseConfig>,
}

/// Why the process stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The Kubernetes client could not be configured.
    #[error("cannot configure the Kubernetes client: {0}")]
    Kubeconfig(String),
    /// An endpoint could not listen.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The lease could not be acquired.
    #[error("leader election failed: {0}")]
    Leader(#[from] controller::leader::LeaderError),
    /// This replica lost the lease: another one reconciles now.
    #[error("lost the leader lease: {0:?}")]
    LostLease(controller::leader::Lost),
}

/// Builds the Kubernetes client: `kubeconfig` when given, else `KUBECONFIG`, the default
/// file or the in-cluster service account.
pub async fn kube_client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client, RunError> {
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| RunError::Kubeconfig(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| RunError::Kubeconfig(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| RunError::Kubeconfig(e.to_string()))?,
    };
    kube::Client::try_from(config).map_err(|e| RunError::Kubeconfig(e.to_string()))
}

async fn serve(addr: SocketAddr, router: axum::Router) -> Result<(), RunError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Listen { addr, source })?;
    tracing::info!(%addr, "serving");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(%addr, error = %e, "endpoint server stopped");
        }
    });
    Ok(())
}

/// Runs until a signal (Ok) or a lost lease (Err).
pub async fn run(client: kube::Client, options: RunOptions) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    if options.metrics_addr == options.health_addr {
        serve(
            options.metrics_addr,
            metrics::router(metrics.clone(), health.clone()),
        )
        .await?;
    } else {
        serve(
            options.metrics_addr,
            metrics::router(metrics.clone(), health.clone()),
        )
        .await?;
        serve(
            options.health_addr,
            metrics::router(metrics.clone(), health.clone()),
        )
        .await?;
    }
    let mut shutdown = std::pin::pin!(shutdown_signal());
    let leadership = match &options.lease {
        Some(lease) => {
            // A standby replica is ready: it is healthy and waiting for its turn.
            health.set_ready(true);
            tracing::info!(lease = %lease.name, namespace = %lease.namespace, identity = %lease.identity, "waiting for the leader lease");
            let elector = LeaderElector::new(client.clone(), lease.clone());
            tokio::select! {
                acquired = elector.acquire() => Some(acquired?),
                () = &mut shutdown => return Ok(()),
            }
        }
        None => None,
    };
    let running = controller::start(client, options.controller, metrics, health);
    let mut hangup = hangup_signal();
    let outcome = match leadership {
        Some(mut leadership) => {
            let result = loop {
                tokio::select! {
                    () = &mut shutdown => break Ok(()),
                    lost = leadership.lost() => break Err(lost),
                    Some(()) = hangup.recv() => running.resync(),
                }
            };
            match result {
                Ok(()) => {
                    running.stop().await;
                    leadership.release().await;
                    Ok(())
                }
                Err(lost) => {
                    // Another replica may already reconcile: stop at once, without
                    // waiting for running reconciles.
                    Err(RunError::LostLease(lost))
                }
            }
        }
        None => {
            loop {
                tokio::select! {
                    () = &mut shutdown => break,
                    Some(()) = hangup.recv() => running.resync(),
                }
            }
            running.stop().await;
            Ok(())
        }
    };
    tracing::info!("stopped");
    outcome
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// A channel that yields on every SIGHUP (never, where signals do not exist).
fn hangup_signal() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            if tx.send(()).await.is_err() {
                break;
            }
        }
    });
    #[cfg(not(unix))]
    drop(tx);
    rx
}
