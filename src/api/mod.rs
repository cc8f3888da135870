//! Custom resource types: `SnowflakeConnection`, `SnowflakeServiceUser`, `SnowflakeToken`.
