//! The HTTP plumbing shared by the SQL API and OAuth clients.

use std::error::Error as _;
use std::io::Read as _;
use std::time::Duration;

use super::error::{Error, Result};

/// `User-Agent` sent on every request, as the SQL API requires (`app/version`).
pub fn user_agent() -> String {
    format!("snowflake-token-operator/{}", env!("CARGO_PKG_VERSION"))
}

/// Builds a reqwest client with rustls (ring provider) and a connect timeout.
///
/// The ring provider is installed process-wide if no provider is installed yet; another
/// component having installed one first is fine.
pub fn http_client(connect_timeout: Duration) -> Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .user_agent(user_agent())
        .build()
        .map_err(|e| Error::HttpClient(describe(e)))
}

/// The error and its causes, without the URL. The operator's URLs carry a request id, never
/// a secret, but the URL is dropped here rather than at each caller so that no future
/// request with a secret in its query can leak it through an error message.
pub(crate) fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Maps a failure to send or to read a response: a failure to connect means the request
/// never left; anything later (a reset, a broken body, the request timeout) leaves its
/// outcome unknown.
pub(crate) fn transport_error(err: reqwest::Error, what: &'static str, after: Duration) -> Error {
    if err.is_connect() {
        Error::NotSent(describe(err))
    } else if err.is_timeout() {
        no_answer(what, after)
    } else {
        Error::OutcomeUnknown(describe(err))
    }
}

/// A request sent without an answer within `after`: it may have been executed.
fn no_answer(what: &str, after: Duration) -> Error {
    Error::OutcomeUnknown(format!("no answer to the {what} within {after:?}"))
}

/// A fully read response.
pub(crate) struct Reply {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// Sends `request` and reads the whole body within `timeout`, decompressing gzip.
///
/// Bodies larger than `max_bytes`, before or after decompression, are refused: a
/// misbehaving proxy or a gzip bomb must not exhaust the operator's memory.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    what: &'static str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Reply> {
    let run = async {
        let mut resp = request
            .send()
            .await
            .map_err(|e| transport_error(e, what, timeout))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let too_large = || {
            Error::Protocol(format!(
                "the answer to the {what} is larger than {max_bytes} bytes"
            ))
        };
        if resp
            .content_length()
            .is_some_and(|n| n > u64::try_from(max_bytes).unwrap_or(u64::MAX))
        {
            return Err(too_large());
        }
        let mut raw = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| transport_error(e, what, timeout))?
        {
            if raw.len() + chunk.len() > max_bytes {
                return Err(too_large());
            }
            raw.extend_from_slice(&chunk);
        }
        let gzip = headers
            .get(http::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"))
            || raw.starts_with(&[0x1f, 0x8b]);
        let body = if gzip {
            inflate(&raw, max_bytes).map_err(|e| match e {
                Inflate::TooLarge => too_large(),
                Inflate::Corrupt(e) => {
                    Error::Protocol(format!("cannot decompress a gzip body: {e}"))
                }
            })?
        } else {
            raw
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    };
    tokio::time::timeout(timeout, run)
        .await
        .unwrap_or_else(|_| Err(no_answer(what, timeout)))
}

enum Inflate {
    TooLarge,
    Corrupt(std::io::Error),
}

/// Inflates a gzip body, reading at most one byte past `max_bytes` to tell a body of
/// exactly the limit from a larger one.
fn inflate(raw: &[u8], max_bytes: usize) -> std::result::Result<Vec<u8>, Inflate> {
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(Inflate::Corrupt)?;
    if out.len() > max_bytes {
        return Err(Inflate::TooLarge);
    }
    Ok(out)
}

/// A short, printable excerpt of a body that is not the answer we expected, for an error
/// message. A body that is (or begins like) JSON is described by its field names only (a
/// JSON value that is not an object, by that alone):
/// Snowflake's answers carry credentials (a token endpoint's tokens, a new PAT's secret),
/// and an error message ends up in a condition, an event and the logs. Any other body (a
/// proxy's HTML page, a plain-text error) is shown, as what a person needs to see.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    // A bare JSON string (or number) is as likely to be a credential as a field is.
    if text.trim_start().starts_with(['{', '[', '"'])
        || serde_json::from_slice::<serde_json::Value>(body).is_ok()
    {
        return match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(fields)) => {
                let names: Vec<&str> = fields.keys().map(String::as_str).collect();
                format!("a JSON answer with the fields {}", names.join(", "))
            }
            Ok(_) => "a JSON answer that is not an object".to_owned(),
            Err(_) => format!("a JSON answer that does not parse ({} bytes)", body.len()),
        };
    }
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    s
}

