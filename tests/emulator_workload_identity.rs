//! Workload identity federation in the emulator (docs/workload-identity-research.md): the
//! SQL that manages a user's identities, and driver logins with `AUTHENTICATOR =
//! WORKLOAD_IDENTITY` / `PROVIDER = OIDC` whose ID token is checked against the issuer's
//! keys (configured, or fetched by OIDC discovery), issuer, subject, audience and
//! lifetime. The official Python connector logging in with a Kubernetes service-account
//! token is in the operator tests (`tests/operator/workload_identity.rs`).

mod emulator_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::SignedDuration;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};
use snowflake_token_operator::emulator::{
    Emulator, EmulatorConfig, Principal, RunningEmulator, SqlError,
};

use emulator_support::TestKey;

const ISSUER: &str = "https://oidc.cluster.test";
const SUBJECT: &str = "system:serviceaccount:data:etl";

/// The public half of `key` as a JSON Web Key with key id `kid`.
fn jwk(key: &TestKey, kid: &str) -> Value {
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(&key.private_pem).expect("fixture key");
    let public = private.to_public_key();
    json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    })
}

/// An ID token as a Kubernetes API server signs it (RS256, `kid`, `aud` an array).
fn id_token(key: &TestKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let encoding = EncodingKey::from_rsa_pem(key.private_pem.as_bytes()).expect("fixture key");
    jsonwebtoken::encode(&header, claims, &encoding).expect("sign")
}

/// Standard claims for `sub` at `now`, valid ten minutes.
fn claims(issuer: &str, sub: &str, aud: Value, now: i64) -> Value {
    json!({"iss": issuer, "sub": sub, "aud": aud, "iat": now, "nbf": now, "exp": now + 600})
}

/// The test seed plus `WIF_SVC` (SERVICE, granted ANALYST) and the key of [`ISSUER`]
/// (fixture key 3, key id `k3`).
fn config() -> EmulatorConfig {
    let seed = format!(
        "{}  - name: WIF_SVC\n    type: SERVICE\n    defaultRole: ANALYST\n    roles: [ANALYST]\n\
         workloadIdentity:\n  issuers:\n    - issuer: {ISSUER}\n      jwks: {}\n",
        emulator_support::seed_yaml(),
        json!({"keys": [jwk(&emulator_support::key(3), "k3")]}),
    );
    EmulatorConfig::from_yaml(&seed).expect("seed parses")
}

fn run(emulator: &Emulator, principal: &Principal, sql: &str) -> Result<Vec<Vec<Value>>, SqlError> {
    emulator.execute(principal, sql).map(|rs| {
        rs.rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|c| c.wire_value().map_or(Value::Null, |v| json!(v)))
                    .collect()
            })
            .collect()
    })
}

fn admin_run(emulator: &Emulator, sql: &str) -> Vec<Vec<Value>> {
    run(emulator, &emulator_support::admin(), sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"))
}

fn refused(emulator: &Emulator, sql: &str) -> &'static str {
    match run(emulator, &emulator_support::admin(), sql) {
        Ok(rows) => panic!("{sql} succeeded: {rows:?}"),
        Err(e) => e.code,
    }
}

/// `SHOW … METHODS` as `(name, additional_info)` pairs.
fn identities(emulator: &Emulator, user: &str) -> Vec<(String, Value)> {
    admin_run(
        emulator,
        &format!("SHOW USER WORKLOAD IDENTITY AUTHENTICATION METHODS FOR USER {user}"),
    )
    .into_iter()
    .map(|row| {
        assert_eq!(row[1], json!("OIDC"));
        let info = serde_json::from_str(row[5].as_str().expect("additional_info")).expect("JSON");
        (row[0].as_str().expect("name").to_owned(), info)
    })
    .collect()
}

