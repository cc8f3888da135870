//! `ALTER SECURITY INTEGRATION`: enabling and secret rotation.

use super::*;

#[test]
fn disabling_an_integration_stops_its_clients_and_tokens() {
    let mut server = server_with(|_| {});
    let tokens = login(&mut server, &directory(), false);
    server
        .set_integration_enabled("BI_APP", false)
        .expect("exists");
    assert_eq!(
        server.validate_access_token(tokens.access_token.expose(), t0()),
        Err(AccessTokenError::Invalid)
    );
    assert_eq!(
        authorize_error(&mut server, &auth_request(None))
            .error
            .code(),
        "390306"
    );
    server
        .set_integration_enabled("BI_APP", true)
        .expect("exists");
    assert!(
        server
            .validate_access_token(tokens.access_token.expose(), t0())
            .is_ok()
    );
    assert_eq!(
        server.set_integration_enabled("NOPE", true),
        Err(UnknownIntegration("NOPE".into()))
    );
}

#[test]
fn refreshing_one_secret_keeps_the_other_working() {
    let mut server = server_with(|_| {});
    let new_primary = server
        .refresh_client_secret("BI_APP", SecretSlot::Primary)
        .expect("exists");
    let token_request = TokenRequest::default();
    let authenticated = |server: &mut OAuthServer, secret: &str| {
        let result = server.token(
            &directory(),
            &token_request,
            Some(&basic(CLIENT_ID, secret)),
            t0(),
        );
        result.map(|_| ()) == Err(TokenError::InvalidRequest("grant_type"))
    };
    assert!(
        !authenticated(&mut server, SECRET),
        "old primary secret refused"
    );
    assert!(authenticated(&mut server, new_primary.expose()));
    assert!(
        authenticated(&mut server, SECRET_2),
        "secondary secret unaffected"
    );
    assert_ne!(new_primary.expose(), SECRET);
    assert_eq!(
        server
            .integration("BI_APP")
            .map(|i| i.client_secret.clone()),
        Some(new_primary)
    );
    assert!(
        server
            .refresh_client_secret("NOPE", SecretSlot::Secondary)
            .is_err()
    );
}
