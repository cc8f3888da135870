//! The emulator's SQL engine, in process: every statement kind, its errors, and the
//! PAT rules of the reference (cap, rotation, role restriction, network policy).

mod emulator_support;

use emulator_support::{admin, emulator, principal};
use jiff::SignedDuration;
use snowflake_token_operator::emulator::sql::Cell;
use snowflake_token_operator::emulator::state::PatStatus;
use snowflake_token_operator::emulator::{
    AccountState, AuthMethod, Emulator, EmulatorConfig, Principal, ResultSet,
};

fn run(emulator: &Emulator, who: &Principal, sql: &str) -> ResultSet {
    emulator
        .execute(who, sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn text<'a>(result: &'a ResultSet, row: usize, column: &str) -> Option<&'a str> {
    result.get(row, column).and_then(Cell::wire_value)
}

fn secret_of(result: &ResultSet) -> String {
    text(result, 0, "token_secret")
        .expect("a secret")
        .to_owned()
}

fn authenticate_pat(emulator: &Emulator, secret: &str) -> Result<Principal, String> {
    let auth = emulator
        .authenticate_bearer(
            Some(&format!("Bearer {secret}")),
            Some("PROGRAMMATIC_ACCESS_TOKEN"),
        )
        .map_err(|e| e.code.to_owned())?;
    emulator
        .session_principal(auth, None)
        .map_err(|e| e.code.to_owned())
}

#[test]
fn context_functions_in_any_combination() {
    let emulator = emulator();
    let result = run(
        &emulator,
        &admin(),
        "SELECT CURRENT_ROLE(), current_user() AS who, CURRENT_ACCOUNT() \"acct\"",
    );
    assert_eq!(text(&result, 0, "CURRENT_ROLE()"), Some("USERADMIN"));
    assert_eq!(text(&result, 0, "WHO"), Some("OPERATOR_ADMIN"));
    assert_eq!(text(&result, 0, "acct"), Some("XY12345"));
}

#[test]
fn user_lifecycle_create_alter_describe_grant_drop() {
    let emulator = emulator();
    let admin = admin();
    let created = run(
        &emulator,
        &admin,
        "CREATE USER IF NOT EXISTS \"etl_svc\" TYPE = SERVICE DEFAULT_ROLE = \"LOADER\" \
         DEFAULT_WAREHOUSE = wh DEFAULT_NAMESPACE = db.sch COMMENT = 'it''s \\\\ -- ; \u{e9}' \
         NETWORK_POLICY = CORP_NP DISABLED = FALSE",
    );
    assert_eq!(
        text(&created, 0, "status"),
        Some("User etl_svc successfully created.")
    );
    let again = run(&emulator, &admin, "CREATE USER IF NOT EXISTS \"etl_svc\"");
    assert_eq!(
        text(&again, 0, "status"),
        Some("etl_svc already exists, statement succeeded.")
    );
    let dup = emulator
        .execute(&admin, "CREATE USER \"etl_svc\"")
        .unwrap_err();
    assert_eq!((dup.code, dup.sql_state), ("002002", "42710"));

    let desc = run(&emulator, &admin, "DESC USER \"etl_svc\"");
    let property = |name: &str| {
        (0..desc.rows.len())
            .find(|row| text(&desc, *row, "property") == Some(name))
            .and_then(|row| text(&desc, row, "value"))
            .map(str::to_owned)
    };
    assert_eq!(property("TYPE").as_deref(), Some("SERVICE"));
    assert_eq!(property("COMMENT").as_deref(), Some("it's \\ -- ; \u{e9}"));
    assert_eq!(property("DEFAULT_NAMESPACE").as_deref(), Some("DB.SCH"));
    assert_eq!(property("RSA_PUBLIC_KEY_FP").as_deref(), Some("null"));

    let key = emulator_support::key(3);
    run(
        &emulator,
        &admin,
        &format!(
            "ALTER USER \"etl_svc\" SET RSA_PUBLIC_KEY = '{}' DISPLAY_NAME = 'ETL'",
            key.public_b64
        ),
    );
    let desc = run(&emulator, &admin, "DESCRIBE USER \"etl_svc\"");
    assert!(
        desc.rows
            .iter()
            .any(|row| row[1] == Cell::text(key.fingerprint.clone()))
    );
    run(
        &emulator,
        &admin,
        "ALTER USER \"etl_svc\" UNSET RSA_PUBLIC_KEY, COMMENT",
    );
    let snapshot = emulator.snapshot();
    let user = snapshot.user("etl_svc").expect("user");
    assert_eq!(user.key_fingerprints[0], None);
    assert_eq!(user.comment, None);

    run(&emulator, &admin, "GRANT ROLE LOADER TO USER \"etl_svc\"");
    let grants = run(&emulator, &admin, "SHOW GRANTS TO USER \"etl_svc\"");
    assert_eq!(
        grants
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [
            "created_on",
            "role",
            "granted_to",
            "grantee_name",
            "granted_by"
        ]
    );
    assert_eq!(text(&grants, 0, "role"), Some("LOADER"));
    assert_eq!(text(&grants, 0, "grantee_name"), Some("etl_svc"));
    run(
        &emulator,
        &admin,
        "REVOKE ROLE LOADER FROM USER \"etl_svc\"",
    );
    assert!(
        run(&emulator, &admin, "SHOW GRANTS TO USER \"etl_svc\"")
            .rows
            .is_empty()
    );

    let dropped = run(&emulator, &admin, "DROP USER \"etl_svc\"");
    assert_eq!(
        text(&dropped, 0, "status"),
        Some("etl_svc successfully dropped.")
    );
    let missing = emulator
        .execute(&admin, "DROP USER \"etl_svc\"")
        .unwrap_err();
    assert_eq!((missing.code, missing.sql_state), ("002003", "02000"));
    assert_eq!(
        missing.message,
        "SQL compilation error:\nUser 'etl_svc' does not exist or not authorized."
    );
    run(&emulator, &admin, "DROP USER IF EXISTS \"etl_svc\"");
    run(
        &emulator,
        &admin,
        "ALTER USER IF EXISTS \"etl_svc\" SET COMMENT = 'x'",
    );
}

