//! The values the typed operations take and return.

use jiff::Timestamp;
use secrecy::SecretString;

use super::error::{Error, Result};
use super::resultset::Row;

/// Who the connection is: the answer of `SELECT CURRENT_USER(), CURRENT_ROLE()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The session user.
    pub user: String,
    /// The session role (Snowflake may return NULL).
    pub role: Option<String>,
}

/// The desired state of a `TYPE = SERVICE` user.
///
/// Names are taken verbatim (case-sensitive, as `SHOW` prints them). A `None` property is
/// desired to be unset: converging removes a value set outside the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredUser {
    /// The user name.
    pub name: String,
    /// `DEFAULT_ROLE`.
    pub default_role: Option<String>,
    /// `DEFAULT_WAREHOUSE`.
    pub default_warehouse: Option<String>,
    /// `DEFAULT_NAMESPACE` (`DB` or `DB.SCHEMA`).
    pub default_namespace: Option<String>,
    /// `COMMENT`.
    pub comment: Option<String>,
    /// Roles that must be granted.
    pub roles: Vec<String>,
    /// `NETWORK_POLICY`.
    pub network_policy: Option<String>,
    /// `DISABLED`.
    pub disabled: bool,
    /// The workload identities the operator manages on the user (those named with
    /// [`MANAGED_IDENTITY_PREFIX`]): added when missing, replaced when they differ,
    /// removed when no longer listed. Others (the `DEFAULT` one, names of other tools) are
    /// left alone.
    pub workload_identities: Vec<WorkloadIdentity>,
    /// Whether workload identities are converged at all: true when the spec asks for some
    /// or did before. When false they are not even listed, so a user that never used them
    /// costs no statement and cannot fail on them (an account or role that cannot run
    /// `SHOW USER WORKLOAD IDENTITY AUTHENTICATION METHODS`).
    pub manage_workload_identities: bool,
}

/// Workload identities whose name starts with this belong to the operator.
pub const MANAGED_IDENTITY_PREFIX: &str = "SFTO_";

/// The audience Snowflake requires of a token when an identity lists none.
pub const DEFAULT_OIDC_AUDIENCE: &str = "snowflakecomputing.com";

/// A `TYPE = OIDC` workload identity: tokens of `issuer` with subject `subject` and one of
/// `audiences` (empty: [`DEFAULT_OIDC_AUDIENCE`]) log in as the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadIdentity {
    pub name: String,
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
}

impl WorkloadIdentity {
    /// The audiences as Snowflake compares them: sorted, without duplicates, and empty
    /// for the default audience alone (Snowflake shows an omitted list as `[]`).
    pub fn normalized_audiences(&self) -> Vec<String> {
        let mut audiences = self.audiences.clone();
        audiences.sort();
        audiences.dedup();
        if audiences == [DEFAULT_OIDC_AUDIENCE] {
            audiences.clear();
        }
        audiences
    }

    /// Whether `other` trusts the same tokens (names aside).
    pub fn same_trust(&self, other: &WorkloadIdentity) -> bool {
        self.issuer == other.issuer
            && self.subject == other.subject
            && self.normalized_audiences() == other.normalized_audiences()
    }
}

impl WorkloadIdentity {
    /// The identity `name` from the `additional_info` JSON of its `SHOW … METHODS` row,
    /// `{"issuer": …, "subject": …, "audienceList": […]}`. An answer without it is a
    /// protocol error rather than a difference: treating it as one would replace (and so
    /// close the sessions of) the identity at every check.
    pub fn from_additional_info(name: &str, info: Option<&str>) -> Result<Self> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Info {
            issuer: String,
            subject: String,
            #[serde(default)]
            audience_list: Vec<String>,
        }
        let info: Info = info
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or_else(|| {
                Error::Protocol(format!(
                    "SHOW USER WORKLOAD IDENTITY AUTHENTICATION METHODS gave workload identity \
                     {name} no readable additional_info (issuer, subject, audienceList)"
                ))
            })?;
        Ok(Self {
            name: name.to_owned(),
            issuer: info.issuer,
            subject: info.subject,
            audiences: info.audience_list,
        })
    }
}

