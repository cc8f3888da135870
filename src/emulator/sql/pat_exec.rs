//! Programmatic access tokens: ADD / ROTATE / MODIFY / REMOVE and SHOW, with the rules
//! of reference §4 (15-token cap, `_ROTATED_` predecessors with a grace period, role
//! restriction and network-policy requirements for SERVICE users, no PAT management
//! from a PAT session).

use jiff::{SignedDuration, Timestamp};

use super::ast::{AddPat, ModifyPat, PatAction, PatProperty};
use super::exec::is_admin;
use super::result::{Cell, Column, ResultSet, SqlError};
use crate::emulator::config::{AddIfNotExistsResult, NetworkPolicyEvaluation};
use crate::emulator::principal::Principal;
use crate::emulator::secret::TokenSecret;
use crate::emulator::state::{AccountState, Pat, User};

const PAT_KIND: &str = "Programmatic access token";
const MAX_BYPASS_MINUTES: u64 = 1440;

/// The refusal for PAT management from a PAT-authenticated session (code UNCONFIRMED).
fn pat_session_refused() -> SqlError {
    SqlError {
        code: "003001",
        sql_state: "42501",
        message: "SQL access control error:\nProgrammatic access tokens cannot be managed from a session authenticated with a programmatic access token.".into(),
    }
}

/// Resolves the target user and checks the session may manage its tokens.
fn target_user<'a>(
    state: &'a AccountState,
    principal: &Principal,
    user: Option<&str>,
) -> Result<Option<&'a User>, SqlError> {
    let name = user.unwrap_or(&principal.user);
    let Some(target) = state.users.get(name) else {
        return Ok(None);
    };
    let own_person_user = name == principal.user && !target.user_type.is_service();
    if !is_admin(state, principal) && !own_person_user {
        return Err(SqlError::insufficient_privileges(name));
    }
    Ok(Some(target))
}

pub(super) fn alter_user_pat(
    state: &mut AccountState,
    principal: &Principal,
    if_exists: bool,
    user: Option<&str>,
    action: &PatAction,
    now: Timestamp,
) -> Result<ResultSet, SqlError> {
    if principal.method.is_pat() {
        return Err(pat_session_refused());
    }
    let user_name = user.unwrap_or(&principal.user).to_owned();
    let Some(target) = target_user(state, principal, Some(&user_name))? else {
        if if_exists {
            return Ok(ResultSet::status("Statement executed successfully."));
        }
        return Err(SqlError::does_not_exist("User", &user_name));
    };
    let mut staged = target.clone();
    let result = match action {
        PatAction::Add(add) => add_pat(state, principal, &mut staged, add, now)?,
        PatAction::Rotate {
            name,
            expire_rotated_after_hours,
        } => rotate_pat(state, &mut staged, name, *expire_rotated_after_hours, now)?,
        PatAction::Modify {
            if_exists,
            name,
            change,
        } => modify_pat(&mut staged, *if_exists, name, change, now)?,
        PatAction::Remove { if_exists, name } => {
            let before = staged.pats.len();
            staged.pats.retain(|p| &p.name != name);
            if staged.pats.len() == before {
                if !*if_exists {
                    return Err(SqlError::does_not_exist(PAT_KIND, name));
                }
                ResultSet::status("Statement executed successfully.")
            } else {
                ResultSet::status(format!("{PAT_KIND} {name} successfully removed."))
            }
        }
    };
    state.users.insert(user_name, staged);
    Ok(result)
}

/// Token names: letters, digits and `_`, starting with a letter or `_`.
fn valid_token_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 255
}