/// A header value from text, refusing control characters.
pub(crate) fn header_value(text: &str) -> Result<http::HeaderValue> {
    http::HeaderValue::from_str(text)
        .map_err(|_| Error::InvalidInput("a header value contains invalid characters".into()))
}

/// Decodes `body` as `T` only when it is a JSON object. serde fills a struct from an
/// array too, by position, which would put whatever an array holds (a token, say) into a
/// field that errors quote, such as `message`.
pub(crate) fn json_object<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> std::result::Result<T, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_slice(body)?;
    if !value.is_object() {
        return Err(serde::de::Error::custom("not a JSON object"));
    }
    serde_json::from_value(value)
}

/// A JSON decoding failure, described by kind and position only: serde's own message can
/// quote the offending value, which in a token or result answer may be a secret.
pub(crate) fn json_error(what: &str, err: &serde_json::Error) -> Error {
    let kind = match err.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "malformed JSON",
        serde_json::error::Category::Data => "unexpected JSON shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    Error::Protocol(format!(
        "cannot read {what}: {kind} at line {}, column {}",
        err.line(),
        err.column()
    ))
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_excerpt_shows_a_page_but_only_the_field_names_of_json() {
        assert_eq!(
            excerpt(b"<html>502 Bad Gateway</html>"),
            "<html>502 Bad Gateway</html>"
        );
        let json = br#"{"access_token": "ver:1-secret", "refresh_token": "r-secret"}"#;
        assert_eq!(
            excerpt(json),
            "a JSON answer with the fields access_token, refresh_token"
        );
        let cut = br#" {"access_token": "ver:1-sec"#;
        assert_eq!(excerpt(cut), "a JSON answer that does not parse (28 bytes)");
        assert_eq!(excerpt(b"[1, 2]"), "a JSON answer that is not an object");
        assert_eq!(
            excerpt(br#""ver:1-a-bare-token""#),
            "a JSON answer that is not an object"
        );
    }

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).expect("compresses");
        encoder.finish().expect("compresses")
    }

    #[test]
    fn inflating_stops_at_the_size_cap() {
        // A gzip bomb: 64 MiB of zeros in about 64 KiB.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        assert!(matches!(inflate(&bomb, 1 << 20), Err(Inflate::TooLarge)));
        let small = gzip(b"[[\"A\"]]");
        assert_eq!(inflate(&small, 7).ok().as_deref(), Some(&b"[[\"A\"]]"[..]));
        assert!(matches!(inflate(&small, 6), Err(Inflate::TooLarge)));
        assert!(matches!(
            inflate(b"\x1f\x8bnot gzip", 100),
            Err(Inflate::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn a_refused_connection_was_not_sent() {
        let client = http_client(Duration::from_secs(2)).expect("client");
        let err = send(
            client.get("http://127.0.0.1:9/"),
            "request",
            Duration::from_secs(5),
            1024,
        )
        .await
        .err()
        .expect("nothing listens on port 9");
        assert!(matches!(err, Error::NotSent(_)), "{err:?}");
        assert!(!err.is_outcome_unknown());
    }

    #[tokio::test]
    async fn a_connection_error_never_shows_the_url_or_its_query() {
        let client = http_client(Duration::from_secs(2)).expect("client");
        // Port 9 on loopback: nothing listens, the connection is refused at once.
        let err = client
            .get("http://127.0.0.1:9/api/v2/statements?token=s3cr3t-in-query")
            .send()
            .await
            .expect_err("nothing listens on port 9");
        let shown = describe(err);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(!shown.contains("127.0.0.1:9/api"), "{shown}");
    }
}
