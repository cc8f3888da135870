//! The benchmark's table and `BENCHMARKS.md`.

use std::fmt::Write as _;

use super::Flags;

/// A target a figure is held to.
#[derive(Debug, Clone)]
pub struct Check {
    /// The target, as the issue states it.
    pub target: String,
    /// Whether the figure meets it.
    pub met: bool,
    /// Whether `--smoke` fails when it is missed (ratios and counts; never an absolute
    /// time or size, which depend on the machine).
    pub gate: bool,
}

impl Check {
    pub fn gate(target: impl Into<String>, met: bool) -> Option<Self> {
        Some(Self {
            target: target.into(),
            met,
            gate: true,
        })
    }

    pub fn info(target: impl Into<String>, met: bool) -> Option<Self> {
        Some(Self {
            target: target.into(),
            met,
            gate: false,
        })
    }
}

#[derive(Debug, Clone)]
struct Figure {
    section: String,
    what: String,
    value: String,
    check: Option<Check>,
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Report {
    figures: Vec<Figure>,
    notes: Vec<String>,
    cold_start: Option<std::time::Duration>,
}

impl Report {
    /// Our cold-start time, for the peer's ratio.
    pub fn cold_start(&self) -> Option<std::time::Duration> {
        self.cold_start
    }

    pub fn set_cold_start(&mut self, took: std::time::Duration) {
        self.cold_start = Some(took);
    }

    pub fn figure(
        &mut self,
        section: &str,
        what: impl Into<String>,
        value: impl Into<String>,
        check: Option<Check>,
    ) {
        let figure = Figure {
            section: section.to_owned(),
            what: what.into(),
            value: value.into(),
            check,
        };
        eprintln!(
            "[{}] {}: {}{}",
            figure.section,
            figure.what,
            figure.value,
            figure
                .check
                .as_ref()
                .map(|c| format!(
                    "  (target {}: {})",
                    c.target,
                    if c.met { "met" } else { "MISSED" }
                ))
                .unwrap_or_default()
        );
        self.figures.push(figure);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("note: {note}");
        self.notes.push(note);
    }

    /// The gated targets missed.
    pub fn missed(&self) -> Vec<String> {
        self.figures
            .iter()
            .filter_map(|f| {
                let c = f.check.as_ref()?;
                (c.gate && !c.met).then(|| {
                    format!(
                        "{}: {} is {} (target {})",
                        f.section, f.what, f.value, c.target
                    )
                })
            })
            .collect()
    }

    fn status(check: Option<&Check>) -> &'static str {
        match check {
            None => "",
            Some(c) if c.met => "met",
            Some(_) => "MISSED",
        }
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let width = self
            .figures
            .iter()
            .map(|f| f.what.len())
            .max()
            .unwrap_or(10)
            .min(70);
        let mut section = "";
        for f in &self.figures {
            if f.section != section {
                section = &f.section;
                let _ = writeln!(out, "\n{section}");
            }
            let target = f.check.as_ref().map(|c| c.target.as_str()).unwrap_or("");
            let _ = writeln!(
                out,
                "  {:<width$}  {:>14}  {:<28} {}",
                f.what,
                f.value,
                target,
                Self::status(f.check.as_ref())
            );
        }
        out
    }

    pub fn markdown(&self, flags: &Flags) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Benchmarks\n");
        let _ = writeln!(
            out,
            "Written by `cargo bench --bench scale -- {}` on {} ({}).\n",
            command_line(flags),
            jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
            machine()
        );
        let _ = writeln!(
            out,
            "Every process (etcd, kube-apiserver, the emulator, the operator, the peer, this program) shares the same cores. Writes are counted from kube-apiserver's audit log by identity; Snowflake statements from the emulator's counters.\n"
        );
        let mut section = "";
        for f in &self.figures {
            if f.section != section {
                section = &f.section;
                let _ = writeln!(out, "\n## {section}\n");
                let _ = writeln!(out, "| figure | value | target | |");
                let _ = writeln!(out, "|---|---|---|---|");
            }
            let target = f.check.as_ref().map(|c| c.target.as_str()).unwrap_or("");
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                f.what.replace('|', "\\|"),
                f.value.replace('|', "\\|"),
                target.replace('|', "\\|"),
                Self::status(f.check.as_ref())
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\n## Notes\n");
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }
}

fn command_line(flags: &Flags) -> String {
    let mut args = vec![format!("--tokens {}", flags.tokens)];
    args.push(format!("--tokens-per-user {}", flags.tokens_per_user));
    args.push(format!("--unrelated-secrets {}", flags.unrelated_secrets));
    args.push(format!("--backlog {}", flags.backlog));
    args.push(format!("--concurrency {}", flags.concurrency));
    args.push(format!("--workers {}", flags.workers));
    if flags.peer {
        args.push("--peer".into());
    }
    if flags.smoke {
        args.push("--smoke".into());
    }
    args.join(" ")
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or_else(String::new, |kib| {
            format!(", {:.0} GiB", kib as f64 / 1024.0 / 1024.0)
        });
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cores} cores{memory}, {cpu}; {rustc}; Kubernetes from the envtest kit")
}
