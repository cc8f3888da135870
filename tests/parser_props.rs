//! Property tests of the operator's parsers of external input that have no other: the
//! OAuth token endpoint's answers, private-key files and Secret templates. Whatever they
//! are given, they never panic, and no credential in their input reaches an error message
//! or `Debug` output (where it would end up in a condition, an event or a log). Templates
//! also stay bounded and cannot reach anything but their variables: not the environment,
//! not a file, not another Secret.
//!
//! (The SQL API's answers have theirs in `src/snowflake/answers_props.rs`, the emulator's
//! SQL in `emulator_parser_props.rs`, the SQL the client writes in `src/snowflake/sql_tests.rs`
//! and `client_emulator/props.rs`.)

use std::collections::BTreeMap;

use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};
use snowflake_token_operator::controller::secret::template::{MAX_RENDERED_BYTES, render_all};
use snowflake_token_operator::snowflake::PrivateKey;
use snowflake_token_operator::snowflake::oauth::parse_token_reply;

/// A credential-shaped value: long enough that finding it anywhere is no accident.
fn credential() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.:-]{24,48}".prop_map(|s| format!("cred-{s}"))
}

/// Text for the other fields of an answer (never containing a credential: `cred-` cannot
/// be formed from these characters).
fn text() -> impl Strategy<Value = String> {
    "[a-z0-9 ,.=_\"'{}\\[\\]:]{0,40}"
}

