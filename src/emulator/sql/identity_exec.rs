//! Workload identities (docs/workload-identity-research.md §1): the `DEFAULT` one of the
//! `WORKLOAD_IDENTITY` property, the named ones of `ALTER USER … ADD | MODIFY | REMOVE
//! WORKLOAD IDENTITY`, and `SHOW USER WORKLOAD IDENTITY AUTHENTICATION METHODS`.
//!
//! Only `TYPE = OIDC` is modelled. Managing another user's identities takes an admin
//! role (standing in for OWNERSHIP or MODIFY PROGRAMMATIC AUTHENTICATION METHODS).
//! Validation messages follow the one documented shape (`004616`, SQLSTATE `42601`,
//! "Invalid … property in WORKLOAD_IDENTITY of TYPE …"); their exact texts for OIDC are
//! UNCONFIRMED.

use jiff::Timestamp;

use super::ast::{IdentityAction, IdentitySpec};
use super::exec::is_admin;
use super::result::{Cell, Column, ResultSet, SqlError};
use crate::emulator::principal::Principal;
use crate::emulator::state::{AccountState, DEFAULT_WORKLOAD_IDENTITY, User, WorkloadIdentity};

const KIND: &str = "Workload identity";
const EXECUTED: &str = "Statement executed successfully.";

fn invalid(message: String) -> SqlError {
    SqlError {
        code: "004616",
        sql_state: "42601",
        message: format!("SQL compilation error:\n{message}"),
    }
}

/// A workload identity named `name` from its written properties.
pub(super) fn identity_from_spec(
    name: &str,
    spec: &IdentitySpec,
    now: Timestamp,
) -> Result<WorkloadIdentity, SqlError> {
    if spec.identity_type != "OIDC" {
        return Err(invalid(format!(
            "Workload identity TYPE '{}' is not supported by the emulator; only TYPE = OIDC is.",
            spec.identity_type
        )));
    }
    let required = |value: &Option<String>, property: &str| match value.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => Ok(text.to_owned()),
        _ => Err(invalid(format!(
            "Missing {property} property in WORKLOAD_IDENTITY of TYPE 'OIDC'."
        ))),
    };
    let issuer = required(&spec.issuer, "ISSUER")?;
    let subject = required(&spec.subject, "SUBJECT")?;
    let valid_issuer = url::Url::parse(&issuer)
        .is_ok_and(|url| matches!(url.scheme(), "https" | "http") && url.host().is_some());
    if !valid_issuer {
        return Err(invalid(format!(
            "Invalid ISSUER property in WORKLOAD_IDENTITY of TYPE 'OIDC': '{issuer}'. ISSUER must be an https URL."
        )));
    }
    let audiences = match &spec.audiences {
        None => Vec::new(),
        Some(list) if list.is_empty() || list.iter().any(|a| a.trim().is_empty()) => {
            return Err(invalid(
                "Invalid OIDC_AUDIENCE_LIST property in WORKLOAD_IDENTITY of TYPE 'OIDC': the list must be non-empty and hold no empty audience.".into(),
            ));
        }
        Some(list) => list.clone(),
    };
    Ok(WorkloadIdentity {
        name: name.to_owned(),
        issuer,
        subject,
        audiences,
        disabled: false,
        comment: None,
        created_on: now,
        last_used: None,
    })
}

/// Workload identities belong to SERVICE and LEGACY_SERVICE users only (the refusal for
/// other types is UNCONFIRMED).
pub(super) fn check_user_type(user: &User) -> Result<(), SqlError> {
    use crate::emulator::config::UserType;
    if user.workload_identities.is_empty()
        || matches!(user.user_type, UserType::Service | UserType::LegacyService)
    {
        return Ok(());
    }
    Err(invalid(format!(
        "Workload identity can only be set for a user of TYPE SERVICE or LEGACY_SERVICE; user '{}' is of TYPE {}.",
        user.name,
        user.user_type.as_str()
    )))
}

/// `WORKLOAD_IDENTITY = (…)`: replaces the `DEFAULT` identity, keeping it first.
pub(super) fn set_default(user: &mut User, identity: WorkloadIdentity) {
    user.workload_identities
        .retain(|w| w.name != DEFAULT_WORKLOAD_IDENTITY);
    user.workload_identities.insert(0, identity);
}

/// `UNSET WORKLOAD_IDENTITY`.
pub(super) fn unset_default(user: &mut User) {
    user.workload_identities
        .retain(|w| w.name != DEFAULT_WORKLOAD_IDENTITY);
}

