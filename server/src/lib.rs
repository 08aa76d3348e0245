//! mcpulse, the server: collection, storage, live updates, the REST API and the web UI's host.
//!
//! A sample's path: a source in `collect/` produces a snapshot → `store/` writes it to PostgreSQL → `live/`
//! pushes it to browsers over `/ws` → the dashboard in `app` redraws. `http` assembles the routes, `api` holds the
//! REST data routes, `auth` the users, `db` the connection (or the private PostgreSQL), `cli` the commands.

pub mod alert;
pub mod api;
pub mod assets;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod collect;
pub mod config;
pub mod db;
pub mod engine;
pub mod export;
pub mod http;
pub mod live;
pub mod mcp_server;
pub mod names;
pub mod report;
pub mod serve;
pub mod state;
pub mod store;
pub mod telemetry;
