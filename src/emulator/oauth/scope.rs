//! The `scope` parameter of `/oauth/authorize` (reference §6.2): space-separated
//! `refresh_token`, `session:role:<ROLE>` or `session:role-encoded:<urlencoded ROLE>`.

use super::error::AuthorizeError;
use super::secret::percent_decode;

const ROLE_PREFIX: &str = "session:role:";
const ENCODED_ROLE_PREFIX: &str = "session:role-encoded:";

/// A parsed scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// `refresh_token` was requested (offline access).
    pub offline_access: bool,
    /// The requested session role (case-sensitive), if any.
    pub role: Option<String>,
}

impl Scope {
    /// Parses a scope string; unknown scopes, empty or repeated roles are refused (390308).
    pub fn parse(raw: Option<&str>) -> Result<Self, AuthorizeError> {
        let mut scope = Scope::default();
        for item in raw.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
            let role = if item == "refresh_token" {
                scope.offline_access = true;
                continue;
            } else if let Some(encoded) = item.strip_prefix(ENCODED_ROLE_PREFIX) {
                percent_decode(encoded).ok_or_else(|| {
                    AuthorizeError::InvalidScope("malformed session:role-encoded value.".into())
                })?
            } else if let Some(role) = item.strip_prefix(ROLE_PREFIX) {
                role.to_owned()
            } else {
                return Err(AuthorizeError::InvalidScope(format!(
                    "unknown scope {item:?}."
                )));
            };
            if role.is_empty() {
                return Err(AuthorizeError::InvalidScope("empty role name.".into()));
            }
            if scope.role.is_some() {
                return Err(AuthorizeError::InvalidScope(
                    "at most one session role is allowed.".into(),
                ));
            }
            scope.role = Some(role);
        }
        Ok(scope)
    }

    /// The scope string echoed to the client for the granted `role`.
    pub fn render(&self, role: &str) -> String {
        let role_scope = if role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        {
            format!("{ROLE_PREFIX}{role}")
        } else {
            let encoded: String = url::form_urlencoded::byte_serialize(role.as_bytes())
                .collect::<String>()
                .replace('+', "%20");
            format!("{ENCODED_ROLE_PREFIX}{encoded}")
        };
        if self.offline_access {
            format!("refresh_token {role_scope}")
        } else {
            role_scope
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_refresh_token_and_roles() {
        assert_eq!(Scope::parse(None), Ok(Scope::default()));
        assert_eq!(
            Scope::parse(Some("refresh_token session:role:ANALYST")),
            Ok(Scope {
                offline_access: true,
                role: Some("ANALYST".into())
            })
        );
        assert_eq!(
            Scope::parse(Some("session:role-encoded:My%20Role")),
            Ok(Scope {
                offline_access: false,
                role: Some("My Role".into())
            })
        );
        assert_eq!(
            Scope::parse(Some("session:role:analyst")).map(|s| s.role),
            Ok(Some("analyst".into()))
        );
    }

    #[test]
    fn refuses_unknown_repeated_or_empty_roles() {
        for bad in [
            "openid",
            "session:role:A session:role:B",
            "session:role:A session:role-encoded:B",
            "session:role:",
            "session:role-encoded:%zz",
        ] {
            let err = Scope::parse(Some(bad)).expect_err(bad);
            assert_eq!(err.code(), "390308", "{bad}");
        }
    }

    #[test]
    fn renders_plain_and_encoded_roles() {
        let s = Scope {
            offline_access: true,
            role: None,
        };
        assert_eq!(s.render("ANALYST"), "refresh_token session:role:ANALYST");
        let s = Scope::default();
        assert_eq!(s.render("My Role"), "session:role-encoded:My%20Role");
    }
}
