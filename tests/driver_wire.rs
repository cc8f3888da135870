//! The driver protocol's wire contract (docs/emulator-driver-protocol.md) without Python:
//! gzip bodies, session and master tokens, renewal of an expired session, close, the
//! side endpoints, and the refusals that need state changes (network policy, roles,
//! disabled users). The official connector itself is exercised in `driver_python.rs`.

mod driver_support;
mod emulator_support;

use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use jiff::SignedDuration;
use serde_json::{Value, json};
use snowflake_token_operator::emulator::RunningEmulator;

/// POSTs `body` gzip-compressed, as the Python connector does.
async fn post(running: &RunningEmulator, path: &str, token: Option<&str>, body: &Value) -> Value {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(body.to_string().as_bytes())
        .expect("gzip");
    let gz = encoder.finish().expect("gzip");
    let authorization = format!("Snowflake Token=\"{}\"", token.unwrap_or("None"));
    let response = emulator_support::http()
        .post(format!("{}{path}", running.base_url()))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .header("Accept", "application/snowflake")
        .header("Authorization", authorization)
        .body(gz)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "driver answers are always HTTP 200");
    response.json().await.expect("JSON answer")
}

async fn jwt_login(running: &RunningEmulator, user: &str, role: Option<&str>) -> Value {
    let token = emulator_support::jwt(
        "MYORG-TEST",
        user,
        &emulator_support::key(2),
        emulator_support::now_secs(running),
    );
    let query = role.map_or(String::new(), |r| format!("&roleName={r}"));
    post(
        running,
        &format!(
            "/session/v1/login-request?request_id=8a2c1b5e-1f0c-4c3b-9a55-0f6f1d3a7c11{query}"
        ),
        None,
        &json!({"data": {
            "CLIENT_APP_ID": "PythonConnector", "ACCOUNT_NAME": "myorg-test",
            "LOGIN_NAME": user, "AUTHENTICATOR": "SNOWFLAKE_JWT", "TOKEN": token,
            "SESSION_PARAMETERS": {"CLIENT_SESSION_KEEP_ALIVE": false},
        }}),
    )
    .await
}

fn code(answer: &Value) -> (bool, &str) {
    (
        answer["success"].as_bool().unwrap_or(true),
        answer["code"].as_str().unwrap_or_default(),
    )
}

async fn query(running: &RunningEmulator, token: &str, sql: &str) -> Value {
    post(
        running,
        "/queries/v1/query-request?requestId=0b7e8a52-9d7c-4c8f-8f3e-2a0d3e1c9b41",
        Some(token),
        &json!({"sqlText": sql, "asyncExec": false, "sequenceId": 1, "parameters": {}}),
    )
    .await
}

#[tokio::test]
async fn sessions_query_renew_and_close() {
    let running = driver_support::start(false).await;
    let login = jwt_login(&running, "ALICE", None).await;
    assert_eq!(login["success"], json!(true), "{login}");
    let data = &login["data"];
    assert_eq!(data["sessionInfo"]["roleName"], json!("ANALYST"));
    assert_eq!(data["parameters"], json!([]), "telemetry stays off");
    let token = data["token"].as_str().expect("session token").to_owned();
    let master = data["masterToken"]
        .as_str()
        .expect("master token")
        .to_owned();

    let answer = query(&running, &token, "SELECT CURRENT_USER(), CURRENT_ROLE()").await;
    assert_eq!(answer["success"], json!(true), "{answer}");
    assert_eq!(answer["data"]["rowset"], json!([["ALICE", "ANALYST"]]));
    assert_eq!(
        answer["data"]["rowtype"][0]["name"],
        json!("CURRENT_USER()")
    );
    assert_eq!(answer["data"]["rowtype"][0]["type"], json!("text"));
    assert_eq!(answer["data"]["total"], json!(1));
    assert_eq!(answer["data"]["queryResultFormat"], json!("json"));
    assert_eq!(answer["data"]["finalRoleName"], json!("ANALYST"));

    let failed = query(&running, &token, "SELEKT 1").await;
    assert!(!code(&failed).0, "{failed}");
    assert_eq!(failed["data"]["errorCode"], failed["code"]);
    assert!(
        failed["data"]["sqlState"]
            .as_str()
            .is_some_and(|s| s.len() == 5)
    );

    for path in ["/session/heartbeat?requestId=1", "/telemetry/send"] {
        let ok = post(&running, path, Some(&token), &json!({"logs": []})).await;
        assert_eq!(ok["success"], json!(true), "{path}");
    }

    // An hour later the session token has expired (390112); the master token renews it.
    running.advance_clock(SignedDuration::from_secs(3601));
    let expired = query(&running, &token, "SELECT CURRENT_USER()").await;
    assert_eq!(code(&expired), (false, "390112"));
    let wrong = post(
        &running,
        "/session/token-request?requestId=2",
        Some(&token),
        &json!({"oldSessionToken": token, "requestType": "RENEW"}),
    )
    .await;
    assert_eq!(
        code(&wrong),
        (false, "390114"),
        "only the master token renews"
    );
    let renewed = post(
        &running,
        "/session/token-request?requestId=3",
        Some(&master),
        &json!({"oldSessionToken": token, "requestType": "RENEW"}),
    )
    .await;
    assert_eq!(renewed["success"], json!(true), "{renewed}");
    let fresh = renewed["data"]["sessionToken"].as_str().expect("new token");
    let answer = query(&running, fresh, "SELECT CURRENT_ROLE()").await;
    assert_eq!(answer["data"]["rowset"], json!([["ANALYST"]]));
    assert_eq!(
        code(&query(&running, &token, "SELECT 1").await),
        (false, "390111")
    );

    let closed = post(&running, "/session?delete=true", Some(fresh), &json!({})).await;
    assert_eq!(closed["success"], json!(true));
    assert_eq!(running.emulator().open_driver_sessions(), 0);
    let gone = query(&running, fresh, "SELECT CURRENT_USER()").await;
    assert_eq!(code(&gone), (false, "390111"));
}

#[tokio::test]
async fn logins_are_refused_with_snowflakes_codes() {
    let running = driver_support::start(false).await;
    let admin = emulator_support::admin();
    let run = |sql: &str| {
        running
            .emulator()
            .execute(&admin, sql)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    };

    let not_granted = jwt_login(&running, "ALICE", Some("LOADER")).await;
    assert_eq!(code(&not_granted), (false, "390189"));
    let lowercase = jwt_login(&running, "ALICE", Some("analyst")).await;
    assert_eq!(
        lowercase["data"]["sessionInfo"]["roleName"],
        json!("ANALYST")
    );

    let garbage = post(
        &running,
        "/session/v1/login-request?request_id=x",
        None,
        &json!({"data": {"LOGIN_NAME": "ALICE", "AUTHENTICATOR": "SNOWFLAKE_JWT", "TOKEN": "a.b.c"}}),
    )
    .await;
    assert_eq!(code(&garbage), (false, "390144"));
    let no_body = post(&running, "/session/v1/login-request", None, &json!([])).await;
    assert_eq!(code(&no_body), (false, "390142"));

    run("ALTER USER ALICE SET NETWORK_POLICY = REMOTE_ONLY");
    let outside = jwt_login(&running, "ALICE", None).await;
    assert_eq!(
        code(&outside),
        (false, "390422"),
        "127.0.0.1 is not in 10.0.0.0/8"
    );
    run("ALTER USER ALICE UNSET NETWORK_POLICY");
    run("ALTER USER ALICE SET DISABLED = TRUE");
    let disabled = jwt_login(&running, "ALICE", None).await;
    assert_eq!(code(&disabled), (false, "390102"));
}
