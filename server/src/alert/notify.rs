//! Notifications. Contact points (console, webhook, Slack, Logstash, email) are checked from a [`ContactPointDraft`] and
//! stored in `contact_points`. A notice of the evaluator enters the outbox through [`enqueue`], in the evaluator's
//! own transaction: one row per contact point whose `min_severity` the rule reaches, holding the finished payload
//! and an idempotency key. The [`Dispatcher`] leaves with them: per contact point, in order, concurrently across
//! contact points (a slow receiver delays no one else), each POST under a timeout, with capped exponential backoff
//! and jitter on 5xx, 429, timeouts and connection errors, and no retry on other 4xx. Outgoing addresses are
//! checked against loopback, private and link-local ranges unless allow-listed (`alerts.allowed_hosts`), and
//! redirects are not followed. URLs are secrets: shown redacted, never logged whole.

use super::rule::{Rule, Severity};
use super::state::{AlertState, Notice};
use app::error::AppError;
use app::types::{ContactPointDraft, ContactPointInfo};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{PgPool, Postgres};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Console,
    Webhook,
    Slack,
    Logstash,
    Email,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s.trim() {
            "console" => Kind::Console,
            "webhook" => Kind::Webhook,
            "slack" => Kind::Slack,
            "logstash" => Kind::Logstash,
            "email" => Kind::Email,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Console => "console",
            Kind::Webhook => "webhook",
            Kind::Slack => "slack",
            Kind::Logstash => "logstash",
            Kind::Email => "email",
        }
    }
}

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
async fn check_target(url: &url::Url, resolver: &GuardedResolver) -> Result<(), String> {
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
/// `wait` after its first notice, later ones no sooner than `interval` after the previous send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub by: Vec<String>,
    pub wait: Duration,
    pub interval: Duration,
}

impl Default for Grouping {
    fn default() -> Self {
        Grouping {
            by: vec!["alertname".into()],
            wait: Duration::from_secs(5),
            interval: Duration::from_secs(60),
        }
    }
}

/// A contact point draft, checked.
struct Checked {
    name: String,
    kind: Kind,
    settings: Value,
    severity: Severity,
    escalate_after: Option<i64>,
    matchers: Vec<String>,
}

/// A unique-name violation as the field error it is.
fn name_taken(e: sqlx::Error, name: &str) -> AppError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => AppError::invalid(
            "name",
            format!("a contact point named `{name}` exists already"),
        ),
        _ => AppError::internal(e),
    }
}

/// The contact points' store and the outbox's producer side.
pub struct ContactPoints {
    pool: PgPool,
    allowed: AllowList,
}

impl ContactPoints {
    pub fn new(pool: PgPool, allowed: AllowList) -> Self {
        ContactPoints { pool, allowed }
    }

