//! Users and role grants: CREATE/ALTER/DROP/DESC USER, GRANT/REVOKE ROLE, SHOW GRANTS.

use jiff::Timestamp;

use super::ast::{Statement, UserProperty, Value};
use super::exec::is_admin;
use super::identity_exec;
use super::result::{Cell, Column, ResultSet, SqlError};
use crate::emulator::config::UserType;
use crate::emulator::keys::PublicKeySlot;
use crate::emulator::principal::Principal;
use crate::emulator::state::{AccountState, DEFAULT_WORKLOAD_IDENTITY, Grant, User};

const EXECUTED: &str = "Statement executed successfully.";

pub(super) fn execute_user_statement(
    state: &mut AccountState,
    principal: &Principal,
    statement: &Statement,
    now: Timestamp,
) -> Result<ResultSet, SqlError> {
    let admin = is_admin(state, principal);
    match statement {
        Statement::CreateUser {
            or_replace,
            if_not_exists,
            name,
            properties,
        } => {
            if !admin {
                return Err(SqlError::insufficient_privileges(name));
            }
            create_user(state, *or_replace, *if_not_exists, name, properties, now)
        }
        Statement::AlterUserSet {
            if_exists,
            name,
            properties,
        } => {
            let self_service =
                name == &principal.user && properties.iter().all(|(p, _)| self_settable(*p));
            if !admin && !self_service {
                return Err(missing_or_forbidden(state, name));
            }
            alter_user_set(state, *if_exists, name, properties, now)
        }
        Statement::AlterUserUnset {
            if_exists,
            name,
            properties,
        } => {
            let self_service =
                name == &principal.user && properties.iter().all(|p| self_settable(*p));
            if !admin && !self_service {
                return Err(missing_or_forbidden(state, name));
            }
            alter_user_unset(state, *if_exists, name, properties)
        }
        Statement::DropUser { if_exists, name } => {
            if !admin {
                return Err(missing_or_forbidden(state, name));
            }
            drop_user(state, *if_exists, name)
        }
        Statement::DescribeUser { name } => {
            if !admin && name != &principal.user {
                return Err(missing_or_forbidden(state, name));
            }
            let user = state
                .users
                .get(name)
                .ok_or_else(|| SqlError::does_not_exist("User", name))?;
            Ok(describe(user))
        }
        Statement::GrantRole { role, user } | Statement::RevokeRole { role, user } => {
            if !admin {
                return Err(missing_or_forbidden(state, user));
            }
            let grant = matches!(statement, Statement::GrantRole { .. });
            grant_or_revoke(state, principal, grant, role, user, now)
        }
        Statement::ShowGrantsToUser { user } => {
            if !admin && user != &principal.user {
                return Err(missing_or_forbidden(state, user));
            }
            show_grants(state, user)
        }
        Statement::Select(_)
        | Statement::AlterUserPat { .. }
        | Statement::ShowPats { .. }
        | Statement::AlterUserWorkloadIdentity { .. }
        | Statement::ShowWorkloadIdentities { .. } => {
            Err(SqlError::syntax(1, 0, statement.label()))
        }
    }
}

fn create_user(
    state: &mut AccountState,
    or_replace: bool,
    if_not_exists: bool,
    name: &str,
    properties: &[(UserProperty, Value)],
    now: Timestamp,
) -> Result<ResultSet, SqlError> {
    if state.users.contains_key(name) {
        if if_not_exists {
            return Ok(ResultSet::status(format!(
                "{name} already exists, statement succeeded."
            )));
        }
        if !or_replace {
            return Err(SqlError::already_exists("User", name));
        }
    }
    let mut user = User::new(name, now);
    apply_properties(state, &mut user, properties, now)?;
    state.users.insert(name.to_owned(), user);
    Ok(ResultSet::status(format!(
        "User {name} successfully created."
    )))
}

