//! The emulator's answers to bad input (handles and request ids that are no UUIDs, bad
//! partitions, bodies, headers, methods and paths) carry the status sqlapi.yaml declares
//! for the operation, and the body its schema gives that status (or Snowflake's
//! `{code, message}` where the spec declares none).

mod emulator_support;

use emulator_support::openapi::{assert_valid, declared_answer, load, operation_method, schema};
use emulator_support::{admin_jwt, http, post_sql, start, statement_handle};
use serde_json::Value;

/// One request of [`answers_to_bad_input_keep_to_the_schema`]: by default with the SQL
/// API's headers and the admin's bearer, and no body.
struct BadRequest {
    what: &'static str,
    method: reqwest::Method,
    /// The spec's path template the request targets (`None`: a path the spec lacks).
    template: Option<&'static str>,
    path: String,
    /// Header changes: a value replaces the default, `None` leaves the header out.
    headers: Vec<(&'static str, Option<&'static str>)>,
    body: Option<&'static str>,
    expected: u16,
}

const STATEMENTS: &str = "/api/v2/statements";
const STATUS: &str = "/api/v2/statements/{statementHandle}";
const CANCEL: &str = "/api/v2/statements/{statementHandle}/cancel";

fn bad_request(
    what: &'static str,
    method: reqwest::Method,
    template: Option<&'static str>,
    path: impl Into<String>,
) -> BadRequest {
    BadRequest {
        what,
        method,
        template,
        path: path.into(),
        headers: Vec::new(),
        body: None,
        expected: 0,
    }
}

fn bad_get(what: &'static str, template: &'static str, path: impl Into<String>) -> BadRequest {
    bad_request(what, reqwest::Method::GET, Some(template), path)
}

fn bad_post(what: &'static str, template: &'static str, path: impl Into<String>) -> BadRequest {
    bad_request(what, reqwest::Method::POST, Some(template), path)
}

impl BadRequest {
    fn header(mut self, name: &'static str, value: Option<&'static str>) -> Self {
        self.headers.push((name, value));
        self
    }

    fn body(mut self, body: &'static str) -> Self {
        self.body = Some(body);
        self
    }

    fn answered(mut self, status: u16) -> Self {
        self.expected = status;
        self
    }

    async fn send(&self, client: &reqwest::Client, base: &str, bearer: &str) -> (u16, Value) {
        let mut headers = vec![
            ("Authorization", Some(format!("Bearer {bearer}"))),
            ("Accept", Some("application/json".to_owned())),
            ("User-Agent", Some("emulator-tests/1.0".to_owned())),
            ("Content-Type", Some("application/json".to_owned())),
        ];
        for (name, value) in &self.headers {
            headers.retain(|(n, _)| n != name);
            headers.push((name, value.map(str::to_owned)));
        }
        let mut builder = client.request(self.method.clone(), format!("{base}{}", self.path));
        for (name, value) in headers {
            if let Some(value) = value {
                builder = builder.header(name, value);
            }
        }
        if let Some(body) = self.body {
            builder = builder.body(body);
        }
        let response = builder.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: the body is not JSON ({e}): {text}", self.what))
        };
        (status, body)
    }
}