#[test]
fn sql_adds_shows_modifies_and_removes_identities() {
    let emulator = Emulator::new(&config()).expect("seed");
    admin_run(
        &emulator,
        &format!(
            "CREATE USER K8S_SVC WORKLOAD_IDENTITY = (TYPE = OIDC ISSUER = '{ISSUER}' SUBJECT = '{SUBJECT}') TYPE = SERVICE"
        ),
    );
    assert_eq!(
        identities(&emulator, "K8S_SVC"),
        vec![(
            "DEFAULT".to_owned(),
            json!({"issuer": ISSUER, "subject": SUBJECT, "audienceList": []})
        )],
        "an omitted audience list shows as []"
    );
    let desc = admin_run(&emulator, "DESC USER K8S_SVC");
    assert!(desc.contains(&vec![
        json!("HAS_WORKLOAD_IDENTITY"),
        json!("true"),
        json!("null"),
        json!("Whether the user has a workload identity"),
    ]));

    // The named form, with commas between the properties as Snowflake also accepts.
    admin_run(
        &emulator,
        &format!(
            "ALTER USER K8S_SVC ADD WORKLOAD IDENTITY SFTO_DBT TYPE = OIDC, ISSUER = '{ISSUER}', SUBJECT = 'system:serviceaccount:data:dbt', OIDC_AUDIENCE_LIST = ('snowflake', 'other')"
        ),
    );
    let listed = identities(&emulator, "K8S_SVC");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].0, "SFTO_DBT");
    assert_eq!(listed[1].1["audienceList"], json!(["snowflake", "other"]));

    let add = |name: &str| {
        format!(
            "ALTER USER K8S_SVC ADD WORKLOAD IDENTITY {name} TYPE = OIDC ISSUER = '{ISSUER}' SUBJECT = 's'"
        )
    };
    assert_eq!(
        refused(&emulator, &add("SFTO_DBT")),
        "002002",
        "names are unique"
    );
    assert_eq!(
        refused(&emulator, &add("DEFAULT")),
        "004616",
        "DEFAULT is reserved"
    );
    assert_eq!(
        refused(
            &emulator,
            &format!(
                "ALTER USER ALICE ADD WORKLOAD IDENTITY X TYPE = OIDC ISSUER = '{ISSUER}' SUBJECT = 's'"
            )
        ),
        "004616",
        "a PERSON user cannot have one"
    );
    for bad in [
        "ALTER USER K8S_SVC ADD WORKLOAD IDENTITY X TYPE = AWS ARN = 'arn:aws:iam::1:role/r'",
        "ALTER USER K8S_SVC ADD WORKLOAD IDENTITY X TYPE = OIDC SUBJECT = 's'",
        "ALTER USER K8S_SVC ADD WORKLOAD IDENTITY X TYPE = OIDC ISSUER = 'not a url' SUBJECT = 's'",
        "ALTER USER K8S_SVC ADD WORKLOAD IDENTITY X TYPE = OIDC ISSUER = 'https://i' SUBJECT = 's' OIDC_AUDIENCE_LIST = ()",
    ] {
        assert_eq!(refused(&emulator, bad), "004616", "{bad}");
    }
    let analyst = emulator_support::principal("BI_SVC", "ANALYST");
    let denied = run(&emulator, &analyst, &add("MINE")).expect_err("no privilege");
    assert_eq!(denied.code, "003001");

    admin_run(
        &emulator,
        "ALTER USER K8S_SVC MODIFY WORKLOAD IDENTITY SFTO_DBT RENAME TO SFTO_DBT2",
    );
    admin_run(
        &emulator,
        "ALTER USER K8S_SVC MODIFY WORKLOAD IDENTITY SFTO_DBT2 SET DISABLED = TRUE COMMENT = 'paused'",
    );
    let rows = admin_run(
        &emulator,
        "SHOW USER WORKLOAD IDENTITY AUTHENTICATION METHODS FOR USER K8S_SVC",
    );
    assert_eq!(rows[1][0], json!("SFTO_DBT2"));
    assert_eq!(rows[1][2], json!("paused"));
    assert_eq!(rows[1][3], Value::Null, "never used");
    assert!(
        emulator
            .snapshot()
            .user("K8S_SVC")
            .expect("user")
            .workload_identities[1]
            .disabled,
        "SET DISABLED = TRUE"
    );
    admin_run(
        &emulator,
        "ALTER USER K8S_SVC REMOVE WORKLOAD IDENTITY SFTO_DBT2",
    );
    assert_eq!(
        refused(
            &emulator,
            "ALTER USER K8S_SVC REMOVE WORKLOAD IDENTITY SFTO_DBT2"
        ),
        "002003"
    );
    admin_run(
        &emulator,
        &format!(
            "ALTER USER K8S_SVC SET WORKLOAD_IDENTITY = (TYPE = OIDC ISSUER = '{ISSUER}' SUBJECT = 'other' OIDC_AUDIENCE_LIST = ('a'))"
        ),
    );
    assert_eq!(
        identities(&emulator, "K8S_SVC"),
        vec![(
            "DEFAULT".to_owned(),
            json!({"issuer": ISSUER, "subject": "other", "audienceList": ["a"]})
        )],
        "SET replaces the default identity"
    );
    admin_run(&emulator, "ALTER USER K8S_SVC UNSET WORKLOAD_IDENTITY");
    assert_eq!(identities(&emulator, "K8S_SVC"), vec![]);
}

