//! `snowflake-token-operator status`: the state of every SnowflakeConnection,
//! SnowflakeServiceUser and SnowflakeToken in scope, most urgent first, with an exit code
//! for scripts and CI (like cert-manager's `cmctl status`).
//!
//! It only lists the three kinds (`list` on them is all the RBAC it needs) and reads
//! their `status`: it never reads a Secret, so it can print nothing secret.
//!
//! The decisions (what needs attention, the order, the exit code, the layout) are pure
//! functions of the rows and `now`, tested with tables below; [`run`] does the IO.
//!
//! Exit codes: 0 when everything in scope is Ready and nothing expires within
//! `--warn-within` (also when nothing is found); 1 when something needs attention (not
//! Ready, a PAT or an OAuth refresh token expiring within the window or already expired,
//! a PAT rotation blocked by the token limit), or when `NAME` was given and no object has
//! that name; 2 on a usage error, or when the cluster cannot be asked (kubeconfig,
//! network, authentication, RBAC, CRDs not installed).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use jiff::Timestamp;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::conditions::{READY, STATUS_TRUE, find};
use crate::api::{CredentialKind, SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken};
use crate::controller::token::pat::ROTATION_BLOCKED;

/// Options of `status`.
#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// Show only objects of this name (of any of the three kinds); exits 1 when there is
    /// none.
    pub name: Option<String>,
    /// The namespace (default: the kube context's namespace, else `default`).
    #[arg(long, short = 'n', conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// All namespaces.
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,
    /// Output format: `table` for people (relative times), `wide` (every field, RFC 3339
    /// times, the full message), `json` or `yaml` (a list of objects, for scripts).
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Exit 1 when a PAT, or an OAuth token's refresh token, expires within this window
    /// (a Go duration such as `72h`, `90m`; or days such as `7d`; `0s`: only what has
    /// expired). An OAuth access token's own expiry (minutes) never counts.
    #[arg(long, default_value = "72h", value_parser = parse_window, value_name = "DURATION")]
    pub warn_within: Duration,
    /// Kubeconfig file; by default `KUBECONFIG`, `~/.kube/config` or, in a pod, the
    /// service account.
    #[arg(long, env = "SFTO_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Give up on the API server after this long (connecting, or waiting for an answer).
    #[arg(long, default_value = "30s", value_parser = parse_timeout, value_name = "DURATION")]
    pub request_timeout: Duration,
}

/// How `status` prints.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Compact columns for people: relative times, the message cut to the width.
    Table,
    /// Every column: last rotation, Secret, RFC 3339 times, the whole message.
    Wide,
    /// A JSON list of objects (see the README for the fields).
    Json,
    /// The same list as YAML.
    Yaml,
}

/// `--warn-within`: a Go duration, or whole days (`7d`); zero is allowed.
fn parse_window(text: &str) -> Result<Duration, String> {
    if let Some(days) = text.strip_suffix('d')
        && let Ok(days) = days.parse::<u64>()
    {
        return days
            .checked_mul(86_400)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{text} is too long"));
    }
    crate::api::GoDuration::new(text)
        .get()
        .map_err(|e| e.to_string())
}

/// `--request-timeout`: a Go duration longer than zero.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = parse_window(text)?;
    if duration.is_zero() {
        return Err("must be longer than 0s".into());
    }
    Ok(duration)
}

/// The three kinds, in dependency order (the order of ties in the output).
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A SnowflakeConnection.
    #[serde(rename = "SnowflakeConnection")]
    Connection,
    /// A SnowflakeServiceUser.
    #[serde(rename = "SnowflakeServiceUser")]
    ServiceUser,
    /// A SnowflakeToken.
    #[serde(rename = "SnowflakeToken")]
    Token,
}

impl Kind {
    /// The kind as in manifests (`SnowflakeToken`).
    pub fn full(self) -> &'static str {
        match self {
            Self::Connection => "SnowflakeConnection",
            Self::ServiceUser => "SnowflakeServiceUser",
            Self::Token => "SnowflakeToken",
        }
    }

    /// The kind without the common prefix, for the narrow table (`Token`).
    pub fn short(self) -> &'static str {
        match self {
            Self::Connection => "Connection",
            Self::ServiceUser => "ServiceUser",
            Self::Token => "Token",
        }
    }

    /// The resource's plural, as RBAC rules name it.
    fn plural(self) -> &'static str {
        match self {
            Self::Connection => "snowflakeconnections",
            Self::ServiceUser => "snowflakeserviceusers",
            Self::Token => "snowflaketokens",
        }
    }
}

/// The kind of credential of a token, as the output names it.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    /// A programmatic access token.
    #[serde(rename = "PAT")]
    Pat,
    /// A Snowflake OAuth access token.
    OAuth,
    /// An RSA key pair (keys do not expire: no deadline).
    KeyPair,
}

impl TokenType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pat => "PAT",
            Self::OAuth => "OAuth",
            Self::KeyPair => "KeyPair",
        }
    }
}

/// A condition other than `Ready` that holds (`RotationBlocked`,
/// `RefreshTokenExpiringSoon`): the operator warns about something ahead.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The condition's type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Its reason.
    pub reason: String,
    /// Its message.
    pub message: String,
}

/// One object, as `-o json` and `-o yaml` print it. Every key is always present (`null`
/// when unknown or not applicable), so scripts can rely on the shape.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The object's namespace.
    pub namespace: String,
    /// `SnowflakeConnection`, `SnowflakeServiceUser` or `SnowflakeToken`.
    pub kind: Kind,
    /// The object's name.
    pub name: String,
    /// The `Ready` condition's status: `True`, `False`, or `Unknown` (also when the
    /// operator has not written one yet).
    pub ready: String,
    /// The `Ready` condition's reason.
    pub reason: Option<String>,
    /// The `Ready` condition's message (it names the fix when not Ready).
    pub message: Option<String>,
    /// Tokens: `PAT` or `OAuth`.
    pub credential_type: Option<TokenType>,
    /// The Snowflake user: the connection's admin user, the service user, or the user
    /// the token's credential belongs to.
    pub user: Option<String>,
    /// Tokens: when the credential in the Secret expires (OAuth: the access token).
    pub expires_at: Option<Timestamp>,
    /// Tokens: the next rotation (PAT) or refresh (OAuth), `status.renewalTime`.
    pub renewal_time: Option<Timestamp>,
    /// Tokens: when the credential was last minted, rotated or refreshed.
    pub last_rotation_time: Option<Timestamp>,
    /// Tokens: the Secret the credential is written to.
    pub secret_name: Option<String>,
    /// OAuth tokens: when the refresh token expires (a person must authorize again).
    pub refresh_token_expires_at: Option<Timestamp>,
    /// Other conditions that hold.
    pub warnings: Vec<Warning>,
    /// Whether this object counts towards exit code 1.
    pub needs_attention: bool,
    /// Why, in words (with relative times: for people, not for parsing).
    pub attention: Vec<String>,
}