/// JSON for a field: a string, a number, null, an object or garbage.
fn field() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        text().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        (text(), text()).prop_map(|(k, v)| serde_json::json!({ k: v })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any status, headers and body: an answer or a typed error, never a panic, and the
    /// credentials of a JSON body appear in neither the error nor `Debug`.
    #[test]
    fn oauth_answers_never_panic_and_never_echo_a_credential(
        status in prop_oneof![Just(200u16), Just(400u16), Just(401u16), Just(429u16), Just(503u16), 100u16..600],
        access in credential(),
        refresh in credential(),
        error in prop_oneof![Just(None), text().prop_map(Some), Just(Some("invalid_grant".to_owned()))],
        message in text(),
        expires_in in field(),
        extra in field(),
        retry_after in prop_oneof![Just(None), text().prop_map(Some), (0u32..10_000).prop_map(|n| Some(n.to_string()))],
        shape in 0u8..4,
    ) {
        let mut body = serde_json::json!({
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": expires_in,
            "token_type": "Bearer",
            "extra": extra,
        });
        if let Some(error) = &error {
            body["error"] = error.clone().into();
            body["error_description"] = message.clone().into();
        }
        let bytes = match shape {
            0 => serde_json::to_vec(&body).expect("json"),
            // Cut short, as by a dropped connection.
            1 => serde_json::to_vec(&body).expect("json")[..20].to_vec(),
            // A message-only body (Snowflake's own error shape).
            2 => serde_json::to_vec(&serde_json::json!({"message": message, "code": "390303", "success": false})).expect("json"),
            _ => message.clone().into_bytes(),
        };
        let mut headers = http::HeaderMap::new();
        if let Some(value) = retry_after.as_deref().and_then(|v| http::HeaderValue::from_str(v).ok()) {
            headers.insert(http::header::RETRY_AFTER, value);
        }
        let shown = match parse_token_reply(status, &headers, &bytes) {
            Ok(reply) => {
                prop_assert_eq!(status, 200);
                prop_assert_eq!(reply.access_token.expose_secret(), access.as_str());
                format!("{reply:?}")
            }
            Err(e) => format!("{e} {e:?}"),
        };
        // A cut body may hold a prefix of the access token; it is long enough not to.
        prop_assert!(!shown.contains(&access), "the access token shown: {}", shown);
        prop_assert!(!shown.contains(&refresh), "the refresh token shown: {}", shown);
    }

    /// Anything in a key file: a key or an error, never a panic, and the file's content
    /// (key material, for a broken or foreign key) is never in the error.
    #[test]
    fn key_files_never_panic_and_never_echo_their_content(
        label in prop_oneof![
            Just("PRIVATE KEY"), Just("RSA PRIVATE KEY"), Just("ENCRYPTED PRIVATE KEY"),
            Just("PUBLIC KEY"), Just("CERTIFICATE"), Just("EC PRIVATE KEY"),
        ],
        body in "[A-Za-z0-9+/]{40,200}={0,2}",
        wrap in any::<bool>(),
        passphrase in prop_oneof![Just(None), "[ -~]{0,20}".prop_map(Some)],
    ) {
        let lines: Vec<String> = if wrap {
            body.as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect()
        } else {
            vec![body.clone()]
        };
        let pem = format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"));
        let passphrase = passphrase.map(SecretString::from);
        for input in [pem.as_str(), body.as_str(), &pem[..pem.len() / 2]] {
            if let Err(e) = PrivateKey::from_pem(input, passphrase.as_ref()) {
                let shown = format!("{e} {e:?}");
                prop_assert!(!shown.contains(&body[..32]), "key material shown: {}", shown);
            }
        }
    }

    /// Any template: rendered within bounds or refused with a reason, never a panic; a
    /// refusal never carries a variable's value.
    #[test]
    fn templates_never_panic_stay_bounded_and_never_echo_a_value(
        parts in proptest::collection::vec(prop_oneof![
            Just("{{ password }}".to_owned()),
            Just("{{ username | upper }}".to_owned()),
            Just("{{ nope }}".to_owned()),
            Just("{{ password.nope }}".to_owned()),
            Just("{% for c in password %}{{ c }}{% endfor %}".to_owned()),
            Just("{% for i in range(100000) %}{{ password }}{% endfor %}".to_owned()),
            Just("{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}".to_owned()),
            Just("{{ password ~ ".to_owned()),
            Just("{% if %}".to_owned()),
            Just("{{ password | int }}".to_owned()),
            Just("{{ password[999] }}".to_owned()),
            Just("{% raw %}{{ password }}{% endraw %}".to_owned()),
            "[a-z {}%#|~.()\\[\\]'\"]{0,16}",
        ], 1..6),
        password in credential(),
    ) {
        let source = parts.concat();
        let templates = BTreeMap::from([("out".to_owned(), source)]);
        let variables = BTreeMap::from([
            ("username", "BI_SVC".to_owned()),
            ("password", password.clone()),
        ]);
        match render_all(&templates, &variables) {
            Ok(rendered) => prop_assert!(rendered["out"].len() <= MAX_RENDERED_BYTES),
            Err(e) => {
                let shown = format!("{e} {e:?}");
                prop_assert!(!shown.contains(&password), "a value in the error: {}", shown);
            }
        }
    }
}

/// A template sees its variables and nothing else: no environment, no file, no other
/// Secret, no way to call out.
#[test]
fn a_template_cannot_reach_the_environment_a_file_or_another_secret() {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let variables = BTreeMap::from([("password", "cred-the-value".to_owned())]);
    for source in [
        "{{ env.HOME }}",
        "{{ environ['HOME'] }}",
        "{{ lookup('env', 'HOME') }}",
        "{{ env('HOME') }}",
        "{% include '/etc/hostname' %}",
        "{% import '/etc/hostname' as h %}",
        "{% extends '/etc/hostname' %}",
        "{{ secret('other', 'password') }}",
        "{{ namespace.secrets }}",
        "{{ self }}",
        "{{ config }}",
        "{{ range.__globals__ }}",
        "{{ password.__class__ }}",
    ] {
        let templates = BTreeMap::from([("out".to_owned(), source.to_owned())]);
        if let Ok(rendered) = render_all(&templates, &variables) {
            let out = &rendered["out"];
            let hostname = hostname.trim();
            let leaked = out.contains(&home)
                || out.contains("cred-the-value")
                || (hostname.len() > 2 && out.contains(hostname));
            assert!(!leaked, "{source} rendered {out:?}");
        }
    }
}
