//! The client's SQL API, typed operations and OAuth transports against a scripted loopback
//! server: each test names the answers the server gives, in order, and asserts what the
//! client sent (the Scenario pattern). Behaviour against the emulator is tested separately;
//! these pin the wire contract.

mod oauth;
mod ops;
mod sqlapi;
mod support;
