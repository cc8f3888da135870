//! JSON bodies of the SQL API v2, shaped as `sqlapi.yaml` (ResultSet, QueryStatus,
//! QueryFailureStatus, CancelStatus), result partitions and Snowflake's
//! `{code, message}` errors.

use std::io::Write;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::config::ResultPartitions;
use super::sql::{ColumnType, ResultSet, SqlError};

/// `/api/v2/statements/<handle>` (with `?requestId=` when known).
pub fn status_url(handle: &str, request_id: Option<&str>) -> String {
    match request_id {
        Some(id) => format!("/api/v2/statements/{handle}?requestId={id}"),
        None => format!("/api/v2/statements/{handle}"),
    }
}

/// A `{code, message}` error with the given HTTP status.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"code": code, "message": message}))).into_response()
}

/// 429 as Snowflake answers it, optionally with `Retry-After`.
pub fn too_many_requests(retry_after_secs: Option<u64>) -> Response {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "390505",
        "Too many requests.",
    );
    if let Some(secs) = retry_after_secs
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Column metadata (`rowType` of the SQL API, `rowtype` of the driver protocol).
/// `absent` fills `length`, `precision` and `scale` where the type has none: the SQL API
/// answers `0` (its OpenAPI schema declares plain integers), the driver protocol `null`
/// (what Snowflake sends and the connectors read).
pub(crate) fn row_type(name: &str, column_type: ColumnType, absent: &Value) -> Value {
    let text = json!(16_777_216);
    let (length, precision, scale, byte_length) = match column_type {
        ColumnType::Text => (text.clone(), absent.clone(), absent.clone(), text),
        ColumnType::Fixed => (absent.clone(), json!(38), json!(0), Value::Null),
        ColumnType::TimestampLtz => (absent.clone(), json!(0), json!(9), Value::Null),
        ColumnType::Boolean => (absent.clone(), absent.clone(), absent.clone(), Value::Null),
    };
    json!({
        "name": name,
        "database": "",
        "schema": "",
        "table": "",
        "nullable": true,
        "type": column_type.wire_name(),
        "length": length,
        "precision": precision,
        "scale": scale,
        "byteLength": byte_length,
        "collation": Value::Null,
    })
}

/// The cells of every row, as strings. With `nullable == false`, SQL NULL is the
/// string `"null"`.
fn cells(result: &ResultSet, nullable: bool) -> Vec<Value> {
    result
        .rows
        .iter()
        .map(|row| {
            Value::Array(
                row.iter()
                    .map(|cell| match cell.wire_value() {
                        Some(v) => Value::String(v.to_owned()),
                        None if nullable => Value::Null,
                        None => Value::String("null".into()),
                    })
                    .collect(),
            )
        })
        .collect()
}

/// How many partitions `rows` rows make with `rows_per_partition` each: at least one,
/// since an empty result still has an (empty) partition 0.
pub fn partition_count(rows: usize, rows_per_partition: usize) -> usize {
    rows.div_ceil(rows_per_partition.max(1)).max(1)
}

/// The rows of each partition, in order (one empty partition for an empty result).
fn partitions(rows: Vec<Value>, rows_per_partition: usize) -> Vec<Vec<Value>> {
    let mut parts: Vec<Vec<Value>> = rows
        .chunks(rows_per_partition.max(1))
        .map(<[Value]>::to_vec)
        .collect();
    if parts.is_empty() {
        parts.push(Vec::new());
    }
    parts
}

/// The byte length of a partition's JSON array, as `uncompressedSize` reports it.
fn json_size(rows: &[Value]) -> usize {
    serde_json::to_vec(rows).map_or(0, |bytes| bytes.len())
}

