//! `/oauth/token-request`: client authentication, the code exchange and its bindings,
//! unsupported grants, missing parameters; access-token use (390303, 390309).

use super::*;

#[test]
fn code_exchange_returns_documented_fields_and_a_usable_access_token() {
    let mut server = server_with(|_| {});
    let tokens = login(&mut server, &directory(), false);
    let body = tokens.to_json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["username"], "BI_SVC");
    assert_eq!(body["scope"], "refresh_token session:role:ANALYST");
    assert_eq!(body["refresh_token_expires_in"], 7_776_000);
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(looks_like_access_token(tokens.access_token.expose()));

    let session = server
        .validate_access_token(tokens.access_token.expose(), at(599))
        .expect("valid");
    assert_eq!(
        (session.user.as_str(), session.role.as_str()),
        ("BI_SVC", "ANALYST")
    );
    assert_eq!(session.integration, "BI_APP");
    assert_eq!(
        server.validate_access_token(tokens.access_token.expose(), at(600)),
        Err(AccessTokenError::Expired),
        "access tokens live 10 minutes"
    );
}

#[test]
fn token_response_debug_hides_tokens() {
    let mut server = server_with(|_| {});
    let tokens = login(&mut server, &directory(), false);
    let shown = format!("{tokens:?}");
    assert!(!shown.contains(tokens.access_token.expose()), "{shown}");
    let refresh = tokens.refresh_token.as_ref().expect("refresh token");
    assert!(!shown.contains(refresh.expose()), "{shown}");
}

#[test]
fn access_token_validity_follows_the_integration() {
    let mut server = server_with(|i| i.access_token_validity_seconds = 3600);
    let tokens = login(&mut server, &directory(), false);
    assert_eq!(tokens.expires_in, 3600);
    assert!(
        server
            .validate_access_token(tokens.access_token.expose(), at(3599))
            .is_ok()
    );
}

#[test]
fn no_refresh_token_without_offline_access_or_when_disabled() {
    let mut server = server_with(|_| {});
    let tokens = login_with_scope(&mut server, &directory(), "session:role:ANALYST");
    assert!(tokens.refresh_token.is_none() && tokens.to_json().get("refresh_token").is_none());

    let mut server = server_with(|i| i.issue_refresh_tokens = false);
    assert!(
        login(&mut server, &directory(), false)
            .refresh_token
            .is_none()
    );
}

#[test]
fn client_authentication_failures_are_invalid_client() {
    let mut server = server_with(|_| {});
    let code = authorize_code(&mut server, &directory(), &auth_request(None));
    let cases = [
        (None, InvalidClientReason::MissingCredentials),
        (
            Some("Bearer abc".to_owned()),
            InvalidClientReason::MalformedCredentials,
        ),
        (
            Some(format!("Basic {}", STANDARD.encode("bi client:s3cr t/="))),
            InvalidClientReason::WrongSecret,
        ),
        (
            Some(basic("nobody", SECRET)),
            InvalidClientReason::UnknownClient,
        ),
        (
            Some(basic(CLIENT_ID, "wrong")),
            InvalidClientReason::WrongSecret,
        ),
        (
            Some(basic("other-client", "wrong")),
            InvalidClientReason::WrongSecret,
        ),
    ];
    for (header, reason) in cases {
        let result = server.token(&directory(), &exchange(&code), header.as_deref(), t0());
        assert_eq!(
            result.map(|_| ()),
            Err(TokenError::InvalidClient(reason)),
            "{header:?}"
        );
    }
    let err = TokenError::InvalidClient(InvalidClientReason::WrongSecret);
    let body = err.response(server.error_rendering()).body;
    assert_eq!(body["error"], "invalid_client");
    // The official Python connector sends id and secret without urlencoding: accepted.
    let raw = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{SECRET}")));
    let result = server.token(&directory(), &TokenRequest::default(), Some(&raw), t0());
    assert_eq!(
        result.map(|_| ()),
        Err(TokenError::InvalidRequest("grant_type")),
        "authenticated"
    );
    // The code survived the failed attempts: client authentication comes first.
    assert!(
        server
            .token(
                &directory(),
                &exchange(&code),
                Some(&basic(CLIENT_ID, SECRET_2)),
                t0()
            )
            .is_ok()
    );
}