#[tokio::test]
async fn answers_to_bad_input_keep_to_the_schema() {
    let sqlapi = load("sqlapi.yaml");
    let common = load("common.yaml");
    let error = schema(&common, "ErrorResponse");
    let running = start(false).await;
    let client = http();
    let admin = admin_jwt(&running);
    let (_, _, body) = post_sql(&client, &running, &admin, "SELECT CURRENT_USER()", "").await;
    let known = statement_handle(&body);
    let unknown = uuid::Uuid::new_v4().to_string().to_uppercase();
    let braced = format!("{{{}}}", uuid::Uuid::new_v4());
    let select = r#"{"statement": "SELECT CURRENT_USER()"}"#;
    let known_path = format!("{STATEMENTS}/{known}");
    let cases = [
        bad_get(
            "a poll of a handle that is no UUID",
            STATUS,
            "/api/v2/statements/null,null",
        )
        .answered(400),
        bad_post(
            "a cancel of a handle that is no UUID",
            CANCEL,
            "/api/v2/statements/null,null/cancel",
        )
        .answered(400),
        bad_get(
            "a poll of a handle that is not UTF-8",
            STATUS,
            "/api/v2/statements/%FF%FE",
        )
        .answered(400),
        bad_get(
            "a poll of a braced UUID",
            STATUS,
            format!("{STATEMENTS}/{braced}"),
        )
        .answered(400),
        bad_get(
            "a poll of an unknown uppercase UUID",
            STATUS,
            format!("{STATEMENTS}/{unknown}"),
        )
        .answered(422),
        bad_post(
            "a cancel of an unknown UUID",
            CANCEL,
            format!("{STATEMENTS}/{unknown}/cancel"),
        )
        .answered(422),
        bad_get(
            "a poll with a requestId that is no UUID",
            STATUS,
            format!("{known_path}?requestId=null"),
        )
        .answered(400),
        bad_post(
            "a cancel with a requestId that is no UUID",
            CANCEL,
            format!("{known_path}/cancel?requestId=1"),
        )
        .answered(400),
        bad_get(
            "a negative partition",
            STATUS,
            format!("{known_path}?partition=-1"),
        )
        .answered(400),
        bad_get(
            "a partition the result lacks",
            STATUS,
            format!("{known_path}?partition=7"),
        )
        .answered(422),
        bad_post(
            "a submit with a braced requestId",
            STATEMENTS,
            format!("{STATEMENTS}?requestId={braced}"),
        )
        .body(select)
        .answered(400),
        bad_post("a submit whose body is no JSON", STATEMENTS, STATEMENTS)
            .body("{\"statement\":")
            .answered(400),
        bad_post(
            "a submit without a statement (every field is optional)",
            STATEMENTS,
            STATEMENTS,
        )
        .body("{}")
        .answered(422),
        bad_post("a submit without a User-Agent", STATEMENTS, STATEMENTS)
            .header("User-Agent", None)
            .body(select)
            .answered(400),
        bad_post(
            "a cancel without a User-Agent",
            CANCEL,
            format!("{known_path}/cancel"),
        )
        .header("User-Agent", None)
        .answered(400),
        bad_get("a poll that accepts only HTML", STATUS, known_path.clone())
            .header("Accept", Some("text/html"))
            .answered(400),
        bad_post(
            "a submit whose body is a JSON array",
            STATEMENTS,
            STATEMENTS,
        )
        .body(r#"["SELECT CURRENT_USER()"]"#)
        .answered(400),
        bad_post("a submit with a negative timeout", STATEMENTS, STATEMENTS)
            .body(r#"{"statement": "SELECT CURRENT_USER()", "timeout": -1}"#)
            .answered(400),
        bad_post(
            "a submit with a statement count in words",
            STATEMENTS,
            STATEMENTS,
        )
        .body(r#"{"statement": "SELECT 1", "parameters": {"multi_statement_count": "two"}}"#)
        .answered(400),
        bad_post("a submit in XML", STATEMENTS, STATEMENTS)
            .header("Content-Type", Some("application/xml"))
            .body(select)
            .answered(415),
        bad_get("a poll without a token", STATUS, known_path.clone())
            .header("Authorization", None)
            .answered(401),
        bad_get(
            "a poll of a bad handle without a token",
            STATUS,
            "/api/v2/statements/null,null",
        )
        .header("Authorization", None)
        .answered(401),
        bad_get("GET on the submit path", STATEMENTS, STATEMENTS).answered(405),
        bad_request(
            "DELETE of a statement",
            reqwest::Method::DELETE,
            Some(STATUS),
            known_path.clone(),
        )
        .answered(405),
        bad_request(
            "a path the API lacks",
            reqwest::Method::GET,
            None,
            "/api/v2/statements/a/b/c",
        )
        .answered(404),
    ];
    for case in &cases {
        let (status, body) = case.send(&client, &running.base_url(), &admin).await;
        assert_eq!(status, case.expected, "{}: {body}", case.what);
        let declared = case.template.map(|template| {
            // A wrong method has no operation of its own: read the 405 of the path's one.
            let method = match status {
                405 => operation_method(&sqlapi, template),
                _ => case.method.as_str().to_ascii_lowercase(),
            };
            declared_answer(&sqlapi, template, &method, status)
        });
        match declared.flatten() {
            Some(schema) => assert_valid(&schema, &body, case.what),
            // No body declared: Snowflake's `{code, message}`, or nothing at all.
            None if body.is_null() => {}
            None => {
                assert_valid(&error, &body, case.what);
                assert!(body["message"].is_string(), "{}: {body}", case.what);
            }
        }
    }
    running.shutdown().await;
}
