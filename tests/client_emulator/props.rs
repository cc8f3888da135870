//! Hostile names, roles and comments through the CLIENT's statement builders and the
//! EMULATOR's parser (two independent implementations of Snowflake's quoting rules):
//! values arrive unchanged and never as a second statement. Then a few of them end to
//! end, read back through `SHOW` and `DESC`.

use proptest::prelude::*;
use snowflake_token_operator::emulator::sql::ast::{
    AddPat, PatAction, Statement, UserProperty, Value,
};
use snowflake_token_operator::emulator::sql::parser::parse_request;
use snowflake_token_operator::snowflake::sql::{self, AddPatOptions, UserProperty as Prop};
use snowflake_token_operator::snowflake::{AddPatRequest, DesiredUser, SnowflakeApi};

use crate::support::{admin_client, start};

/// Text meant to break out of quoting: quotes, backslashes, `;`, comments, `$$`,
/// unicode and whitespace, plus a few hand-written injection attempts.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_\"'\\\\;\\-/*$ .\u{e9}\u{20ac}\u{1f600}\u{202e}\n\t\r]{1,32}",
        "\\PC{1,24}",
        Just("x'; DROP USER OPERATOR_ADMIN; --".to_owned()),
        Just("\"; SELECT CURRENT_USER(); \"".to_owned()),
        Just("a\\'b\\\\".to_owned()),
        Just("/* not a comment */ -- nor this".to_owned()),
        Just("$$ not a dollar string $$".to_owned()),
        Just("\\".to_owned()),
        Just(" ".to_owned()),
    ]
}

/// Hostile text without `.`, for the parts of a `DB.SCHEMA` namespace.
fn dotless() -> impl Strategy<Value = String> {
    hostile().prop_map(|s| s.replace('.', "_"))
}

fn one(sql: &str) -> Result<Statement, TestCaseError> {
    let mut statements =
        parse_request(sql, Some(1)).map_err(|e| TestCaseError::fail(format!("{sql}: {e:?}")))?;
    prop_assert_eq!(statements.len(), 1, "{}", sql);
    Ok(statements.remove(0))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn create_user_carries_every_value_verbatim(
        user in hostile(), role in hostile(), warehouse in hostile(), policy in hostile(),
        db in dotless(), schema in dotless(), comment in hostile(), disabled in any::<bool>(),
    ) {
        let text = sql::create_service_user(&user, &[
            Prop::DefaultRole(role.clone()),
            Prop::DefaultWarehouse(warehouse.clone()),
            Prop::DefaultNamespace(format!("{db}.{schema}")),
            Prop::Comment(comment.clone()),
            Prop::NetworkPolicy(policy.clone()),
            Prop::Disabled(disabled),
        ]).unwrap();
        let Statement::CreateUser { name, properties, if_not_exists, or_replace } = one(&text)? else {
            return Err(TestCaseError::fail(format!("not CREATE USER: {text}")));
        };
        prop_assert!(if_not_exists && !or_replace);
        prop_assert_eq!(name, user);
        prop_assert_eq!(properties, vec![
            (UserProperty::Type, Value::Ident("SERVICE".into())),
            (UserProperty::DefaultRole, Value::Ident(role)),
            (UserProperty::DefaultWarehouse, Value::Ident(warehouse)),
            (UserProperty::DefaultNamespace, Value::Ident(format!("{db}.{schema}"))),
            (UserProperty::Comment, Value::Text(comment)),
            (UserProperty::NetworkPolicy, Value::Ident(policy)),
            (UserProperty::Disabled, Value::Bool(disabled)),
        ]);
    }

    #[test]
    fn alter_grant_revoke_drop_carry_names_verbatim(user in hostile(), role in hostile(), comment in hostile()) {
        let set = one(&sql::alter_user_set(&user, &[Prop::Comment(comment.clone())]).unwrap())?;
        prop_assert_eq!(set, Statement::AlterUserSet {
            if_exists: false,
            name: user.clone(),
            properties: vec![(UserProperty::Comment, Value::Text(comment))],
        });
        let grant = one(&sql::grant_role(&role, &user).unwrap())?;
        prop_assert_eq!(grant, Statement::GrantRole { role: role.clone(), user: user.clone() });
        let revoke = one(&sql::revoke_role(&role, &user).unwrap())?;
        prop_assert_eq!(revoke, Statement::RevokeRole { role, user: user.clone() });
        let drop = one(&sql::drop_user(&user).unwrap())?;
        prop_assert_eq!(drop, Statement::DropUser { if_exists: true, name: user.clone() });
        prop_assert_eq!(one(&sql::desc_user(&user).unwrap())?, Statement::DescribeUser { name: user.clone() });
        prop_assert_eq!(one(&sql::show_grants_to_user(&user).unwrap())?, Statement::ShowGrantsToUser { user: user.clone() });
        prop_assert_eq!(one(&sql::show_pats(&user).unwrap())?, Statement::ShowPats { user: Some(user) });
    }

    #[test]
    fn pat_statements_carry_values_verbatim(
        user in hostile(), token in "[A-Za-z_][A-Za-z0-9_]{0,20}", role in hostile(),
        comment in hostile(), days in 1u32..=365, mins in 1u32..=1440, hours in 0u32..=48,
    ) {
        let token = sql::normalize_pat_name(&token).unwrap();
        let add = sql::add_pat(&user, &token, &AddPatOptions {
            role_restriction: Some(&role),
            days_to_expiry: Some(days),
            mins_to_bypass_network_policy_requirement: Some(mins),
            comment: Some(&comment),
        }).unwrap();
        prop_assert_eq!(one(&add)?, Statement::AlterUserPat {
            if_exists: false,
            user: Some(user.clone()),
            action: PatAction::Add(AddPat {
                if_not_exists: false,
                name: token.clone(),
                role_restriction: Some(role),
                days_to_expiry: Some(u64::from(days)),
                mins_to_bypass: Some(u64::from(mins)),
                comment: Some(comment),
            }),
        });
        let rotate = one(&sql::rotate_pat(&user, &token, hours).unwrap())?;
        prop_assert_eq!(rotate, Statement::AlterUserPat {
            if_exists: false,
            user: Some(user.clone()),
            action: PatAction::Rotate { name: token.clone(), expire_rotated_after_hours: Some(u64::from(hours)) },
        });
        let remove = one(&sql::remove_pat(&user, &token).unwrap())?;
        prop_assert_eq!(remove, Statement::AlterUserPat {
            if_exists: false,
            user: Some(user),
            action: PatAction::Remove { if_exists: true, name: token },
        });
    }
}

