//! The SQL API and OAuth transports against a scripted loopback server: each test names
//! the answers the server gives, in order, and asserts what the client sent. (Behaviour
//! against the emulator is tested separately; these pin the wire contract.)

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use snowflake_token_operator::snowflake::oauth::CodeExchange;
use snowflake_token_operator::snowflake::{
    Account, Authenticator, Category, ClientCredentials, Error, OAuthApi, OAuthClient, OAuthConfig,
    OAuthErrorKind, PatSpec, RetryPolicy, SnowflakeApi, SnowflakeClient, SqlApiClient,
    SqlApiConfig,
};

#[derive(Clone)]
enum Step {
    Reply(u16, String),
    ReplyWith(u16, String, &'static str, &'static str),
    Gzip(String),
    /// Never answers: the client's request timeout fires, as when a response is lost.
    Hang,
}

#[derive(Debug)]
struct Seen {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Default)]
struct Script {
    steps: Mutex<VecDeque<Step>>,
    seen: Mutex<Vec<Seen>>,
}

impl Script {
    fn seen(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
        self.seen.lock().unwrap()
    }
}

async fn scripted(
    State(script): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    script.seen().push(Seen {
        method,
        path: uri.path().to_owned(),
        query,
        headers,
        body: body.to_vec(),
    });
    let step = script.steps.lock().unwrap().pop_front();
    let json = [("content-type", "application/json")];
    match step {
        Some(Step::Reply(status, body)) => {
            (StatusCode::from_u16(status).unwrap(), json, body).into_response()
        }
        Some(Step::ReplyWith(status, body, name, value)) => (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/json"), (name, value)],
            body,
        )
            .into_response(),
        Some(Step::Gzip(body)) => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(body.as_bytes()).unwrap();
            let gz = enc.finish().unwrap();
            (StatusCode::OK, [("content-encoding", "gzip")], gz).into_response()
        }
        Some(Step::Hang) => std::future::pending().await,
        None => (StatusCode::INTERNAL_SERVER_ERROR, "script exhausted").into_response(),
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

async fn server(steps: Vec<Step>) -> (String, Arc<Script>) {
    let script = Arc::new(Script {
        steps: Mutex::new(steps.into()),
        ..Default::default()
    });
    let router = Router::new().fallback(scripted).with_state(script.clone());
    (serve(router).await, script)
}

/// A fixed token that counts how often the client discarded it.
#[derive(Debug, Default)]
struct TestAuth {
    invalidations: AtomicUsize,
}

impl Authenticator for TestAuth {
    fn bearer(&self) -> snowflake_token_operator::snowflake::Result<SecretString> {
        let n = self.invalidations.load(Ordering::SeqCst);
        Ok(SecretString::from(format!("test-jwt-{n}")))
    }
    fn token_type(&self) -> &'static str {
        "KEYPAIR_JWT"
    }
    fn invalidate(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }
}

fn fast_config() -> SqlApiConfig {
    SqlApiConfig {
        request_timeout: Duration::from_millis(300),
        statement_timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        poll_initial: Duration::from_millis(1),
        poll_max: Duration::from_millis(5),
        ..SqlApiConfig::default()
    }
}

fn connect(base: &str, config: SqlApiConfig) -> (SnowflakeClient, Arc<TestAuth>) {
    let auth = Arc::new(TestAuth::default());
    let account = Account::new("myorg-acct", Some(base)).unwrap();
    let api = SqlApiClient::new(account, auth.clone(), config).unwrap();
    (SnowflakeClient::new(api), auth)
}

