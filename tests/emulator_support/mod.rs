//! Shared helpers of the emulator tests: the seed, fixture keys, an independent JWT
//! signer and a small SQL API client. Nothing here uses `crate::snowflake`.
#![allow(dead_code)]

pub mod capture;
pub mod openapi;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use snowflake_token_operator::emulator::{
    AuthMethod, Emulator, EmulatorConfig, Principal, RunningEmulator, ServeOptions,
};

/// A test-only key pair from `tests/fixtures/emulator/`.
pub struct TestKey {
    pub private_pem: String,
    pub public_b64: String,
    pub fingerprint: String,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/emulator")
}

/// Loads fixture key `n` (1, 2 or 3).
pub fn key(n: u8) -> TestKey {
    load_key(&fixtures(), &format!("key{n}"))
}

/// The demo key pair of `examples/emulator/keys/`, whose public half the example seed
/// (`examples/emulator/account.yaml`) gives `OPERATOR_ADMIN`.
pub fn demo_key() -> TestKey {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/emulator/keys");
    load_key(&dir, "demo_operator_admin")
}

/// `<stem>.p8.pem` and `<stem>.pub.b64` of `dir`.
fn load_key(dir: &std::path::Path, stem: &str) -> TestKey {
    let private_pem =
        std::fs::read_to_string(dir.join(format!("{stem}.p8.pem"))).expect("private key");
    let public_b64 = std::fs::read_to_string(dir.join(format!("{stem}.pub.b64")))
        .expect("public key")
        .trim()
        .to_owned();
    let der = STANDARD.decode(&public_b64).expect("fixture base64");
    let fingerprint = format!("SHA256:{}", STANDARD.encode(Sha256::digest(&der)));
    TestKey {
        private_pem,
        public_b64,
        fingerprint,
    }
}

/// The test account: an admin (keys 1 and 2), a PERSON user, SERVICE users with and
/// without a network policy.
pub fn seed_yaml() -> String {
    format!(
        r#"
account: {{name: MYORG-TEST, locator: XY12345}}
roles: [ANALYST, LOADER, UNGRANTED]
networkPolicies:
  - {{name: CORP_NP, allowedIpList: ["127.0.0.0/8"]}}
  - {{name: REMOTE_ONLY, allowedIpList: ["10.0.0.0/8"]}}
users:
  - name: OPERATOR_ADMIN
    type: SERVICE
    defaultRole: USERADMIN
    roles: [USERADMIN]
    networkPolicy: CORP_NP
    rsaPublicKey: "{k1}"
    rsaPublicKey2: "{k2}"
  - name: ALICE
    type: PERSON
    defaultRole: ANALYST
    roles: [ANALYST]
    rsaPublicKey: "{k2}"
  - name: BI_SVC
    type: SERVICE
    defaultRole: ANALYST
    roles: [ANALYST, LOADER]
    networkPolicy: CORP_NP
  - name: NOPOL_SVC
    type: SERVICE
    roles: [ANALYST]
"#,
        k1 = key(1).public_b64,
        k2 = key(2).public_b64
    )
}

pub fn config() -> EmulatorConfig {
    EmulatorConfig::from_yaml(&seed_yaml()).expect("seed parses")
}

pub fn emulator() -> Emulator {
    Emulator::new(&config()).expect("seed is valid")
}

pub fn admin() -> Principal {
    Principal {
        user: "OPERATOR_ADMIN".into(),
        role: "USERADMIN".into(),
        method: AuthMethod::KeyPairJwt,
    }
}

pub fn principal(user: &str, role: &str) -> Principal {
    Principal {
        user: user.into(),
        role: role.into(),
        method: AuthMethod::KeyPairJwt,
    }
}

/// Signs a key-pair JWT with explicit claims (independent of the client's JWT code).
pub fn sign(key: &TestKey, claims: &Value) -> String {
    let encoding =
        EncodingKey::from_rsa_pem(key.private_pem.as_bytes()).expect("fixture key parses");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &encoding).expect("sign")
}

/// A valid JWT for `ACCOUNT.USER` signed with `key`, issued at `now_secs`.
pub fn jwt(account: &str, user: &str, key: &TestKey, now_secs: i64) -> String {
    sign(
        key,
        &json!({
            "iss": format!("{account}.{user}.{}", key.fingerprint),
            "sub": format!("{account}.{user}"),
            "iat": now_secs,
            "exp": now_secs + 3540,
        }),
    )
}

/// Starts an in-process server on a free loopback port.
pub async fn start(test_endpoints: bool) -> RunningEmulator {
    start_with(config(), test_endpoints).await
}

