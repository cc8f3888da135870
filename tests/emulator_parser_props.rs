//! Property test of the emulator's parser: arbitrary names, roles and comments
//! (quotes, backslashes, `;`, `--`, `/*`, unicode), quoted by a tiny independent
//! quoter written here, parse back unchanged and never yield a second statement.

mod emulator_support;

use proptest::prelude::*;
use snowflake_token_operator::emulator::sql::ast::{
    AddPat, PatAction, Statement, UserProperty, Value,
};
use snowflake_token_operator::emulator::sql::parser::parse_request;

/// `"…"` with `"` doubled.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'…'` with `\` and `'` escaped.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

fn tricky() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_\"'\\\\;\\-/* \u{e9}\u{20ac}\u{1f600}\n\t$]{1,30}",
        "\\PC{1,20}",
        Just("x'; DROP USER ADMIN; --".to_owned()),
        Just("\"; SELECT CURRENT_USER(); \"".to_owned()),
        Just("a\\'b\\\\".to_owned()),
        Just("/* not a comment */ -- nor this".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn create_user_round_trips(name in tricky(), role in tricky(), comment in proptest::option::of(tricky())) {
        let mut sql = format!("CREATE USER IF NOT EXISTS {} TYPE = SERVICE DEFAULT_ROLE = {}", ident(&name), ident(&role));
        if let Some(comment) = &comment {
            sql.push_str(&format!(" COMMENT = {}", literal(comment)));
        }
        let statements = parse_request(&sql, None).map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
        prop_assert_eq!(statements.len(), 1);
        let Statement::CreateUser { name: parsed, properties, if_not_exists, .. } = &statements[0] else {
            return Err(TestCaseError::fail("not CREATE USER"));
        };
        prop_assert!(*if_not_exists);
        prop_assert_eq!(parsed, &name);
        prop_assert!(properties.contains(&(UserProperty::DefaultRole, Value::Ident(role.clone()))));
        if let Some(comment) = comment {
            prop_assert!(properties.contains(&(UserProperty::Comment, Value::Text(comment))));
        }
    }

    #[test]
    fn add_pat_round_trips(user in tricky(), token in tricky(), role in tricky(), comment in tricky(), days in 1u64..=365) {
        let sql = format!(
            "ALTER USER {} ADD PROGRAMMATIC ACCESS TOKEN {} ROLE_RESTRICTION = {} DAYS_TO_EXPIRY = {days} COMMENT = {};",
            ident(&user), ident(&token), literal(&role), literal(&comment)
        );
        let statements = parse_request(&sql, None).map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
        prop_assert_eq!(
            statements,
            vec![Statement::AlterUserPat {
                if_exists: false,
                user: Some(user),
                action: PatAction::Add(AddPat {
                    if_not_exists: false,
                    name: token,
                    role_restriction: Some(role),
                    days_to_expiry: Some(days),
                    mins_to_bypass: None,
                    comment: Some(comment),
                }),
            }]
        );
    }

    #[test]
    fn grants_round_trip_and_execute(user in tricky(), role in tricky()) {
        let sql = format!("GRANT ROLE {} TO USER {}", ident(&role), ident(&user));
        let statements = parse_request(&sql, None).map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
        prop_assert_eq!(statements, vec![Statement::GrantRole { role: role.clone(), user: user.clone() }]);

        // Executed: the user is created under exactly that name and keeps the comment.
        let emulator = emulator_support::emulator();
        let create = format!("CREATE USER {} COMMENT = {}", ident(&user), literal(&role));
        emulator.execute(&emulator_support::admin(), &create).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let snapshot = emulator.snapshot();
        let created = snapshot.user(&user).ok_or_else(|| TestCaseError::fail("user not found by its exact name"))?;
        prop_assert_eq!(created.comment.as_deref(), Some(role.as_str()));
    }
}
