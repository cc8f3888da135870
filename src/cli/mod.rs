//! The commands people run against a cluster (`status`), beside the operator itself.
//!
//! They share [`connect`]: the kube client of `--kubeconfig` / `--context` and the
//! namespace a command acts in by default, chosen as `authorize` and `kubectl` choose it.

pub mod rotate;
pub mod status;

use std::path::Path;
use std::time::Duration;

/// A client for one command, with what it needs to explain itself.
#[derive(Clone)]
pub struct Kube {
    /// The client.
    pub client: kube::Client,
    /// The namespace of the kube context, else `default`.
    pub default_namespace: String,
    /// The API server's URL, for messages ("cannot reach https://...").
    pub server: String,
}

/// The client of `kubeconfig` (else `KUBECONFIG`, `~/.kube/config` or, in a pod, the
/// service account) and `context` (else the kubeconfig's current context). Each request
/// gives up after `timeout` (connecting, and waiting for an answer), so a command never
/// hangs on an unreachable server.
///
/// The files are read as [`crate::operator::kube_client`] reads them; this adds the
/// context, the timeouts and the URL. A context that the kubeconfig does not have is
/// refused with the ones it has.
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    timeout: Duration,
) -> Result<Kube, String> {
    let mut config = match context {
        None => match kubeconfig {
            Some(path) => from_file(read(path)?, None).await?,
            None => kube::Config::infer()
                .await
                .map_err(|e| format!("cannot load a kubeconfig: {e}"))?,
        },
        Some(context) => {
            let file = match kubeconfig {
                Some(path) => read(path)?,
                None => kube::config::Kubeconfig::read()
                    .map_err(|e| format!("cannot read the kubeconfig: {e}"))?,
            };
            if !file.contexts.iter().any(|c| c.name == context) {
                let known: Vec<&str> = file.contexts.iter().map(|c| c.name.as_str()).collect();
                return Err(format!(
                    "the kubeconfig has no context {context:?} (it has {known:?})"
                ));
            }
            from_file(file, Some(context)).await?
        }
    };
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    let default_namespace = config.default_namespace.clone();
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config)
        .map_err(|e| format!("cannot build a client for {server}: {e}"))?;
    Ok(Kube {
        client,
        default_namespace,
        server,
    })
}

/// A duration flag (Go syntax: `90s`, `2m`, `1h30m`), longer than zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = crate::api::GoDuration::new(text)
        .get()
        .map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be longer than 0s".into());
    }
    Ok(duration)
}

fn read(path: &Path) -> Result<kube::config::Kubeconfig, String> {
    kube::config::Kubeconfig::read_from(path)
        .map_err(|e| format!("cannot read the kubeconfig {}: {e}", path.display()))
}

async fn from_file(
    file: kube::config::Kubeconfig,
    context: Option<&str>,
) -> Result<kube::Config, String> {
    let options = kube::config::KubeConfigOptions {
        context: context.map(str::to_owned),
        ..Default::default()
    };
    kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(|e| format!("cannot use the kubeconfig: {e}"))
}

/// The error and its causes on one line: kube's errors put the useful part ("Connection
/// refused", "certificate expired") in their sources.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