/// Status, reason and message of the `Ready` condition.
fn ready_of(conditions: &[Condition]) -> (String, Option<String>, Option<String>) {
    match find(conditions, READY) {
        Some(c) => (
            c.status.clone(),
            Some(c.reason.clone()).filter(|r| !r.is_empty()),
            Some(c.message.clone()).filter(|m| !m.is_empty()),
        ),
        None => ("Unknown".into(), None, None),
    }
}

fn warnings_of(conditions: &[Condition]) -> Vec<Warning> {
    conditions
        .iter()
        .filter(|c| c.type_ != READY && c.status == STATUS_TRUE)
        .map(|c| Warning {
            type_: c.type_.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
        })
        .collect()
}

fn at(time: Option<&Time>) -> Option<Timestamp> {
    time.map(|t| t.0)
}

fn base_row(kind: Kind, meta: &impl ResourceExt, conditions: &[Condition]) -> Row {
    let (ready, reason, message) = ready_of(conditions);
    Row {
        namespace: meta.namespace().unwrap_or_default(),
        kind,
        name: meta.name_any(),
        ready,
        reason,
        message,
        credential_type: None,
        user: None,
        expires_at: None,
        renewal_time: None,
        last_rotation_time: None,
        secret_name: None,
        refresh_token_expires_at: None,
        warnings: warnings_of(conditions),
        needs_attention: false,
        attention: Vec::new(),
    }
}

/// The row of a connection: its admin user.
pub fn connection_row(connection: &SnowflakeConnection) -> Row {
    let conditions = connection
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    Row {
        user: Some(connection.spec.admin_user()),
        ..base_row(Kind::Connection, connection, conditions)
    }
}

/// The row of a service user: the user's name in Snowflake.
pub fn service_user_row(user: &SnowflakeServiceUser) -> Row {
    let status = user.status.as_ref();
    let conditions = status.map(|s| s.conditions.as_slice()).unwrap_or_default();
    Row {
        user: Some(
            status
                .and_then(|s| s.user_name.clone())
                .unwrap_or_else(|| user.snowflake_user_name()),
        ),
        ..base_row(Kind::ServiceUser, user, conditions)
    }
}

/// The row of a token: what its status records (the spec fills in what a token never
/// reconciled yet already says: its type, user name and Secret).
pub fn token_row(token: &SnowflakeToken) -> Row {
    let status = token.status.as_ref();
    let conditions = status.map(|s| s.conditions.as_slice()).unwrap_or_default();
    let kind = status
        .and_then(|s| s.credential_type)
        .or_else(|| token.spec.kind_of_credential())
        .map(|k| match k {
            CredentialKind::ProgrammaticAccessToken => TokenType::Pat,
            CredentialKind::OAuth => TokenType::OAuth,
            CredentialKind::KeyPair => TokenType::KeyPair,
        });
    Row {
        credential_type: kind,
        user: status
            .and_then(|s| s.user_name.clone())
            .or_else(|| token.explicit_user_name()),
        expires_at: status.and_then(|s| at(s.expires_at.as_ref())),
        renewal_time: status.and_then(|s| at(s.renewal_time.as_ref())),
        last_rotation_time: status.and_then(|s| at(s.last_rotation_time.as_ref())),
        secret_name: Some(
            status
                .and_then(|s| s.secret_name.clone())
                .unwrap_or_else(|| token.secret_name()),
        ),
        refresh_token_expires_at: status.and_then(|s| at(s.refresh_token_expires_at.as_ref())),
        ..base_row(Kind::Token, token, conditions)
    }
}

/// The expiry that counts for `--warn-within`: a PAT's, an OAuth refresh token's (never
/// the OAuth access token's, which lives minutes and is refreshed by the operator).
pub fn deadline(row: &Row) -> Option<Timestamp> {
    match (row.kind, row.credential_type) {
        (Kind::Token, Some(TokenType::OAuth)) => row.refresh_token_expires_at,
        (Kind::Token, _) => row.expires_at,
        _ => None,
    }
}

/// Why `row` needs attention at `now`, given the `window` of `--warn-within`; empty
/// when it does not.
pub fn assess(row: &Row, now: Timestamp, window: Duration) -> Vec<String> {
    let mut why = Vec::new();
    if row.ready != STATUS_TRUE {
        why.push(match &row.reason {
            Some(reason) => format!("not Ready ({reason})"),
            None => "no status yet (is the operator running?)".to_owned(),
        });
    }
    for warning in row.warnings.iter().filter(|w| w.type_ == ROTATION_BLOCKED) {
        why.push(format!("rotation blocked ({})", warning.reason));
    }
    if let Some(deadline) = deadline(row)
        && within(now, deadline, window)
    {
        let when = if deadline <= now {
            format!("expired {}", relative(now, deadline))
        } else {
            format!("expires {}", relative(now, deadline))
        };
        why.push(if row.credential_type == Some(TokenType::OAuth) {
            format!(
                "refresh token {when}: run snowflake-token-operator authorize -n {} {}",
                row.namespace, row.name
            )
        } else {
            when
        });
    }
    why
}

/// Whether `deadline` is at most `window` after `now` (or already past).
fn within(now: Timestamp, deadline: Timestamp, window: Duration) -> bool {
    let left = deadline.as_second().saturating_sub(now.as_second());
    left <= i64::try_from(window.as_secs()).unwrap_or(i64::MAX)
}