/// POSTs a driver login with a workload identity token (5.x shape: no `LOGIN_NAME`).
async fn wif_login(running: &RunningEmulator, token: &str, login_name: Option<&str>) -> Value {
    let mut data = json!({
        "CLIENT_APP_ID": "PythonConnector", "ACCOUNT_NAME": "myorg-test",
        "AUTHENTICATOR": "WORKLOAD_IDENTITY", "PROVIDER": "OIDC", "TOKEN": token,
    });
    if let Some(name) = login_name {
        data["LOGIN_NAME"] = json!(name);
    }
    post(
        running,
        "/session/v1/login-request",
        None,
        &json!({ "data": data }),
    )
    .await
}

async fn post(running: &RunningEmulator, path: &str, session: Option<&str>, body: &Value) -> Value {
    emulator_support::http()
        .post(format!("{}{path}", running.base_url()))
        .header("Content-Type", "application/json")
        .header("Accept", "application/snowflake")
        .header(
            "Authorization",
            format!("Snowflake Token=\"{}\"", session.unwrap_or("None")),
        )
        .json(body)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON answer")
}

async fn current_user(running: &RunningEmulator, session: &str) -> Value {
    post(
        running,
        "/queries/v1/query-request?requestId=1",
        Some(session),
        &json!({"sqlText": "SELECT CURRENT_USER(), CURRENT_ROLE()", "sequenceId": 1}),
    )
    .await
}

fn code(answer: &Value) -> Option<&str> {
    (answer["success"] != json!(true)).then(|| answer["code"].as_str().unwrap_or("?"))
}

