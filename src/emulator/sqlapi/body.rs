//! The body of `POST /api/v2/statements`, typed as sqlapi.yaml declares it. Every field
//! is optional; a field that is present must have its declared type (no field is
//! nullable, so `null` is refused too), else the request is refused with 400 like any
//! payload Snowflake cannot read. Fields the emulator does not act on (database, schema,
//! warehouse, bindings, output formats) are typed anyway, so a wrong type is refused
//! rather than silently dropped.
//!
//! One documented widening: `parameters.multi_statement_count` is an integer in
//! sqlapi.yaml, but Snowflake's own documentation sends it as a string (`"0"`, `"2"`;
//! reference §3.1), so a string of digits is taken too.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// The request body. `Default` is an empty object.
#[derive(Debug, Default, Deserialize)]
pub(super) struct StatementRequest {
    /// A body without one runs the empty statement, which fails as Snowflake fails it
    /// (422 `000900` "Empty SQL statement.").
    #[serde(default, deserialize_with = "present")]
    pub statement: Option<String>,
    /// Seconds (`0` = the maximum); only echoed in the timeout fault's message.
    #[serde(default, deserialize_with = "present")]
    pub timeout: Option<NonNegative>,
    #[serde(default, deserialize_with = "present")]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub parameters: Option<Parameters>,
    /// Typed only (the leading `_`: nothing reads them).
    #[serde(default, flatten)]
    _unused: UnusedFields,
}

/// Body fields the emulator types but does not act on.
#[allow(
    dead_code,
    reason = "typed so that a wrong type is refused; never read"
)]
#[derive(Debug, Default, Deserialize)]
struct UnusedFields {
    #[serde(default, deserialize_with = "present")]
    database: Option<String>,
    #[serde(default, deserialize_with = "present")]
    schema: Option<String>,
    #[serde(default, deserialize_with = "present")]
    warehouse: Option<String>,
    /// Not emulated (README): any object is taken and ignored.
    #[serde(default, deserialize_with = "present")]
    bindings: Option<Map<String, Value>>,
}

/// `parameters`: session parameters set before the statement runs.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Parameters {
    #[serde(default, deserialize_with = "present")]
    pub multi_statement_count: Option<StatementCount>,
    /// Typed only (the leading `_`: nothing reads them).
    #[serde(default, flatten)]
    _unused: UnusedParameters,
}

/// Session parameters the emulator types but does not act on.
#[allow(
    dead_code,
    reason = "typed so that a wrong type is refused; never read"
)]
#[derive(Debug, Default, Deserialize)]
struct UnusedParameters {
    #[serde(default, deserialize_with = "present")]
    timezone: Option<String>,
    #[serde(default, deserialize_with = "present")]
    query_tag: Option<String>,
    #[serde(default, deserialize_with = "present")]
    binary_output_format: Option<String>,
    #[serde(default, deserialize_with = "present")]
    date_output_format: Option<String>,
    #[serde(default, deserialize_with = "present")]
    time_output_format: Option<String>,
    #[serde(default, deserialize_with = "present")]
    timestamp_output_format: Option<String>,
    #[serde(default, deserialize_with = "present")]
    timestamp_ltz_output_format: Option<String>,
    #[serde(default, deserialize_with = "present")]
    timestamp_ntz_output_format: Option<String>,
    #[serde(default, deserialize_with = "present")]
    timestamp_tz_output_format: Option<String>,
}

/// A non-negative JSON integer (one beyond `u64` saturates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NonNegative(pub u64);

/// `multi_statement_count`: a non-negative integer, or a string of digits (see the
/// module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StatementCount(pub u64);

fn non_negative(value: &Value) -> Option<u64> {
    let n = value.as_number()?;
    n.as_u64().or_else(|| {
        // Integers beyond u64 arrive as floats; `as` saturates.
        n.as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0)
            .map(|f| f as u64)
    })
}

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        non_negative(&Value::deserialize(deserializer)?)
            .map(Self)
            .ok_or_else(|| D::Error::custom("expected a non-negative integer"))
    }
}

impl<'de> Deserialize<'de> for StatementCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Self(s.parse().unwrap_or(u64::MAX)))
            }
            other => non_negative(&other)
                .map(Self)
                .ok_or_else(|| D::Error::custom("expected a count of statements")),
        }
    }
}

/// A present field must hold its type: `null` is refused (with `default`, an absent
/// field is `None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

impl StatementRequest {
    /// Parses a body that must be a JSON object (not an array, which serde would
    /// otherwise read as the fields in order); `None` when it is not one of this shape.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let object: Map<String, Value> = serde_json::from_slice(body).ok()?;
        serde_json::from_value(Value::Object(object)).ok()
    }

    /// `multi_statement_count`: `0` any number, `N` exactly N, absent 1.
    pub fn statement_count(&self) -> Option<usize> {
        let count = self
            .parameters
            .as_ref()
            .and_then(|p| p.multi_statement_count)
            .map_or(1, |StatementCount(n)| n);
        (count > 0).then(|| usize::try_from(count).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Option<StatementRequest> {
        StatementRequest::parse(body.as_bytes())
    }

    #[test]
    fn fields_must_have_their_declared_types() {
        for refused in [
            "[]",
            r#"["SELECT 1"]"#,
            "null",
            r#"{"statement": null}"#,
            r#"{"statement": 1}"#,
            r#"{"timeout": -1}"#,
            r#"{"timeout": "10"}"#,
            r#"{"timeout": 1.5}"#,
            r#"{"role": ["R"]}"#,
            r#"{"database": 1}"#,
            r#"{"warehouse": null}"#,
            r#"{"bindings": []}"#,
            r#"{"parameters": "x"}"#,
            r#"{"parameters": {"query_tag": 1}}"#,
            r#"{"parameters": {"multi_statement_count": -1}}"#,
            r#"{"parameters": {"multi_statement_count": "two"}}"#,
            r#"{"parameters": {"multi_statement_count": ""}}"#,
            r#"{"parameters": {"multi_statement_count": {}}}"#,
        ] {
            assert!(parse(refused).is_none(), "{refused}");
        }
        let taken = parse(
            r#"{"statement": "SELECT 1", "timeout": 100000000000000000000, "extra": null,
                "bindings": {"1": {"type": "FIXED", "value": "1"}},
                "parameters": {"multi_statement_count": 2, "other": [1]}}"#,
        )
        .expect("taken");
        assert_eq!(taken.timeout, Some(NonNegative(u64::MAX)));
        assert_eq!(taken.statement_count(), Some(2));
    }

    #[test]
    fn statement_counts_follow_multi_statement_count() {
        let count = |body: &str| parse(body).expect("parses").statement_count();
        assert_eq!(count("{}"), Some(1));
        assert_eq!(count(r#"{"parameters": {}}"#), Some(1));
        assert_eq!(
            count(r#"{"parameters": {"multi_statement_count": 0}}"#),
            None
        );
        assert_eq!(
            count(r#"{"parameters": {"multi_statement_count": "0"}}"#),
            None
        );
        assert_eq!(
            count(r#"{"parameters": {"multi_statement_count": "3"}}"#),
            Some(3)
        );
        assert_eq!(
            count(r#"{"parameters": {"multi_statement_count": "99999999999999999999999"}}"#),
            Some(usize::MAX)
        );
    }
}
