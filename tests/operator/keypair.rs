//! SnowflakeToken, key-pair side: a generated key registered in a free slot logs in with
//! the official connector, rotates through the other slot with both keys working during
//! the grace period, never touches a key a person registered, reports both slots taken,
//! and replaces a key that was registered but never stored.

use std::sync::Arc;

use jiff::SignedDuration;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use snowflake_token_operator::api::SnowflakeToken;
use snowflake_token_operator::snowflake::{
    PrivateKey, SnowflakeApi, SnowflakeClient, SqlApiConfig,
};

use crate::driver_support::connector::{Login, connector_logins};
use crate::harness::{EmulatedTime, Env, PATIENCE};
use crate::support::api_faults::Writes;
use crate::support::wait_for;

const USER: &str = "BI_SVC";

fn key_pair_token(name: &str, key_pair: Value, extra: Value) -> Value {
    crate::harness::token(name, json!({"name": USER}), "keyPair", key_pair, extra)
}

/// A private key as a Secret holds it.
#[derive(Clone, Debug, PartialEq)]
struct Key {
    pem: String,
    passphrase: Option<String>,
    fingerprint: String,
}

async fn key_of(env: &Env, secret: &str) -> Option<Key> {
    let data = env.secret_data(secret).await?;
    Some(Key {
        pem: data.get("private_key")?.clone(),
        passphrase: data.get("private_key_passphrase").cloned(),
        fingerprint: data.get("public_key_fingerprint")?.clone(),
    })
}

/// Waits until the Secret holds a key other than `not`.
async fn wait_key(env: &Env, secret: &str, not: Option<&Key>) -> Key {
    wait_for(PATIENCE, "a new key in the Secret", || async {
        key_of(env, secret).await.filter(|k| Some(k) != not)
    })
    .await
}

/// The fingerprints registered on the user, by slot.
fn slots(env: &Env) -> [Option<String>; 2] {
    let user = env.emulator.snapshot().user(USER).cloned().expect("user");
    let mut slots = [None, None];
    for (i, fp) in user.key_fingerprints.into_iter().take(2).enumerate() {
        slots[i] = fp;
    }
    slots
}

/// Whether `key` logs in as the user now (key-pair JWT over the SQL API, on the emulated
/// clock).
async fn key_works(env: &Env, key: &Key) -> bool {
    let passphrase = key.passphrase.clone().map(secrecy::SecretString::from);
    let private = PrivateKey::from_pem(&key.pem, passphrase.as_ref()).expect("a PEM key");
    assert_eq!(
        private.fingerprint(),
        key.fingerprint,
        "the recorded fingerprint"
    );
    let client = SnowflakeClient::with_key_pair(
        crate::driver_support::account(&env.emulator),
        USER,
        &private,
        SqlApiConfig::default(),
        Arc::new(EmulatedTime(env.emulator.emulator().clock().clone())),
    )
    .expect("client");
    client.verify_identity().await.is_ok()
}

/// Logs in with the official Python connector (pinned and latest) with each key, the key
/// written to a file as consumers mount it.
async fn connector_logins_with(env: &Env, keys: &[&Key]) -> Vec<(String, Vec<Login>)> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let specs: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let path = dir.path().join(format!("key{i}.p8"));
            std::fs::write(&path, &key.pem).expect("key file");
            let mut spec = json!({"user": USER, "private_key_file": path});
            if let Some(passphrase) = &key.passphrase {
                spec["private_key_file_pwd"] = json!(passphrase);
            }
            spec
        })
        .collect();
    connector_logins(&env.emulator, &specs)
        .await
        .into_iter()
        .map(|(connector, logins)| (connector.to_string(), logins))
        .collect()
}

fn logged_in() -> Login {
    Login::Ok {
        user: USER.into(),
        role: "ANALYST".into(),
    }
}

/// Snowflake's refusal of a JWT signed by a key the user does not have.
fn refused() -> Login {
    Login::Refused {
        errno: 390_144,
        sqlstate: "28000".into(),
    }
}

async fn request_rotation(env: &Env, name: &str, request: &str) {
    env.api::<SnowflakeToken>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "snowflake-token-operator.io/rotate": request,
            }}})),
        )
        .await
        .expect("annotated");
}

fn status(token: &SnowflakeToken) -> snowflake_token_operator::api::SnowflakeTokenStatus {
    token.status.clone().expect("status")
}

