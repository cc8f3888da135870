//! Nothing secret reaches the logs: a whole token flow runs with TRACE logging of every
//! crate (the client, the emulator, reqwest, hyper) captured, and neither the PAT secrets
//! nor the JWT nor the private key appear in it.
//!
//! A test binary of its own: tracing caches per-callsite interest process-wide, so a
//! thread-scoped subscriber can miss events whose callsites other tests' threads
//! registered concurrently.

#[path = "emulator_support/mod.rs"]
mod emulator_support;
#[path = "client_emulator/support.rs"]
mod support;

use secrecy::ExposeSecret;
use snowflake_token_operator::emulator::{FaultKind, FaultSpec};
use snowflake_token_operator::snowflake::{AddPatRequest, Authenticator, SnowflakeApi};

use emulator_support::capture::Capture;
use support::{admin_client_and_signer, key, pat_client, start};

#[tokio::test]
async fn a_token_flow_logs_no_secret_at_trace_level() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    // Scoped to this task's thread: the test runtime is current-thread, so the client,
    // the emulator's server tasks and the connection tasks all log into `capture`.
    let _guard = tracing::subscriber::set_default(subscriber);

    let running = start(true).await;
    let (client, signer) = admin_client_and_signer(&running);
    // A lost answer and a throttle, so the retry paths log too.
    running.inject_fault(
        FaultSpec::new(FaultKind::DropConnectionAfterExecute, 1)
            .on_path("/api/v2/statements")
            .on_method("POST"),
    );
    let spec = AddPatRequest {
        name: "PBI".into(),
        role_restriction: Some("ANALYST".into()),
        ..AddPatRequest::default()
    };
    let added = client.add_pat("BI_SVC", &spec).await.unwrap();
    running.inject_fault(FaultSpec::new(
        FaultKind::TooManyRequests {
            retry_after_secs: None,
        },
        1,
    ));
    let rotated = client.rotate_pat("BI_SVC", "PBI", 1).await.unwrap();
    pat_client(&running, &rotated.secret)
        .verify_identity()
        .await
        .unwrap();
    pat_client(&running, &added.secret)
        .add_pat("BI_SVC", &spec)
        .await
        .unwrap_err();

    // The signer's cache holds the JWT every admin request above carried.
    let jwt = signer.bearer().unwrap();
    let logs = capture.text();
    assert!(
        logs.contains("executing a statement") && logs.contains("statement executed"),
        "the capture must hold client and emulator logs:\n{logs}"
    );
    for (what, secret) in [
        ("the first PAT secret", added.secret.expose_secret()),
        ("the rotated PAT secret", rotated.secret.expose_secret()),
        ("the admin JWT", jwt.expose_secret()),
    ] {
        assert!(!logs.contains(secret), "{what} leaked into the logs");
    }
    // The JWT signature (its last segment) is what would authenticate; the fixture
    // key's body must not show either.
    let signature = jwt.expose_secret().rsplit('.').next().unwrap_or_default();
    assert!(!logs.contains(signature));
    let key_line = key(1)
        .private_pem
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    assert!(!logs.contains(&key_line), "the private key leaked");
}
