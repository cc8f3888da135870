//! The refresh grant: plain and single-use chains, replay detection, expiry, revocation,
//! and the admin snapshot.

use super::*;

#[test]
fn plain_refresh_returns_only_an_access_token_and_keeps_the_refresh_token() {
    let mut server = server_with(|_| {});
    let dir = directory();
    let auth = basic(CLIENT_ID, SECRET);
    let first = login(&mut server, &dir, false);
    let refresh_token = first.refresh_token.clone().expect("refresh token");
    for step in 1..=3 {
        let next = server
            .token(&dir, &refresh(&refresh_token), Some(&auth), at(step * 100))
            .expect("refresh");
        assert!(next.refresh_token.is_none() && next.username.is_none());
        assert!(
            server
                .validate_access_token(next.access_token.expose(), at(step * 100))
                .is_ok()
        );
    }
    assert!(
        server
            .validate_access_token(first.access_token.expose(), at(300))
            .is_ok(),
        "earlier access tokens live on until they expire"
    );
}

#[test]
fn refresh_tokens_expire_after_their_validity() {
    let mut server = server_with(|i| i.refresh_token_validity_seconds = 86_400);
    let dir = directory();
    let auth = basic(CLIENT_ID, SECRET);
    let tokens = login(&mut server, &dir, false);
    let refresh_token = tokens.refresh_token.expect("refresh token");
    assert!(
        server
            .token(&dir, &refresh(&refresh_token), Some(&auth), at(86_399))
            .is_ok()
    );
    let late = server.token(&dir, &refresh(&refresh_token), Some(&auth), at(86_400));
    assert_eq!(grant_error(late), InvalidGrantReason::InvalidRefreshToken);
}

#[test]
fn single_use_refresh_rotates_and_kills_everything_earlier() {
    let mut server = server_with(|_| {});
    let dir = directory();
    let auth = basic(CLIENT_ID, SECRET);
    let first = login(&mut server, &dir, true);
    let rt1 = first.refresh_token.clone().expect("refresh token");
    let second = server
        .token(&dir, &refresh(&rt1), Some(&auth), at(60))
        .expect("refresh");
    let rt2 = second
        .refresh_token
        .clone()
        .expect("a new refresh token every time");
    assert_ne!(rt1, rt2);
    assert_eq!(second.refresh_token_expires_in, Some(7_776_000));
    assert_eq!(
        server.validate_access_token(first.access_token.expose(), at(61)),
        Err(AccessTokenError::Invalid),
        "earlier access tokens die"
    );
    assert!(
        server
            .validate_access_token(second.access_token.expose(), at(61))
            .is_ok()
    );
    let third = server
        .token(&dir, &refresh(&rt2), Some(&auth), at(120))
        .expect("chain goes on");
    assert!(third.refresh_token.is_some());
}

#[test]
fn replaying_a_used_refresh_token_revokes_the_whole_chain() {
    let mut server = server_with(|i| i.single_use_refresh_tokens_required = true);
    let dir = directory();
    let auth = basic(CLIENT_ID, SECRET);
    let first = login(&mut server, &dir, false);
    let rt1 = first.refresh_token.clone().expect("refresh token");
    let second = server
        .token(&dir, &refresh(&rt1), Some(&auth), at(60))
        .expect("refresh");
    let rt2 = second.refresh_token.clone().expect("rotated");

    let replay = server.token(&dir, &refresh(&rt1), Some(&auth), at(90));
    assert_eq!(
        grant_error(replay),
        InvalidGrantReason::RefreshTokenReplayed
    );
    let err = TokenError::InvalidGrant(InvalidGrantReason::RefreshTokenReplayed);
    assert_eq!(
        err.response(server.error_rendering()).body["error"],
        "invalid_grant"
    );
    assert_eq!(
        server.validate_access_token(second.access_token.expose(), at(91)),
        Err(AccessTokenError::Invalid),
        "live access token revoked"
    );
    let newest = server.token(&dir, &refresh(&rt2), Some(&auth), at(92));
    assert_eq!(
        grant_error(newest),
        InvalidGrantReason::InvalidRefreshToken,
        "newest refresh token revoked"
    );

    // Other chains of the same user are unaffected.
    let other = login(&mut server, &dir, false);
    assert!(
        server
            .validate_access_token(other.access_token.expose(), t0())
            .is_ok()
    );
}