fn add_pat(
    state: &AccountState,
    principal: &Principal,
    user: &mut User,
    add: &AddPat,
    now: Timestamp,
) -> Result<ResultSet, SqlError> {
    let policy = &state.pat_policy;
    if !valid_token_name(&add.name) {
        return Err(SqlError::invalid_value(format!(
            "Invalid name '{}' for a programmatic access token.",
            add.name
        )));
    }
    if user.pat(&add.name).is_some() {
        if add.if_not_exists {
            return Ok(match policy.add_if_not_exists_result {
                AddIfNotExistsResult::NullSecretRow => ResultSet {
                    columns: vec![Column::text("token_name"), Column::text("token_secret")],
                    rows: vec![vec![Cell::text(add.name.clone()), Cell::Null]],
                },
                AddIfNotExistsResult::StatusMessage => {
                    ResultSet::status(format!("{} already exists, statement succeeded.", add.name))
                }
            });
        }
        return Err(SqlError::already_exists(PAT_KIND, &add.name));
    }
    let (days, mins) = check_new_pat(state, user, add, now)?;
    let days = u32::try_from(days).unwrap_or(u32::MAX);
    let secret = TokenSecret::generate();
    user.pats.push(Pat {
        name: add.name.clone(),
        role_restriction: add.role_restriction.clone(),
        expires_at: after_days(now, days),
        days_to_expiry: days,
        disabled: false,
        comment: add.comment.clone(),
        created_on: now,
        created_by: principal.user.clone(),
        mins_to_bypass_network_policy_requirement: u32::try_from(mins).unwrap_or(0),
        bypass_until: bypass_until(now, mins),
        rotated_to: None,
        secret_sha256: secret.sha256_hex(),
    });
    Ok(ResultSet {
        columns: vec![Column::text("token_name"), Column::text("token_secret")],
        rows: vec![vec![Cell::text(add.name.clone()), Cell::Secret(secret)]],
    })
}

/// The rules `ADD PAT` checks before creating anything (reference §4.2, §4.4): the role
/// restriction, the network policy of SERVICE users, the ranges and the per-user limit.
/// Returns the lifetime in days and the network-policy bypass in minutes.
fn check_new_pat(
    state: &AccountState,
    user: &User,
    add: &AddPat,
    now: Timestamp,
) -> Result<(u64, u64), SqlError> {
    let policy = &state.pat_policy;
    let service = user.user_type.is_service();
    let restriction_required = if service {
        policy.require_role_restriction_for_service_users
    } else {
        policy.require_role_restriction_for_person_users
    };
    match &add.role_restriction {
        None if restriction_required => {
            return Err(SqlError::invalid_value(format!(
                "ROLE_RESTRICTION is required for programmatic access tokens of {} users.",
                user.user_type.as_str()
            )));
        }
        None => {}
        Some(role) => {
            if !state.roles.contains(role) {
                return Err(SqlError::does_not_exist("Role", role));
            }
            if !user.has_role(role) {
                return Err(SqlError::invalid_value(format!(
                    "Role '{role}' is not granted to user '{}'.",
                    user.name
                )));
            }
        }
    }
    if service
        && policy.network_policy_evaluation == NetworkPolicyEvaluation::EnforcedRequired
        && !state.user_has_network_policy(user)
    {
        return Err(SqlError {
            code: "390432",
            sql_state: "08004",
            message: "Network policy is required.".into(),
        });
    }
    let days = add
        .days_to_expiry
        .unwrap_or(u64::from(policy.default_expiry_days));
    if days == 0 || days > u64::from(policy.max_expiry_days) {
        return Err(SqlError::invalid_value(format!(
            "DAYS_TO_EXPIRY must be between 1 and {}.",
            policy.max_expiry_days
        )));
    }
    let mins = add.mins_to_bypass.unwrap_or(0);
    if mins > MAX_BYPASS_MINUTES {
        return Err(SqlError::invalid_value(format!(
            "MINS_TO_BYPASS_NETWORK_POLICY_REQUIREMENT must be between 0 and {MAX_BYPASS_MINUTES}."
        )));
    }
    let live = user
        .pats
        .iter()
        .filter(|p| p.counts_toward_limit(now))
        .count();
    if live >= policy.max_tokens_per_user {
        return Err(SqlError::invalid_value(format!(
            "User '{}' already has the maximum number of programmatic access tokens ({}).",
            user.name, policy.max_tokens_per_user
        )));
    }
    Ok((days, mins))
}

