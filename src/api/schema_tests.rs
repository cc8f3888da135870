//! Properties of the generated CRD schemas that `kubectl explain` and the API server rely on.

use serde_json::Value;

/// Collects the JSON paths of schema nodes (properties, and array items that are objects)
/// lacking a non-empty description. `kubectl explain` shows a scalar list's items with the
/// list's own description, so those need none of their own.
fn undocumented(schema: &Value, path: &str, missing: &mut Vec<String>) {
    let described = schema
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| !d.trim().is_empty());
    if !described {
        missing.push(path.to_owned());
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            undocumented(property, &format!("{path}.{name}"), missing);
        }
    }
    if let Some(items) = schema
        .get("items")
        .filter(|i| i.get("properties").is_some())
    {
        undocumented(items, &format!("{path}[]"), missing);
    }
}

fn schemas() -> Vec<(String, Value)> {
    super::crds()
        .into_iter()
        .map(|crd| {
            let kind = crd.spec.names.kind.clone();
            let schema = crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .map(|s| serde_json::to_value(s).expect("schema serializes"))
                .expect("every version has a schema");
            (kind, schema)
        })
        .collect()
}

#[test]
fn every_field_has_a_description() {
    for (kind, schema) in schemas() {
        let mut missing = Vec::new();
        undocumented(&schema, &kind, &mut missing);
        assert!(
            missing.is_empty(),
            "fields without description: {missing:?}"
        );
    }
}

#[test]
fn names_group_and_subresources() {
    let crds = super::crds();
    let short: Vec<_> = crds
        .iter()
        .map(|c| {
            c.spec
                .names
                .short_names
                .clone()
                .unwrap_or_default()
                .join(",")
        })
        .collect();
    assert_eq!(short, ["sfconn", "sfuser", "sftoken"]);
    for crd in &crds {
        assert_eq!(crd.spec.group, super::GROUP);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["snowflake".to_owned()][..])
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, super::VERSION);
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        let columns: Vec<_> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert!(
            columns.contains(&"Ready") && columns.contains(&"Age"),
            "{columns:?}"
        );
    }
}

#[test]
fn token_columns_show_type_user_ready_expiry_and_rotation() {
    let token = <super::SnowflakeToken as kube::CustomResourceExt>::crd();
    let columns: Vec<_> = token.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .filter(|c| c.priority.unwrap_or(0) == 0)
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(
        columns,
        ["Type", "User", "Ready", "Expires", "Next Rotation", "Age"]
    );
    // Future times as timestamps: kubectl shows a future "date" column as "<invalid>".
    for column in token.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .filter(|c| c.name == "Expires" || c.name == "Next Rotation")
    {
        assert_eq!(column.type_, "string", "{}", column.name);
    }
}

#[test]
fn conditions_are_a_map_keyed_by_type() {
    for (kind, schema) in schemas() {
        let conditions = &schema["properties"]["status"]["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map", "{kind}");
        assert_eq!(
            conditions["x-kubernetes-list-map-keys"][0], "type",
            "{kind}"
        );
    }
}