#[test]
fn disabled_integration_refuses_clients() {
    let mut server = server_with(|i| i.enabled = false);
    let result = server.token(
        &directory(),
        &exchange("x"),
        Some(&basic(CLIENT_ID, SECRET)),
        t0(),
    );
    assert_eq!(
        result.map(|_| ()),
        Err(TokenError::InvalidClient(
            InvalidClientReason::IntegrationDisabled
        ))
    );
}

#[test]
fn unknown_grant_types_and_missing_parameters() {
    let mut server = server_with(|_| {});
    let auth = basic(CLIENT_ID, SECRET);
    for grant in [
        "client_credentials",
        "password",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ] {
        let request = TokenRequest {
            grant_type: Some(grant.into()),
            ..TokenRequest::default()
        };
        let err = server
            .token(&directory(), &request, Some(&auth), t0())
            .expect_err(grant);
        assert_eq!(err, TokenError::UnsupportedGrantType);
        assert_eq!(
            err.response(server.error_rendering()).body["error"],
            "unsupported_grant_type"
        );
    }
    let missing = [
        (TokenRequest::default(), "grant_type"),
        (
            TokenRequest {
                code: None,
                ..exchange("c")
            },
            "code",
        ),
        (
            TokenRequest {
                redirect_uri: None,
                ..exchange("c")
            },
            "redirect_uri",
        ),
        (
            TokenRequest {
                refresh_token: None,
                ..refresh(&Secret::new("r"))
            },
            "refresh_token",
        ),
    ];
    for (request, field) in missing {
        let err = server
            .token(&directory(), &request, Some(&auth), t0())
            .expect_err(field);
        assert_eq!(err, TokenError::InvalidRequest(field));
        assert_eq!(
            err.response(server.error_rendering()).body["error"],
            "invalid_request"
        );
    }
}

#[test]
fn codes_are_one_time_and_a_replay_revokes_what_they_issued() {
    let mut server = server_with(|_| {});
    let dir = directory();
    let auth = basic(CLIENT_ID, SECRET);
    let code = authorize_code(&mut server, &dir, &auth_request(Some("refresh_token")));
    let tokens = server
        .token(&dir, &exchange(&code), Some(&auth), t0())
        .expect("first use");
    let replay = server.token(&dir, &exchange(&code), Some(&auth), at(1));
    assert_eq!(grant_error(replay), InvalidGrantReason::InvalidCode);
    assert_eq!(
        server.validate_access_token(tokens.access_token.expose(), at(2)),
        Err(AccessTokenError::Invalid)
    );
    let refresh_token = tokens.refresh_token.expect("refresh token");
    assert_eq!(
        grant_error(server.token(&dir, &refresh(&refresh_token), Some(&auth), at(3))),
        InvalidGrantReason::InvalidRefreshToken
    );
}

#[test]
fn codes_expire_and_belong_to_their_client() {
    let mut server = server_with(|_| {});
    let dir = directory();
    let code = authorize_code(&mut server, &dir, &auth_request(None));
    let other = server.token(
        &dir,
        &exchange(&code),
        Some(&basic("other-client", SECRET)),
        t0(),
    );
    assert_eq!(grant_error(other), InvalidGrantReason::InvalidCode);
    let late = server.token(
        &dir,
        &exchange(&code),
        Some(&basic(CLIENT_ID, SECRET)),
        at(600),
    );
    assert_eq!(grant_error(late), InvalidGrantReason::InvalidCode);
    let unknown = server.token(
        &dir,
        &exchange("emuoac_nope"),
        Some(&basic(CLIENT_ID, SECRET)),
        t0(),
    );
    assert_eq!(grant_error(unknown), InvalidGrantReason::InvalidCode);
}

