//! SQL statement builders: the only way user-supplied text reaches Snowflake.
//!
//! Identifiers are always double-quoted with `"` doubled, so they are taken verbatim
//! (case-sensitive: pass names as `SHOW` prints them, normally uppercase). String literals
//! are single-quoted with `\` and `'` escaped, because Snowflake processes backslash escapes
//! inside literals. Text that Snowflake could not store (empty identifiers, NUL characters,
//! names over 255 characters) is refused here rather than sent.

use super::error::{Error, Result};
use super::types::WorkloadIdentity;

/// Snowflake's maximum identifier length.
pub const MAX_IDENTIFIER_LEN: usize = 255;

/// Quotes an identifier: `my "role"` → `"my ""role"""`.
pub fn quote_ident(name: &str) -> Result<String> {
    if name.is_empty() {
        return Err(Error::InvalidInput("an identifier is empty".into()));
    }
    if name.chars().count() > MAX_IDENTIFIER_LEN {
        return Err(Error::InvalidInput(format!(
            "identifier longer than {MAX_IDENTIFIER_LEN} characters"
        )));
    }
    if name.contains('\0') {
        return Err(Error::InvalidInput(
            "an identifier contains a NUL character".into(),
        ));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// Quotes a string literal: `it's a\b` → `'it\'s a\\b'`.
pub fn quote_literal(text: &str) -> Result<String> {
    if text.contains('\0') {
        return Err(Error::InvalidInput(
            "a string value contains a NUL character".into(),
        ));
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

/// Quotes a namespace `DB` or `DB.SCHEMA` as `"DB"` or `"DB"."SCHEMA"` (split at the first
/// `.`; a database name containing `.` cannot be expressed).
pub fn quote_namespace(namespace: &str) -> Result<String> {
    match namespace.split_once('.') {
        Some((db, schema)) => Ok(format!("{}.{}", quote_ident(db)?, quote_ident(schema)?)),
        None => quote_ident(namespace),
    }
}

/// A user property the operator manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserProperty {
    /// `DEFAULT_ROLE` (identifier).
    DefaultRole(String),
    /// `DEFAULT_WAREHOUSE` (identifier).
    DefaultWarehouse(String),
    /// `DEFAULT_NAMESPACE` (`DB` or `DB.SCHEMA`).
    DefaultNamespace(String),
    /// `COMMENT` (literal).
    Comment(String),
    /// `NETWORK_POLICY` (identifier).
    NetworkPolicy(String),
    /// `DISABLED`.
    Disabled(bool),
    /// `RSA_PUBLIC_KEY` (base64 DER, literal).
    RsaPublicKey(String),
    /// `RSA_PUBLIC_KEY_2` (base64 DER, literal).
    RsaPublicKey2(String),
}

impl UserProperty {
    /// The property name as Snowflake spells it (and as `DESC USER` lists it).
    pub fn name(&self) -> &'static str {
        match self {
            Self::DefaultRole(_) => "DEFAULT_ROLE",
            Self::DefaultWarehouse(_) => "DEFAULT_WAREHOUSE",
            Self::DefaultNamespace(_) => "DEFAULT_NAMESPACE",
            Self::Comment(_) => "COMMENT",
            Self::NetworkPolicy(_) => "NETWORK_POLICY",
            Self::Disabled(_) => "DISABLED",
            Self::RsaPublicKey(_) => "RSA_PUBLIC_KEY",
            Self::RsaPublicKey2(_) => "RSA_PUBLIC_KEY_2",
        }
    }

    fn render(&self) -> Result<String> {
        let value = match self {
            Self::DefaultRole(v) | Self::DefaultWarehouse(v) | Self::NetworkPolicy(v) => {
                quote_ident(v)?
            }
            Self::DefaultNamespace(v) => quote_namespace(v)?,
            Self::Comment(v) | Self::RsaPublicKey(v) | Self::RsaPublicKey2(v) => quote_literal(v)?,
            Self::Disabled(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        };
        Ok(format!("{} = {value}", self.name()))
    }
}

/// The names of properties that can be unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsetProperty {
    /// `DEFAULT_ROLE`.
    DefaultRole,
    /// `DEFAULT_WAREHOUSE`.
    DefaultWarehouse,
    /// `DEFAULT_NAMESPACE`.
    DefaultNamespace,
    /// `COMMENT`.
    Comment,
    /// `NETWORK_POLICY`.
    NetworkPolicy,
    /// `RSA_PUBLIC_KEY`.
    RsaPublicKey,
    /// `RSA_PUBLIC_KEY_2`.
    RsaPublicKey2,
}

impl UnsetProperty {
    /// The property name.
    pub fn name(self) -> &'static str {
        match self {
            Self::DefaultRole => "DEFAULT_ROLE",
            Self::DefaultWarehouse => "DEFAULT_WAREHOUSE",
            Self::DefaultNamespace => "DEFAULT_NAMESPACE",
            Self::Comment => "COMMENT",
            Self::NetworkPolicy => "NETWORK_POLICY",
            Self::RsaPublicKey => "RSA_PUBLIC_KEY",
            Self::RsaPublicKey2 => "RSA_PUBLIC_KEY_2",
        }
    }
}

fn render_properties(props: &[UserProperty]) -> Result<String> {
    let parts = props
        .iter()
        .map(UserProperty::render)
        .collect::<Result<Vec<_>>>()?;
    Ok(parts.join(" "))
}

/// `SELECT CURRENT_USER(), CURRENT_ROLE()`.
pub fn select_identity() -> String {
    "SELECT CURRENT_USER(), CURRENT_ROLE()".to_owned()
}

/// `CREATE USER IF NOT EXISTS "U" TYPE = SERVICE <props>`.
pub fn create_service_user(user: &str, props: &[UserProperty]) -> Result<String> {
    let mut sql = format!(
        "CREATE USER IF NOT EXISTS {} TYPE = SERVICE",
        quote_ident(user)?
    );
    if !props.is_empty() {
        sql.push(' ');
        sql.push_str(&render_properties(props)?);
    }
    Ok(sql)
}

/// `ALTER USER "U" SET <props>`.
pub fn alter_user_set(user: &str, props: &[UserProperty]) -> Result<String> {
    if props.is_empty() {
        return Err(Error::InvalidInput(
            "ALTER USER SET without properties".into(),
        ));
    }
    Ok(format!(
        "ALTER USER {} SET {}",
        quote_ident(user)?,
        render_properties(props)?
    ))
}

/// `ALTER USER "U" UNSET P1, P2`.
pub fn alter_user_unset(user: &str, props: &[UnsetProperty]) -> Result<String> {
    if props.is_empty() {
        return Err(Error::InvalidInput(
            "ALTER USER UNSET without properties".into(),
        ));
    }
    let names: Vec<_> = props.iter().map(|p| p.name()).collect();
    Ok(format!(
        "ALTER USER {} UNSET {}",
        quote_ident(user)?,
        names.join(", ")
    ))
}

/// `GRANT ROLE "R" TO USER "U"`.
pub fn grant_role(role: &str, user: &str) -> Result<String> {
    Ok(format!(
        "GRANT ROLE {} TO USER {}",
        quote_ident(role)?,
        quote_ident(user)?
    ))
}

/// `REVOKE ROLE "R" FROM USER "U"`.
pub fn revoke_role(role: &str, user: &str) -> Result<String> {
    Ok(format!(
        "REVOKE ROLE {} FROM USER {}",
        quote_ident(role)?,
        quote_ident(user)?
    ))
}

/// `SHOW GRANTS TO USER "U"`.
pub fn show_grants_to_user(user: &str) -> Result<String> {
    Ok(format!("SHOW GRANTS TO USER {}", quote_ident(user)?))
}

/// `DESC USER "U"`.
pub fn desc_user(user: &str) -> Result<String> {
    Ok(format!("DESC USER {}", quote_ident(user)?))
}

/// `SHOW USER WORKLOAD IDENTITY AUTHENTICATION METHODS FOR USER "U"`.
pub fn show_workload_identities(user: &str) -> Result<String> {
    Ok(format!(
        "SHOW USER WORKLOAD IDENTITY AUTHENTICATION METHODS FOR USER {}",
        quote_ident(user)?
    ))
}

/// `ALTER USER "U" ADD WORKLOAD IDENTITY "N" TYPE = OIDC ISSUER = '…' SUBJECT = '…'
/// [OIDC_AUDIENCE_LIST = ('…', …)]`, the list left out for the default audience alone (so
/// `SHOW` lists `[]`, as for an identity made without one).
pub fn add_workload_identity(user: &str, identity: &WorkloadIdentity) -> Result<String> {
    let mut sql = format!(
        "ALTER USER {} ADD WORKLOAD IDENTITY {} TYPE = OIDC ISSUER = {} SUBJECT = {}",
        quote_ident(user)?,
        quote_ident(&identity.name)?,
        quote_literal(&identity.issuer)?,
        quote_literal(&identity.subject)?
    );
    let audiences = identity.normalized_audiences();
    if !audiences.is_empty() {
        let quoted = audiences
            .iter()
            .map(|a| quote_literal(a))
            .collect::<Result<Vec<_>>>()?;
        sql.push_str(&format!(" OIDC_AUDIENCE_LIST = ({})", quoted.join(", ")));
    }
    Ok(sql)
}

/// `ALTER USER "U" REMOVE WORKLOAD IDENTITY "N"`.
pub fn remove_workload_identity(user: &str, name: &str) -> Result<String> {
    Ok(format!(
        "ALTER USER {} REMOVE WORKLOAD IDENTITY {}",
        quote_ident(user)?,
        quote_ident(name)?
    ))
}

/// `DROP USER IF EXISTS "U"`.
pub fn drop_user(user: &str) -> Result<String> {
    Ok(format!("DROP USER IF EXISTS {}", quote_ident(user)?))
}

/// Options of `ADD PROGRAMMATIC ACCESS TOKEN`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddPatOptions<'a> {
    /// `ROLE_RESTRICTION = '<role>'` (compared with the stored role name).
    pub role_restriction: Option<&'a str>,
    /// `DAYS_TO_EXPIRY = n` (1..=365).
    pub days_to_expiry: Option<u32>,
    /// `MINS_TO_BYPASS_NETWORK_POLICY_REQUIREMENT = n` (1..=1440).
    pub mins_to_bypass_network_policy_requirement: Option<u32>,
    /// `COMMENT = '<text>'`.
    pub comment: Option<&'a str>,
}

