//! mcpulse's integration tests: one binary, black-box through HTTP against a real PostgreSQL.
//!
//! Each test gets its own server on a random port and its own fresh database on the PostgreSQL named by
//! `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).

mod access;
mod alerts;
mod cli;
mod embedded;
mod faults;
mod helpers;
mod ingest;
mod live;
mod mcp;
mod otlp;
mod pages;
mod query;
mod rates;
mod reliability;
mod reports;
mod scrape;
mod sign_in;
mod sources;
mod storage;
