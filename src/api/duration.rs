//! Durations in resources (`renewBefore: 72h`), written as Go's `time.ParseDuration` reads
//! them, as in every Kubernetes API.
//!
//! Hand-written rather than `kube::core::Duration` for two reasons found in review:
//! * kube-core's parser panics on values the old CRD pattern let through (its
//!   `Duration::mul_f64` and `+=` overflow on `99999999999999999999h`), and one panicking
//!   resource must never take the operator down;
//! * a value that cannot be parsed must not fail deserialization either: kube's watcher
//!   reads every object of a list in one go, so a single undeserializable resource (stored
//!   before a validation rule tightened, say) would stall the reconciliation of all of them.
//!
//! So [`GoDuration`] deserializes from any string, keeps the text verbatim (it serializes
//! back unchanged), and reports a bad value as a typed [`DurationError`] when the
//! controller asks for it, which becomes a condition on that one resource. The CRD rules
//! ([`crate::api::rules::duration`]) refuse such values at admission in the first place.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration as StdDuration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Go's largest duration (`math.MaxInt64` nanoseconds, about 292 years). Larger values are
/// refused as Go and the API server's CEL `duration()` refuse them.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Why a duration text cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text is empty.
    #[error("the duration is empty")]
    Empty,
    /// The text is not a Go duration.
    #[error("{text:?} is not a duration such as 72h, 90m, 1h30m or 45s: {reason}")]
    Syntax {
        /// The text as written (a duration from a spec, never a secret).
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The duration is negative.
    #[error("{text:?} is negative; durations here must be positive")]
    Negative {
        /// The text as written.
        text: String,
    },
    /// The duration is longer than Go's largest (about 292 years).
    #[error("{text:?} is too long: durations are at most 2562047h")]
    Overflow {
        /// The text as written.
        text: String,
    },
}

/// A duration as written in a resource: its text, and what the text means.
#[derive(Clone, PartialEq, Eq)]
pub struct GoDuration {
    text: String,
    value: Result<StdDuration, DurationError>,
}

impl GoDuration {
    /// Reads `text` (never fails: a bad value is kept and reported by [`Self::get`]).
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let value = parse(&text);
        Self { text, value }
    }

    /// The duration, or why the text does not name one.
    pub fn get(&self) -> Result<StdDuration, DurationError> {
        self.value.clone()
    }

    /// The text as written in the resource.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<StdDuration> for GoDuration {
    /// A duration written the way Go's `Duration.String` writes it, trailing zero units
    /// dropped (`90m` → `1h30m`, `1.5s` → `1.5s`).
    fn from(duration: StdDuration) -> Self {
        Self {
            text: format_go(duration),
            value: Ok(duration),
        }
    }
}

impl fmt::Debug for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GoDuration({:?})", self.text)
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

impl schemars::JsonSchema for GoDuration {
    fn schema_name() -> Cow<'static, str> {
        "GoDuration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string"})
    }
}

/// Parses Go's duration syntax: an optional sign, then one or more decimal numbers each
/// with a unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), or the bare `0`. Arithmetic
/// is in integer nanoseconds with overflow checks; fractions are truncated to whole
/// nanoseconds, as Go does.
fn parse(text: &str) -> Result<StdDuration, DurationError> {
    let syntax = |reason| DurationError::Syntax {
        text: text.to_owned(),
        reason,
    };
    let overflow = || DurationError::Overflow {
        text: text.to_owned(),
    };
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let (negative, mut rest) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(StdDuration::ZERO);
    }
    if rest.is_empty() {
        return Err(syntax("a number is missing"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (whole, after) = rest.split_at(whole_len);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let len = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(len)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(syntax("a number is missing"));
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{00b5}s" | "\u{03bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "" => return Err(syntax("a unit is missing (h, m, s, ms)")),
            _ => return Err(syntax("units are h, m, s, ms, us and ns")),
        };
        // More digits than any in-range value has means overflow, and keeps the
        // conversions below inside u128.
        if whole.len() > 20 {
            return Err(overflow());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| overflow())?
        };
        let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(overflow)?;
        // Digits past the 19th cannot change a value in whole nanoseconds.
        let fraction = &fraction[..fraction.len().min(19)];
        if !fraction.is_empty() {
            let digits: u128 = fraction.parse().map_err(|_| overflow())?;
            let scale = 10u128.pow(u32::try_from(fraction.len()).unwrap_or(19));
            nanos = nanos
                .checked_add(digits * unit_nanos / scale)
                .ok_or_else(overflow)?;
        }
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        if total > MAX_NANOS {
            return Err(overflow());
        }
        rest = after;
    }
    if negative && total > 0 {
        return Err(DurationError::Negative {
            text: text.to_owned(),
        });
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| overflow())?;
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| overflow())?;
    Ok(StdDuration::new(secs, nanos))
}