/// A row of `SHOW USER WORKLOAD IDENTITY AUTHENTICATION METHODS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedIdentity {
    pub name: String,
    /// `OIDC`, `AWS`, `AZURE` or `GCP`.
    pub identity_type: String,
    /// The OIDC issuer, subject and audiences; `None` for the other types.
    pub oidc: Option<WorkloadIdentity>,
}

/// What converging a user changed; empty when the user was already as desired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// The user did not exist and was created.
    pub created: bool,
    /// Properties set (names as Snowflake spells them).
    pub properties_set: Vec<&'static str>,
    /// Properties unset.
    pub properties_unset: Vec<&'static str>,
    /// Roles granted.
    pub roles_granted: Vec<String>,
    /// Roles revoked.
    pub roles_revoked: Vec<String>,
    /// Workload identities added (names), including ones replaced because they differed.
    pub identities_added: Vec<String>,
    /// Workload identities removed (names), not counting replaced ones.
    pub identities_removed: Vec<String>,
}

impl UserChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.created
            && self.properties_set.is_empty()
            && self.properties_unset.is_empty()
            && self.roles_granted.is_empty()
            && self.roles_revoked.is_empty()
            && self.identities_added.is_empty()
            && self.identities_removed.is_empty()
    }
}

/// How to create a programmatic access token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddPatRequest {
    /// Token name (letters, digits, `_`; stored uppercase).
    pub name: String,
    /// `ROLE_RESTRICTION`; required by Snowflake for SERVICE users.
    pub role_restriction: Option<String>,
    /// `DAYS_TO_EXPIRY` (1..=365; Snowflake's default is 15).
    pub days_to_expiry: Option<u32>,
    /// `MINS_TO_BYPASS_NETWORK_POLICY_REQUIREMENT` (1..=1440).
    pub mins_to_bypass_network_policy_requirement: Option<u32>,
    /// `COMMENT`.
    pub comment: Option<String>,
}

/// A freshly added token. The secret is shown by Snowflake only this once.
#[derive(Debug)]
pub struct NewPat {
    /// The token name.
    pub name: String,
    /// The token secret.
    pub secret: SecretString,
    /// When the token expires, if the answer says so. Snowflake documents only
    /// `token_name` and `token_secret` for `ADD`; the expiry is then `DAYS_TO_EXPIRY` from
    /// the statement's execution, which the caller knows within the statement's latency
    /// (reading it back with `SHOW USER PATS` would cost a statement per token).
    pub expires_at: Option<Timestamp>,
}

/// The result of rotating a token.
#[derive(Debug)]
pub struct RotatedPat {
    /// The token name (unchanged by rotation).
    pub name: String,
    /// The new secret.
    pub secret: SecretString,
    /// The name the old secret lives on under until its grace period ends
    /// (`<NAME>_ROTATED_<epoch_ms>`).
    pub rotated_token_name: String,
    /// When Snowflake rotated the token, on its own clock: the `<epoch_ms>` of
    /// [`Self::rotated_token_name`]. The new secret expires the token's original
    /// `DAYS_TO_EXPIRY` after this (reference §4.3).
    pub rotated_at: Option<Timestamp>,
    /// When the new secret expires, if the answer says so (as for [`NewPat::expires_at`]).
    pub expires_at: Option<Timestamp>,
}

/// When the rotated-out token `<NAME>_ROTATED_<epoch_ms>` was rotated out of `name`, from
/// its name (Snowflake's clock, to the millisecond); `None` for any other name.
pub fn rotated_out_at(name: &str, rotated: &str) -> Option<Timestamp> {
    let prefix_len = name.len() + "_ROTATED_".len();
    let (prefix, millis) = (rotated.get(..prefix_len)?, rotated.get(prefix_len..)?);
    if !prefix.eq_ignore_ascii_case(&format!("{name}_ROTATED_"))
        || millis.is_empty()
        || !millis.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Timestamp::from_millisecond(millis.parse().ok()?).ok()
}

