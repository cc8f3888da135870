//! Every error code and `error` value of reference §6.5 is produced by some request, so a
//! client tested against the emulator sees each of them.

use std::collections::BTreeSet;

use super::*;

/// The numeric codes §6.5 lists (390310 is not listed), plus 390318, the expiry code
/// the official Python connector handles.
const DOCUMENTED_CODES: [&str; 10] = [
    "390302", "390303", "390304", "390305", "390306", "390307", "390308", "390309", "390311",
    "390318",
];

const DOCUMENTED_ERRORS: [&str; 4] = [
    "invalid_client",
    "invalid_grant",
    "unsupported_grant_type",
    "invalid_request",
];

fn authorize_code_of(
    edit: impl FnOnce(&mut AuthorizeRequest),
    server: &mut OAuthServer,
) -> &'static str {
    let mut request = auth_request(None);
    edit(&mut request);
    authorize_error(server, &request).error.code()
}

#[test]
fn every_documented_numeric_code_is_produced() {
    let mut server = server_with(|_| {});
    let mut no_login = server_with(|i| i.auto_login_user = None);
    let mut produced = BTreeSet::new();
    produced.insert(
        authorize_error(&mut no_login, &auth_request(None))
            .error
            .code(),
    );
    produced.insert(authorize_code_of(
        |r| r.response_type = Some("token".into()),
        &mut server,
    ));
    produced.insert(authorize_code_of(
        |r| r.state = Some("x".repeat(2049)),
        &mut server,
    ));
    produced.insert(authorize_code_of(
        |r| r.client_id = Some("nobody".into()),
        &mut server,
    ));
    produced.insert(authorize_code_of(
        |r| r.redirect_uri = Some("http://evil.example/".into()),
        &mut server,
    ));
    produced.insert(authorize_code_of(
        |r| r.scope = Some("openid".into()),
        &mut server,
    ));
    produced.insert(authorize_code_of(
        |r| r.code_challenge_method = Some("plain".into()),
        &mut server,
    ));

    let tokens = login(&mut server, &directory(), false);
    let token = tokens.access_token.expose();
    for result in [
        server.validate_access_token("emuoat_unknown", t0()),
        server.validate_access_token_for_login(token, Some("SOMEONE_ELSE"), t0()),
        server.validate_access_token(token, at(600)),
    ] {
        produced.insert(result.expect_err("refused").code());
    }
    assert_eq!(produced, DOCUMENTED_CODES.into_iter().collect());
}

#[test]
fn every_documented_error_value_is_produced_with_http_400() {
    let mut server = server_with(|_| {});
    let dir = directory();
    let auth = basic(CLIENT_ID, SECRET);
    let grant = |g: &str| TokenRequest {
        grant_type: Some(g.into()),
        ..TokenRequest::default()
    };
    let failures = [
        server.token(&dir, &exchange("c"), Some(&basic(CLIENT_ID, "wrong")), t0()),
        server.token(&dir, &exchange("emuoac_unknown"), Some(&auth), t0()),
        server.token(&dir, &grant("client_credentials"), Some(&auth), t0()),
        server.token(&dir, &grant("refresh_token"), Some(&auth), t0()),
    ];
    let mut produced = BTreeSet::new();
    for failure in failures {
        let response = failure
            .expect_err("refused")
            .response(server.error_rendering());
        assert_eq!(response.status, http::StatusCode::BAD_REQUEST);
        assert_eq!(response.body["success"], false);
        assert_eq!(response.body["message"], response.body["error_description"]);
        produced.insert(
            response.body["error"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let expected: BTreeSet<String> = DOCUMENTED_ERRORS.iter().map(|e| (*e).to_owned()).collect();
    assert_eq!(produced, expected);
}
