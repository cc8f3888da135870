//! CEL validation rules shared by the three CRDs.
//!
//! The API server evaluates these at admission (`x-kubernetes-validations`), so a bad
//! manifest is refused by `kubectl apply` with the message below instead of reaching the
//! operator. Patterns are written into CEL raw strings (`r'...'`), so backslashes reach
//! the regex engine unchanged. Every rule here runs on a string whose `maxLength` is set in the schema:
//! the API server refuses CRDs whose rules have an unbounded estimated cost.

use kube::core::Rule;

/// Unquoted Snowflake identifier: what users, roles, warehouses and token names look like
/// when written without double quotes. Longest identifier Snowflake accepts: 255 characters.
pub const SNOWFLAKE_IDENTIFIER: &str = "^[A-Za-z_][A-Za-z0-9_$]*$";

/// Go duration (`time.ParseDuration`) restricted to the units that make sense for
/// credentials: `90m`, `72h`, `1h30m`, `45s`, `1.5h`.
///
/// At most 4 parts of at most 5 digits (plus 9 decimals) each: the largest value it admits,
/// about 400000h, is far inside Go's range, so the API server's CEL `duration()` in the
/// bound rules can never overflow, and neither can the operator's parser.
pub const GO_DURATION: &str = r"^([0-9]{1,5}(\.[0-9]{1,9})?(ms|s|m|h)){1,4}$";

/// [`GO_DURATION`] without its anchors, as a proptest strategy of admitted values.
#[cfg(test)]
pub const GO_DURATION_STRATEGY: &str = r"([0-9]{1,5}(\.[0-9]{1,9})?(ms|s|m|h)){1,4}";

/// A programmatic access token name: an unquoted identifier without `$`, which Snowflake
/// does not allow in token names.
pub const PAT_NAME: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// A Kubernetes object name (RFC 1123 subdomain): lowercase alphanumerics, `-` and `.`.
pub const KUBERNETES_NAME: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A key in a Secret's `data`: alphanumerics, `-`, `_` and `.`.
pub const SECRET_KEY: &str = r"^[-._a-zA-Z0-9]+$";

/// The rule for a Snowflake identifier such as a user, role, warehouse or token name.
pub fn snowflake_identifier() -> Rule {
    Rule::new(format!("self.matches(r'{SNOWFLAKE_IDENTIFIER}')")).message(
        "must be a Snowflake identifier: letters, digits, '_' and '$', starting with a \
         letter or '_' (for example BI_SERVICE); it is case-insensitive and Snowflake stores \
         it uppercase",
    )
}

/// The rule for a programmatic access token name.
pub fn pat_name() -> Rule {
    Rule::new(format!("self.matches(r'{PAT_NAME}')")).message(
        "must be a token name: letters, digits and '_', starting with a letter or '_' (for \
         example POWER_BI); it is case-insensitive and Snowflake stores it uppercase",
    )
}

/// The rule for every item of a list of Snowflake identifiers (granted roles).
pub fn snowflake_identifiers() -> Rule {
    Rule::new(format!(
        "self.all(role, role.matches(r'{SNOWFLAKE_IDENTIFIER}'))"
    ))
    .message(
        "every role must be a Snowflake identifier: letters, digits, '_' and '$', starting \
         with a letter or '_' (for example ANALYST)",
    )
}

/// The rule for a Go-style duration such as `72h` or `30m`.
pub fn duration() -> Rule {
    Rule::new(format!("self.matches(r'{GO_DURATION}')")).message(
        "must be a duration such as 72h, 90m, 1h30m or 45s (units: h, m, s, ms; at most 5 \
         digits per number)",
    )
}

/// CEL that is true when `field` (a CEL expression of a string) is a duration in
/// `[min, max]`, or not a duration at all (which [`duration`] reports): `duration()` is
/// only evaluated on text the pattern admits.
pub fn duration_within(field: &str, min: &str, max: &str) -> String {
    format!(
        "!{field}.matches(r'{GO_DURATION}') || \
         (duration({field}) >= duration('{min}') && duration({field}) <= duration('{max}'))"
    )
}

/// The rule bounding a duration field to `[min, max]` (Go durations such as `1h`).
pub fn duration_between(min: &str, max: &str) -> Rule {
    Rule::new(duration_within("self", min, max)).message(kube::core::Message::Message(format!(
        "must be between {min} and {max}"
    )))
}

/// The rule for the name of a Kubernetes object in this resource's namespace.
pub fn kubernetes_name() -> Rule {
    Rule::new(format!("self.matches(r'{KUBERNETES_NAME}')")).message(
        "must be a Kubernetes object name: lowercase letters, digits, '-' and '.', starting \
         and ending with a letter or digit",
    )
}

