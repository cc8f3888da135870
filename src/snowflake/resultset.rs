//! SQL API result sets, read by column name.
//!
//! Column names are matched case-insensitively: `SHOW` prints lowercase names, and the
//! case of `ADD`/`ROTATE` result columns is not documented. Cells are strings or SQL NULL.
//! `Debug` never prints cells, because some (`token_secret`) are secrets.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use super::error::{Error, Result};

/// A column of `resultSetMetaData.rowType`.
#[derive(Debug, Clone, Deserialize)]
pub struct Column {
    /// The column name as Snowflake sent it.
    pub name: String,
    /// The lowercase Snowflake type (`text`, `fixed`, `timestamp_ltz`...).
    #[serde(default, rename = "type")]
    pub type_name: String,
}

/// One partition's size, from `resultSetMetaData.partitionInfo`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionInfo {
    /// Rows in the partition.
    #[serde(default)]
    pub row_count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metadata {
    #[serde(default)]
    pub row_type: Vec<Column>,
    #[serde(default)]
    pub partition_info: Vec<PartitionInfo>,
}

/// The wire form of a 200 answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireResultSet {
    #[serde(default)]
    pub result_set_meta_data: Option<Metadata>,
    #[serde(default)]
    pub data: Option<Vec<Vec<Value>>>,
    #[serde(default)]
    pub statement_handle: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// Converts a row of JSON cells (strings or null; numbers and booleans tolerated).
pub(crate) fn convert_row(row: Vec<Value>) -> Result<Vec<Option<String>>> {
    row.into_iter()
        .map(|cell| match cell {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            other => Err(Error::Protocol(format!(
                "a result cell is a JSON {}, expected a string or null",
                match other {
                    Value::Array(_) => "array",
                    _ => "object",
                }
            ))),
        })
        .collect()
}

/// A statement's result: columns and string cells.
#[derive(Clone, Default)]
pub struct ResultSet {
    columns: Vec<Column>,
    rows: Vec<Vec<Option<String>>>,
    statement_handle: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

impl fmt::Debug for ResultSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.columns.iter().map(|c| c.name.as_str()).collect();
        f.debug_struct("ResultSet")
            .field("columns", &names)
            .field("rows", &self.rows.len())
            .field("statement_handle", &self.statement_handle)
            .finish_non_exhaustive()
    }
}

impl ResultSet {
    /// Builds a result set from its parts (used by the transport and by fakes in tests).
    pub fn new(columns: Vec<Column>, rows: Vec<Vec<Option<String>>>) -> Self {
        Self {
            columns,
            rows,
            ..Self::default()
        }
    }

    /// Parses the first partition of a 200 answer and returns how many partitions exist.
    pub(crate) fn from_wire(wire: WireResultSet) -> Result<(Self, usize)> {
        let (columns, partitions) = match wire.result_set_meta_data {
            Some(m) => (m.row_type, m.partition_info.len()),
            None => (Vec::new(), 0),
        };
        let rows = wire
            .data
            .unwrap_or_default()
            .into_iter()
            .map(convert_row)
            .collect::<Result<Vec<_>>>()?;
        Ok((
            Self {
                columns,
                rows,
                statement_handle: wire.statement_handle,
                code: wire.code,
                message: wire.message,
            },
            partitions.max(1),
        ))
    }

    /// Appends the rows of a further partition.
    pub(crate) fn extend_rows(&mut self, rows: Vec<Vec<Option<String>>>) {
        self.rows.extend(rows);
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Snowflake's statement handle.
    pub fn statement_handle(&self) -> Option<&str> {
        self.statement_handle.as_deref()
    }

    /// Snowflake's result code (e.g. `090001`).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Snowflake's result message.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The index of the first column named `name`, ignoring case.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The rows.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |cells| Row { set: self, cells })
    }

    /// The first row, or a protocol error naming what was expected.
    pub fn first_row(&self, what: &str) -> Result<Row<'_>> {
        self.rows()
            .next()
            .ok_or_else(|| Error::Protocol(format!("{what} returned no rows")))
    }
}

