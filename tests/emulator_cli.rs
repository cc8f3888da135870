//! `snowflake-token-operator emulator` end to end: the shipped example seed, the demo
//! key, no test endpoints without the flag, and a clean exit on SIGTERM.

mod emulator_support;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use emulator_support::{TestKey, http, jwt};
use serde_json::{Value, json};

fn demo_key() -> TestKey {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/emulator/keys");
    let private_pem =
        std::fs::read_to_string(dir.join("demo_operator_admin.p8.pem")).expect("demo key");
    TestKey {
        private_pem,
        public_b64: String::new(),
        fingerprint: "SHA256:JE8LccMZV9DL+UyiIhL8EEBulVqd1O9hc6ZH/He1AEk=".into(),
    }
}

#[tokio::test]
async fn the_emulator_subcommand_serves_the_example_seed_and_stops_on_sigterm() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_snowflake-token-operator"))
        .args([
            "emulator",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/emulator/account.yaml"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = http();
    let token = jwt(
        "MYORG-DEMO",
        "OPERATOR_ADMIN",
        &demo_key(),
        jiff::Timestamp::now().as_second(),
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let attempt = client
            .post(format!("{base}/api/v2/statements"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "application/json")
            .header("User-Agent", "cli-test/1")
            .json(&json!({"statement": "SELECT CURRENT_USER(), CURRENT_ACCOUNT()"}))
            .send()
            .await;
        match attempt {
            Ok(response) => {
                assert_eq!(response.status().as_u16(), 200);
                break response.json::<Value>().await.expect("json");
            }
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("emulator never answered: {e}"),
        }
    };
    assert_eq!(body["data"][0], json!(["OPERATOR_ADMIN", "XY12345"]));
    let admin = client
        .get(format!("{base}/_emulator/state"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        admin.status().as_u16(),
        404,
        "test endpoints are off without the flag"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "emulator did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "clean exit: {status:?}");
}
