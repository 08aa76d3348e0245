//! The `prometheus` source: scrapes an HTTP endpoint serving Prometheus text or OpenMetrics, under the round's
//! timeout and a body-size limit, and turns every exposed sample into a [`Metric`]. A non-2xx answer, a body
//! that is too large, or a malformed line fails the round (the collector records `up = 0` and the error).

pub mod config;
pub mod parse;

use super::explain::plain_error;
use super::{CollectContext, Metric, Snapshot, Source, SourceInfo};
use crate::store::{Labels, SourceId};
use anyhow::{bail, Context};
use async_trait::async_trait;
use chrono::{TimeZone, Utc};

/// Bodies larger than this are refused (a scrape target is not a bulk export).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

const ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

pub struct PrometheusSource {
    id: SourceId,
    name: String,
    url: url::Url,
    labels: Labels,
    client: reqwest::Client,
}

impl PrometheusSource {
    pub fn new(id: &SourceId, name: &str, url: url::Url, labels: Labels) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("mcpulse/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .context("building the HTTP client")?;
        Ok(PrometheusSource {
            id: id.clone(),
            name: name.to_string(),
            url,
            labels,
            client,
        })
    }
}

#[async_trait]
impl Source for PrometheusSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: "prometheus".into(),
            description: format!("Prometheus/OpenMetrics endpoint {}", self.url),
        }
    }

    async fn collect(&self, ctx: &CollectContext) -> anyhow::Result<Snapshot> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, ACCEPT)
            .timeout(ctx.timeout)
            .send()
            .await
            .map_err(describe)?;
        let status = response.status();
        if !status.is_success() {
            bail!("{} answered HTTP {status}", self.url);
        }
        let format = parse::Format::from_content_type(
            response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        );
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                bail!(
                    "the response is larger than {} MiB",
                    MAX_BODY_BYTES / (1024 * 1024)
                );
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body)
            .map_err(|_| anyhow::anyhow!("the response is not UTF-8 text"))?;
        let exposition = parse::parse(&text, format).context("malformed exposition")?;
        let metrics = exposition
            .samples
            .into_iter()
            .map(|s| Metric {
                name: s.name,
                labels: s.labels,
                value: s.value,
                timestamp: s
                    .timestamp_ms
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
            })
            .collect();
        Ok(Snapshot::new(
            ctx.now,
            &self.id,
            metrics,
            self.labels.clone(),
        ))
    }
}

/// Turns reqwest's error into one line that says what happened (see [`plain_error`]).
fn describe(e: reqwest::Error) -> anyhow::Error {
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        anyhow::anyhow!("timed out")
    } else if e.is_connect() {
        anyhow::anyhow!("cannot connect: {}", plain_error(&chain))
    } else {
        anyhow::anyhow!("{}", plain_error(&chain))
    }
}
