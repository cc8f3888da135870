//! Leader election on a real API server: of two electors on one Lease only one holds it; the
//! other takes over once the holder stops renewing (killed), and at once when it releases;
//! a holder loses leadership when another identity overwrites the Lease, or when it cannot
//! renew, before the Lease could expire for the others.

mod support;

use std::pin::pin;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use snowflake_token_operator::controller::leader::{LeaderElector, Leadership, LeaseConfig, Lost};
use support::{ControlPlane, Options, TestNamespace, control_plane, wait_for};
use tokio::time::timeout;

fn plane() -> &'static ControlPlane {
    control_plane(Options::API_ONLY)
}

/// The electors' logs, shown with a failing test's output.
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("snowflake_token_operator=debug")
        .try_init();
}

const LEASE: &str = "snowflake-token-operator";

/// Short timings: a 3 s lease, renewed every second, looked at every 200 ms.
fn config(ns: &str, identity: &str) -> LeaseConfig {
    LeaseConfig {
        lease_duration: Duration::from_secs(3),
        renew_interval: Duration::from_secs(1),
        retry_interval: Duration::from_millis(200),
        ..LeaseConfig::new(ns, LEASE, identity)
    }
}

fn elector(client: &kube::Client, ns: &str, identity: &str) -> LeaderElector {
    LeaderElector::new(client.clone(), config(ns, identity))
}

/// Generous, for a loaded machine: acquiring a free Lease takes one or two requests.
const ACQUIRE: Duration = Duration::from_secs(10);

async fn acquire(elector: &LeaderElector) -> Leadership {
    timeout(ACQUIRE, elector.acquire())
        .await
        .expect("acquired in time")
        .expect("acquired")
}

async fn lease(client: &kube::Client, ns: &str) -> Lease {
    Api::<Lease>::namespaced(client.clone(), ns)
        .get(LEASE)
        .await
        .expect("Lease exists")
}

fn holder(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref()?.holder_identity.as_deref()
}

fn transitions(lease: &Lease) -> Option<i32> {
    lease.spec.as_ref()?.lease_transitions
}

fn renew_time(lease: &Lease) -> Timestamp {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.renew_time.as_ref())
        .expect("renewTime")
        .0
}

#[tokio::test]
async fn the_second_elector_waits_while_the_first_renews_and_takes_over_when_it_dies() {
    logs();
    let ns = TestNamespace::new(plane(), "leader-crash").await;
    let client = plane().client().await;
    let a = elector(&client, ns.name(), "replica-a");
    let b = elector(&client, ns.name(), "replica-b");

    // No Lease yet: a creates it.
    let mut leader_a = acquire(&a).await;
    let created = lease(&client, ns.name()).await;
    let spec = created.spec.clone().expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-a"));
    assert_eq!(spec.lease_duration_seconds, Some(3));
    assert_eq!(spec.lease_transitions, Some(0));
    assert!(spec.acquire_time.is_some());
    let first_renewal = renew_time(&created);

    // For longer than a lease duration b gets nowhere and a keeps leadership: a renews.
    let mut b_acquires = pin!(b.acquire());
    let meanwhile = timeout(Duration::from_millis(4500), async {
        tokio::select! {
            acquired = &mut b_acquires => format!("replica-b acquired: {:?}", acquired.map(|_| ())),
            lost = leader_a.lost() => format!("replica-a lost: {lost}"),
        }
    })
    .await;
    if let Ok(what) = meanwhile {
        panic!("while replica-a renews: {what}");
    }
    let renewed = lease(&client, ns.name()).await;
    assert_eq!(holder(&renewed), Some("replica-a"));
    assert!(renew_time(&renewed) > first_renewal, "renewTime moves on");

    // a dies without releasing (as if SIGKILLed): b takes over once the lease expired.
    drop(leader_a);
    let _leader_b = timeout(ACQUIRE, b_acquires)
        .await
        .expect("replica-b takes over in time")
        .expect("replica-b acquires");
    let taken = lease(&client, ns.name()).await;
    let spec = taken.spec.clone().expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-b"));
    assert_eq!(spec.lease_transitions, Some(1));
    let acquired = spec.acquire_time.expect("acquireTime").0;
    assert!(
        acquired >= renew_time(&renewed) + SignedDuration::from_secs(3),
        "replica-b took the Lease at {acquired}, before it expired (renewed at {})",
        renew_time(&renewed)
    );
}

