//! Failures of a collection round in words a person understands. Client libraries (reqwest, hyper, rustls, rmcp)
//! report errors as chains of their own texts, some with Rust type names in them ("Transport
//! [rmcp::transport::worker::WorkerTransport<…>] error: Auth required"). [`plain_error`] turns such a chain into
//! what happened first — connection refused, DNS, TLS, 401/403/404, a timeout, an answer that is not MCP — and the
//! library's detail after it, without type names. Sources' `last_error`, the Test button and the MCP page show it.

use std::sync::LazyLock;

/// What each kind of failure means for the user, found by phrases of the libraries' texts (lowercase), first match
/// wins.
const EXPLANATIONS: &[(&[&str], &str)] = &[
    (
        &["auth required", "401 unauthorized", "status 401", "http 401", "status: 401"],
        "the server requires authentication (HTTP 401): add its credentials as a header, e.g. Authorization: Bearer …",
    ),
    (
        &["403 forbidden", "status 403", "http 403", "status: 403"],
        "the server refused access (HTTP 403): the credentials lack permission",
    ),
    (
        &["404 not found", "status 404", "http 404", "status: 404"],
        "nothing at this path (HTTP 404): check the URL (MCP servers usually answer at /mcp)",
    ),
    (
        &["dns error", "failed to lookup address", "name or service not known", "no such host", "nodename nor servname"],
        "the host name does not resolve (DNS): check its spelling",
    ),
    (
        &["connection refused"],
        "connection refused: nothing is listening at this host and port",
    ),
    (
        &["certificate", "tls handshake", "invalid peer", "unknownissuer", "handshake failure", "wrong version number"],
        "the TLS handshake failed: the server's certificate is not trusted or it does not speak TLS on this port",
    ),
    (
        &["connection reset", "broken pipe", "unexpected eof"],
        "the server dropped the connection",
    ),
    (
        &["timed out", "deadline has elapsed", "timeout"],
        "no answer within the timeout",
    ),
    (
        &["unexpected content type", "text/html", "expected initialize response", "initialize response", "unexpected server response", "deserialize"],
        "the server's answer is not MCP: check that this URL (or command) is an MCP server",
    ),
    (
        &["connection closed"],
        "the server closed the connection before answering",
    ),
    (
        &["no such file or directory", "os error 2"],
        "the command was not found: give its full path or install it",
    ),
    (
        &["permission denied", "os error 13"],
        "permission denied",
    ),
];

/// The longest library detail kept after the explanation.
const MAX_DETAIL: usize = 240;

/// `detail` (an error chain) as one plain line: the explanation, then the detail in parentheses without Rust type
/// names. A chain no explanation fits is returned cleaned.
pub fn plain_error(detail: &str) -> String {
    let cleaned = strip_type_names(detail);
    let lower = cleaned.to_ascii_lowercase();
    let explanation = EXPLANATIONS
        .iter()
        .find(|(phrases, _)| phrases.iter().any(|p| lower.contains(p)))
        .map(|(_, said)| *said);
    let mut shown: String = cleaned.chars().take(MAX_DETAIL).collect();
    if shown.len() < cleaned.len() {
        shown.push('…');
    }
    match explanation {
        Some(said) => format!("{said} ({shown})"),
        None => shown,
    }
}

/// Removes `[path::to::Type<…>]` and `path::to::Type` spellings, and the spaces they leave.
fn strip_type_names(text: &str) -> String {
    static BRACKETED: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\s*\[[^\[\]]*::[^\[\]]*\]").expect("a valid regex"));
    static PATH: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"\b[a-z_][a-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)+(<[^>\s]*>+)?")
            .expect("a valid regex")
    });
    let text = BRACKETED.replace_all(text, "");
    let text = PATH.replace_all(&text, "");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_texts_become_plain_words_without_type_names() {
        let cases = [
            (
                "Transport [rmcp::transport::worker::WorkerTransport<rmcp::transport::streamable_http_client::StreamableHttpClientWorker<reqwest::Client>>] error: Auth required",
                "requires authentication",
            ),
            ("connection closed: initialize response", "is not MCP"),
            (
                "error sending request for url (http://127.0.0.1:9/metrics): client error (Connect): tcp connect error: Connection refused (os error 111)",
                "connection refused",
            ),
            (
                "error sending request: client error (Connect): dns error: failed to lookup address information: Name or service not known",
                "does not resolve",
            ),
            (
                "client error (Connect): invalid peer certificate: UnknownIssuer",
                "TLS handshake failed",
            ),
            ("HTTP status client error (403 Forbidden) for url (http://x/mcp)", "refused access"),
            ("could not start `mcp-servr`: No such file or directory (os error 2)", "command was not found"),
        ];
        for (input, want) in cases {
            let plain = plain_error(input);
            assert!(plain.contains(want), "{input} → {plain}");
            assert!(!plain.contains("::"), "no type names: {plain}");
        }
        assert_eq!(
            plain_error("HTTP 500 from the endpoint"),
            "HTTP 500 from the endpoint"
        );
    }
}
