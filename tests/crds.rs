//! The CRDs on a real API server: installation, examples, admission-time validation and
//! `kubectl explain`.

mod support;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use support::{Options, control_plane};

#[tokio::test]
async fn every_crd_installs_and_is_established() {
    let plane = control_plane(Options::API_ONLY);
    let api: Api<CustomResourceDefinition> = Api::all(plane.client().await);
    for crd in snowflake_token_operator::api::crds() {
        let name = crd.metadata.name.expect("named");
        let live = api.get(&name).await.expect("installed");
        let established = live
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{name} is not Established");
    }
}
