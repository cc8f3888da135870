//! An in-memory Snowflake emulator, independent of the client (see DESIGN.md section 6).
pub mod oauth;