fn reserved(name: &str) -> Result<(), SqlError> {
    if name.eq_ignore_ascii_case(DEFAULT_WORKLOAD_IDENTITY) {
        return Err(invalid(
            "The workload identity name DEFAULT is reserved: use ALTER USER … SET | UNSET WORKLOAD_IDENTITY for it.".into(),
        ));
    }
    Ok(())
}

pub(super) fn alter_user_identity(
    state: &mut AccountState,
    principal: &Principal,
    if_exists: bool,
    user: Option<&str>,
    action: &IdentityAction,
    now: Timestamp,
) -> Result<ResultSet, SqlError> {
    let user_name = user.unwrap_or(&principal.user).to_owned();
    let Some(target) = state.users.get(&user_name) else {
        if if_exists {
            return Ok(ResultSet::status(EXECUTED));
        }
        return Err(SqlError::does_not_exist("User", &user_name));
    };
    if !is_admin(state, principal) {
        return Err(SqlError::insufficient_privileges(&user_name));
    }
    let mut staged = target.clone();
    let find = |user: &User, name: &str| -> Result<usize, SqlError> {
        user.workload_identities
            .iter()
            .position(|w| w.name == name)
            .ok_or_else(|| SqlError::does_not_exist(KIND, name))
    };
    match action {
        IdentityAction::Add { name, spec } => {
            reserved(name)?;
            if staged.workload_identity(name).is_some() {
                return Err(SqlError::already_exists(KIND, name));
            }
            let identity = identity_from_spec(name, spec, now)?;
            staged.workload_identities.push(identity);
            check_user_type(&staged)?;
        }
        IdentityAction::Rename { name, to } => {
            reserved(name)?;
            reserved(to)?;
            let index = find(&staged, name)?;
            if staged.workload_identity(to).is_some() {
                return Err(SqlError::already_exists(KIND, to));
            }
            staged.workload_identities[index].name = to.clone();
        }
        IdentityAction::Set {
            name,
            disabled,
            comment,
        } => {
            reserved(name)?;
            let index = find(&staged, name)?;
            let identity = &mut staged.workload_identities[index];
            if let Some(disabled) = disabled {
                identity.disabled = *disabled;
            }
            if let Some(comment) = comment {
                identity.comment = Some(comment.clone());
            }
        }
        IdentityAction::Unset {
            name,
            disabled,
            comment,
        } => {
            reserved(name)?;
            let index = find(&staged, name)?;
            let identity = &mut staged.workload_identities[index];
            if *disabled {
                identity.disabled = false;
            }
            if *comment {
                identity.comment = None;
            }
        }
        IdentityAction::Remove { name } => {
            reserved(name)?;
            let index = find(&staged, name)?;
            // The sessions it opened end with it: a session is checked against its
            // identity on every request (`AccountState::identity_in_force`).
            staged.workload_identities.remove(index);
        }
    }
    state.users.insert(user_name, staged);
    Ok(ResultSet::status(EXECUTED))
}

/// `SHOW USER WORKLOAD IDENTITY AUTHENTICATION METHODS [FOR USER x]`: one row per identity,
/// `additional_info` the JSON `{"issuer", "subject", "audienceList"}` of an OIDC identity.
pub(super) fn show_identities(
    state: &AccountState,
    principal: &Principal,
    user: Option<&str>,
) -> Result<ResultSet, SqlError> {
    let name = user.unwrap_or(&principal.user);
    let target = match state.users.get(name) {
        Some(target) if name == principal.user || is_admin(state, principal) => target,
        Some(_) => return Err(SqlError::insufficient_privileges(name)),
        None => return Err(SqlError::does_not_exist("User", name)),
    };
    let rows = target
        .workload_identities
        .iter()
        .map(|w| {
            let info = serde_json::json!({
                "issuer": w.issuer,
                "subject": w.subject,
                "audienceList": w.audiences,
            });
            vec![
                Cell::text(w.name.clone()),
                Cell::text("OIDC"),
                Cell::opt(w.comment.as_deref()),
                w.last_used.map_or(Cell::Null, Cell::timestamp),
                Cell::timestamp(w.created_on),
                Cell::text(info.to_string()),
            ]
        })
        .collect();
    Ok(ResultSet {
        columns: vec![
            Column::text("name"),
            Column::text("type"),
            Column::text("comment"),
            Column::timestamp("last_used"),
            Column::timestamp("created_on"),
            Column::text("additional_info"),
        ],
        rows,
    })
}