/// Values for the end-to-end cases (Snowflake's DESC prints an unset value as `null`,
/// so that one word cannot be told apart from "unset" and is not used as a comment).
const CASES: [&str; 5] = [
    "x'; DROP USER OPERATOR_ADMIN; --",
    "back\\slash \\' and \"quotes\"",
    "/* c */ $$ d $$ -- e",
    "unicode: é € 😀 \u{202e}",
    "  lines\nand\ttabs  ",
];

#[tokio::test]
async fn hostile_text_round_trips_through_a_real_conversation() {
    let running = start(true).await;
    let client = admin_client(&running);
    for (i, text) in CASES.iter().enumerate() {
        let user = format!("SVC {i} {text}");
        let desired = DesiredUser {
            name: user.clone(),
            default_role: Some("ANALYST".into()),
            comment: Some((*text).to_owned()),
            roles: vec!["ANALYST".into()],
            network_policy: Some("CORP_NP".into()),
            ..DesiredUser::default()
        };
        let changes = client.converge_service_user(&desired, &[]).await.unwrap();
        assert!(changes.created, "{text:?}");
        // DESC USER reads the comment back equal: nothing to change.
        let again = client
            .converge_service_user(&desired, &["ANALYST".into()])
            .await
            .unwrap();
        assert!(again.is_empty(), "{text:?}: {again:?}");
        let snapshot = running.snapshot();
        let stored = snapshot
            .user(&user)
            .expect("user stored under its exact name");
        assert_eq!(stored.comment.as_deref(), Some(*text));

        let pat = client
            .add_pat(
                &user,
                &AddPatRequest {
                    name: format!("T{i}"),
                    role_restriction: Some("ANALYST".into()),
                    comment: Some((*text).to_owned()),
                    ..AddPatRequest::default()
                },
            )
            .await
            .unwrap();
        let listed = client.list_pats(&user).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, pat.name);
        assert_eq!(
            listed[0].comment.as_deref(),
            Some(*text),
            "SHOW reads the comment back"
        );
        client.drop_user(&user).await.unwrap();
    }
    let snapshot = running.snapshot();
    assert!(
        snapshot.user("OPERATOR_ADMIN").is_some(),
        "no injected DROP ran"
    );
    assert_eq!(snapshot.users.len(), 4, "only the seeded users remain");
}
