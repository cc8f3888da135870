//! `spec.secret.template`: extra Secret keys rendered with minijinja from the same
//! variables as the default keys.
//!
//! Rendering is strict (a variable that does not exist is an error, not an empty string,
//! so a typo cannot silently write a broken `profiles.yml`) and bounded (fuel limits the
//! work of one template, and the output size is capped), so no resource can make the
//! operator spin or balloon. Errors name the key and minijinja's reason; they never
//! contain a variable's value.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, Value};

/// The work one template may do (minijinja's fuel: roughly one unit per instruction).
const FUEL: u64 = 100_000;

/// The largest output of one template (a Secret holds at most 1 MiB in all).
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;

/// Why a template did not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template for Secret key {key:?} does not render: {reason}")]
pub struct TemplateError {
    /// The Secret key the template is for.
    pub key: String,
    /// minijinja's reason (about the template's text, never a value).
    pub reason: String,
}

/// Renders every template of `templates` over `variables`.
pub fn render_all(
    templates: &BTreeMap<String, String>,
    variables: &BTreeMap<&'static str, String>,
) -> Result<BTreeMap<String, String>, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    let context = Value::from_iter(variables.iter().map(|(k, v)| (*k, Value::from(v.as_str()))));
    templates
        .iter()
        .map(|(key, source)| {
            let fail = |reason: String| TemplateError {
                key: key.clone(),
                reason,
            };
            let rendered = env
                .render_str(source, context.clone())
                .map_err(|e| fail(describe(&e)))?;
            if rendered.len() > MAX_RENDERED_BYTES {
                return Err(fail(format!(
                    "the output is larger than {MAX_RENDERED_BYTES} bytes"
                )));
            }
            Ok((key.clone(), rendered))
        })
        .collect()
}

/// minijinja's error kind and detail, with the line, but without the rendered context
/// (its debug info could show variable values).
fn describe(error: &minijinja::Error) -> String {
    let mut text = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    if let Some(line) = error.line() {
        text.push_str(&format!(" (line {line})"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variables() -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("username", "BI_SVC".to_owned()),
            ("password", "pat-secret-value".to_owned()),
            ("host", "myorg-acct.snowflakecomputing.com".to_owned()),
        ])
    }

    fn render(source: &str) -> Result<String, TemplateError> {
        let templates = BTreeMap::from([("key".to_owned(), source.to_owned())]);
        render_all(&templates, &variables()).map(|mut out| out.remove("key").unwrap_or_default())
    }

    #[test]
    fn templates_see_the_variables() {
        assert_eq!(
            render("jdbc:snowflake://{{ host }}/?user={{ username | lower }}").unwrap(),
            "jdbc:snowflake://myorg-acct.snowflakecomputing.com/?user=bi_svc"
        );
    }

    #[test]
    fn an_unknown_variable_is_an_error_naming_the_key() {
        let err = render("{{ pasword }}").unwrap_err();
        assert_eq!(err.key, "key");
        assert!(err.reason.contains("undefined"), "{err}");
    }

    #[test]
    fn errors_never_show_values() {
        for source in [
            "{{ password + 1 }}",
            "{{ password | nosuchfilter }}",
            "{% if %}",
        ] {
            let err = render(source).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("pat-secret-value"), "{shown}");
        }
    }

    #[test]
    fn runaway_templates_are_stopped() {
        // Stopped by fuel or by minijinja's own range limit, either way an error.
        assert!(render("{% for i in range(100000000) %}x{% endfor %}").is_err());
        let err = render(
            "{% for i in range(90000) %}{% for j in range(90000) %}{% endfor %}{% endfor %}",
        )
        .unwrap_err();
        assert!(err.reason.contains("fuel"), "{err}");
        let big = render("{% for i in range(5000) %}{{ host }}{{ host }}{% endfor %}").unwrap_err();
        assert!(big.reason.contains("larger than"), "{big}");
    }
}