fn result_set(columns: &[&str], rows: &str) -> String {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| format!(r#"{{"name":"{c}","type":"text"}}"#))
        .collect();
    format!(
        r#"{{"resultSetMetaData":{{"numRows":1,"format":"jsonv2","rowType":[{}]}},"data":{rows},"code":"090001","sqlState":"00000","message":"Statement executed successfully.","statementHandle":"01b-1"}}"#,
        cols.join(",")
    )
}

const RUNNING: &str = r#"{"code":"333334","message":"Asynchronous execution in progress.","statementHandle":"01b-1","statementStatusUrl":"/api/v2/statements/01b-1"}"#;
const TOO_MANY: &str = r#"{"code":"390505","message":"Too many requests."}"#;

fn identity() -> Step {
    Step::Reply(
        200,
        result_set(
            &["CURRENT_USER()", "CURRENT_ROLE()"],
            r#"[["ADMIN","SYSADMIN"]]"#,
        ),
    )
}

#[tokio::test]
async fn a_statement_carries_the_required_headers_and_body() {
    let (base, script) = server(vec![identity()]).await;
    let (client, _) = connect(&base, fast_config());
    let id = client.verify_identity().await.unwrap();
    assert_eq!(id.user, "ADMIN");
    assert_eq!(id.role.as_deref(), Some("SYSADMIN"));

    let seen = script.seen();
    let req = &seen[0];
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.path, "/api/v2/statements");
    assert!(uuid::Uuid::parse_str(&req.query["requestId"]).is_ok());
    assert!(!req.query.contains_key("retry"));
    let header = |n: &str| req.headers.get(n).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("authorization"), "Bearer test-jwt-0");
    assert_eq!(
        header("x-snowflake-authorization-token-type"),
        "KEYPAIR_JWT"
    );
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("accept"), "application/json");
    assert!(header("user-agent").starts_with("snowflake-token-operator/"));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["statement"], "SELECT CURRENT_USER(), CURRENT_ROLE()");
}

#[tokio::test]
async fn throttles_and_server_errors_are_ridden_out_with_the_same_request_id() {
    let (base, script) = server(vec![
        Step::Reply(429, TOO_MANY.into()),
        Step::ReplyWith(503, "{}".into(), "retry-after", "0"),
        Step::Reply(500, "{}".into()),
        identity(),
    ])
    .await;
    let (client, _) = connect(&base, fast_config());
    client.verify_identity().await.unwrap();
    let seen = script.seen();
    assert_eq!(seen.len(), 4);
    let first_id = &seen[0].query["requestId"];
    for (i, req) in seen.iter().enumerate() {
        assert_eq!(&req.query["requestId"], first_id, "attempt {i}");
        assert_eq!(
            req.query.get("retry").map(String::as_str),
            (i > 0).then_some("true")
        );
    }
}

#[tokio::test]
async fn a_lost_response_is_resent_and_yields_the_one_token() {
    let add = result_set(
        &["token_name", "token_secret"],
        r#"[["PBI","pat-secret-1"]]"#,
    );
    let show = result_set(
        &["name", "expires_at", "status"],
        r#"[["PBI","1767225600.000000000","ACTIVE"]]"#,
    );
    let (base, script) = server(vec![
        Step::Hang,
        Step::Reply(200, add),
        Step::Reply(200, show),
    ])
    .await;
    let (client, _) = connect(&base, fast_config());
    let spec = PatSpec {
        name: "pbi".into(),
        role_restriction: Some("ANALYST".into()),
        ..Default::default()
    };
    let pat = client.add_pat("BI_SVC", &spec).await.unwrap();
    assert_eq!(pat.name, "PBI");
    assert_eq!(pat.secret.expose_secret(), "pat-secret-1");
    assert_eq!(
        pat.expires_at,
        Some("2026-01-01T00:00:00Z".parse().unwrap())
    );
    let seen = script.seen();
    assert_eq!(seen[0].query["requestId"], seen[1].query["requestId"]);
    assert_eq!(seen[1].query["retry"], "true");
    let body: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(
        body["statement"],
        r#"ALTER USER "BI_SVC" ADD PROGRAMMATIC ACCESS TOKEN "PBI" ROLE_RESTRICTION = 'ANALYST'"#
    );
    assert!(!format!("{pat:?}").contains("pat-secret-1"));
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let failed = r#"{"code":"002003","sqlState":"02000","message":"SQL compilation error:\nObject 'BI_SVC' does not exist or not authorized.","statementHandle":"01b-9"}"#;
    let (base, script) = server(vec![Step::Reply(422, failed.into()), identity()]).await;
    let (client, _) = connect(&base, fast_config());
    let err = client.rotate_pat("BI_SVC", "PBI", 24).await.unwrap_err();
    assert_eq!(err.category(), Category::NotFound);
    assert_eq!(err.snowflake_code(), Some("002003"));
    assert!(!err.is_transient());
    assert_eq!(script.seen().len(), 1);

    let (base, script) = server(vec![Step::Reply(
        400,
        r#"{"code":"390142","message":"Incoming request does not contain a valid payload."}"#
            .into(),
    )])
    .await;
    let (client, _) = connect(&base, fast_config());
    let err = client.verify_identity().await.unwrap_err();
    assert!(matches!(err, Error::Rejected { status: 400, .. }), "{err}");
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test]
async fn a_refused_jwt_is_re_signed_once_then_reported() {
    let refused = r#"{"code":"390144","message":"JWT token is invalid."}"#;
    let (base, script) = server(vec![Step::Reply(401, refused.into()), identity()]).await;
    let (client, auth) = connect(&base, fast_config());
    client.verify_identity().await.unwrap();
    assert_eq!(auth.invalidations.load(Ordering::SeqCst), 1);
    assert_eq!(
        script.seen()[1].headers["authorization"].to_str().unwrap(),
        "Bearer test-jwt-1"
    );

    let (base, script) = server(vec![
        Step::Reply(401, refused.into()),
        Step::Reply(401, refused.into()),
        identity(),
    ])
    .await;
    let (client, _) = connect(&base, fast_config());
    let err = client.verify_identity().await.unwrap_err();
    assert_eq!(err.category(), Category::Auth);
    assert_eq!(err.snowflake_code(), Some("390144"));
    assert_eq!(script.seen().len(), 2);
}

