//! Typed server functions: the UI's only door into the engine, one file per page area. Each body is
//! [`serve_as`](crate::engine::serve_as)`(role, |engine, caller| …)`: the caller must hold the role (sign-in and
//! first-run setup are the public exceptions and say so), the body asks the [`Engine`](crate::engine::Engine)
//! from context, and a failed call answers with the HTTP status of its error (401, 403, 422, …). Every function
//! is re-exported here, so paths stay `crate::api::x`.

mod alerts;
mod dashboard;
mod mcp;
mod query;
mod reports;
mod session;
mod sources;
mod users;

pub use alerts::*;
pub use dashboard::*;
pub use mcp::*;
pub use query::*;
pub use reports::*;
pub use session::*;
pub use sources::*;
pub use users::*;
