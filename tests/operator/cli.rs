//! `rotate` and `revoke`, run as a person runs them (the binary, also as the kubectl
//! plugin), against the operator in-process on the real API server and the emulator.

use std::process::Output;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use snowflake_token_operator::api::SnowflakeToken;

use crate::harness::{self, Env, pat_token};

const BINARY: &str = env!("CARGO_BIN_EXE_snowflake-token-operator");

async fn run(env: &Env, args: &[&str]) -> Output {
    tokio::process::Command::new(BINARY)
        .args(args)
        .arg("--kubeconfig")
        .arg(&harness::plane().kubeconfig)
        .args(["--namespace", env.ns()])
        .output()
        .await
        .expect("the command runs")
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A connection, a service user `bi` and a PAT token `name` restarting Deployment `app`.
async fn ready_token(env: &Env, name: &str) -> String {
    env.ready_connection().await;
    env.ready_service_user(
        "bi",
        json!({"roles": ["ANALYST"], "defaultRole": "ANALYST", "networkPolicy": "CORP_NP"}),
    )
    .await;
    env.apply::<Deployment>(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {
            "selector": {"matchLabels": {"app": "app"}},
            "template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
            },
        },
    }))
    .await;
    env.apply::<SnowflakeToken>(pat_token(
        name,
        json!({"serviceUserRef": {"name": "bi"}}),
        json!({"roleRestriction": "ANALYST", "daysToExpiry": 30, "rotatedTokenGracePeriodHours": 24}),
        json!({"rolloutRestartTargets": [{"kind": "Deployment", "name": "app"}]}),
    ))
    .await;
    env.wait_ready::<SnowflakeToken>(name, "True", Some("Minted"))
        .await;
    env.wait_password(name, None).await
}

async fn restarted_at(env: &Env) -> Option<String> {
    env.api::<Deployment>()
        .get("app")
        .await
        .expect("deployment")
        .spec?
        .template
        .metadata?
        .annotations?
        .get("snowflake-token-operator.io/restarted-at")
        .cloned()
}

#[tokio::test]
async fn rotate_wait_puts_a_new_value_in_the_secret_and_the_old_one_keeps_working() {
    let env = Env::new("cli-rotate").await;
    let first = ready_token(&env, "pbi").await;

    let output = run(&env, &["rotate", "pbi", "--wait"]).await;
    assert!(output.status.success(), "{}", said(&output));
    let second = env.wait_password("pbi", None).await;
    assert_ne!(first, second, "a new value in the Secret");
    let text = said(&output);
    assert!(
        text.contains("rotated ") && text.contains("token PBI of user BI"),
        "{text}"
    );
    assert!(text.contains("PBI_ROTATED_"), "{text}");
    assert!(env.pat_works(&second).await, "the new value logs in");
    assert!(
        env.pat_works(&first).await,
        "the old value keeps its grace period"
    );

    // Asked once: running the operator on does not rotate again.
    env.resync();
    env.wait_ready::<SnowflakeToken>("pbi", "True", None).await;
    assert_eq!(env.wait_password("pbi", None).await, second);
}

#[tokio::test]
async fn rotate_all_rotates_every_pat_token_and_refuses_an_oauth_one() {
    let env = Env::new("cli-rotate-all").await;
    let first = ready_token(&env, "one").await;
    env.apply::<SnowflakeToken>(pat_token(
        "two",
        json!({"serviceUserRef": {"name": "bi"}}),
        json!({"roleRestriction": "ANALYST"}),
        json!({}),
    ))
    .await;
    env.wait_ready::<SnowflakeToken>("two", "True", Some("Minted"))
        .await;
    let second = env.wait_password("two", None).await;

    let output = run(&env, &["rotate", "--all", "--wait"]).await;
    assert!(output.status.success(), "{}", said(&output));
    assert_ne!(env.wait_password("one", Some(&first)).await, first);
    assert_ne!(env.wait_password("two", Some(&second)).await, second);

    // Usage errors exit 2 and say why.
    let missing = run(&env, &["rotate", "nosuch"]).await;
    assert_eq!(missing.status.code(), Some(2), "{}", said(&missing));
    assert!(
        said(&missing).contains("no SnowflakeToken nosuch"),
        "{}",
        said(&missing)
    );
    let neither = run(&env, &["rotate"]).await;
    assert_eq!(neither.status.code(), Some(2), "{}", said(&neither));
}

