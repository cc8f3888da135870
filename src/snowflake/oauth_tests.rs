//! Token answers, both error shapes, PKCE and the authorize URL.

use super::*;

fn reply(status: u16, body: &str) -> Result<TokenResponse> {
    parse_token_reply(status, &http::HeaderMap::new(), body.as_bytes())
}

#[test]
fn code_exchange_answer_is_read_and_debug_redacts_tokens() {
    let body = r#"{"access_token":"at-SECRET","expires_in":600,"refresh_token":"rt-SECRET","token_type":"Bearer","username":"user1","scope":"refresh_token session:role:ANALYST","refresh_token_expires_in":86399,"idpInitiated":false}"#;
    let t = reply(200, body).unwrap();
    assert_eq!(t.access_token.expose_secret(), "at-SECRET");
    assert_eq!(
        t.refresh_token.as_ref().map(|r| r.expose_secret()),
        Some("rt-SECRET")
    );
    assert_eq!(t.expires_in, 600);
    assert_eq!(t.refresh_token_expires_in, Some(86399));
    assert_eq!(t.username.as_deref(), Some("user1"));
    assert_eq!(
        t.scope.as_deref(),
        Some("refresh_token session:role:ANALYST")
    );
    let debug = format!("{t:?}");
    assert!(!debug.contains("SECRET"), "{debug}");

    let minimal = reply(200, r#"{"access_token":"a","expires_in":"300"}"#).unwrap();
    assert_eq!(minimal.expires_in, 300);
    assert_eq!(minimal.token_type, "Bearer");
    assert!(minimal.refresh_token.is_none());
}

#[test]
fn both_error_shapes_map_to_typed_kinds() {
    let cases = [
        (
            400,
            r#"{"error":"invalid_grant","error_description":"The authorization code is invalid or has expired."}"#,
            OAuthErrorKind::InvalidGrant,
            "invalid or has expired",
        ),
        (
            400,
            r#"{"data":null,"message":"This is an invalid client.","code":null,"success":false,"error":"invalid_client"}"#,
            OAuthErrorKind::InvalidClient,
            "invalid client",
        ),
        (
            401,
            r#"{"data":null,"message":"This is an invalid client.","code":"390306","success":false,"error":"invalid_client"}"#,
            OAuthErrorKind::InvalidClient,
            "invalid client",
        ),
        (
            400,
            r#"{"error":"unsupported_grant_type","error_description":"client_credentials"}"#,
            OAuthErrorKind::UnsupportedGrantType,
            "client_credentials",
        ),
        (
            400,
            r#"{"error":"invalid_request","error_description":"missing code"}"#,
            OAuthErrorKind::InvalidRequest,
            "missing code",
        ),
        (
            400,
            r#"{"error":"invalid_scope","message":"bad scope"}"#,
            OAuthErrorKind::InvalidScope,
            "bad scope",
        ),
        (
            200,
            r#"{"data":null,"message":"Refresh token is invalid.","success":false,"error":"invalid_grant"}"#,
            OAuthErrorKind::InvalidGrant,
            "Refresh token",
        ),
    ];
    for (status, body, kind, text) in cases {
        match reply(status, body) {
            Err(e @ Error::OAuth { .. }) => {
                assert!(!e.is_transient(), "{body}");
                assert!(e.to_string().contains(text), "{e}");
                let Error::OAuth { kind: got, .. } = e else {
                    unreachable!()
                };
                assert_eq!(got, kind, "{body}");
            }
            other => panic!("{body}: {other:?}"),
        }
    }
    let grant = reply(400, r#"{"error":"invalid_grant"}"#).unwrap_err();
    assert_eq!(
        grant.category(),
        crate::snowflake::Category::OAuthInvalidGrant
    );
    let client = reply(401, "Unauthorized").unwrap_err();
    assert_eq!(
        client.category(),
        crate::snowflake::Category::OAuthInvalidClient
    );
}

#[test]
fn snowflake_numeric_codes_map_when_error_is_absent() {
    let cases = [
        ("390302", OAuthErrorKind::InvalidGrant),
        ("390303", OAuthErrorKind::InvalidGrant),
        ("390304", OAuthErrorKind::InvalidRequest),
        ("390305", OAuthErrorKind::InvalidRequest),
        ("390306", OAuthErrorKind::InvalidClient),
        ("390307", OAuthErrorKind::InvalidGrant),
        ("390308", OAuthErrorKind::InvalidScope),
        ("390309", OAuthErrorKind::InvalidGrant),
        ("390311", OAuthErrorKind::InvalidGrant),
    ];
    for (code, kind) in cases {
        let body =
            format!(r#"{{"data":null,"message":"refused","code":"{code}","success":false}}"#);
        match reply(400, &body) {
            Err(e @ Error::OAuth { .. }) => {
                assert_eq!(e.snowflake_code(), Some(code));
                assert!(e.to_string().contains(code), "{e}");
                let Error::OAuth { kind: got, .. } = e else {
                    unreachable!()
                };
                assert_eq!(got, kind, "{code}");
            }
            other => panic!("{code}: {other:?}"),
        }
    }
    // An explicit `error` wins over the code; numeric codes are read too.
    let both = reply(400, r#"{"error":"invalid_client","code":390308}"#).unwrap_err();
    assert!(matches!(
        &both,
        Error::OAuth {
            kind: OAuthErrorKind::InvalidClient,
            ..
        }
    ));
    assert_eq!(both.snowflake_code(), Some("390308"));
}

#[test]
fn server_failures_are_transient() {
    for (status, body) in [(500, "oops"), (503, r#"{"message":"down"}"#), (429, "{}")] {
        let e = reply(status, body).unwrap_err();
        assert!(e.is_transient(), "{status}: {e}");
        assert!(!matches!(e, Error::OAuth { .. }));
    }
    assert!(matches!(reply(302, "<html>"), Err(Error::Protocol(_))));
    assert!(matches!(reply(200, "not json"), Err(Error::Protocol(_))));
}

#[test]
fn pkce_matches_rfc7636_and_generated_pairs_agree() {
    assert_eq!(
        s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    let a = Pkce::generate();
    let b = Pkce::generate();
    assert_eq!(a.verifier.expose_secret().len(), 43);
    assert_eq!(s256_challenge(a.verifier.expose_secret()), a.challenge);
    assert_ne!(a.challenge, b.challenge);
    assert!(!format!("{a:?}").contains(a.verifier.expose_secret()));
    assert_ne!(generate_state(), generate_state());
}

#[test]
fn authorize_url_carries_pkce_state_and_scopes() {
    let account = Account::new("myorg-acct", Some("http://127.0.0.1:9000")).unwrap();
    let url = authorize_url(
        &account,
        &AuthorizeRequest {
            client_id: "abc+/=",
            redirect_uri: "http://127.0.0.1:8765/cb",
            state: "st",
            code_challenge: "ch",
            role: Some("ANALYST"),
            offline_access: true,
        },
    )
    .unwrap();
    let parsed = url::Url::parse(&url).unwrap();
    assert_eq!(parsed.path(), "/oauth/authorize");
    let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "abc+/=");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], "http://127.0.0.1:8765/cb");
    assert_eq!(q["state"], "st");
    assert_eq!(q["code_challenge"], "ch");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "refresh_token session:role:ANALYST");

    let spaced = authorize_url(
        &account,
        &AuthorizeRequest {
            role: Some("MY ROLE"),
            offline_access: false,
            client_id: "c",
            redirect_uri: "r",
            state: "s",
            code_challenge: "c",
        },
    )
    .unwrap();
    let q: std::collections::HashMap<_, _> = url::Url::parse(&spaced)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    // `%20`, not `+`: percent-decoding and form-decoding both read it as a space.
    assert_eq!(q["scope"], "session:role-encoded:MY%20ROLE");
    let too_long = "x".repeat(2049);
    let err = authorize_url(
        &account,
        &AuthorizeRequest {
            state: &too_long,
            role: None,
            offline_access: false,
            client_id: "c",
            redirect_uri: "r",
            code_challenge: "c",
        },
    );
    assert!(err.is_err());
}

#[test]
fn basic_auth_urlencodes_id_and_secret_and_debug_hides_the_secret() {
    let creds = ClientCredentials {
        client_id: "id:1".into(),
        client_secret: SecretString::from("s3cr+t/=".to_owned()),
    };
    let basic = creds.basic();
    let encoded = basic.expose_secret().strip_prefix("Basic ").unwrap();
    let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
    assert_eq!(decoded, "id%3A1:s3cr%2Bt%2F%3D");
    let debug = format!("{creds:?}");
    assert!(!debug.contains("s3cr"), "{debug}");
    assert!(debug.contains("id:1"));
}

#[test]
fn a_malformed_token_answer_does_not_quote_its_values() {
    let err = reply(
        200,
        r#"{"access_token":"at-SECRET","expires_in":600,"refresh_token":42}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(!err.contains("SECRET") && !err.contains("42"), "{err}");
    assert!(err.contains("unexpected JSON shape"), "{err}");
}
