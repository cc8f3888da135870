//! Finding the control-plane binaries: `$KUBEBUILDER_ASSETS` (the envtest convention, so
//! `setup-envtest use -p path` output works), else the kit in `../shared/envtest/` beside
//! the project, else the newest version in the `setup-envtest` store.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to get the binaries, printed whenever they cannot be found.
pub const HOW_TO_GET_BINARIES: &str = "\
The demo and the integration tests run a real Kubernetes control plane (etcd + kube-apiserver) and need its binaries.
Provide them in one of two ways:
  1. In this repository's CI layout, unpack the kit next to the project and export its folder:
       export KUBEBUILDER_ASSETS=\"$(../shared/envtest/unpack)\"
     (.ci/run and scripts/test do this for you.)
  2. Anywhere else, use controller-runtime's setup-envtest (needs Go once):
       go install sigs.k8s.io/controller-runtime/tools/setup-envtest@latest
       export KUBEBUILDER_ASSETS=\"$(setup-envtest use -p path 1.33.x)\"
     (or just `setup-envtest use 1.33.x`: its store is looked in when nothing else is set).
     setup-envtest brings etcd, kube-apiserver and kubectl; tests that also need
     kube-controller-manager, kube-scheduler or kwok say which one is missing: put those
     binaries into the same folder.";

/// The folder holding the binaries.
#[derive(Clone, Debug)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Locates the binaries, or explains how to get them: `$KUBEBUILDER_ASSETS`, else the
    /// kit's `unpack` script beside the project (the one this binary was built from, or
    /// the current directory's), else the `setup-envtest` store.
    pub fn locate() -> Result<Self, String> {
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/envtest/unpack");
        let here = Path::new("../shared/envtest/unpack");
        let kit = if built_from.is_file() || !here.is_file() {
            built_from
        } else {
            here.to_path_buf()
        };
        let assets = std::env::var_os("KUBEBUILDER_ASSETS");
        if assets.as_ref().is_none_or(|a| a.is_empty())
            && !kit.is_file()
            && let Some(dir) = setup_envtest_store()
        {
            return Ok(Self { dir });
        }
        Self::locate_from(assets, &kit)
    }

    /// [`Self::locate`] with its inputs explicit, so the failure messages can be tested.
    pub fn locate_from(assets: Option<OsString>, unpack: &Path) -> Result<Self, String> {
        if let Some(dir) = assets.filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            return if dir.join("kube-apiserver").is_file() && dir.join("etcd").is_file() {
                Ok(Self { dir })
            } else {
                Err(format!(
                    "KUBEBUILDER_ASSETS={} does not contain etcd and kube-apiserver.\n\n{HOW_TO_GET_BINARIES}",
                    dir.display()
                ))
            };
        }
        if unpack.is_file() {
            let output = Command::new("bash")
                .arg(unpack)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", unpack.display()))?;
            if !output.status.success() {
                return Err(format!(
                    "{} failed: {}\n\n{HOW_TO_GET_BINARIES}",
                    unpack.display(),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            return Ok(Self { dir });
        }
        Err(format!(
            "No control-plane binaries: KUBEBUILDER_ASSETS is not set and {} does not exist.\n\n{HOW_TO_GET_BINARIES}",
            unpack.display()
        ))
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `name` if present.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        let path = self.dir.join(name);
        path.is_file().then_some(path)
    }

    /// The path of `name`, or an error naming the missing binary and how to get it.
    pub fn require(&self, name: &str) -> Result<PathBuf, String> {
        self.find(name).ok_or_else(|| {
            format!(
                "`{name}` is needed, and is not in {}.\n\n{HOW_TO_GET_BINARIES}",
                self.dir.display()
            )
        })
    }
}

/// The newest version in `setup-envtest`'s store (`$XDG_DATA_HOME/kubebuilder-envtest/k8s`,
/// by default under `~/.local/share`) that holds etcd and kube-apiserver.
fn setup_envtest_store() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    let store = data.join("kubebuilder-envtest/k8s");
    let mut versions: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir(&store)
        .ok()?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            // `1.33.0-linux-amd64`: order by the numeric version.
            let version = name
                .split('-')
                .next()?
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u64>>>()?;
            (path.join("etcd").is_file() && path.join("kube-apiserver").is_file())
                .then_some((version, path))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, path)| path)
}