/// One row of a [`ResultSet`].
#[derive(Clone, Copy)]
pub struct Row<'a> {
    set: &'a ResultSet,
    cells: &'a [Option<String>],
}

impl fmt::Debug for Row<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Row")
            .field("cells", &self.cells.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Row<'a> {
    /// The cell of column `name` (case-insensitive); `None` when the column is missing or
    /// the cell is SQL NULL.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        let idx = self.set.column_index(name)?;
        self.cells.get(idx)?.as_deref()
    }

    /// The first present cell among alternative column names.
    pub fn get_any(&self, names: &[&str]) -> Option<&'a str> {
        names.iter().find_map(|n| self.get(n))
    }

    /// The cell at `index`, for results whose column names are not stable
    /// (e.g. `SELECT CURRENT_USER()`).
    pub fn at(&self, index: usize) -> Option<&'a str> {
        self.cells.get(index)?.as_deref()
    }

    /// The cell of column `name`, or a protocol error naming the missing column.
    pub fn require(&self, name: &str) -> Result<&'a str> {
        self.get(name)
            .ok_or_else(|| Error::Protocol(format!("the result has no value in column {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ResultSet example of `reference/snowflake.md` §3.2, with a second column.
    const ADD_PAT_RESULT: &str = r#"{"resultSetMetaData":{"numRows":1,"format":"jsonv2","partitionInfo":[{"rowCount":1,"uncompressedSize":8}],
      "rowType":[{"name":"token_name","database":"","schema":"","table":"","nullable":true,"length":16777216,"type":"text","scale":null,"precision":null,"byteLength":16777216,"collation":null},
                 {"name":"TOKEN_SECRET","database":"","schema":"","table":"","nullable":true,"length":16777216,"type":"text","scale":null,"precision":null,"byteLength":16777216,"collation":null}]},
      "data":[["EXAMPLE_TOKEN","s3cr3t-value"]],"code":"090001","sqlState":"00000",
      "message":"Statement executed successfully.","statementHandle":"01bad80f-0000-4392-0000-3c790002f19e",
      "statementStatusUrl":"/api/v2/statements/01bad80f?requestId=x","requestId":"x","createdOn":1741333409656}"#;

    #[test]
    fn columns_are_read_by_name_case_insensitively_and_debug_hides_cells() {
        let wire: WireResultSet = serde_json::from_str(ADD_PAT_RESULT).unwrap();
        let (rs, partitions) = ResultSet::from_wire(wire).unwrap();
        assert_eq!(partitions, 1);
        let row = rs.first_row("ADD").unwrap();
        assert_eq!(row.get("TOKEN_NAME"), Some("EXAMPLE_TOKEN"));
        assert_eq!(row.get("token_secret"), Some("s3cr3t-value"));
        assert_eq!(row.get("missing"), None);
        assert_eq!(row.get_any(&["nope", "Token_Name"]), Some("EXAMPLE_TOKEN"));
        assert!(row.require("nope").is_err());
        assert_eq!(rs.code(), Some("090001"));
        let debug = format!("{rs:?} {row:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("token_name"));
    }

    #[test]
    fn nulls_and_odd_cells() {
        let wire: WireResultSet = serde_json::from_str(
            r#"{"resultSetMetaData":{"rowType":[{"name":"a"},{"name":"b"}]},"data":[[null,1],[true,"x"]]}"#,
        )
        .unwrap();
        let (rs, _) = ResultSet::from_wire(wire).unwrap();
        let rows: Vec<_> = rs.rows().collect();
        assert_eq!(rows[0].get("a"), None);
        assert_eq!(rows[0].get("b"), Some("1"));
        assert_eq!(rows[1].get("a"), Some("true"));
        let bad: WireResultSet = serde_json::from_str(r#"{"data":[[{"x":1}]]}"#).unwrap();
        assert!(ResultSet::from_wire(bad).is_err());
    }
}