fn after_days(now: Timestamp, days: u32) -> Timestamp {
    now.checked_add(SignedDuration::from_hours(i64::from(days) * 24))
        .unwrap_or(Timestamp::MAX)
}

fn bypass_until(now: Timestamp, mins: u64) -> Option<Timestamp> {
    let mins = i64::try_from(mins).ok().filter(|m| *m > 0)?;
    now.checked_add(SignedDuration::from_mins(mins)).ok()
}

fn rotate_pat(
    state: &AccountState,
    user: &mut User,
    name: &str,
    expire_rotated_after_hours: Option<u64>,
    now: Timestamp,
) -> Result<ResultSet, SqlError> {
    let current = user
        .pat(name)
        .ok_or_else(|| SqlError::does_not_exist(PAT_KIND, name))?
        .clone();
    if current.rotated_to.is_some() {
        return Err(SqlError::invalid_value(format!(
            "Programmatic access token '{name}' was rotated and can only be removed."
        )));
    }
    let hours_left = current.expires_at.duration_since(now).as_hours().max(0);
    let hours = expire_rotated_after_hours.unwrap_or(u64::from(
        state.pat_policy.default_rotated_token_grace_hours,
    ));
    let hours = i64::try_from(hours).unwrap_or(i64::MAX);
    if hours > hours_left {
        return Err(SqlError::invalid_value(format!(
            "EXPIRE_ROTATED_TOKEN_AFTER_HOURS must be between 0 and {hours_left}."
        )));
    }
    // The rotated-out value is a token of its own that counts toward the per-user limit
    // (reference §4.3): a rotation that would exceed the limit is refused like an ADD.
    // Whether Snowflake checks this at ROTATE is UNCONFIRMED; refusing is the cautious side.
    let live = user
        .pats
        .iter()
        .filter(|p| p.counts_toward_limit(now))
        .count();
    if live >= state.pat_policy.max_tokens_per_user {
        return Err(SqlError::invalid_value(format!(
            "User '{}' already has the maximum number of programmatic access tokens ({}).",
            user.name, state.pat_policy.max_tokens_per_user
        )));
    }
    let rotated_name = format!("{name}_ROTATED_{}", now.as_millisecond());
    let secret = TokenSecret::generate();
    let mut old = current.clone();
    old.name = rotated_name.clone();
    old.rotated_to = Some(name.to_owned());
    old.expires_at = now
        .checked_add(SignedDuration::from_hours(hours))
        .unwrap_or(Timestamp::MAX);
    if let Some(token) = user.pat_mut(name) {
        token.secret_sha256 = secret.sha256_hex();
        token.expires_at = after_days(now, current.days_to_expiry);
        token.created_on = now;
    }
    user.pats.push(old);
    Ok(ResultSet {
        columns: vec![
            Column::text("token_name"),
            Column::text("token_secret"),
            Column::text("rotated_token_name"),
        ],
        rows: vec![vec![
            Cell::text(name),
            Cell::Secret(secret),
            Cell::text(rotated_name),
        ]],
    })
}

