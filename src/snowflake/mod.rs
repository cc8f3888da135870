//! The Snowflake client: key-pair JWT, SQL API v2, statement builders, typed operations.
