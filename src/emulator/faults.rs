//! Injectable faults for the next N matching requests, so client retry logic can be
//! exercised: 429 storms, 5xx, latency, delayed asynchronous results and connections
//! dropped after the request was processed.
//!
//! The server's fault middleware answers the kinds that replace an answer (429, 5xx,
//! latency) itself and hands every other kind to the face's handler as an
//! [`InjectedFault`]; a handler closes its connection through the [`ConnectionControl`]
//! the accept loop gives every request.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::wire;

/// What to do to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// HTTP 429 `{"code":"390505","message":"Too many requests."}`, optionally with `Retry-After`.
    TooManyRequests {
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// HTTP 503.
    ServiceUnavailable,
    /// HTTP 500.
    InternalServerError,
    /// Serve the request at once but hold its answer back for `ms` milliseconds.
    Latency { ms: u64 },
    /// Hold the request for `ms` milliseconds, then answer 503 without serving it: a
    /// front end that took the request and never passed it on. Nothing is executed,
    /// whether the client waits or goes away meanwhile, so a client killed while it waits
    /// died before its statement.
    Stall { ms: u64 },
    /// Answer a statement with 202 and keep it running until `delay_ms` of emulated
    /// time passed and/or `polls` status requests were answered 202.
    AsyncDelay {
        #[serde(default)]
        delay_ms: Option<u64>,
        #[serde(default)]
        polls: Option<u32>,
    },
    /// Process the request in full (execute the statement, rotate the refresh token,
    /// redeem the code), then close the TCP connection without an answer. Honoured by
    /// `POST /api/v2/statements` and `POST /oauth/token-request`.
    DropConnectionAfterExecute,
    /// Answer a status poll of a still-running statement with HTTP 429 and the
    /// QueryStatus body, which Snowflake documents as "still running" rather than a
    /// throttle. The poll is not counted toward an `AsyncDelay`; other requests it
    /// matches are answered normally.
    ThrottledPoll,
    /// Answer a submitted statement with HTTP 408 and a QueryStatus (`000630`): it
    /// outlived its timeout and was cancelled, so nothing was executed.
    StatementTimeout,
}

/// A fault for the next `count` requests whose path starts with `path_prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct FaultSpec {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub count: u32,
    /// Defaults to every path outside `/_emulator/`.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Restrict to one HTTP method (e.g. `POST`).
    #[serde(default)]
    pub method: Option<String>,
    /// Restrict to requests declaring this `X-Snowflake-Authorization-Token-Type`
    /// (e.g. `KEYPAIR_JWT`: an admin's key-pair session, not the consumers logging in
    /// with PATs).
    #[serde(default)]
    pub token_type: Option<String>,
}

fn one() -> u32 {
    1
}

impl FaultSpec {
    /// A fault for the next `count` requests of any path.
    pub fn new(kind: FaultKind, count: u32) -> Self {
        Self {
            kind,
            count,
            path_prefix: None,
            method: None,
            token_type: None,
        }
    }

    /// Restricts the fault to paths starting with `prefix`.
    pub fn on_path(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_owned());
        self
    }

    /// Restricts the fault to one HTTP method.
    pub fn on_method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Restricts the fault to requests declaring token type `token_type`.
    pub fn on_token_type(mut self, token_type: &str) -> Self {
        self.token_type = Some(token_type.to_ascii_uppercase());
        self
    }

    fn matches(&self, request: &Matched<'_>) -> bool {
        self.path_prefix
            .as_deref()
            .is_none_or(|p| request.path.starts_with(p))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(request.method))
            && self.token_type.as_deref().is_none_or(|t| {
                request
                    .token_type
                    .is_some_and(|r| t.eq_ignore_ascii_case(r))
            })
    }
}

/// What a fault is matched against.
#[derive(Debug, Clone, Copy)]
pub struct Matched<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The request's `X-Snowflake-Authorization-Token-Type`, if any.
    pub token_type: Option<&'a str>,
}

impl<'a> Matched<'a> {
    /// A request without a declared token type.
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            token_type: None,
        }
    }
}

/// Queued faults, applied in insertion order.
#[derive(Debug, Default)]
pub struct FaultQueue {
    faults: Vec<FaultSpec>,
}

