//! The emulator over HTTP: SQL API headers, key-pair JWT and PAT authentication,
//! idempotent retries, the asynchronous 202 path, cancellation, every injectable
//! fault, and the test endpoints' flag.

mod emulator_support;

use std::time::Duration;

use emulator_support::{
    admin_jwt, cancel, cell, get, http, jwt, key, mint_pat, now_secs, post_sql, sign, start,
    statement_handle,
};
use serde_json::{Value, json};
use snowflake_token_operator::emulator::{FaultKind, FaultSpec};

const SELECT: &str = "SELECT CURRENT_USER(), CURRENT_ROLE()";

#[tokio::test]
async fn key_pair_jwt_rules() {
    let running = start(false).await;
    let client = http();
    let now = now_secs(&running);

    let (status, _, body) = post_sql(&client, &running, &admin_jwt(&running), SELECT, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cell(&body, 0, "CURRENT_USER()"), Some("OPERATOR_ADMIN"));
    assert_eq!(cell(&body, 0, "CURRENT_ROLE()"), Some("USERADMIN"));

    let k1 = key(1);
    let k2 = key(2);
    let accepted = [
        (
            "locator account",
            jwt("XY12345", "OPERATOR_ADMIN", &k1, now),
        ),
        (
            "second key slot",
            jwt("MYORG-TEST", "OPERATOR_ADMIN", &k2, now),
        ),
        (
            "milliseconds and extra claims",
            sign(
                &k1,
                &json!({"iss": format!("MYORG-TEST.OPERATOR_ADMIN.{}", k1.fingerprint),
                        "sub": "MYORG-TEST.OPERATOR_ADMIN", "iat": now * 1000,
                        "exp": (now + 60) * 1000, "nbf": now}),
            ),
        ),
    ];
    for (what, token) in accepted {
        let (status, _, body) = post_sql(&client, &running, &token, SELECT, "").await;
        assert_eq!(status, 200, "{what}: {body}");
    }

    let claims = |iss: String, sub: &str, iat: i64, exp: i64| json!({"iss": iss, "sub": sub, "iat": iat, "exp": exp});
    let good_iss = format!("MYORG-TEST.OPERATOR_ADMIN.{}", k1.fingerprint);
    let refused = [
        (
            "wrong key for the fingerprint",
            sign(
                &key(3),
                &claims(good_iss.clone(), "MYORG-TEST.OPERATOR_ADMIN", now, now + 60),
            ),
        ),
        (
            "unregistered key",
            jwt("MYORG-TEST", "OPERATOR_ADMIN", &key(3), now),
        ),
        ("key of another user", jwt("MYORG-TEST", "BI_SVC", &k1, now)),
        (
            "expired",
            sign(
                &k1,
                &claims(
                    good_iss.clone(),
                    "MYORG-TEST.OPERATOR_ADMIN",
                    now - 120,
                    now - 60,
                ),
            ),
        ),
        (
            "lifetime over an hour",
            sign(
                &k1,
                &claims(
                    good_iss.clone(),
                    "MYORG-TEST.OPERATOR_ADMIN",
                    now,
                    now + 7200,
                ),
            ),
        ),
        (
            "issued over an hour ago",
            sign(
                &k1,
                &claims(
                    good_iss.clone(),
                    "MYORG-TEST.OPERATOR_ADMIN",
                    now - 3700,
                    now + 60,
                ),
            ),
        ),
        (
            "sub differs from iss",
            sign(
                &k1,
                &claims(good_iss.clone(), "MYORG-TEST.ALICE", now, now + 60),
            ),
        ),
        (
            "lowercase account and user",
            jwt("myorg-test", "operator_admin", &k1, now),
        ),
        ("unknown account", jwt("OTHER", "OPERATOR_ADMIN", &k1, now)),
        ("not a JWT", "a.b.c".to_owned()),
    ];
    for (what, token) in refused {
        let (status, _, body) = post_sql(&client, &running, &token, SELECT, "").await;
        assert_eq!(status, 401, "{what}: {body}");
        let expected = if what == "not a JWT" {
            "394400"
        } else {
            "390144"
        };
        assert_eq!(body["code"], expected, "{what}: {body}");
    }
    let (status, _, body) = post_sql(&client, &running, "a.b.c", SELECT, "").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Programmatic access token is invalid."))
    );

    let response = client
        .post(format!("{}/api/v2/statements", running.base_url()))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .header("User-Agent", "t/1")
        .body(r#"{"statement":"SELECT CURRENT_USER()"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 401, "no Authorization header");
    running.shutdown().await;
}

