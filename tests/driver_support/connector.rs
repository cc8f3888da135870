//! The official Snowflake Python connectors as subprocesses of the driver tests.
//!
//! Every case runs against two lines of `snowflake-connector-python`: the pinned 4.8.1, the
//! last pure-Python release whose protocol `docs/emulator-driver-protocol.md` reads from
//! source, and the current 5.x line with a native core, which is what users install today.
//! Each interpreter comes from its environment variable (exported by `scripts/test`), else
//! from the cached virtualenv `scripts/python-env <requirements file>` builds. Never
//! skipped: a missing connector fails the test.

use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use snowflake_token_operator::emulator::RunningEmulator;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{OnceCell, Semaphore};

use super::ACCOUNT;

/// The requirement line that names the connector in a requirements file.
const CONNECTOR_PIN: &str = "snowflake-connector-python==";

/// One line of the official Python connector the driver tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Connector {
    /// `tests/python/requirements.txt`: 4.8.1, the last pure-Python release.
    Pinned,
    /// `tests/python/requirements-latest.txt`: the current native-core 5.x line.
    Latest,
}

static PINNED_PYTHON: OnceCell<PathBuf> = OnceCell::const_new();
static LATEST_PYTHON: OnceCell<PathBuf> = OnceCell::const_new();

impl Connector {
    /// Every connector, in the order results are reported.
    pub const ALL: [Connector; 2] = [Connector::Pinned, Connector::Latest];

    /// The environment variable that names its interpreter (`scripts/test` exports both).
    pub fn env_var(self) -> &'static str {
        match self {
            Connector::Pinned => "SFTO_PYTHON",
            Connector::Latest => "SFTO_PYTHON_LATEST",
        }
    }

    /// The requirements file `scripts/python-env` builds its virtualenv from.
    pub fn requirements(self) -> PathBuf {
        let name = match self {
            Connector::Pinned => "requirements.txt",
            Connector::Latest => "requirements-latest.txt",
        };
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/python")
            .join(name)
    }

    /// The connector version its requirements file pins: the one source of truth, so a
    /// version bump needs no test change and a stale interpreter is caught.
    pub fn version(self) -> String {
        let path = self.requirements();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        text.lines()
            .find_map(|line| line.trim().strip_prefix(CONNECTOR_PIN))
            .map(|version| version.trim().to_owned())
            .unwrap_or_else(|| panic!("{} pins no {CONNECTOR_PIN}", path.display()))
    }

    /// The interpreter that has this connector: the environment variable, else the
    /// cached virtualenv of `scripts/python-env` (built on first use).
    pub async fn python(self) -> PathBuf {
        let cell = match self {
            Connector::Pinned => &PINNED_PYTHON,
            Connector::Latest => &LATEST_PYTHON,
        };
        cell.get_or_init(|| async {
            if let Some(path) = std::env::var_os(self.env_var()).filter(|p| !p.is_empty()) {
                return PathBuf::from(path);
            }
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/python-env");
            let output = tokio::process::Command::new("bash")
                .arg(script)
                .arg(self.requirements())
                .stderr(Stdio::inherit())
                .output()
                .await
                .expect("scripts/python-env runs");
            assert!(
                output.status.success(),
                "scripts/python-env failed for {self}: the official-driver tests need the \
                 Python connector (or set {})",
                self.env_var()
            );
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        })
        .await
        .clone()
    }
}

impl fmt::Display for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "snowflake-connector-python {}", self.version())
    }
}

/// What `tests/python/connector_login.py` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Ok { user: String, role: String },
    Refused { errno: i64, sqlstate: String },
}

/// Logs in with every connector of [`Connector::ALL`] and each spec, all at once (each
/// login is a ~1 s Python start-up). A spec is the credential part of the
/// `connector_login.py` spec (host, port and account are added), passed on stdin so no
/// secret shows in the process list. Returns one entry per connector, its results in the
/// order of `specs`. Panics, naming the connector, if a run fails or reports another
/// connector version than its requirements file pins.
pub async fn connector_logins(
    running: &RunningEmulator,
    specs: &[Value],
) -> Vec<(Connector, Vec<Login>)> {
    connector_logins_at(running.local_addr(), specs).await
}

/// [`connector_logins`] against an emulator (or anything speaking the driver protocol) at
/// `addr`, for example one started from the binary.
pub async fn connector_logins_at(
    addr: std::net::SocketAddr,
    specs: &[Value],
) -> Vec<(Connector, Vec<Login>)> {
    // Both interpreters first, side by side: building a missing virtualenv takes far
    // longer than a login, and must not eat into the logins' timeouts.
    tokio::join!(Connector::Pinned.python(), Connector::Latest.python());
    // The machine's cores bound how many Python start-ups overlap usefully; more only
    // stretch each one towards the connector's login timeout.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let slots = Arc::new(Semaphore::new((2 * cores).max(4)));
    let handles: Vec<_> = Connector::ALL
        .iter()
        .map(|&connector| {
            let runs: Vec<_> = specs
                .iter()
                .map(|spec| {
                    let (spec, slots) = (spec.clone(), Arc::clone(&slots));
                    tokio::spawn(async move {
                        let _slot = slots.acquire_owned().await.expect("semaphore open");
                        connector_login_at(connector, addr, spec).await
                    })
                })
                .collect();
            (connector, runs)
        })
        .collect();
    let mut results = Vec::with_capacity(handles.len());
    for (connector, runs) in handles {
        let mut logins = Vec::with_capacity(runs.len());
        for run in runs {
            match run.await {
                Ok(login) => logins.push(login),
                // Re-raise the task's own panic so its message (with the connector) shows.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("{connector}: login task: {e}"),
            }
        }
        results.push((connector, logins));
    }
    results
}

async fn connector_login_at(
    connector: Connector,
    addr: std::net::SocketAddr,
    spec: Value,
) -> Login {
    let mut full = json!({
        "host": addr.ip().to_string(),
        "port": addr.port(),
        "protocol": "http",
        "account": ACCOUNT,
        "login_timeout": 30,
    });
    if let (Some(full), Some(extra)) = (full.as_object_mut(), spec.as_object()) {
        full.extend(extra.clone());
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/connector_login.py");
    let mut child = tokio::process::Command::new(connector.python().await)
        .arg(script)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{connector}: python starts: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(full.to_string().as_bytes())
        .await
        .expect("spec written");
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{connector}: connector_login.py did not finish in 120 s"))
        .expect("connector_login.py output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{connector}: connector_login.py failed ({}): {stderr}",
        output.status
    );
    let line = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("{connector}: connector_login.py printed {stdout:?} ({e}); stderr {stderr}")
    });
    assert_eq!(
        result["version"].as_str(),
        Some(connector.version().as_str()),
        "{connector}: the interpreter {} ran another connector version",
        connector.python().await.display()
    );
    if result["ok"] == json!(true) {
        Login::Ok {
            user: result["user"].as_str().unwrap_or_default().to_owned(),
            role: result["role"].as_str().unwrap_or_default().to_owned(),
        }
    } else {
        Login::Refused {
            errno: result["errno"]
                .as_i64()
                .unwrap_or_else(|| panic!("{connector}: no errno in {result}")),
            sqlstate: result["sqlstate"].as_str().unwrap_or_default().to_owned(),
        }
    }
}
