//! The SQL API v2 transport: submit a statement, poll while it runs, fetch partitions,
//! retry what is safe to retry.
//!
//! Every logical statement gets one `requestId`; every resend (after a throttle, a 5xx, a
//! lost response or a refused JWT) carries the same id with `retry=true`, so Snowflake
//! returns the first execution's result instead of running the statement twice. That
//! makes resending after an ambiguous failure safe even for `ADD PROGRAMMATIC ACCESS
//! TOKEN`, whose secret is shown only once. Permanent failures (422, 400, 403, a 401 after
//! a freshly signed JWT) are returned at once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use uuid::Uuid;

use super::account::Account;
use super::answers::{Outcome, classify, status_path};
use super::error::{Error, Result};
use super::jwt::Authenticator;
use super::resultset::{ResultSet, WireResultSet, convert_row};
use super::retry::RetryPolicy;
use super::transport;

/// The longest backoff between resends of a throttled (or 5xx) statement under
/// [`SqlApiConfig::throttle_patience`], unless `Retry-After` asks for more: with full
/// jitter, 16 reconciles resend about 16 times a second in all while throttled, and the
/// end of a burst is noticed within about a second instead of the tens of seconds an
/// exponential backoff reaches after a dozen answers.
pub const THROTTLE_MAX_DELAY: Duration = Duration::from_secs(2);

/// Tunables of the SQL API client; every timeout and budget is here so tests against the
/// emulator can shrink them.
#[derive(Debug, Clone)]
pub struct SqlApiConfig {
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Limit of one HTTP exchange. Above Snowflake's ~45 s synchronous window.
    pub request_timeout: Duration,
    /// Limit of one logical statement: all attempts, backoff and polling.
    pub statement_timeout: Duration,
    /// HTTP requests in flight at once on this connection.
    pub max_in_flight: usize,
    /// Retry budget for transient failures.
    pub retry: RetryPolicy,
    /// How long a statement rides out throttling (HTTP 429) and unavailability (5xx):
    /// with `Some(patience)`, those answers do not count against
    /// `retry.max_attempts`; the statement is resent (same `requestId`, `Retry-After`
    /// honoured, jittered backoff) until `patience` has passed since the first such
    /// answer, or the statement's deadline. `None`: they count like any other transient
    /// failure.
    pub throttle_patience: Option<Duration>,
    /// First delay between status polls of a running statement.
    pub poll_initial: Duration,
    /// Largest delay between status polls.
    pub poll_max: Duration,
    /// Server-side statement timeout in seconds (`timeout` of the request body).
    pub server_timeout_secs: Option<u32>,
    /// Role for the statements (`role` of the request body); the user's default if unset.
    pub role: Option<String>,
    /// Warehouse (`warehouse` of the request body); DDL does not need one.
    pub warehouse: Option<String>,
    /// Largest answer body accepted, before and after gzip decompression.
    pub max_response_bytes: usize,
}

impl Default for SqlApiConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            statement_timeout: Duration::from_secs(300),
            max_in_flight: 4,
            retry: RetryPolicy::default(),
            throttle_patience: None,
            poll_initial: Duration::from_millis(250),
            poll_max: Duration::from_secs(5),
            server_timeout_secs: Some(120),
            role: None,
            warehouse: None,
            max_response_bytes: 64 << 20,
        }
    }
}

/// A SQL API client for one account and one identity.
pub struct SqlApiClient {
    http: reqwest::Client,
    account: Account,
    auth: Arc<dyn Authenticator>,
    config: SqlApiConfig,
    permits: Arc<Semaphore>,
}

