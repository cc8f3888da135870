//! The container image's recipe, checked offline (no container engine here): the
//! Dockerfile parses into a builder and a runtime stage; the builder compiles the
//! binary Cargo declares, release and locked, from a build context that holds every file
//! the compiler reads; the runtime stage is distroless, shell-less and non-root and runs
//! that binary with a command the binary accepts; the labels match Cargo.toml; the
//! binary needs no shared library beyond glibc and libgcc (what distroless/cc has); and
//! .dockerignore keeps build output and the git history out of the context.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(file: &str) -> String {
    std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn cargo_toml() -> toml::Table {
    read("Cargo.toml").parse().expect("Cargo.toml parses")
}

/// The one binary Cargo builds for the image.
fn bin_name() -> String {
    let manifest = cargo_toml();
    let bins = manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .expect("Cargo.toml declares [[bin]]");
    let package = manifest["package"]["name"].as_str().expect("package name");
    let names: Vec<&str> = bins.iter().filter_map(|b| b["name"].as_str()).collect();
    assert!(
        names.contains(&package),
        "a [[bin]] named like the package: {names:?}"
    );
    package.to_owned()
}

// ---------------------------------------------------------------------------------------
// A small Dockerfile reader: parser directives, comments, line continuations, stages.

#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

#[derive(Debug)]
struct Stage {
    from: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

struct Dockerfile {
    directives: Vec<(String, String)>,
    /// `ARG`s before the first `FROM`, with their defaults.
    global_args: Vec<(String, String)>,
    stages: Vec<Stage>,
}

fn parse_dockerfile(text: &str) -> Dockerfile {
    let mut directives = Vec::new();
    let mut lines = text.lines().peekable();
    // Parser directives: `# key=value` lines at the very top.
    while let Some(line) = lines.peek() {
        let Some(rest) = line.strip_prefix('#') else {
            break;
        };
        match rest.trim().split_once('=') {
            Some((k, v)) if !k.trim().contains(' ') && !k.trim().is_empty() => {
                directives.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                lines.next();
            }
            _ => break,
        }
    }
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in lines {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if !current.is_empty() && trimmed.starts_with('#') {
            // A comment inside a continued instruction is dropped.
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, args) = current
                    .split_once(char::is_whitespace)
                    .unwrap_or((&current, ""));
                instructions.push(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.trim().to_owned(),
                });
                current.clear();
            }
        }
    }
    assert!(
        current.is_empty(),
        "the Dockerfile ends inside a continued line"
    );
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in instructions {
        if instruction.keyword == "FROM" {
            let words: Vec<&str> = instruction.args.split_whitespace().collect();
            let words: Vec<&str> = words.into_iter().filter(|w| !w.starts_with("--")).collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                [_] => None,
                other => panic!("FROM {other:?} is not `FROM image [AS name]`"),
            };
            stages.push(Stage {
                from: words[0].to_owned(),
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(instruction);
        } else {
            assert_eq!(
                instruction.keyword, "ARG",
                "only ARG may come before the first FROM"
            );
            let (name, default) = instruction
                .args
                .split_once('=')
                .unwrap_or((&instruction.args, ""));
            global_args.push((name.to_owned(), default.trim_matches('"').to_owned()));
        }
    }
    Dockerfile {
        directives,
        global_args,
        stages,
    }
}

impl Dockerfile {
    fn load() -> Self {
        parse_dockerfile(&read("Dockerfile"))
    }

    /// `${NAME}` and `$NAME` replaced by the global ARG defaults (as in FROM lines).
    fn expand(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (name, value) in &self.global_args {
            out = out.replace(&format!("${{{name}}}"), value);
            out = out.replace(&format!("${name}"), value);
        }
        out
    }

    fn builder(&self) -> &Stage {
        assert!(self.stages.len() >= 2, "a build stage and a runtime stage");
        &self.stages[0]
    }

    fn runtime(&self) -> &Stage {
        self.stages.last().expect("stages")
    }
}

impl Stage {
    fn all(&self, keyword: &str) -> Vec<&Instruction> {
        self.instructions
            .iter()
            .filter(|i| i.keyword == keyword)
            .collect()
    }

    fn last(&self, keyword: &str) -> Option<&Instruction> {
        self.all(keyword).into_iter().last()
    }
}

/// The JSON (exec) form of ENTRYPOINT or CMD; the shell form needs /bin/sh.
fn exec_form(instruction: &Instruction) -> Vec<String> {
    serde_json::from_str(&instruction.args).unwrap_or_else(|_| {
        panic!(
            "{} {} is in shell form: the runtime image has no shell",
            instruction.keyword, instruction.args
        )
    })
}

