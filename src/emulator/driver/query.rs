//! `POST /queries/v1/query-request`: runs `sqlText` through the emulator's SQL engine as
//! the session's principal and answers in the driver's JSON result format (rows of
//! strings, `rowtype` metadata) or with the statement's Snowflake error.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire::{self, BAD_PAYLOAD};
use crate::emulator::handle::Emulator;
use crate::emulator::sql::{ResultSet, SqlError};

/// `statementTypeId` of a SELECT: the connector counts rows from the rowset for it.
const SELECT_STATEMENT_TYPE: u32 = 4096;

fn result_answer(result: &ResultSet, query_id: &str, role: &str) -> Response {
    let rowset: Vec<Vec<Value>> = result
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| cell.wire_value().map_or(Value::Null, |v| json!(v)))
                .collect()
        })
        .collect();
    let total = rowset.len();
    Json(json!({
        "data": {
            "parameters": [],
            "rowtype": result
                .columns
                .iter()
                .map(|c| crate::emulator::wire::row_type(&c.name, c.column_type, &Value::Null))
                .collect::<Vec<_>>(),
            "rowset": rowset,
            "total": total,
            "returned": total,
            "queryId": query_id,
            "databaseProvider": null,
            "finalDatabaseName": null,
            "finalSchemaName": null,
            "finalWarehouseName": null,
            "finalRoleName": role,
            "numberOfBinds": 0,
            "arrayBindSupported": false,
            "statementTypeId": SELECT_STATEMENT_TYPE,
            "version": 1,
            "queryResultFormat": "json",
        },
        "code": null,
        "message": "successfully executed",
        "success": true,
    }))
    .into_response()
}

fn failure_answer(error: &SqlError, query_id: &str) -> Response {
    Json(json!({
        "data": {
            "internalError": false,
            "errorCode": error.code,
            "age": 0,
            "sqlState": error.sql_state,
            "queryId": query_id,
            "line": -1,
            "pos": -1,
            "type": "COMPILATION",
        },
        "code": error.code,
        "message": error.message,
        "success": false,
        "headers": null,
    }))
    .into_response()
}

pub async fn query(State(emulator): State<Emulator>, headers: HeaderMap, body: Bytes) -> Response {
    let now = emulator.clock().now();
    let Some(token) = wire::session_token(&headers) else {
        return wire::no_session();
    };
    let principal = match emulator.driver_sessions().lookup(&token, now) {
        Ok(session) => session.principal.clone(),
        Err((code, message)) => return wire::refusal(code, message),
    };
    if !emulator.session_in_force(&principal) {
        // Its workload identity was removed: Snowflake closes such sessions.
        emulator.driver_sessions().close(&token);
        let (code, message) = crate::emulator::sessions::SESSION_GONE;
        return wire::refusal(code, message);
    }
    let Some(sql) = wire::json_body(&headers, &body)
        .and_then(|b| b.get("sqlText").and_then(Value::as_str).map(str::to_owned))
    else {
        return wire::refusal(BAD_PAYLOAD.0, BAD_PAYLOAD.1);
    };
    let query_id = uuid::Uuid::new_v4().to_string();
    match emulator.execute(&principal, &sql) {
        Ok(result) => {
            tracing::info!(user = %principal.user, role = %principal.role, "driver query executed");
            result_answer(&result, &query_id, &principal.role)
        }
        Err(error) => {
            tracing::info!(user = %principal.user, code = error.code, "driver query failed");
            failure_answer(&error, &query_id)
        }
    }
}
