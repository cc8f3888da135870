//! The scripted loopback server and client helpers shared by the test modules.

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
use secrecy::SecretString;
use snowflake_token_operator::snowflake::{
    Account, Authenticator, RetryPolicy, SnowflakeClient, SqlApiClient, SqlApiConfig,
};

#[derive(Clone)]
pub enum Step {
    Reply(u16, String),
    ReplyWith(u16, String, &'static str, &'static str),
    Gzip(String),
    /// Never answers: the client's request timeout fires, as when a response is lost.
    Hang,
}

#[derive(Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Default)]
pub struct Script {
    pub steps: Mutex<VecDeque<Step>>,
    pub seen: Mutex<Vec<Seen>>,
}

impl Script {
    pub fn seen(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
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

pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

pub async fn server(steps: Vec<Step>) -> (String, Arc<Script>) {
    let script = Arc::new(Script {
        steps: Mutex::new(steps.into()),
        ..Default::default()
    });
    let router = Router::new().fallback(scripted).with_state(script.clone());
    (serve(router).await, script)
}

/// A fixed token that counts how often the client discarded it.
#[derive(Debug, Default)]
pub struct TestAuth {
    pub invalidations: AtomicUsize,
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

pub fn fast_config() -> SqlApiConfig {
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

pub fn connect(base: &str, config: SqlApiConfig) -> (SnowflakeClient, Arc<TestAuth>) {
    let auth = Arc::new(TestAuth::default());
    let account = Account::new("myorg-acct", Some(base)).unwrap();
    let api = SqlApiClient::new(account, auth.clone(), config).unwrap();
    (SnowflakeClient::new(api), auth)
}

pub fn result_set(columns: &[&str], rows: &str) -> String {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| format!(r#"{{"name":"{c}","type":"text"}}"#))
        .collect();
    format!(
        r#"{{"resultSetMetaData":{{"numRows":1,"format":"jsonv2","rowType":[{}]}},"data":{rows},"code":"090001","sqlState":"00000","message":"Statement executed successfully.","statementHandle":"01b-1"}}"#,
        cols.join(",")
    )
}

pub const RUNNING: &str = r#"{"code":"333334","message":"Asynchronous execution in progress.","statementHandle":"01b-1","statementStatusUrl":"/api/v2/statements/01b-1"}"#;
pub const TOO_MANY: &str = r#"{"code":"390505","message":"Too many requests."}"#;

pub fn identity() -> Step {
    Step::Reply(
        200,
        result_set(
            &["CURRENT_USER()", "CURRENT_ROLE()"],
            r#"[["ADMIN","SYSADMIN"]]"#,
        ),
    )
}