/// Applies the properties to a copy of the user and commits it only when all of them
/// were accepted, so a refused property leaves the user as it was.
fn alter_user_set(
    state: &mut AccountState,
    if_exists: bool,
    name: &str,
    properties: &[(UserProperty, Value)],
    now: Timestamp,
) -> Result<ResultSet, SqlError> {
    let mut staged = match state.users.get(name) {
        Some(user) => user.clone(),
        None if if_exists => return Ok(ResultSet::status(EXECUTED)),
        None => return Err(SqlError::does_not_exist("User", name)),
    };
    apply_properties(state, &mut staged, properties, now)?;
    state.users.insert(name.to_owned(), staged);
    Ok(ResultSet::status(EXECUTED))
}

fn alter_user_unset(
    state: &mut AccountState,
    if_exists: bool,
    name: &str,
    properties: &[UserProperty],
) -> Result<ResultSet, SqlError> {
    let Some(user) = state.users.get_mut(name) else {
        return if if_exists {
            Ok(ResultSet::status(EXECUTED))
        } else {
            Err(SqlError::does_not_exist("User", name))
        };
    };
    for property in properties {
        unset_property(user, *property);
    }
    Ok(ResultSet::status(EXECUTED))
}

fn drop_user(state: &mut AccountState, if_exists: bool, name: &str) -> Result<ResultSet, SqlError> {
    if state.users.remove(name).is_some() {
        Ok(ResultSet::status(format!("{name} successfully dropped.")))
    } else if if_exists {
        Ok(ResultSet::status(format!(
            "Drop statement executed successfully ({name} already dropped)."
        )))
    } else {
        Err(SqlError::does_not_exist("User", name))
    }
}

fn grant_or_revoke(
    state: &mut AccountState,
    principal: &Principal,
    grant: bool,
    role: &str,
    user: &str,
    now: Timestamp,
) -> Result<ResultSet, SqlError> {
    if !state.roles.contains(role) {
        return Err(SqlError::does_not_exist("Role", role));
    }
    let target = state
        .users
        .get_mut(user)
        .ok_or_else(|| SqlError::does_not_exist("User", user))?;
    if grant {
        target.grants.entry(role.to_owned()).or_insert(Grant {
            granted_on: now,
            granted_by: principal.role.clone(),
        });
    } else {
        target.grants.remove(role);
    }
    Ok(ResultSet::status(EXECUTED))
}

/// `SHOW GRANTS TO USER`: the role-grant columns drivers parse.
fn show_grants(state: &AccountState, user: &str) -> Result<ResultSet, SqlError> {
    let target = state
        .users
        .get(user)
        .ok_or_else(|| SqlError::does_not_exist("User", user))?;
    Ok(ResultSet {
        columns: vec![
            Column::timestamp("created_on"),
            Column::text("role"),
            Column::text("granted_to"),
            Column::text("grantee_name"),
            Column::text("granted_by"),
        ],
        rows: target
            .grants
            .iter()
            .map(|(role, grant)| {
                vec![
                    Cell::timestamp(grant.granted_on),
                    Cell::text(role.clone()),
                    Cell::text("USER"),
                    Cell::text(target.name.clone()),
                    Cell::text(grant.granted_by.clone()),
                ]
            })
            .collect(),
    })
}

/// Properties a user may change on themself without an admin role.
fn self_settable(property: UserProperty) -> bool {
    matches!(
        property,
        UserProperty::Comment
            | UserProperty::DisplayName
            | UserProperty::Email
            | UserProperty::DefaultRole
            | UserProperty::DefaultWarehouse
            | UserProperty::DefaultNamespace
            | UserProperty::DefaultSecondaryRoles
            | UserProperty::RsaPublicKey
            | UserProperty::RsaPublicKey2
    )
}

/// Snowflake does not tell a user without privileges whether another user exists.
fn missing_or_forbidden(state: &AccountState, name: &str) -> SqlError {
    if state.users.contains_key(name) {
        SqlError::insufficient_privileges(name)
    } else {
        SqlError::does_not_exist("User", name)
    }
}

fn text_of(property: UserProperty, value: &Value) -> Result<String, SqlError> {
    value
        .as_text()
        .map(str::to_owned)
        .ok_or_else(|| SqlError::invalid_value(format!("invalid value for property {property:?}")))
}