/// The `--mount=type=bind,source=X,...` sources of a RUN instruction.
fn bind_sources(run: &Instruction) -> Vec<String> {
    run.args
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--mount="))
        .filter(|m| m.split(',').any(|kv| kv == "type=bind"))
        .filter_map(|m| {
            m.split(',')
                .find_map(|kv| {
                    kv.strip_prefix("source=")
                        .or_else(|| kv.strip_prefix("src="))
                })
                .map(str::to_owned)
        })
        .collect()
}

/// The `LABEL key="value" ...` pairs of a stage.
fn labels(stage: &Stage) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for label in stage.all("LABEL") {
        let mut rest = label.args.as_str();
        while let Some((key, after)) = rest.trim_start().split_once('=') {
            let (value, next) = match after.strip_prefix('"') {
                Some(quoted) => {
                    let end = quoted.find('"').expect("closing quote");
                    (&quoted[..end], &quoted[end + 1..])
                }
                None => after.split_once(' ').unwrap_or((after, "")),
            };
            out.push((key.trim().to_owned(), value.to_owned()));
            rest = next;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// .dockerignore, with Docker's matching: patterns relative to the context root, `*` and
// `?` within one path segment, `**` across any number, `!` re-includes, last match wins,
// and excluding a directory excludes what is in it.

struct DockerIgnore {
    patterns: Vec<(bool, Vec<String>)>,
}

fn glob_segment(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_segment(&pattern[1..], text)
                || (!text.is_empty() && glob_segment(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob_segment(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob_segment(&pattern[1..], &text[1..]),
        _ => false,
    }
}

fn glob_path(pattern: &[String], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(p), _) if p == "**" => {
            glob_path(&pattern[1..], path) || (!path.is_empty() && glob_path(pattern, &path[1..]))
        }
        (Some(p), Some(s)) => {
            glob_segment(p.as_bytes(), s.as_bytes()) && glob_path(&pattern[1..], &path[1..])
        }
        _ => false,
    }
}

impl DockerIgnore {
    fn load() -> Self {
        let patterns = read(".dockerignore")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (negated, l) = match l.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, l),
                };
                let segments = l
                    .trim_matches('/')
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .map(str::to_owned)
                    .collect();
                (negated, segments)
            })
            .collect();
        Self { patterns }
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out of the context:
    /// the last pattern matching it, or a directory above it, decides (Docker's
    /// `MatchesOrParentMatches`).
    fn excludes(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for (negated, pattern) in &self.patterns {
            if (1..=segments.len()).any(|n| glob_path(pattern, &segments[..n])) {
                excluded = !negated;
            }
        }
        excluded
    }
}

// ---------------------------------------------------------------------------------------

#[test]
fn the_dockerfile_has_a_builder_and_a_runtime_stage_and_uses_buildkit_syntax() {
    let dockerfile = Dockerfile::load();
    let syntax = dockerfile
        .directives
        .iter()
        .find(|(k, _)| k == "syntax")
        .map(|(_, v)| v.as_str());
    assert!(
        syntax.is_some_and(|s| s.starts_with("docker/dockerfile:1")),
        "`# syntax=docker/dockerfile:1` (RUN --mount needs it): {syntax:?}"
    );
    assert_eq!(dockerfile.stages.len(), 2, "{:?}", dockerfile.stages);
    let builder = dockerfile.builder();
    assert_eq!(builder.name.as_deref(), Some("builder"));
    let runtime = dockerfile.runtime();
    let copy = runtime
        .last("COPY")
        .expect("the runtime stage copies the binary");
    assert!(copy.args.starts_with("--from=builder "), "{copy:?}");
}

#[test]
fn the_builder_is_the_official_rust_image_at_a_supported_toolchain_on_bookworm() {
    let dockerfile = Dockerfile::load();
    let image = dockerfile.expand(&dockerfile.builder().from);
    let tag = image
        .strip_prefix("rust:")
        .unwrap_or_else(|| panic!("the builder is the official rust image, not {image}"));
    let version = tag.strip_suffix("-bookworm").unwrap_or_else(|| {
        panic!("a Debian 12 (bookworm) builder, as the runtime's glibc: {image}")
    });
    let parse = |v: &str| -> Vec<u32> {
        v.split('.')
            .map(|p| p.parse().unwrap_or_else(|_| panic!("version {v}")))
            .collect()
    };
    let manifest = cargo_toml();
    let minimum = manifest["package"]["rust-version"]
        .as_str()
        .expect("rust-version");
    assert!(
        parse(version) >= parse(minimum),
        "rust:{version} is older than Cargo.toml's rust-version {minimum}"
    );
}