#[tokio::test]
async fn a_throttle_storm_beyond_the_budget_gives_up_with_a_transient_error() {
    let (base, script) = server(vec![Step::Reply(429, TOO_MANY.into()); 10]).await;
    let mut config = fast_config();
    config.retry.max_attempts = 3;
    let (client, _) = connect(&base, config);
    let err = client.verify_identity().await.unwrap_err();
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(err.category(), Category::Throttled);
    assert!(err.is_transient());
    assert_eq!(script.seen().len(), 3);
}

#[tokio::test]
async fn a_running_statement_is_polled_until_it_finishes() {
    let (base, script) = server(vec![
        Step::Reply(202, RUNNING.into()),
        Step::Reply(202, RUNNING.into()),
        Step::Reply(429, RUNNING.into()),
        Step::Reply(503, "{}".into()),
        identity(),
    ])
    .await;
    let (client, _) = connect(&base, fast_config());
    assert_eq!(client.verify_identity().await.unwrap().user, "ADMIN");
    let seen = script.seen();
    assert_eq!(seen.len(), 5);
    for req in &seen[1..] {
        assert_eq!(req.method, Method::GET);
        assert_eq!(req.path, "/api/v2/statements/01b-1");
        assert!(req.headers.contains_key("authorization"));
    }
}

#[tokio::test]
async fn partitioned_results_are_fetched_and_gunzipped() {
    let first = r#"{"resultSetMetaData":{"numRows":3,"format":"jsonv2","partitionInfo":[{"rowCount":1},{"rowCount":2}],"rowType":[{"name":"name","type":"text"},{"name":"status","type":"text"}]},"data":[["A","ACTIVE"]],"statementHandle":"01b-1"}"#;
    let (base, script) = server(vec![
        Step::Reply(200, first.into()),
        Step::Gzip(r#"{"data":[["B","DISABLED"],["C","EXPIRED"]]}"#.into()),
    ])
    .await;
    let (client, _) = connect(&base, fast_config());
    let pats = client.list_pats("BI_SVC").await.unwrap();
    let names: Vec<_> = pats.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["A", "B", "C"]);
    assert_eq!(script.seen()[1].query["partition"], "1");
}

#[tokio::test]
async fn the_statement_deadline_bounds_everything() {
    let (base, _script) = server(vec![Step::Reply(202, RUNNING.into()); 1000]).await;
    let mut config = fast_config();
    config.statement_timeout = Duration::from_millis(200);
    let (client, _) = connect(&base, config);
    let err = client.verify_identity().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                what: "statement",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_transient());
}

#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
    notify: tokio::sync::Notify,
}

