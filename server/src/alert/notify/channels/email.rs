//! Email through an SMTP server named by the contact point's URL,
//! `smtp[s]://user:password@host:port?from=…&to=…&tls=starttls|tls|none`: one message per group batch (its notices'
//! texts joined), `Message-ID` from the idempotency key, connecting only to an address the guard allows.

use super::{combined, joined, Alert, Channel, Outcome, Sender};
use crate::alert::notify::guard::redact;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

pub struct Email;

impl Channel for Email {
    fn render(&self, alert: &Alert<'_>) -> Value {
        let mut body = format!("{}\n\n", alert.summary);
        for (k, v) in &alert.annotations {
            body.push_str(&format!("{k}: {v}\n"));
        }
        body.push_str("\nLabels:\n");
        for (k, v) in alert.labels {
            body.push_str(&format!("  {k} = {v}\n"));
        }
        body.push_str(&format!(
            "\nSince: {}\nIdempotency key: {}\n",
            alert.starts_at.to_rfc3339(),
            alert.key
        ));
        json!({ "subject": alert.summary, "body": body })
    }

    fn batches(&self) -> bool {
        true
    }

    fn combine(&self, _key: &str, payloads: &[Value]) -> Value {
        combined(payloads, |first| {
            json!({
                "subject": format!("{} alerts: {}", payloads.len(), first["subject"].as_str().unwrap_or("")),
                "body": joined(payloads, "body", "\n----\n"),
            })
        })
    }

    fn test(&self, name: &str, _key: &str, _now: DateTime<Utc>) -> Value {
        let summary = super::test_summary(name);
        json!({ "subject": summary, "body": format!("{summary}\n\nIf you can read this, mcpulse can reach you.\n") })
    }

    fn url_hint(&self) -> Option<&'static str> {
        Some("give the SMTP server: smtp://user:password@host:port?from=…&to=…")
    }

    fn check_url(&self, url: &url::Url) -> Result<(), String> {
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(
                "email needs smtp://user:password@host:port?from=…&to=…&tls=starttls|tls|none"
                    .into(),
            );
        }
        Smtp::parse(url).map(|_| ())
    }

    fn deliver<'a>(
        &'a self,
        sender: &'a Sender,
        to: &'a url::Url,
        key: &'a str,
        payload: &'a Value,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(send_email(to, key, payload, sender))
    }
}

/// An email contact point's transport and envelope, from `smtp[s]://user:password@host:port?from=…&to=…&tls=…`
/// (reports use the same form without `to`, as `smtp.url`).
pub(crate) struct Smtp {
    host: String,
    port: u16,
    tls: &'static str,
    credentials: Option<(String, String)>,
    pub(crate) from: lettre::message::Mailbox,
    pub(crate) to: Vec<lettre::message::Mailbox>,
}

impl Smtp {
    fn parse(url: &url::Url) -> Result<Smtp, String> {
        let smtp = Smtp::parse_server(url)?;
        if smtp.to.is_empty() {
            return Err("add &to=oncall@example.com (comma-separated for several)".into());
        }
        Ok(smtp)
    }

    /// The server and sender; `to` may be absent (empty).
    pub(crate) fn parse_server(url: &url::Url) -> Result<Smtp, String> {
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(format!(
                "expected smtp:// or smtps://, not `{}:`",
                url.scheme()
            ));
        }
        let host = url.host_str().ok_or("the URL has no host")?.to_string();
        let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        let tls = match (url.scheme(), query.get("tls").map(String::as_str)) {
            ("smtps", None) | (_, Some("tls")) => "tls",
            (_, None) | (_, Some("starttls")) => "starttls",
            (_, Some("none")) => "none",
            (_, Some(other)) => return Err(format!("tls={other}: expected starttls, tls or none")),
        };
        let port = url.port().unwrap_or(match tls {
            "tls" => 465,
            "starttls" => 587,
            _ => 25,
        });
        let from = query
            .get("from")
            .ok_or("add ?from=alerts@example.com")?
            .parse()
            .map_err(|e| format!("from: {e}"))?;
        let to = match query.get("to") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|a| a.trim().parse().map_err(|e| format!("to `{a}`: {e}")))
                .collect::<Result<Vec<_>, String>>()?,
        };
        let credentials = (!url.username().is_empty()).then(|| {
            let decode = |s: &str| {
                url::form_urlencoded::parse(s.as_bytes())
                    .map(|(k, _)| k.into_owned())
                    .collect::<String>()
            };
            (decode(url.username()), decode(url.password().unwrap_or("")))
        });
        Ok(Smtp {
            host,
            port,
            tls,
            credentials,
            from,
            to,
        })
    }
}

impl Smtp {
    /// A client for this server that gives up after `timeout`. With `connect_to`, it connects to that address (one
    /// the caller has checked) while TLS still verifies the certificate against the host name.
    pub(crate) fn transport(
        &self,
        timeout: Duration,
        connect_to: Option<IpAddr>,
    ) -> Result<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>, String> {
        use lettre::transport::smtp::client::{Tls, TlsParameters};
        use lettre::{AsyncSmtpTransport, Tokio1Executor};
        let parameters =
            || TlsParameters::new(self.host.clone()).map_err(|e| format!("SMTP TLS setup: {e}"));
        let tls = match self.tls {
            "tls" => Tls::Wrapper(parameters()?),
            "starttls" => Tls::Required(parameters()?),
            _ => Tls::None,
        };
        let server = connect_to.map_or_else(|| self.host.clone(), |ip| ip.to_string());
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server)
            .port(self.port)
            .tls(tls)
            .timeout(Some(timeout));
        if let Some((user, password)) = self.credentials.clone() {
            builder = builder.credentials(
                lettre::transport::smtp::authentication::Credentials::new(user, password),
            );
        }
        Ok(builder.build())
    }
}

/// Sends an email notification through the server `url` names, connecting only to an address `resolver` allows
/// (the same guard as HTTP receivers: a name that rebinds to an internal address is refused).
async fn send_email(url: &url::Url, key: &str, body: &Value, sender: &Sender) -> Outcome {
    use lettre::AsyncTransport;
    let smtp = match Smtp::parse(url) {
        Ok(s) => s,
        Err(e) => return Outcome::GiveUp(e),
    };
    let address = match sender.resolver.addresses(&smtp.host).await {
        Ok(ips) => ips[0],
        Err(why) => return Outcome::Retry(why),
    };
    let mut message = lettre::Message::builder()
        .from(smtp.from.clone())
        .subject(body["subject"].as_str().unwrap_or("mcpulse alert"))
        .message_id(Some(format!("<{}@mcpulse>", key.replace(':', "."))));
    for to in &smtp.to {
        message = message.to(to.clone());
    }
    let message = match message.body(body["body"].as_str().unwrap_or("").to_string()) {
        Ok(m) => m,
        Err(e) => return Outcome::GiveUp(format!("building the message: {e}")),
    };
    let transport = match smtp.transport(sender.timeout, Some(address)) {
        Ok(t) => t,
        Err(e) => return Outcome::GiveUp(e),
    };
    let shown = redact(url.as_str());
    match transport.send(message).await {
        Ok(_) => Outcome::Delivered,
        Err(e) if e.is_permanent() => Outcome::GiveUp(format!("{shown}: {e}")),
        Err(e) => Outcome::Retry(format!("{shown}: {e}")),
    }
}
