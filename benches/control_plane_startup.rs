//! How long the test harness takes to start a full control plane (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler, kwok and a node, CRDs established), step by
//! step. A figure to watch, not a pass/fail test: machines differ too much for a limit.
//!
//! `cargo bench --bench control_plane_startup` (needs `KUBEBUILDER_ASSETS` or the kit in
//! `../shared/envtest`, as the tests do).

#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let started = std::time::Instant::now();
    let plane = support::control_plane(support::Options::FULL);
    println!(
        "full control plane started in {:.1?} (measured outside: {:.1?})",
        plane.startup,
        started.elapsed()
    );
    for (step, at) in &plane.milestones {
        println!("  {at:>8.1?}  {step}");
    }
}