/// The rule for a key in a Secret's data.
pub fn secret_key() -> Rule {
    Rule::new(format!("self.matches(r'{SECRET_KEY}')"))
        .message("must be a Secret key: letters, digits, '-', '_' and '.'")
}

/// A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name of
/// at most 63 characters (alphanumerics, `-`, `_`, `.`; alphanumeric at both ends).
pub const QUALIFIED_NAME: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";

/// A label value: empty, or at most 63 characters like a key's name part.
pub const LABEL_VALUE: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$";

/// The rule for the keys of a map of labels or annotations (`what`).
pub fn metadata_keys(what: &str) -> Rule {
    Rule::new(format!(
        "self.all(k, size(k) <= 317 && k.matches(r'{QUALIFIED_NAME}'))"
    ))
    .message(kube::core::Message::Message(format!(
        "{what} keys must be Kubernetes keys: an optional DNS prefix and '/', then at most 63 \
         letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    )))
}

/// The rule keeping the operator's own keys out of a map of labels or annotations.
pub fn no_reserved_keys(what: &str) -> Rule {
    use crate::api::keys::{MANAGED_BY_LABEL, PREFIX};
    Rule::new(format!(
        "self.all(k, !k.startsWith('{PREFIX}') && k != '{MANAGED_BY_LABEL}')"
    ))
    .message(kube::core::Message::Message(format!(
        "{what} cannot set {MANAGED_BY_LABEL} or keys starting with {PREFIX}: the operator \
         sets them"
    )))
}

/// The rule for the values of a map of labels.
pub fn label_values() -> Rule {
    Rule::new(format!("self.all(k, self[k].matches(r'{LABEL_VALUE}'))")).message(
        "label values must be at most 63 letters, digits, '-', '_' or '.', starting and ending \
         with a letter or digit (or empty)",
    )
}

/// The rule refusing a `namespace` on a reference.
///
/// CEL cannot read `metadata.namespace`, so a reference cannot be compared with the
/// resource's own namespace; instead any namespace is refused loudly. Without the field,
/// an attempt at a cross-namespace reference would be pruned silently and then resolved
/// in the wrong namespace.
pub fn no_cross_namespace(what: &str) -> Rule {
    Rule::new("!has(self.__namespace__)").message(kube::core::Message::Message(format!(
        "cross-namespace references are not allowed: {what} must be in the same namespace \
         as this resource; remove the namespace field"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, value: &str) -> bool {
        // The API server evaluates these patterns with RE2; they use only the syntax RE2
        // and the JSON Schema validator's regex engine share.
        let schema = serde_json::json!({"type": "string", "pattern": pattern});
        jsonschema::is_valid(&schema, &serde_json::json!(value))
    }

    #[test]
    fn identifiers_follow_unquoted_snowflake_rules() {
        for ok in ["BI_SERVICE", "_x", "a1$", "analyst"] {
            assert!(matches(SNOWFLAKE_IDENTIFIER, ok), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "bi-service",
            "bi service",
            "\"quoted\"",
            "a;drop",
        ] {
            assert!(!matches(SNOWFLAKE_IDENTIFIER, bad), "{bad}");
        }
    }

    #[test]
    fn durations_follow_go_syntax() {
        for ok in ["72h", "30m", "1h30m", "45s", "1.5h", "500ms"] {
            assert!(matches(GO_DURATION, ok), "{ok}");
        }
        for bad in [
            "",
            "3 days",
            "72",
            "h",
            "-1h",
            "P1D",
            "1d",
            "99999999999999999999h",
            "123456h",
            "1h1h1h1h1h",
        ] {
            assert!(!matches(GO_DURATION, bad), "{bad}");
        }
    }

    #[test]
    fn kubernetes_names_and_secret_keys() {
        assert!(matches(KUBERNETES_NAME, "bi-gateway.v1"));
        assert!(!matches(KUBERNETES_NAME, "BI_gateway"));
        assert!(!matches(KUBERNETES_NAME, "-x"));
        assert!(matches(SECRET_KEY, "connections.toml"));
        assert!(!matches(SECRET_KEY, "a/b"));
    }

    #[test]
    fn cross_namespace_message_names_the_reference() {
        let rule = no_cross_namespace("the SnowflakeConnection");
        let json = serde_json::to_string(&rule).expect("rule serializes");
        assert!(json.contains("cross-namespace references are not allowed"));
        assert!(json.contains("the SnowflakeConnection"));
    }
}
