//! Request decoding and answer shapes shared by the driver endpoints.

use std::io::Read;

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use flate2::read::GzDecoder;
use serde_json::{Value, json};

use crate::emulator::secret::TokenSecret;
use crate::emulator::sessions::SESSION_GONE;

/// Largest decompressed body accepted (a login or query request is a few kilobytes).
const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// The body as JSON, gunzipped when `Content-Encoding: gzip` (the Python connector
/// compresses every request). `None` for a body that is not JSON.
pub fn json_body(headers: &HeaderMap, body: &Bytes) -> Option<Value> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if gzip {
        let mut text = Vec::new();
        GzDecoder::new(body.as_ref())
            .take(MAX_BODY_BYTES)
            .read_to_end(&mut text)
            .ok()?;
        serde_json::from_slice(&text).ok()
    } else if body.is_empty() {
        Some(json!({}))
    } else {
        serde_json::from_slice(body).ok()
    }
}

/// The token of `Authorization: Snowflake Token="<token>"`.
pub fn session_token(headers: &HeaderMap) -> Option<TokenSecret> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("snowflake") {
        return None;
    }
    let (key, quoted) = rest.trim().split_once('=')?;
    if !key.trim().eq_ignore_ascii_case("token") {
        return None;
    }
    let token = quoted.trim().trim_matches('"');
    (!token.is_empty()).then(|| TokenSecret::from_presented(token))
}

/// `{"data": data, "code": null, "message": null, "success": true}`.
pub fn success(data: Value) -> Response {
    Json(json!({"data": data, "code": null, "message": null, "success": true})).into_response()
}

/// A refusal: HTTP 200 with `success: false` and Snowflake's code.
pub fn refusal(code: &str, message: &str) -> Response {
    Json(json!({"data": null, "code": code, "message": message, "success": false})).into_response()
}

/// The refusal for a request without a live session.
pub fn no_session() -> Response {
    refusal(SESSION_GONE.0, SESSION_GONE.1)
}

/// A body that is not the JSON the endpoint expects.
pub const BAD_PAYLOAD: (&str, &str) = (
    "390142",
    "Incoming request does not contain a valid payload.",
);

#[cfg(test)]
mod tests {
    use std::io::Write;

    use axum::http::HeaderValue;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    #[test]
    fn gzip_and_plain_bodies_decode() {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(br#"{"data": {"a": 1}}"#).unwrap();
        let gz = Bytes::from(encoder.finish().unwrap());
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(json_body(&headers, &gz), Some(json!({"data": {"a": 1}})));
        assert_eq!(json_body(&HeaderMap::new(), &gz), None);
        assert_eq!(
            json_body(&HeaderMap::new(), &Bytes::from_static(b"{}")),
            Some(json!({}))
        );
    }

    #[test]
    fn snowflake_token_header_parses() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Snowflake Token=\"abc\""),
        );
        assert_eq!(
            session_token(&headers).map(|t| t.expose().to_owned()),
            Some("abc".into())
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert!(session_token(&headers).is_none());
    }
}
