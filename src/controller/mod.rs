//! The controllers' building blocks. So far: the Secret a `SnowflakeToken` writes
//! ([`secret`]): what goes in it, and how it is written without ever blanking a good one.

pub mod leader;
pub mod secret;
