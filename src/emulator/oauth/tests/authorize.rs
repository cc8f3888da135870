//! `/oauth/authorize`: success and every refusal (390302, 390304..390308, 390311).

use super::*;

#[test]
fn redirects_with_code_state_and_granted_scope() {
    let mut server = server_with(|_| {});
    let redirect = server
        .authorize(
            &directory(),
            &auth_request(Some("refresh_token session:role:REPORTER")),
            t0(),
        )
        .expect("authorized");
    let location = redirect.location();
    assert!(
        location.starts_with("http://127.0.0.1:8765/cb?"),
        "{location}"
    );
    assert!(query(location, "code").is_some_and(|c| !c.is_empty()));
    assert_eq!(query(location, "state").as_deref(), Some("xyz-state"));
    assert_eq!(
        query(location, "scope").as_deref(),
        Some("refresh_token session:role:REPORTER")
    );
    assert!(!format!("{redirect:?}").contains(&query(location, "code").unwrap_or_default()));
}

#[test]
fn redirect_uri_query_is_ignored_for_matching_and_kept_in_the_redirect() {
    let mut server = server_with(|_| {});
    let mut request = auth_request(None);
    request.redirect_uri = Some(format!("{REDIRECT}?tenant=a"));
    let redirect = server
        .authorize(&directory(), &request, t0())
        .expect("authorized");
    assert_eq!(query(redirect.location(), "tenant").as_deref(), Some("a"));
    assert!(
        query(redirect.location(), "scope").is_none(),
        "no scope echoed when none asked"
    );

    request.redirect_uri = Some("http://localhost:9000/alt".into());
    assert!(
        server.authorize(&directory(), &request, t0()).is_ok(),
        "alternate URI accepted"
    );
}

#[test]
fn unknown_or_disabled_client_gets_a_page_with_390306() {
    let mut server = server_with(|i| i.enabled = false);
    let failure = authorize_error(&mut server, &auth_request(None));
    assert_eq!(failure.error, AuthorizeError::UnknownClient);
    assert_eq!(failure.error.code(), "390306");
    assert!(
        failure.location().is_none(),
        "never redirect to an unverified client"
    );
    let page = failure.response(server.error_rendering());
    assert_eq!(page.status, http::StatusCode::BAD_REQUEST);
    assert_eq!(page.body["code"], "390306");

    let mut server = server_with(|_| {});
    let mut request = auth_request(None);
    request.client_id = None;
    assert_eq!(
        authorize_error(&mut server, &request).error.code(),
        "390306"
    );
}

#[test]
fn foreign_or_missing_redirect_uri_gets_a_page_with_390307() {
    let mut server = server_with(|_| {});
    for uri in [
        Some("http://evil.example/cb"),
        Some("http://127.0.0.1:8765/other"),
        Some("::"),
        None,
    ] {
        let mut request = auth_request(None);
        request.redirect_uri = uri.map(str::to_owned);
        let failure = authorize_error(&mut server, &request);
        assert_eq!(failure.error.code(), "390307", "{uri:?}");
        assert!(failure.location().is_none());
    }
}

#[test]
fn long_or_non_ascii_state_gets_390305() {
    let mut server = server_with(|_| {});
    let mut request = auth_request(None);
    request.state = Some("a".repeat(2048));
    assert!(
        server.authorize(&directory(), &request, t0()).is_ok(),
        "2048 is allowed"
    );
    for state in ["a".repeat(2049), "état".to_owned()] {
        request.state = Some(state);
        let failure = authorize_error(&mut server, &request);
        assert_eq!(failure.error.code(), "390305");
        assert!(failure.location().is_none(), "a bad state is not echoed");
    }
}