    pub async fn create(
        &self,
        draft: &ContactPointDraft,
        by: &str,
    ) -> Result<ContactPointInfo, AppError> {
        let c = self.check(draft, None).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO contact_points (name, kind, settings, min_severity, enabled, created_by, escalate_after_ms,
                matchers)
             VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&c.name)
        .bind(c.kind.as_str())
        .bind(c.settings.to_string())
        .bind(c.severity.as_str())
        .bind(draft.enabled)
        .bind(by)
        .bind(c.escalate_after)
        .bind(&c.matchers)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| name_taken(e, &c.name))?;
        self.get(id).await
    }

    /// Changes contact point `id` (its queue stays); an empty URL keeps the stored one when the kind is unchanged.
    pub async fn update(
        &self,
        id: i64,
        draft: &ContactPointDraft,
    ) -> Result<ContactPointInfo, AppError> {
        let current: Option<(String, String)> =
            sqlx::query_as("SELECT kind, settings::text FROM contact_points WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(AppError::internal)?;
        let Some((kind, settings)) = current else {
            return Err(AppError::NotFound);
        };
        let settings: Value = serde_json::from_str(&settings).unwrap_or_default();
        let c = self.check(draft, Some((kind.as_str(), &settings))).await?;
        sqlx::query(
            "UPDATE contact_points SET name = $2, kind = $3, settings = $4::jsonb, min_severity = $5, enabled = $6,
                escalate_after_ms = $7, matchers = $8 WHERE id = $1",
        )
        .bind(id)
        .bind(&c.name)
        .bind(c.kind.as_str())
        .bind(c.settings.to_string())
        .bind(c.severity.as_str())
        .bind(draft.enabled)
        .bind(c.escalate_after)
        .bind(&c.matchers)
        .execute(&self.pool)
        .await
        .map_err(|e| name_taken(e, &c.name))?;
        self.get(id).await
    }

    async fn get(&self, id: i64) -> Result<ContactPointInfo, AppError> {
        self.list()
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(AppError::NotFound)
    }

    /// A draft checked field by field; `keep` is the stored kind and settings when changing one.
    async fn check(
        &self,
        draft: &ContactPointDraft,
        keep: Option<(&str, &Value)>,
    ) -> Result<Checked, AppError> {
        let mut problems = app::error::Problems::new();
        let name = draft.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            problems.add("name", "give it a name of at most 200 characters");
        }
        let kind = Kind::parse(&draft.kind);
        if kind.is_none() {
            problems.add(
                "kind",
                "expected console, webhook, slack, logstash or email",
            );
        }
        let severity = Severity::parse(&draft.min_severity);
        if severity.is_none() {
            problems.add("min_severity", "expected info, warning, error or critical");
        }
        let settings = match kind {
            None => None,
            Some(Kind::Console) => Some(json!({})),
            // Changing a contact point without retyping its (redacted) URL keeps the stored one.
            Some(kind)
                if draft.url.trim().is_empty() && keep.is_some_and(|(k, _)| k == kind.as_str()) =>
            {
                keep.map(|(_, settings)| settings.clone())
            }
            Some(kind) => problems.take(self.check_url(kind, draft.url.trim()).await),
        };
        let escalate_after = match draft.escalate_after.trim() {
            "" | "0" => None,
            text => {
                let after = humantime::parse_duration(text)
                    .ok()
                    .filter(|d| !d.is_zero() && *d <= Duration::from_secs(7 * 86400));
                if after.is_none() {
                    problems.add(
                        "escalate_after",
                        format!(
                            "`{text}`: a duration up to 7 days, e.g. 15m (empty: notify at once)"
                        ),
                    );
                }
                after.map(|d| d.as_millis() as i64)
            }
        };
        let matchers = problems.take(crate::store::query::LabelMatcher::parse_list(
            &draft.matchers,
        ));
        problems.finish()?;
        let (Some(kind), Some(severity), Some(settings), Some(matchers)) =
            (kind, severity, settings, matchers)
        else {
            unreachable!("every missing value was recorded as a problem");
        };
        Ok(Checked {
            name: name.to_string(),
            kind,
            settings,
            severity,
            escalate_after,
            matchers: matchers.iter().map(ToString::to_string).collect(),
        })
    }

    /// The settings of a `kind` contact point sending to `url`, or the problem with the URL (field `url`).
    async fn check_url(&self, kind: Kind, url: &str) -> Result<Value, AppError> {
        if url.is_empty() {
            return Err(AppError::invalid(
                "url",
                match kind {
                    Kind::Email => {
                        "give the SMTP server: smtp://user:password@host:port?from=…&to=…"
                    }
                    _ => "give the receiver's URL, e.g. https://hooks.example.com/alerts",
                },
            ));
        }
        let url = url::Url::parse(url)
            .map_err(|e| AppError::invalid("url", format!("not a URL: {e}")))?;
        let email = kind == Kind::Email;
        if email != matches!(url.scheme(), "smtp" | "smtps") {
            return Err(AppError::invalid(
                "url",
                if email {
                    "email needs smtp://user:password@host:port?from=…&to=…&tls=starttls|tls|none"
                } else {
                    "use an http or https URL"
                },
            ));
        }
        if email {
            Smtp::parse(&url).map_err(|e| AppError::invalid("url", e))?;
        }
        check_target(&url, &GuardedResolver::new(self.allowed.clone()))
            .await
            .map_err(|e| AppError::invalid("url", e))?;
        Ok(json!({ "url": url.as_str() }))
    }

    pub async fn delete(&self, id: i64) -> Result<(), AppError> {
        super::delete_by_id(&self.pool, "contact_points", id).await
    }

    /// Every contact point, URLs redacted, with its queue's size.
    pub async fn list(&self) -> Result<Vec<ContactPointInfo>, AppError> {
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            bool,
            i64,
            i64,
            Option<i64>,
            Vec<String>,
            i64,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT c.id, c.name, c.kind, coalesce(c.settings->>'url', ''), c.min_severity, c.enabled,
                    count(o.id) FILTER (WHERE o.delivered_at IS NULL AND o.failed_at IS NULL),
                    count(o.id) FILTER (WHERE o.failed_at IS NOT NULL), c.escalate_after_ms, c.matchers,
                    count(o.id) FILTER (WHERE o.delivered_at IS NOT NULL),
                    max(o.last_attempt_at),
                    min(o.next_attempt_at) FILTER (WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.attempts > 0),
                    (SELECT l.last_error FROM outbox l WHERE l.contact_point_id = c.id AND l.last_attempt_at IS NOT NULL
                     ORDER BY l.last_attempt_at DESC, l.id DESC LIMIT 1)
             FROM contact_points c LEFT JOIN outbox o ON o.contact_point_id = c.id
             GROUP BY c.id ORDER BY lower(c.name)",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(AppError::internal)?;
        Ok(rows
            .into_iter()
            .map(|r| ContactPointInfo {
                id: r.0,
                name: r.1,
                kind: r.2,
                url: if r.3.is_empty() {
                    String::new()
                } else {
                    redact(&r.3)
                },
                min_severity: r.4,
                enabled: r.5,
                escalate_after: r.8.map(|ms| {
                    humantime::format_duration(Duration::from_millis(ms as u64)).to_string()
                }),
                matchers: r.9,
                queued: r.6,
                failed: r.7,
                delivered: r.10,
                last_attempt_at: r.11,
                next_retry_at: r.12,
                last_error: r.13,
            })
            .collect())
    }
}