impl fmt::Debug for SqlApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlApiClient")
            .field("account", &self.account)
            .field("auth", &self.auth)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SqlApiClient {
    /// A client for `account`, authenticating with `auth`.
    pub fn new(
        account: Account,
        auth: Arc<dyn Authenticator>,
        config: SqlApiConfig,
    ) -> Result<Self> {
        let http = transport::http_client(config.connect_timeout)?;
        Ok(Self::with_http_client(http, account, auth, config))
    }

    /// A client for `account` sharing `http` (its connection pool and TLS configuration)
    /// with another: building a `reqwest::Client` loads the TLS roots, milliseconds of CPU
    /// that a short-lived client (verifying a freshly minted token) should not pay each
    /// time. `config.connect_timeout` is then `http`'s own.
    pub fn with_http_client(
        http: reqwest::Client,
        account: Account,
        auth: Arc<dyn Authenticator>,
        config: SqlApiConfig,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
        Self {
            http,
            account,
            auth,
            config,
            permits,
        }
    }

    /// The HTTP client (cheap to clone: it is shared).
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http
    }

    /// The account this client talks to.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// Executes one statement with a fresh `requestId`.
    pub async fn execute(&self, statement: &str) -> Result<ResultSet> {
        self.execute_with_request_id(statement, Uuid::new_v4())
            .await
    }

    /// Executes one statement under a caller-chosen `requestId`. Calling this again with
    /// the same id after an ambiguous failure returns the first execution's result.
    pub async fn execute_with_request_id(
        &self,
        statement: &str,
        request_id: Uuid,
    ) -> Result<ResultSet> {
        let limit = self.config.statement_timeout;
        let deadline = Instant::now() + limit;
        tracing::debug!(%request_id, statement = statement_kind(statement), "executing a statement");
        tokio::time::timeout_at(deadline, self.run(statement, request_id, deadline))
            .await
            .unwrap_or(Err(Error::Timeout {
                what: "statement",
                after: limit,
            }))
    }

    async fn run(&self, statement: &str, request_id: Uuid, deadline: Instant) -> Result<ResultSet> {
        let first = self
            .with_retries(deadline, |resend| {
                self.submit(statement, request_id, resend)
            })
            .await?;
        let body = match first {
            Outcome::Done(body) => body,
            Outcome::Running(handle) => self.poll(&handle, deadline).await?,
        };
        let wire: WireResultSet = transport::json_object(&body)
            .map_err(|e| transport::json_error("the result set", &e))?;
        let (mut set, partitions) = ResultSet::from_wire(wire)?;
        if partitions > 1 {
            let handle = set
                .statement_handle()
                .ok_or_else(|| {
                    Error::Protocol("a partitioned result has no statement handle".into())
                })?
                .to_owned();
            for partition in 1..partitions {
                let rows = self.fetch_partition(&handle, partition, deadline).await?;
                set.extend_rows(rows);
            }
        }
        Ok(set)
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the retry budget is spent.
    /// `attempt` receives whether this is a resend.
    async fn with_retries<F, Fut>(&self, deadline: Instant, mut attempt: F) -> Result<Outcome>
    where
        F: FnMut(bool) -> Fut,
        Fut: Future<Output = Result<Outcome>>,
    {
        let policy = &self.config.retry;
        let mut retries = 0u32;
        // Throttled/unavailable answers ridden out under `throttle_patience`: counted
        // apart (their own backoff), bounded by time rather than by attempts.
        let mut throttled = 0u32;
        let mut throttled_since: Option<Instant> = None;
        let throttle_policy = RetryPolicy {
            max_delay: policy.max_delay.min(THROTTLE_MAX_DELAY),
            ..policy.clone()
        };
        let mut reauthenticated = false;
        let mut resend = false;
        loop {
            let err = match attempt(resend).await {
                Ok(outcome) => return Ok(outcome),
                Err(err) => err,
            };
            resend = true;
            let (retry_after, busy) = match &err {
                Error::Unauthorized { .. } if !reauthenticated => {
                    // The cached JWT may have been refused for its age or a clock skew:
                    // sign a fresh one once before calling it an authentication failure.
                    self.auth.invalidate();
                    reauthenticated = true;
                    continue;
                }
                Error::Throttled { retry_after, .. } | Error::Unavailable { retry_after, .. } => {
                    (*retry_after, true)
                }
                Error::NotSent(_) | Error::OutcomeUnknown(_) => (None, false),
                _ => return Err(err),
            };
            let attempts = retries + throttled + 1;
            // Under patience, a throttle ends the retries when the patience is spent (not
            // at an attempt count); anything else counts against `max_attempts`.
            let patient = match (busy, self.config.throttle_patience) {
                (true, Some(patience)) => {
                    Some(throttled_since.get_or_insert_with(Instant::now).elapsed() < patience)
                }
                _ => None,
            };
            let give_up = match patient {
                Some(within) => !within,
                None => retries + 1 >= policy.max_attempts.max(1),
            };
            let patient = patient == Some(true);
            if give_up {
                return Err(Error::RetriesExhausted {
                    attempts,
                    last: Box::new(err),
                });
            }
            let delay = if patient {
                throttle_policy.delay(throttled, retry_after, &mut rand::rng())
            } else {
                policy.delay(retries, retry_after, &mut rand::rng())
            };
            // `Retry-After` is the server's to choose: one past the deadline ends the retries,
            // and one too large for an `Instant` must not panic on the addition.
            let too_late = Instant::now()
                .checked_add(delay)
                .is_none_or(|resume| resume >= deadline);
            if too_late {
                return Err(Error::RetriesExhausted {
                    attempts,
                    last: Box::new(err),
                });
            }
            tracing::debug!(attempt = attempts, ?delay, error = %err, "retrying a Snowflake request");
            if patient {
                throttled += 1;
            } else {
                retries += 1;
            }
            tokio::time::sleep(delay).await;
        }
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder> {
        let token = self.auth.bearer()?;
        let mut value = transport::header_value(&format!("Bearer {}", token.expose_secret()))?;
        value.set_sensitive(true);
        Ok(request
            .header(reqwest::header::AUTHORIZATION, value)
            .header(
                "X-Snowflake-Authorization-Token-Type",
                self.auth.token_type(),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.config.request_timeout))
    }

    async fn submit(&self, statement: &str, request_id: Uuid, resend: bool) -> Result<Outcome> {
        let mut query = vec![
            ("requestId", request_id.to_string()),
            ("async", "false".to_owned()),
            ("nullable", "true".to_owned()),
        ];
        if resend {
            query.push(("retry", "true".to_owned()));
        }
        let mut body = json!({ "statement": statement });
        if let Some(t) = self.config.server_timeout_secs {
            body["timeout"] = json!(t);
        }
        if let Some(role) = &self.config.role {
            body["role"] = json!(role);
        }
        if let Some(wh) = &self.config.warehouse {
            body["warehouse"] = json!(wh);
        }
        let request = self
            .http
            .post(self.account.url("/api/v2/statements"))
            .query(&query)
            .json(&body);
        self.exchange(self.authorized(request)?, false).await
    }

    async fn poll(&self, handle: &str, deadline: Instant) -> Result<Vec<u8>> {
        let path = status_path(handle)?;
        let mut interval = self.config.poll_initial;
        loop {
            tokio::time::sleep(interval).await;
            let outcome = self
                .with_retries(deadline, |_| async {
                    let request = self.authorized(self.http.get(self.account.url(&path)))?;
                    self.exchange(request, true).await
                })
                .await?;
            match outcome {
                Outcome::Done(body) => return Ok(body),
                Outcome::Running(_) => interval = (interval * 2).min(self.config.poll_max),
            }
        }
    }

    async fn fetch_partition(
        &self,
        handle: &str,
        partition: usize,
        deadline: Instant,
    ) -> Result<Vec<Vec<Option<String>>>> {
        let path = status_path(handle)?;
        let outcome = self
            .with_retries(deadline, |_| async {
                let request = self
                    .http
                    .get(self.account.url(&path))
                    .query(&[("partition", partition.to_string())])
                    .header(reqwest::header::ACCEPT_ENCODING, "gzip");
                self.exchange(self.authorized(request)?, true).await
            })
            .await?;
        let Outcome::Done(body) = outcome else {
            return Err(Error::Protocol(format!(
                "partition {partition} is not ready although the statement finished"
            )));
        };
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| transport::json_error("a result partition", &e))?;
        let rows = match value {
            Value::Array(rows) => rows,
            Value::Object(mut o) => match o.remove("data") {
                Some(Value::Array(rows)) => rows,
                _ => Vec::new(),
            },
            _ => {
                return Err(Error::Protocol(format!(
                    "partition {partition} is not JSON rows"
                )));
            }
        };
        rows.into_iter()
            .map(|row| match row {
                Value::Array(cells) => convert_row(cells),
                _ => Err(Error::Protocol(format!(
                    "partition {partition} has a non-array row"
                ))),
            })
            .collect()
    }

    /// One HTTP exchange under the in-flight bound, classified.
    async fn exchange(&self, request: reqwest::RequestBuilder, polling: bool) -> Result<Outcome> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Protocol("the request limiter was closed".into()))?;
        let reply = transport::send(
            request,
            "request",
            self.config.request_timeout,
            self.config.max_response_bytes,
        )
        .await?;
        classify(reply.status.as_u16(), &reply.headers, reply.body, polling)
    }
}

