//! The official Python connector (`snowflake-connector-python`) logs in to an in-process
//! emulator with every kind of credential the operator writes into Secrets, and is refused
//! with Snowflake's codes. Every case runs against both the pinned pure-Python 4.8.1
//! (`tests/python/requirements.txt`) and the current native-core 5.x line users install
//! (`tests/python/requirements-latest.txt`). PATs are minted through the operator's client,
//! OAuth tokens through the client's full authorize + code exchange.

mod driver_support;
mod emulator_support;

use driver_support::connector::{Connector, Login, connector_logins};
use jiff::SignedDuration;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use snowflake_token_operator::snowflake::{AddPatRequest, SnowflakeApi};

fn fixture_key(n: u8) -> String {
    format!(
        "{}/tests/fixtures/emulator/key{n}.p8.pem",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn ok(user: &str, role: &str) -> Login {
    Login::Ok {
        user: user.into(),
        role: role.into(),
    }
}

fn refused(errno: i64, sqlstate: &str) -> Login {
    Login::Refused {
        errno,
        sqlstate: sqlstate.into(),
    }
}

fn pat(name: &str, role: &str, days: Option<u32>) -> AddPatRequest {
    AddPatRequest {
        name: name.into(),
        role_restriction: Some(role.into()),
        days_to_expiry: days,
        ..AddPatRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_connector_accepts_every_credential_and_refuses_bad_ones() {
    let running = driver_support::start(false).await;
    let admin = driver_support::admin_client(&running);

    // PATs minted through the client. LOADER is not BI_SVC's default role, so the
    // reported role proves the PAT's role restriction decides the session role.
    let good = admin
        .add_pat("BI_SVC", &pat("DRIVER_PAT", "LOADER", None))
        .await
        .expect("PAT added");
    let disabled = admin
        .add_pat("BI_SVC", &pat("DISABLED_PAT", "ANALYST", None))
        .await
        .expect("PAT added");
    admin
        .set_pat_disabled("BI_SVC", "DISABLED_PAT", true)
        .await
        .expect("PAT disabled");
    let before_rotation = admin
        .add_pat("BI_SVC", &pat("ROTATED_PAT", "ANALYST", None))
        .await
        .expect("PAT added");
    let rotated = admin
        .rotate_pat("BI_SVC", "ROTATED_PAT", 0)
        .await
        .expect("PAT rotated");
    let short = admin
        .add_pat("BI_SVC", &pat("SHORT_PAT", "ANALYST", Some(1)))
        .await
        .expect("PAT added");
    assert_eq!(
        driver_support::whoami(&running, &rotated.secret).await,
        Ok(("BI_SVC".into(), "ANALYST".into())),
        "the rotated-in secret works"
    );

    // An OAuth access token through the full authorize + code exchange, role LOADER.
    let tokens = driver_support::authorize_and_exchange(
        &running,
        driver_support::BI_CLIENT,
        Some("LOADER"),
        false,
    )
    .await;
    let access = tokens.access_token.expose_secret().to_owned();

    let secret = |s: &SecretString| s.expose_secret().to_owned();
    let cases = vec![
        (
            "PAT as password",
            json!({"user": "bi_svc", "password": secret(&good.secret)}),
            ok("BI_SVC", "LOADER"),
        ),
        (
            "PAT with the PROGRAMMATIC_ACCESS_TOKEN authenticator",
            json!({"user": "BI_SVC", "pat": secret(&good.secret)}),
            ok("BI_SVC", "LOADER"),
        ),
        (
            "OAuth access token",
            json!({"user": "BI_SVC", "oauth_token": access}),
            ok("BI_SVC", "LOADER"),
        ),
        // No user: both lines send an empty `LOGIN_NAME` (5.x leaves it out with a PAT);
        // it means "the token's own user".
        (
            "PAT without a user",
            json!({"pat": secret(&good.secret)}),
            ok("BI_SVC", "LOADER"),
        ),
        (
            "OAuth access token without a user",
            json!({"oauth_token": access}),
            ok("BI_SVC", "LOADER"),
        ),
        (
            "key pair",
            json!({"user": "alice", "private_key_file": fixture_key(2)}),
            ok("ALICE", "ANALYST"),
        ),
        (
            "wrong PAT",
            json!({"user": "BI_SVC", "pat": "sfemu_pat_not-a-real-token"}),
            refused(394400, "08001"),
        ),
        (
            "wrong password",
            json!({"user": "BI_SVC", "password": "hunter2"}),
            refused(390100, "28000"),
        ),
        (
            "disabled PAT",
            json!({"user": "BI_SVC", "password": secret(&disabled.secret)}),
            refused(394400, "08001"),
        ),
        (
            "rotated-out PAT",
            json!({"user": "BI_SVC", "pat": secret(&before_rotation.secret)}),
            refused(394400, "08001"),
        ),
        // The requested role travels as the login's `roleName`: a role the user lacks
        // refuses the login instead of falling back to the default role.
        (
            "key pair asking for a role not granted",
            json!({"user": "ALICE", "role": "UNGRANTED", "private_key_file": fixture_key(2)}),
            refused(390189, "08001"),
        ),
        (
            "key not registered for the user",
            json!({"user": "ALICE", "private_key_file": fixture_key(3)}),
            refused(390144, "28000"),
        ),
        (
            "unknown OAuth token",
            json!({"user": "BI_SVC", "oauth_token": "emuoat_unknown"}),
            refused(390303, "08001"),
        ),
        (
            "OAuth token of another user",
            json!({"user": "ALICE", "oauth_token": access}),
            refused(390309, "08001"),
        ),
    ];
    let specs: Vec<_> = cases.iter().map(|(_, spec, _)| spec.clone()).collect();
    let results = connector_logins(&running, &specs).await;
    assert_every_case(&cases, &results);
    assert_eq!(
        running.emulator().open_driver_sessions(),
        0,
        "every connector closed its session"
    );

    // Two days later: the 1-day PAT and the 10-minute access token have expired.
    running.advance_clock(SignedDuration::from_hours(48));
    let cases = vec![
        (
            "expired PAT",
            json!({"user": "BI_SVC", "pat": secret(&short.secret)}),
            refused(394400, "08001"),
        ),
        (
            "expired OAuth access token",
            json!({"oauth_token": tokens.access_token.expose_secret()}),
            refused(390318, "08001"),
        ),
    ];
    let specs: Vec<_> = cases.iter().map(|(_, spec, _)| spec.clone()).collect();
    let results = connector_logins(&running, &specs).await;
    assert_every_case(&cases, &results);
}

/// Checks every (connector, case) pair and reports all mismatches at once, each labelled
/// with the connector version, so a failure shows whether one line or both diverge.
fn assert_every_case(
    cases: &[(&str, serde_json::Value, Login)],
    results: &[(Connector, Vec<Login>)],
) {
    assert_eq!(
        results.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        Connector::ALL,
        "every connector ran"
    );
    let mut mismatches = Vec::new();
    for (connector, logins) in results {
        assert_eq!(
            logins.len(),
            cases.len(),
            "{connector}: one result per case"
        );
        for ((name, _, expected), actual) in cases.iter().zip(logins) {
            if actual != expected {
                mismatches.push(format!(
                    "{connector}: {name}: expected {expected:?}, got {actual:?}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// The README's "Try it" snippet, run as written (only the port changes) with the current
/// connector against an emulator seeded from `examples/emulator/account.yaml`: the first thing a
/// new user runs must keep working.
#[tokio::test]
async fn the_readme_snippet_runs_against_the_example_account() {
    use snowflake_token_operator::emulator::{Emulator, EmulatorConfig, ServeOptions};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = EmulatorConfig::from_file(&root.join("examples/emulator/account.yaml"))
        .expect("examples/emulator/account.yaml loads");
    let running = Emulator::start(
        config,
        ServeOptions {
            listen: "127.0.0.1:0".parse().expect("address"),
            test_endpoints: false,
        },
    )
    .await
    .expect("emulator starts");

    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let snippet = readme
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README has a ```python block");
    assert!(
        snippet.contains("port=8085"),
        "the snippet names the emulator's default port"
    );
    let snippet = snippet.replace(
        "port=8085",
        &format!("port={}", running.local_addr().port()),
    );
    let expected = snippet
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("# "))
        .expect("the snippet ends with its expected output as a comment")
        .to_owned();

    let python = Connector::Latest.python().await;
    let output = tokio::process::Command::new(python)
        .arg("-c")
        .arg(&snippet)
        .current_dir(root)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the README snippet failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), expected, "what the README promises");
    running.shutdown().await;
}
