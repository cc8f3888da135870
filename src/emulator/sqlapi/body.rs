//! The body of `POST /api/v2/statements`, typed as sqlapi.yaml declares it. Every field
//! is optional; a field that is present must have its declared type (no field is
//! nullable, so `null` is refused too: [`Given`]), else the request is refused with 400 like any
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
#[serde(default)]
pub(super) struct StatementRequest {
    /// A body without one runs the empty statement, which fails as Snowflake fails it
    /// (422 `000900` "Empty SQL statement.").
    pub statement: Given<String>,
    /// Seconds (`0` = the maximum); only echoed in the timeout fault's message.
    pub timeout: Given<NonNegative>,
    pub role: Given<String>,
    pub parameters: Given<Parameters>,
    /// Typed only (the leading `_`: nothing reads them).
    #[serde(flatten)]
    _unused: UnusedFields,
}

/// Body fields the emulator types but does not act on.
#[allow(
    dead_code,
    reason = "typed so that a wrong type is refused; never read"
)]
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UnusedFields {
    database: Given<String>,
    schema: Given<String>,
    warehouse: Given<String>,
    /// Not emulated (README): any object is taken and ignored.
    bindings: Given<Map<String, Value>>,
}

/// `parameters`: session parameters set before the statement runs.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Parameters {
    pub multi_statement_count: Given<StatementCount>,
    /// Typed only (the leading `_`: nothing reads them).
    #[serde(flatten)]
    _unused: UnusedParameters,
}

/// Session parameters the emulator types but does not act on.
#[allow(
    dead_code,
    reason = "typed so that a wrong type is refused; never read"
)]
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UnusedParameters {
    timezone: Given<String>,
    query_tag: Given<String>,
    binary_output_format: Given<String>,
    date_output_format: Given<String>,
    time_output_format: Given<String>,
    timestamp_output_format: Given<String>,
    timestamp_ltz_output_format: Given<String>,
    timestamp_ntz_output_format: Given<String>,
    timestamp_tz_output_format: Given<String>,
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

/// A field that may be left out but, when present, holds a `T`: `null` is refused, as
/// no field of the body is nullable (`Option` would read `null` as absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Given<T> {
    #[default]
    Absent,
    Present(T),
}

impl<T> Given<T> {
    /// The value, when the field was present.
    pub fn get(&self) -> Option<&T> {
        match self {
            Self::Absent => None,
            Self::Present(value) => Some(value),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Given<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self::Present)
    }
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
            .get()
            .and_then(|p| p.multi_statement_count.get())
            .map_or(1, |StatementCount(n)| *n);
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
        assert_eq!(taken.timeout, Given::Present(NonNegative(u64::MAX)));
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
