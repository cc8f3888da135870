//! The CRDs on a real API server: installation, the examples, admission-time validation
//! with the messages users read, and `kubectl explain`.

mod support;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Resource;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use snowflake_token_operator::api::{SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken};
use support::{ControlPlane, Options, TestNamespace, control_plane, kubectl_ok};

#[path = "crds/cases.rs"]
mod cases;
#[path = "crds/generate.rs"]
mod generate;

fn plane() -> &'static ControlPlane {
    control_plane(Options::API_ONLY)
}

fn api_resource<K: Resource<DynamicType = ()>>() -> ApiResource {
    ApiResource::erase::<K>(&())
}

fn dynamic(ar: &ApiResource, name: &str, spec: Value) -> DynamicObject {
    let mut object = DynamicObject::new(name, ar);
    object.data = json!({ "spec": spec });
    object
}

#[tokio::test]
async fn every_crd_installs_and_is_established() {
    let api: Api<CustomResourceDefinition> = Api::all(plane().client().await);
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

#[tokio::test]
async fn kubectl_apply_of_the_crds_folder_is_accepted() {
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
    let out = kubectl_ok(plane(), &["apply", "--dry-run=server", "-f", crds]).await;
    assert_eq!(out.lines().count(), 3, "{out}");
}

#[tokio::test]
async fn examples_are_accepted_and_defaulted() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "examples").await;
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    for file in [
        "connection.yaml",
        "service-user.yaml",
        "token-pat.yaml",
        "token-oauth.yaml",
        "token-keypair.yaml",
    ] {
        // kubectl validates strictly: an unknown field in an example fails here too.
        kubectl_ok(
            plane,
            &[
                "apply",
                "--server-side",
                "-n",
                ns.name(),
                "-f",
                &format!("{examples}/{file}"),
            ],
        )
        .await;
    }
    let client = plane.client().await;
    let tokens: Api<SnowflakeToken> = Api::namespaced(client.clone(), ns.name());
    let tableau = tokens.get("tableau").await.expect("OAuth example stored");
    assert_eq!(
        tableau.spec.deletion_policy,
        snowflake_token_operator::api::DeletionPolicy::Delete,
        "deletionPolicy defaults to Delete"
    );
    let oauth = tableau.spec.oauth.expect("oauth");
    assert_eq!(oauth.client_secret_ref.client_id_key, "OAUTH_CLIENT_ID");
    let users: Api<SnowflakeServiceUser> = Api::namespaced(client.clone(), ns.name());
    let user = users
        .get("powerbi-gateway")
        .await
        .expect("service user stored");
    assert_eq!(user.spec.roles, ["REPORTING"]);
    let connections: Api<SnowflakeConnection> = Api::namespaced(client, ns.name());
    connections
        .get("analytics")
        .await
        .expect("connection stored");
}

#[tokio::test]
async fn defaults_are_applied_by_the_api_server() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "defaults").await;
    let ar = api_resource::<SnowflakeToken>();
    let api: Api<DynamicObject> = Api::namespaced_with(plane.client().await, ns.name(), &ar);
    let spec = json!({
        "connectionRef": {"name": "prod"},
        "user": {"name": "BI_SVC"},
        "programmaticAccessToken": {"roleRestriction": "ANALYST"},
    });
    api.create(&PostParams::default(), &dynamic(&ar, "minimal", spec))
        .await
        .expect("minimal PAT token accepted");
    let typed: Api<SnowflakeToken> = Api::namespaced(plane.client().await, ns.name());
    let token = typed.get("minimal").await.expect("stored");
    let pat = token.spec.programmatic_access_token.expect("pat");
    assert_eq!(pat.days_to_expiry, 15);
    assert_eq!(pat.rotated_token_grace_period_hours, 24);
    assert_eq!(token.spec.secret.type_.as_str(), "Opaque");

    let key_pair = json!({
        "connectionRef": {"name": "prod"},
        "user": {"name": "LOADER_SVC"},
        "keyPair": {},
    });
    api.create(
        &PostParams::default(),
        &dynamic(&ar, "minimal-key", key_pair),
    )
    .await
    .expect("minimal key-pair token accepted");
    let stored = typed.get("minimal-key").await.expect("stored");
    let key_pair = stored.spec.key_pair.expect("key pair");
    assert_eq!(key_pair.key_size, 2048);
    assert_eq!(
        key_pair.format,
        snowflake_token_operator::api::PrivateKeyFormat::Pkcs8
    );
    assert!(key_pair.verify_before_swap);
}