#[tokio::test]
async fn pat_bearer_sessions_run_as_the_restriction_role() {
    let running = start(false).await;
    let client = http();
    let admin = admin_jwt(&running);
    let secret = mint_pat(
        &client,
        &running,
        &admin,
        "ALTER USER BI_SVC ADD PAT bi ROLE_RESTRICTION = 'LOADER'",
    )
    .await;

    let (status, _, body) = post_sql(&client, &running, &secret, SELECT, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cell(&body, 0, "CURRENT_USER()"), Some("BI_SVC"));
    assert_eq!(cell(&body, 0, "CURRENT_ROLE()"), Some("LOADER"));

    let (status, _, body) =
        post_sql(&client, &running, &secret, "ALTER USER ADD PAT other", "").await;
    assert_eq!(status, 422, "a PAT session cannot manage PATs: {body}");
    assert_eq!(body["code"], "003001");

    assert!(
        !format!("{running:?}").contains(&secret),
        "Debug never shows a secret"
    );
    let (status, _, body) = post_sql(&client, &running, "sfemu_pat_unknown", SELECT, "").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("394400")));
    running.shutdown().await;
}

#[tokio::test]
async fn headers_and_payload_are_checked() {
    let running = start(false).await;
    let client = http();
    let url = format!("{}/api/v2/statements", running.base_url());
    let bearer = format!("Bearer {}", admin_jwt(&running));
    let base = || {
        client
            .post(&url)
            .header("Authorization", &bearer)
            .header("Accept", "application/json")
    };
    let response = base()
        .header("Content-Type", "text/plain")
        .header("User-Agent", "t/1")
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 415);
    let response = base()
        .header("Content-Type", "application/json")
        .body(r#"{"statement":"SELECT CURRENT_USER()"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400, "User-Agent is required");
    let response = base()
        .header("Content-Type", "application/json")
        .header("User-Agent", "t/1")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "390142");
    assert_eq!(
        body["message"],
        "Incoming request does not contain a valid payload."
    );

    let (status, _, body) =
        post_sql(&client, &running, &admin_jwt(&running), "DROP TABLE t", "").await;
    assert_eq!(status, 422);
    assert_eq!(
        (body["code"].as_str(), body["sqlState"].as_str()),
        (Some("001003"), Some("42000"))
    );
    assert!(body["statementHandle"].is_string());
    running.shutdown().await;
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_returns_the_first_result() {
    let running = start(false).await;
    let client = http();
    let admin = admin_jwt(&running);
    let request_id = uuid::Uuid::new_v4().to_string();
    let sql = "ALTER USER BI_SVC ADD PAT once ROLE_RESTRICTION = 'ANALYST'";
    let (status, _, first) = post_sql(
        &client,
        &running,
        &admin,
        sql,
        &format!("?requestId={request_id}"),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let (status, _, again) = post_sql(
        &client,
        &running,
        &admin,
        sql,
        &format!("?requestId={request_id}&retry=true"),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        cell(&again, 0, "token_secret"),
        cell(&first, 0, "token_secret")
    );
    assert_eq!(again["statementHandle"], first["statementHandle"]);
    assert_eq!(running.emulator().executions_for(&request_id), 1);
    assert_eq!(
        running.snapshot().user("BI_SVC").expect("user").pats.len(),
        1
    );
    running.shutdown().await;
}

#[tokio::test]
async fn async_execution_answers_202_then_the_result_on_polling() {
    let running = start(false).await;
    let client = http();
    let admin = admin_jwt(&running);
    let (status, _, body) = post_sql(&client, &running, &admin, SELECT, "?async=true").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["code"], "333334");
    let url = body["statementStatusUrl"]
        .as_str()
        .expect("status url")
        .to_owned();
    let (status, body) = get(&client, &running, &admin, &url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cell(&body, 0, "CURRENT_USER()"), Some("OPERATOR_ADMIN"));
    let (status, body) = get(&client, &running, &admin, &format!("{url}?partition=0")).await;
    assert_eq!(status, 200, "{body}");

    running.inject_fault(FaultSpec::new(
        FaultKind::AsyncDelay {
            delay_ms: None,
            polls: Some(2),
        },
        1,
    ));
    let (status, _, body) = post_sql(&client, &running, &admin, SELECT, "").await;
    assert_eq!(
        status, 202,
        "an async_delay fault turns a sync request into 202"
    );
    let url = body["statementStatusUrl"]
        .as_str()
        .expect("status url")
        .to_owned();
    assert_eq!(get(&client, &running, &admin, &url).await.0, 202);
    assert_eq!(get(&client, &running, &admin, &url).await.0, 202);
    assert_eq!(get(&client, &running, &admin, &url).await.0, 200);

    running.inject_fault(FaultSpec::new(
        FaultKind::AsyncDelay {
            delay_ms: Some(60_000),
            polls: None,
        },
        1,
    ));
    let (_, _, body) = post_sql(&client, &running, &admin, SELECT, "").await;
    let url = body["statementStatusUrl"]
        .as_str()
        .expect("status url")
        .to_owned();
    assert_eq!(get(&client, &running, &admin, &url).await.0, 202);
    running.advance_clock(jiff::SignedDuration::from_secs(61));
    assert_eq!(get(&client, &running, &admin, &url).await.0, 200);

    let (status, body) = get(
        &client,
        &running,
        &admin,
        "/api/v2/statements/00000000-0000-0000-0000-000000000000",
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("000709")));
    running.shutdown().await;
}

