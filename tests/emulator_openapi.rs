//! Emulator answers validated against Snowflake's published OpenAPI schemas in
//! `../shared/reference/snowflake-openapi/` (a missing folder fails the test).

mod emulator_support;

use std::path::PathBuf;

use emulator_support::{
    add_tokens, admin_jwt, cancel, get, http, partitioned_config, post_sql, start, start_with,
    statement_handle,
};
use serde_json::{Map, Value, json};
use snowflake_token_operator::emulator::{FaultKind, FaultSpec};

fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/snowflake-openapi")
}

fn load(file: &str) -> Value {
    let path = spec_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the OpenAPI reference {} is required by this test and could not be read: {e}",
            path.display()
        )
    });
    serde_yaml::from_str(&text).expect("the OpenAPI file is YAML")
}

/// Converts an OpenAPI 3.0 schema to JSON Schema: inline `$ref`s, turn `nullable`
/// into a `null` type, drop `example`, and drop `format: uri` (Snowflake itself
/// answers relative `statementStatusUrl`s).
fn to_json_schema(schema: &Value, root: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                let pointer = reference.trim_start_matches('#');
                let target = root
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("unresolved $ref {reference}"));
                return to_json_schema(target, root);
            }
            let mut out = Map::new();
            for (key, value) in map {
                match key.as_str() {
                    // Property names are not keywords: a property may be called `nullable`.
                    "properties" => {
                        let properties = value
                            .as_object()
                            .map(|p| {
                                p.iter()
                                    .map(|(name, s)| (name.clone(), to_json_schema(s, root)))
                                    .collect::<Map<_, _>>()
                            })
                            .unwrap_or_default();
                        out.insert(key.clone(), Value::Object(properties));
                    }
                    "example" | "nullable" => {}
                    "format" if value == "uri" => {}
                    _ => {
                        out.insert(key.clone(), to_json_schema(value, root));
                    }
                }
            }
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(t)) = map.get("type")
            {
                out.insert("type".into(), json!([t, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| to_json_schema(v, root)).collect())
        }
        other => other.clone(),
    }
}

fn schema(root: &Value, name: &str) -> Value {
    let raw = root
        .pointer(&format!("/components/schemas/{name}"))
        .unwrap_or_else(|| panic!("schema {name} missing from the spec"));
    to_json_schema(raw, root)
}

/// Validates with `format` checked too (`uuid` for every `statementHandle`): the JSON
/// Schema drafts only annotate formats unless told to assert them.
fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("schema compiles")
}

fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let validator = validator(schema);
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the schema: {errors:?}\n{instance}"
    );
}

/// Fields the emulator sends beyond the published schema, all seen in real answers.
fn assert_known_fields(schema: &Value, instance: &Value, extra: &[&str], what: &str) {
    let properties = schema["properties"].as_object().expect("properties");
    for key in instance.as_object().expect("object").keys() {
        assert!(
            properties.contains_key(key) || extra.contains(&key.as_str()),
            "{what}: field {key} is neither in the schema nor a known real field"
        );
    }
}