impl FaultQueue {
    pub fn push(&mut self, spec: FaultSpec) {
        if spec.count > 0 {
            self.faults.push(spec);
        }
    }

    pub fn clear(&mut self) {
        self.faults.clear();
    }

    /// Consumes one use of the first fault matching the request.
    pub fn take(&mut self, request: Matched<'_>) -> Option<FaultKind> {
        let index = self.faults.iter().position(|f| f.matches(&request))?;
        let fault = &mut self.faults[index];
        fault.count -= 1;
        let kind = fault.kind.clone();
        if fault.count == 0 {
            self.faults.remove(index);
        }
        Some(kind)
    }

    /// Faults still queued.
    pub fn pending(&self) -> &[FaultSpec] {
        &self.faults
    }
}

/// A fault the middleware took for this request and left for the handler (the kinds
/// that act on what the handler does: an asynchronous delay, a throttled poll, a
/// statement timeout, dropping the connection after the request was processed).
#[derive(Clone, Debug)]
pub struct InjectedFault(pub FaultKind);

/// Lets a handler close the TCP connection its request arrived on.
#[derive(Clone, Debug, Default)]
pub struct ConnectionControl(Arc<Notify>);

impl ConnectionControl {
    /// Closes the connection without writing a response.
    pub fn drop_connection(&self) {
        self.0.notify_one();
    }

    /// Resolves once a handler asked for the connection to be closed.
    pub async fn dropped(&self) {
        self.0.notified().await;
    }
}

/// The drop-connection fault, once the handler has done its work: the connection is
/// closed under the client, which never gets an answer, as after a network failure.
/// Never resolves when served by the emulator's own accept loop (which closes the
/// connection); without it (a router driven directly) there is no connection to close,
/// and the answer is a 500.
pub async fn drop_connection(connection: Option<ConnectionControl>) -> Response {
    match connection {
        Some(control) => {
            control.drop_connection();
            std::future::pending::<Response>().await
        }
        None => wire::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "390500",
            "Connection dropping needs the emulator's own server loop.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_to_the_next_n_matching_requests() {
        let mut queue = FaultQueue::default();
        queue.push(FaultSpec::new(FaultKind::ServiceUnavailable, 2).on_path("/api/v2/statements"));
        assert_eq!(queue.take(Matched::new("GET", "/other")), None);
        assert_eq!(
            queue.take(Matched::new("POST", "/api/v2/statements")),
            Some(FaultKind::ServiceUnavailable)
        );
        assert_eq!(
            queue.take(Matched::new("GET", "/api/v2/statements/x")),
            Some(FaultKind::ServiceUnavailable)
        );
        assert_eq!(queue.take(Matched::new("POST", "/api/v2/statements")), None);
    }

    #[test]
    fn a_fault_for_one_token_type_spares_the_others() {
        let mut queue = FaultQueue::default();
        let spec: FaultSpec = serde_json::from_str(
            r#"{"kind":"service_unavailable","count":1,"token_type":"KEYPAIR_JWT"}"#,
        )
        .unwrap();
        queue.push(spec);
        let pat = Matched {
            token_type: Some("PROGRAMMATIC_ACCESS_TOKEN"),
            ..Matched::new("POST", "/api/v2/statements")
        };
        assert_eq!(queue.take(pat), None);
        assert_eq!(queue.take(Matched::new("POST", "/api/v2/statements")), None);
        let admin = Matched {
            token_type: Some("keypair_jwt"),
            ..Matched::new("POST", "/api/v2/statements")
        };
        assert_eq!(queue.take(admin), Some(FaultKind::ServiceUnavailable));
    }

    #[test]
    fn throttled_poll_parses_from_json() {
        let spec: FaultSpec =
            serde_json::from_str(r#"{"kind":"throttled_poll","count":2,"method":"GET"}"#).unwrap();
        assert_eq!(spec.kind, FaultKind::ThrottledPoll);
        assert_eq!(spec.count, 2);
    }

    #[test]
    fn spec_parses_from_json() {
        let spec: FaultSpec =
            serde_json::from_str(r#"{"kind":"too_many_requests","retry_after_secs":1,"count":3}"#)
                .unwrap();
        assert_eq!(spec.count, 3);
        assert_eq!(
            spec.kind,
            FaultKind::TooManyRequests {
                retry_after_secs: Some(1)
            }
        );
    }
}