#[tokio::test]
async fn revoke_removes_the_value_and_its_rotated_ones_at_once_and_mints_a_fresh_one() {
    let env = Env::new("cli-revoke").await;
    let first = ready_token(&env, "pbi").await;
    // A rotation first, so a rotated-out value in its grace period exists.
    let output = run(&env, &["rotate", "pbi", "--wait"]).await;
    assert!(output.status.success(), "{}", said(&output));
    let second = env.wait_password("pbi", Some(&first)).await;
    assert!(env.pat_works(&first).await && env.pat_works(&second).await);
    let restart_before = restarted_at(&env).await;
    // The restart annotation is the value's issue time, in whole seconds: a revocation in
    // the same second as the rotation would not be told apart.
    env.advance(jiff::SignedDuration::from_mins(1));

    let output = run(&env, &["revoke", "pbi", "--wait"]).await;
    assert!(output.status.success(), "{}", said(&output));
    assert!(said(&output).contains("revoked "), "{}", said(&output));
    let third = env.wait_password("pbi", Some(&second)).await;
    assert!(
        !env.pat_works(&first).await,
        "the rotated-out value is dead at once"
    );
    assert!(
        !env.pat_works(&second).await,
        "the revoked value is dead at once"
    );
    assert!(env.pat_works(&third).await, "the fresh value logs in");
    let names: Vec<String> = env.pats_of("BI").iter().map(|p| p.name.clone()).collect();
    assert_eq!(names, ["PBI"], "only the fresh token is left");
    assert_ne!(
        restarted_at(&env).await,
        restart_before,
        "the workload restarted"
    );
    env.wait_event("pbi", "Revoked").await;

    // Honoured once.
    env.resync();
    env.wait_ready::<SnowflakeToken>("pbi", "True", None).await;
    assert!(env.pat_works(&third).await, "not revoked again");
}

#[tokio::test]
async fn revoke_no_replace_holds_the_token_revoked_until_the_annotation_goes() {
    let env = Env::new("cli-revoke-hold").await;
    let first = ready_token(&env, "pbi").await;

    let output = run(&env, &["revoke", "pbi", "--no-replace", "--wait"]).await;
    assert!(output.status.success(), "{}", said(&output));
    assert!(said(&output).contains("revoke-hold-"), "{}", said(&output));
    assert!(!env.pat_works(&first).await, "revoked");
    let token = env
        .wait_ready::<SnowflakeToken>("pbi", "False", Some("Revoked"))
        .await;
    let message = snowflake_token_operator::api::conditions::find(
        &token.status.unwrap_or_default().conditions,
        "Ready",
    )
    .expect("Ready")
    .message
    .clone();
    assert!(message.contains("revoke-hold"), "{message}");
    assert!(env.pats_of("BI").is_empty(), "nothing minted while held");

    // The hold removed: a fresh value.
    env.api::<SnowflakeToken>()
        .patch(
            "pbi",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"snowflake-token-operator.io/revoke-hold": null}}})),
        )
        .await
        .expect("annotation removed");
    env.wait_ready::<SnowflakeToken>("pbi", "True", Some("Minted"))
        .await;
    let fresh = env.wait_password("pbi", Some(&first)).await;
    assert!(env.pat_works(&fresh).await);
}

#[tokio::test]
async fn rotate_wait_says_so_when_the_operator_does_not_answer() {
    let mut env = Env::new("cli-no-operator").await;
    ready_token(&env, "pbi").await;
    env.stop_operator().await;
    let output = run(&env, &["rotate", "pbi", "--wait", "--timeout", "2s"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", said(&output));
    assert!(
        said(&output).contains("is the operator running?"),
        "{}",
        said(&output)
    );
}

#[tokio::test]
async fn the_binary_is_also_the_kubectl_snowflake_plugin() {
    let env = Env::new("cli-plugin").await;
    let first = ready_token(&env, "pbi").await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(BINARY, dir.path().join("kubectl-snowflake")).expect("symlink");
    let kubectl = harness::plane()
        .binaries
        .require("kubectl")
        .expect("kubectl in the kit");
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = tokio::process::Command::new(kubectl)
        .args([
            "snowflake",
            "rotate",
            "pbi",
            "--wait",
            "--namespace",
            env.ns(),
        ])
        .arg("--kubeconfig")
        .arg(&harness::plane().kubeconfig)
        .env("PATH", path)
        .output()
        .await
        .expect("kubectl runs");
    assert!(output.status.success(), "{}", said(&output));
    assert_ne!(env.wait_password("pbi", Some(&first)).await, first);
    let help = tokio::process::Command::new(dir.path().join("kubectl-snowflake"))
        .arg("--help")
        .output()
        .await
        .expect("help");
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("kubectl snowflake"),
        "{}",
        said(&help)
    );
}

#[tokio::test]
async fn revoke_of_an_oauth_token_deletes_its_refresh_token() {
    let env = Env::with_seed(
        "cli-revoke-oauth",
        harness::oauth_seed(
            90,
            snowflake_token_operator::envtest::free_port().expect("port"),
        ),
    )
    .await;
    env.ready_connection().await;
    crate::oauth::oauth_token(&env, "tableau", crate::driver_support::BI_CLIENT, json!({})).await;
    env.wait_ready::<SnowflakeToken>("tableau", "True", Some("Refreshed"))
        .await;

    let output = run(&env, &["revoke", "tableau", "--wait"]).await;
    assert!(output.status.success(), "{}", said(&output));
    assert!(
        said(&output).contains("authorize tableau"),
        "{}",
        said(&output)
    );
    env.wait_ready::<SnowflakeToken>("tableau", "False", Some("RefreshTokenMissing"))
        .await;
    let secret = env
        .api::<Secret>()
        .get("tableau-refresh")
        .await
        .expect("the refresh-token Secret stays");
    assert!(
        !secret
            .data
            .unwrap_or_default()
            .contains_key("refresh_token"),
        "the refresh token is gone"
    );
}