#[tokio::test]
async fn a_trusted_token_logs_in_and_every_other_is_refused() {
    let running = emulator_support::start_with(config(), false).await;
    let emulator = running.emulator();
    admin_run(
        emulator,
        &format!(
            "ALTER USER WIF_SVC ADD WORKLOAD IDENTITY SFTO_ETL TYPE = OIDC ISSUER = '{ISSUER}' SUBJECT = '{SUBJECT}'"
        ),
    );
    let now = emulator_support::now_secs(&running);
    let key = emulator_support::key(3);
    let good = id_token(
        &key,
        "k3",
        &claims(ISSUER, SUBJECT, json!(["snowflakecomputing.com"]), now),
    );

    let login = wif_login(&running, &good, None).await;
    assert_eq!(code(&login), None, "{login}");
    let session = login["data"]["token"]
        .as_str()
        .expect("session token")
        .to_owned();
    let answer = current_user(&running, &session).await;
    assert_eq!(answer["data"]["rowset"], json!([["WIF_SVC", "ANALYST"]]));
    assert_eq!(
        code(&wif_login(&running, &good, Some("wif_svc")).await),
        None,
        "LOGIN_NAME naming the identity's user (4.8.1 sends it) is accepted"
    );
    let string_aud = id_token(
        &key,
        "k3",
        &claims(ISSUER, SUBJECT, json!("snowflakecomputing.com"), now),
    );
    assert_eq!(
        code(&wif_login(&running, &string_aud, None).await),
        None,
        "aud as one string"
    );

    let refusals = [
        (
            "another subject",
            id_token(
                &key,
                "k3",
                &claims(
                    ISSUER,
                    "system:serviceaccount:data:other",
                    json!(["snowflakecomputing.com"]),
                    now,
                ),
            ),
        ),
        (
            "another issuer",
            id_token(
                &key,
                "k3",
                &claims(
                    "https://elsewhere.test",
                    SUBJECT,
                    json!(["snowflakecomputing.com"]),
                    now,
                ),
            ),
        ),
        (
            "another audience",
            id_token(
                &key,
                "k3",
                &claims(
                    ISSUER,
                    SUBJECT,
                    json!(["https://kubernetes.default.svc"]),
                    now,
                ),
            ),
        ),
        (
            "a forged signature",
            id_token(
                &emulator_support::key(2),
                "k3",
                &claims(ISSUER, SUBJECT, json!(["snowflakecomputing.com"]), now),
            ),
        ),
        (
            "an unknown key id",
            id_token(
                &key,
                "rotated-away",
                &claims(ISSUER, SUBJECT, json!(["snowflakecomputing.com"]), now),
            ),
        ),
        (
            "no exp",
            id_token(
                &key,
                "k3",
                &json!({"iss": ISSUER, "sub": SUBJECT, "aud": "snowflakecomputing.com"}),
            ),
        ),
        ("not a JWT", "not.a.jwt".to_owned()),
    ];
    for (what, token) in &refusals {
        let answer = wif_login(&running, token, None).await;
        assert_eq!(code(&answer), Some("390144"), "{what}: {answer}");
        assert!(
            !answer.to_string().contains(token.as_str()),
            "{what}: the token is not echoed"
        );
    }
    assert_eq!(
        code(&wif_login(&running, &good, Some("BI_SVC")).await),
        Some("390144"),
        "a LOGIN_NAME of another user"
    );
    let mut aws =
        json!({"data": {"AUTHENTICATOR": "WORKLOAD_IDENTITY", "PROVIDER": "AWS", "TOKEN": good}});
    assert_eq!(
        code(&post(&running, "/session/v1/login-request", None, &aws).await),
        Some("390144")
    );
    aws["data"]["PROVIDER"] = Value::Null;
    assert_eq!(
        code(&post(&running, "/session/v1/login-request", None, &aws).await),
        Some("390144")
    );

    // The SQL API takes no workload identity token (Snowflake documents none for it).
    let sqlapi = emulator_support::http()
        .post(format!("{}/api/v2/statements", running.base_url()))
        .header("Authorization", format!("Bearer {good}"))
        .header("X-Snowflake-Authorization-Token-Type", "WORKLOAD_IDENTITY")
        .header("Accept", "application/json")
        .header("User-Agent", "emulator-tests/1.0")
        .json(&json!({"statement": "SELECT CURRENT_USER()"}))
        .send()
        .await
        .expect("request");
    assert_eq!(sqlapi.status(), 401);
    let (status, _, body) = emulator_support::post_sql(
        &emulator_support::http(),
        &running,
        &good,
        "SELECT CURRENT_USER()",
        "",
    )
    .await;
    assert_eq!(status, 401, "nor sniffed as another kind of token: {body}");

    // Expired: eleven minutes on (the token lives ten, with a minute of skew).
    running.advance_clock(SignedDuration::from_secs(11 * 60 + 1));
    assert_eq!(
        code(&wif_login(&running, &good, None).await),
        Some("390144"),
        "expired"
    );
    let now = emulator_support::now_secs(&running);
    let early = json!({"iss": ISSUER, "sub": SUBJECT, "aud": ["snowflakecomputing.com"], "nbf": now + 600, "exp": now + 1200});
    assert_eq!(
        code(&wif_login(&running, &id_token(&key, "k3", &early), None).await),
        Some("390144"),
        "not yet valid"
    );

    let fresh = id_token(
        &key,
        "k3",
        &claims(ISSUER, SUBJECT, json!(["snowflakecomputing.com"]), now),
    );
    admin_run(
        emulator,
        "ALTER USER WIF_SVC MODIFY WORKLOAD IDENTITY SFTO_ETL SET DISABLED = TRUE",
    );
    assert_eq!(
        code(&wif_login(&running, &fresh, None).await),
        Some("390144"),
        "identity disabled"
    );
    admin_run(
        emulator,
        "ALTER USER WIF_SVC MODIFY WORKLOAD IDENTITY SFTO_ETL UNSET DISABLED",
    );
    admin_run(emulator, "ALTER USER WIF_SVC SET DISABLED = TRUE");
    assert_eq!(
        code(&wif_login(&running, &fresh, None).await),
        Some("390102"),
        "user disabled"
    );
    admin_run(emulator, "ALTER USER WIF_SVC SET DISABLED = FALSE");
    let login = wif_login(&running, &fresh, None).await;
    let session = login["data"]["token"].as_str().expect("session").to_owned();
    assert_eq!(code(&current_user(&running, &session).await), None);

    // Removing the identity ends the sessions it opened and refuses the next login.
    admin_run(
        emulator,
        "ALTER USER WIF_SVC REMOVE WORKLOAD IDENTITY SFTO_ETL",
    );
    assert_eq!(
        code(&current_user(&running, &session).await),
        Some("390111")
    );
    assert_eq!(
        code(&wif_login(&running, &fresh, None).await),
        Some("390144"),
        "trust removed"
    );
}