/// What the outbox needs to know about one notice.
/// The `series_id` of a notice about a rule as a whole (its query fails, or none of its series has data).
pub const RULE_LEVEL: i64 = 0;

pub struct Notification<'a> {
    pub rule_id: i64,
    pub rule: &'a Rule,
    pub series_id: i64,
    pub source: String,
    pub metric: String,
    pub series_labels: BTreeMap<String, String>,
    pub notice: Notice,
    pub state: &'a AlertState,
    pub value: Option<f64>,
    pub at: DateTime<Utc>,
    pub grouping: &'a Grouping,
}

/// Writes one outbox row per enabled contact point that takes the rule's severity, in the caller's transaction.
/// Returns how many.
pub async fn enqueue(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    n: &Notification<'_>,
) -> anyhow::Result<u64> {
    // Immediate steps; for a resolution also the escalation steps that heard of this firing.
    let points: Vec<(i64, String, String, Vec<String>)> = sqlx::query_as(
        "SELECT id, name, kind, matchers FROM contact_points c WHERE enabled AND
            array_position(ARRAY['info', 'warning', 'error', 'critical'], min_severity)
              <= array_position(ARRAY['info', 'warning', 'error', 'critical'], $1)
            AND (escalate_after_ms IS NULL OR $2 AND EXISTS (
                SELECT 1 FROM outbox o WHERE o.contact_point_id = c.id AND o.idempotency_key = $3 || c.id))",
    )
    .bind(n.rule.severity.as_str())
    .bind(n.notice == Notice::Resolved)
    .bind(escalation_key_prefix(n))
    .fetch_all(&mut **tx)
    .await?;
    let key = format!(
        "{}:{}:{}:{}",
        n.rule_id,
        n.series_id,
        notice_name(n.notice),
        n.at.timestamp_millis()
    );
    queue(tx, points, n, |_| key.clone()).await
}

/// Queues `n` for each of `points` (id, name, kind, matchers) whose matchers let it through, under the
/// idempotency key `key_for(id)`. Returns how many rows were new.
async fn queue(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    points: Vec<(i64, String, String, Vec<String>)>,
    n: &Notification<'_>,
    key_for: impl Fn(i64) -> String,
) -> anyhow::Result<u64> {
    let mut written = 0;
    for (id, name, kind, matchers) in points {
        let Some(kind) = Kind::parse(&kind) else {
            continue;
        };
        if !routes(&matchers, n) {
            continue;
        }
        let key = key_for(id);
        let payload = payload(kind, &name, n, &key);
        written += insert(tx, id, kind, &key, &payload, n).await?;
    }
    Ok(written)
}

/// Whether a contact point's matchers let the notification's alert through.
fn routes(matchers: &[String], n: &Notification<'_>) -> bool {
    if matchers.is_empty() {
        return true;
    }
    let labels = super::alert_labels(n.rule, &n.source, &n.metric, &n.series_labels);
    matchers.iter().all(|m| {
        m.parse::<crate::store::query::LabelMatcher>()
            .is_ok_and(|m| m.matches(&labels))
    })
}

/// The labels the notification's group is known by.
fn group_labels(n: &Notification<'_>) -> BTreeMap<String, String> {
    let labels = super::alert_labels(n.rule, &n.source, &n.metric, &n.series_labels);
    n.grouping
        .by
        .iter()
        .filter_map(|k| labels.get(k).map(|v| (k.clone(), v.clone())))
        .collect()
}