/// The leading keywords of a statement (`ALTER USER ROTATE PROGRAMMATIC`), for logs:
/// quoted names and literals are left out, so logs stay short and free of user text.
fn statement_kind(statement: &str) -> String {
    let mut outside = String::with_capacity(statement.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in statement.chars() {
        match quote {
            // A doubled quote closes and reopens: the net effect is still "inside".
            Some(q) if c == q && !escaped => quote = None,
            Some('\'') if c == '\\' && !escaped => escaped = true,
            Some(_) => escaped = false,
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                outside.push(' ');
            }
            None => outside.push(c),
        }
    }
    outside
        .split_whitespace()
        .filter(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .take(4)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_statement_kinds_carry_no_user_text() {
        assert_eq!(
            statement_kind(
                r#"ALTER USER "BI_SVC" ADD PROGRAMMATIC ACCESS TOKEN "T" COMMENT = 'x'"#
            ),
            "ALTER USER ADD PROGRAMMATIC"
        );
        assert_eq!(statement_kind(r#"DESC USER "A B"" C""#), "DESC USER");
        assert_eq!(
            statement_kind(r#"ALTER USER "U" SET COMMENT = 'IT\'S A SECRET'"#),
            "ALTER USER SET COMMENT"
        );
        assert_eq!(
            statement_kind(r#"GRANT ROLE "X Y" TO USER "Z W""#),
            "GRANT ROLE TO USER"
        );
    }
}