#[test]
fn errors_have_snowflake_codes_and_never_crash() {
    let emulator = emulator();
    let admin = admin();
    let syntax = emulator.execute(&admin, "SELECT * FROM users").unwrap_err();
    assert_eq!((syntax.code, syntax.sql_state), ("001003", "42000"));
    assert_eq!(
        syntax.message,
        "SQL compilation error:\nsyntax error line 1 at position 7 unexpected '*'."
    );
    let second = emulator
        .execute(&admin, "DROP USER ALICE; DROP USER BI_SVC")
        .unwrap_err();
    assert_eq!(second.code, "000008");
    assert!(emulator.snapshot().user("ALICE").is_some(), "nothing ran");
    let role = emulator
        .execute(&admin, "GRANT ROLE NOPE TO USER ALICE")
        .unwrap_err();
    assert_eq!(role.code, "002003");
    let policy = emulator
        .execute(&admin, "ALTER USER ALICE SET NETWORK_POLICY = NOPE")
        .unwrap_err();
    assert_eq!(policy.code, "002003");
    let key = emulator
        .execute(
            &admin,
            "ALTER USER ALICE SET RSA_PUBLIC_KEY = 'bm90IGEga2V5'",
        )
        .unwrap_err();
    assert_eq!(key.code, "001008");
    let alice = principal("ALICE", "ANALYST");
    let forbidden = emulator.execute(&alice, "DROP USER BI_SVC").unwrap_err();
    assert_eq!((forbidden.code, forbidden.sql_state), ("003001", "42501"));
    assert_eq!(
        forbidden.message,
        "SQL access control error:\nInsufficient privileges to operate on user 'BI_SVC'"
    );
    for garbage in [
        "",
        ";",
        "'",
        "\"",
        "ALTER",
        "ALTER USER",
        "SHOW",
        "SELECT CURRENT_USER(",
        "\u{0}",
        "/*",
    ] {
        assert!(emulator.execute(&admin, garbage).is_err(), "{garbage:?}");
    }
}