/// The `status` column of `SHOW USER PATS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatStatus {
    /// Usable.
    Active,
    /// Past its expiry.
    Expired,
    /// Disabled (by an admin, or because the user was disabled or locked).
    Disabled,
    /// A status this client does not know, verbatim.
    Other(String),
}

impl PatStatus {
    fn parse(s: &str) -> Self {
        match s.to_ascii_uppercase().as_str() {
            "ACTIVE" => Self::Active,
            "EXPIRED" => Self::Expired,
            "DISABLED" => Self::Disabled,
            _ => Self::Other(s.to_owned()),
        }
    }
}

/// One of a user's two public-key slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeySlot {
    /// `RSA_PUBLIC_KEY`.
    First,
    /// `RSA_PUBLIC_KEY_2`.
    Second,
}

impl KeySlot {
    /// Both slots, in order.
    pub const BOTH: [KeySlot; 2] = [KeySlot::First, KeySlot::Second];

    /// The slot's number, 1 or 2.
    pub fn number(self) -> u8 {
        match self {
            Self::First => 1,
            Self::Second => 2,
        }
    }

    /// The slot numbered `n` (1 or 2).
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            1 => Some(Self::First),
            2 => Some(Self::Second),
            _ => None,
        }
    }

    /// The other slot.
    pub fn other(self) -> Self {
        match self {
            Self::First => Self::Second,
            Self::Second => Self::First,
        }
    }

    /// The property name, as `ALTER USER` and `DESC USER` spell it.
    pub fn property(self) -> &'static str {
        match self {
            Self::First => "RSA_PUBLIC_KEY",
            Self::Second => "RSA_PUBLIC_KEY_2",
        }
    }
}

impl std::fmt::Display for KeySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.property())
    }
}

/// The fingerprints (`SHA256:...`) of the public keys registered on a user, by slot, as
/// `DESC USER` shows them (`RSA_PUBLIC_KEY_FP`, `RSA_PUBLIC_KEY_2_FP`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicKeys {
    /// `RSA_PUBLIC_KEY_FP`.
    pub first: Option<String>,
    /// `RSA_PUBLIC_KEY_2_FP`.
    pub second: Option<String>,
}

impl PublicKeys {
    /// The fingerprint in `slot`.
    pub fn get(&self, slot: KeySlot) -> Option<&str> {
        match slot {
            KeySlot::First => self.first.as_deref(),
            KeySlot::Second => self.second.as_deref(),
        }
    }

    /// Sets the fingerprint in `slot`.
    pub fn set(&mut self, slot: KeySlot, fingerprint: Option<String>) {
        match slot {
            KeySlot::First => self.first = fingerprint,
            KeySlot::Second => self.second = fingerprint,
        }
    }

    /// The slot holding `fingerprint`, if any.
    pub fn slot_of(&self, fingerprint: &str) -> Option<KeySlot> {
        KeySlot::BOTH
            .into_iter()
            .find(|s| self.get(*s) == Some(fingerprint))
    }
}

/// One row of `SHOW USER PROGRAMMATIC ACCESS TOKENS` (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatInfo {
    /// Token name.
    pub name: String,
    /// Owner.
    pub user_name: Option<String>,
    /// The role the token's sessions run as.
    pub role_restriction: Option<String>,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
    /// Status.
    pub status: PatStatus,
    /// Comment.
    pub comment: Option<String>,
    /// Creation time.
    pub created_on: Option<Timestamp>,
    /// Who created it.
    pub created_by: Option<String>,
    /// Minutes left in which the network-policy requirement is waived.
    pub mins_to_bypass_network_policy_requirement: Option<u32>,
    /// For a `_ROTATED_` token, the token it was rotated to.
    pub rotated_to: Option<String>,
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("null"))
        .map(str::to_owned)
}

