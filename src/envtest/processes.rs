//! Starting the control-plane processes, with logs in files and cleanup by the reaper.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::reaper::Reaper;

/// A free TCP port on 127.0.0.1 (the listener is closed at once; the small window in which
/// another process could take the port is accepted for tests).
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// Starts `binary args` with stdout and stderr in `logs/<name>.log`, registered with the
/// reaper, and returns the log path.
pub fn spawn(
    reaper: &mut Reaper,
    logs: &Path,
    name: &str,
    binary: &Path,
    args: &[String],
) -> Result<PathBuf, String> {
    let log = logs.join(format!("{name}.log"));
    spawn_logging_to(reaper, &log, binary, args)?;
    Ok(log)
}

/// Starts `binary args` with stdout and stderr appended to `log`, registered with the
/// reaper, and returns the child (to stop it before the reaper would).
pub fn spawn_logging_to(
    reaper: &mut Reaper,
    log: &Path,
    binary: &Path,
    args: &[String],
) -> Result<Child, String> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
    let child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    reaper.register(child.id())?;
    Ok(child)
}

/// The last lines of a log file, to explain a failed start.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(20);
    format!(
        "last lines of {}:\n{}",
        log.display(),
        lines[start..].join("\n")
    )
}

/// Runs a short command to completion (key generation), failing with its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