#[test]
fn add_pat_returns_the_secret_once_and_stores_only_its_hash() {
    let emulator = emulator();
    let added = run(
        &emulator,
        &admin(),
        "ALTER USER BI_SVC ADD PROGRAMMATIC ACCESS TOKEN bi_token ROLE_RESTRICTION = 'ANALYST' \
         DAYS_TO_EXPIRY = 30 COMMENT = 'for BI'",
    );
    assert_eq!(text(&added, 0, "token_name"), Some("BI_TOKEN"));
    let secret = secret_of(&added);
    let shown = run(&emulator, &admin(), "SHOW USER PATS FOR USER BI_SVC");
    assert_eq!(
        shown
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [
            "name",
            "user_name",
            "role_restriction",
            "expires_at",
            "status",
            "comment",
            "created_on",
            "created_by",
            "mins_to_bypass_network_policy_requirement",
            "rotated_to"
        ]
    );
    assert_eq!(text(&shown, 0, "status"), Some("ACTIVE"));
    assert_eq!(text(&shown, 0, "created_by"), Some("OPERATOR_ADMIN"));
    assert!(!format!("{shown:?}").contains(&secret));
    let snapshot = emulator.snapshot();
    let json = serde_json::to_string(&snapshot).expect("serializes");
    assert!(!json.contains(&secret), "state never shows a secret");
    assert!(!format!("{snapshot:?}").contains(&secret));
    assert!(
        !format!("{added:?}").contains(&secret),
        "Debug of a result redacts secrets"
    );

    let session = authenticate_pat(&emulator, &secret).expect("PAT authenticates");
    assert_eq!(
        session.role, "ANALYST",
        "session runs as the restriction role"
    );
    assert_eq!(
        session.method,
        AuthMethod::Pat {
            token_name: "BI_TOKEN".into()
        }
    );

    let dup = emulator
        .execute(
            &admin(),
            "ALTER USER BI_SVC ADD PAT bi_token ROLE_RESTRICTION = 'ANALYST'",
        )
        .unwrap_err();
    assert_eq!(dup.code, "002002");
    let kept = run(
        &emulator,
        &admin(),
        "ALTER USER BI_SVC ADD PAT IF NOT EXISTS bi_token ROLE_RESTRICTION = 'ANALYST'",
    );
    assert_eq!(kept.get(0, "token_secret"), Some(&Cell::Null));
    assert!(
        authenticate_pat(&emulator, &secret).is_ok(),
        "IF NOT EXISTS keeps the old secret"
    );
}

#[test]
fn at_most_fifteen_tokens_disabled_count_expired_do_not() {
    let emulator = emulator();
    let admin = admin();
    for i in 0..14 {
        run(
            &emulator,
            &admin,
            &format!("ALTER USER ALICE ADD PAT t{i} DAYS_TO_EXPIRY = 1"),
        );
    }
    run(
        &emulator,
        &admin,
        "ALTER USER ALICE ADD PAT long_lived DAYS_TO_EXPIRY = 30",
    );
    run(
        &emulator,
        &admin,
        "ALTER USER ALICE MODIFY PAT t0 SET DISABLED = TRUE",
    );
    let full = emulator
        .execute(&admin, "ALTER USER ALICE ADD PAT one_more")
        .unwrap_err();
    assert_eq!(full.code, "001008");
    assert!(full.message.contains("maximum number"), "{}", full.message);

    emulator.clock().advance(SignedDuration::from_hours(25));
    let shown = run(&emulator, &admin, "SHOW USER PATS FOR USER ALICE");
    let status_of = |name: &str| {
        (0..shown.rows.len())
            .find(|r| text(&shown, *r, "name") == Some(name))
            .and_then(|r| text(&shown, r, "status"))
            .map(str::to_owned)
    };
    assert_eq!(status_of("T1").as_deref(), Some("EXPIRED"));
    assert_eq!(status_of("T0").as_deref(), Some("DISABLED"));
    run(&emulator, &admin, "ALTER USER ALICE ADD PAT one_more");
}

