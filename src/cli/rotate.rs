//! `rotate` and `revoke`: a person asks the operator for one rotation, or for the
//! revocation of a leaked credential, through the token's annotations (honoured once per
//! value), and with `--wait` sees the outcome.
//!
//! Exit codes: 0 done (or asked, without `--wait`); 1 `--wait` ran out of time or the
//! operator reported a failure; 2 a usage or API error (no such token, no access).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::api::conditions::{READY, find};
use crate::api::keys::{REVOKE_ANNOTATION, REVOKE_HOLD_ANNOTATION, ROTATE_ANNOTATION};
use crate::api::{SnowflakeToken, SnowflakeTokenStatus};

/// How long each API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the command acts.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Namespace (default: the kube context's namespace, else `default`).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Kubeconfig file; by default `KUBECONFIG` or `~/.kube/config`.
    #[arg(long, env = "SFTO_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kube context (default: the kubeconfig's current context).
    #[arg(long)]
    pub context: Option<String>,
    /// Wait until the operator has done it, and print the outcome.
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits.
    #[arg(long, default_value = "2m", value_parser = super::parse_duration)]
    pub timeout: Duration,
}

/// Options of `rotate`.
#[derive(Args, Debug)]
pub struct RotateArgs {
    /// The SnowflakeToken (a PAT or key-pair token).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub name: Option<String>,
    /// Every PAT and key-pair token of the namespace.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub target: Target,
}

/// Options of `revoke`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The SnowflakeToken.
    pub name: String,
    /// Leave the token revoked (`Ready=False`, reason `Revoked`, no value minted) until
    /// the annotation `snowflake-token-operator.io/revoke-hold` is removed.
    #[arg(long)]
    pub no_replace: bool,
    #[command(flatten)]
    pub target: Target,
}

/// A failure with its exit code.
struct Failed(u8, String);

impl Failed {
    fn usage(message: impl Into<String>) -> Self {
        Self(2, message.into())
    }
}

/// `rotate`.
pub async fn rotate(args: RotateArgs) -> ExitCode {
    finish("rotate", rotate_inner(args).await)
}

/// `revoke`.
pub async fn revoke(args: RevokeArgs) -> ExitCode {
    finish("revoke", revoke_inner(args).await)
}

fn finish(command: &str, result: Result<(), Failed>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed(code, message)) => {
            eprintln!("snowflake-token-operator {command}: {message}");
            ExitCode::from(code)
        }
    }
}

async fn tokens_api(target: &Target) -> Result<(Api<SnowflakeToken>, String), Failed> {
    let kube = super::connect(
        target.kubeconfig.as_deref(),
        target.context.as_deref(),
        REQUEST_TIMEOUT,
    )
    .await
    .map_err(Failed::usage)?;
    let namespace = target
        .namespace
        .clone()
        .unwrap_or_else(|| kube.default_namespace.clone());
    Ok((Api::namespaced(kube.client, &namespace), namespace))
}

async fn get(api: &Api<SnowflakeToken>, ns: &str, name: &str) -> Result<SnowflakeToken, Failed> {
    api.get_opt(name)
        .await
        .map_err(|e| {
            Failed::usage(format!(
                "reading SnowflakeToken {ns}/{name}: {}",
                super::error_chain(&e)
            ))
        })?
        .ok_or_else(|| Failed::usage(format!("no SnowflakeToken {name} in namespace {ns}")))
}

/// A value no earlier request used: the time, to the millisecond.
fn request_value() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