/// A timestamp column: absent or NULL is `None`, a value that is not a timestamp an error
/// (never silently `None`: the operator decides rotations on it).
fn timestamp_column(row: &Row<'_>, column: &str) -> Result<Option<Timestamp>> {
    match non_empty(row.get(column)) {
        None => Ok(None),
        Some(cell) => parse_timestamp(&cell).map(Some).ok_or_else(|| {
            Error::Protocol(format!(
                "the {column} column of SHOW USER PROGRAMMATIC ACCESS TOKENS is not a timestamp: {cell:?}"
            ))
        }),
    }
}

impl PatInfo {
    /// An active token of this name and nothing else known: what the operator records in
    /// its cached listing for a token it just added.
    pub fn active(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            user_name: None,
            role_restriction: None,
            expires_at: None,
            status: PatStatus::Active,
            comment: None,
            created_on: None,
            created_by: None,
            mins_to_bypass_network_policy_requirement: None,
            rotated_to: None,
        }
    }

    /// Reads a row by column name; missing optional columns are `None`, extra ones ignored.
    pub fn from_row(row: &Row<'_>) -> Result<Self> {
        Ok(Self {
            name: row.require("name")?.to_owned(),
            user_name: non_empty(row.get("user_name")),
            role_restriction: non_empty(row.get("role_restriction")),
            expires_at: timestamp_column(row, "expires_at")?,
            status: row
                .get("status")
                .map_or(PatStatus::Other(String::new()), PatStatus::parse),
            // Verbatim: user text, whose surrounding whitespace is part of it.
            comment: row
                .get("comment")
                .filter(|c| *c != "null")
                .map(str::to_owned),
            created_on: timestamp_column(row, "created_on")?,
            created_by: non_empty(row.get("created_by")),
            mins_to_bypass_network_policy_requirement: row
                .get_any(&[
                    "mins_to_bypass_network_policy_requirement",
                    "mins_to_bypass_required_network_policy",
                ])
                .and_then(|v| v.trim().parse().ok()),
            rotated_to: non_empty(row.get("rotated_to")),
        })
    }
}

/// Parses a Snowflake timestamp cell: epoch seconds with up to 9 decimals (TIMESTAMP_LTZ
/// and NTZ in the SQL API), optionally followed by a TIMESTAMP_TZ offset, or a textual
/// timestamp (`2025-04-09 12:34:56.789 -0700`, RFC 3339).
pub fn parse_timestamp(cell: &str) -> Option<Timestamp> {
    let cell = cell.trim();
    let first = cell.split_whitespace().next()?;
    let numeric = first
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        && !first.contains("--");
    if let Some(ts) = numeric.then(|| parse_epoch(first)).flatten() {
        return Some(ts);
    }
    if let Ok(ts) = cell.parse::<Timestamp>() {
        return Some(ts);
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f %z", "%Y-%m-%d %H:%M:%S %z"] {
        if let Ok(ts) = jiff::fmt::strtime::parse(format, cell).and_then(|t| t.to_timestamp()) {
            return Some(ts);
        }
    }
    None
}