#[tokio::test]
async fn cancel_stops_a_running_statement() {
    let running = start(false).await;
    let client = http();
    let admin = admin_jwt(&running);
    running.inject_fault(FaultSpec::new(
        FaultKind::AsyncDelay {
            delay_ms: Some(600_000),
            polls: None,
        },
        1,
    ));
    let (status, _, body) = post_sql(&client, &running, &admin, SELECT, "").await;
    assert_eq!(status, 202);
    let handle = statement_handle(&body);
    let (status, body) = cancel(&client, &running, &admin, &handle).await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["code"].as_str(), body["sqlState"].as_str()),
        (Some("000604"), Some("57014"))
    );
    let (status, body) = get(
        &client,
        &running,
        &admin,
        &format!("/api/v2/statements/{handle}"),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("000604")));
    running.shutdown().await;
}

#[tokio::test]
async fn injected_status_faults_and_latency() {
    let running = start(false).await;
    let client = http();
    let admin = admin_jwt(&running);
    running.inject_fault(
        FaultSpec::new(
            FaultKind::TooManyRequests {
                retry_after_secs: Some(3),
            },
            2,
        )
        .on_path("/api/v2/statements"),
    );
    for _ in 0..2 {
        let (status, headers, body) = post_sql(&client, &running, &admin, SELECT, "").await;
        assert_eq!(status, 429);
        assert_eq!(
            body,
            json!({"code": "390505", "message": "Too many requests."})
        );
        assert_eq!(
            headers.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("3")
        );
    }
    running.inject_fault(FaultSpec::new(FaultKind::ServiceUnavailable, 1));
    running.inject_fault(FaultSpec::new(FaultKind::InternalServerError, 1));
    assert_eq!(post_sql(&client, &running, &admin, SELECT, "").await.0, 503);
    assert_eq!(post_sql(&client, &running, &admin, SELECT, "").await.0, 500);
    assert_eq!(
        post_sql(&client, &running, &admin, SELECT, "").await.0,
        200,
        "faults are used up"
    );

    running.inject_fault(FaultSpec::new(FaultKind::Latency { ms: 300 }, 1));
    let started = std::time::Instant::now();
    assert_eq!(post_sql(&client, &running, &admin, SELECT, "").await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    running.shutdown().await;
}

#[tokio::test]
async fn a_stalled_statement_is_answered_503_late_and_never_executed() {
    let running = start(false).await;
    let client = http();
    let admin = admin_jwt(&running);
    running.inject_fault(FaultSpec::new(FaultKind::Stall { ms: 300 }, 1).on_method("POST"));
    let started = std::time::Instant::now();
    let sql = "ALTER USER BI_SVC ADD PAT stalled ROLE_RESTRICTION = 'ANALYST'";
    assert_eq!(post_sql(&client, &running, &admin, sql, "").await.0, 503);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let pats = running.snapshot().user("BI_SVC").map(|u| u.pats.len());
    assert_eq!(pats, Some(0), "nothing was executed");
    // The fault is used up: the same statement now runs.
    assert_eq!(post_sql(&client, &running, &admin, sql, "").await.0, 200);
    running.shutdown().await;
}

#[tokio::test]
async fn a_dropped_connection_after_execution_leaves_one_token_and_a_retry_recovers_it() {
    let running = start(false).await;
    let client = http();
    let admin = admin_jwt(&running);
    running
        .inject_fault(FaultSpec::new(FaultKind::DropConnectionAfterExecute, 1).on_method("POST"));
    let request_id = uuid::Uuid::new_v4().to_string();
    let sql = "ALTER USER BI_SVC ADD PAT dropped ROLE_RESTRICTION = 'ANALYST'";
    let url = format!(
        "{}/api/v2/statements?requestId={request_id}",
        running.base_url()
    );
    let lost = client
        .post(&url)
        .header("Authorization", format!("Bearer {admin}"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .header("User-Agent", "t/1")
        .json(&json!({"statement": sql}))
        .send()
        .await;
    assert!(lost.is_err(), "the connection is closed without an answer");
    assert_eq!(
        running.snapshot().user("BI_SVC").expect("user").pats.len(),
        1,
        "it executed"
    );

    let (status, _, body) = post_sql(
        &client,
        &running,
        &admin,
        sql,
        &format!("?requestId={request_id}&retry=true"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        cell(&body, 0, "token_secret").is_some(),
        "the retry gets the one secret"
    );
    assert_eq!(running.emulator().executions_for(&request_id), 1);
    assert_eq!(
        running.snapshot().user("BI_SVC").expect("user").pats.len(),
        1
    );
    running.shutdown().await;
}

#[tokio::test]
async fn test_endpoints_exist_only_when_enabled_and_never_show_secrets() {
    let client = http();
    let closed = start(false).await;
    for path in [
        "/_emulator/state",
        "/_emulator/requests",
        "/_emulator/faults",
    ] {
        let response = client
            .get(format!("{}{path}", closed.base_url()))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 404, "{path}");
    }
    let response = client
        .post(format!("{}/_emulator/clock/advance", closed.base_url()))
        .json(&json!({"seconds": 100}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 404);
    closed.shutdown().await;

    let open = start(true).await;
    let admin = admin_jwt(&open);
    let secret = mint_pat(&client, &open, &admin, "ALTER USER ALICE ADD PAT mine").await;
    let state = client
        .get(format!("{}/_emulator/state", open.base_url()))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("body");
    assert!(state.contains("\"MINE\""), "{state}");
    assert!(state.contains("secretSha256"));
    assert!(!state.contains(&secret));
    let requests = client
        .get(format!("{}/_emulator/requests", open.base_url()))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("body");
    assert!(requests.contains("ALTER USER ADD PAT") && !requests.contains(&secret));

    let response = client
        .post(format!("{}/_emulator/faults", open.base_url()))
        .json(&json!({"kind": "service_unavailable", "count": 1, "path_prefix": "/api/v2/statements"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(post_sql(&client, &open, &admin, SELECT, "").await.0, 503);

    let before = open.emulator().clock().now();
    let response = client
        .post(format!("{}/_emulator/clock/advance", open.base_url()))
        .json(&json!({"seconds": 86_400}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        open.emulator().clock().now().duration_since(before)
            >= jiff::SignedDuration::from_hours(24)
    );
    open.shutdown().await;
}

#[tokio::test]
async fn the_request_role_must_be_granted_and_nullable_false_prints_null() {
    let running = start(false).await;
    let client = http();
    let admin = admin_jwt(&running);
    let submit = |role: &'static str, query: &'static str| {
        client
            .post(format!("{}/api/v2/statements{query}", running.base_url()))
            .header("Authorization", format!("Bearer {admin}"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .header("User-Agent", "t/1")
            .json(&json!({"statement": "SHOW USER PATS FOR USER ALICE", "role": role}))
            .send()
    };
    let response = submit("PUBLIC", "").await.expect("sent");
    assert_eq!(
        response.status().as_u16(),
        422,
        "PUBLIC may not list another user's tokens"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "003001");
    let response = submit("ANALYST", "").await.expect("sent");
    assert_eq!(
        response.status().as_u16(),
        422,
        "role not granted to the admin"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "390189");

    let (status, _, _) =
        post_sql(&client, &running, &admin, "ALTER USER ALICE ADD PAT p", "").await;
    assert_eq!(status, 200);
    let response = submit("USERADMIN", "?nullable=false").await.expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(cell(&body, 0, "role_restriction"), Some("null"), "{body}");
    assert_eq!(body["resultSetMetaData"]["nullable"], false);
    let response = submit("USERADMIN", "").await.expect("sent");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"][0][2], Value::Null);
    running.shutdown().await;
}

#[tokio::test]
async fn network_policies_admit_only_their_allowed_ips() {
    let running = start(false).await;
    let client = http();
    let admin = admin_jwt(&running);
    let secret = mint_pat(
        &client,
        &running,
        &admin,
        "ALTER USER BI_SVC ADD PAT np ROLE_RESTRICTION = 'ANALYST'",
    )
    .await;
    assert_eq!(
        post_sql(&client, &running, &secret, SELECT, "").await.0,
        200
    );
    let (status, _, _) = post_sql(
        &client,
        &running,
        &admin,
        "ALTER USER BI_SVC SET NETWORK_POLICY = REMOTE_ONLY",
        "",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, body) = post_sql(&client, &running, &secret, SELECT, "").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("390422")),
        "{body}"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let client = http();
    let running = start(false).await;
    let addr = running.local_addr();
    running.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "shutdown closes the listener"
    );

    let running = start(false).await;
    let addr = running.local_addr();
    assert_eq!(
        post_sql(&client, &running, &admin_jwt(&running), SELECT, "")
            .await
            .0,
        200
    );
    drop(running);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "a dropped emulator stops listening"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