#[test]
fn the_builder_compiles_the_cargo_binary_release_and_locked_from_a_complete_context() {
    let dockerfile = Dockerfile::load();
    let builder = dockerfile.builder();
    let bin = bin_name();
    let build = builder
        .all("RUN")
        .into_iter()
        .find(|r| r.args.contains("cargo build"))
        .expect("a RUN with cargo build");
    let words: Vec<&str> = build.args.split_whitespace().collect();
    for flag in ["--release", "--locked"] {
        assert!(words.contains(&flag), "cargo build {flag}: {}", build.args);
    }
    let at = words.iter().position(|w| *w == "--bin").expect("--bin");
    assert_eq!(
        words.get(at + 1),
        Some(&bin.as_str()),
        "--bin names Cargo's [[bin]]"
    );
    assert!(
        build
            .args
            .contains("type=cache,target=/usr/local/cargo/registry"),
        "the crates.io registry is a cache mount"
    );
    assert!(
        build.args.contains(&format!("target/release/{bin}")),
        "the binary is copied out of the (cached) target directory"
    );

    // Every file the compiler reads is bound into the build and in the context.
    let sources = bind_sources(build);
    let ignore = DockerIgnore::load();
    let covered = |path: &str| -> bool {
        sources
            .iter()
            .any(|s| path == s || path.starts_with(&format!("{}/", s.trim_end_matches('/'))))
            && !ignore.excludes(path)
    };
    for file in ["Cargo.toml", "Cargo.lock"] {
        assert!(
            covered(file),
            "{file} is not in the build (binds: {sources:?})"
        );
    }
    let manifest = cargo_toml();
    let mut targets = vec![
        manifest
            .get("lib")
            .and_then(|l| l.get("path"))
            .and_then(|p| p.as_str())
            .unwrap_or("src/lib.rs")
            .to_owned(),
    ];
    for kind in ["bin", "bench"] {
        for target in manifest
            .get(kind)
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            let name = target["name"].as_str().expect("target name");
            let path = match target.get("path").and_then(|p| p.as_str()) {
                Some(path) => path.to_owned(),
                None if kind == "bench" => format!("benches/{name}.rs"),
                None => format!("src/bin/{name}.rs"),
            };
            targets.push(path);
        }
    }
    for target in &targets {
        assert!(root().join(target).is_file(), "{target} is missing");
        assert!(
            covered(target),
            "Cargo target {target} is not in the build (binds: {sources:?})"
        );
    }
    // Files embedded with include_str!/include_bytes! (the demo embeds examples/).
    let mut embedded = BTreeSet::new();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            for macro_ in ["include_str!(\"", "include_bytes!(\""] {
                for rest in text.split(macro_).skip(1) {
                    let literal = rest.split('"').next().expect("literal");
                    let resolved = normalize(&path.parent().expect("dir").join(literal));
                    let relative = resolved
                        .strip_prefix(root())
                        .unwrap_or_else(|_| {
                            panic!("{} embeds {literal}, outside the project", path.display())
                        })
                        .to_string_lossy()
                        .replace('\\', "/");
                    assert!(
                        resolved.is_file(),
                        "{} embeds {literal}, which is missing",
                        path.display()
                    );
                    embedded.insert(relative);
                }
            }
        }
    }
    for file in &embedded {
        assert!(
            covered(file),
            "{file} is embedded by the source but not in the image build (binds: {sources:?})"
        );
    }
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn the_runtime_stage_is_distroless_nonroot_without_a_shell() {
    let dockerfile = Dockerfile::load();
    let runtime = dockerfile.runtime();
    assert_eq!(
        dockerfile.expand(&runtime.from),
        "gcr.io/distroless/cc-debian12:nonroot"
    );
    // No shell in the image: nothing may RUN there, and the process is started directly.
    assert!(
        runtime.all("RUN").is_empty(),
        "RUN needs a shell: {:?}",
        runtime.all("RUN")
    );
    let user = runtime.last("USER").expect("USER").args.clone();
    let uid: u32 = user
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .unwrap_or_else(|| panic!("USER {user} is numeric (runAsNonRoot checks a uid)"));
    assert_ne!(uid, 0, "USER is not root");
    assert_eq!(uid, 65532, "distroless's nonroot user");
    let entrypoint = exec_form(runtime.last("ENTRYPOINT").expect("ENTRYPOINT"));
    let cmd = exec_form(runtime.last("CMD").expect("CMD"));
    assert_eq!(cmd, ["run"], "by default the image runs the operator");
    let program = entrypoint.first().expect("a program");
    assert_eq!(
        Path::new(program).file_name().and_then(|n| n.to_str()),
        Some(bin_name().as_str()),
        "ENTRYPOINT runs Cargo's binary"
    );
    let copy = runtime.last("COPY").expect("COPY");
    let destination = copy.args.split_whitespace().last().expect("destination");
    assert_eq!(
        destination, program,
        "ENTRYPOINT is the file the COPY writes"
    );
    let exposed: BTreeSet<&str> = runtime
        .all("EXPOSE")
        .iter()
        .flat_map(|e| e.args.split_whitespace())
        .collect();
    assert_eq!(
        exposed,
        BTreeSet::from(["8080", "8081"]),
        "metrics and health ports"
    );
}