#[test]
fn refresh_is_refused_to_other_clients_disabled_users_and_revoked_roles() {
    let mut server = server_with(|_| {});
    let mut dir = directory();
    let tokens = login(&mut server, &dir, false);
    let rt = tokens.refresh_token.expect("refresh token");
    let foreign = server.token(
        &dir,
        &refresh(&rt),
        Some(&basic("other-client", SECRET)),
        t0(),
    );
    assert_eq!(
        grant_error(foreign),
        InvalidGrantReason::InvalidRefreshToken
    );
    let forged = server.token(
        &dir,
        &refresh(&Secret::new("emuort_x")),
        Some(&basic(CLIENT_ID, SECRET)),
        t0(),
    );
    assert_eq!(grant_error(forged), InvalidGrantReason::InvalidRefreshToken);

    if let Some(user) = dir.user_mut("BI_SVC") {
        user.granted_roles.remove("ANALYST");
    }
    let no_role = server.token(&dir, &refresh(&rt), Some(&basic(CLIENT_ID, SECRET)), t0());
    assert_eq!(grant_error(no_role), InvalidGrantReason::RoleUnavailable);
    if let Some(user) = dir.user_mut("BI_SVC") {
        user.disabled = true;
    }
    let disabled = server.token(&dir, &refresh(&rt), Some(&basic(CLIENT_ID, SECRET)), t0());
    assert_eq!(grant_error(disabled), InvalidGrantReason::UserUnavailable);
}

#[test]
fn revoking_a_users_authorizations_kills_their_tokens() {
    let mut server = server_with(|_| {});
    let dir = directory();
    let tokens = login(&mut server, &dir, false);
    assert_eq!(server.revoke_user_tokens("SOMEONE_ELSE", None), 0);
    assert_eq!(server.revoke_user_tokens("BI_SVC", Some("OTHER_APP")), 0);
    assert!(
        server
            .validate_access_token(tokens.access_token.expose(), t0())
            .is_ok()
    );
    assert_eq!(server.revoke_user_tokens("BI_SVC", Some("BI_APP")), 1);
    assert_eq!(
        server.validate_access_token(tokens.access_token.expose(), t0()),
        Err(AccessTokenError::Invalid)
    );
    let rt = tokens.refresh_token.expect("refresh token");
    let refused = server.token(&dir, &refresh(&rt), Some(&basic(CLIENT_ID, SECRET)), t0());
    assert_eq!(
        grant_error(refused),
        InvalidGrantReason::InvalidRefreshToken
    );
}

#[test]
fn snapshot_shows_hashes_and_expiries_but_no_credential() {
    let mut server = server_with(|i| i.single_use_refresh_tokens_required = true);
    let dir = directory();
    let tokens = login(&mut server, &dir, false);
    let rt = tokens.refresh_token.clone().expect("refresh token");
    server
        .token(&dir, &refresh(&rt), Some(&basic(CLIENT_ID, SECRET)), at(1))
        .expect("refresh");
    let snapshot = server.snapshot(at(2));
    let json = serde_json::to_string(&snapshot).expect("serializable");
    assert!(!json.contains(tokens.access_token.expose()) && !json.contains(rt.expose()));
    assert!(!json.contains(SECRET) && !json.contains(SECRET_2));
    let used = snapshot
        .refresh_tokens
        .get(&rt.hash())
        .expect("listed by hash");
    assert_eq!((used.status, used.user.as_str()), ("used", "BI_SVC"));
    assert_eq!(used.expires_at, t0() + SignedDuration::from_secs(7_776_000));
    assert_eq!(
        snapshot.access_tokens.len(),
        1,
        "the first access token died with the refresh"
    );
    assert_eq!(snapshot.authorization_codes.len(), 1);
    assert!(snapshot.authorization_codes.values().all(|c| c.redeemed));
}

#[test]
fn expired_state_is_pruned() {
    let mut server = server_with(|_| {});
    let dir = directory();
    login(&mut server, &dir, false);
    let later = at(7_776_000);
    let _ = server.token(
        &dir,
        &TokenRequest::default(),
        Some(&basic(CLIENT_ID, SECRET)),
        later,
    );
    let snapshot = server.snapshot(later);
    assert!(snapshot.access_tokens.is_empty() && snapshot.refresh_tokens.is_empty());
    assert!(snapshot.authorization_codes.is_empty());
}