#[test]
fn wrong_response_type_is_redirected_with_390304() {
    let mut server = server_with(|_| {});
    let mut request = auth_request(None);
    request.response_type = Some("token".into());
    let failure = authorize_error(&mut server, &request);
    assert_eq!(failure.error.code(), "390304");
    let location = failure.location().expect("redirected");
    assert_eq!(
        query(&location, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(query(&location, "state").as_deref(), Some("xyz-state"));
    assert!(query(&location, "code").is_none());
}

#[test]
fn bad_scopes_and_unusable_roles_get_390308() {
    let mut server = server_with(|_| {});
    for (scope, expected) in [
        ("openid", None),
        ("session:role:ANALYST session:role:REPORTER", None),
        (
            "session:role:analyst",
            Some(AuthorizeError::RoleNotGranted("analyst".into())),
        ),
        (
            "session:role:NOT_MINE",
            Some(AuthorizeError::RoleNotGranted("NOT_MINE".into())),
        ),
        (
            "session:role:ACCOUNTADMIN",
            Some(AuthorizeError::RoleBlocked("ACCOUNTADMIN".into())),
        ),
        (
            "session:role:BLOCKED",
            Some(AuthorizeError::RoleBlocked("BLOCKED".into())),
        ),
    ] {
        let failure = authorize_error(&mut server, &auth_request(Some(scope)));
        assert_eq!(failure.error.code(), "390308", "{scope}");
        if let Some(expected) = expected {
            assert_eq!(failure.error, expected);
        }
        let location = failure.location().expect("redirected");
        assert_eq!(
            query(&location, "error").as_deref(),
            Some("invalid_scope"),
            "{scope}"
        );
    }
}

#[test]
fn privileged_roles_are_allowed_when_the_account_says_so() {
    let mut config = OAuthConfig {
        integrations: vec![integration()],
        ..OAuthConfig::default()
    };
    config.add_privileged_roles_to_blocked_list = false;
    let mut server = OAuthServer::new(config).expect("valid");
    let request = auth_request(Some("session:role:ACCOUNTADMIN"));
    assert!(server.authorize(&directory(), &request, t0()).is_ok());
}

#[test]
fn pkce_parameters_are_checked_and_enforced_with_390311() {
    let mut server = server_with(|_| {});
    let cases: [(Option<&str>, Option<&str>); 4] = [
        (Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), None),
        (None, Some("S256")),
        (
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            Some("plain"),
        ),
        (Some("too-short"), Some("S256")),
    ];
    for (challenge, method) in cases {
        let mut request = auth_request(None);
        request.code_challenge = challenge.map(str::to_owned);
        request.code_challenge_method = method.map(str::to_owned);
        assert_eq!(
            authorize_error(&mut server, &request).error.code(),
            "390311",
            "{challenge:?} {method:?}"
        );
    }
    let mut request = auth_request(None);
    request.code_challenge = None;
    request.code_challenge_method = None;
    assert!(
        server.authorize(&directory(), &request, t0()).is_ok(),
        "PKCE optional by default"
    );

    let mut enforcing = server_with(|i| i.enforce_pkce = true);
    let failure = authorize_error(&mut enforcing, &request);
    assert_eq!(failure.error.code(), "390311");
    assert_eq!(
        query(&failure.location().expect("redirected"), "error").as_deref(),
        Some("invalid_request")
    );
}

#[test]
fn login_and_consent_failures_get_390302() {
    let mut no_login = server_with(|i| i.auto_login_user = None);
    assert_eq!(
        authorize_error(&mut no_login, &auth_request(None))
            .error
            .code(),
        "390302"
    );

    let mut server = server_with(|_| {});
    let mut dir = directory();
    if let Some(user) = dir.user_mut("BI_SVC") {
        user.disabled = true;
    }
    let failure = server
        .authorize(&dir, &auth_request(None), t0())
        .expect_err("disabled user");
    assert_eq!(failure.error.code(), "390302");
    assert_eq!(
        query(&failure.location().expect("redirected"), "error").as_deref(),
        Some("access_denied")
    );

    let mut declining = server_with(|i| {
        i.auto_consent = false;
        i.pre_authorized_roles = vec!["REPORTER".into()];
    });
    let failure = authorize_error(&mut declining, &auth_request(Some("session:role:ANALYST")));
    assert_eq!(failure.error.code(), "390302");
    let pre_authorized = auth_request(Some("session:role:REPORTER"));
    assert!(
        declining
            .authorize(&directory(), &pre_authorized, t0())
            .is_ok()
    );
}

#[test]
fn default_role_is_used_without_a_role_scope() {
    let mut server = server_with(|_| {});
    let tokens = login_with_scope(&mut server, &directory(), "refresh_token");
    assert_eq!(tokens.scope, "refresh_token session:role:ANALYST");
    let session = server
        .validate_access_token(tokens.access_token.expose(), t0())
        .expect("valid");
    assert_eq!(session.role, "ANALYST");
}
