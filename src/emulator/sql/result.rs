//! Results and errors of statements, independent of the wire format.

use jiff::Timestamp;

use crate::emulator::secret::TokenSecret;

/// Column types the emulator produces (`rowType.type`, lowercase on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Fixed,
    TimestampLtz,
    Boolean,
}

impl ColumnType {
    pub fn wire_name(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Fixed => "fixed",
            ColumnType::TimestampLtz => "timestamp_ltz",
            ColumnType::Boolean => "boolean",
        }
    }
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub column_type: ColumnType,
}

impl Column {
    pub fn text(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            column_type: ColumnType::Text,
        }
    }
    pub fn fixed(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            column_type: ColumnType::Fixed,
        }
    }
    pub fn timestamp(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            column_type: ColumnType::TimestampLtz,
        }
    }
}

/// A cell. Secrets stay wrapped until serialized into the one response that shows them.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Secret(TokenSecret),
}

impl Cell {
    pub fn text(value: impl Into<String>) -> Self {
        Cell::Text(value.into())
    }

    pub fn opt(value: Option<&str>) -> Self {
        value.map_or(Cell::Null, |v| Cell::Text(v.to_owned()))
    }

    /// TIMESTAMP_LTZ wire form: epoch seconds with 9 decimals.
    pub fn timestamp(ts: Timestamp) -> Self {
        let nanos = ts.as_nanosecond();
        let secs = nanos.div_euclid(1_000_000_000);
        let frac = nanos.rem_euclid(1_000_000_000);
        Cell::Text(format!("{secs}.{frac:09}"))
    }

    /// The wire value: the clear secret for [`Cell::Secret`].
    pub fn wire_value(&self) -> Option<&str> {
        match self {
            Cell::Null => None,
            Cell::Text(t) => Some(t),
            Cell::Secret(s) => Some(s.expose()),
        }
    }
}

/// A statement's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

impl ResultSet {
    /// A one-row, one-column `status` result (DDL answers).
    pub fn status(message: impl Into<String>) -> Self {
        Self {
            columns: vec![Column::text("status")],
            rows: vec![vec![Cell::Text(message.into())]],
        }
    }

    /// The value of `column` (case-insensitive) in `row`, for tests and other front ends.
    pub fn get(&self, row: usize, column: &str) -> Option<&Cell> {
        let index = self
            .columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(column))?;
        self.rows.get(row)?.get(index)
    }
}

/// A statement failure with Snowflake's code, SQLSTATE and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({sql_state}): {message}")]
pub struct SqlError {
    pub code: &'static str,
    pub sql_state: &'static str,
    pub message: String,
}

impl SqlError {
    /// `001003` syntax error at a 0-based position of line `line`.
    pub fn syntax(line: usize, position: usize, unexpected: &str) -> Self {
        Self {
            code: "001003",
            sql_state: "42000",
            message: format!(
                "SQL compilation error:\nsyntax error line {line} at position {position} unexpected '{unexpected}'."
            ),
        }
    }

    /// `002003` missing object.
    pub fn does_not_exist(kind: &str, name: &str) -> Self {
        Self {
            code: "002003",
            sql_state: "02000",
            message: format!(
                "SQL compilation error:\n{kind} '{name}' does not exist or not authorized."
            ),
        }
    }

    /// `002002` object already exists.
    pub fn already_exists(kind: &str, name: &str) -> Self {
        Self {
            code: "002002",
            sql_state: "42710",
            message: format!("SQL compilation error:\n{kind} '{name}' already exists."),
        }
    }

    /// `003001` insufficient privileges on a user.
    pub fn insufficient_privileges(user: &str) -> Self {
        Self {
            code: "003001",
            sql_state: "42501",
            message: format!(
                "SQL access control error:\nInsufficient privileges to operate on user '{user}'"
            ),
        }
    }

    /// `001008` invalid value for an option (the emulator's choice for PAT rule
    /// violations whose exact code Snowflake does not document).
    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self {
            code: "001008",
            sql_state: "22023",
            message: format!("SQL compilation error:\n{}", message.into()),
        }
    }

    /// `000008`: more statements than `multi_statement_count` allows.
    pub fn statement_count(actual: usize, desired: usize) -> Self {
        Self {
            code: "000008",
            sql_state: "0A000",
            message: format!(
                "Actual statement count {actual} did not match the desired statement count {desired}."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_debug_hides_secrets() {
        let secret = TokenSecret::generate();
        let rs = ResultSet {
            columns: vec![Column::text("token_secret")],
            rows: vec![vec![Cell::Secret(secret.clone())]],
        };
        assert!(!format!("{rs:?}").contains(secret.expose()));
        assert_eq!(
            rs.get(0, "TOKEN_SECRET").and_then(Cell::wire_value),
            Some(secret.expose())
        );
    }

    #[test]
    fn timestamps_have_nine_decimals() {
        let ts = Timestamp::from_millisecond(1_744_239_049_066).unwrap();
        assert_eq!(Cell::timestamp(ts), Cell::text("1744239049.066000000"));
    }
}
