//! Result partitions over raw HTTP: a seed that cuts results into a few rows per
//! partition makes `SHOW USER PATS` answer partition 0 with every partition's metadata,
//! and `GET /api/v2/statements/{h}?partition=N` answer the other partitions' rows,
//! gzip-compressed when asked, on the synchronous and the asynchronous path alike.

mod emulator_support;

use std::io::Read;

use emulator_support::{
    add_tokens, admin_jwt, get, http, partitioned_config, post_sql, start_with, statement_handle,
};
use flate2::read::GzDecoder;
use serde_json::Value;
use snowflake_token_operator::emulator::RunningEmulator;

const SHOW: &str = "SHOW USER PATS FOR USER BI_SVC";

/// A raw `GET` of one partition: status, `Content-Encoding`, `Link` and the body as
/// JSON (decompressed here, since the test client does not decompress by itself).
struct PartitionAnswer {
    status: u16,
    encoding: Option<String>,
    link: Option<String>,
    body: Value,
}

async fn fetch_partition(
    running: &RunningEmulator,
    bearer: &str,
    handle: &str,
    partition: &str,
    gzip: bool,
) -> PartitionAnswer {
    let mut request = http()
        .get(format!(
            "{}/api/v2/statements/{handle}?partition={partition}",
            running.base_url()
        ))
        .header("Authorization", format!("Bearer {bearer}"))
        .header("Accept", "application/json")
        .header("User-Agent", "emulator-tests/1.0");
    if gzip {
        request = request.header("Accept-Encoding", "gzip");
    }
    let response = request.send().await.expect("request sent");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (status, encoding, link) = (
        response.status().as_u16(),
        header("content-encoding"),
        header("link"),
    );
    let bytes = response.bytes().await.expect("body read");
    let text = if encoding.as_deref() == Some("gzip") {
        let mut text = String::new();
        GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .expect("a gzip body decompresses");
        text
    } else {
        String::from_utf8(bytes.to_vec()).expect("a UTF-8 body")
    };
    let body = serde_json::from_str(&text).expect("a JSON body");
    PartitionAnswer {
        status,
        encoding,
        link,
        body,
    }
}

/// The `name` cells of some rows, given the ResultSet that says which column is `name`.
fn names(result_set: &Value, rows: &Value) -> Vec<String> {
    let index = result_set["resultSetMetaData"]["rowType"]
        .as_array()
        .expect("rowType")
        .iter()
        .position(|c| c["name"] == "name")
        .expect("a name column");
    rows.as_array()
        .expect("rows are an array")
        .iter()
        .map(|row| row[index].as_str().expect("a name").to_owned())
        .collect()
}

fn row_counts(result_set: &Value) -> Vec<u64> {
    result_set["resultSetMetaData"]["partitionInfo"]
        .as_array()
        .expect("partitionInfo")
        .iter()
        .map(|p| p["rowCount"].as_u64().expect("rowCount"))
        .collect()
}

#[tokio::test]
async fn a_large_result_comes_in_partitions_fetched_by_number() {
    let running = start_with(partitioned_config(5, true), false).await;
    let tokens = add_tokens(running.emulator(), 12);
    let admin = admin_jwt(&running);
    let (status, headers, first) = post_sql(&http(), &running, &admin, SHOW, "").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["resultSetMetaData"]["numRows"], 12);
    assert_eq!(row_counts(&first), [5, 5, 2]);
    for info in first["resultSetMetaData"]["partitionInfo"]
        .as_array()
        .expect("partitionInfo")
    {
        assert!(info["uncompressedSize"].as_u64().is_some_and(|s| s > 0));
    }
    let handle = statement_handle(&first);
    let link = headers["link"].to_str().expect("a Link header");
    let next = format!("</api/v2/statements/{handle}?partition=1>; rel=\"next\"");
    assert!(
        link.contains(&next) && link.contains("?partition=2>; rel=\"last\""),
        "{link}"
    );

    let mut all = names(&first, &first["data"]);
    assert_eq!(all, tokens[..5]);

    let second = fetch_partition(&running, &admin, &handle, "1", true).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.encoding.as_deref(), Some("gzip"), "asked for gzip");
    assert!(
        second
            .link
            .as_deref()
            .is_some_and(|l| l.contains("?partition=0>; rel=\"prev\"")),
        "{:?}",
        second.link
    );
    all.extend(names(&first, &second.body));

    let third = fetch_partition(&running, &admin, &handle, "2", false).await;
    assert_eq!(third.status, 200, "{}", third.body);
    assert_eq!(third.encoding, None, "plain unless gzip is accepted");
    all.extend(names(&first, &third.body));
    assert_eq!(all, tokens, "every row, once, in order");

    let again = fetch_partition(&running, &admin, &handle, "0", false).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.body["data"], first["data"],
        "partition 0 is the first answer"
    );
    assert_eq!(row_counts(&again.body), [5, 5, 2]);
}

