//! Account identifiers, the JWT account name and the base URL of an account.
//!
//! Accepted account forms (case-insensitive, optional `https://` and
//! `.snowflakecomputing.com` are stripped):
//! * `org-account` (preferred), e.g. `myorg-analytics`;
//! * a legacy locator with region and cloud, e.g. `xy12345.us-east-2.aws`;
//! * either of those followed by `.privatelink`, which selects the PrivateLink host;
//! * a global (replication) URL's account, `org-account.global`.
//!
//! The JWT account name follows the reference's client rule: cut at the first `.`, then
//! uppercase (`xy12345.us-east-2.aws` → `XY12345`, `myorg-analytics` → `MYORG-ANALYTICS`,
//! `myorg-demo.global` → `MYORG-DEMO`). For `.global` this is what the current Python
//! connector (5.x) signs; its 4.8 line instead cut at the last `-` (`MYORG`), taking the
//! account part for a connection id. A dotted `org.account` is not an org-account
//! identifier here (both connector lines would sign it as `ORG`, losing the account): write
//! it with a `-` as Snowflake recommends.
//!
//! An explicit host override (PrivateLink with a custom DNS name, a proxy, the emulator)
//! replaces the derived URL entirely; `http://` is allowed there for loopback emulators and
//! TLS-terminating proxies.

use url::Url;

use super::error::{Error, Result};

const DOMAIN: &str = ".snowflakecomputing.com";
const PRIVATELINK: &str = ".privatelink";
const GLOBAL: &str = "global";

/// A normalised Snowflake account: its identifier, the JWT account name and the base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    identifier: String,
    jwt_account: String,
    base_url: Url,
}