#[tokio::test]
async fn values_at_the_edges_of_the_rules_are_accepted() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "edges").await;
    let ar = api_resource::<SnowflakeToken>();
    let api: Api<DynamicObject> = Api::namespaced_with(plane.client().await, ns.name(), &ar);
    let pat = |pat: Value| {
        json!({
            "connectionRef": {"name": "prod"},
            "user": {"name": "bi_svc"},
            "programmaticAccessToken": pat,
            "secret": {
                "labels": {"example.com/team": "bi", "tier": ""},
                "annotations": {"example.com/owner": "BI team <bi@example.com>"},
            },
        })
    };
    let oauth = |extra: Value| {
        let oauth = cases::merged(
            json!({
                "clientSecretRef": {"name": "client"},
                "refreshTokenSecretRef": {"name": "refresh", "key": "refresh_token"},
            }),
            extra,
        );
        json!({"connectionRef": {"name": "prod"}, "user": {"name": "tableau"}, "oauth": oauth})
    };
    let accepted = [
        // A one-day token whose grace period fits the default renewal (8 hours before).
        pat(json!({"daysToExpiry": 1, "rotatedTokenGracePeriodHours": 8, "tokenName": "pbi_1"})),
        // Renewed exactly the grace period before expiry.
        pat(json!({"renewBefore": "24h", "rotatedTokenGracePeriodHours": 24})),
        pat(json!({"daysToExpiry": 365, "renewBefore": "8759h59m"})),
        pat(json!({"renewBefore": "1h30m", "rotatedTokenGracePeriodHours": 0})),
        pat(json!({"daysToExpiry": 30, "renewBeforePercentage": 4})),
        oauth(
            json!({"refreshBefore": "1h", "refreshTokenValidity": "8760h", "refreshTokenExpiryWarning": "8759h"}),
        ),
        oauth(
            json!({"refreshBefore": "90s", "refreshTokenValidity": "24h", "refreshTokenExpiryWarning": "1h"}),
        ),
        // Key pairs: the largest key, the shortest period, a grace period just inside it.
        json!({"connectionRef": {"name": "prod"}, "user": {"name": "loader"},
               "keyPair": {"keySize": 4096, "rotationPeriod": "1h", "gracePeriod": "59m", "format": "EncryptedPKCS8"}}),
        json!({"connectionRef": {"name": "prod"}, "user": {"name": "loader"},
               "keyPair": {"rotationPeriod": "8760h", "gracePeriod": "0s"}}),
        json!({"connectionRef": {"name": "prod"}, "user": {"name": "loader"}, "keyPair": {}}),
    ];
    for (i, spec) in accepted.into_iter().enumerate() {
        let object = dynamic(&ar, &format!("edge-{i}"), spec.clone());
        if let Err(e) = api.create(&PostParams::default(), &object).await {
            panic!("refused {spec}: {e}");
        }
    }
}