#[tokio::test]
async fn a_custom_audience_list_replaces_the_default_audience() {
    let running = emulator_support::start_with(config(), false).await;
    admin_run(
        running.emulator(),
        &format!(
            "ALTER USER WIF_SVC SET WORKLOAD_IDENTITY = (TYPE = OIDC ISSUER = '{ISSUER}' SUBJECT = '{SUBJECT}' OIDC_AUDIENCE_LIST = ('snowflake', 'sf-prod'))"
        ),
    );
    let now = emulator_support::now_secs(&running);
    let key = emulator_support::key(3);
    let login = |aud: Value| {
        wif_login_owned(
            &running,
            id_token(&key, "k3", &claims(ISSUER, SUBJECT, aud, now)),
        )
    };
    assert_eq!(
        code(&login(json!(["other", "sf-prod"])).await),
        None,
        "one listed audience is enough"
    );
    assert_eq!(
        code(&login(json!(["snowflakecomputing.com"])).await),
        Some("390144"),
        "the default audience no longer applies"
    );
}

async fn wif_login_owned(running: &RunningEmulator, token: String) -> Value {
    wif_login(running, &token, None).await
}

/// A minimal OIDC issuer on loopback: its discovery document and its key set, counting
/// the key-set requests.
async fn serve_issuer(keys: Arc<std::sync::Mutex<Value>>, fetches: Arc<AtomicUsize>) -> String {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys")});
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/keys",
            get(move || async move {
                fetches.fetch_add(1, Ordering::SeqCst);
                let keys = keys.lock().expect("keys").clone();
                axum::Json(keys)
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    issuer
}

#[tokio::test]
async fn keys_are_fetched_by_discovery_and_again_when_the_issuer_rotates() {
    let keys = Arc::new(std::sync::Mutex::new(
        json!({"keys": [jwk(&emulator_support::key(3), "k3")]}),
    ));
    let fetches = Arc::new(AtomicUsize::new(0));
    let issuer = serve_issuer(keys.clone(), fetches.clone()).await;
    let running = emulator_support::start_with(config(), true).await;
    admin_run(
        running.emulator(),
        &format!(
            "ALTER USER WIF_SVC ADD WORKLOAD IDENTITY SFTO_ETL TYPE = OIDC ISSUER = '{issuer}' SUBJECT = '{SUBJECT}'"
        ),
    );
    let now = emulator_support::now_secs(&running);
    let token = |key: u8, kid: &str| {
        id_token(
            &emulator_support::key(key),
            kid,
            &claims(&issuer, SUBJECT, json!(["snowflakecomputing.com"]), now),
        )
    };
    assert_eq!(
        code(&wif_login(&running, &token(3, "k3"), None).await),
        None
    );
    assert_eq!(
        code(&wif_login(&running, &token(3, "k3"), None).await),
        None
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the key set is cached");

    // The issuer rotates its signing key: a token with the new key id makes the emulator
    // fetch again, and a token signed with the old key no longer verifies.
    *keys.lock().expect("keys") = json!({"keys": [jwk(&emulator_support::key(2), "k2")]});
    assert_eq!(
        code(&wif_login(&running, &token(2, "k2"), None).await),
        None
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert_eq!(
        code(&wif_login(&running, &token(3, "k3"), None).await),
        Some("390144")
    );

    // Keys set through the test endpoint win over the issuer's own.
    let answer = emulator_support::http()
        .post(format!(
            "{}/_emulator/workload-identity/issuers",
            running.base_url()
        ))
        .json(&json!({"issuer": issuer, "jwks": {"keys": [jwk(&emulator_support::key(1), "k1")]}}))
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 204);
    assert_eq!(
        code(&wif_login(&running, &token(1, "k1"), None).await),
        None
    );
    assert_eq!(
        code(&wif_login(&running, &token(2, "k2"), None).await),
        Some("390144")
    );
}

#[tokio::test]
async fn an_unreachable_issuer_refuses_the_login() {
    let running = emulator_support::start_with(config(), false).await;
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    admin_run(
        running.emulator(),
        &format!(
            "ALTER USER WIF_SVC ADD WORKLOAD IDENTITY SFTO_ETL TYPE = OIDC ISSUER = '{issuer}' SUBJECT = '{SUBJECT}'"
        ),
    );
    let now = emulator_support::now_secs(&running);
    let token = id_token(
        &emulator_support::key(3),
        "k3",
        &claims(&issuer, SUBJECT, json!(["snowflakecomputing.com"]), now),
    );
    assert_eq!(
        code(&wif_login(&running, &token, None).await),
        Some("390144")
    );
}
