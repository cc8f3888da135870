//! Emulator answers validated against Snowflake's published OpenAPI schemas in
//! `../shared/reference/snowflake-openapi/` (a missing folder fails the test).

mod emulator_support;

use emulator_support::openapi::{assert_known_fields, assert_valid, load, schema, validator};
use emulator_support::{
    add_tokens, admin_jwt, cancel, get, http, partitioned_config, post_sql, start, start_with,
    statement_handle,
};
use serde_json::json;
use snowflake_token_operator::emulator::{FaultKind, FaultSpec};

#[tokio::test]
async fn sql_api_answers_match_the_published_schemas() {
    let sqlapi = load("sqlapi.yaml");
    let common = load("common.yaml");
    let result_set = schema(&sqlapi, "ResultSet");
    let query_status = schema(&sqlapi, "QueryStatus");
    let failure = schema(&sqlapi, "QueryFailureStatus");
    let cancel_status = schema(&sqlapi, "CancelStatus");
    let error = schema(&common, "ErrorResponse");

    // The converted schemas do constrain answers (guards against a no-op conversion).
    let broken = json!({"resultSetMetaData": {"numRows": "1", "format": "jsonv2"}, "data": [[1]]});
    assert_eq!(validator(&result_set).iter_errors(&broken).count(), 2);
    assert!(
        !validator(&query_status).is_valid(&json!({"code": "333334"})),
        "statementHandle is required"
    );
    assert!(
        !validator(&query_status).is_valid(&json!({"statementHandle": "null,null"})),
        "statementHandle is a UUID"
    );

    let running = start(false).await;
    let client = http();
    let admin = admin_jwt(&running);

    for sql in [
        "SELECT CURRENT_USER(), CURRENT_ROLE(), CURRENT_ACCOUNT()",
        "ALTER USER BI_SVC ADD PAT schema_tok ROLE_RESTRICTION = 'ANALYST'",
        "SHOW USER PATS FOR USER BI_SVC",
        "DESC USER BI_SVC",
        "SHOW GRANTS TO USER BI_SVC",
        "ALTER USER BI_SVC ROTATE PAT schema_tok",
    ] {
        let (status, _, body) = post_sql(&client, &running, &admin, sql, "").await;
        assert_eq!(status, 200, "{sql}: {body}");
        assert_valid(&result_set, &body, sql);
        assert_known_fields(&result_set, &body, &["requestId"], sql);
        let row_type_item =
            &result_set["properties"]["resultSetMetaData"]["properties"]["rowType"]["items"];
        for column in body["resultSetMetaData"]["rowType"]
            .as_array()
            .expect("rowType")
        {
            assert_known_fields(
                row_type_item,
                column,
                &["database", "schema", "table", "byteLength", "collation"],
                sql,
            );
            let wire_type = column["type"].as_str().expect("type");
            assert_eq!(
                wire_type,
                wire_type.to_lowercase(),
                "rowType types are lowercase"
            );
        }
    }

    let (status, _, body) = post_sql(
        &client,
        &running,
        &admin,
        "SELECT CURRENT_USER()",
        "?async=true",
    )
    .await;
    assert_eq!(status, 202);
    assert_valid(&query_status, &body, "202 QueryStatus");
    let handle = statement_handle(&body);

    let (status, _, body) = post_sql(
        &client,
        &running,
        &admin,
        "GRANT ROLE NOPE TO USER BI_SVC",
        "",
    )
    .await;
    assert_eq!(status, 422);
    assert_valid(&failure, &body, "422 QueryFailureStatus");

    running.inject_fault(FaultSpec::new(
        FaultKind::AsyncDelay {
            delay_ms: Some(600_000),
            polls: None,
        },
        1,
    ));
    let (_, _, body) = post_sql(&client, &running, &admin, "SELECT CURRENT_USER()", "").await;
    let running_handle = statement_handle(&body);
    for h in [running_handle, handle] {
        let (status, body) = cancel(&client, &running, &admin, &h).await;
        assert_eq!(status, 200);
        assert_valid(&cancel_status, &body, "CancelStatus");
    }

    running.inject_fault(FaultSpec::new(
        FaultKind::TooManyRequests {
            retry_after_secs: None,
        },
        1,
    ));
    let (status, _, body) = post_sql(&client, &running, &admin, "SELECT CURRENT_USER()", "").await;
    assert_eq!(status, 429);
    assert_valid(&error, &body, "429 body");
    running.inject_fault(FaultSpec::new(FaultKind::StatementTimeout, 1));
    let (status, _, body) = post_sql(&client, &running, &admin, "SELECT CURRENT_USER()", "").await;
    assert_eq!(status, 408);
    assert_valid(&query_status, &body, "408 QueryStatus");

    running.inject_fault(FaultSpec::new(
        FaultKind::AsyncDelay {
            delay_ms: None,
            polls: Some(1),
        },
        1,
    ));
    let (_, _, body) = post_sql(&client, &running, &admin, "SELECT CURRENT_USER()", "").await;
    let polled = statement_handle(&body);
    running.inject_fault(FaultSpec::new(FaultKind::ThrottledPoll, 1).on_method("GET"));
    let (status, body) = get(
        &client,
        &running,
        &admin,
        &format!("/api/v2/statements/{polled}"),
    )
    .await;
    assert_eq!(status, 429);
    assert_valid(&query_status, &body, "429 QueryStatus on a poll");

    let (status, _, body) = post_sql(
        &client,
        &running,
        "not-a-token",
        "SELECT CURRENT_USER()",
        "",
    )
    .await;
    assert_eq!(status, 401);
    assert_valid(&error, &body, "401 body");
    running.shutdown().await;
}

#[tokio::test]
async fn partitioned_answers_match_the_published_schemas() {
    let sqlapi = load("sqlapi.yaml");
    let result_set = schema(&sqlapi, "ResultSet");
    let failure = schema(&sqlapi, "QueryFailureStatus");
    // A further partition is the `data` of a ResultSet, alone.
    let rows = result_set["properties"]["data"].clone();
    assert!(
        !validator(&rows).is_valid(&json!({"data": []})),
        "the rows schema constrains answers"
    );

    let running = start_with(partitioned_config(5, false), false).await;
    add_tokens(running.emulator(), 12);
    let client = http();
    let admin = admin_jwt(&running);
    let (status, _, first) = post_sql(
        &client,
        &running,
        &admin,
        "SHOW USER PATS FOR USER BI_SVC",
        "",
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first["resultSetMetaData"]["partitionInfo"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_valid(&result_set, &first, "partition 0 of a partitioned result");
    assert_known_fields(&result_set, &first, &["requestId"], "partition 0");
    let handle = statement_handle(&first);

    for partition in 1..=2 {
        let path = format!("/api/v2/statements/{handle}?partition={partition}");
        let (status, body) = get(&client, &running, &admin, &path).await;
        assert_eq!(status, 200, "{body}");
        assert_valid(&rows, &body, &format!("partition {partition}"));
    }
    let path = format!("/api/v2/statements/{handle}?partition=3");
    let (status, body) = get(&client, &running, &admin, &path).await;
    assert_eq!(status, 422, "{body}");
    assert_valid(&failure, &body, "422 for a partition out of range");
    running.shutdown().await;
}
