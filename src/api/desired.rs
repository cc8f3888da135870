//! What the resources ask of Snowflake, in the client's terms.
//!
//! This is the one place where names from a resource are handed to the Snowflake client,
//! and so the one place where their case is settled. The CRDs admit only unquoted
//! identifiers (`analyst`, `BI_SVC`), which Snowflake resolves to uppercase; the client
//! double-quotes every name it sends, which keeps case. Handing `analyst` over verbatim
//! would therefore name the role `"analyst"`, which does not exist, and a `defaultRole:
//! analyst` would differ from the `ANALYST` that `DESC USER` shows on every reconcile.
//! Resolving here, once, makes `analyst` and `ANALYST` mean the same role everywhere.

use crate::snowflake::{self, Account, AddPatRequest, DesiredUser};

use super::connection::SnowflakeConnectionSpec;
use super::service_user::SnowflakeServiceUser;
use super::token::PatSpec;
use super::token_oauth::OAuthSpec;

/// The name Snowflake resolves an unquoted identifier to: uppercase (ASCII; the CRDs admit
/// no other letters).
pub fn resolve_identifier(name: &str) -> String {
    name.to_ascii_uppercase()
}

fn resolve_all(names: &[String]) -> Vec<String> {
    let mut resolved: Vec<String> = names.iter().map(|n| resolve_identifier(n)).collect();
    // `analyst` and `ANALYST` in one list are one role.
    resolved.sort();
    resolved.dedup();
    resolved
}

impl SnowflakeConnectionSpec {
    /// The account and its base URL (`host` when set, else derived from `account`).
    pub fn snowflake_account(&self) -> snowflake::Result<Account> {
        Account::new(&self.account, self.host.as_deref())
    }

    /// The admin user, as Snowflake names it.
    pub fn admin_user(&self) -> String {
        resolve_identifier(&self.user)
    }

    /// The role of the operator's statements, as Snowflake names it.
    pub fn admin_role(&self) -> Option<String> {
        self.role.as_deref().map(resolve_identifier)
    }
}

impl SnowflakeServiceUser {
    /// The whole desired state of the user in Snowflake.
    pub fn desired_user(&self) -> DesiredUser {
        let spec = &self.spec;
        DesiredUser {
            name: self.snowflake_user_name(),
            default_role: spec.default_role.as_deref().map(resolve_identifier),
            default_warehouse: spec.default_warehouse.as_deref().map(resolve_identifier),
            default_namespace: spec.default_namespace.as_deref().map(resolve_identifier),
            comment: spec.comment.clone(),
            roles: resolve_all(&spec.roles),
            network_policy: spec.network_policy.as_deref().map(resolve_identifier),
            disabled: spec.disabled,
            // Set by the controller once the issuer is known (see
            // `SnowflakeServiceUser::desired_identities`).
            workload_identities: Vec::new(),
            manage_workload_identities: spec.workload_identity.is_some(),
        }
    }
}

impl PatSpec {
    /// The `ADD PROGRAMMATIC ACCESS TOKEN` request for a token named `name` (already
    /// resolved, see [`super::SnowflakeToken::pat_name`]).
    pub fn add_pat_request(&self, name: String) -> AddPatRequest {
        AddPatRequest {
            name,
            role_restriction: self.role_restriction.as_deref().map(resolve_identifier),
            // Out-of-range values (which admission refuses) become 0, which the client
            // refuses with a message, rather than a silently different lifetime.
            days_to_expiry: Some(u32::try_from(self.days_to_expiry).unwrap_or(0)),
            mins_to_bypass_network_policy_requirement: self
                .mins_to_bypass_network_policy_requirement
                .map(|m| u32::try_from(m).unwrap_or(0)),
            comment: self.comment.clone(),
        }
    }
}

impl OAuthSpec {
    /// The role of the access token's sessions (`session:role:<ROLE>` is compared with the
    /// stored, uppercase, name).
    pub fn session_role(&self) -> Option<String> {
        self.role.as_deref().map(resolve_identifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{SnowflakeToken, SnowflakeTokenSpec};

    #[test]
    fn unquoted_names_resolve_to_uppercase_everywhere() {
        let user: SnowflakeServiceUser = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "etl"},
            "spec": {
                "connectionRef": {"name": "prod"},
                "userName": "etl_svc",
                "defaultRole": "analyst",
                "defaultWarehouse": "etl_wh",
                "defaultNamespace": "analytics.public",
                "roles": ["analyst", "ANALYST", "Loader"],
                "networkPolicy": "corp_np",
                "comment": "Kept as written",
            }
        }))
        .expect("service user");
        let desired = user.desired_user();
        assert_eq!(desired.name, "ETL_SVC");
        assert_eq!(desired.default_role.as_deref(), Some("ANALYST"));
        assert_eq!(desired.default_warehouse.as_deref(), Some("ETL_WH"));
        assert_eq!(
            desired.default_namespace.as_deref(),
            Some("ANALYTICS.PUBLIC")
        );
        assert_eq!(desired.roles, ["ANALYST", "LOADER"]);
        assert_eq!(desired.network_policy.as_deref(), Some("CORP_NP"));
        assert_eq!(desired.comment.as_deref(), Some("Kept as written"));

        let spec: SnowflakeTokenSpec = serde_json::from_value(serde_json::json!({
            "connectionRef": {"name": "prod"},
            "user": {"name": "bi_svc"},
            "programmaticAccessToken": {"tokenName": "gateway", "roleRestriction": "analyst"},
        }))
        .expect("token");
        let token = SnowflakeToken::new("pbi", spec);
        assert_eq!(token.explicit_user_name().as_deref(), Some("BI_SVC"));
        let name = token.pat_name().expect("a PAT");
        assert_eq!(name, "GATEWAY");
        let pat = token.spec.programmatic_access_token.as_ref().expect("pat");
        let request = pat.add_pat_request(name);
        assert_eq!(request.role_restriction.as_deref(), Some("ANALYST"));
        assert_eq!(request.days_to_expiry, Some(15));
    }
}