fn parse_epoch(s: &str) -> Option<Timestamp> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    if frac.len() > 9 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos: i32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    let nanos = if secs < 0 { -nanos } else { nanos };
    Timestamp::new(secs, nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snowflake::resultset::{ResultSet, WireResultSet};

    #[test]
    fn timestamps_in_every_shape() {
        let want: Timestamp = "2025-04-09T22:50:49.066Z".parse().unwrap();
        for cell in [
            "1744239049.066000000",
            "1744239049.066",
            "1744239049.066000000 1440",
            "2025-04-09T22:50:49.066Z",
            "2025-04-09 15:50:49.066 -0700",
        ] {
            assert_eq!(parse_timestamp(cell), Some(want), "{cell}");
        }
        assert_eq!(
            parse_timestamp("1744239049"),
            Some(Timestamp::from_second(1_744_239_049).unwrap())
        );
        for bad in ["", "soon", "1.2.3", "1744239049.0660000001"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    fn show(columns: &[&str], rows: &str) -> ResultSet {
        let cols: Vec<String> = columns
            .iter()
            .map(|c| format!(r#"{{"name":"{c}","type":"text"}}"#))
            .collect();
        let json = format!(
            r#"{{"resultSetMetaData":{{"rowType":[{}]}},"data":{rows}}}"#,
            cols.join(",")
        );
        let wire: WireResultSet = serde_json::from_str(&json).unwrap();
        ResultSet::from_wire(wire).unwrap().0
    }

    #[test]
    fn show_pats_rows_are_read_by_name_with_alternates_and_gaps() {
        let documented = show(
            &[
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
            ],
            r#"[["PBI","BI_SVC","ANALYST","1744239049.066000000","ACTIVE","for pbi","1741333409.656000000","ADMIN","0",null],
                ["PBI_ROTATED_1744239049066","BI_SVC","ANALYST","1744325449.066000000","ACTIVE",null,"1741333409.656000000","ADMIN",null,"PBI"]]"#,
        );
        let pats: Vec<_> = documented
            .rows()
            .map(|r| PatInfo::from_row(&r).unwrap())
            .collect();
        assert_eq!(pats[0].name, "PBI");
        assert_eq!(pats[0].role_restriction.as_deref(), Some("ANALYST"));
        assert_eq!(pats[0].status, PatStatus::Active);
        assert_eq!(pats[0].comment.as_deref(), Some("for pbi"));
        assert_eq!(pats[0].mins_to_bypass_network_policy_requirement, Some(0));
        assert_eq!(
            pats[0].expires_at,
            Some("2025-04-09T22:50:49.066Z".parse().unwrap())
        );
        assert_eq!(pats[1].rotated_to.as_deref(), Some("PBI"));

        let alternate = show(
            &[
                "NAME",
                "STATUS",
                "mins_to_bypass_required_network_policy",
                "something_new",
            ],
            r#"[["OLD","disabled","15","x"]]"#,
        );
        let pat = PatInfo::from_row(&alternate.first_row("SHOW").unwrap()).unwrap();
        assert_eq!(pat.status, PatStatus::Disabled);
        assert_eq!(pat.mins_to_bypass_network_policy_requirement, Some(15));
        assert_eq!(pat.user_name, None);
        assert_eq!(pat.expires_at, None);

        let nameless = show(&["status"], r#"[["ACTIVE"]]"#);
        assert!(PatInfo::from_row(&nameless.first_row("SHOW").unwrap()).is_err());

        // An expiry that is there but unreadable is an error, not a token without expiry.
        let garbled = show(&["name", "expires_at"], r#"[["PBI","next tuesday"]]"#);
        let err = PatInfo::from_row(&garbled.first_row("SHOW").unwrap()).unwrap_err();
        assert!(err.to_string().contains("expires_at"), "{err}");
    }

    #[test]
    fn a_rotated_out_name_tells_when_it_was_rotated() {
        let at = rotated_out_at("PBI", "PBI_ROTATED_1744239049066").expect("rotated name");
        assert_eq!(at, "2025-04-09T22:50:49.066Z".parse::<Timestamp>().unwrap());
        assert_eq!(
            rotated_out_at("pbi", "PBI_ROTATED_1744239049066"),
            Some(at),
            "names compare case-insensitively"
        );
        for other in [
            "PBI",
            "PBI_ROTATED_",
            "PBI_ROTATED_12x4",
            "PBI2_ROTATED_1744239049066",
            "PB_ROTATED_1744239049066",
        ] {
            assert_eq!(rotated_out_at("PBI", other), None, "{other}");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let pat = NewPat {
            name: "PBI".into(),
            secret: SecretString::from("pat-secret-value"),
            expires_at: Some(Timestamp::UNIX_EPOCH),
        };
        let rotated = RotatedPat {
            name: "PBI".into(),
            secret: SecretString::from("pat-secret-value"),
            rotated_token_name: "PBI_ROTATED_1".into(),
            rotated_at: None,
            expires_at: None,
        };
        let debug = format!("{pat:?} {rotated:?}");
        assert!(!debug.contains("pat-secret-value"), "{debug}");
        assert!(debug.contains("PBI_ROTATED_1"));
    }
}
