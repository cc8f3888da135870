//! snowflake-token-operator: keeps Snowflake service users, programmatic access tokens
//! and OAuth tokens converged, and writes the credentials into Kubernetes Secrets.

pub mod api;
pub mod authorize;
pub mod cli;
pub mod controller;
pub mod demo;
pub mod emulator;
pub mod envtest;
pub mod metrics;
pub mod operator;
pub mod snowflake;