fn modify_pat(
    user: &mut User,
    if_exists: bool,
    name: &str,
    change: &ModifyPat,
    now: Timestamp,
) -> Result<ResultSet, SqlError> {
    let done = || ResultSet::status("Statement executed successfully.");
    if user.pat(name).is_none() {
        return if if_exists {
            Ok(done())
        } else {
            Err(SqlError::does_not_exist(PAT_KIND, name))
        };
    }
    if let ModifyPat::Rename(new_name) = change {
        if !valid_token_name(new_name) {
            return Err(SqlError::invalid_value(format!(
                "Invalid name '{new_name}' for a programmatic access token."
            )));
        }
        if user.pat(new_name).is_some() {
            return Err(SqlError::already_exists(PAT_KIND, new_name));
        }
        for token in user.pats.iter_mut() {
            if token.rotated_to.as_deref() == Some(name) {
                token.rotated_to = Some(new_name.clone());
            }
        }
    }
    let Some(token) = user.pat_mut(name) else {
        return Err(SqlError::does_not_exist(PAT_KIND, name));
    };
    if token.rotated_to.is_some() {
        return Err(SqlError::invalid_value(format!(
            "Programmatic access token '{name}' was rotated and can only be removed."
        )));
    }
    match change {
        ModifyPat::Rename(new_name) => token.name = new_name.clone(),
        ModifyPat::Set {
            disabled,
            mins_to_bypass,
            comment,
        } => {
            if let Some(mins) = mins_to_bypass {
                if *mins > MAX_BYPASS_MINUTES {
                    return Err(SqlError::invalid_value(format!(
                        "MINS_TO_BYPASS_NETWORK_POLICY_REQUIREMENT must be between 0 and {MAX_BYPASS_MINUTES}."
                    )));
                }
                token.mins_to_bypass_network_policy_requirement = u32::try_from(*mins).unwrap_or(0);
                token.bypass_until = bypass_until(now, *mins);
            }
            if let Some(disabled) = disabled {
                token.disabled = *disabled;
            }
            if let Some(comment) = comment {
                token.comment = Some(comment.clone());
            }
        }
        ModifyPat::Unset(properties) => {
            for property in properties {
                match property {
                    PatProperty::Disabled => token.disabled = false,
                    PatProperty::Comment => token.comment = None,
                    PatProperty::MinsToBypass => {
                        token.mins_to_bypass_network_policy_requirement = 0;
                        token.bypass_until = None;
                    }
                }
            }
        }
    }
    Ok(done())
}

/// `SHOW USER PATS` columns, in the documented order.
pub const SHOW_PAT_COLUMNS: [&str; 10] = [
    "name",
    "user_name",
    "role_restriction",
    "expires_at",
    "status",
    "comment",
    "created_on",
    "created_by",
    "mins_to_bypass_network_policy_requirement",
    "rotated_to",
];

pub(super) fn show_pats(
    state: &AccountState,
    principal: &Principal,
    user: Option<&str>,
    now: Timestamp,
) -> Result<ResultSet, SqlError> {
    let name = user.unwrap_or(&principal.user);
    let target = match state.users.get(name) {
        Some(target) if name == principal.user || is_admin(state, principal) => target,
        Some(_) => return Err(SqlError::insufficient_privileges(name)),
        None => return Err(SqlError::does_not_exist("User", name)),
    };
    let columns = SHOW_PAT_COLUMNS
        .iter()
        .map(|c| match *c {
            "expires_at" | "created_on" => Column::timestamp(c),
            "mins_to_bypass_network_policy_requirement" => Column::fixed(c),
            other => Column::text(other),
        })
        .collect();
    let mut tokens: Vec<&Pat> = target.pats.iter().collect();
    tokens.sort_by(|a, b| (a.created_on, &a.name).cmp(&(b.created_on, &b.name)));
    let rows = tokens
        .into_iter()
        .map(|p| {
            vec![
                Cell::text(p.name.clone()),
                Cell::text(target.name.clone()),
                Cell::opt(p.role_restriction.as_deref()),
                Cell::timestamp(p.expires_at),
                Cell::text(p.status(now).as_str()),
                Cell::opt(p.comment.as_deref()),
                Cell::timestamp(p.created_on),
                Cell::text(p.created_by.clone()),
                Cell::text(p.mins_to_bypass_network_policy_requirement.to_string()),
                Cell::opt(p.rotated_to.as_deref()),
            ]
        })
        .collect();
    Ok(ResultSet { columns, rows })
}