/// Queues one payload for one contact point. Webhook, Slack and email notices join their group's batch (or start
/// one that waits `group wait`, or `group interval` after the group's last send); Logstash and console ones go
/// alone at once.
async fn insert(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    contact_point: i64,
    kind: Kind,
    key: &str,
    payload: &Value,
    n: &Notification<'_>,
) -> anyhow::Result<u64> {
    let group = matches!(kind, Kind::Webhook | Kind::Slack | Kind::Email)
        .then(|| serde_json::to_string(&group_labels(n)).unwrap_or_default());
    Ok(sqlx::query(
        "INSERT INTO outbox (contact_point_id, idempotency_key, payload, group_key, created_at, next_attempt_at,
                             not_before)
         VALUES ($1, $2, $3::jsonb, $4, $7, $7, CASE WHEN $4::text IS NULL THEN $7 ELSE coalesce(
             (SELECT min(not_before) FROM outbox WHERE contact_point_id = $1 AND group_key = $4
                AND delivered_at IS NULL AND failed_at IS NULL),
             greatest($7 + make_interval(secs => $5),
                      (SELECT max(delivered_at) FROM outbox WHERE contact_point_id = $1 AND group_key = $4)
                        + make_interval(secs => $6))) END)
         ON CONFLICT (contact_point_id, idempotency_key) DO NOTHING",
    )
    .bind(contact_point)
    .bind(key)
    .bind(payload.to_string())
    .bind(group)
    .bind(n.grouping.wait.as_secs_f64())
    .bind(n.grouping.interval.as_secs_f64())
    // The evaluation's clock, not the database's: a notice is due `group wait` after the instant it was decided.
    .bind(n.at)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// One notification from a batch of payloads of one group (oldest first).
fn combine(kind: &str, payloads: &[Value]) -> Value {
    let Some(first) = payloads.first() else {
        return Value::Null;
    };
    if payloads.len() == 1 {
        return first.clone();
    }
    match kind {
        "webhook" => {
            let alerts: Vec<Value> = payloads
                .iter()
                .flat_map(|p| p["alerts"].as_array().cloned().unwrap_or_default())
                .collect();
            let firing = alerts.iter().any(|a| a["status"] == "firing");
            // Labels every alert shares.
            let mut common: serde_json::Map<String, Value> =
                alerts[0]["labels"].as_object().cloned().unwrap_or_default();
            common.retain(|k, v| alerts.iter().all(|a| a["labels"][k.as_str()] == *v));
            let mut out = first.clone();
            out["status"] = json!(if firing { "firing" } else { "resolved" });
            out["commonLabels"] = Value::Object(common);
            out["alerts"] = Value::Array(alerts);
            out
        }
        "slack" => json!({
            "text": payloads.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n")
        }),
        "email" => json!({
            "subject": format!("{} alerts: {}", payloads.len(), first["subject"].as_str().unwrap_or("")),
            "body": payloads.iter().filter_map(|p| p["body"].as_str()).collect::<Vec<_>>().join("\n----\n"),
        }),
        _ => first.clone(),
    }
}

/// The idempotency key of an escalation of one firing episode, without the contact point id at its end.
fn escalation_key_prefix(n: &Notification<'_>) -> String {
    format!(
        "{}:{}:escalation:{}:",
        n.rule_id,
        n.series_id,
        n.state
            .firing_since
            .map(|t| t.timestamp_millis())
            .unwrap_or_default()
    )
}

/// Escalation: queues a firing, unacknowledged alert for every escalation step whose delay it has outlasted and
/// that has not heard of this firing yet (the outbox's unique idempotency key makes that once). Returns how many.
pub async fn escalate(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    n: &Notification<'_>,
) -> anyhow::Result<u64> {
    let Some(firing_since) = n.state.firing_since else {
        return Ok(0);
    };
    let fired_ms = (n.at - firing_since).num_milliseconds();
    let points: Vec<(i64, String, String, Vec<String>)> = sqlx::query_as(
        "SELECT id, name, kind, matchers FROM contact_points WHERE enabled AND escalate_after_ms <= $2 AND
            array_position(ARRAY['info', 'warning', 'error', 'critical'], min_severity)
              <= array_position(ARRAY['info', 'warning', 'error', 'critical'], $1)",
    )
    .bind(n.rule.severity.as_str())
    .bind(fired_ms)
    .fetch_all(&mut **tx)
    .await?;
    let prefix = escalation_key_prefix(n);
    queue(tx, points, n, |id| format!("{prefix}{id}")).await
}

pub fn notice_name(notice: Notice) -> &'static str {
    match notice {
        Notice::Firing => "firing",
        Notice::Resolved => "resolved",
        Notice::Flapping => "flapping",
        Notice::NoData => "no_data",
        Notice::Error => "error",
    }
}