#[tokio::test]
async fn two_electors_racing_for_a_missing_lease_elect_one() {
    logs();
    let ns = TestNamespace::new(plane(), "leader-race").await;
    let client = plane().client().await;
    let a = elector(&client, ns.name(), "replica-a");
    let b = elector(&client, ns.name(), "replica-b");

    let mut a_acquires = pin!(a.acquire());
    let mut b_acquires = pin!(b.acquire());
    let (winner, leader) = timeout(ACQUIRE, async {
        tokio::select! {
            acquired = &mut a_acquires => ("replica-a", acquired),
            acquired = &mut b_acquires => ("replica-b", acquired),
        }
    })
    .await
    .expect("one acquires in time");
    let mut leader = leader.expect("acquired");
    let loser = if winner == "replica-a" {
        b_acquires
    } else {
        a_acquires
    };

    let meanwhile = timeout(Duration::from_secs(1), async {
        tokio::select! {
            acquired = loser => format!("the other acquired too: {:?}", acquired.map(|_| ())),
            lost = leader.lost() => format!("{winner} lost: {lost}"),
        }
    })
    .await;
    if let Ok(what) = meanwhile {
        panic!("{what}");
    }
    let held = lease(&client, ns.name()).await;
    assert_eq!(holder(&held), Some(winner));
    assert_eq!(transitions(&held), Some(0));
}

#[tokio::test]
async fn a_released_lease_is_taken_at_once() {
    logs();
    let ns = TestNamespace::new(plane(), "leader-release").await;
    let client = plane().client().await;
    // A lease far longer than the test: only a release can hand it over.
    let long = |identity| {
        LeaderElector::new(
            client.clone(),
            LeaseConfig {
                lease_duration: Duration::from_secs(300),
                ..config(ns.name(), identity)
            },
        )
    };
    let (a, b) = (long("replica-a"), long("replica-b"));
    let leader_a = acquire(&a).await;
    let mut b_acquires = pin!(b.acquire());
    assert!(
        timeout(Duration::from_millis(500), &mut b_acquires)
            .await
            .is_err(),
        "replica-b waits while replica-a holds the Lease"
    );

    leader_a.release().await;
    let leader_b = timeout(ACQUIRE, b_acquires)
        .await
        .expect("replica-b acquires at once")
        .expect("replica-b acquires");
    let taken = lease(&client, ns.name()).await;
    assert_eq!(holder(&taken), Some("replica-b"));
    assert_eq!(transitions(&taken), Some(1));
    let spec = taken.spec.clone().expect("spec");
    assert_eq!(spec.lease_duration_seconds, Some(300));

    // With nobody waiting, the released Lease stays free, as client-go leaves it.
    leader_b.release().await;
    let released = lease(&client, ns.name()).await;
    let spec = released.spec.clone().expect("spec");
    assert_eq!(spec.holder_identity, None);
    assert_eq!(spec.lease_duration_seconds, Some(1));
    assert_eq!(spec.lease_transitions, Some(1));
}

#[tokio::test]
async fn a_holder_whose_lease_another_identity_overwrites_loses_leadership() {
    logs();
    let ns = TestNamespace::new(plane(), "leader-overwrite").await;
    let client = plane().client().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns.name());
    let mut leader = acquire(&elector(&client, ns.name(), "replica-a")).await;

    let mut overwritten = lease(&client, ns.name()).await;
    let spec = overwritten.spec.as_mut().expect("spec");
    spec.holder_identity = Some("intruder".into());
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    spec.lease_duration_seconds = Some(300);
    let overwritten = leases
        .replace(LEASE, &PostParams::default(), &overwritten)
        .await
        .expect("overwritten");

    let lost = timeout(Duration::from_secs(5), leader.lost())
        .await
        .expect("leadership lost in time");
    assert!(
        matches!(&lost, Lost::TakenOver { holder: Some(h), .. } if h == "intruder"),
        "{lost:?}"
    );
    // Once lost, it stays lost.
    assert_eq!(leader.lost().await, lost);

    // Releasing leaves the intruder's Lease alone.
    leader.release().await;
    let after = lease(&client, ns.name()).await;
    assert_eq!(holder(&after), Some("intruder"));
    assert_eq!(
        after.metadata.resource_version,
        overwritten.metadata.resource_version
    );
}