fn apply_properties(
    state: &AccountState,
    user: &mut User,
    properties: &[(UserProperty, Value)],
    now: Timestamp,
) -> Result<(), SqlError> {
    use UserProperty as P;
    for (property, value) in properties {
        match property {
            P::Type => {
                user.user_type = match value {
                    Value::Null => UserType::Person,
                    Value::Ident(t) => match t.as_str() {
                        "PERSON" => UserType::Person,
                        "SERVICE" => UserType::Service,
                        "LEGACY_SERVICE" => UserType::LegacyService,
                        "SERVICE_AGENT" => UserType::ServiceAgent,
                        other => {
                            return Err(SqlError::invalid_value(format!(
                                "invalid value '{other}' for property 'TYPE'"
                            )));
                        }
                    },
                    _ => return Err(SqlError::invalid_value("invalid value for property 'TYPE'")),
                }
            }
            P::LoginName => user.login_name = text_of(*property, value)?,
            P::DisplayName => user.display_name = text_of(*property, value)?,
            P::Email => user.email = Some(text_of(*property, value)?),
            P::Comment => user.comment = Some(text_of(*property, value)?),
            P::DefaultRole => user.default_role = Some(text_of(*property, value)?),
            P::DefaultWarehouse => user.default_warehouse = Some(text_of(*property, value)?),
            P::DefaultNamespace => user.default_namespace = Some(text_of(*property, value)?),
            P::DefaultSecondaryRoles => {
                if let Value::List(roles) = value {
                    let quoted: Vec<String> = roles.iter().map(|r| format!("\"{r}\"")).collect();
                    user.default_secondary_roles = Some(format!("[{}]", quoted.join(",")));
                }
            }
            P::NetworkPolicy => {
                let policy = text_of(*property, value)?;
                if !state.network_policies.contains_key(&policy) {
                    return Err(SqlError::does_not_exist("Network policy", &policy));
                }
                user.network_policy = Some(policy);
            }
            P::Disabled => {
                let Value::Bool(disabled) = value else {
                    return Err(SqlError::invalid_value(
                        "invalid value for property 'DISABLED'",
                    ));
                };
                user.disabled = *disabled;
                if *disabled {
                    // Disabling a user disables its tokens; they stay disabled afterwards.
                    user.pats.iter_mut().for_each(|p| p.disabled = true);
                }
            }
            P::RsaPublicKey | P::RsaPublicKey2 => {
                let text = text_of(*property, value)?;
                let slot = PublicKeySlot::parse(&text, now).map_err(|_| {
                    SqlError::invalid_value(
                        "New public key rejected by current policy. Reason: 'Invalid public key'.",
                    )
                })?;
                let index = usize::from(*property == P::RsaPublicKey2);
                user.keys[index] = Some(slot);
            }
            P::DaysToExpiry => user.days_to_expiry = Some(number_text(value)),
            P::MinsToUnlock => user.mins_to_unlock = Some(number_text(value)),
            P::WorkloadIdentity => {
                let Value::Identity(spec) = value else {
                    return Err(SqlError::invalid_value(
                        "invalid value for property 'WORKLOAD_IDENTITY'",
                    ));
                };
                let identity =
                    identity_exec::identity_from_spec(DEFAULT_WORKLOAD_IDENTITY, spec, now)?;
                identity_exec::set_default(user, identity);
            }
        }
    }
    // After every property: `WORKLOAD_IDENTITY = (…) TYPE = SERVICE` is the documented order.
    identity_exec::check_user_type(user)
}

fn number_text(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        other => other.as_text().unwrap_or_default().to_owned(),
    }
}

fn unset_property(user: &mut User, property: UserProperty) {
    use UserProperty as P;
    match property {
        P::Type => user.user_type = UserType::Person,
        P::LoginName => user.login_name = user.name.clone(),
        P::DisplayName => user.display_name = user.name.clone(),
        P::Email => user.email = None,
        P::Comment => user.comment = None,
        P::DefaultRole => user.default_role = None,
        P::DefaultWarehouse => user.default_warehouse = None,
        P::DefaultNamespace => user.default_namespace = None,
        P::DefaultSecondaryRoles => user.default_secondary_roles = None,
        P::NetworkPolicy => user.network_policy = None,
        P::Disabled => user.disabled = false,
        P::RsaPublicKey => user.keys[0] = None,
        P::RsaPublicKey2 => user.keys[1] = None,
        P::DaysToExpiry => user.days_to_expiry = None,
        P::MinsToUnlock => user.mins_to_unlock = None,
        P::WorkloadIdentity => identity_exec::unset_default(user),
    }
}

