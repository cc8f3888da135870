//! The project's binary as a child process of a test.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;

/// Starts `program args` with `RUST_LOG=info`, its output in the file `log` (created or
/// truncated); killed when the child is dropped.
pub fn spawn_logged<S: AsRef<OsStr>>(
    program: impl AsRef<OsStr>,
    args: &[S],
    log: &Path,
) -> tokio::process::Child {
    let out = std::fs::File::create(log)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
    let err = out.try_clone().expect("the log file reopens");
    tokio::process::Command::new(program)
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts")
}

/// A free loopback port.
pub fn free_port() -> u16 {
    snowflake_token_operator::envtest::free_port().unwrap_or_else(|e| panic!("{e}"))
}
