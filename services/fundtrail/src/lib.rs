//! The `fundtrail` binary's library: configuration, server start-up, demo data and the
//! command-line client, so end-to-end tests start exactly what the binary starts.

pub mod audit_cli;
pub mod client;
pub mod config;
pub mod demo;
pub mod server;
