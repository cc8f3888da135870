//! A schema-driven fuzz run: schemathesis (pinned in `tests/python/requirements-fuzz.txt`)
//! generates requests from Snowflake's `sqlapi.yaml` and sends them to an in-process
//! emulator seeded from `examples/emulator/account.yaml`, authenticated as its `OPERATOR_ADMIN`
//! with a key-pair JWT signed by the demo key, so the authenticated paths are exercised
//! and not only the 401s. The run fails on any 5xx, any answer outside the schema, any
//! undeclared status, and any valid request refused or invalid one taken, except the
//! documented deviations listed in `tests/python/schemathesis_hooks.py`.
//!
//! Deterministic (`tests/python/schemathesis.toml`): the same cases on every run. The
//! interpreter comes from `SFTO_PYTHON_FUZZ` (exported by `scripts/test`), else from the
//! cached virtualenv `scripts/python-env` builds. Never skipped: without schemathesis the
//! test fails and says how to get it.

mod emulator_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use snowflake_token_operator::emulator::{Emulator, EmulatorConfig};

/// The environment variable naming the interpreter that has schemathesis.
const PYTHON_VAR: &str = "SFTO_PYTHON_FUZZ";
/// How long the whole run may take before it counts as hung (it takes tens of seconds).
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

fn manifest_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The interpreter with schemathesis: `SFTO_PYTHON_FUZZ`, else the virtualenv of
/// `scripts/python-env` (built on first use).
async fn python() -> PathBuf {
    if let Some(path) = std::env::var_os(PYTHON_VAR).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let requirements = manifest_path("tests/python/requirements-fuzz.txt");
    let output = tokio::process::Command::new("bash")
        .arg(manifest_path("scripts/python-env"))
        .arg(&requirements)
        .arg("schemathesis")
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("bash runs scripts/python-env");
    assert!(
        output.status.success(),
        "the fuzz run needs schemathesis, and scripts/python-env could not install it \
         (see its log above). Either run `scripts/test` (which exports {PYTHON_VAR}), or \
         run `bash scripts/python-env {} schemathesis` yourself and set {PYTHON_VAR} to \
         the interpreter it prints (Python 3.11+ with venv and access to PyPI).",
        requirements.display()
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// Snowflake's OpenAPI file for the SQL API (read, never copied into the project).
fn sqlapi_spec() -> PathBuf {
    let path = manifest_path("../shared/reference/snowflake-openapi/sqlapi.yaml");
    assert!(
        path.is_file(),
        "the OpenAPI reference {} is required by this test",
        path.display()
    );
    path
}

/// A key-pair JWT of the example seed's `OPERATOR_ADMIN` in `account`, valid for the run.
fn admin_jwt(account: &str, emulator: &Emulator) -> String {
    emulator_support::jwt(
        account,
        "OPERATOR_ADMIN",
        &emulator_support::demo_key(),
        emulator.clock().now().as_second(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_or_schema_violation() {
    let python = python().await;
    let config =
        EmulatorConfig::from_file(&manifest_path("examples/emulator/account.yaml")).expect("seed");
    let account = config.account.name.clone();
    let running = emulator_support::start_with(config, false).await;
    // Reports and caches, if schemathesis writes any, land here and not in the clone.
    let scratch = tempfile::tempdir().expect("scratch dir");

    let started = Instant::now();
    // The bearer goes through the environment, not the command line, so it does not
    // show in the process list; schemathesis masks it in its report.
    let child = tokio::process::Command::new(&python)
        .args(["-m", "schemathesis.cli", "--no-color", "--config-file"])
        .arg(manifest_path("tests/python/schemathesis.toml"))
        .args(["run", "--checks", "all"])
        .arg(sqlapi_spec())
        .current_dir(scratch.path())
        .env("SFTO_FUZZ_BASE_URL", running.base_url())
        .env("SFTO_FUZZ_BEARER", admin_jwt(&account, running.emulator()))
        .env(
            "SCHEMATHESIS_HOOKS",
            manifest_path("tests/python/schemathesis_hooks.py"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{} starts: {e}", python.display()));
    let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis did not finish within {RUN_TIMEOUT:?}"))
        .expect("schemathesis ran");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found failures ({}):\n{report}",
        output.status
    );
    println!(
        "schemathesis: {} in {:.1?}",
        summary_line(&report),
        started.elapsed()
    );

    // The bearer worked: statements got past authentication and were stored.
    let executed = running.emulator().request_log().len();
    assert!(
        executed > 0,
        "no statement reached the SQL engine: the run exercised no authenticated path\n{report}"
    );
    running.shutdown().await;
    assert_no_secret_in(&report, scratch.path());
}

/// The report's count of test cases and its closing line, for the test log
/// (`499 generated, 499 passed, 6 skipped; 1 warning in 9.24s`).
fn summary_line(report: &str) -> String {
    let mut lines = report.lines().map(str::trim);
    let cases = lines
        .by_ref()
        .skip_while(|line| *line != "Test cases:")
        .nth(1)
        .unwrap_or("no test-case count");
    let closing = report
        .lines()
        .rev()
        .find(|line| line.starts_with('='))
        .map_or("no summary", |line| {
            line.trim_matches(|c| c == '=' || c == ' ')
        });
    format!("{cases}; {closing}")
}

/// Schemathesis masks the `Authorization` header in what it prints; make sure of it.
fn assert_no_secret_in(report: &str, scratch: &Path) {
    assert!(
        !report.contains("eyJ"),
        "the fuzz report shows a JWT (files in {})",
        scratch.display()
    );
}
