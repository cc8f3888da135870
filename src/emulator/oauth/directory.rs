//! What the authorization server needs to know about users, behind a trait so the OAuth
//! model does not depend on the emulator's state type (and can be tested on its own).

use std::collections::{BTreeMap, BTreeSet};

/// Every user holds PUBLIC implicitly; Snowflake never lists it as a grant.
pub const PUBLIC_ROLE: &str = "PUBLIC";

/// A user as the authorization server sees it at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The user name as stored (normally uppercase).
    pub name: String,
    /// `DISABLED = TRUE`: a disabled user can neither authorize nor refresh.
    pub disabled: bool,
    /// `DEFAULT_ROLE`, used when the scope names no role.
    pub default_role: Option<String>,
    /// Roles granted to the user (directly or through the hierarchy, as the emulator models it).
    pub granted_roles: BTreeSet<String>,
}

impl DirectoryUser {
    /// True when the user may assume `role` (PUBLIC is always granted). Role names are
    /// compared exactly: `session:role:` scopes are case-sensitive (reference §6.2).
    pub fn has_role(&self, role: &str) -> bool {
        role == PUBLIC_ROLE || self.granted_roles.contains(role)
    }

    /// The role a session gets without a role scope: the default role, else PUBLIC.
    pub fn session_default_role(&self) -> &str {
        self.default_role.as_deref().unwrap_or(PUBLIC_ROLE)
    }
}

/// The emulator's user store, as far as OAuth is concerned.
pub trait Directory {
    /// The user called `name`, or `None` when no such user exists. The implementation
    /// decides how names are matched (Snowflake resolves unquoted names uppercase).
    fn lookup_user(&self, name: &str) -> Option<DirectoryUser>;
}

/// A map-backed [`Directory`] for tests and for tools that have no emulator state.
#[derive(Debug, Clone, Default)]
pub struct InMemoryDirectory {
    users: BTreeMap<String, DirectoryUser>,
}

impl InMemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a user.
    pub fn insert(&mut self, user: DirectoryUser) {
        self.users.insert(user.name.clone(), user);
    }

    /// Convenience: adds an enabled user with a default role and grants.
    pub fn with_user(mut self, name: &str, default_role: Option<&str>, roles: &[&str]) -> Self {
        self.insert(DirectoryUser {
            name: name.to_owned(),
            disabled: false,
            default_role: default_role.map(str::to_owned),
            granted_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        });
        self
    }

    /// Mutable access to a user, to disable it or change its grants in a test.
    pub fn user_mut(&mut self, name: &str) -> Option<&mut DirectoryUser> {
        self.users.get_mut(name)
    }
}

impl Directory for InMemoryDirectory {
    fn lookup_user(&self, name: &str) -> Option<DirectoryUser> {
        self.users.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_is_always_granted_and_the_default_fallback() {
        let dir = InMemoryDirectory::new().with_user("U", None, &["ANALYST"]);
        let user = dir.lookup_user("U").expect("exists");
        assert!(user.has_role("PUBLIC") && user.has_role("ANALYST"));
        assert!(!user.has_role("analyst"));
        assert_eq!(user.session_default_role(), "PUBLIC");
        assert!(dir.lookup_user("V").is_none());
    }
}