/// A 200 ResultSet body carrying partition 0 in `data` and every partition's size in
/// `partitionInfo`; the other partitions are fetched by [`partition_rows`].
pub fn result_set(
    result: &ResultSet,
    handle: &str,
    request_id: &str,
    created_on: Timestamp,
    nullable: bool,
    rows_per_partition: usize,
) -> Value {
    let mut parts = partitions(cells(result, nullable), rows_per_partition).into_iter();
    let first = parts.next().unwrap_or_default();
    let info: Vec<Value> = std::iter::once(&first)
        .chain(parts.as_slice())
        .map(|rows| json!({"rowCount": rows.len(), "uncompressedSize": json_size(rows)}))
        .collect();
    json!({
        "resultSetMetaData": {
            "numRows": result.rows.len(),
            "format": "jsonv2",
            "nullable": nullable,
            "partitionInfo": info,
            "rowType": result.columns.iter().map(|c| row_type(&c.name, c.column_type, &json!(0))).collect::<Vec<_>>(),
        },
        "data": first,
        "code": "090001",
        "sqlState": "00000",
        "message": "Statement executed successfully.",
        "statementHandle": handle,
        "statementStatusUrl": status_url(handle, Some(request_id)),
        "requestId": request_id,
        "createdOn": created_on.as_millisecond(),
    })
}

/// The rows of partition `partition` (a bare JSON array, no metadata, as Snowflake
/// answers `?partition=N`), or `None` when the result has no such partition.
pub fn partition_rows(
    result: &ResultSet,
    partition: usize,
    nullable: bool,
    rows_per_partition: usize,
) -> Option<Value> {
    partitions(cells(result, nullable), rows_per_partition)
        .into_iter()
        .nth(partition)
        .map(Value::Array)
}

