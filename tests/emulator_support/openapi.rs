//! Snowflake's published OpenAPI files (`../shared/reference/snowflake-openapi/`, read,
//! never copied; a missing folder fails the test) turned into JSON Schema, and the
//! assertions the emulator's conformance tests make with them.

use std::path::PathBuf;

use serde_json::{Map, Value, json};

pub fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/snowflake-openapi")
}

pub fn load(file: &str) -> Value {
    let path = spec_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the OpenAPI reference {} is required by this test and could not be read: {e}",
            path.display()
        )
    });
    serde_saphyr::from_str(&text).expect("the OpenAPI file is YAML")
}

/// Converts an OpenAPI 3.0 schema to JSON Schema: inline `$ref`s, turn `nullable`
/// into a `null` type, drop `example`, and drop `format: uri` (Snowflake itself
/// answers relative `statementStatusUrl`s).
pub fn to_json_schema(schema: &Value, root: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                let pointer = reference.trim_start_matches('#');
                let target = root
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("unresolved $ref {reference}"));
                return to_json_schema(target, root);
            }
            let mut out = Map::new();
            for (key, value) in map {
                match key.as_str() {
                    // Property names are not keywords: a property may be called `nullable`.
                    "properties" => {
                        let properties = value
                            .as_object()
                            .map(|p| {
                                p.iter()
                                    .map(|(name, s)| (name.clone(), to_json_schema(s, root)))
                                    .collect::<Map<_, _>>()
                            })
                            .unwrap_or_default();
                        out.insert(key.clone(), Value::Object(properties));
                    }
                    "example" | "nullable" => {}
                    "format" if value == "uri" => {}
                    _ => {
                        out.insert(key.clone(), to_json_schema(value, root));
                    }
                }
            }
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(t)) = map.get("type")
            {
                out.insert("type".into(), json!([t, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| to_json_schema(v, root)).collect())
        }
        other => other.clone(),
    }
}

pub fn schema(root: &Value, name: &str) -> Value {
    let raw = root
        .pointer(&format!("/components/schemas/{name}"))
        .unwrap_or_else(|| panic!("schema {name} missing from the spec"));
    to_json_schema(raw, root)
}

/// Validates with `format` checked too (`uuid` for every `statementHandle`): the JSON
/// Schema drafts only annotate formats unless told to assert them.
pub fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("schema compiles")
}

pub fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let validator = validator(schema);
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the schema: {errors:?}\n{instance}"
    );
}

/// Fields the emulator sends beyond the published schema, all seen in real answers.
pub fn assert_known_fields(schema: &Value, instance: &Value, extra: &[&str], what: &str) {
    let properties = schema["properties"].as_object().expect("properties");
    for key in instance.as_object().expect("object").keys() {
        assert!(
            properties.contains_key(key) || extra.contains(&key.as_str()),
            "{what}: field {key} is neither in the schema nor a known real field"
        );
    }
}

/// The schema sqlapi.yaml gives the answer `status` of `method` on `path` (a path
/// template of the spec): `Some(schema)` when the answer has a JSON body there, `None`
/// when the spec declares the status without a body (400, 404, 405, ...). Fails the test
/// when the status is not declared for the operation at all.
pub fn declared_answer(root: &Value, path: &str, method: &str, status: u16) -> Option<Value> {
    let pointer = format!(
        "/paths/{}/{method}/responses/{status}",
        path.replace('~', "~0").replace('/', "~1")
    );
    let mut answer = root
        .pointer(&pointer)
        .unwrap_or_else(|| panic!("{method} {path}: status {status} is not declared"));
    while let Some(reference) = answer.get("$ref").and_then(Value::as_str) {
        answer = root
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("unresolved $ref {reference}"));
    }
    answer
        .pointer("/content/application~1json/schema")
        .map(|schema| to_json_schema(schema, root))
}

/// The method of the one operation sqlapi.yaml declares on `path`.
pub fn operation_method(root: &Value, path: &str) -> String {
    let item = root["paths"][path].as_object().expect("path declared");
    let methods: Vec<&String> = item.keys().filter(|k| *k != "parameters").collect();
    assert_eq!(methods.len(), 1, "{path}: one operation");
    methods[0].clone()
}