async fn gauged(State(g): State<Arc<Gauge>>) -> Response {
    let now = g.now.fetch_add(1, Ordering::SeqCst) + 1;
    g.max.fetch_max(now, Ordering::SeqCst);
    if now >= 2 {
        g.notify.notify_waiters();
    } else {
        // Hold the request until a second one arrives (bounded, in case none does).
        let _ = tokio::time::timeout(Duration::from_millis(500), g.notify.notified()).await;
    }
    g.now.fetch_sub(1, Ordering::SeqCst);
    let Step::Reply(_, body) = identity() else {
        unreachable!()
    };
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

#[tokio::test]
async fn in_flight_requests_are_bounded_per_connection() {
    let gauge = Arc::new(Gauge::default());
    let base = serve(Router::new().fallback(gauged).with_state(gauge.clone())).await;
    let mut config = fast_config();
    config.max_in_flight = 2;
    config.request_timeout = Duration::from_secs(5);
    let (client, _) = connect(&base, config);
    let client = Arc::new(client);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.verify_identity().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(gauge.max.load(Ordering::SeqCst), 2);
}

fn creds() -> ClientCredentials {
    ClientCredentials {
        client_id: "client id".into(),
        client_secret: SecretString::from("s3cret+/=".to_owned()),
    }
}

#[tokio::test]
async fn oauth_requests_use_basic_auth_and_form_encoding() {
    let ok = r#"{"access_token":"at-1","expires_in":600,"refresh_token":"rt-2","token_type":"Bearer","username":"BI"}"#;
    let (base, script) = server(vec![
        Step::Reply(200, ok.into()),
        Step::Reply(200, ok.into()),
    ])
    .await;
    let account = Account::new("myorg-acct", Some(&base)).unwrap();
    let oauth = OAuthClient::new(&account, OAuthConfig::default()).unwrap();
    let rt = SecretString::from("rt-1".to_owned());
    let tokens = oauth
        .refresh(&creds(), &rt, Some("session:role:ANALYST"))
        .await
        .unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "at-1");
    let code = SecretString::from("code-1".to_owned());
    let verifier = SecretString::from("verifier-1".to_owned());
    oauth
        .exchange_code(
            &creds(),
            &CodeExchange {
                code: &code,
                redirect_uri: "http://127.0.0.1:9/cb",
                code_verifier: Some(&verifier),
                enable_single_use_refresh_tokens: true,
            },
        )
        .await
        .unwrap();

    let seen = script.seen();
    for req in seen.iter() {
        assert_eq!(req.path, "/oauth/token-request");
        assert_eq!(
            req.headers["content-type"].to_str().unwrap(),
            "application/x-www-form-urlencoded"
        );
        let basic = req.headers["authorization"].to_str().unwrap();
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "client+id:s3cret%2B%2F%3D"
        );
    }
    let form = |i: usize| -> HashMap<String, String> {
        url::form_urlencoded::parse(&seen[i].body)
            .into_owned()
            .collect()
    };
    let refresh = form(0);
    assert_eq!(refresh["grant_type"], "refresh_token");
    assert_eq!(refresh["refresh_token"], "rt-1");
    assert_eq!(refresh["scope"], "session:role:ANALYST");
    let exchange = form(1);
    assert_eq!(exchange["grant_type"], "authorization_code");
    assert_eq!(exchange["code"], "code-1");
    assert_eq!(exchange["redirect_uri"], "http://127.0.0.1:9/cb");
    assert_eq!(exchange["code_verifier"], "verifier-1");
    assert_eq!(exchange["enable_single_use_refresh_tokens"], "true");
}

#[tokio::test]
async fn oauth_failures_are_told_apart_and_never_resent() {
    let (base, script) = server(vec![
        Step::Reply(
            400,
            r#"{"error":"invalid_grant","error_description":"The refresh token is invalid."}"#
                .into(),
        ),
        Step::Reply(503, "{}".into()),
        Step::Hang,
    ])
    .await;
    let account = Account::new("myorg-acct", Some(&base)).unwrap();
    let config = OAuthConfig {
        request_timeout: Duration::from_millis(200),
        ..OAuthConfig::default()
    };
    let oauth = OAuthClient::new(&account, config).unwrap();
    let rt = SecretString::from("rt-secret".to_owned());

    let dead = oauth.refresh(&creds(), &rt, None).await.unwrap_err();
    assert!(matches!(
        &dead,
        Error::OAuth {
            kind: OAuthErrorKind::InvalidGrant,
            ..
        }
    ));
    assert!(!dead.is_transient());
    let down = oauth.refresh(&creds(), &rt, None).await.unwrap_err();
    assert!(
        down.is_transient() && down.category() == Category::Unavailable,
        "{down}"
    );
    let lost = oauth.refresh(&creds(), &rt, None).await.unwrap_err();
    assert!(
        lost.is_transient() && lost.category() == Category::Timeout,
        "{lost}"
    );
    assert_eq!(script.seen().len(), 3, "each refresh is sent exactly once");
    for e in [dead, down, lost] {
        assert!(!e.to_string().contains("rt-secret"));
        assert!(!format!("{e:?}").contains("s3cret"));
    }
}