#[tokio::test]
async fn bad_resources_are_rejected_at_admission_with_a_readable_message() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "rejects").await;
    let client = plane.client().await;
    let mut failures = Vec::new();
    for (i, case) in cases::all().into_iter().enumerate() {
        let ar = match case.kind {
            cases::Kind::Connection => api_resource::<SnowflakeConnection>(),
            cases::Kind::ServiceUser => api_resource::<SnowflakeServiceUser>(),
            cases::Kind::Token => api_resource::<SnowflakeToken>(),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns.name(), &ar);
        let object = dynamic(&ar, &format!("case-{i}"), case.spec.clone());
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => failures.push(format!("{}: accepted", case.name)),
            Err(kube::Error::Api(status)) if status.message.contains(case.expected) => {}
            Err(other) => failures.push(format!(
                "{}: expected {:?} in the error, got: {other}",
                case.name, case.expected
            )),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn immutable_names_cannot_be_changed() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "immutable").await;
    let ar = api_resource::<SnowflakeServiceUser>();
    let api: Api<DynamicObject> = Api::namespaced_with(plane.client().await, ns.name(), &ar);
    let spec = |user: &str| json!({"connectionRef": {"name": "prod"}, "userName": user});
    let params = PatchParams::apply("tests").force();
    api.patch(
        "dbt",
        &params,
        &Patch::Apply(dynamic(&ar, "dbt", spec("DBT_SVC"))),
    )
    .await
    .expect("created");
    let err = api
        .patch(
            "dbt",
            &params,
            &Patch::Apply(dynamic(&ar, "dbt", spec("OTHER_SVC"))),
        )
        .await
        .expect_err("renaming the Snowflake user is refused");
    assert!(
        err.to_string().contains("userName cannot be changed"),
        "{err}"
    );

    let err = api
        .patch(
            "dbt",
            &params,
            &Patch::Apply(dynamic(
                &ar,
                "dbt",
                json!({"connectionRef": {"name": "staging"}, "userName": "DBT_SVC"}),
            )),
        )
        .await
        .expect_err("moving the user to another connection is refused");
    assert!(
        err.to_string().contains(
            "connectionRef cannot be changed: the user lives in that connection's account"
        ),
        "{err}"
    );

    // Dropping userName would silently switch to the name derived from metadata.name.
    let err = api
        .patch(
            "dbt",
            &params,
            &Patch::Apply(dynamic(
                &ar,
                "dbt",
                json!({"connectionRef": {"name": "prod"}}),
            )),
        )
        .await
        .expect_err("removing userName is refused");
    assert!(
        err.to_string()
            .contains("userName cannot be added or removed after creation"),
        "{err}"
    );
}

#[tokio::test]
async fn a_token_keeps_its_user_and_its_snowflake_name() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "immutable-token").await;
    let ar = api_resource::<SnowflakeToken>();
    let api: Api<DynamicObject> = Api::namespaced_with(plane.client().await, ns.name(), &ar);
    let params = PatchParams::apply("tests").force();
    let spec = |user: &str, token_name: Option<&str>| {
        let mut pat = json!({"roleRestriction": "REPORTING"});
        if let Some(name) = token_name {
            pat["tokenName"] = json!(name);
        }
        json!({
            "connectionRef": {"name": "prod"},
            "user": {"name": user},
            "programmaticAccessToken": pat,
        })
    };
    let apply = |spec: Value| {
        let api = api.clone();
        let params = params.clone();
        let object = dynamic(&ar, "gateway", spec);
        async move { api.patch("gateway", &params, &Patch::Apply(object)).await }
    };
    apply(spec("BI_SVC", Some("GATEWAY")))
        .await
        .expect("created");

    let with_pat = |mut spec: Value, field: &str, value: Value| {
        spec["programmaticAccessToken"][field] = value;
        spec
    };
    let without_role = |mut spec: Value| {
        spec["programmaticAccessToken"]
            .as_object_mut()
            .expect("object")
            .remove("roleRestriction");
        spec
    };
    let mut other_connection = spec("BI_SVC", Some("GATEWAY"));
    other_connection["connectionRef"] = json!({"name": "staging"});
    let mut now_oauth = spec("BI_SVC", Some("GATEWAY"));
    now_oauth
        .as_object_mut()
        .expect("object")
        .remove("programmaticAccessToken");
    now_oauth["oauth"] = json!({
        "clientSecretRef": {"name": "client"},
        "refreshTokenSecretRef": {"name": "refresh", "key": "refresh_token"},
    });
    let mut now_key_pair = spec("BI_SVC", Some("GATEWAY"));
    now_key_pair
        .as_object_mut()
        .expect("object")
        .remove("programmaticAccessToken");
    now_key_pair["keyPair"] = json!({});
    let cases = [
        (
            now_key_pair,
            "the kind of credential (programmaticAccessToken, oauth or keyPair) cannot be changed",
        ),
        (
            spec("OTHER_SVC", Some("GATEWAY")),
            "user cannot be changed: the credential belongs to that user",
        ),
        (
            other_connection,
            "connectionRef cannot be changed: the credential was issued in that connection's account",
        ),
        (
            now_oauth,
            "the kind of credential (programmaticAccessToken, oauth or keyPair) cannot be changed",
        ),
        (
            spec("BI_SVC", None),
            "tokenName cannot be added or removed after creation",
        ),
        (
            spec("BI_SVC", Some("RENAMED")),
            "tokenName cannot be changed",
        ),
        (
            with_pat(
                spec("BI_SVC", Some("GATEWAY")),
                "roleRestriction",
                json!("ANALYST"),
            ),
            "roleRestriction cannot be changed: Snowflake keeps a token's role across rotations",
        ),
        (
            without_role(spec("BI_SVC", Some("GATEWAY"))),
            "roleRestriction cannot be added or removed after creation",
        ),
        (
            with_pat(spec("BI_SVC", Some("GATEWAY")), "daysToExpiry", json!(30)),
            "daysToExpiry cannot be changed: Snowflake keeps a token's lifetime across rotations",
        ),
    ];
    for (bad, expected) in cases {
        let err = apply(bad).await.expect_err(expected);
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
    // The unchanged spec is still accepted: the rules compare, they do not freeze.
    apply(spec("BI_SVC", Some("GATEWAY")))
        .await
        .expect("re-applying the same spec");
}