/// Fills in `needs_attention` and `attention` of every row, and sorts them: not Ready
/// first, then the soonest deadline (PAT expiry, OAuth refresh-token expiry; none last),
/// then namespace, kind and name.
pub fn assess_and_sort(rows: &mut [Row], now: Timestamp, window: Duration) {
    for row in rows.iter_mut() {
        row.attention = assess(row, now, window);
        row.needs_attention = !row.attention.is_empty();
    }
    rows.sort_by(|a, b| {
        let key = |r: &Row| {
            (
                r.ready == STATUS_TRUE,
                deadline(r).map_or((1, Timestamp::MIN), |d| (0, d)),
            )
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| a.namespace.cmp(&b.namespace))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// The exit code: 1 when a row needs attention, or when `NAME` was given and nothing was
/// found; else 0.
pub fn exit_code(rows: &[Row], name_given: bool) -> u8 {
    if rows.is_empty() {
        return u8::from(name_given);
    }
    u8::from(rows.iter().any(|r| r.needs_attention))
}

/// `at` relative to `now` for people: `in 3d4h`, `2h ago`, `in 8m12s`, `now`. The two
/// largest units, rounded down.
pub fn relative(now: Timestamp, at: Timestamp) -> String {
    let seconds = at.as_second().saturating_sub(now.as_second());
    match seconds.cmp(&0) {
        std::cmp::Ordering::Equal => "now".to_owned(),
        std::cmp::Ordering::Greater => format!("in {}", span(seconds.unsigned_abs())),
        std::cmp::Ordering::Less => format!("{} ago", span(seconds.unsigned_abs())),
    }
}

/// A span of seconds in its two largest units: `3d4h`, `3d`, `2h5m`, `8m12s`, `42s`.
pub fn span(seconds: u64) -> String {
    let (days, hours) = (seconds / 86_400, seconds % 86_400 / 3_600);
    let (minutes, secs) = (seconds % 3_600 / 60, seconds % 60);
    let pair = |big: u64, a: &str, small: u64, b: &str| {
        if small == 0 {
            format!("{big}{a}")
        } else {
            format!("{big}{a}{small}{b}")
        }
    };
    if days > 0 {
        pair(days, "d", hours, "h")
    } else if hours > 0 {
        pair(hours, "h", minutes, "m")
    } else if minutes > 0 {
        pair(minutes, "m", secs, "s")
    } else {
        format!("{secs}s")
    }
}

/// The width the table is cut to: `COLUMNS` when set, else 120.
pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c: &usize| c >= 40)
        .unwrap_or(DEFAULT_WIDTH)
}

/// The width of the table when `COLUMNS` is not set.
pub const DEFAULT_WIDTH: usize = 120;
/// The message keeps at least this many characters, even past the width.
const MIN_MESSAGE: usize = 20;

const NONE: &str = "-";

fn cell(value: Option<&str>) -> String {
    value.map_or_else(|| NONE.to_owned(), str::to_owned)
}

fn one_line(text: Option<&str>) -> String {
    text.map_or_else(String::new, |t| {
        t.split_whitespace().collect::<Vec<_>>().join(" ")
    })
}

/// The compact table for people: relative times, the message cut so that lines fit
/// `width`; `NAMESPACE` only with `-A`; no last rotation, Secret or access-token expiry.
/// A token's kind says its type: `Token/PAT`, `Token/OAuth`.
///
/// `EXPIRES` is the expiry that needs a person ([`deadline`]): a PAT's, and for an OAuth
/// token its refresh token's (its access token lives minutes and is refreshed at
/// `RENEWS`; `-o wide` shows both). That keeps the table near 120 columns with a useful
/// part of the message.
pub fn render_table(rows: &[Row], now: Timestamp, all_namespaces: bool, width: usize) -> String {
    let when = |t: Option<Timestamp>| t.map_or_else(|| NONE.to_owned(), |t| relative(now, t));
    let mut headers = vec![
        "KIND", "NAME", "READY", "REASON", "USER", "EXPIRES", "RENEWS", "MESSAGE",
    ];
    if all_namespaces {
        headers.insert(0, "NAMESPACE");
    }
    let cells = rows
        .iter()
        .map(|r| {
            let kind = match r.credential_type {
                Some(credential) => format!("{}/{}", r.kind.short(), credential.as_str()),
                None => r.kind.short().to_owned(),
            };
            let mut line = vec![
                kind,
                r.name.clone(),
                r.ready.clone(),
                cell(r.reason.as_deref()),
                cell(r.user.as_deref()),
                when(deadline(r)),
                when(r.renewal_time),
                one_line(r.message.as_deref()),
            ];
            if all_namespaces {
                line.insert(0, r.namespace.clone());
            }
            line
        })
        .collect::<Vec<_>>();
    layout(&headers, &cells, Some(width))
}

/// Every column, RFC 3339 times, the whole message.
pub fn render_wide(rows: &[Row]) -> String {
    let when = |t: Option<Timestamp>| t.map_or_else(|| NONE.to_owned(), |t| t.to_string());
    let headers = [
        "NAMESPACE",
        "KIND",
        "NAME",
        "READY",
        "REASON",
        "TYPE",
        "USER",
        "EXPIRES",
        "NEXT ROTATION",
        "LAST ROTATION",
        "SECRET",
        "REFRESH TOKEN EXPIRES",
        "MESSAGE",
    ];
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                r.namespace.clone(),
                r.kind.full().to_owned(),
                r.name.clone(),
                r.ready.clone(),
                cell(r.reason.as_deref()),
                cell(r.credential_type.map(TokenType::as_str)),
                cell(r.user.as_deref()),
                when(r.expires_at),
                when(r.renewal_time),
                when(r.last_rotation_time),
                cell(r.secret_name.as_deref()),
                when(r.refresh_token_expires_at),
                one_line(r.message.as_deref()),
            ]
        })
        .collect::<Vec<_>>();
    layout(&headers, &cells, None)
}

