//! The `prometheus` source kind's configuration: the URL scraped every round. Data in: a [`SourceDefinition`]
//! (from `mcpulse.toml`, the web UI or the REST API, via `collect::spec`); data out: the checked URL, or every
//! problem at once, and the definition written back from it.

use crate::collect::fields::{http_url, only_for_mcp};
use app::types::SourceDefinition;

/// Checks the Prometheus parts of `def`: an http(s) URL as the target, and none of the fields only MCP sources
/// take. Every problem is reported through `problem`; the URL comes back only when it is good.
pub fn parse(
    def: &SourceDefinition,
    problem: &mut impl FnMut(&'static str, String),
) -> Option<url::Url> {
    let url = http_url(&def.target, &mut *problem);
    only_for_mcp(def, problem);
    url
}

/// Writes the kind's fields into `def` (the reverse of [`parse`]).
pub fn write(url: &url::Url, def: &mut SourceDefinition) {
    def.kind = "prometheus".into();
    def.target = url.to_string();
}
