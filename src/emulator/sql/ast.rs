//! Typed statements produced by the parser.

/// A context function in a `SELECT` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextFunction {
    CurrentUser,
    CurrentRole,
    CurrentAccount,
}

impl ContextFunction {
    /// The default column name Snowflake gives the expression.
    pub fn column_name(self) -> &'static str {
        match self {
            ContextFunction::CurrentUser => "CURRENT_USER()",
            ContextFunction::CurrentRole => "CURRENT_ROLE()",
            ContextFunction::CurrentAccount => "CURRENT_ACCOUNT()",
        }
    }
}

/// One `SELECT` list item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectItem {
    pub function: ContextFunction,
    pub alias: Option<String>,
}

/// User properties the emulator stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UserProperty {
    Type,
    LoginName,
    DisplayName,
    Email,
    Comment,
    DefaultRole,
    DefaultWarehouse,
    DefaultNamespace,
    DefaultSecondaryRoles,
    NetworkPolicy,
    Disabled,
    RsaPublicKey,
    RsaPublicKey2,
    DaysToExpiry,
    MinsToUnlock,
    /// The `DEFAULT` workload identity.
    WorkloadIdentity,
}

impl UserProperty {
    /// Looks a property up by its (upper-case) SQL name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "TYPE" => Self::Type,
            "LOGIN_NAME" => Self::LoginName,
            "DISPLAY_NAME" => Self::DisplayName,
            "EMAIL" => Self::Email,
            "COMMENT" => Self::Comment,
            "DEFAULT_ROLE" => Self::DefaultRole,
            "DEFAULT_WAREHOUSE" => Self::DefaultWarehouse,
            "DEFAULT_NAMESPACE" => Self::DefaultNamespace,
            "DEFAULT_SECONDARY_ROLES" => Self::DefaultSecondaryRoles,
            "NETWORK_POLICY" => Self::NetworkPolicy,
            "DISABLED" => Self::Disabled,
            "RSA_PUBLIC_KEY" => Self::RsaPublicKey,
            "RSA_PUBLIC_KEY_2" => Self::RsaPublicKey2,
            "DAYS_TO_EXPIRY" => Self::DaysToExpiry,
            "MINS_TO_UNLOCK" => Self::MinsToUnlock,
            "WORKLOAD_IDENTITY" => Self::WorkloadIdentity,
            _ => return None,
        })
    }
}

/// A property value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Identifier (unquoted upper-cased, or double-quoted), possibly dotted (`DB.SCH`).
    Ident(String),
    Text(String),
    Bool(bool),
    Number(u64),
    List(Vec<String>),
    /// `WORKLOAD_IDENTITY = (TYPE = … ISSUER = … SUBJECT = … OIDC_AUDIENCE_LIST = (…))`.
    Identity(IdentitySpec),
    Null,
}

/// The properties of a workload identity as written (`TYPE` upper-cased).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentitySpec {
    pub identity_type: String,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    /// `None` when `OIDC_AUDIENCE_LIST` is omitted.
    pub audiences: Option<Vec<String>>,
}

/// A workload-identity clause of `ALTER USER` (`ADD | MODIFY | REMOVE WORKLOAD IDENTITY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityAction {
    Add {
        name: String,
        spec: IdentitySpec,
    },
    Rename {
        name: String,
        to: String,
    },
    Set {
        name: String,
        disabled: Option<bool>,
        comment: Option<String>,
    },
    Unset {
        name: String,
        disabled: bool,
        comment: bool,
    },
    Remove {
        name: String,
    },
}

impl Value {
    /// The value as text for identifier- or string-valued properties.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Ident(s) | Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// PAT options of `ADD`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddPat {
    pub if_not_exists: bool,
    pub name: String,
    pub role_restriction: Option<String>,
    pub days_to_expiry: Option<u64>,
    pub mins_to_bypass: Option<u64>,
    pub comment: Option<String>,
}

/// `MODIFY PAT` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModifyPat {
    Rename(String),
    Set {
        disabled: Option<bool>,
        mins_to_bypass: Option<u64>,
        comment: Option<String>,
    },
    Unset(Vec<PatProperty>),
}

/// Properties `MODIFY PAT … UNSET` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatProperty {
    Disabled,
    MinsToBypass,
    Comment,
}

/// A PAT action of `ALTER USER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatAction {
    Add(AddPat),
    Rotate {
        name: String,
        expire_rotated_after_hours: Option<u64>,
    },
    Modify {
        if_exists: bool,
        name: String,
        change: ModifyPat,
    },
    Remove {
        if_exists: bool,
        name: String,
    },
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    Select(Vec<SelectItem>),
    CreateUser {
        or_replace: bool,
        if_not_exists: bool,
        name: String,
        properties: Vec<(UserProperty, Value)>,
    },
    AlterUserSet {
        if_exists: bool,
        name: String,
        properties: Vec<(UserProperty, Value)>,
    },
    AlterUserUnset {
        if_exists: bool,
        name: String,
        properties: Vec<UserProperty>,
    },
    AlterUserPat {
        if_exists: bool,
        user: Option<String>,
        action: PatAction,
    },
    DropUser {
        if_exists: bool,
        name: String,
    },
    DescribeUser {
        name: String,
    },
    GrantRole {
        role: String,
        user: String,
    },
    RevokeRole {
        role: String,
        user: String,
    },
    ShowGrantsToUser {
        user: String,
    },
    ShowPats {
        user: Option<String>,
    },
    AlterUserWorkloadIdentity {
        if_exists: bool,
        user: Option<String>,
        action: IdentityAction,
    },
    ShowWorkloadIdentities {
        user: Option<String>,
    },
}

impl Statement {
    /// A label for logs and the request log: the statement kind, never its text.
    pub fn label(&self) -> &'static str {
        match self {
            Statement::Select(_) => "SELECT",
            Statement::CreateUser { .. } => "CREATE USER",
            Statement::AlterUserSet { .. } => "ALTER USER SET",
            Statement::AlterUserUnset { .. } => "ALTER USER UNSET",
            Statement::AlterUserPat { action, .. } => match action {
                PatAction::Add(_) => "ALTER USER ADD PAT",
                PatAction::Rotate { .. } => "ALTER USER ROTATE PAT",
                PatAction::Modify { .. } => "ALTER USER MODIFY PAT",
                PatAction::Remove { .. } => "ALTER USER REMOVE PAT",
            },
            Statement::DropUser { .. } => "DROP USER",
            Statement::DescribeUser { .. } => "DESCRIBE USER",
            Statement::GrantRole { .. } => "GRANT ROLE",
            Statement::RevokeRole { .. } => "REVOKE ROLE",
            Statement::ShowGrantsToUser { .. } => "SHOW GRANTS TO USER",
            Statement::ShowPats { .. } => "SHOW USER PATS",
            Statement::AlterUserWorkloadIdentity { action, .. } => match action {
                IdentityAction::Add { .. } => "ALTER USER ADD WORKLOAD IDENTITY",
                IdentityAction::Rename { .. }
                | IdentityAction::Set { .. }
                | IdentityAction::Unset { .. } => "ALTER USER MODIFY WORKLOAD IDENTITY",
                IdentityAction::Remove { .. } => "ALTER USER REMOVE WORKLOAD IDENTITY",
            },
            Statement::ShowWorkloadIdentities { .. } => {
                "SHOW USER WORKLOAD IDENTITY AUTHENTICATION METHODS"
            }
        }
    }
}