impl Account {
    /// Parses an account identifier and an optional host override.
    pub fn new(account: &str, host: Option<&str>) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidAccount {
            input: redact_url(account),
            reason: reason.to_owned(),
        };
        let mut id = account.trim().to_ascii_lowercase();
        for scheme in ["https://", "http://"] {
            if let Some(rest) = id.strip_prefix(scheme) {
                id = rest.to_owned();
            }
        }
        let id = id.trim_end_matches('/');
        let id = id.strip_suffix(DOMAIN).unwrap_or(id);
        let (id, privatelink) = match id.strip_suffix(PRIVATELINK) {
            Some(rest) => (rest, true),
            None => (id, false),
        };
        if id.is_empty() {
            return Err(invalid("the account identifier is empty"));
        }
        let labels: Vec<&str> = id.split('.').collect();
        let first = labels[0];
        validate_account_name(first).map_err(|r| invalid(&r))?;
        if let [_, second] = labels[..] {
            // Every Snowflake region name contains a '-' (us-east-2, west-europe,
            // us-central1); a bare second part is the dotted `org.account` form, whose JWT
            // name would silently lose the account part. `global` is the exception: a
            // global (replication) URL, `<org>-<account>.global.snowflakecomputing.com`.
            if !second.contains('-') && second != GLOBAL {
                return Err(invalid(
                    "write an organization account as org-account (with '-'), or a locator \
                     with its region, e.g. xy12345.us-east-2.aws",
                ));
            }
        }
        for label in &labels[1..] {
            if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(invalid(
                    "region and cloud parts may only contain letters, digits and '-'",
                ));
            }
        }
        let jwt_account = first.to_ascii_uppercase();
        let base_url = match host.map(str::trim).filter(|h| !h.is_empty()) {
            Some(h) => parse_host_override(h)?,
            None => {
                // Hostnames may not contain '_'; Snowflake serves org-account URLs with
                // the underscore of an account name written as '-'.
                let label = id.replace('_', "-");
                let pl = if privatelink { PRIVATELINK } else { "" };
                Url::parse(&format!("https://{label}{pl}{DOMAIN}"))
                    .map_err(|e| invalid(&format!("cannot form a URL: {e}")))?
            }
        };
        Ok(Self {
            identifier: format!("{id}{}", if privatelink { PRIVATELINK } else { "" }),
            jwt_account,
            base_url,
        })
    }

    /// The normalised identifier (lowercase, without the domain).
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The account name as it appears in JWT `iss`/`sub` (uppercase, no region).
    pub fn jwt_account(&self) -> &str {
        &self.jwt_account
    }

    /// The base URL requests are sent to, without a trailing slash in its path.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The host name (and port, when not the default), as written into Secrets for tools.
    pub fn host(&self) -> String {
        let host = self.base_url.host_str().unwrap_or_default();
        match self.base_url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// The absolute URL of `path` (which starts with `/`) under the base URL.
    pub fn url(&self, path: &str) -> String {
        let base = self.base_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}

fn validate_account_name(name: &str) -> std::result::Result<(), String> {
    if name.len() > 63 {
        return Err("the account name is longer than 63 characters (one DNS label)".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("the account name must start with a letter".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err("the account name may only contain letters, digits, '_' and '-'".into());
    }
    if name.ends_with('-') || name.contains("--") {
        return Err("the account name has an empty part around '-'".into());
    }
    Ok(())
}

/// An account or host as it may appear in an error: a `user:password@` part and any query
/// or fragment (where signed URLs and proxy tokens travel) are masked, so the refusal of a
/// URL that carries a secret does not repeat the secret into logs, events and status.
fn redact_url(text: &str) -> String {
    let (text, tail) = match text.find(['?', '#']) {
        Some(cut) => (text.get(..cut).unwrap_or_default(), "?***"),
        None => (text, ""),
    };
    let start = text.find("://").map_or(0, |i| i + 3);
    let rest = text.get(start..).unwrap_or_default();
    let authority = rest
        .find('/')
        .map_or(rest, |end| rest.get(..end).unwrap_or(rest));
    let masked = match authority.rfind('@') {
        Some(at) => format!(
            "{}***{}",
            text.get(..start).unwrap_or_default(),
            rest.get(at..).unwrap_or_default()
        ),
        None => text.to_owned(),
    };
    format!("{masked}{tail}")
}

fn parse_host_override(host: &str) -> Result<Url> {
    let invalid = |reason: String| Error::InvalidAccount {
        input: redact_url(host),
        reason,
    };
    let with_scheme = if host.contains("://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| invalid(format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid("the host URL must use https or http".into()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the host URL has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "the host URL must not carry credentials; use a Secret".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "the host URL must not have a query or fragment".into(),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_forms_normalise_to_jwt_name_and_url() {
        let cases = [
            (
                "myorg-analytics",
                "MYORG-ANALYTICS",
                "https://myorg-analytics.snowflakecomputing.com/",
            ),
            (
                "MyOrg-Analytics.snowflakecomputing.com",
                "MYORG-ANALYTICS",
                "https://myorg-analytics.snowflakecomputing.com/",
            ),
            (
                "https://myorg-analytics.snowflakecomputing.com/",
                "MYORG-ANALYTICS",
                "https://myorg-analytics.snowflakecomputing.com/",
            ),
            (
                "xy12345.us-east-2.aws",
                "XY12345",
                "https://xy12345.us-east-2.aws.snowflakecomputing.com/",
            ),
            (
                "xy12345",
                "XY12345",
                "https://xy12345.snowflakecomputing.com/",
            ),
            (
                "myorg-my_acct",
                "MYORG-MY_ACCT",
                "https://myorg-my-acct.snowflakecomputing.com/",
            ),
            (
                "myorg-demo.global",
                "MYORG-DEMO",
                "https://myorg-demo.global.snowflakecomputing.com/",
            ),
            (
                "MyOrg-Demo.Global.snowflakecomputing.com",
                "MYORG-DEMO",
                "https://myorg-demo.global.snowflakecomputing.com/",
            ),
            (
                "myorg-analytics.privatelink",
                "MYORG-ANALYTICS",
                "https://myorg-analytics.privatelink.snowflakecomputing.com/",
            ),
            (
                "myorg-analytics.privatelink.snowflakecomputing.com",
                "MYORG-ANALYTICS",
                "https://myorg-analytics.privatelink.snowflakecomputing.com/",
            ),
        ];
        for (input, jwt, url) in cases {
            let a = Account::new(input, None).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(a.jwt_account(), jwt, "{input}");
            assert_eq!(a.base_url().as_str(), url, "{input}");
        }
    }

    #[test]
    fn host_override_replaces_the_derived_url() {
        let a = Account::new("myorg-analytics", Some("http://127.0.0.1:8089")).unwrap();
        assert_eq!(a.jwt_account(), "MYORG-ANALYTICS");
        assert_eq!(
            a.url("/api/v2/statements"),
            "http://127.0.0.1:8089/api/v2/statements"
        );
        assert_eq!(a.host(), "127.0.0.1:8089");
        let proxy =
            Account::new("xy12345.eu-west-1", Some("proxy.corp.example/snowflake/")).unwrap();
        assert_eq!(
            proxy.url("/oauth/token-request"),
            "https://proxy.corp.example/snowflake/oauth/token-request"
        );
        assert_eq!(proxy.jwt_account(), "XY12345");
    }

    #[test]
    fn bad_input_is_refused_with_a_readable_reason() {
        let long = "a".repeat(64);
        let cases = [
            ("", "empty"),
            ("   ", "empty"),
            ("1org-acct", "start with a letter"),
            ("my org", "letters, digits"),
            ("myorg-", "empty part"),
            ("xy12345.us_east", "region"),
            ("xy12345..aws", "region"),
            ("myorg.myacct", "org-account"),
            (long.as_str(), "63 characters"),
        ];
        for (input, reason) in cases {
            let err = Account::new(input, None).expect_err(input).to_string();
            assert!(err.contains(reason), "{input:?}: {err}");
        }
        for host in ["ftp://h", "https://user:pw@h", "http://h/?q=1", "https://"] {
            let err = Account::new("myorg-a", Some(host))
                .expect_err(host)
                .to_string();
            assert!(err.contains("host"), "{host}: {err}");
            assert!(!err.contains("pw"), "credentials leaked: {err}");
        }
    }

    #[test]
    fn a_refused_url_never_repeats_its_credentials_or_query() {
        let secret = "s3cr3t-sig";
        let hosts = [
            format!("https://proxy.example/?sig={secret}"),
            format!("https://proxy.example/path#token={secret}"),
            format!("https://me:{secret}@proxy.example/?x=1"),
            format!("proxy.example/?sig={secret}"),
        ];
        for host in &hosts {
            let err = Account::new("myorg-a", Some(host)).expect_err(host);
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(secret), "secret leaked: {shown}");
            assert!(shown.contains("proxy.example"), "{shown}");
        }
        let account = format!("https://myorg-a.snowflakecomputing.com/?token={secret}");
        let err = Account::new(&account, None).expect_err("a query is no account");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secret), "secret leaked: {shown}");
    }
}