/// `72h`, `1h30m`, `1.5s`, `250ms`, `0s`.
fn format_go(duration: StdDuration) -> String {
    let secs = duration.as_secs();
    let nanos = duration.subsec_nanos();
    if secs == 0 && nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let (hours, minutes, seconds) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push_str(&format!("{seconds}.{}s", fraction.trim_end_matches('0')));
    } else if seconds > 0 {
        out.push_str(&format!("{seconds}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> StdDuration {
        StdDuration::from_secs(s)
    }

    #[test]
    fn go_syntax_is_read() {
        let cases = [
            ("72h", secs(72 * 3600)),
            ("90m", secs(90 * 60)),
            ("1h30m", secs(5400)),
            ("1.5h", secs(5400)),
            ("45s", secs(45)),
            ("500ms", StdDuration::from_millis(500)),
            ("1h1h", secs(7200)),
            ("0", StdDuration::ZERO),
            ("0s", StdDuration::ZERO),
            ("-0", StdDuration::ZERO),
            (".5s", StdDuration::from_millis(500)),
            ("1.s", secs(1)),
            ("2us", StdDuration::from_micros(2)),
            ("2\u{00b5}s", StdDuration::from_micros(2)),
            ("3ns", StdDuration::from_nanos(3)),
            ("2562047h", secs(2_562_047 * 3600)),
        ];
        for (text, want) in cases {
            assert_eq!(GoDuration::new(text).get(), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        for text in [
            "99999999999999999999h",
            "2562048h",
            "9223372036854775808ns",
            "1000000000000000000000000000000000000000h",
            "2562047h2562047h",
        ] {
            assert!(
                matches!(
                    GoDuration::new(text).get(),
                    Err(DurationError::Overflow { .. })
                ),
                "{text}"
            );
        }
        for text in [
            "h", "72", "3 days", "1d", "P1D", "1h-30m", ".h", "1..5h", "+",
        ] {
            assert!(
                matches!(
                    GoDuration::new(text).get(),
                    Err(DurationError::Syntax { .. })
                ),
                "{text}: {:?}",
                GoDuration::new(text).get()
            );
        }
        assert_eq!(GoDuration::new("").get(), Err(DurationError::Empty));
        assert!(matches!(
            GoDuration::new("-1h").get(),
            Err(DurationError::Negative { .. })
        ));
    }

    #[test]
    fn any_string_deserializes_and_serializes_back_verbatim() {
        for text in ["72h", "99999999999999999999h", "not a duration", ""] {
            let json = serde_json::Value::String(text.to_owned());
            let parsed: GoDuration = serde_json::from_value(json.clone()).expect("deserializes");
            assert_eq!(parsed.as_str(), text);
            assert_eq!(serde_json::to_value(&parsed).expect("serializes"), json);
        }
    }

    #[test]
    fn written_durations_read_back() {
        for d in [
            secs(0),
            secs(1),
            secs(5400),
            secs(72 * 3600),
            StdDuration::from_millis(1500),
            StdDuration::from_nanos(1),
        ] {
            let written = GoDuration::from(d);
            assert_eq!(GoDuration::new(written.as_str()).get(), Ok(d), "{written}");
        }
        assert_eq!(GoDuration::from(secs(5400)).as_str(), "1h30m");
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = GoDuration::new(text).get();
        }

        #[test]
        fn what_the_crd_admits_parses(text in crate::api::rules::GO_DURATION_STRATEGY) {
            prop_assert!(GoDuration::new(&text).get().is_ok(), "{}", text);
        }
    }
}