#[tokio::test]
async fn sql_api_answers_match_the_published_schemas() {
    let sqlapi = load("sqlapi.yaml");
    let common = load("common.yaml");
    let result_set = schema(&sqlapi, "ResultSet");
    let query_status = schema(&sqlapi, "QueryStatus");
    let failure = schema(&sqlapi, "QueryFailureStatus");
    let cancel_status = schema(&sqlapi, "CancelStatus");
    let error = schema(&common, "ErrorResponse");

    // The converted schemas do constrain answers (guards against a no-op conversion).
    let broken = json!({"resultSetMetaData": {"numRows": "1", "format": "jsonv2"}, "data": [[1]]});
    assert_eq!(validator(&result_set).iter_errors(&broken).count(), 2);
    assert!(
        !validator(&query_status).is_valid(&json!({"code": "333334"})),
        "statementHandle is required"
    );
    assert!(
        !validator(&query_status).is_valid(&json!({"statementHandle": "null,null"})),
        "statementHandle is a UUID"
    );

    let running = start(false).await;
    let client = http();
    let admin = admin_jwt(&running);

    for sql in [
        "SELECT CURRENT_USER(), CURRENT_ROLE(), CURRENT_ACCOUNT()",
        "ALTER USER BI_SVC ADD PAT schema_tok ROLE_RESTRICTION = 'ANALYST'",
        "SHOW USER PATS FOR USER BI_SVC",
        "DESC USER BI_SVC",
        "SHOW GRANTS TO USER BI_SVC",
        "ALTER USER BI_SVC ROTATE PAT schema_tok",
    ] {
        let (status, _, body) = post_sql(&client, &running, &admin, sql, "").await;
        assert_eq!(status, 200, "{sql}: {body}");
        assert_valid(&result_set, &body, sql);
        assert_known_fields(&result_set, &body, &["requestId"], sql);
        let row_type_item =
            &result_set["properties"]["resultSetMetaData"]["properties"]["rowType"]["items"];
        for column in body["resultSetMetaData"]["rowType"]
            .as_array()
            .expect("rowType")
        {
            assert_known_fields(
                row_type_item,
                column,
                &["database", "schema", "table", "byteLength", "collation"],
                sql,
            );
            let wire_type = column["type"].as_str().expect("type");
            assert_eq!(
                wire_type,
                wire_type.to_lowercase(),
                "rowType types are lowercase"
            );
        }
    }

    let (status, _, body) = post_sql(
        &client,
        &running,
        &admin,
        "SELECT CURRENT_USER()",
        "?async=true",
    )
    .await;
    assert_eq!(status, 202);
    assert_valid(&query_status, &body, "202 QueryStatus");
    let handle = statement_handle(&body);

    let (status, _, body) = post_sql(
        &client,
        &running,
        &admin,
        "GRANT ROLE NOPE TO USER BI_SVC",
        "",
    )
    .await;
    assert_eq!(status, 422);
    assert_valid(&failure, &body, "422 QueryFailureStatus");

    running.inject_fault(FaultSpec::new(
        FaultKind::AsyncDelay {
            delay_ms: Some(600_000),
            polls: None,
        },
        1,
    ));
    let (_, _, body) = post_sql(&client, &running, &admin, "SELECT CURRENT_USER()", "").await;
    let running_handle = statement_handle(&body);
    for h in [running_handle, handle] {
        let (status, body) = cancel(&client, &running, &admin, &h).await;
        assert_eq!(status, 200);
        assert_valid(&cancel_status, &body, "CancelStatus");
    }

    running.inject_fault(FaultSpec::new(
        FaultKind::TooManyRequests {
            retry_after_secs: None,
        },
        1,
    ));
    let (status, _, body) = post_sql(&client, &running, &admin, "SELECT CURRENT_USER()", "").await;
    assert_eq!(status, 429);
    assert_valid(&error, &body, "429 body");
    running.inject_fault(FaultSpec::new(FaultKind::StatementTimeout, 1));
    let (status, _, body) = post_sql(&client, &running, &admin, "SELECT CURRENT_USER()", "").await;
    assert_eq!(status, 408);
    assert_valid(&query_status, &body, "408 QueryStatus");

    running.inject_fault(FaultSpec::new(
        FaultKind::AsyncDelay {
            delay_ms: None,
            polls: Some(1),
        },
        1,
    ));
    let (_, _, body) = post_sql(&client, &running, &admin, "SELECT CURRENT_USER()", "").await;
    let polled = statement_handle(&body);
    running.inject_fault(FaultSpec::new(FaultKind::ThrottledPoll, 1).on_method("GET"));
    let (status, body) = get(
        &client,
        &running,
        &admin,
        &format!("/api/v2/statements/{polled}"),
    )
    .await;
    assert_eq!(status, 429);
    assert_valid(&query_status, &body, "429 QueryStatus on a poll");

    let (status, _, body) = post_sql(
        &client,
        &running,
        "not-a-token",
        "SELECT CURRENT_USER()",
        "",
    )
    .await;
    assert_eq!(status, 401);
    assert_valid(&error, &body, "401 body");
    running.shutdown().await;
}

#[tokio::test]
async fn partitioned_answers_match_the_published_schemas() {
    let sqlapi = load("sqlapi.yaml");
    let result_set = schema(&sqlapi, "ResultSet");
    let failure = schema(&sqlapi, "QueryFailureStatus");
    // A further partition is the `data` of a ResultSet, alone.
    let rows = result_set["properties"]["data"].clone();
    assert!(
        !validator(&rows).is_valid(&json!({"data": []})),
        "the rows schema constrains answers"
    );

    let running = start_with(partitioned_config(5, false), false).await;
    add_tokens(running.emulator(), 12);
    let client = http();
    let admin = admin_jwt(&running);
    let (status, _, first) = post_sql(
        &client,
        &running,
        &admin,
        "SHOW USER PATS FOR USER BI_SVC",
        "",
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first["resultSetMetaData"]["partitionInfo"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_valid(&result_set, &first, "partition 0 of a partitioned result");
    assert_known_fields(&result_set, &first, &["requestId"], "partition 0");
    let handle = statement_handle(&first);

    for partition in 1..=2 {
        let path = format!("/api/v2/statements/{handle}?partition={partition}");
        let (status, body) = get(&client, &running, &admin, &path).await;
        assert_eq!(status, 200, "{body}");
        assert_valid(&rows, &body, &format!("partition {partition}"));
    }
    let path = format!("/api/v2/statements/{handle}?partition=3");
    let (status, body) = get(&client, &running, &admin, &path).await;
    assert_eq!(status, 422, "{body}");
    assert_valid(&failure, &body, "422 for a partition out of range");
    running.shutdown().await;
}

/// The schema sqlapi.yaml gives the answer `status` of `method` on `path` (a path
/// template of the spec): `Some(schema)` when the answer has a JSON body there, `None`
/// when the spec declares the status without a body (400, 404, 405, ...). Fails the test
/// when the status is not declared for the operation at all.
fn declared_answer(root: &Value, path: &str, method: &str, status: u16) -> Option<Value> {
    let pointer = format!(
        "/paths/{}/{method}/responses/{status}",
        path.replace('~', "~0").replace('/', "~1")
    );
    let mut answer = root
        .pointer(&pointer)
        .unwrap_or_else(|| panic!("{method} {path}: status {status} is not declared"));
    while let Some(reference) = answer.get("$ref").and_then(Value::as_str) {
        answer = root
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("unresolved $ref {reference}"));
    }
    answer
        .pointer("/content/application~1json/schema")
        .map(|schema| to_json_schema(schema, root))
}

/// The method of the one operation sqlapi.yaml declares on `path`.
fn operation_method(root: &Value, path: &str) -> String {
    let item = root["paths"][path].as_object().expect("path declared");
    let methods: Vec<&String> = item.keys().filter(|k| *k != "parameters").collect();
    assert_eq!(methods.len(), 1, "{path}: one operation");
    methods[0].clone()
}

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
