//! Statement execution: the single entry point every front end (SQL API, driver
//! login, OAuth sessions) uses to run SQL as a [`Principal`].

use jiff::Timestamp;

use super::ast::Statement;
use super::parser::parse_statement;
use super::result::{Cell, Column, ResultSet, SqlError};
use super::{identity_exec, pat_exec, user_exec};
use crate::emulator::principal::Principal;
use crate::emulator::state::AccountState;

/// Parses and runs one statement as `principal` at `now`.
pub fn execute(
    state: &mut AccountState,
    principal: &Principal,
    sql: &str,
    now: Timestamp,
) -> Result<ResultSet, SqlError> {
    let statement = parse_statement(sql)?;
    execute_statement(state, principal, &statement, now)
}

/// Runs an already parsed statement.
pub fn execute_statement(
    state: &mut AccountState,
    principal: &Principal,
    statement: &Statement,
    now: Timestamp,
) -> Result<ResultSet, SqlError> {
    state.purge_expired_pats(now);
    match statement {
        Statement::Select(items) => {
            let mut columns = Vec::new();
            let mut row = Vec::new();
            for item in items {
                let name = item.alias.as_deref().unwrap_or(item.function.column_name());
                columns.push(Column::text(name));
                row.push(Cell::text(match item.function {
                    super::ast::ContextFunction::CurrentUser => principal.user.clone(),
                    super::ast::ContextFunction::CurrentRole => principal.role.clone(),
                    super::ast::ContextFunction::CurrentAccount => {
                        state.current_account().to_owned()
                    }
                }));
            }
            Ok(ResultSet {
                columns,
                rows: vec![row],
            })
        }
        Statement::AlterUserPat {
            if_exists,
            user,
            action,
        } => pat_exec::alter_user_pat(state, principal, *if_exists, user.as_deref(), action, now),
        Statement::ShowPats { user } => pat_exec::show_pats(state, principal, user.as_deref(), now),
        Statement::AlterUserWorkloadIdentity {
            if_exists,
            user,
            action,
        } => identity_exec::alter_user_identity(
            state,
            principal,
            *if_exists,
            user.as_deref(),
            action,
            now,
        ),
        Statement::ShowWorkloadIdentities { user } => {
            identity_exec::show_identities(state, principal, user.as_deref())
        }
        other => user_exec::execute_user_statement(state, principal, other, now),
    }
}

/// True when the session's role may manage any user (OWNERSHIP stand-in).
pub(super) fn is_admin(state: &AccountState, principal: &Principal) -> bool {
    state.admin_roles.contains(&principal.role)
}