/// The body a contact point of `kind` receives.
fn payload(kind: Kind, receiver: &str, n: &Notification<'_>, key: &str) -> Value {
    let status = match n.notice {
        Notice::Resolved => "resolved",
        _ => "firing",
    };
    let mut labels = n.series_labels.clone();
    labels.extend(n.rule.labels.clone());
    labels.insert("alertname".into(), n.rule.name.clone());
    labels.insert("severity".into(), n.rule.severity.to_string());
    labels.insert("source".into(), n.source.clone());
    labels.insert("metric".into(), n.metric.clone());
    let mut annotations = n.rule.annotations.clone();
    if !n.rule.description.is_empty() {
        annotations
            .entry("description".into())
            .or_insert_with(|| n.rule.description.clone());
    }
    let value = n
        .value
        .map(|v| format!("{v}"))
        .unwrap_or_else(|| "no data".into());
    let summary = format!(
        "[{}] {}: {} = {} ({} {}){}",
        match n.notice {
            Notice::Flapping => "FLAPPING".into(),
            Notice::NoData => "NO DATA".into(),
            Notice::Error => "ERROR".into(),
            _ => status.to_uppercase(),
        },
        n.rule.name,
        match n.source.as_str() {
            "" => n.metric.clone(),
            source => format!("{source} {}", n.metric),
        },
        value,
        n.rule.condition.as_str(),
        n.rule.threshold,
        match (n.notice, n.series_id == RULE_LEVEL) {
            (Notice::Flapping, _) => "; notifications held back until it calms down",
            (Notice::NoData, false) =>
                "; the series has stopped reporting, the alert keeps its state",
            (Notice::Error, false) => "; the rule's query failed, the alert keeps its state",
            (Notice::NoData, true) => "; none of the rule's series has data",
            (Notice::Error, true) => "; the rule's query fails, its alerts cannot be checked",
            (Notice::Resolved, true) => "; the rule can be checked again",
            _ => "",
        }
    );
    let starts_at = n
        .state
        .firing_since
        .or(n.state.active_since)
        .unwrap_or(n.at);
    match kind {
        // Alertmanager's webhook format (version 4), so existing receivers work.
        Kind::Webhook => json!({
            "version": "4",
            "groupKey": format!("{{}}:{}", serde_json::to_string(&group_labels(n)).unwrap_or_default()),
            "status": status,
            "receiver": receiver,
            "groupLabels": group_labels(n),
            "commonLabels": labels,
            "commonAnnotations": annotations,
            "externalURL": "",
            "truncatedAlerts": 0,
            "idempotencyKey": key,
            "alerts": [{
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": starts_at.to_rfc3339(),
                "endsAt": n.state.resolved_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                "generatorURL": "",
                "fingerprint": format!("{:016x}", fingerprint(n.rule_id, n.series_id)),
                "flapping": n.notice == Notice::Flapping,
            }],
        }),
        Kind::Slack => json!({ "text": summary }),
        Kind::Email => {
            let mut body = format!("{summary}\n\n");
            for (k, v) in &annotations {
                body.push_str(&format!("{k}: {v}\n"));
            }
            body.push_str("\nLabels:\n");
            for (k, v) in &labels {
                body.push_str(&format!("  {k} = {v}\n"));
            }
            body.push_str(&format!(
                "\nSince: {}\nIdempotency key: {key}\n",
                starts_at.to_rfc3339()
            ));
            json!({ "subject": summary, "body": body })
        }
        Kind::Logstash | Kind::Console => json!({
            "@timestamp": n.at.to_rfc3339(),
            "message": summary,
            "notice": notice_name(n.notice),
            "status": status,
            "alertname": n.rule.name,
            "severity": n.rule.severity.as_str(),
            "source": n.source,
            "metric": n.metric,
            "value": n.value,
            "threshold": n.rule.threshold,
            "condition": n.rule.condition.as_str(),
            "labels": labels,
            "annotations": annotations,
            "idempotency_key": key,
        }),
    }
}