#[test]
fn rotate_keeps_the_name_and_the_old_secret_works_for_the_grace_period() {
    let emulator = emulator();
    let admin = admin();
    let added = run(
        &emulator,
        &admin,
        "ALTER USER BI_SVC ADD PAT tok ROLE_RESTRICTION = ANALYST DAYS_TO_EXPIRY = 10",
    );
    let old_secret = secret_of(&added);
    let rotated_at = emulator.clock().now();
    let rotated = run(
        &emulator,
        &admin,
        "ALTER USER BI_SVC ROTATE PAT tok EXPIRE_ROTATED_TOKEN_AFTER_HOURS = 2",
    );
    let new_secret = secret_of(&rotated);
    assert_ne!(new_secret, old_secret);
    assert_eq!(text(&rotated, 0, "token_name"), Some("TOK"));
    let rotated_name = text(&rotated, 0, "rotated_token_name")
        .expect("rotated name")
        .to_owned();
    let epoch_ms: i64 = rotated_name
        .strip_prefix("TOK_ROTATED_")
        .and_then(|ms| ms.parse().ok())
        .expect("<NAME>_ROTATED_<epoch_ms>");
    assert!((epoch_ms - rotated_at.as_millisecond()).abs() < 5_000);

    let snapshot = emulator.snapshot();
    let pats = &snapshot.user("BI_SVC").expect("user").pats;
    let old = pats
        .iter()
        .find(|p| p.name == rotated_name)
        .expect("rotated token listed");
    assert_eq!(old.rotated_to.as_deref(), Some("TOK"));
    let grace = old.expires_at.duration_since(rotated_at);
    assert!(
        grace >= SignedDuration::from_hours(2)
            && grace < SignedDuration::from_hours(2) + SignedDuration::from_secs(5)
    );

    assert!(
        authenticate_pat(&emulator, &old_secret).is_ok(),
        "old secret valid during grace"
    );
    assert!(authenticate_pat(&emulator, &new_secret).is_ok());
    emulator.clock().advance(SignedDuration::from_mins(121));
    assert_eq!(
        authenticate_pat(&emulator, &old_secret),
        Err("394400".into())
    );
    assert!(authenticate_pat(&emulator, &new_secret).is_ok());

    let too_long = emulator
        .execute(
            &admin,
            "ALTER USER BI_SVC ROTATE PAT tok EXPIRE_ROTATED_TOKEN_AFTER_HOURS = 1000",
        )
        .unwrap_err();
    assert_eq!(too_long.code, "001008");
    let rotate_rotated = emulator
        .execute(
            &admin,
            &format!("ALTER USER BI_SVC ROTATE PAT {rotated_name}"),
        )
        .unwrap_err();
    assert_eq!(rotate_rotated.code, "001008");
    let removed = run(
        &emulator,
        &admin,
        &format!("ALTER USER BI_SVC REMOVE PAT {rotated_name}"),
    );
    assert_eq!(
        text(&removed, 0, "status").map(str::to_owned),
        Some(format!(
            "Programmatic access token {rotated_name} successfully removed."
        ))
    );
}

#[test]
fn service_users_need_a_granted_role_restriction_and_a_network_policy() {
    let emulator = emulator();
    let admin = admin();
    let missing = emulator
        .execute(&admin, "ALTER USER BI_SVC ADD PAT t")
        .unwrap_err();
    assert!(
        missing.message.contains("ROLE_RESTRICTION is required"),
        "{}",
        missing.message
    );
    let ungranted = emulator
        .execute(
            &admin,
            "ALTER USER BI_SVC ADD PAT t ROLE_RESTRICTION = 'UNGRANTED'",
        )
        .unwrap_err();
    assert!(
        ungranted.message.contains("not granted"),
        "{}",
        ungranted.message
    );
    let unknown = emulator
        .execute(
            &admin,
            "ALTER USER BI_SVC ADD PAT t ROLE_RESTRICTION = 'NOPE'",
        )
        .unwrap_err();
    assert_eq!(unknown.code, "002003");
    let no_policy = emulator
        .execute(
            &admin,
            "ALTER USER NOPOL_SVC ADD PAT t ROLE_RESTRICTION = 'ANALYST'",
        )
        .unwrap_err();
    assert_eq!(no_policy.code, "390432");

    // PERSON users may generate without a policy but need one (or a bypass) to use it.
    let plain = secret_of(&run(&emulator, &admin, "ALTER USER ALICE ADD PAT plain"));
    assert_eq!(authenticate_pat(&emulator, &plain), Err("390432".into()));
    let bypass = secret_of(&run(
        &emulator,
        &admin,
        "ALTER USER ALICE ADD PAT bypass MINS_TO_BYPASS_NETWORK_POLICY_REQUIREMENT = 30",
    ));
    let session = authenticate_pat(&emulator, &bypass).expect("bypass window");
    assert_eq!(session.role, "ANALYST", "no restriction: default role");
    emulator.clock().advance(SignedDuration::from_mins(31));
    assert_eq!(authenticate_pat(&emulator, &bypass), Err("390432".into()));

    // Revoking the restriction role breaks the token.
    let token = secret_of(&run(
        &emulator,
        &admin,
        "ALTER USER BI_SVC ADD PAT t ROLE_RESTRICTION = 'LOADER'",
    ));
    assert!(authenticate_pat(&emulator, &token).is_ok());
    run(&emulator, &admin, "REVOKE ROLE LOADER FROM USER BI_SVC");
    assert_eq!(authenticate_pat(&emulator, &token), Err("394400".into()));
}

