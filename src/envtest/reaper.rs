//! Cleanup that survives panics and aborts.
//!
//! The control plane lives in a `static`, and statics are never dropped, so no destructor
//! can stop it. Instead a tiny `sh` process (the reaper) reads process ids from a pipe
//! whose write end only the test process holds. When the test process exits for any
//! reason (normal end, panic, abort, SIGKILL) the kernel closes the pipe, `read` sees end
//! of file, and the reaper stops the registered processes (TERM, a short grace period,
//! then KILL): first all but the first registered (kwok, scheduler, controller-manager,
//! API server, signalled newest first), then the first (etcd); then it removes the
//! temporary folder.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

/// Stops the registered processes (etcd last), then removes `$1`. Ignores the terminal's signals so a
/// Ctrl-C of `cargo test` still gets the cleanup done.
const SCRIPT: &str = r#"
trap '' INT TERM HUP
# Running and not a zombie (an exited child of the dead test process, awaiting init).
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}
# Stops the given processes: TERM to all, up to 5 s of grace, then KILL what is left.
stop() {
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null; done
  i=0
  while [ "$i" -lt 50 ]; do
    running=""
    for pid in "$@"; do alive "$pid" && running=1; done
    [ -z "$running" ] && break
    sleep 0.1
    i=$((i + 1))
  done
  for pid in "$@"; do alive "$pid" && kill -KILL "$pid" 2>/dev/null; done
}
# The first registered process is the store (etcd): stop it only after everything that
# talks to it, so the API server does not linger in its graceful shutdown.
store=""
others=""
while read -r pid; do
  if [ -z "$store" ]; then store=$pid; else others="$pid $others"; fi
done
[ -n "$others" ] && stop $others
[ -n "$store" ] && stop "$store"
rm -rf "$1"
"#;

/// The write end of the reaper's pipe.
#[derive(Debug)]
pub struct Reaper {
    stdin: ChildStdin,
    child: Child,
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
        Ok(Self { stdin, child })
    }

    /// Stops the registered processes and removes the folder now, returning once that is
    /// done (dropping the reaper, or exiting, does the same without waiting).
    pub fn finish(self) {
        let Self { stdin, mut child } = self;
        drop(stdin);
        let _ = child.wait();
    }

    /// Registers a process to stop when the test process exits. Register the store
    /// (etcd) first: it is stopped after all the others.
    pub fn register(&mut self, pid: u32) -> Result<(), String> {
        writeln!(self.stdin, "{pid}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("cannot register process {pid} for cleanup: {e}"))
    }
}