/// Walks the OpenAPI v3 document the API server publishes (what `kubectl explain` reads)
/// and lists spec and status fields without a description.
fn undocumented(schema: &Value, path: &str, missing: &mut Vec<String>) {
    let described = schema["description"]
        .as_str()
        .is_some_and(|d| !d.trim().is_empty());
    if !described {
        missing.push(path.to_owned());
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (name, property) in properties {
            undocumented(property, &format!("{path}.{name}"), missing);
        }
    }
    if schema["items"]["properties"].is_object() {
        undocumented(&schema["items"], &format!("{path}[]"), missing);
    }
}

/// The group's OpenAPI v3 document (what `kubectl explain` reads), once it describes the
/// three kinds: the API server publishes it shortly after the CRDs are established, not
/// at once (404 until then).
async fn published_openapi(plane: &ControlPlane) -> Value {
    let client = plane.client().await;
    support::wait_for(
        std::time::Duration::from_secs(60),
        "the group's OpenAPI v3 document",
        || async {
            let request =
                http::Request::get("/openapi/v3/apis/snowflake-token-operator.io/v1alpha1")
                    .body(Vec::new())
                    .expect("request");
            let document: Value = client.request(request).await.ok()?;
            let schemas = &document["components"]["schemas"];
            [
                "SnowflakeConnection",
                "SnowflakeServiceUser",
                "SnowflakeToken",
            ]
            .iter()
            .all(|kind| schemas[format!("io.snowflake-token-operator.v1alpha1.{kind}")].is_object())
            .then_some(document)
        },
    )
    .await
}

#[tokio::test]
async fn the_published_schema_describes_every_field() {
    let document = published_openapi(plane()).await;
    for kind in [
        "SnowflakeConnection",
        "SnowflakeServiceUser",
        "SnowflakeToken",
    ] {
        let schema = &document["components"]["schemas"]
            [format!("io.snowflake-token-operator.v1alpha1.{kind}")];
        assert!(schema.is_object(), "{kind} is not published");
        let mut missing = Vec::new();
        for part in ["spec", "status"] {
            undocumented(
                &schema["properties"][part],
                &format!("{kind}.{part}"),
                &mut missing,
            );
        }
        assert!(
            missing.is_empty(),
            "fields without description: {missing:?}"
        );
    }
}

