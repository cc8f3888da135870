//! Exact SQL text of every builder, and a property test that arbitrary user text stays
//! inside its quoted token.

use proptest::prelude::*;

use super::*;

#[test]
fn quoting_tables() {
    let idents = [
        ("BI_SVC", r#""BI_SVC""#),
        ("my user", r#""my user""#),
        (r#"a"b"#, r#""a""b""#),
        (
            r#"x"; DROP USER "ADMIN"; --"#,
            r#""x""; DROP USER ""ADMIN""; --""#,
        ),
        ("ünï", r#""ünï""#),
    ];
    for (input, want) in idents {
        assert_eq!(quote_ident(input).unwrap(), want, "{input}");
    }
    let literals = [
        ("plain", "'plain'"),
        ("it's", r"'it\'s'"),
        (r"back\slash", r"'back\\slash'"),
        (r"\'; DROP USER x; --", r"'\\\'; DROP USER x; --'"),
        ("line\nbreak", "'line\nbreak'"),
    ];
    for (input, want) in literals {
        assert_eq!(quote_literal(input).unwrap(), want, "{input}");
    }
    assert!(quote_ident("").is_err());
    assert!(quote_ident("a\0b").is_err());
    assert!(quote_ident(&"x".repeat(256)).is_err());
    assert!(quote_ident(&"x".repeat(255)).is_ok());
    assert!(quote_literal("a\0").is_err());
}

#[test]
fn statement_tables() {
    let props = [
        UserProperty::DefaultRole("ANALYST".into()),
        UserProperty::DefaultWarehouse("WH".into()),
        UserProperty::DefaultNamespace("DB.PUBLIC".into()),
        UserProperty::Comment("managed by 'op'".into()),
        UserProperty::NetworkPolicy("NP".into()),
        UserProperty::Disabled(false),
    ];
    let cases: Vec<(Result<String>, &str)> = vec![
        (
            Ok(select_identity()),
            "SELECT CURRENT_USER(), CURRENT_ROLE()",
        ),
        (
            create_service_user("BI_SVC", &props),
            r#"CREATE USER IF NOT EXISTS "BI_SVC" TYPE = SERVICE DEFAULT_ROLE = "ANALYST" DEFAULT_WAREHOUSE = "WH" DEFAULT_NAMESPACE = "DB"."PUBLIC" COMMENT = 'managed by \'op\'' NETWORK_POLICY = "NP" DISABLED = FALSE"#,
        ),
        (
            create_service_user("BI_SVC", &[]),
            r#"CREATE USER IF NOT EXISTS "BI_SVC" TYPE = SERVICE"#,
        ),
        (
            alter_user_set(
                "BI_SVC",
                &[
                    UserProperty::Disabled(true),
                    UserProperty::RsaPublicKey("MIIB+/=".into()),
                ],
            ),
            r#"ALTER USER "BI_SVC" SET DISABLED = TRUE RSA_PUBLIC_KEY = 'MIIB+/='"#,
        ),
        (
            alter_user_unset(
                "BI_SVC",
                &[UnsetProperty::Comment, UnsetProperty::NetworkPolicy],
            ),
            r#"ALTER USER "BI_SVC" UNSET COMMENT, NETWORK_POLICY"#,
        ),
        (
            grant_role("ANALYST", "BI_SVC"),
            r#"GRANT ROLE "ANALYST" TO USER "BI_SVC""#,
        ),
        (
            revoke_role("ANALYST", "BI_SVC"),
            r#"REVOKE ROLE "ANALYST" FROM USER "BI_SVC""#,
        ),
        (
            show_grants_to_user("BI_SVC"),
            r#"SHOW GRANTS TO USER "BI_SVC""#,
        ),
        (desc_user("BI_SVC"), r#"DESC USER "BI_SVC""#),
        (drop_user("BI_SVC"), r#"DROP USER IF EXISTS "BI_SVC""#),
        (
            add_pat(
                "BI_SVC",
                "PBI",
                &AddPatOptions {
                    role_restriction: Some("ANALYST"),
                    days_to_expiry: Some(30),
                    mins_to_bypass_network_policy_requirement: Some(10),
                    comment: Some("for Power BI"),
                },
            ),
            r#"ALTER USER "BI_SVC" ADD PROGRAMMATIC ACCESS TOKEN "PBI" ROLE_RESTRICTION = 'ANALYST' DAYS_TO_EXPIRY = 30 MINS_TO_BYPASS_NETWORK_POLICY_REQUIREMENT = 10 COMMENT = 'for Power BI'"#,
        ),
        (
            add_pat("BI_SVC", "PBI", &AddPatOptions::default()),
            r#"ALTER USER "BI_SVC" ADD PROGRAMMATIC ACCESS TOKEN "PBI""#,
        ),
        (
            rotate_pat("BI_SVC", "PBI", 24),
            r#"ALTER USER "BI_SVC" ROTATE PROGRAMMATIC ACCESS TOKEN "PBI" EXPIRE_ROTATED_TOKEN_AFTER_HOURS = 24"#,
        ),
        (
            remove_pat("BI_SVC", "PBI"),
            r#"ALTER USER "BI_SVC" REMOVE PROGRAMMATIC ACCESS TOKEN IF EXISTS "PBI""#,
        ),
        (
            set_pat_disabled("BI_SVC", "PBI", true),
            r#"ALTER USER "BI_SVC" MODIFY PROGRAMMATIC ACCESS TOKEN "PBI" SET DISABLED = TRUE"#,
        ),
        (
            show_pats("BI_SVC"),
            r#"SHOW USER PROGRAMMATIC ACCESS TOKENS FOR USER "BI_SVC""#,
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got.unwrap(), want);
    }
}

#[test]
fn out_of_range_pat_options_are_refused() {
    for days in [0, 366] {
        let opts = AddPatOptions {
            days_to_expiry: Some(days),
            ..Default::default()
        };
        assert!(add_pat("U", "T", &opts).is_err(), "{days}");
    }
    let opts = AddPatOptions {
        mins_to_bypass_network_policy_requirement: Some(1441),
        ..Default::default()
    };
    assert!(add_pat("U", "T", &opts).is_err());
    assert!(alter_user_set("U", &[]).is_err());
}

#[test]
fn pat_names_are_validated_and_uppercased() {
    assert_eq!(normalize_pat_name("pbi_gateway1").unwrap(), "PBI_GATEWAY1");
    assert_eq!(normalize_pat_name("_x").unwrap(), "_X");
    for bad in ["", "1abc", "a-b", "a b", "a\"b", "é"] {
        assert!(normalize_pat_name(bad).is_err(), "{bad:?}");
    }
}

/// A token of the SQL this module emits, as a Snowflake lexer would see it.
#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Ident(String),
    Literal(String),
    Punct(char),
}

/// A minimal lexer for the emitted subset: words, `"…"` identifiers with `""`, `'…'`
/// literals with backslash escapes and `''`, and punctuation. Comments (`--`, `/*`) and
/// `;` outside quotes are returned as punctuation so the test can see them.
fn lex(sql: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut it = sql.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            c if c.is_whitespace() => {}
            '"' => {
                let mut s = String::new();
                loop {
                    match it.next() {
                        Some('"') if it.peek() == Some(&'"') => {
                            it.next();
                            s.push('"');
                        }
                        Some('"') | None => break,
                        Some(c) => s.push(c),
                    }
                }
                out.push(Tok::Ident(s));
            }
            '\'' => {
                let mut s = String::new();
                loop {
                    match it.next() {
                        Some('\\') => {
                            if let Some(e) = it.next() {
                                s.push(e);
                            }
                        }
                        Some('\'') if it.peek() == Some(&'\'') => {
                            it.next();
                            s.push('\'');
                        }
                        Some('\'') | None => break,
                        Some(c) => s.push(c),
                    }
                }
                out.push(Tok::Literal(s));
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let mut s = String::from(c);
                while let Some(&n) = it.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        s.push(n);
                        it.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Word(s));
            }
            c => out.push(Tok::Punct(c)),
        }
    }
    out
}

fn nasty() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("\"".to_owned()),
            Just("'".to_owned()),
            Just("\\".to_owned()),
            Just(";".to_owned()),
            Just("--".to_owned()),
            Just("/*".to_owned()),
            Just("\n".to_owned()),
            Just("$$".to_owned()),
            "[a-zA-Z0-9 _]{1,4}",
            "\\PC{1,3}",
        ],
        1..12,
    )
    .prop_map(|parts| parts.concat())
    .prop_filter("non-empty, no NUL, fits", |s| {
        !s.is_empty() && !s.contains('\0') && s.chars().count() <= MAX_IDENTIFIER_LEN
    })
}

