//! Generates resources from a CRD's own schema: every value it produces keeps to the
//! schema's types, enums, ranges, lengths and patterns, and to the `self.matches(...)`
//! patterns of its CEL rules (the other CEL rules are left to the API server, so a
//! generated value may still be refused at admission). Used to check that whatever the
//! API server accepts deserializes into the Rust types.

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use serde_json::{Map, Value, json};

/// The `r'...'` pattern of the first `.matches(r'...')` in `rules`, anchors dropped.
fn rule_pattern(schema: &Value) -> Option<String> {
    schema["x-kubernetes-validations"]
        .as_array()?
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .find_map(|rule| {
            let start = rule.find(".matches(r'")? + ".matches(r'".len();
            let end = start + rule[start..].find("')")?;
            Some(strip_anchors(&rule[start..end]))
        })
}

fn strip_anchors(pattern: &str) -> String {
    let pattern = pattern.strip_prefix('^').unwrap_or(pattern);
    pattern.strip_suffix('$').unwrap_or(pattern).to_owned()
}

fn string(schema: &Value, inherited: Option<String>) -> BoxedStrategy<Value> {
    let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
    let max = schema["maxLength"].as_u64().map_or(40, |m| m.min(300)) as usize;
    if schema["format"] == "date-time" {
        return prop::sample::select(vec![
            "2026-03-01T00:00:00Z",
            "2026-03-01T12:34:56.789Z",
            "2026-03-01T12:34:56+02:00",
            "1970-01-01T00:00:00Z",
            // Not 9999-12-31T23:59:59Z: jiff (behind k8s-openapi's `Time`) stops a day
            // short of year 9999's end. Only the operator writes these (status subresource).
            "9000-12-31T23:59:59Z",
        ])
        .prop_map(|s| json!(s))
        .boxed();
    }
    let pattern = schema["pattern"]
        .as_str()
        .map(strip_anchors)
        .or_else(|| rule_pattern(schema))
        .or(inherited);
    let strategy = match pattern {
        Some(p) => proptest::string::string_regex(&p)
            .unwrap_or_else(|e| panic!("pattern {p}: {e}"))
            .boxed(),
        None => proptest::string::string_regex(&format!("\\PC{{{min},{max}}}"))
            .expect("printable")
            .boxed(),
    };
    strategy
        .prop_filter("within the length limits", move |s| {
            (min..=max).contains(&s.chars().count())
        })
        .prop_map(Value::String)
        .boxed()
}

/// A strategy for values of `schema`; `inherited` is an item or value pattern from the
/// parent's rules (`self.all(x, x.matches(r'...'))`).
pub fn value(schema: &Value, inherited: Option<String>) -> BoxedStrategy<Value> {
    if let Some(values) = schema["enum"].as_array() {
        return prop::sample::select(values.clone()).boxed();
    }
    match schema["type"].as_str() {
        Some("string") => string(schema, inherited),
        Some("integer") => {
            let min = schema["minimum"].as_i64().unwrap_or(-1_000_000);
            let max = schema["maximum"].as_i64().unwrap_or(1_000_000);
            (min..=max).prop_map(|n| json!(n)).boxed()
        }
        Some("boolean") => any::<bool>().prop_map(Value::Bool).boxed(),
        Some("array") => {
            let max = schema["maxItems"].as_u64().map_or(3, |m| m.min(3)) as usize;
            let items = value(&schema["items"], rule_pattern(schema));
            prop::collection::vec(items, 0..=max)
                .prop_map(Value::Array)
                .boxed()
        }
        Some("object") if schema["properties"].is_object() => object(schema),
        Some("object") if schema["additionalProperties"].is_object() => {
            let max = schema["maxProperties"].as_u64().map_or(3, |m| m.min(3)) as usize;
            let keys = proptest::string::string_regex(
                &rule_pattern(schema).unwrap_or_else(|| "[a-z][a-z0-9]{0,10}".to_owned()),
            )
            .expect("key pattern")
            .prop_filter("short keys", |k| !k.is_empty() && k.len() <= 63);
            let values = value(&schema["additionalProperties"], None);
            prop::collection::btree_map(keys, values, 0..=max)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
                .boxed()
        }
        _ => Just(json!({})).boxed(),
    }
}

fn object(schema: &Value) -> BoxedStrategy<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields: Vec<BoxedStrategy<Option<(String, Value)>>> = Vec::new();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        // Never generated: the fields that exist only to refuse cross-namespace references.
        if name == "namespace" {
            continue;
        }
        let is_required = required.contains(&name.as_str());
        let name = name.clone();
        let field = value(property, None).prop_map(move |v| (name.clone(), v));
        if is_required {
            fields.push(field.prop_map(Some).boxed());
        } else {
            fields.push(proptest::option::of(field).boxed());
        }
    }
    fields
        .prop_map(|fields| Value::Object(fields.into_iter().flatten().collect::<Map<_, _>>()))
        .boxed()
}

/// The `spec` and `status` schema of a CRD's only version.
pub fn schemas_of(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> (Value, Value) {
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("a schema"),
    )
    .expect("schema serializes");
    (
        schema["properties"]["spec"].clone(),
        schema["properties"]["status"].clone(),
    )
}
