//! The Helm chart `charts/snowflake-token-operator`, proven on a real control plane
//! (kube-apiserver, controller-manager, scheduler and a kwok node, so pods become Ready):
//! - every documented mode renders manifests the API server accepts (server-side dry run,
//!   the chart's CRDs applied first, the restricted Pod Security Standard enforced), with
//!   command lines the binary accepts (`render`);
//! - `helm install --wait`, `helm upgrade --wait` and `helm uninstall` leave no object of
//!   the release behind (`install`);
//! - the chart's RBAC, in both modes, is exactly what the operator uses: the controllers
//!   run as the chart's ServiceAccount, and no request is refused and no permission goes
//!   unused; the Lease is taken with leader election; in single-namespace mode nothing
//!   outside the namespace is touched (`rbac`).
//!
//! `scripts/check-chart` lints and renders the same modes without a cluster.

#[path = "emulator_support/mod.rs"]
mod emulator_support;
mod support;

#[path = "chart/audit.rs"]
mod audit;
#[path = "chart/helm.rs"]
mod helm;
#[path = "chart/install.rs"]
mod install;
#[path = "chart/rbac.rs"]
mod rbac;
#[path = "chart/render.rs"]
mod render;

use support::{ControlPlane, Options, control_plane};

/// This binary's control plane: everything, since `helm install --wait` needs pods that
/// become Ready and the uninstall needs the garbage collector.
fn plane() -> &'static ControlPlane {
    control_plane(Options::FULL)
}