#[test]
fn the_image_command_is_one_the_binary_accepts() {
    // ENTRYPOINT + CMD, with --help appended so it only parses the command line.
    let dockerfile = Dockerfile::load();
    let runtime = dockerfile.runtime();
    let cmd = exec_form(runtime.last("CMD").expect("CMD"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_snowflake-token-operator"))
        .args(&cmd)
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "`{} --help` fails: {}",
        cmd.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("--metrics-addr"));
}

#[test]
fn the_labels_say_what_cargo_toml_says() {
    let dockerfile = Dockerfile::load();
    let labels = labels(dockerfile.runtime());
    let label = |key: &str| {
        labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no LABEL {key}: {labels:?}"))
    };
    let manifest = cargo_toml();
    let package = &manifest["package"];
    assert_eq!(label("org.opencontainers.image.title"), bin_name());
    assert_eq!(
        label("org.opencontainers.image.description"),
        package["description"].as_str().expect("description")
    );
    assert_eq!(
        label("org.opencontainers.image.licenses"),
        package["license"].as_str().expect("license")
    );
    let source = label("org.opencontainers.image.source");
    match package.get("repository").and_then(|r| r.as_str()) {
        // Once Cargo.toml names the repository, the image says the same by default.
        Some(repository) => {
            let runtime = dockerfile.runtime();
            let default = runtime
                .all("ARG")
                .iter()
                .find_map(|a| a.args.strip_prefix("IMAGE_SOURCE="))
                .map(|d| d.trim_matches('"').to_owned());
            assert!(
                source == repository || default.as_deref() == Some(repository),
                "org.opencontainers.image.source is {source} (default {default:?}), Cargo.toml says {repository}"
            );
        }
        None => assert_eq!(
            source, "${IMAGE_SOURCE}",
            "set with --build-arg IMAGE_SOURCE"
        ),
    }
}

#[test]
fn the_binary_needs_only_libraries_the_distroless_cc_image_has() {
    // The same linking as the release build: Rust std and rustls, no OpenSSL.
    let binary = env!("CARGO_BIN_EXE_snowflake-token-operator");
    let out = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ldd (glibc's libc-bin): {e}"));
    assert!(
        out.status.success(),
        "ldd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    // glibc and libgcc_s are what gcr.io/distroless/cc adds to distroless/base-nossl.
    let provided = [
        "linux-vdso.so.1",
        "libc.so.6",
        "libm.so.6",
        "libgcc_s.so.1",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
    ];
    let mut needed = Vec::new();
    for line in listing.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let file = Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(name);
        needed.push(file.to_owned());
        assert!(
            provided.contains(&file),
            "the binary needs {file}, which distroless/cc lacks:\n{listing}"
        );
    }
    assert!(
        needed.iter().any(|n| n == "libc.so.6"),
        "dynamically linked against glibc:\n{listing}"
    );
}

#[test]
fn dockerignore_keeps_build_output_and_git_out_of_the_context() {
    let ignore = DockerIgnore::load();
    for path in [
        "target",
        "target/release/snowflake-token-operator",
        ".git",
        ".git/HEAD",
        "tests/python/.venv/bin/python",
    ] {
        assert!(
            ignore.excludes(path),
            ".dockerignore lets {path} into the build context"
        );
    }
    for path in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        "benches/scale/main.rs",
    ] {
        assert!(
            !ignore.excludes(path),
            ".dockerignore leaves out {path}, which the build needs"
        );
    }
}

#[test]
fn the_dockerignore_matcher_follows_dockers_rules() {
    let ignore = DockerIgnore {
        patterns: vec![
            (false, vec!["**".into(), "*.log".into()]),
            (false, vec!["docs".into()]),
            (true, vec!["docs".into(), "keep.md".into()]),
            (false, vec!["a?c".into()]),
        ],
    };
    assert!(ignore.excludes("x/y/z.log"));
    assert!(ignore.excludes("z.log"));
    assert!(ignore.excludes("docs/other.md"));
    assert!(ignore.excludes("abc/d"));
    assert!(!ignore.excludes("abbc"));
    assert!(!ignore.excludes("src/main.rs"));
    // A later `!` re-includes a file of an excluded directory.
    assert!(!ignore.excludes("docs/keep.md"));
}