proptest! {
    #[test]
    fn user_text_round_trips_inside_one_token(user in nasty(), role in nasty(), comment in nasty()) {
        let sql = add_pat(&user, "TOKEN", &AddPatOptions {
            role_restriction: Some(&role),
            days_to_expiry: Some(7),
            mins_to_bypass_network_policy_requirement: None,
            comment: Some(&comment),
        }).unwrap();
        let toks = lex(&sql);
        let word = |w: &str| Tok::Word(w.to_owned());
        let want = vec![
            word("ALTER"), word("USER"), Tok::Ident(user.clone()), word("ADD"),
            word("PROGRAMMATIC"), word("ACCESS"), word("TOKEN"), Tok::Ident("TOKEN".into()),
            word("ROLE_RESTRICTION"), Tok::Punct('='), Tok::Literal(role.clone()),
            word("DAYS_TO_EXPIRY"), Tok::Punct('='), word("7"),
            word("COMMENT"), Tok::Punct('='), Tok::Literal(comment.clone()),
        ];
        prop_assert_eq!(toks, want);

        let sql = grant_role(&role, &user).unwrap();
        let toks = lex(&sql);
        prop_assert_eq!(toks, vec![
            word("GRANT"), word("ROLE"), Tok::Ident(role), word("TO"), word("USER"),
            Tok::Ident(user),
        ]);
    }
}