#[tokio::test]
async fn a_lease_whose_holder_never_renewed_is_taken_at_once() {
    logs();
    let ns = TestNamespace::new(plane(), "leader-ghost").await;
    let client = plane().client().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns.name());
    let ghost: Lease = serde_json::from_value(json!({
        "metadata": {"name": LEASE},
        "spec": {"holderIdentity": "ghost", "leaseDurationSeconds": 3600, "leaseTransitions": 4},
    }))
    .expect("lease manifest");
    leases
        .create(&PostParams::default(), &ghost)
        .await
        .expect("created");

    let _leader = acquire(&elector(&client, ns.name(), "replica-a")).await;
    let taken = lease(&client, ns.name()).await;
    assert_eq!(holder(&taken), Some("replica-a"));
    assert_eq!(transitions(&taken), Some(5));
}

/// A ServiceAccount `elector` and a client authenticating as it (no permissions yet).
async fn service_account_client(client: &kube::Client, ns: &str) -> kube::Client {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "elector"}})).expect("manifest");
    accounts
        .create(&PostParams::default(), &account)
        .await
        .expect("ServiceAccount created");
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": []}})).expect("manifest");
    let token = accounts
        .create_token_request("elector", &PostParams::default(), &request)
        .await
        .expect("token issued")
        .status
        .expect("token status")
        .token;
    plane().client_with_token(&token).await
}

/// Lets the ServiceAccount `elector` do what leader election needs with Leases.
async fn grant_leases(client: &kube::Client, ns: &str) {
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "leader-election"},
        "rules": [{
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "create", "update"],
        }],
    }))
    .expect("manifest");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "leader-election"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "leader-election"},
        "subjects": [{"kind": "ServiceAccount", "name": "elector", "namespace": ns}],
    }))
    .expect("manifest");
    Api::<Role>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("Role created");
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("RoleBinding created");
}

#[tokio::test]
async fn a_holder_that_cannot_renew_gives_up_before_the_lease_expires() {
    logs();
    let ns = TestNamespace::new(plane(), "leader-forbidden").await;
    let admin = plane().client().await;
    let account = service_account_client(&admin, ns.name()).await;
    let a = elector(&account, ns.name(), "replica-a");

    // Without RBAC for Leases, acquiring fails at once instead of waiting forever.
    let refused = timeout(ACQUIRE, a.acquire())
        .await
        .expect("answered in time")
        .expect_err("forbidden");
    assert!(!refused.is_transient(), "{refused}");

    // get, create and update are all it needs.
    grant_leases(&admin, ns.name()).await;
    let mut leader = wait_for(ACQUIRE, "the RoleBinding to take effect", || async {
        timeout(ACQUIRE, a.acquire()).await.ok()?.ok()
    })
    .await;
    let held = lease(&admin, ns.name()).await;
    assert_eq!(holder(&held), Some("replica-a"));

    // The permission goes: renewals fail, and leadership ends before the last renewal
    // plus the lease duration, when another replica could take the Lease.
    Api::<RoleBinding>::namespaced(admin.clone(), ns.name())
        .delete("leader-election", &DeleteParams::default())
        .await
        .expect("RoleBinding deleted");
    let started = Instant::now();
    let lost = timeout(Duration::from_secs(10), leader.lost())
        .await
        .expect("leadership lost in time");
    let lost_at = Timestamp::now();
    assert!(matches!(lost, Lost::NotRenewed { .. }), "{lost:?}");
    let last_renewal = renew_time(&lease(&admin, ns.name()).await);
    assert!(
        lost_at < last_renewal + SignedDuration::from_secs(3),
        "lost at {lost_at}, after the Lease (renewed at {last_renewal}) expired; {:?} after the RoleBinding went",
        started.elapsed()
    );
    // Releasing is refused too; it gives up without hanging.
    timeout(Duration::from_secs(5), leader.release())
        .await
        .expect("release gives up in time");
}
