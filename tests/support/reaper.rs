//! Cleanup that survives panics and aborts.
//!
//! The control plane lives in a `static`, and statics are never dropped, so no destructor
//! can stop it. Instead a tiny `sh` process (the reaper) reads process ids from a pipe
//! whose write end only the test process holds. When the test process exits for any
//! reason (normal end, panic, abort, SIGKILL) the kernel closes the pipe, `read` sees end
//! of file, and the reaper stops the registered processes newest first (TERM, a short
//! grace period, then KILL) and removes the temporary folder.

use std::io::Write;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};

/// Stops processes newest first, then removes `$1`. Ignores the terminal's signals so a
/// Ctrl-C of `cargo test` still gets the cleanup done.
const SCRIPT: &str = r#"
trap '' INT TERM HUP
pids=""
while read -r pid; do pids="$pid $pids"; done
for pid in $pids; do
  kill -TERM "$pid" 2>/dev/null || continue
  i=0
  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  kill -KILL "$pid" 2>/dev/null
done
rm -rf "$1"
"#;

/// The write end of the reaper's pipe.
#[derive(Debug)]
pub struct Reaper {
    stdin: ChildStdin,
}

impl Reaper {
    /// Starts the reaper, which will remove `dir` when the test process is gone.
    pub fn start(dir: &Path) -> Result<Self, String> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("sfto-reaper")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the cleanup process (sh): {e}"))?;
        let stdin = child
            .stdin
            .take()
            .ok_or("the cleanup process has no stdin pipe")?;
        Ok(Self { stdin })
    }

    /// Registers a process to stop when the test process exits; processes are stopped in
    /// the reverse order of registration.
    pub fn register(&mut self, pid: u32) -> Result<(), String> {
        writeln!(self.stdin, "{pid}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("cannot register process {pid} for cleanup: {e}"))
    }
}
