use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::snowflake::resultset::{ResultSet, WireResultSet};

/// A credential-shaped value, to look for.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{32,48}"
}

/// Any JSON, with `secret` among its strings and the SQL API's own field names among
/// its keys, so parsing gets deep into the shapes it expects.
fn json_with(secret: String) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        Just(Value::from(secret)),
    ];
    let key = prop_oneof![
        "[a-zA-Z]{1,12}",
        Just("data".to_owned()),
        Just("resultSetMetaData".to_owned()),
        Just("rowType".to_owned()),
        Just("partitionInfo".to_owned()),
        Just("name".to_owned()),
        Just("numRows".to_owned()),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Whether `body` carries `secret` in a field an error may quote.
fn quotable(body: &Value, secret: &str) -> bool {
    ["message", "code", "sqlState", "statementHandle"]
        .iter()
        .any(|f| body.get(f).is_some_and(|v| v.to_string().contains(secret)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_answer_is_classified_without_panic(
        status in 100u16..600,
        body in prop::collection::vec(any::<u8>(), 0..512),
        retry_after in prop::option::of("[ -~]{0,24}"),
        polling in any::<bool>(),
    ) {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = retry_after.and_then(|r| http::HeaderValue::from_str(&r).ok()) {
            headers.insert(http::header::RETRY_AFTER, value);
        }
        let _ = classify(status, &headers, body, polling);
    }

    #[test]
    fn a_refusal_quotes_no_credential_but_in_its_message_fields(
        (secret, body) in secret().prop_flat_map(|s| (Just(s.clone()), json_with(s))),
        status in 201u16..600,
        polling in any::<bool>(),
    ) {
        let text = body.to_string();
        if let Err(error) = classify(status, &http::HeaderMap::new(), text.into_bytes(), polling) {
            let shown = format!("{error} {error:?}");
            prop_assert!(!shown.contains(&secret) || quotable(&body, &secret), "{}", shown);
        }
    }

    #[test]
    fn a_result_set_parses_or_is_refused_without_quoting_its_cells(
        (secret, body) in secret().prop_flat_map(|s| (Just(s.clone()), json_with(s))),
    ) {
        let text = body.to_string();
        match crate::snowflake::transport::json_object::<WireResultSet>(text.as_bytes()) {
            Err(e) => {
                let error = crate::snowflake::transport::json_error("the result set", &e);
                let shown = format!("{error} {error:?}");
                prop_assert!(!shown.contains(&secret), "{}", shown);
            }
            Ok(wire) => match ResultSet::from_wire(wire) {
                Err(error) => {
                    let shown = format!("{error} {error:?}");
                    prop_assert!(!shown.contains(&secret), "{}", shown);
                }
                Ok((set, partitions)) => {
                    prop_assert!(partitions >= 1);
                    let shown = format!("{set:?}");
                    prop_assert!(!shown.contains(&secret) || quotable(&body, &secret), "{}", shown);
                    for row in set.rows() {
                        let _ = row.get("TOKEN_SECRET");
                    }
                }
            },
        }
    }
}
