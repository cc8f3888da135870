//! JSON bodies of the SQL API v2, shaped as `sqlapi.yaml` (ResultSet, QueryStatus,
//! QueryFailureStatus, CancelStatus) and Snowflake's `{code, message}` errors.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::{Value, json};

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

fn row_type(name: &str, column_type: ColumnType) -> Value {
    let (length, precision, scale, byte_length) = match column_type {
        ColumnType::Text => (16_777_216, 0, 0, json!(16_777_216)),
        ColumnType::Fixed => (0, 38, 0, Value::Null),
        ColumnType::TimestampLtz => (0, 0, 9, Value::Null),
        ColumnType::Boolean => (0, 0, 0, Value::Null),
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

/// A 200 ResultSet body. With `nullable == false`, SQL NULL is the string `"null"`.
pub fn result_set(
    result: &ResultSet,
    handle: &str,
    request_id: &str,
    created_on: Timestamp,
    nullable: bool,
) -> Value {
    let data: Vec<Vec<Value>> = result
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| match cell.wire_value() {
                    Some(v) => Value::String(v.to_owned()),
                    None if nullable => Value::Null,
                    None => Value::String("null".into()),
                })
                .collect()
        })
        .collect();
    let size: usize = data
        .iter()
        .flatten()
        .map(|v| v.as_str().map_or(4, str::len))
        .sum();
    json!({
        "resultSetMetaData": {
            "numRows": result.rows.len(),
            "format": "jsonv2",
            "nullable": nullable,
            "partitionInfo": [{"rowCount": result.rows.len(), "uncompressedSize": size}],
            "rowType": result.columns.iter().map(|c| row_type(&c.name, c.column_type)).collect::<Vec<_>>(),
        },
        "data": data,
        "code": "090001",
        "sqlState": "00000",
        "message": "Statement executed successfully.",
        "statementHandle": handle,
        "statementStatusUrl": status_url(handle, Some(request_id)),
        "requestId": request_id,
        "createdOn": created_on.as_millisecond(),
    })
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