#[test]
fn code_is_bound_to_redirect_uri_and_pkce_verifier_and_burnt_by_misuse() {
    let dir = directory();
    let auth = basic(CLIENT_ID, SECRET);
    type Case = (fn(&mut TokenRequest), InvalidGrantReason);
    let cases: [Case; 4] = [
        (
            |r| r.redirect_uri = Some(format!("{REDIRECT}?x=1")),
            InvalidGrantReason::RedirectUriMismatch,
        ),
        (
            |r| r.code_verifier = None,
            InvalidGrantReason::CodeVerifierMismatch,
        ),
        (
            |r| r.code_verifier = Some(Secret::new("x".repeat(43))),
            InvalidGrantReason::CodeVerifierMismatch,
        ),
        (
            |r| r.code_verifier = Some(Secret::new("short")),
            InvalidGrantReason::CodeVerifierMismatch,
        ),
    ];
    for (edit, reason) in cases {
        let mut server = server_with(|_| {});
        let code = authorize_code(&mut server, &dir, &auth_request(None));
        let mut request = exchange(&code);
        edit(&mut request);
        assert_eq!(
            grant_error(server.token(&dir, &request, Some(&auth), t0())),
            reason
        );
        let retry = server.token(&dir, &exchange(&code), Some(&auth), t0());
        assert_eq!(
            grant_error(retry),
            InvalidGrantReason::InvalidCode,
            "burnt after {reason:?}"
        );
    }
    // A verifier sent for a code that had no challenge is refused too.
    let mut server = server_with(|_| {});
    let mut plain = auth_request(None);
    plain.code_challenge = None;
    plain.code_challenge_method = None;
    let code = authorize_code(&mut server, &dir, &plain);
    let result = server.token(&dir, &exchange(&code), Some(&auth), t0());
    assert_eq!(
        grant_error(result),
        InvalidGrantReason::CodeVerifierMismatch
    );
}

#[test]
fn code_exchange_rechecks_user_and_role() {
    let auth = basic(CLIENT_ID, SECRET);
    let mut server = server_with(|_| {});
    let mut dir = directory();
    let code = authorize_code(&mut server, &dir, &auth_request(None));
    if let Some(user) = dir.user_mut("BI_SVC") {
        user.disabled = true;
    }
    let result = server.token(&dir, &exchange(&code), Some(&auth), t0());
    assert_eq!(grant_error(result), InvalidGrantReason::UserUnavailable);

    let mut dir = directory();
    let code = authorize_code(
        &mut server,
        &dir,
        &auth_request(Some("session:role:REPORTER")),
    );
    if let Some(user) = dir.user_mut("BI_SVC") {
        user.granted_roles.remove("REPORTER");
    }
    let result = server.token(&dir, &exchange(&code), Some(&auth), t0());
    assert_eq!(grant_error(result), InvalidGrantReason::RoleUnavailable);
}

#[test]
fn driver_login_with_another_user_name_gets_390309() {
    let mut server = server_with(|_| {});
    let tokens = login(&mut server, &directory(), false);
    let token = tokens.access_token.expose();
    assert!(
        server
            .validate_access_token_for_login(token, Some("bi_svc"), t0())
            .is_ok()
    );
    assert!(
        server
            .validate_access_token_for_login(token, None, t0())
            .is_ok()
    );
    let err = server
        .validate_access_token_for_login(token, Some("SOMEONE_ELSE"), t0())
        .expect_err("mismatch");
    assert_eq!(err.code(), "390309");
    let err = server
        .validate_access_token("emuoat_forged", t0())
        .expect_err("unknown");
    assert_eq!(err.code(), "390303");
    let expired = server
        .validate_access_token(token, at(600))
        .expect_err("expired");
    assert_eq!(expired.code(), "390318");
    // Still "expired" after unrelated traffic pruned the server's state.
    let _ = server.token(&directory(), &TokenRequest::default(), None, at(700));
    assert_eq!(
        server.validate_access_token(token, at(700)),
        Err(AccessTokenError::Expired)
    );
}