#[tokio::test]
async fn a_key_pair_logs_in_and_rotates_through_the_other_slot_with_overlap() {
    let env = Env::new("keypair-rotate").await;
    env.ready_connection().await;
    env.apply::<k8s_openapi::api::apps::v1::Deployment>(crate::pat::deployment("etl"))
        .await;
    env.apply::<SnowflakeToken>(key_pair_token(
        "loader",
        json!({"format": "EncryptedPKCS8", "rotationPeriod": "720h", "gracePeriod": "24h"}),
        json!({"rolloutRestartTargets": [{"kind": "Deployment", "name": "etl"}]}),
    ))
    .await;
    let token: SnowflakeToken = env.wait_ready("loader", "True", Some("Minted")).await;
    let first = wait_key(&env, "loader", None).await;
    let data = env.secret_data("loader").await.expect("secret");
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "account",
            "host",
            "private_key",
            "private_key_passphrase",
            "public_key_fingerprint",
            "username"
        ]
    );
    assert!(
        first
            .pem
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
    let s = status(&token);
    assert_eq!(
        s.credential_type,
        Some(snowflake_token_operator::api::CredentialKind::KeyPair)
    );
    assert_eq!(
        s.public_key_fingerprint.as_deref(),
        Some(first.fingerprint.as_str())
    );
    assert_eq!(s.public_key_slot, Some(1));
    assert_eq!(s.pending_public_key_fingerprint, None);
    assert_eq!(s.expires_at, None, "a key does not expire");
    let rotation = s.renewal_time.expect("next rotation").0;
    let issued = s.last_rotation_time.expect("issued").0;
    let period = rotation.duration_since(issued);
    assert!(
        period <= SignedDuration::from_hours(720) && period >= SignedDuration::from_hours(719),
        "{period:?}"
    );
    assert_eq!(slots(&env), [Some(first.fingerprint.clone()), None]);
    env.wait_event("loader", "Minted").await;
    let first_restart = crate::pat::restarted_at(&env, "etl")
        .await
        .expect("restarted for the first key");

    // A rotation on request: the new key in the other slot, both keys work.
    request_rotation(&env, "loader", "now-1").await;
    let second = wait_key(&env, "loader", Some(&first)).await;
    let rotated: SnowflakeToken = env.wait_ready("loader", "True", Some("Rotated")).await;
    let s = status(&rotated);
    assert_eq!(s.public_key_slot, Some(2));
    assert_eq!(
        s.previous_public_key_fingerprint.as_deref(),
        Some(first.fingerprint.as_str())
    );
    assert_eq!(s.last_rotate_request.as_deref(), Some("now-1"));
    assert_eq!(
        slots(&env),
        [
            Some(first.fingerprint.clone()),
            Some(second.fingerprint.clone())
        ]
    );
    let second_restart = crate::pat::restarted_at(&env, "etl").await;
    assert!(
        second_restart.is_some() && second_restart != Some(first_restart),
        "the workload restarted for the new key"
    );
    let metrics = env.metrics.encode();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("snowflake_token_rotations_total{")
                && l.contains("type=\"KeyPair\"")
                && l.contains("cause=\"Rotated\"")),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(
            |l| l.starts_with("snowflake_token_renewal_timestamp_seconds{")
                && l.contains("name=\"loader\"")
                && l.contains("type=\"KeyPair\"")
        ),
        "{metrics}"
    );
    // The official connector logs in with either key during the grace period.
    for (connector, logins) in connector_logins_with(&env, &[&first, &second]).await {
        assert_eq!(logins, [logged_in(), logged_in()], "{connector}");
    }

    // After the grace period the previous key's slot is unset: only the new key works.
    env.advance(SignedDuration::from_hours(25));
    env.wait_event("loader", "PreviousKeyRemoved").await;
    wait_for(PATIENCE, "the previous key unset", || async {
        (slots(&env) == [None, Some(second.fingerprint.clone())]).then_some(())
    })
    .await;
    assert!(
        !key_works(&env, &first).await,
        "the previous key is refused"
    );
    assert!(key_works(&env, &second).await);
    let settled: SnowflakeToken = env.wait_ready("loader", "True", None).await;
    assert_eq!(status(&settled).previous_public_key_fingerprint, None);
    assert_eq!(key_of(&env, "loader").await.as_ref(), Some(&second));

    // The rotation period over: a new key in the free slot, the old one retiring.
    env.advance(SignedDuration::from_hours(720));
    let third = wait_key(&env, "loader", Some(&second)).await;
    wait_for(PATIENCE, "the third key registered", || async {
        (slots(&env)
            == [
                Some(third.fingerprint.clone()),
                Some(second.fingerprint.clone()),
            ])
        .then_some(())
    })
    .await;
    assert!(key_works(&env, &third).await);
    assert!(
        key_works(&env, &second).await,
        "the previous key during its grace period"
    );
    let events = env.events_of("loader").await;
    assert!(
        events.iter().any(|e| e.contains("rotated (Due)")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_key_a_person_registered_is_left_alone_and_a_blocked_rotation_said() {
    let env = Env::new("keypair-person").await;
    env.ready_connection().await;
    let person = crate::emulator_support::key(3);
    env.admin_sql(&format!(
        "ALTER USER {USER} SET RSA_PUBLIC_KEY = '{}'",
        person.public_b64
    ));
    env.apply::<SnowflakeToken>(key_pair_token("loader", json!({}), json!({})))
        .await;
    env.wait_ready::<SnowflakeToken>("loader", "True", Some("Minted"))
        .await;
    let ours = wait_key(&env, "loader", None).await;
    assert!(ours.pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(ours.passphrase, None);
    assert_eq!(
        slots(&env),
        [
            Some(person.fingerprint.clone()),
            Some(ours.fingerprint.clone())
        ]
    );
    for (connector, logins) in connector_logins_with(&env, &[&ours]).await {
        assert_eq!(logins, [logged_in()], "{connector}");
    }

    // A rotation would need the person's slot: refused, said, the current key kept.
    request_rotation(&env, "loader", "now-1").await;
    let warning = env.wait_event("loader", "KeySlotsTaken").await;
    assert!(warning.contains(&person.fingerprint), "{warning}");
    let blocked: SnowflakeToken = env.wait_ready("loader", "True", None).await;
    let condition = status(&blocked)
        .conditions
        .into_iter()
        .find(|c| c.type_ == "RotationBlocked")
        .expect("RotationBlocked");
    assert_eq!(condition.status, "True");
    assert_eq!(condition.reason, "KeySlotsTaken");
    assert!(
        condition.message.contains("RSA_PUBLIC_KEY"),
        "{}",
        condition.message
    );
    assert_eq!(key_of(&env, "loader").await.as_ref(), Some(&ours));
    assert_eq!(
        slots(&env),
        [
            Some(person.fingerprint.clone()),
            Some(ours.fingerprint.clone())
        ]
    );

    // Deleted: its own key is unset, the person's stays.
    env.delete::<SnowflakeToken>("loader").await;
    env.gone::<SnowflakeToken>("loader").await;
    assert_eq!(slots(&env), [Some(person.fingerprint.clone()), None]);
    let metrics = env.metrics.encode();
    assert!(
        !metrics.contains("name=\"loader\",type=\"KeyPair\""),
        "the deleted token's series are gone: {metrics}"
    );
    for (connector, logins) in connector_logins_with(&env, &[&ours]).await {
        assert_eq!(logins, [refused()], "{connector}: the unset key is refused");
    }
}

#[tokio::test]
async fn both_slots_taken_by_others_is_reported_and_a_freed_slot_used() {
    let env = Env::new("keypair-taken").await;
    env.ready_connection().await;
    let (a, b) = (
        crate::emulator_support::key(2),
        crate::emulator_support::key(3),
    );
    env.admin_sql(&format!(
        "ALTER USER {USER} SET RSA_PUBLIC_KEY = '{}' RSA_PUBLIC_KEY_2 = '{}'",
        a.public_b64, b.public_b64
    ));
    env.apply::<SnowflakeToken>(key_pair_token("loader", json!({}), json!({})))
        .await;
    let token: SnowflakeToken = env
        .wait_ready("loader", "False", Some("KeySlotsTaken"))
        .await;
    let ready = status(&token)
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert!(ready.message.contains(&a.fingerprint), "{}", ready.message);
    assert!(ready.message.contains("UNSET"), "{}", ready.message);
    assert!(env.secret_data("loader").await.is_none(), "no Secret");
    assert_eq!(
        slots(&env),
        [Some(a.fingerprint.clone()), Some(b.fingerprint.clone())]
    );

    // A person frees the second slot; a rotate request makes the operator look at once.
    env.admin_sql(&format!("ALTER USER {USER} UNSET RSA_PUBLIC_KEY_2"));
    request_rotation(&env, "loader", "slot-freed").await;
    env.wait_ready::<SnowflakeToken>("loader", "True", Some("Minted"))
        .await;
    let ours = wait_key(&env, "loader", None).await;
    assert_eq!(
        slots(&env),
        [Some(a.fingerprint.clone()), Some(ours.fingerprint.clone())]
    );
    assert!(key_works(&env, &ours).await);
}

#[tokio::test]
async fn a_key_registered_but_never_stored_is_replaced_after_a_restart() {
    let mut env = Env::new("keypair-unstored").await;
    env.ready_connection().await;
    env.api_faults.fail(Writes::Secrets, 500, 1_000);
    env.apply::<SnowflakeToken>(key_pair_token("loader", json!({}), json!({})))
        .await;
    // Registered, the Secret write refused: the key's fingerprint is recorded as pending.
    let unstored = wait_for(PATIENCE, "a key registered and not stored", || async {
        let token = env.api::<SnowflakeToken>().get("loader").await.ok()?;
        let s = token.status?;
        let pending = s.pending_public_key_fingerprint?;
        (s.failure_count.unwrap_or(0) >= 1 && slots(&env).contains(&Some(pending.clone())))
            .then_some(pending)
    })
    .await;
    // The operator stops there, as if killed; the Secret was never written.
    env.stop_operator().await;
    assert!(env.secret_data("loader").await.is_none());
    env.api_faults.clear();
    env.start_operator().await;

    env.wait_ready::<SnowflakeToken>("loader", "True", Some("Minted"))
        .await;
    let stored = wait_key(&env, "loader", None).await;
    assert_ne!(stored.fingerprint, unstored);
    // The unstored key is gone (replaced or unset), the stored one is the only key.
    wait_for(PATIENCE, "only the stored key registered", || async {
        let registered: Vec<String> = slots(&env).into_iter().flatten().collect();
        (registered == [stored.fingerprint.clone()]).then_some(())
    })
    .await;
    assert!(key_works(&env, &stored).await);
    let settled: SnowflakeToken = env.wait_ready("loader", "True", None).await;
    assert_eq!(status(&settled).pending_public_key_fingerprint, None);
}

#[tokio::test]
async fn a_revoke_unsets_every_key_at_once_and_registers_a_new_one() {
    let env = Env::new("keypair-revoke").await;
    env.ready_connection().await;
    env.apply::<SnowflakeToken>(key_pair_token("loader", json!({}), json!({})))
        .await;
    env.wait_ready::<SnowflakeToken>("loader", "True", Some("Minted"))
        .await;
    let first = wait_key(&env, "loader", None).await;
    request_rotation(&env, "loader", "now-1").await;
    let second = wait_key(&env, "loader", Some(&first)).await;
    assert_eq!(
        slots(&env),
        [
            Some(first.fingerprint.clone()),
            Some(second.fingerprint.clone())
        ]
    );

    // Leaked: both keys go at once, the grace period of the first one included.
    env.api::<SnowflakeToken>()
        .patch(
            "loader",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "snowflake-token-operator.io/revoke": "leak-1",
            }}})),
        )
        .await
        .expect("annotated");
    let third = wait_key(&env, "loader", Some(&second)).await;
    let revoked = env.wait_event("loader", "Revoked").await;
    assert!(
        revoked.contains(&first.fingerprint) && revoked.contains(&second.fingerprint),
        "{revoked}"
    );
    let registered: Vec<String> = slots(&env).into_iter().flatten().collect();
    assert_eq!(registered, std::slice::from_ref(&third.fingerprint));
    assert!(!key_works(&env, &first).await);
    assert!(!key_works(&env, &second).await);
    assert!(key_works(&env, &third).await);
    let token: SnowflakeToken = env.wait_ready("loader", "True", None).await;
    let s = status(&token);
    assert_eq!(s.last_revoke_request.as_deref(), Some("leak-1"));
    assert_eq!(s.previous_public_key_fingerprint, None);
}