fn check_range(what: &str, value: u32, range: std::ops::RangeInclusive<u32>) -> Result<u32> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(Error::InvalidInput(format!(
            "{what} must be between {} and {}, got {value}",
            range.start(),
            range.end()
        )))
    }
}

/// `ALTER USER "U" ADD PROGRAMMATIC ACCESS TOKEN "N" <options>`.
pub fn add_pat(user: &str, name: &str, opts: &AddPatOptions<'_>) -> Result<String> {
    let mut sql = format!(
        "ALTER USER {} ADD PROGRAMMATIC ACCESS TOKEN {}",
        quote_ident(user)?,
        quote_ident(name)?
    );
    if let Some(role) = opts.role_restriction {
        sql.push_str(&format!(" ROLE_RESTRICTION = {}", quote_literal(role)?));
    }
    if let Some(days) = opts.days_to_expiry {
        let days = check_range("DAYS_TO_EXPIRY", days, 1..=365)?;
        sql.push_str(&format!(" DAYS_TO_EXPIRY = {days}"));
    }
    if let Some(mins) = opts.mins_to_bypass_network_policy_requirement {
        let mins = check_range("MINS_TO_BYPASS_NETWORK_POLICY_REQUIREMENT", mins, 1..=1440)?;
        sql.push_str(&format!(
            " MINS_TO_BYPASS_NETWORK_POLICY_REQUIREMENT = {mins}"
        ));
    }
    if let Some(comment) = opts.comment {
        sql.push_str(&format!(" COMMENT = {}", quote_literal(comment)?));
    }
    Ok(sql)
}