#[tokio::test]
async fn a_partition_out_of_range_is_refused_with_422_and_a_bad_number_with_400() {
    let running = start_with(partitioned_config(5, true), false).await;
    add_tokens(running.emulator(), 12);
    let admin = admin_jwt(&running);
    let (_, _, first) = post_sql(&http(), &running, &admin, SHOW, "").await;
    let handle = statement_handle(&first);

    let beyond = fetch_partition(&running, &admin, &handle, "3", true).await;
    assert_eq!(beyond.status, 422, "{}", beyond.body);
    assert_eq!(beyond.body["code"], "090155");
    assert_eq!(beyond.body["sqlState"], "22023");
    assert_eq!(beyond.body["statementHandle"], handle.as_str());
    assert!(
        beyond.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("3 partition(s)")),
        "{}",
        beyond.body
    );

    let (status, body) = get(
        &http(),
        &running,
        &admin,
        &format!("/api/v2/statements/{handle}?partition=-1"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "390142");
}

#[tokio::test]
async fn the_result_of_an_asynchronous_statement_is_partitioned_the_same_way() {
    let running = start_with(partitioned_config(5, true), false).await;
    let tokens = add_tokens(running.emulator(), 12);
    let admin = admin_jwt(&running);
    let (status, _, accepted) = post_sql(&http(), &running, &admin, SHOW, "?async=true").await;
    assert_eq!(status, 202, "{accepted}");
    let handle = statement_handle(&accepted);

    let (status, polled) = get(
        &http(),
        &running,
        &admin,
        &format!("/api/v2/statements/{handle}"),
    )
    .await;
    assert_eq!(status, 200, "{polled}");
    assert_eq!(row_counts(&polled), [5, 5, 2]);
    let mut all = names(&polled, &polled["data"]);
    for partition in ["1", "2"] {
        let answer = fetch_partition(&running, &admin, &handle, partition, true).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        all.extend(names(&polled, &answer.body));
    }
    assert_eq!(all, tokens);
}

#[tokio::test]
async fn a_seed_without_gzip_serves_partitions_plain_even_when_gzip_is_accepted() {
    let running = start_with(partitioned_config(5, false), false).await;
    let tokens = add_tokens(running.emulator(), 12);
    let admin = admin_jwt(&running);
    let (_, _, first) = post_sql(&http(), &running, &admin, SHOW, "").await;
    let handle = statement_handle(&first);
    let second = fetch_partition(&running, &admin, &handle, "1", true).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.encoding, None);
    assert_eq!(names(&first, &second.body), tokens[5..10]);
}

#[tokio::test]
async fn by_default_a_result_comes_whole_in_partition_0() {
    let running = start_with(emulator_support::config(), false).await;
    let tokens = add_tokens(running.emulator(), 12);
    let admin = admin_jwt(&running);
    let (status, headers, first) = post_sql(&http(), &running, &admin, SHOW, "").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(row_counts(&first), [12]);
    assert_eq!(names(&first, &first["data"]), tokens);
    assert!(
        headers.get("link").is_none(),
        "one partition needs no links"
    );
    let handle = statement_handle(&first);
    let beyond = fetch_partition(&running, &admin, &handle, "1", false).await;
    assert_eq!(beyond.status, 422);
}