fn fingerprint(rule_id: i64, series_id: i64) -> u64 {
    // FNV-1a over the two ids: stable across processes and versions.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in rule_id
        .to_le_bytes()
        .iter()
        .chain(series_id.to_le_bytes().iter())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The outbox's consumer: delivers due rows, per contact point in order, with retries.
/// A batch of outbox rows claimed for one send.
struct Claim {
    ids: Vec<i64>,
    /// When the lease ends: the rows' `leased_until`, compared when the outcome is written.
    lease: DateTime<Utc>,
    /// Of the batch's first row (the backoff follows it).
    attempts: i32,
    key: String,
    payloads: Vec<Value>,
}

pub struct Dispatcher {
    pool: PgPool,
    client: reqwest::Client,
    resolver: GuardedResolver,
    timeout: Duration,
    /// Rung after an evaluation wrote to the outbox, so delivery does not wait for the next tick.
    pub wake: tokio::sync::Notify,
}

/// The first retry waits this long; each next one twice as long, up to [`RETRY_CAP`], ±20 % jitter.
pub const RETRY_BASE: Duration = Duration::from_millis(500);
pub const RETRY_CAP: Duration = Duration::from_secs(300);
/// How long a receiver may take to answer, unless `alerts.send_timeout` says otherwise.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

enum Outcome {
    Delivered,
    Retry(String),
    GiveUp(String),
}

impl Dispatcher {
    pub fn new(pool: PgPool, allowed: AllowList, timeout: Duration) -> anyhow::Result<Arc<Self>> {
        Self::with_resolver(pool, GuardedResolver::new(allowed), timeout)
    }

    /// A dispatcher whose HTTP client resolves (and checks) names with `resolver` only.
    pub fn with_resolver(
        pool: PgPool,
        resolver: GuardedResolver,
        timeout: Duration,
    ) -> anyhow::Result<Arc<Self>> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("mcpulse/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .dns_resolver(Arc::new(resolver.clone()))
            .build()?;
        Ok(Arc::new(Dispatcher {
            pool,
            client,
            resolver,
            timeout,
            wake: tokio::sync::Notify::new(),
        }))
    }

    /// Delivers until `stop`: after every wake-up, and at least every second for retries.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        loop {
            if let Err(e) = self.deliver_due(Utc::now()).await {
                tracing::warn!(error = %format!("{e:#}"), "delivering notifications failed");
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// One pass at `now`: every contact point's due rows, contact points concurrently. Every time the pass
    /// compares or writes (due, lease, next retry) is `now` plus the time the pass has taken, never the database's
    /// clock: the same clock as the evaluation that queued the rows, and one a test can set.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let clock = Clock::starting_at(now);
        let points: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT DISTINCT c.id, c.name, c.kind, coalesce(c.settings->>'url', '') FROM contact_points c
             JOIN outbox o ON o.contact_point_id = c.id
             WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= $1
               AND o.not_before <= $1 AND coalesce(o.leased_until <= $1, true)",
        )
        .bind(clock.now())
        .fetch_all(&self.pool)
        .await?;
        let work = points
            .into_iter()
            .map(|(id, name, kind, url)| self.deliver_queue(&clock, id, name, kind, url));
        for result in futures::future::join_all(work).await {
            result?;
        }
        Ok(())
    }

    /// A contact point's due rows, oldest first, stopping at the first that must wait (order is kept).
    ///
    /// Delivery by lease: a batch is claimed in a short transaction (its rows locked, `leased_until` set, committed),
    /// then sent with no transaction, lock or pooled connection held, then its outcome recorded. However slow a
    /// receiver is, it holds no database resources; a dispatcher that dies mid-send leaves a lease that expires, and
    /// the batch is sent again under the same idempotency key.
    async fn deliver_queue(
        &self,
        clock: &Clock,
        contact_point: i64,
        name: String,
        kind: String,
        url: String,
    ) -> anyhow::Result<()> {
        loop {
            let Some(claim) = self.claim(clock, contact_point).await? else {
                return Ok(());
            };
            let mut combined = combine(&kind, &claim.payloads);
            if kind == "webhook" {
                combined["idempotencyKey"] = json!(claim.key);
            }
            // Never longer than the lease: a send still under way when it ends is given up (and retried).
            let outcome = match tokio::time::timeout(
                self.lease() - Duration::from_secs(5),
                self.send(&kind, &url, &claim.key, &combined.to_string()),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Retry(format!(
                    "the send took longer than its lease ({:?})",
                    self.lease() - Duration::from_secs(5)
                )),
            };
            self.record(clock, &name, &claim, &outcome).await?;
            if matches!(outcome, Outcome::Retry(_)) {
                return Ok(());
            }
        }
    }

    /// Claims the contact point's oldest undelivered batch if it is due and not leased: the row, with the rest of
    /// its group, leased for longer than a send can take.
    async fn claim(&self, clock: &Clock, contact_point: i64) -> anyhow::Result<Option<Claim>> {
        let now = clock.now();
        let mut tx = self.pool.begin().await?;
        // One claim of a contact point at a time (across processes), so its queue keeps its order and a group is
        // never split between two claims. (NO KEY UPDATE: evaluations may still add rows referring to it.)
        sqlx::query("SELECT 1 FROM contact_points WHERE id = $1 FOR NO KEY UPDATE")
            .bind(contact_point)
            .execute(&mut *tx)
            .await?;
        let row: Option<(i64, i32, Option<String>, bool)> = sqlx::query_as(
            "SELECT id, attempts, group_key,
                    next_attempt_at <= $2 AND not_before <= $2 AND coalesce(leased_until <= $2, true)
             FROM outbox
             WHERE contact_point_id = $1 AND delivered_at IS NULL AND failed_at IS NULL
             ORDER BY id LIMIT 1",
        )
        .bind(contact_point)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((first, attempts, group, due)) = row else {
            return Ok(None);
        };
        if !due {
            // Order is kept: later rows wait for the first (also while another dispatcher holds its lease).
            return Ok(None);
        }
        // The whole group's batch goes as one notification.
        let batch: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, idempotency_key, payload::text FROM outbox
             WHERE contact_point_id = $1 AND delivered_at IS NULL AND failed_at IS NULL
               AND (id = $2 OR group_key = $3) AND coalesce(leased_until <= $4, true)
             ORDER BY id FOR UPDATE",
        )
        .bind(contact_point)
        .bind(first)
        .bind(&group)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let ids: Vec<i64> = batch.iter().map(|b| b.0).collect();
        // The lease's end is also its token: only the holder of this lease records the outcome.
        let lease: DateTime<Utc> = sqlx::query_scalar(
            "UPDATE outbox SET leased_until = $3::timestamptz + make_interval(secs => $2), last_attempt_at = $3
             WHERE id = ANY($1) RETURNING leased_until",
        )
        .bind(&ids)
        .bind(self.lease().as_secs_f64())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let key = match batch.len() {
            1 => batch[0].1.clone(),
            n => format!("{}+{}", batch[0].1, n - 1),
        };
        Ok(Some(Claim {
            ids,
            lease,
            attempts,
            key,
            payloads: batch
                .iter()
                .map(|b| serde_json::from_str(&b.2).unwrap_or_default())
                .collect(),
        }))
    }

    /// How long a claimed batch is ours: well beyond a send's timeout (SMTP has several steps).
    fn lease(&self) -> Duration {
        self.timeout * 3 + Duration::from_secs(10)
    }

    /// Writes a send's outcome and ends the lease.
    async fn record(
        &self,
        clock: &Clock,
        name: &str,
        claim: &Claim,
        outcome: &Outcome,
    ) -> anyhow::Result<()> {
        let now = clock.now();
        match outcome {
            Outcome::Delivered => {
                sqlx::query(
                    "UPDATE outbox SET delivered_at = $3, attempts = attempts + 1, last_error = NULL,
                        leased_until = NULL WHERE id = ANY($1) AND leased_until = $2",
                )
                .bind(&claim.ids)
                .bind(claim.lease)
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
            Outcome::Retry(why) => {
                let wait = backoff(claim.attempts as u32);
                tracing::warn!(contact_point = %name, attempt = claim.attempts + 1, retry_in = ?wait, error = %why,
                    "notification not delivered; will retry");
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2, leased_until = NULL,
                        next_attempt_at = $5::timestamptz + make_interval(secs => $3)
                     WHERE id = ANY($1) AND leased_until = $4",
                )
                .bind(&claim.ids)
                .bind(why)
                .bind(wait.as_secs_f64())
                .bind(claim.lease)
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
            Outcome::GiveUp(why) => {
                tracing::error!(contact_point = %name, error = %why, "notification refused by the receiver; not retried");
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2, failed_at = $4,
                        leased_until = NULL WHERE id = ANY($1) AND leased_until = $3",
                )
                .bind(&claim.ids)
                .bind(why)
                .bind(claim.lease)
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Sends a test notification to contact point `id` now, outside the outbox: whether it was delivered, and
    /// what happened.
    pub async fn test(&self, id: i64) -> Result<(bool, String), AppError> {
        let point: Option<(String, String, String)> = sqlx::query_as(
            "SELECT name, kind, coalesce(settings->>'url', '') FROM contact_points WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(AppError::internal)?;
        let Some((name, kind, url)) = point else {
            return Err(AppError::NotFound);
        };
        let key = format!("test:{id}:{}", Utc::now().timestamp_millis());
        let summary = format!("[TEST] mcpulse test notification for contact point {name}");
        let payload = match kind.as_str() {
            "webhook" => json!({
                "version": "4", "status": "firing", "receiver": name, "groupKey": "{}:test",
                "groupLabels": {}, "commonLabels": {"alertname": "mcpulse test"}, "commonAnnotations": {"summary": summary},
                "externalURL": "", "truncatedAlerts": 0, "idempotencyKey": key,
                "alerts": [{"status": "firing", "labels": {"alertname": "mcpulse test"}, "annotations": {"summary": summary},
                    "startsAt": Utc::now().to_rfc3339(), "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
                    "fingerprint": "0000000000000000", "flapping": false}],
            }),
            "slack" => json!({ "text": summary }),
            "email" => {
                json!({ "subject": summary, "body": format!("{summary}\n\nIf you can read this, mcpulse can reach you.\n") })
            }
            _ => {
                json!({ "@timestamp": Utc::now().to_rfc3339(), "message": summary, "notice": "test", "status": "firing" })
            }
        };
        Ok(
            match self.send(&kind, &url, &key, &payload.to_string()).await {
                Outcome::Delivered => (true, format!("delivered to {name}")),
                Outcome::Retry(why) | Outcome::GiveUp(why) => {
                    (false, format!("not delivered: {why}"))
                }
            },
        )
    }

    async fn send(&self, kind: &str, url: &str, key: &str, payload: &str) -> Outcome {
        if kind == "console" {
            tracing::warn!(target: "mcpulse::alert", notification = %payload, "alert notification");
            return Outcome::Delivered;
        }
        let url = match url::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return Outcome::GiveUp(format!("bad URL: {e}")),
        };
        if let Err(why) = check_target(&url, &self.resolver).await {
            return Outcome::GiveUp(why);
        }
        if kind == "email" {
            return send_email(&url, key, payload, self.timeout, &self.resolver).await;
        }
        let shown = redact(url.as_str());
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", key)
            .body(payload.to_string())
            .send()
            .await;
        match sent {
            Ok(res) if res.status().is_success() => Outcome::Delivered,
            Ok(res)
                if res.status().is_server_error()
                    || res.status() == reqwest::StatusCode::TOO_MANY_REQUESTS =>
            {
                Outcome::Retry(format!("{shown} answered {}", res.status()))
            }
            Ok(res) => Outcome::GiveUp(format!("{shown} answered {}", res.status())),
            Err(e) if e.is_timeout() => {
                Outcome::Retry(format!("{shown} did not answer within {:?}", self.timeout))
            }
            Err(e) => {
                // The causes say what happened (a refused address, a reset connection…).
                let e = e.without_url();
                let mut why = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    let text = c.to_string();
                    if !why.contains(&text) {
                        why.push_str(": ");
                        why.push_str(&text);
                    }
                    cause = c.source();
                }
                Outcome::Retry(format!("{shown}: {why}"))
            }
        }
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
async fn send_email(
    url: &url::Url,
    key: &str,
    payload: &str,
    timeout: Duration,
    resolver: &GuardedResolver,
) -> Outcome {
    use lettre::AsyncTransport;
    let smtp = match Smtp::parse(url) {
        Ok(s) => s,
        Err(e) => return Outcome::GiveUp(e),
    };
    let address = match resolver.addresses(&smtp.host).await {
        Ok(ips) => ips[0],
        Err(why) => return Outcome::Retry(why),
    };
    let body: Value = serde_json::from_str(payload).unwrap_or_default();
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
    let transport = match smtp.transport(timeout, Some(address)) {
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

/// The wait before retry number `attempts + 1`.
fn backoff(attempts: u32) -> Duration {
    let exp = RETRY_BASE.saturating_mul(1u32 << attempts.min(16));
    let capped = exp.min(RETRY_CAP);
    capped.mul_f64(rand::Rng::gen_range(&mut rand::thread_rng(), 0.8..1.2))
}

/// A delivery pass's clock: the instant it started at (the caller's, e.g. `Utc::now()`) plus the monotonic time
/// since, so a long pass's leases and retries still move forward.
struct Clock {
    at: DateTime<Utc>,
    started: std::time::Instant,
}

impl Clock {
    fn starting_at(at: DateTime<Utc>) -> Clock {
        Clock {
            at,
            started: std::time::Instant::now(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.at + chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default()
    }
}

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

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        for attempts in 0..20 {
            let wait = backoff(attempts);
            let nominal = RETRY_BASE
                .saturating_mul(1 << attempts.min(16))
                .min(RETRY_CAP);
            assert!(
                wait >= nominal.mul_f64(0.8) && wait <= nominal.mul_f64(1.2),
                "{attempts}: {wait:?}"
            );
        }
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

    /// A resolver whose name answers a public address first and 127.0.0.1 after, counting its lookups.
    fn rebinding_resolver() -> (Arc<std::sync::atomic::AtomicUsize>, GuardedResolver) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let lookups = Arc::new(AtomicUsize::new(0));
        let seen = lookups.clone();
        let lookup: Lookup = Arc::new(move |_host: String| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                Ok(vec![if n == 0 {
                    "93.184.216.34".parse().unwrap()
                } else {
                    "127.0.0.1".parse().unwrap()
                }])
            })
        });
        (
            lookups,
            GuardedResolver::with_lookup(AllowList::default(), lookup),
        )
    }

    /// DNS rebinding: the name resolves to a public address when checked and to 127.0.0.1 when connecting. The
    /// client connects only through the guarded resolver, so the second answer is refused and nothing reaches the
    /// local listener.
    #[tokio::test]
    async fn a_name_that_rebinds_to_loopback_is_refused_at_connect() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                use tokio::io::AsyncWriteExt;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let (lookups, resolver) = rebinding_resolver();
        let pool = sqlx::PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
        let dispatcher = Dispatcher::with_resolver(pool, resolver, Duration::from_secs(5)).unwrap();
        let url = format!("http://rebind.example:{port}/hook");
        let outcome = dispatcher.send("webhook", &url, "k", "{}").await;
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            2,
            "checked once, resolved again to connect"
        );
        match outcome {
            Outcome::Retry(why) | Outcome::GiveUp(why) => {
                assert!(why.contains("internal address (127.0.0.1)"), "{why}")
            }
            Outcome::Delivered => panic!("delivered to a name that resolved to 127.0.0.1"),
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            0,
            "nothing reached the loopback listener"
        );
    }

    /// The same rebinding against an email contact point: the SMTP client connects only to the address the guard
    /// returned, so the second answer (127.0.0.1) is refused before any connection.
    #[tokio::test]
    async fn an_smtp_host_that_rebinds_to_loopback_is_refused() {
        use std::sync::atomic::Ordering;
        let (lookups, resolver) = rebinding_resolver();
        let pool = sqlx::PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
        let dispatcher = Dispatcher::with_resolver(pool, resolver, Duration::from_secs(5)).unwrap();
        let url = "smtp://rebind.example:2525?tls=none&from=a@example.com&to=b@example.com";
        let outcome = dispatcher
            .send("email", url, "k", r#"{"subject":"s","body":"b"}"#)
            .await;
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            2,
            "checked, then resolved to connect"
        );
        match outcome {
            Outcome::Retry(why) | Outcome::GiveUp(why) => {
                assert!(why.contains("internal address (127.0.0.1)"), "{why}")
            }
            Outcome::Delivered => panic!("mailed a name that resolved to 127.0.0.1"),
        }
    }
}
