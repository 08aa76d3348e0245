//! The guard of outgoing notifications: a receiver's address may be posted to only when it is http(s) (smtp(s) for
//! email) and every address its host resolves to is public (not loopback, private, link-local, CGNAT…) or the
//! host is allow-listed (`alerts.allowed_hosts`). The dispatcher's HTTP client and the SMTP client connect only
//! through [`GuardedResolver`], so a name that rebinds between check and connection is refused too. URLs are
//! secrets: [`redact`] is what is shown and logged.

use std::net::IpAddr;
use std::sync::Arc;

/// Hosts (names or addresses) an admin allows despite being loopback, private or link-local.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(pub Vec<String>);

impl AllowList {
    fn allows(&self, host: &str) -> bool {
        self.0.iter().any(|h| h.eq_ignore_ascii_case(host))
    }
}

/// Whether an address is one outgoing notifications must not reach unless allow-listed.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // 100.64.0.0/10
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link-local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// Checks that `url` may be posted to: http(s) (smtp(s) for email), and its host is allow-listed or every
/// address it resolves to (through the same [`GuardedResolver`] the HTTP client connects with) is public.
pub(super) async fn check_target(url: &url::Url, resolver: &GuardedResolver) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https" | "smtp" | "smtps") {
        return Err(format!(
            "scheme must be http or https (smtp or smtps for email), not `{}`",
            url.scheme()
        ));
    }
    let host = url.host_str().ok_or("the URL has no host")?;
    let host = host.trim_matches(|c| c == '[' || c == ']');
    resolver.addresses(host).await.map(|_| ())
}

/// How a [`GuardedResolver`] looks names up (the system resolver, or a fixed answer in tests).
pub type Lookup = Arc<
    dyn Fn(String) -> futures::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>>
        + Send
        + Sync,
>;

/// The one resolver of outgoing notifications: it looks a host up and refuses it when any address is loopback,
/// private or link-local (unless the host is allow-listed). The HTTP client connects only to the addresses it
/// returns, so a name that resolves to a public address when checked and to an internal one when connecting (DNS
/// rebinding) is refused at the connection too.
#[derive(Clone)]
pub struct GuardedResolver {
    allowed: AllowList,
    lookup: Lookup,
}

impl GuardedResolver {
    pub fn new(allowed: AllowList) -> Self {
        Self::with_lookup(
            allowed,
            Arc::new(|host: String| {
                Box::pin(async move {
                    Ok(tokio::net::lookup_host((host.as_str(), 0))
                        .await?
                        .map(|a| a.ip())
                        .collect())
                })
            }),
        )
    }

    pub fn with_lookup(allowed: AllowList, lookup: Lookup) -> Self {
        GuardedResolver { allowed, lookup }
    }

    /// The addresses `host` may be reached at, or why it may not.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let ips = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => (self.lookup)(host.to_string())
                .await
                .map_err(|e| format!("cannot resolve `{host}`: {e}"))?,
        };
        if self.allowed.allows(host) {
            return Ok(ips);
        }
        if let Some(ip) = ips.iter().find(|ip| is_internal(**ip)) {
            return Err(format!(
                "`{host}` is an internal address ({ip}); an admin may allow it in alerts.allowed_hosts"
            ));
        }
        if ips.is_empty() {
            return Err(format!("`{host}` has no address"));
        }
        Ok(ips)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let ips = this
                .addresses(&host)
                .await
                .map_err(|why| -> Box<dyn std::error::Error + Send + Sync> { why.into() })?;
            // The connector sets the URL's port.
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| std::net::SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// `scheme://host/…`: enough to recognise a URL without revealing its secret path or query.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}/…",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "…".into(),
    }
}

/// How notices are batched per contact point: by the values of `by` (labels of the alert), the first batch sent

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_redacted_to_scheme_and_host() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T000/B000/XXXX?x=1"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact("http://127.0.0.1:9000/hook"),
            "http://127.0.0.1:9000/…"
        );
    }

    #[tokio::test]
    async fn loopback_targets_need_the_allow_list() {
        let url = url::Url::parse("http://127.0.0.1:9/hook").unwrap();
        let strict = GuardedResolver::new(AllowList::default());
        assert!(check_target(&url, &strict).await.is_err());
        assert!(check_target(
            &url,
            &GuardedResolver::new(AllowList(vec!["127.0.0.1".into()]))
        )
        .await
        .is_ok());
        let ftp = url::Url::parse("ftp://example.com/x").unwrap();
        assert!(check_target(&ftp, &strict).await.is_err());
    }
}
