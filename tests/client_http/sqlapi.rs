//! The SQL API transport: headers, retries, polling, partitions, deadlines, bounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use snowflake_token_operator::snowflake::{AddPatRequest, Category, Error, SnowflakeApi};

use crate::support::*;

#[tokio::test]
async fn a_statement_carries_the_required_headers_and_body() {
    let (base, script) = server(vec![identity()]).await;
    let (client, _) = connect(&base, fast_config());
    let id = client.verify_identity().await.unwrap();
    assert_eq!(id.user, "ADMIN");
    assert_eq!(id.role.as_deref(), Some("SYSADMIN"));

    let seen = script.seen();
    let req = &seen[0];
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.path, "/api/v2/statements");
    assert!(uuid::Uuid::parse_str(&req.query["requestId"]).is_ok());
    assert!(!req.query.contains_key("retry"));
    let header = |n: &str| req.headers.get(n).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("authorization"), "Bearer test-jwt-0");
    assert_eq!(
        header("x-snowflake-authorization-token-type"),
        "KEYPAIR_JWT"
    );
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("accept"), "application/json");
    assert!(header("user-agent").starts_with("snowflake-token-operator/"));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["statement"], "SELECT CURRENT_USER(), CURRENT_ROLE()");
}

#[tokio::test]
async fn throttles_and_server_errors_are_ridden_out_with_the_same_request_id() {
    let (base, script) = server(vec![
        Step::Reply(429, TOO_MANY.into()),
        Step::ReplyWith(503, "{}".into(), "retry-after", "0"),
        Step::Reply(500, "{}".into()),
        identity(),
    ])
    .await;
    let (client, _) = connect(&base, fast_config());
    client.verify_identity().await.unwrap();
    let seen = script.seen();
    assert_eq!(seen.len(), 4);
    let first_id = &seen[0].query["requestId"];
    for (i, req) in seen.iter().enumerate() {
        assert_eq!(&req.query["requestId"], first_id, "attempt {i}");
        assert_eq!(
            req.query.get("retry").map(String::as_str),
            (i > 0).then_some("true")
        );
    }
}

#[tokio::test]
async fn a_lost_response_is_resent_and_yields_the_one_token() {
    let add = result_set(
        &["token_name", "token_secret"],
        r#"[["PBI","pat-secret-1"]]"#,
    );
    let (base, script) = server(vec![Step::Hang, Step::Reply(200, add)]).await;
    let (client, _) = connect(&base, fast_config());
    let spec = AddPatRequest {
        name: "pbi".into(),
        role_restriction: Some("ANALYST".into()),
        ..Default::default()
    };
    let pat = client.add_pat("BI_SVC", &spec).await.unwrap();
    assert_eq!(pat.name, "PBI");
    assert_eq!(pat.secret.expose_secret(), "pat-secret-1");
    let seen = script.seen();
    assert_eq!(seen.len(), 2, "the statement and its one resend");
    assert_eq!(seen[0].query["requestId"], seen[1].query["requestId"]);
    assert_eq!(seen[1].query["retry"], "true");
    let body: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(
        body["statement"],
        r#"ALTER USER "BI_SVC" ADD PROGRAMMATIC ACCESS TOKEN "PBI" ROLE_RESTRICTION = 'ANALYST'"#
    );
    assert!(!format!("{pat:?}").contains("pat-secret-1"));
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let failed = r#"{"code":"002003","sqlState":"02000","message":"SQL compilation error:\nObject 'BI_SVC' does not exist or not authorized.","statementHandle":"01b-9"}"#;
    let (base, script) = server(vec![Step::Reply(422, failed.into()), identity()]).await;
    let (client, _) = connect(&base, fast_config());
    let err = client.rotate_pat("BI_SVC", "PBI", 24).await.unwrap_err();
    assert_eq!(err.category(), Category::NotFound);
    assert_eq!(err.snowflake_code(), Some("002003"));
    assert!(!err.is_transient());
    assert_eq!(script.seen().len(), 1);

    let (base, script) = server(vec![Step::Reply(
        400,
        r#"{"code":"390142","message":"Incoming request does not contain a valid payload."}"#
            .into(),
    )])
    .await;
    let (client, _) = connect(&base, fast_config());
    let err = client.verify_identity().await.unwrap_err();
    assert!(matches!(err, Error::Rejected { status: 400, .. }), "{err}");
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test]
async fn a_refused_jwt_is_re_signed_once_then_reported() {
    let refused = r#"{"code":"390144","message":"JWT token is invalid."}"#;
    let (base, script) = server(vec![Step::Reply(401, refused.into()), identity()]).await;
    let (client, auth) = connect(&base, fast_config());
    client.verify_identity().await.unwrap();
    assert_eq!(auth.invalidations.load(Ordering::SeqCst), 1);
    assert_eq!(
        script.seen()[1].headers["authorization"].to_str().unwrap(),
        "Bearer test-jwt-1"
    );

    let (base, script) = server(vec![
        Step::Reply(401, refused.into()),
        Step::Reply(401, refused.into()),
        identity(),
    ])
    .await;
    let (client, _) = connect(&base, fast_config());
    let err = client.verify_identity().await.unwrap_err();
    assert_eq!(err.category(), Category::Auth);
    assert_eq!(err.snowflake_code(), Some("390144"));
    assert_eq!(script.seen().len(), 2);
}