async fn annotate(
    api: &Api<SnowflakeToken>,
    ns: &str,
    name: &str,
    annotations: serde_json::Value,
) -> Result<(), Failed> {
    let patch = json!({"metadata": {"annotations": annotations}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|e| {
            Failed::usage(format!(
                "annotating SnowflakeToken {ns}/{name}: {}",
                super::error_chain(&e)
            ))
        })
}

async fn rotate_inner(args: RotateArgs) -> Result<(), Failed> {
    let (api, ns) = tokens_api(&args.target).await?;
    let names = match &args.name {
        Some(name) => {
            let token = get(&api, &ns, name).await?;
            if token.spec.oauth.is_some() {
                return Err(Failed::usage(format!(
                    "SnowflakeToken {ns}/{name} is an OAuth token: its access token is refreshed every few minutes by itself; `snowflake-token-operator revoke {name} -n {ns}` deletes its refresh token"
                )));
            }
            vec![name.clone()]
        }
        None => {
            let all = api.list(&ListParams::default()).await.map_err(|e| {
                Failed::usage(format!(
                    "listing SnowflakeTokens in {ns}: {}",
                    super::error_chain(&e)
                ))
            })?;
            let names: Vec<String> = all
                .items
                .iter()
                .filter(|t| t.spec.oauth.is_none())
                .filter_map(|t| t.metadata.name.clone())
                .collect();
            if names.is_empty() {
                println!("no PAT or key-pair SnowflakeTokens in namespace {ns}");
                return Ok(());
            }
            names
        }
    };
    let value = request_value();
    for name in &names {
        annotate(&api, &ns, name, json!({ROTATE_ANNOTATION: value})).await?;
        println!("rotation requested: SnowflakeToken {ns}/{name} ({ROTATE_ANNOTATION}={value})");
    }
    if !args.target.wait {
        return Ok(());
    }
    let deadline = Instant::now() + args.target.timeout;
    let mut failed = Vec::new();
    for name in &names {
        let before = get(&api, &ns, name).await?.status.unwrap_or_default();
        let outcome = wait(&api, &ns, name, deadline, |s| {
            s.last_rotate_request.as_deref() == Some(value.as_str()) && ready(s) == Some(true)
        })
        .await;
        match outcome {
            Ok(after) => println!("rotated {ns}/{name}: {}", rotated(&before, &after)),
            Err(message) => failed.push(message),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failed(1, failed.join("\n")))
    }
}

/// "token T: new value expires E; the previous one stays valid until G" (for a key pair:
/// the new key, its slot, and when the previous key's slot is unset).
fn rotated(before: &SnowflakeTokenStatus, after: &SnowflakeTokenStatus) -> String {
    let at = |t: &Option<Time>| t.as_ref().map_or_else(|| "?".into(), |t| t.0.to_string());
    if let Some(fingerprint) = &after.public_key_fingerprint {
        let previous = match &after.previous_public_key_fingerprint {
            Some(previous) => format!(
                "; the previous key {previous} stays registered until {}",
                at(&after.previous_key_removal_time)
            ),
            None => "; no previous key stays registered".to_owned(),
        };
        return format!(
            "key pair of user {}: the new key {fingerprint} is in slot {} and in Secret {}{previous}",
            after.user_name.as_deref().unwrap_or("?"),
            after
                .public_key_slot
                .map_or_else(|| "?".into(), |s| s.to_string()),
            after.secret_name.as_deref().unwrap_or("?"),
        );
    }
    let token = after.token_name.as_deref().unwrap_or("?");
    format!(
        "token {token} of user {}: the new value expires {} and is in Secret {}; the previous value (expiring {}) is now {token}_ROTATED_<time> in Snowflake, valid for its grace period",
        after.user_name.as_deref().unwrap_or("?"),
        at(&after.expires_at),
        after.secret_name.as_deref().unwrap_or("?"),
        at(&before.expires_at),
    )
}

async fn revoke_inner(args: RevokeArgs) -> Result<(), Failed> {
    let (api, ns) = tokens_api(&args.target).await?;
    let name = args.name.as_str();
    let token = get(&api, &ns, name).await?;
    let oauth = token.spec.oauth.is_some();
    if oauth && args.no_replace {
        return Err(Failed::usage(
            "--no-replace is for PAT tokens: a revoked OAuth token stays revoked until a person runs `authorize`",
        ));
    }
    let value = request_value();
    let annotations = if args.no_replace {
        json!({REVOKE_ANNOTATION: value, REVOKE_HOLD_ANNOTATION: "true"})
    } else {
        json!({REVOKE_ANNOTATION: value})
    };
    annotate(&api, &ns, name, annotations).await?;
    println!("revocation requested: SnowflakeToken {ns}/{name} ({REVOKE_ANNOTATION}={value})");
    if !args.target.wait {
        return Ok(());
    }
    let deadline = Instant::now() + args.target.timeout;
    let done = |s: &SnowflakeTokenStatus| {
        s.last_revoke_request.as_deref() == Some(value.as_str())
            && if oauth {
                true
            } else if args.no_replace {
                find(&s.conditions, READY).is_some_and(|c| c.reason == "Revoked")
            } else {
                ready(s) == Some(true)
            }
    };
    let after = wait(&api, &ns, name, deadline, done)
        .await
        .map_err(|m| Failed(1, m))?;
    let token_name = after.token_name.as_deref().unwrap_or("?");
    let key_pair = token.spec.key_pair.is_some();
    let message = if oauth {
        format!(
            "the refresh token is deleted; the access token lapses within minutes; `snowflake-token-operator authorize {name} -n {ns}` authorizes anew"
        )
    } else if key_pair && args.no_replace {
        format!(
            "its public keys are unset in Snowflake; no new key until `kubectl annotate sftoken {name} -n {ns} {REVOKE_HOLD_ANNOTATION}-`"
        )
    } else if key_pair {
        format!(
            "its previous keys are unset in Snowflake; a new key {} is in Secret {}",
            after.public_key_fingerprint.as_deref().unwrap_or("?"),
            after.secret_name.as_deref().unwrap_or("?"),
        )
    } else if args.no_replace {
        format!(
            "token {token_name} and its rotated-out values are removed in Snowflake; no new value until `kubectl annotate sftoken {name} -n {ns} {REVOKE_HOLD_ANNOTATION}-`"
        )
    } else {
        let restarted = match token.spec.rollout_restart_targets.len() {
            0 => String::new(),
            n => format!(", its {n} restart target(s) restarted"),
        };
        format!(
            "token {token_name} and its rotated-out values are removed in Snowflake; a new value is in Secret {} (expires {}){restarted}",
            after.secret_name.as_deref().unwrap_or("?"),
            after
                .expires_at
                .as_ref()
                .map_or_else(|| "?".into(), |t| t.0.to_string())
        )
    };
    println!("revoked {ns}/{name}: {message}");
    Ok(())
}

fn ready(status: &SnowflakeTokenStatus) -> Option<bool> {
    find(&status.conditions, READY).map(|c| c.status == "True")
}

/// Polls the token until `done` holds for its status; else, at the deadline, says what the
/// token reports.
async fn wait(
    api: &Api<SnowflakeToken>,
    ns: &str,
    name: &str,
    deadline: Instant,
    done: impl Fn(&SnowflakeTokenStatus) -> bool,
) -> Result<SnowflakeTokenStatus, String> {
    loop {
        let status = api
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|t| t.status)
            .unwrap_or_default();
        if done(&status) {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let said = find(&status.conditions, READY).map_or_else(
                || "no Ready condition".to_owned(),
                |c| format!("Ready={} {}: {}", c.status, c.reason, c.message),
            );
            return Err(format!(
                "{ns}/{name}: not done in time (is the operator running?); the token says {said}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