/// `ALTER USER "U" ROTATE PROGRAMMATIC ACCESS TOKEN "N" EXPIRE_ROTATED_TOKEN_AFTER_HOURS = h`.
pub fn rotate_pat(user: &str, name: &str, expire_rotated_after_hours: u32) -> Result<String> {
    Ok(format!(
        "ALTER USER {} ROTATE PROGRAMMATIC ACCESS TOKEN {} EXPIRE_ROTATED_TOKEN_AFTER_HOURS = {}",
        quote_ident(user)?,
        quote_ident(name)?,
        expire_rotated_after_hours
    ))
}

/// `ALTER USER "U" REMOVE PROGRAMMATIC ACCESS TOKEN IF EXISTS "N"`.
pub fn remove_pat(user: &str, name: &str) -> Result<String> {
    Ok(format!(
        "ALTER USER {} REMOVE PROGRAMMATIC ACCESS TOKEN IF EXISTS {}",
        quote_ident(user)?,
        quote_ident(name)?
    ))
}

/// `ALTER USER "U" MODIFY PROGRAMMATIC ACCESS TOKEN "N" SET DISABLED = TRUE|FALSE`.
pub fn set_pat_disabled(user: &str, name: &str, disabled: bool) -> Result<String> {
    Ok(format!(
        "ALTER USER {} MODIFY PROGRAMMATIC ACCESS TOKEN {} SET DISABLED = {}",
        quote_ident(user)?,
        quote_ident(name)?,
        if disabled { "TRUE" } else { "FALSE" }
    ))
}

/// `SHOW USER PROGRAMMATIC ACCESS TOKENS FOR USER "U"`.
pub fn show_pats(user: &str) -> Result<String> {
    Ok(format!(
        "SHOW USER PROGRAMMATIC ACCESS TOKENS FOR USER {}",
        quote_ident(user)?
    ))
}

/// Validates a PAT name (letters, digits, `_`; starting with a letter or `_`) and returns
/// it uppercase, as Snowflake stores it, so the quoted name equals what `SHOW` prints.
pub fn normalize_pat_name(name: &str) -> Result<String> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= MAX_IDENTIFIER_LEN;
    if valid {
        Ok(name.to_ascii_uppercase())
    } else {
        Err(Error::InvalidInput(format!(
            "token name {name:?} must be letters, digits and '_', starting with a letter or '_'"
        )))
    }
}

#[cfg(test)]
#[path = "sql_tests.rs"]
mod tests;