/// `DESC USER`: `property | value | default | description`, unset values as `null`.
fn describe(user: &User) -> ResultSet {
    let null = || "null".to_owned();
    let key = |i: usize| user.keys[i].as_ref();
    let rows: Vec<(&str, String, &str)> = vec![
        ("NAME", user.name.clone(), "Name"),
        ("TYPE", user.user_type.as_str().to_owned(), "Type of user"),
        (
            "LOGIN_NAME",
            user.login_name.clone(),
            "Login name of the user",
        ),
        ("DISPLAY_NAME", user.display_name.clone(), "Display name"),
        (
            "EMAIL",
            user.email.clone().unwrap_or_else(null),
            "Email address",
        ),
        (
            "COMMENT",
            user.comment.clone().unwrap_or_else(null),
            "user comment",
        ),
        (
            "DISABLED",
            user.disabled.to_string(),
            "Whether the user is disabled",
        ),
        (
            "DAYS_TO_EXPIRY",
            user.days_to_expiry.clone().unwrap_or_else(null),
            "User record will be treated as expired after specified number of days",
        ),
        (
            "MINS_TO_UNLOCK",
            user.mins_to_unlock.clone().unwrap_or_else(null),
            "Temporary lock on the user will be removed after specified number of minutes",
        ),
        (
            "DEFAULT_WAREHOUSE",
            user.default_warehouse.clone().unwrap_or_else(null),
            "Default warehouse",
        ),
        (
            "DEFAULT_NAMESPACE",
            user.default_namespace.clone().unwrap_or_else(null),
            "Default database namespace",
        ),
        (
            "DEFAULT_ROLE",
            user.default_role.clone().unwrap_or_else(null),
            "Primary default role",
        ),
        (
            "DEFAULT_SECONDARY_ROLES",
            user.default_secondary_roles.clone().unwrap_or_else(null),
            "Default secondary roles",
        ),
        (
            "NETWORK_POLICY",
            user.network_policy.clone().unwrap_or_else(null),
            "Network policy",
        ),
        (
            "HAS_MFA",
            "false".to_owned(),
            "Whether the user is enrolled for multi-factor authentication",
        ),
        (
            "RSA_PUBLIC_KEY",
            key(0).map(|k| k.der_base64.clone()).unwrap_or_else(null),
            "RSA public key of the user",
        ),
        (
            "RSA_PUBLIC_KEY_FP",
            key(0).map(|k| k.fingerprint.clone()).unwrap_or_else(null),
            "Fingerprint of user's RSA public key.",
        ),
        (
            "RSA_PUBLIC_KEY_LAST_SET_TIME",
            key(0).map(|k| k.set_at.to_string()).unwrap_or_else(null),
            "Timestamp when user's RSA public key was last set.",
        ),
        (
            "RSA_PUBLIC_KEY_2",
            key(1).map(|k| k.der_base64.clone()).unwrap_or_else(null),
            "Second RSA public key of the user",
        ),
        (
            "RSA_PUBLIC_KEY_2_FP",
            key(1).map(|k| k.fingerprint.clone()).unwrap_or_else(null),
            "Fingerprint of user's second RSA public key.",
        ),
        (
            "RSA_PUBLIC_KEY_2_LAST_SET_TIME",
            key(1).map(|k| k.set_at.to_string()).unwrap_or_else(null),
            "Timestamp when user's second RSA public key was last set.",
        ),
        (
            "HAS_WORKLOAD_IDENTITY",
            (!user.workload_identities.is_empty()).to_string(),
            "Whether the user has a workload identity",
        ),
    ];
    ResultSet {
        columns: vec![
            Column::text("property"),
            Column::text("value"),
            Column::text("default"),
            Column::text("description"),
        ],
        rows: rows
            .into_iter()
            .map(|(property, value, description)| {
                vec![
                    Cell::text(property),
                    Cell::text(value),
                    Cell::text("null"),
                    Cell::text(description),
                ]
            })
            .collect(),
    }
}
