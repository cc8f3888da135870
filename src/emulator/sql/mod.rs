//! The SQL subset the emulator understands: a tokenizer, a parser into typed
//! statements, and an executor against [`AccountState`](super::state::AccountState).
//! Anything outside the subset is a Snowflake syntax error, never a crash.

pub mod ast;
pub mod exec;
mod identity_exec;
pub mod lexer;
mod parse_identity;
mod parse_pat;
pub mod parser;
mod pat_exec;
mod result;
mod user_exec;

pub use exec::execute;
pub use result::{Cell, Column, ColumnType, ResultSet, SqlError};