#[tokio::test]
async fn kubectl_explain_shows_descriptions() {
    let plane = plane();
    published_openapi(plane).await;
    let cases = [
        (
            "sftoken.spec.keyPair.gracePeriod",
            "the previous key stays registered",
        ),
        (
            "sftoken.status.pendingPublicKeyFingerprint",
            "Recorded before the public key is registered",
        ),
        (
            "sftoken.spec.programmaticAccessToken.renewBefore",
            "Renew this long before",
        ),
        (
            "sftoken.spec.oauth.clientSecretRef",
            "SYSTEM$SHOW_OAUTH_CLIENT_SECRETS",
        ),
        ("sftoken.status.renewalTime", "When the operator will renew"),
        ("sfuser.spec.roles", "revokes roles"),
        (
            "sfconn.spec.auth.keyPair.privateKeySecretRef.key",
            "Key in the Secret",
        ),
        ("sfconn.status.publicKeyFingerprint", "SHA256:"),
    ];
    for (path, expected) in cases {
        let out = kubectl_ok(plane, &["explain", path]).await;
        // kubectl wraps descriptions; compare with whitespace collapsed.
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(expected), "kubectl explain {path}:\n{out}");
    }
    let recursive = kubectl_ok(plane, &["explain", "sftoken.spec", "--recursive"]).await;
    for field in [
        "programmaticAccessToken",
        "daysToExpiry",
        "rolloutRestartTargets",
        "template",
    ] {
        assert!(
            recursive.contains(field),
            "{field} missing from:\n{recursive}"
        );
    }
}

#[test]
fn missing_binaries_fail_with_instructions_instead_of_skipping() {
    let nowhere = std::path::Path::new("/nonexistent/envtest/unpack");
    let err = support::Binaries::locate_from(None, nowhere).expect_err("nothing to find");
    assert!(err.contains("KUBEBUILDER_ASSETS is not set"), "{err}");
    assert!(err.contains("../shared/envtest/unpack"), "{err}");
    assert!(err.contains("setup-envtest use -p path"), "{err}");

    let empty = tempfile::tempdir().expect("temp dir");
    let err = support::Binaries::locate_from(Some(empty.path().into()), nowhere)
        .expect_err("empty folder");
    assert!(
        err.contains("does not contain etcd and kube-apiserver"),
        "{err}"
    );
}

#[test]
fn the_installed_crds_are_the_generated_ones() {
    // The harness installs crds/; scripts/check-generated guards the files in CI, this
    // guards a local run against stale files.
    let from_files = support::crds_from_repo().expect("crds/ readable");
    assert!(
        from_files == snowflake_token_operator::api::crds(),
        "crds/ is stale: run `cargo run -- crd --dir crds`"
    );
}

/// Calls every helper the controllers use on a resource read from the API, so that a
/// value that deserializes but then panics in use is caught too.
fn exercise(kind: &str, object: Value) -> Result<(), String> {
    let now: jiff::Timestamp = "2026-03-01T00:00:00Z".parse().expect("timestamp");
    match kind {
        "SnowflakeToken" => {
            let token: SnowflakeToken =
                serde_json::from_value(object).map_err(|e| e.to_string())?;
            let _ = (
                token.pat_name(),
                token.explicit_user_name(),
                token.secret_name(),
            );
            let _ = token.spec.credential();
            if let Some(pat) = &token.spec.programmatic_access_token {
                let _ = pat.renew_before();
                let _ = pat.renewal_time(now);
                let _ = pat.rotation_grace(now, now);
                let _ = pat.add_pat_request("NAME".into());
            }
            if let Some(oauth) = &token.spec.oauth {
                let _ = oauth.refresh_before_for(std::time::Duration::from_secs(600));
                let _ = oauth.refresh_token_expiry_warning();
                let _ = oauth.refresh_token_validity();
                let _ = oauth.session_role();
            }
        }
        "SnowflakeServiceUser" => {
            let user: SnowflakeServiceUser =
                serde_json::from_value(object).map_err(|e| e.to_string())?;
            let _ = user.desired_user();
        }
        _ => {
            let connection: SnowflakeConnection =
                serde_json::from_value(object).map_err(|e| e.to_string())?;
            let _ = connection.spec.snowflake_account();
            let _ = (connection.spec.admin_user(), connection.spec.admin_role());
        }
    }
    Ok(())
}