/// Left-aligned columns two spaces apart; with `fit`, the last column is cut (with `…`)
/// so that lines fit, keeping at least [`MIN_MESSAGE`] characters of it.
fn layout(headers: &[&str], rows: &[Vec<String>], fit: Option<usize>) -> String {
    let count = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(count - 1) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let prefix: usize = widths[..count - 1].iter().map(|w| w + 2).sum();
    let budget = fit.map(|width| width.saturating_sub(prefix).max(MIN_MESSAGE));
    let mut out = String::new();
    let lines = std::iter::once(headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
        .chain(rows.iter().cloned());
    for line in lines {
        let mut text = String::new();
        for (i, value) in line.iter().enumerate() {
            if i + 1 < count {
                text.push_str(&format!("{value:<w$}  ", w = widths[i]));
            } else {
                text.push_str(&cut(value, budget));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

fn cut(text: &str, budget: Option<usize>) -> String {
    match budget {
        Some(max) if text.chars().count() > max => {
            let mut kept: String = text.chars().take(max.saturating_sub(1)).collect();
            kept.push('…');
            kept
        }
        _ => text.to_owned(),
    }
}

/// The last line: what needs attention, or that nothing does.
pub fn summary(rows: &[Row], window: Duration) -> String {
    let flagged: Vec<&Row> = rows.iter().filter(|r| r.needs_attention).collect();
    if flagged.is_empty() {
        return format!(
            "{} checked: all Ready, nothing expires within {}.",
            rows.len(),
            span(window.as_secs())
        );
    }
    let items: Vec<String> = flagged
        .iter()
        .map(|r| {
            format!(
                "{} {}/{} {}",
                r.kind.full(),
                r.namespace,
                r.name,
                r.attention.join(", ")
            )
        })
        .collect();
    format!(
        "{} {} attention: {}",
        flagged.len(),
        if flagged.len() == 1 { "needs" } else { "need" },
        items.join("; ")
    )
}

/// Where the command looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One namespace.
    Namespace(String),
    /// Every namespace (`-A`).
    All,
}

impl Scope {
    fn describe(&self) -> String {
        match self {
            Self::Namespace(ns) => format!("in namespace {ns}"),
            Self::All => "in any namespace".to_owned(),
        }
    }
}

/// What is printed when nothing is found.
pub fn nothing_found(scope: &Scope, name: Option<&str>) -> String {
    let named = name.map(|n| format!(" named {n}")).unwrap_or_default();
    format!(
        "No SnowflakeConnection, SnowflakeServiceUser or SnowflakeToken{named} {}.",
        scope.describe()
    )
}

/// A failed list, explained: what was refused and what to do.
pub fn explain(kind: Kind, scope: &Scope, server: &str, error: &kube::Error) -> String {
    let resource = format!("{}.{}", kind.plural(), crate::api::GROUP);
    let place = match scope {
        Scope::Namespace(ns) => format!("in namespace {ns}"),
        Scope::All => "in all namespaces".to_owned(),
    };
    match error {
        kube::Error::Api(status) if status.code == 403 => format!(
            "the API server {server} refused to list {resource} {place} (RBAC, 403 Forbidden): {}. \
             status needs `list` on snowflakeconnections, snowflakeserviceusers and snowflaketokens{}",
            status.message,
            if *scope == Scope::All {
                " in every namespace (a ClusterRole); or name one namespace with -n"
            } else {
                " in that namespace"
            }
        ),
        kube::Error::Api(status) if status.code == 401 => format!(
            "the API server {server} did not accept the kubeconfig's credentials (401 Unauthorized): \
             log in again, or choose another --context"
        ),
        kube::Error::Api(status) if status.code == 404 => format!(
            "the API server {server} does not serve {resource}: the CRDs are not installed \
             (kubectl apply --server-side -f crds/)"
        ),
        kube::Error::Api(status) => format!(
            "the API server {server} refused to list {resource} {place} ({} {}): {}",
            status.code, status.reason, status.message
        ),
        other => format!(
            "cannot reach the API server {server}: {}",
            super::error_chain(other)
        ),
    }
}

/// Every object of `K` in `scope` (named `name`, when given), page by page.
async fn list<K>(
    client: &kube::Client,
    scope: &Scope,
    name: Option<&str>,
) -> Result<Vec<K>, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = match scope {
        Scope::All => Api::all(client.clone()),
        Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
    };
    let mut params = ListParams::default().limit(500);
    if let Some(name) = name {
        params = params.fields(&format!("metadata.name={name}"));
    }
    let mut all = Vec::new();
    loop {
        let page = api.list(&params).await?;
        all.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(all),
        }
    }
}

/// The rows of the three kinds in `scope`, unsorted.
pub async fn fetch(
    client: &kube::Client,
    server: &str,
    scope: &Scope,
    name: Option<&str>,
) -> Result<Vec<Row>, String> {
    let (connections, users, tokens) = futures::join!(
        list::<SnowflakeConnection>(client, scope, name),
        list::<SnowflakeServiceUser>(client, scope, name),
        list::<SnowflakeToken>(client, scope, name),
    );
    let why = |kind| move |e: kube::Error| explain(kind, scope, server, &e);
    let mut rows: Vec<Row> = connections
        .map_err(why(Kind::Connection))?
        .iter()
        .map(connection_row)
        .collect();
    rows.extend(
        users
            .map_err(why(Kind::ServiceUser))?
            .iter()
            .map(service_user_row),
    );
    rows.extend(tokens.map_err(why(Kind::Token))?.iter().map(token_row));
    Ok(rows)
}

/// What `status` writes: stdout (the listing, and for tables the summary line) and
/// stderr (the summary for json and yaml, "nothing found"), and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit code.
    pub code: u8,
}

/// The whole output for `rows` (already fetched), at `now`.
pub fn report(
    mut rows: Vec<Row>,
    args: &StatusArgs,
    scope: &Scope,
    now: Timestamp,
    width: usize,
) -> Result<Report, String> {
    assess_and_sort(&mut rows, now, args.warn_within);
    let code = exit_code(&rows, args.name.is_some());
    let mut stderr = String::new();
    let machine = matches!(args.output, Format::Json | Format::Yaml);
    let mut stdout = match args.output {
        Format::Json => serde_json::to_string_pretty(&rows)
            .map(|json| json + "\n")
            .map_err(|e| format!("cannot write JSON: {e}"))?,
        Format::Yaml => {
            serde_saphyr::to_string(&rows).map_err(|e| format!("cannot write YAML: {e}"))?
        }
        Format::Table | Format::Wide if rows.is_empty() => String::new(),
        Format::Table => render_table(&rows, now, *scope == Scope::All, width),
        Format::Wide => render_wide(&rows),
    };
    if rows.is_empty() {
        stderr.push_str(&nothing_found(scope, args.name.as_deref()));
        stderr.push('\n');
    } else if machine {
        stderr.push_str(&summary(&rows, args.warn_within));
        stderr.push('\n');
    } else {
        stdout.push('\n');
        stdout.push_str(&summary(&rows, args.warn_within));
        stdout.push('\n');
    }
    Ok(Report {
        stdout,
        stderr,
        code,
    })
}

/// Asks the cluster and builds the report; `Err` is an error for exit code 2.
pub async fn status(args: &StatusArgs) -> Result<Report, String> {
    let kube = super::connect(
        args.kubeconfig.as_deref(),
        args.context.as_deref(),
        args.request_timeout,
    )
    .await?;
    let scope = if args.all_namespaces {
        Scope::All
    } else {
        Scope::Namespace(
            args.namespace
                .clone()
                .unwrap_or_else(|| kube.default_namespace.clone()),
        )
    };
    let rows = fetch(&kube.client, &kube.server, &scope, args.name.as_deref()).await?;
    report(rows, args, &scope, Timestamp::now(), terminal_width())
}

/// `snowflake-token-operator status`: prints the report and returns its exit code (2 on
/// any error, with the reason on stderr).
pub fn run(args: StatusArgs) -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("snowflake-token-operator status: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(status(&args)) {
        Ok(report) => {
            // A closed pipe (`| head`) ends the output early; it is not an error to report.
            let _ = std::io::stdout().write_all(report.stdout.as_bytes());
            let _ = std::io::stderr().write_all(report.stderr.as_bytes());
            ExitCode::from(report.code)
        }
        Err(e) => {
            eprintln!("snowflake-token-operator status: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const H: i64 = 3_600;
    const D: i64 = 86_400;

    fn ts(offset: i64) -> Timestamp {
        Timestamp::from_second(NOW + offset).expect("valid timestamp")
    }

    fn now() -> Timestamp {
        ts(0)
    }

    fn ready(status: &str, reason: &str, message: &str) -> serde_json::Value {
        serde_json::json!({
            "type": "Ready", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2027-01-01T00:00:00Z",
        })
    }

    fn time(offset: i64) -> String {
        ts(offset).to_string()
    }

    /// A token named `name` in `ns` with `status` (PAT unless the status says OAuth).
    fn token(ns: &str, name: &str, status: serde_json::Value) -> Row {
        let credential = match status["credentialType"].as_str() {
            Some("OAuth") => serde_json::json!({"oauth": {
                "clientSecretRef": {"name": "client"},
                "refreshTokenSecretRef": {"name": "refresh", "key": "refresh_token"},
            }}),
            Some("KeyPair") => serde_json::json!({"keyPair": {}}),
            _ => serde_json::json!({"programmaticAccessToken": {}}),
        };
        let mut spec =
            serde_json::json!({"connectionRef": {"name": "prod"}, "user": {"name": "bi_svc"}});
        spec.as_object_mut()
            .expect("object")
            .extend(credential.as_object().expect("object").clone());
        let token: SnowflakeToken = serde_json::from_value(serde_json::json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1", "kind": "SnowflakeToken",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
            "status": status,
        }))
        .expect("token");
        token_row(&token)
    }

    fn pat(ns: &str, name: &str, ready_status: &str, expires: i64) -> Row {
        token(
            ns,
            name,
            serde_json::json!({
                "conditions": [ready(ready_status, if ready_status == "True" { "Minted" } else { "SnowflakeUnavailable" }, "m")],
                "credentialType": "ProgrammaticAccessToken",
                "userName": "BI_SVC",
                "expiresAt": time(expires),
                "renewalTime": time(expires - 30 * D),
                "secretName": format!("{name}-secret"),
            }),
        )
    }

    fn oauth(ns: &str, name: &str, access: i64, refresh: i64) -> Row {
        token(
            ns,
            name,
            serde_json::json!({
                "conditions": [ready("True", "Refreshed", "fresh")],
                "credentialType": "OAuth",
                "userName": "TABLEAU_SVC",
                "expiresAt": time(access),
                "accessTokenExpiresAt": time(access),
                "renewalTime": time(access - 120),
                "refreshTokenExpiresAt": time(refresh),
            }),
        )
    }

    fn connection(ns: &str, name: &str, ready_status: Option<&str>) -> Row {
        let mut object = serde_json::json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1", "kind": "SnowflakeConnection",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"account": "myorg-prod", "user": "token_admin", "auth": {"keyPair": {
                "privateKeySecretRef": {"name": "key", "key": "rsa_key.p8"}}}},
        });
        if let Some(status) = ready_status {
            object["status"] = serde_json::json!({"conditions": [ready(status, "Verified", "ok")]});
        }
        connection_row(&serde_json::from_value(object).expect("connection"))
    }

    fn service_user(ns: &str, name: &str) -> Row {
        let user: SnowflakeServiceUser = serde_json::from_value(serde_json::json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1", "kind": "SnowflakeServiceUser",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"connectionRef": {"name": "prod"}},
            "status": {"conditions": [ready("True", "Converged", "ok")]},
        }))
        .expect("user");
        service_user_row(&user)
    }

    fn args(output: Format, window: Duration, name: Option<&str>) -> StatusArgs {
        StatusArgs {
            name: name.map(str::to_owned),
            namespace: None,
            all_namespaces: false,
            output,
            warn_within: window,
            kubeconfig: None,
            context: None,
            request_timeout: Duration::from_secs(30),
        }
    }

    const WINDOW: Duration = Duration::from_secs(72 * 3_600);

    #[test]
    fn relative_times_keep_the_two_largest_units_rounded_down() {
        for (offset, expected) in [
            (0, "now"),
            (42, "in 42s"),
            (-42, "42s ago"),
            (8 * 60 + 12, "in 8m12s"),
            (5 * 60, "in 5m"),
            (2 * H + 5 * 60 + 59, "in 2h5m"),
            (-2 * H - 30, "2h ago"),
            (3 * D + 4 * H + 59 * 60, "in 3d4h"),
            (3 * D + 59 * 60, "in 3d"),
            (-400 * D, "400d ago"),
        ] {
            assert_eq!(relative(now(), ts(offset)), expected, "offset {offset}");
        }
    }

    #[test]
    fn the_warning_window_reads_go_durations_and_days() {
        for (text, expected) in [
            ("72h", Some(72 * 3_600)),
            ("90m", Some(5_400)),
            ("1h30m", Some(5_400)),
            ("7d", Some(7 * 86_400)),
            ("0s", Some(0)),
            ("soon", None),
            ("-1h", None),
        ] {
            assert_eq!(
                parse_window(text).ok().map(|d| d.as_secs()),
                expected,
                "{text}"
            );
        }
        assert!(parse_timeout("0s").is_err());
        assert_eq!(parse_timeout("5s"), Ok(Duration::from_secs(5)));
    }

    #[test]
    fn a_key_pair_has_no_deadline_and_a_blocked_rotation_needs_attention() {
        let key_pair = |warnings: Vec<Warning>| {
            let mut row = token(
                "etl",
                "loader",
                serde_json::json!({
                    "conditions": [ready("True", "Rotated", "key in Secret")],
                    "credentialType": "KeyPair",
                    "userName": "LOADER_SVC",
                    "renewalTime": time(-D),
                    "publicKeyFingerprint": "SHA256:abc",
                    "publicKeySlot": 2,
                }),
            );
            row.warnings = warnings;
            row
        };
        let fine = key_pair(vec![]);
        assert_eq!(fine.credential_type, Some(TokenType::KeyPair));
        assert_eq!(deadline(&fine), None, "keys do not expire");
        assert!(assess(&fine, now(), WINDOW).is_empty());
        let blocked = key_pair(vec![Warning {
            type_: ROTATION_BLOCKED.into(),
            reason: "KeySlotsTaken".into(),
            message: "RSA_PUBLIC_KEY holds a key this token did not register".into(),
        }]);
        assert_eq!(
            assess(&blocked, now(), WINDOW),
            ["rotation blocked (KeySlotsTaken)"]
        );
    }

    #[test]
    fn what_needs_attention() {
        let rotation_blocked = {
            let mut row = pat("a", "blocked", "True", 60 * D);
            row.warnings.push(Warning {
                type_: ROTATION_BLOCKED.into(),
                reason: "TokenLimitReached".into(),
                message: "15 tokens".into(),
            });
            row
        };
        let expiring_soon = {
            let mut row = oauth("a", "soon", 600, 20 * D);
            row.warnings.push(Warning {
                type_: "RefreshTokenExpiringSoon".into(),
                reason: "RefreshTokenExpiringSoon".into(),
                message: "authorize again".into(),
            });
            row
        };
        let cases: Vec<(&str, Row, Duration, Vec<&str>)> = vec![
            (
                "ready PAT far away",
                pat("a", "t", "True", 30 * D),
                WINDOW,
                vec![],
            ),
            (
                "PAT inside the window",
                pat("a", "t", "True", 2 * D + H),
                WINDOW,
                vec!["expires in 2d1h"],
            ),
            (
                "the same PAT, a shorter window",
                pat("a", "t", "True", 2 * D + H),
                Duration::from_secs(24 * 3_600),
                vec![],
            ),
            (
                "PAT exactly at the window's end",
                pat("a", "t", "True", 3 * D),
                WINDOW,
                vec!["expires in 3d"],
            ),
            (
                "expired PAT",
                pat("a", "t", "True", -3 * H),
                Duration::ZERO,
                vec!["expired 3h ago"],
            ),
            (
                "not Ready PAT",
                pat("a", "t", "False", 30 * D),
                WINDOW,
                vec!["not Ready (SnowflakeUnavailable)"],
            ),
            (
                "not Ready and expiring",
                pat("a", "t", "False", D),
                WINDOW,
                vec!["not Ready (SnowflakeUnavailable)", "expires in 1d"],
            ),
            (
                "OAuth: access token in minutes, refresh token far",
                oauth("a", "o", 300, 30 * D),
                WINDOW,
                vec![],
            ),
            (
                "OAuth: access token expired, refresh token far",
                oauth("a", "o", -300, 30 * D),
                WINDOW,
                vec![],
            ),
            (
                "OAuth: refresh token inside the window",
                oauth("bi", "o", 300, 2 * D),
                WINDOW,
                vec!["refresh token expires in 2d: run snowflake-token-operator authorize -n bi o"],
            ),
            (
                "OAuth: the operator's own warning window is not ours",
                expiring_soon,
                WINDOW,
                vec![],
            ),
            (
                "PAT whose next rotation is blocked",
                rotation_blocked,
                WINDOW,
                vec!["rotation blocked (TokenLimitReached)"],
            ),
            (
                "connection Ready",
                connection("a", "c", Some("True")),
                WINDOW,
                vec![],
            ),
            (
                "connection never reconciled",
                connection("a", "c", None),
                WINDOW,
                vec!["no status yet (is the operator running?)"],
            ),
            ("service user Ready", service_user("a", "u"), WINDOW, vec![]),
        ];
        for (what, row, window, expected) in cases {
            assert_eq!(assess(&row, now(), window), expected, "{what}");
        }
    }

    #[test]
    fn the_most_urgent_comes_first() {
        let mut rows = vec![
            service_user("b", "users"),
            pat("b", "far", "True", 90 * D),
            connection("b", "conn", Some("True")),
            oauth("b", "oauth-soon", 300, 5 * D),
            pat("b", "soon", "True", 2 * D),
            pat("b", "down-later", "False", 60 * D),
            pat("a", "down-sooner", "False", 10 * D),
            connection("a", "new", None),
            pat("a", "far", "True", 90 * D),
        ];
        assess_and_sort(&mut rows, now(), WINDOW);
        let order: Vec<String> = rows
            .iter()
            .map(|r| format!("{}/{}/{}", r.namespace, r.kind.short(), r.name))
            .collect();
        assert_eq!(
            order,
            [
                "a/Token/down-sooner",
                "b/Token/down-later",
                "a/Connection/new",
                "b/Token/soon",
                "b/Token/oauth-soon",
                "a/Token/far",
                "b/Token/far",
                "b/Connection/conn",
                "b/ServiceUser/users",
            ]
        );
        let flagged: Vec<&str> = rows
            .iter()
            .filter(|r| r.needs_attention)
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(flagged, ["down-sooner", "down-later", "new", "soon"]);
    }

    #[test]
    fn exit_codes() {
        let fine = {
            let mut rows = vec![
                pat("a", "t", "True", 30 * D),
                connection("a", "c", Some("True")),
            ];
            assess_and_sort(&mut rows, now(), WINDOW);
            rows
        };
        let flagged = {
            let mut rows = vec![pat("a", "t", "True", D), connection("a", "c", Some("True"))];
            assess_and_sort(&mut rows, now(), WINDOW);
            rows
        };
        for (what, rows, name_given, expected) in [
            ("all fine", &fine, false, 0),
            ("all fine, by name", &fine, true, 0),
            ("one expiring", &flagged, false, 1),
            ("nothing found", &Vec::new(), false, 0),
            ("the name not found", &Vec::new(), true, 1),
        ] {
            assert_eq!(exit_code(rows, name_given), expected, "{what}");
        }
    }

    /// The demo's objects, with the OAuth token's refresh token dead and a PAT that
    /// cannot reach Snowflake.
    fn sample() -> Vec<Row> {
        let mut broken = oauth("bi", "tableau", -600, 2 * D + 3 * H);
        broken.ready = "False".into();
        broken.reason = Some("ReauthorizationRequired".into());
        broken.message = Some(
            "Snowflake refused the refresh token (invalid_grant: expired or revoked):\na person must authorize again: snowflake-token-operator authorize -n bi tableau".into(),
        );
        let mut rows = vec![
            connection("bi", "analytics", Some("True")),
            service_user("bi", "powerbi-gateway"),
            pat("bi", "powerbi-gateway", "True", 59 * D + 7 * H),
            pat("bi", "dbt", "False", 20 * D),
            broken,
        ];
        assess_and_sort(&mut rows, now(), WINDOW);
        rows
    }

    fn columns(line: &str) -> Vec<&str> {
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect()
    }

    #[test]
    fn the_table_fits_120_columns_and_cuts_only_the_message() {
        let rows = sample();
        let table = render_table(&rows, now(), false, 120);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 1 + rows.len(), "{table}");
        for line in &lines {
            assert!(
                line.chars().count() <= 120,
                "wider than 120: {line:?}\n{table}"
            );
        }
        assert_eq!(
            columns(lines[0]),
            [
                "KIND", "NAME", "READY", "REASON", "USER", "EXPIRES", "RENEWS", "MESSAGE"
            ]
        );
        // Not Ready first, sooner expiry first; the OAuth token's EXPIRES is its refresh
        // token's, its access token's expiry (10m ago) is not in the table.
        let tableau = columns(lines[1]);
        assert_eq!(
            &tableau[..7],
            [
                "Token/OAuth",
                "tableau",
                "False",
                "ReauthorizationRequired",
                "TABLEAU_SVC",
                "in 2d3h",
                "12m ago"
            ]
        );
        assert!(
            tableau[7].starts_with("Snowflake refused"),
            "{}",
            tableau[7]
        );
        assert!(tableau[7].ends_with('…'), "cut: {}", tableau[7]);
        assert_eq!(
            &columns(lines[2])[..7],
            [
                "Token/PAT",
                "dbt",
                "False",
                "SnowflakeUnavailable",
                "BI_SVC",
                "in 20d",
                "10d ago"
            ]
        );
        assert_eq!(
            columns(lines[3]),
            [
                "Token/PAT",
                "powerbi-gateway",
                "True",
                "Minted",
                "BI_SVC",
                "in 59d7h",
                "in 29d7h",
                "m"
            ]
        );
        assert_eq!(
            columns(lines[4]),
            [
                "Connection",
                "analytics",
                "True",
                "Verified",
                "TOKEN_ADMIN",
                "-",
                "-",
                "ok"
            ]
        );
        assert_eq!(
            columns(lines[5]),
            [
                "ServiceUser",
                "powerbi-gateway",
                "True",
                "Converged",
                "POWERBI_GATEWAY",
                "-",
                "-",
                "ok"
            ]
        );
        let all = render_table(&rows, now(), true, 120);
        assert_eq!(columns(all.lines().next().expect("header"))[0], "NAMESPACE");
        assert_eq!(
            columns(all.lines().nth(1).expect("row"))[..2],
            ["bi", "Token/OAuth"]
        );
        // NAMESPACE costs its width: the message keeps its minimum.
        assert!(all.lines().all(|l| l.chars().count() <= 130), "{all}");
    }

    #[test]
    fn long_names_widen_the_table_but_keep_some_of_the_message() {
        let mut long = pat(
            "business-intelligence-production",
            "powerbi-gateway-finance-emea",
            "False",
            D,
        );
        long.message = Some("x".repeat(200));
        let rows = vec![long];
        for width in [120, 60] {
            let table = render_table(&rows, now(), true, width);
            let message = columns(table.lines().nth(1).expect("row"))
                .pop()
                .expect("message")
                .to_owned();
            assert_eq!(message.chars().count(), MIN_MESSAGE, "{table}");
        }
        let wide = render_table(&rows, now(), true, 400);
        assert!(wide.contains(&"x".repeat(200)), "room enough: nothing cut");
    }

    #[test]
    fn wide_has_every_column_absolute_times_and_the_whole_message() {
        let rows = sample();
        let wide = render_wide(&rows);
        let lines: Vec<&str> = wide.lines().collect();
        assert_eq!(
            columns(lines[0]),
            [
                "NAMESPACE",
                "KIND",
                "NAME",
                "READY",
                "REASON",
                "TYPE",
                "USER",
                "EXPIRES",
                "NEXT ROTATION",
                "LAST ROTATION",
                "SECRET",
                "REFRESH TOKEN EXPIRES",
                "MESSAGE",
            ]
        );
        let tableau = columns(lines[1]);
        assert_eq!(
            &tableau[..12],
            [
                "bi",
                "SnowflakeToken",
                "tableau",
                "False",
                "ReauthorizationRequired",
                "OAuth",
                "TABLEAU_SVC",
                &time(-600),
                &time(-720),
                "-",
                "tableau",
                &time(2 * D + 3 * H),
            ]
        );
        assert_eq!(
            tableau[12],
            "Snowflake refused the refresh token (invalid_grant: expired or revoked): a person must authorize again: snowflake-token-operator authorize -n bi tableau"
        );
        assert!(wide.contains("powerbi-gateway-secret"), "{wide}");
        assert!(
            !wide.contains(" ago") && !wide.contains(" in "),
            "no relative times: {wide}"
        );
    }

    #[test]
    fn the_summary_names_what_needs_attention() {
        let rows = sample();
        assert_eq!(
            summary(&rows, WINDOW),
            "2 need attention: SnowflakeToken bi/tableau not Ready (ReauthorizationRequired), refresh token expires in 2d3h: run snowflake-token-operator authorize -n bi tableau; SnowflakeToken bi/dbt not Ready (SnowflakeUnavailable)"
        );
        let mut fine = vec![pat("a", "t", "True", 30 * D)];
        assess_and_sort(&mut fine, now(), WINDOW);
        assert_eq!(
            summary(&fine, WINDOW),
            "1 checked: all Ready, nothing expires within 3d."
        );
    }

    #[test]
    fn json_has_every_key_with_absolute_times() {
        let rows = sample();
        let json = serde_json::to_value(&rows).expect("json");
        let keys = [
            "namespace",
            "kind",
            "name",
            "ready",
            "reason",
            "message",
            "credentialType",
            "user",
            "expiresAt",
            "renewalTime",
            "lastRotationTime",
            "secretName",
            "refreshTokenExpiresAt",
            "warnings",
            "needsAttention",
            "attention",
        ];
        for item in json.as_array().expect("a list") {
            let object = item.as_object().expect("an object");
            let mut present: Vec<&str> = object.keys().map(String::as_str).collect();
            present.sort_unstable();
            let mut expected = keys.to_vec();
            expected.sort_unstable();
            assert_eq!(present, expected);
        }
        assert_eq!(json[0]["kind"], "SnowflakeToken");
        assert_eq!(json[0]["credentialType"], "OAuth");
        assert_eq!(json[0]["refreshTokenExpiresAt"], time(2 * D + 3 * H));
        assert_eq!(json[0]["needsAttention"], true);
        assert_eq!(json[0]["expiresAt"], time(-600));
        assert_eq!(
            json[0]["attention"][0],
            "not Ready (ReauthorizationRequired)"
        );
        assert_eq!(json[1]["credentialType"], "PAT");
        assert_eq!(json[1]["refreshTokenExpiresAt"], serde_json::Value::Null);
        assert_eq!(json[2]["needsAttention"], false);
        assert_eq!(json[2]["attention"], serde_json::json!([]));
        assert_eq!(json[3]["kind"], "SnowflakeConnection");
        assert_eq!(json[3]["credentialType"], serde_json::Value::Null);
    }

    #[test]
    fn reports_for_people_and_for_scripts() {
        let scope = Scope::Namespace("bi".into());
        let table = report(
            sample(),
            &args(Format::Table, WINDOW, None),
            &scope,
            now(),
            120,
        )
        .expect("report");
        assert_eq!(table.code, 1);
        assert!(
            table
                .stdout
                .trim_end()
                .ends_with(&summary(&sample(), WINDOW)),
            "{}",
            table.stdout
        );
        assert_eq!(table.stderr, "");
        let json = report(
            sample(),
            &args(Format::Json, WINDOW, None),
            &scope,
            now(),
            120,
        )
        .expect("report");
        let parsed: serde_json::Value =
            serde_json::from_str(&json.stdout).expect("only JSON on stdout");
        assert_eq!(parsed.as_array().map(Vec::len), Some(5));
        assert!(
            json.stderr.starts_with("2 need attention"),
            "{}",
            json.stderr
        );
        let yaml = report(
            sample(),
            &args(Format::Yaml, WINDOW, None),
            &scope,
            now(),
            120,
        )
        .expect("report");
        let parsed: serde_json::Value =
            serde_saphyr::from_str(&yaml.stdout).expect("only YAML on stdout");
        assert_eq!(parsed, serde_json::to_value(sample()).expect("json"));

        let none = report(
            Vec::new(),
            &args(Format::Json, WINDOW, Some("x")),
            &scope,
            now(),
            120,
        )
        .expect("report");
        assert_eq!((none.stdout.as_str(), none.code), ("[]\n", 1));
        assert_eq!(
            none.stderr,
            "No SnowflakeConnection, SnowflakeServiceUser or SnowflakeToken named x in namespace bi.\n"
        );
        let none = report(
            Vec::new(),
            &args(Format::Table, WINDOW, None),
            &Scope::All,
            now(),
            120,
        )
        .expect("report");
        assert_eq!((none.stdout.as_str(), none.code), ("", 0));
        assert!(none.stderr.contains("in any namespace"), "{}", none.stderr);
    }

    #[test]
    fn refusals_say_what_was_refused_and_what_to_do() {
        let api = |code: u16, reason: &str| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                reason: reason.into(),
                message: "nope".into(),
                ..kube::core::Status::failure("nope", reason)
            }))
        };
        let server = "https://127.0.0.1:6443/";
        let ns = Scope::Namespace("bi".into());
        let forbidden_all = explain(Kind::Token, &Scope::All, server, &api(403, "Forbidden"));
        assert!(forbidden_all.contains("refused to list snowflaketokens.snowflake-token-operator.io in all namespaces (RBAC, 403 Forbidden)"), "{forbidden_all}");
        assert!(
            forbidden_all.contains("ClusterRole") && forbidden_all.contains("-n"),
            "{forbidden_all}"
        );
        let forbidden = explain(Kind::Connection, &ns, server, &api(403, "Forbidden"));
        assert!(
            forbidden.contains("snowflakeconnections.snowflake-token-operator.io in namespace bi"),
            "{forbidden}"
        );
        let missing = explain(Kind::ServiceUser, &ns, server, &api(404, "NotFound"));
        assert!(missing.contains("the CRDs are not installed"), "{missing}");
        let unauthorized = explain(Kind::Token, &ns, server, &api(401, "Unauthorized"));
        assert!(unauthorized.contains("credentials"), "{unauthorized}");
    }
}