#[test]
fn a_pat_session_cannot_manage_pats_and_people_manage_their_own() {
    let emulator = emulator();
    let alice = principal("ALICE", "ANALYST");
    let own = run(&emulator, &alice, "ALTER USER ADD PAT mine");
    let pat_session = Principal {
        method: AuthMethod::Pat {
            token_name: "MINE".into(),
        },
        ..alice.clone()
    };
    let refused = emulator
        .execute(&pat_session, "ALTER USER ADD PAT another")
        .unwrap_err();
    assert_eq!((refused.code, refused.sql_state), ("003001", "42501"));
    let refused = emulator
        .execute(&pat_session, "ALTER USER REMOVE PAT mine")
        .unwrap_err();
    assert_eq!(refused.code, "003001");
    assert_eq!(run(&emulator, &pat_session, "SHOW USER PATS").rows.len(), 1);
    let others = emulator
        .execute(
            &alice,
            "ALTER USER BI_SVC ADD PAT x ROLE_RESTRICTION = 'ANALYST'",
        )
        .unwrap_err();
    assert_eq!(others.code, "003001");
    assert!(!secret_of(&own).is_empty());
}

#[test]
fn modify_disable_rename_and_disabling_the_user() {
    let emulator = emulator();
    let admin = admin();
    let secret = secret_of(&run(
        &emulator,
        &admin,
        "ALTER USER BI_SVC ADD PAT a ROLE_RESTRICTION = 'ANALYST'",
    ));
    run(
        &emulator,
        &admin,
        "ALTER USER BI_SVC MODIFY PAT a SET DISABLED = TRUE COMMENT = 'off'",
    );
    assert_eq!(authenticate_pat(&emulator, &secret), Err("394400".into()));
    run(
        &emulator,
        &admin,
        "ALTER USER BI_SVC MODIFY PAT a UNSET DISABLED, COMMENT",
    );
    assert!(authenticate_pat(&emulator, &secret).is_ok());
    run(
        &emulator,
        &admin,
        "ALTER USER BI_SVC MODIFY PAT a RENAME TO b",
    );
    let session = authenticate_pat(&emulator, &secret).expect("rename keeps the secret");
    assert_eq!(
        session.method,
        AuthMethod::Pat {
            token_name: "B".into()
        }
    );
    let missing = emulator
        .execute(&admin, "ALTER USER BI_SVC MODIFY PAT a SET COMMENT = 'x'")
        .unwrap_err();
    assert_eq!(missing.code, "002003");
    run(
        &emulator,
        &admin,
        "ALTER USER BI_SVC MODIFY PAT IF EXISTS a SET COMMENT = 'x'",
    );

    run(&emulator, &admin, "ALTER USER BI_SVC SET DISABLED = TRUE");
    run(&emulator, &admin, "ALTER USER BI_SVC SET DISABLED = FALSE");
    let snapshot = emulator.snapshot();
    let pat = &snapshot.user("BI_SVC").expect("user").pats[0];
    assert_eq!(
        pat.status,
        PatStatus::Disabled,
        "tokens stay disabled after re-enabling the user"
    );
    assert_eq!(authenticate_pat(&emulator, &secret), Err("394400".into()));
}