/// The `Link` header of a partitioned answer: `first`, `last`, and `prev`/`next` around
/// `partition`, each pointing at `?partition=N` of the statement.
pub fn partition_links(handle: &str, partition: usize, count: usize) -> String {
    let last = count.saturating_sub(1);
    let mut links = vec![(0, "first")];
    if partition > 0 {
        links.push((partition - 1, "prev"));
    }
    if partition < last {
        links.push((partition + 1, "next"));
    }
    links.push((last, "last"));
    links
        .into_iter()
        .map(|(n, rel)| {
            format!(
                "<{}?partition={n}>; rel=\"{rel}\"",
                status_url(handle, None)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Which part of a stored result a request reads, and how it is encoded.
#[derive(Debug, Clone, Copy)]
pub struct ResultView {
    pub nullable: bool,
    /// 0 (the first answer, a poll, `?partition=0`): the ResultSet with its metadata;
    /// N > 0: that partition's rows alone.
    pub partition: usize,
    pub rows_per_partition: usize,
    /// The request accepts gzip and the seed lets partitions be compressed.
    pub gzip: bool,
}

impl ResultView {
    /// Partition 0, as a submit, a resend or a plain status poll reads it.
    pub fn first(partitions: &ResultPartitions, nullable: bool) -> Self {
        Self {
            nullable,
            partition: 0,
            rows_per_partition: partitions.rows_per_partition,
            gzip: false,
        }
    }
}

/// The 200 answer of a successful statement: partition 0 with the metadata of every
/// partition, or a further partition's bare rows (gzip when the view allows), or 422
/// for a partition the result does not have. A `Link` header points at the others.
pub fn success(
    result: &ResultSet,
    handle: &str,
    request_id: &str,
    created_on: Timestamp,
    view: ResultView,
) -> Response {
    let count = partition_count(result.rows.len(), view.rows_per_partition);
    let link = (count > 1 && view.partition < count)
        .then(|| partition_links(handle, view.partition, count));
    if view.partition == 0 {
        let body = result_set(
            result,
            handle,
            request_id,
            created_on,
            view.nullable,
            view.rows_per_partition,
        );
        return json_maybe_gzip(&body, false, link);
    }
    match partition_rows(
        result,
        view.partition,
        view.nullable,
        view.rows_per_partition,
    ) {
        Some(rows) => json_maybe_gzip(&rows, view.gzip, link),
        None => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(partition_out_of_range(handle, view.partition, count)),
        )
            .into_response(),
    }
}

/// The 422 for a partition number the result does not have. Snowflake documents no
/// code for it, so the emulator answers a QueryFailureStatus with `090155` (in the
/// SQL API's `090xxx` range) and SQLSTATE `22023` (invalid parameter value).
pub fn partition_out_of_range(handle: &str, partition: usize, count: usize) -> Value {
    json!({
        "code": PARTITION_OUT_OF_RANGE,
        "sqlState": "22023",
        "message": format!(
            "Partition {partition} does not exist: the result has {count} partition(s), numbered from 0."
        ),
        "statementHandle": handle,
        "statementStatusUrl": status_url(handle, None),
    })
}

/// The error code of [`partition_out_of_range`].
pub const PARTITION_OUT_OF_RANGE: &str = "090155";

/// A 200 JSON answer, gzip-compressed (`Content-Encoding: gzip`) when `gzip` is set.
/// Compression into memory cannot fail short of allocation failure; should it, the
/// body goes out plain, which every client reads.
pub fn json_maybe_gzip(body: &Value, gzip: bool, link: Option<String>) -> Response {
    let plain = body.to_string().into_bytes();
    let compressed = gzip.then(|| compress(&plain)).and_then(Result::ok);
    let mut response = match compressed {
        Some(bytes) => {
            let mut response = (StatusCode::OK, bytes).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        }
        None => (StatusCode::OK, plain).into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(value) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LINK, value);
    }
    response
}

fn compress(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// A 422 QueryFailureStatus body.
pub fn failure(error: &SqlError, handle: &str, request_id: &str, created_on: Timestamp) -> Value {
    json!({
        "code": error.code,
        "sqlState": error.sql_state,
        "message": error.message,
        "statementHandle": handle,
        "createdOn": created_on.as_millisecond(),
        "statementStatusUrl": status_url(handle, Some(request_id)),
    })
}

/// A 202 QueryStatus body: still running.
pub fn running(handle: &str, created_on: Timestamp) -> Value {
    json!({
        "code": "333334",
        "message": "Asynchronous execution in progress. Use provided query id to perform query monitoring and management.",
        "statementHandle": handle,
        "statementStatusUrl": status_url(handle, None),
        "createdOn": created_on.as_millisecond(),
    })
}

/// The 408 QueryStatus body of a statement cancelled for outliving its timeout.
pub fn timed_out(handle: &str, created_on: Timestamp, timeout_secs: u64) -> Value {
    json!({
        "code": "000630",
        "sqlState": "57014",
        "message": format!(
            "Statement reached its statement or warehouse timeout of {timeout_secs} second(s) and was canceled."
        ),
        "statementHandle": handle,
        "statementStatusUrl": status_url(handle, None),
        "createdOn": created_on.as_millisecond(),
    })
}

/// A 200 CancelStatus body.
pub fn cancelled(handle: &str) -> Value {
    json!({
        "code": "000604",
        "sqlState": "57014",
        "message": "SQL execution canceled",
        "statementHandle": handle,
        "statementStatusUrl": status_url(handle, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_result_still_has_an_empty_partition_0() {
        assert_eq!(partition_count(0, 5), 1);
        assert_eq!(partition_count(12, 5), 3);
        assert_eq!(partition_count(10, 5), 2);
        let mut empty = ResultSet::status("x");
        empty.rows.clear();
        let body = result_set(&empty, "h", "r", Timestamp::UNIX_EPOCH, true, 5);
        assert_eq!(
            body["resultSetMetaData"]["partitionInfo"],
            json!([{"rowCount": 0, "uncompressedSize": 2}])
        );
        assert_eq!(partition_rows(&empty, 1, true, 5), None);
    }

    #[test]
    fn links_name_the_first_last_and_neighbouring_partitions() {
        let middle = partition_links("h", 1, 3);
        for expected in [
            "</api/v2/statements/h?partition=0>; rel=\"first\"",
            "</api/v2/statements/h?partition=0>; rel=\"prev\"",
            "</api/v2/statements/h?partition=2>; rel=\"next\"",
            "</api/v2/statements/h?partition=2>; rel=\"last\"",
        ] {
            assert!(middle.contains(expected), "{middle}");
        }
        assert!(!partition_links("h", 0, 3).contains("prev"));
        assert!(!partition_links("h", 2, 3).contains("next"));
    }

    #[tokio::test]
    async fn a_gzip_answer_decompresses_to_the_json_body() {
        use std::io::Read;
        let body = json!([["a", null]]);
        let plain = json_maybe_gzip(&body, false, None);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let response = json_maybe_gzip(&body, true, None);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body read");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .expect("decompresses");
        assert_eq!(serde_json::from_str::<Value>(&text).ok(), Some(body));
    }
}
