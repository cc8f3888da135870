//! Classification of SQL API answers: what each HTTP status means for the statement.
//!
//! Kept apart from the transport so the mapping (the part most likely to need a change
//! when Snowflake's behaviour is better known) can be read and tested on its own.

use serde::Deserialize;

use super::error::{Error, Result};
use super::retry::parse_retry_after;
use super::transport::{excerpt, json_object};

/// What one HTTP exchange concluded.
pub(crate) enum Outcome {
    /// HTTP 200: the body.
    Done(Vec<u8>),
    /// HTTP 202 (or 429 with a QueryStatus while polling): the statement handle.
    Running(String),
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    sql_state: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    statement_handle: Option<String>,
}

/// The status path of a handle; refuses handles that could escape the path.
pub(crate) fn status_path(handle: &str) -> Result<String> {
    let safe = !handle.is_empty()
        && handle
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if safe {
        Ok(format!("/api/v2/statements/{handle}"))
    } else {
        Err(Error::Protocol(format!(
            "unusable statement handle {handle:?}"
        )))
    }
}

/// Maps an HTTP answer of the SQL API to an outcome or a typed error.
pub(crate) fn classify(
    status: u16,
    headers: &http::HeaderMap,
    body: Vec<u8>,
    polling: bool,
) -> Result<Outcome> {
    if status == 200 {
        return Ok(Outcome::Done(body));
    }
    let parsed: Option<StatusBody> = json_object(&body).ok();
    let has_body = parsed.is_some();
    let info = parsed.unwrap_or_default();
    let code = info.code.clone().unwrap_or_default();
    let message = info.message.clone().unwrap_or_else(|| {
        if has_body {
            String::new()
        } else {
            excerpt(&body)
        }
    });
    let retry_after = parse_retry_after(headers.get(http::header::RETRY_AFTER));
    match status {
        202 => info
            .statement_handle
            .map(Outcome::Running)
            .ok_or_else(|| Error::Protocol("HTTP 202 without a statement handle".into())),
        429 if polling && (info.statement_handle.is_some() || code == "333334") => {
            Ok(Outcome::Running(info.statement_handle.unwrap_or_default()))
        }
        408 => Err(Error::StatementTimeout { code, message }),
        422 => Err(Error::Statement {
            code,
            sql_state: info.sql_state.unwrap_or_default(),
            message,
            statement_handle: info.statement_handle,
        }),
        401 => Err(Error::Unauthorized {
            status,
            code,
            message,
        }),
        403 => Err(Error::Forbidden { code, message }),
        429 => Err(Error::Throttled {
            code,
            message,
            retry_after,
        }),
        400 | 404 | 405 | 415 => Err(Error::Rejected {
            status,
            code,
            message,
        }),
        500..=599 => Err(Error::Unavailable {
            status,
            code,
            message,
            retry_after,
        }),
        _ => Err(Error::Protocol(format!(
            "unexpected HTTP {status}: {message}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn run(status: u16, body: &str, polling: bool) -> Result<Outcome> {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("2"),
        );
        classify(status, &headers, body.as_bytes().to_vec(), polling)
    }

    #[test]
    fn answers_are_classified_as_the_reference_says() {
        let running = r#"{"code":"333334","message":"Asynchronous execution in progress.","statementHandle":"01b-2","statementStatusUrl":"/api/v2/statements/01b-2"}"#;
        assert!(matches!(run(202, running, false), Ok(Outcome::Running(h)) if h == "01b-2"));
        assert!(matches!(run(429, running, true), Ok(Outcome::Running(_))));
        assert!(matches!(
            run(429, r#"{"code":"390505","message":"Too many requests."}"#, false),
            Err(Error::Throttled { retry_after: Some(d), .. }) if d == Duration::from_secs(2)
        ));
        let failed = r#"{"code":"002003","sqlState":"02000","message":"SQL compilation error:\nObject 'X' does not exist or not authorized.","statementHandle":"h"}"#;
        match run(422, failed, false) {
            Err(Error::Statement {
                code,
                sql_state,
                message,
                statement_handle,
            }) => {
                assert_eq!(code, "002003");
                assert_eq!(sql_state, "02000");
                assert!(message.contains("does not exist"));
                assert_eq!(statement_handle.as_deref(), Some("h"));
            }
            _ => panic!("422 must be a statement error"),
        }
        assert!(
            matches!(run(401, r#"{"code":"390144","message":"JWT token is invalid."}"#, false), Err(Error::Unauthorized { code, .. }) if code == "390144")
        );
        assert!(matches!(
            run(
                400,
                r#"{"code":"390142","message":"Incoming request does not contain a valid payload."}"#,
                false
            ),
            Err(Error::Rejected { status: 400, .. })
        ));
        assert!(matches!(
            run(403, "{}", false),
            Err(Error::Forbidden { .. })
        ));
        assert!(matches!(
            run(408, running, true),
            Err(Error::StatementTimeout { .. })
        ));
        assert!(
            matches!(run(503, "<html>busy</html>", false), Err(Error::Unavailable { status: 503, message, .. }) if message.contains("busy"))
        );
        assert!(matches!(run(200, "{}", false), Ok(Outcome::Done(_))));
        assert!(run(202, "{}", false).is_err());
    }

    #[test]
    fn handles_cannot_escape_the_status_path() {
        assert_eq!(
            status_path("01bad80f-0000-4392-0000-3c790002f19e").unwrap(),
            "/api/v2/statements/01bad80f-0000-4392-0000-3c790002f19e"
        );
        for bad in ["", "../x", "a/b", "a?b", "a b"] {
            assert!(status_path(bad).is_err(), "{bad:?}");
        }
    }
}

/// Property tests of the SQL API's answers as the client reads them: whatever the status,
/// headers and body, classifying and parsing never panic, and a credential anywhere in a
/// body reaches an error or `Debug` output only through the fields Snowflake words for
/// people (`message`, `code`, `sqlState`, `statementHandle`).
#[cfg(test)]
#[path = "answers_props.rs"]
mod props;