#[test]
fn the_shipped_example_seed_loads() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/emulator/account.yaml");
    let config = EmulatorConfig::from_file(&path).expect("example parses");
    let state =
        AccountState::from_config(&config, jiff::Timestamp::now()).expect("example is valid");
    let admin = state.users.get("OPERATOR_ADMIN").expect("admin user");
    assert_eq!(
        admin.keys[0].as_ref().map(|k| k.fingerprint.as_str()),
        Some("SHA256:JE8LccMZV9DL+UyiIhL8EEBulVqd1O9hc6ZH/He1AEk=")
    );
}

#[test]
fn disabled_users_and_oauth_tokens_authenticate_as_snowflake_does() {
    use std::sync::Arc;

    use snowflake_token_operator::emulator::auth::{Authenticated, OAuthTokenValidator};
    use snowflake_token_operator::emulator::secret::TokenSecret;

    let emulator = emulator();
    let now = emulator.clock().now().as_second();
    let token = emulator_support::jwt("MYORG-TEST", "ALICE", &emulator_support::key(2), now);
    let bearer = format!("Bearer {token}");
    let session = emulator
        .authenticate_bearer(Some(&bearer), None)
        .expect("sniffed as a key-pair JWT");
    assert_eq!(session.method, AuthMethod::KeyPairJwt);
    run(&emulator, &admin(), "ALTER USER ALICE SET DISABLED = TRUE");
    let refused = emulator
        .authenticate_bearer(Some(&bearer), Some("KEYPAIR_JWT"))
        .unwrap_err();
    assert_eq!(refused.code, "390102");

    struct OneToken;
    impl OAuthTokenValidator for OneToken {
        fn validate(&self, token: &TokenSecret, _now: jiff::Timestamp) -> Option<Authenticated> {
            (token.expose() == "oauth-access-token").then(|| Authenticated {
                user: "BI_SVC".into(),
                method: AuthMethod::OAuth,
                forced_role: Some("ANALYST".into()),
            })
        }
    }
    let unknown = emulator
        .authenticate_bearer(Some("Bearer oauth-access-token"), Some("OAUTH"))
        .unwrap_err();
    assert_eq!(unknown.code, "390303", "no OAuth face plugged in yet");
    emulator.set_oauth_validator(Arc::new(OneToken));
    let session = emulator
        .authenticate_bearer(Some("Bearer oauth-access-token"), Some("OAUTH"))
        .expect("validated by the OAuth face");
    let principal = emulator.session_principal(session, None).expect("role");
    assert_eq!(
        (principal.user.as_str(), principal.role.as_str()),
        ("BI_SVC", "ANALYST")
    );
    let sniffed = emulator
        .authenticate_bearer(Some("Bearer oauth-access-token"), None)
        .expect("sniffed");
    assert_eq!(sniffed.method, AuthMethod::OAuth);
    assert_eq!(
        emulator
            .authenticate_bearer(Some("Bearer other"), Some("OAUTH"))
            .unwrap_err()
            .code,
        "390303"
    );
    assert!(!format!("{emulator:?}").contains("oauth-access-token"));
}

#[test]
fn expired_tokens_stay_listed_for_the_configured_window() {
    let emulator = emulator();
    let admin = admin();
    run(
        &emulator,
        &admin,
        "ALTER USER ALICE ADD PAT short DAYS_TO_EXPIRY = 1",
    );
    emulator
        .clock()
        .advance(SignedDuration::from_hours(24 + 6 * 24));
    let shown = run(&emulator, &admin, "SHOW USER PATS FOR USER ALICE");
    assert_eq!(text(&shown, 0, "status"), Some("EXPIRED"));
    emulator.clock().advance(SignedDuration::from_hours(25));
    assert!(
        run(&emulator, &admin, "SHOW USER PATS FOR USER ALICE")
            .rows
            .is_empty()
    );
}
