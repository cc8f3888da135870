//! A real Kubernetes control plane on loopback (etcd + kube-apiserver, optionally
//! kube-controller-manager, kube-scheduler and kwok with a simulated node), from the
//! envtest binaries: what the `demo` runs the operator on, and what the integration tests
//! and benchmarks use.
//!
//! Every process it starts is stopped, and its folder removed, when this process exits for
//! any reason (see [`reaper`]): a demo interrupted with Ctrl-C or a test that panics leaves
//! nothing behind.

mod binaries;
mod control_plane;
mod kwok;
mod processes;
pub mod reaper;
mod wait;

pub use binaries::{Binaries, HOW_TO_GET_BINARIES};
pub use control_plane::{
    ControlPlane, IDENTITIES, Options, RequestLog, client_from, config_from, install_crds,
};
pub use kwok::NODE_NAME;
pub use processes::{free_port, log_tail};
pub use wait::{until, until_sync};