#[tokio::test]
async fn a_throttle_storm_beyond_the_budget_gives_up_with_a_transient_error() {
    let (base, script) = server(vec![Step::Reply(429, TOO_MANY.into()); 10]).await;
    let mut config = fast_config();
    config.retry.max_attempts = 3;
    let (client, _) = connect(&base, config);
    let err = client.verify_identity().await.unwrap_err();
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(err.category(), Category::Throttled);
    assert!(err.is_transient());
    assert_eq!(script.seen().len(), 3);
}

#[tokio::test]
async fn a_running_statement_is_polled_until_it_finishes() {
    let (base, script) = server(vec![
        Step::Reply(202, RUNNING.into()),
        Step::Reply(202, RUNNING.into()),
        Step::Reply(429, RUNNING.into()),
        Step::Reply(503, "{}".into()),
        identity(),
    ])
    .await;
    let (client, _) = connect(&base, fast_config());
    assert_eq!(client.verify_identity().await.unwrap().user, "ADMIN");
    let seen = script.seen();
    assert_eq!(seen.len(), 5);
    for req in &seen[1..] {
        assert_eq!(req.method, Method::GET);
        assert_eq!(req.path, "/api/v2/statements/01b-1");
        assert!(req.headers.contains_key("authorization"));
    }
}

#[tokio::test]
async fn partitioned_results_are_fetched_and_gunzipped() {
    let first = r#"{"resultSetMetaData":{"numRows":3,"format":"jsonv2","partitionInfo":[{"rowCount":1},{"rowCount":2}],"rowType":[{"name":"name","type":"text"},{"name":"status","type":"text"}]},"data":[["A","ACTIVE"]],"statementHandle":"01b-1"}"#;
    let (base, script) = server(vec![
        Step::Reply(200, first.into()),
        Step::Gzip(r#"{"data":[["B","DISABLED"],["C","EXPIRED"]]}"#.into()),
    ])
    .await;
    let (client, _) = connect(&base, fast_config());
    let pats = client.list_pats("BI_SVC").await.unwrap();
    let names: Vec<_> = pats.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["A", "B", "C"]);
    assert_eq!(script.seen()[1].query["partition"], "1");
}

#[tokio::test]
async fn the_statement_deadline_bounds_everything() {
    let (base, _script) = server(vec![Step::Reply(202, RUNNING.into()); 1000]).await;
    let mut config = fast_config();
    config.statement_timeout = Duration::from_millis(200);
    let (client, _) = connect(&base, config);
    let err = client.verify_identity().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                what: "statement",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_transient());
}

#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
    notify: tokio::sync::Notify,
}

async fn gauged(State(g): State<Arc<Gauge>>) -> Response {
    let now = g.now.fetch_add(1, Ordering::SeqCst) + 1;
    g.max.fetch_max(now, Ordering::SeqCst);
    if now >= 2 {
        g.notify.notify_waiters();
    } else {
        // Hold the request until a second one arrives (bounded, in case none does).
        let _ = tokio::time::timeout(Duration::from_millis(500), g.notify.notified()).await;
    }
    g.now.fetch_sub(1, Ordering::SeqCst);
    let Step::Reply(_, body) = identity() else {
        unreachable!()
    };
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

#[tokio::test]
async fn in_flight_requests_are_bounded_per_connection() {
    let gauge = Arc::new(Gauge::default());
    let base = serve(Router::new().fallback(gauged).with_state(gauge.clone())).await;
    let mut config = fast_config();
    config.max_in_flight = 2;
    config.request_timeout = Duration::from_secs(5);
    let (client, _) = connect(&base, config);
    let client = Arc::new(client);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.verify_identity().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(gauge.max.load(Ordering::SeqCst), 2);
}
