//! The OAuth token client: request shape, error mapping, no resends.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use snowflake_token_operator::snowflake::oauth::CodeExchange;
use snowflake_token_operator::snowflake::{
    Account, Category, ClientCredentials, Error, OAuthApi, OAuthClient, OAuthConfig, OAuthErrorKind,
};

use crate::support::*;

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
        lost.is_transient() && lost.is_outcome_unknown(),
        "a refresh without an answer may have rotated the token: {lost}"
    );
    assert_eq!(script.seen().len(), 3, "each refresh is sent exactly once");
    for e in [dead, down, lost] {
        assert!(!e.to_string().contains("rt-secret"));
        assert!(!format!("{e:?}").contains("s3cret"));
    }
}

#[tokio::test]
async fn a_token_request_that_never_left_is_told_apart_from_a_lost_answer() {
    // A port nothing listens on: the connection is refused, nothing reached Snowflake.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let account = Account::new("myorg-acct", Some(&format!("http://127.0.0.1:{port}"))).unwrap();
    let config = OAuthConfig {
        retry: snowflake_token_operator::snowflake::RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        ..OAuthConfig::default()
    };
    let oauth = OAuthClient::new(&account, config).unwrap();
    let rt = SecretString::from("rt-secret".to_owned());
    let err = oauth.refresh(&creds(), &rt, None).await.unwrap_err();
    assert!(matches!(err, Error::NotSent(_)), "{err:?}");
    assert!(!err.is_outcome_unknown());
    assert!(err.is_transient());
    assert!(!err.to_string().contains("rt-secret"));
}