/// Starts an in-process server on a free loopback port with a seed of the test's own.
pub async fn start_with(config: EmulatorConfig, test_endpoints: bool) -> RunningEmulator {
    Emulator::start(
        config,
        ServeOptions {
            listen: "127.0.0.1:0".parse().expect("addr"),
            test_endpoints,
        },
    )
    .await
    .expect("emulator starts")
}

fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(20))
}

pub fn http() -> reqwest::Client {
    client_builder().build().expect("client")
}

/// A client that does not follow redirects, to read an OAuth authorize answer.
pub fn browser() -> reqwest::Client {
    client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The emulated now of `running`, in epoch seconds.
pub fn now_secs(running: &RunningEmulator) -> i64 {
    running.emulator().clock().now().as_second()
}

/// An admin JWT for `running`.
pub fn admin_jwt(running: &RunningEmulator) -> String {
    jwt("MYORG-TEST", "OPERATOR_ADMIN", &key(1), now_secs(running))
}

/// `POST /api/v2/statements` with the SQL API's headers; returns status, headers and body.
pub async fn post_sql(
    client: &reqwest::Client,
    running: &RunningEmulator,
    bearer: &str,
    sql: &str,
    query: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = client
        .post(format!("{}/api/v2/statements{query}", running.base_url()))
        .header("Authorization", format!("Bearer {bearer}"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .header("User-Agent", "emulator-tests/1.0")
        .json(&json!({"statement": sql, "timeout": 60}))
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// Runs an `ALTER USER … ADD PAT` statement and returns the secret it shows once.
pub async fn mint_pat(
    client: &reqwest::Client,
    running: &RunningEmulator,
    bearer: &str,
    add_pat: &str,
) -> String {
    let (status, _, body) = post_sql(client, running, bearer, add_pat, "").await;
    assert_eq!(status, 200, "{add_pat}: {body}");
    cell(&body, 0, "token_secret")
        .unwrap_or_else(|| panic!("no token_secret in {body}"))
        .to_owned()
}

/// The `statementHandle` of a SQL API answer (a test failure when it has none).
pub fn statement_handle(body: &Value) -> String {
    body["statementHandle"]
        .as_str()
        .unwrap_or_else(|| panic!("no statementHandle in {body}"))
        .to_owned()
}

/// `POST /api/v2/statements/{handle}/cancel`; returns status and body.
pub async fn cancel(
    client: &reqwest::Client,
    running: &RunningEmulator,
    bearer: &str,
    handle: &str,
) -> (u16, Value) {
    let response = client
        .post(format!(
            "{}/api/v2/statements/{handle}/cancel",
            running.base_url()
        ))
        .header("Authorization", format!("Bearer {bearer}"))
        .header("Accept", "application/json")
        .header("User-Agent", "emulator-tests/1.0")
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    (
        status,
        response.json::<Value>().await.unwrap_or(Value::Null),
    )
}

/// `GET` a path with a bearer token.
pub async fn get(
    client: &reqwest::Client,
    running: &RunningEmulator,
    bearer: &str,
    path: &str,
) -> (u16, Value) {
    let response = client
        .get(format!("{}{path}", running.base_url()))
        .header("Authorization", format!("Bearer {bearer}"))
        .header("Accept", "application/json")
        .header("User-Agent", "emulator-tests/1.0")
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    (
        status,
        response.json::<Value>().await.unwrap_or(Value::Null),
    )
}

/// The test seed with results cut into partitions of `rows_per_partition` rows, gzip
/// allowed or not.
pub fn partitioned_config(rows_per_partition: usize, gzip: bool) -> EmulatorConfig {
    let mut config = config();
    config.result_partitions.rows_per_partition = rows_per_partition;
    config.result_partitions.gzip = gzip;
    config
}

/// Gives BI_SVC `count` tokens named `T01`, `T02`, … (created in that order, which is
/// the order `SHOW USER PATS` lists them in); returns the names.
pub fn add_tokens(emulator: &Emulator, count: usize) -> Vec<String> {
    (1..=count)
        .map(|i| {
            let name = format!("T{i:02}");
            emulator
                .execute(
                    &admin(),
                    &format!("ALTER USER BI_SVC ADD PAT {name} ROLE_RESTRICTION = 'ANALYST'"),
                )
                .unwrap_or_else(|e| panic!("token {name}: {e:?}"));
            name
        })
        .collect()
}

/// Cell `column` (case-insensitive) of row `row` in a ResultSet body.
pub fn cell<'a>(body: &'a Value, row: usize, column: &str) -> Option<&'a str> {
    let index = body["resultSetMetaData"]["rowType"]
        .as_array()?
        .iter()
        .position(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(column))
        })?;
    body["data"][row][index].as_str()
}