fn generated_object(
    crd: &CustomResourceDefinition,
) -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::strategy::Strategy as _;
    let (spec, status) = generate::schemas_of(crd);
    let kind = crd.spec.names.kind.clone();
    let group_version = format!("{}/{}", crd.spec.group, crd.spec.versions[0].name);
    (
        generate::value(&spec, None),
        proptest::option::of(generate::value(&status, None)),
    )
        .prop_map(move |(spec, status)| {
            let mut object = json!({
                "apiVersion": group_version,
                "kind": kind,
                "metadata": {"name": "generated", "namespace": "default"},
                "spec": spec,
            });
            if let Some(status) = status {
                object["status"] = status;
            }
            object
        })
}

#[test]
fn every_resource_within_the_schema_deserializes_and_is_usable() {
    use proptest::test_runner::{Config, TestRunner};
    for crd in snowflake_token_operator::api::crds() {
        let kind = crd.spec.names.kind.clone();
        let mut runner = TestRunner::new(Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&generated_object(&crd), |object| {
                let text = object.to_string();
                exercise(&kind, object)
                    .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e}: {text}")))
            })
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

/// Makes a generated spec satisfy the one-of rules, so that more of them get past
/// admission and exercise the rest of the schema.
fn one_of_each(kind: &str, spec: &mut Value) {
    if kind != "SnowflakeToken" {
        return;
    }
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    if spec.contains_key("programmaticAccessToken") {
        spec.remove("oauth");
        spec.remove("keyPair");
    } else if spec.contains_key("oauth") {
        spec.remove("keyPair");
    } else if let Some(key_pair) = spec.get_mut("keyPair").and_then(Value::as_object_mut) {
        // Two durations related by a rule rarely agree when generated apart.
        key_pair.remove("gracePeriod");
    } else {
        spec.insert("programmaticAccessToken".into(), json!({}));
    }
    if let Some(user) = spec.get_mut("user").and_then(Value::as_object_mut) {
        if user.contains_key("name") && user.contains_key("serviceUserRef") {
            user.remove("serviceUserRef");
        }
        if user.is_empty() {
            user.insert("name".into(), json!("BI_SVC"));
        }
    }
}

#[tokio::test]
async fn whatever_the_api_server_accepts_deserializes() {
    use proptest::strategy::{Strategy as _, ValueTree as _};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let plane = plane();
    let ns = TestNamespace::new(plane, "generated").await;
    let client = plane.client().await;
    let mut report = Vec::new();
    for crd in snowflake_token_operator::api::crds() {
        let kind = crd.spec.names.kind.clone();
        let ar = ApiResource {
            group: crd.spec.group.clone(),
            version: crd.spec.versions[0].name.clone(),
            api_version: format!("{}/{}", crd.spec.group, crd.spec.versions[0].name),
            kind: kind.clone(),
            plural: crd.spec.names.plural.clone(),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns.name(), &ar);
        let (spec_schema, _) = generate::schemas_of(&crd);
        let strategy = generate::value(&spec_schema, None);
        // Deterministic: CI sees the same resources every run.
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        let (mut accepted, mut refused) = (0, 0);
        for i in 0..96 {
            let mut spec = strategy.new_tree(&mut runner).expect("a value").current();
            one_of_each(&kind, &mut spec);
            let object = dynamic(&ar, &format!("gen-{i}"), spec.clone());
            let params = PostParams {
                dry_run: true,
                ..PostParams::default()
            };
            match api.create(&params, &object).await {
                Ok(stored) => {
                    accepted += 1;
                    let stored = serde_json::to_value(&stored).expect("serializes");
                    if let Err(e) = exercise(&kind, stored.clone()) {
                        panic!("{kind} accepted by the API server but not readable: {e}\n{stored}");
                    }
                }
                Err(kube::Error::Api(_)) => refused += 1,
                Err(e) => panic!("{kind}: {e}"),
            }
        }
        report.push(format!("{kind}: {accepted} accepted, {refused} refused"));
        assert!(
            accepted >= 8,
            "too few generated {kind}s pass admission: {report:?}"
        );
    }
    eprintln!("{}", report.join("; "));
}
