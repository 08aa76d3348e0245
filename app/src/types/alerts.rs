//! Alert rules, alerts, their history, silences, contact points and the rule editor's backtest.

use super::*;

/// An alert rule as forms, the REST API and `mcpulse.toml` write it; the server checks it into a rule, naming the
/// first bad field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleDraft {
    pub name: String,
    pub description: String,
    pub metric: String,
    /// Source ids (empty: all).
    pub sources: Vec<String>,
    /// Label matchers: `name=value`, `name!=value`, `name=~regex`, `name!~regex`.
    pub matchers: Vec<String>,
    /// How the samples of each series within `window` become one value: last (default), avg, min, max, sum, count.
    pub reduce: String,
    /// e.g. `5m` (default 5m).
    pub window: String,
    /// One of `>`, `<`, `==`, `!=`, `>=`, `<=`.
    pub condition: String,
    pub threshold: String,
    /// How long the condition must hold before the alert fires, e.g. `5m` (default 0: at once).
    #[serde(rename = "for")]
    pub for_: String,
    /// How long an alert keeps firing after the condition stops holding.
    pub keep_firing_for: String,
    /// info, warning, error or critical.
    pub severity: String,
    pub enabled: bool,
    pub labels: std::collections::BTreeMap<String, String>,
    /// `summary`, `runbook_url`, …
    pub annotations: std::collections::BTreeMap<String, String>,
    /// What an active alert does while its series has no sample within the lookback: `keep` (default: it stays
    /// as it was, marked NoData), `alerting` (counts as holding) or `ok` (counts as not holding, so it resolves).
    pub no_data: String,
}

impl Default for RuleDraft {
    fn default() -> Self {
        RuleDraft {
            name: String::new(),
            description: String::new(),
            metric: String::new(),
            sources: Vec::new(),
            matchers: Vec::new(),
            reduce: "last".into(),
            window: "5m".into(),
            condition: ">".into(),
            threshold: String::new(),
            for_: "0".into(),
            keep_firing_for: "0".into(),
            severity: "warning".into(),
            enabled: true,
            labels: Default::default(),
            annotations: Default::default(),
            no_data: "keep".into(),
        }
    }
}

/// A stored alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub id: i64,
    #[serde(flatten)]
    pub rule: RuleDraft,
    pub created_by: String,
    #[serde(with = "crate::wire::time")]
    pub updated_at: DateTime<Utc>,
    /// `api` (made in the UI or API) or `config` (declared in mcpulse.toml: read-only).
    pub origin: String,
    /// The latest evaluation: `ok`, `nodata` (no series had a sample within the lookback), `error` (the query
    /// failed: see `health_error`) or `unknown` (not evaluated yet).
    #[serde(default)]
    pub health: String,
    #[serde(default)]
    pub health_error: Option<String>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub evaluated_at: Option<DateTime<Utc>>,
}

/// One alert: a rule's state for one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertInfo {
    pub rule_id: i64,
    /// With `rule_id`, names the alert (e.g. to acknowledge it).
    pub series_id: i64,
    #[serde(default, with = "crate::wire::opt_time")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub rule_name: String,
    pub severity: String,
    /// pending, firing or resolved.
    pub state: String,
    pub source: String,
    pub metric: String,
    /// The series' labels plus the rule's.
    pub labels: std::collections::BTreeMap<String, String>,
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The value last compared with the threshold.
    pub value: Option<f64>,
    pub threshold: f64,
    pub condition: String,
    #[serde(default, with = "crate::wire::opt_time")]
    pub active_since: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub firing_since: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub resolved_at: Option<DateTime<Utc>>,
    pub flapping: bool,
    /// `ok`, `nodata` (its series has had no sample within the lookback since `health_since`; the state is kept
    /// or changed as the rule's `no_data` says) or `error` (its rule's query failed; the state is kept).
    #[serde(default)]
    pub health: String,
    #[serde(default, with = "crate::wire::opt_time")]
    pub health_since: Option<DateTime<Utc>>,
    /// The silence muting its notifications now, if one does (the one ending last).
    #[serde(default)]
    pub silenced: Option<SilencedBy>,
}

/// Who silenced an alert, until when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilencedBy {
    /// The silence's id.
    pub id: i64,
    pub by: String,
    #[serde(with = "crate::wire::time")]
    pub until: DateTime<Utc>,
    pub comment: String,
}

/// A contact point as forms and the REST API write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactPointDraft {
    pub name: String,
    /// console, webhook (Alertmanager's webhook format), slack (incoming webhook) or logstash (JSON over HTTP).
    pub kind: String,
    /// For webhook, slack and logstash: where to POST.
    pub url: String,
    /// The least severity it receives: info (default), warning, error or critical.
    pub min_severity: String,
    pub enabled: bool,
    /// Empty: notified at once. A duration (e.g. `15m`) makes it an escalation step: it hears of a firing alert
    /// only after the alert has fired that long without being acknowledged.
    pub escalate_after: String,
    /// Label matchers over the alert's labels (`team=search`, `severity=~error|critical`): empty receives all.
    pub matchers: Vec<String>,
}

impl Default for ContactPointDraft {
    fn default() -> Self {
        ContactPointDraft {
            name: String::new(),
            kind: "webhook".into(),
            url: String::new(),
            min_severity: "info".into(),
            enabled: true,
            escalate_after: String::new(),
            matchers: Vec::new(),
        }
    }
}

/// What a contact point is: where its notifications go and in which shape. Stored as its name in
/// `contact_points.kind`, sent as that name on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactPointKind {
    Console,
    Webhook,
    Slack,
    Logstash,
    Email,
}

impl ContactPointKind {
    pub fn parse(s: &str) -> Option<ContactPointKind> {
        Some(match s.trim() {
            "console" => ContactPointKind::Console,
            "webhook" => ContactPointKind::Webhook,
            "slack" => ContactPointKind::Slack,
            "logstash" => ContactPointKind::Logstash,
            "email" => ContactPointKind::Email,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ContactPointKind::Console => "console",
            ContactPointKind::Webhook => "webhook",
            ContactPointKind::Slack => "slack",
            ContactPointKind::Logstash => "logstash",
            ContactPointKind::Email => "email",
        }
    }
}

impl fmt::Display for ContactPointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "ssr")]
impl sqlx::Type<sqlx::Postgres> for ContactPointKind {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

#[cfg(feature = "ssr")]
impl sqlx::Encode<'_, sqlx::Postgres> for ContactPointKind {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
    }
}

#[cfg(feature = "ssr")]
impl sqlx::Decode<'_, sqlx::Postgres> for ContactPointKind {
    fn decode(value: sqlx::postgres::PgValueRef<'_>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        ContactPointKind::parse(text)
            .ok_or_else(|| format!("unknown contact point kind `{text}`").into())
    }
}

/// A stored contact point; its URL is shown redacted (scheme and host only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactPointInfo {
    pub id: i64,
    pub name: String,
    pub kind: ContactPointKind,
    pub url: String,
    pub min_severity: String,
    pub enabled: bool,
    /// Set for escalation steps, e.g. `15m`.
    pub escalate_after: Option<String>,
    /// Only alerts matching all of these are routed here.
    pub matchers: Vec<String>,
    /// Notices waiting for delivery (retrying included), and given up on.
    pub queued: i64,
    pub failed: i64,
    #[serde(default)]
    pub delivered: i64,
    /// The latest delivery attempt, its error (None: it was delivered), and when the next retry is due.
    #[serde(default, with = "crate::wire::opt_time")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub next_retry_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// How many hours the rule editor's backtest replays.
pub const BACKTEST_HOURS: i64 = 6;

/// The rule editor's backtest: the rule as drafted, replayed by the alert engine's own evaluation over the last
/// [`BACKTEST_HOURS`] of stored samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleBacktest {
    #[serde(with = "crate::wire::time")]
    pub start: DateTime<Utc>,
    #[serde(with = "crate::wire::time")]
    pub end: DateTime<Utc>,
    /// How far apart the replayed evaluations are.
    pub step_ms: i64,
    pub series: Vec<BacktestSeries>,
    /// More series matched than were replayed.
    pub more: bool,
}

/// One series of a [`RuleBacktest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestSeries {
    pub source: String,
    pub labels: std::collections::BTreeMap<String, String>,
    /// The value the rule compared with its threshold at each evaluation that had data.
    pub points: Vec<Point>,
    /// When the alert would have been firing, `(from, to)` in milliseconds since the epoch.
    pub firing: Vec<(i64, i64)>,
}

/// What a contact point's test notification did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPointTest {
    pub delivered: bool,
    /// What the receiver did, in words (e.g. "delivered: 200 OK", or the error).
    pub message: String,
}

/// A silence as forms and the REST API write it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SilenceDraft {
    /// Label matchers over the alert's labels (series and rule labels plus `alertname`, `severity`, `source`,
    /// `metric`): `name=value`, `name!=value`, `name=~regex`, `name!~regex`. At least one.
    pub matchers: Vec<String>,
    /// RFC 3339; default now.
    pub starts_at: Option<String>,
    /// How long it lasts from its start, e.g. `2h`.
    pub duration: String,
    pub comment: String,
}

/// A stored silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceInfo {
    pub id: i64,
    pub matchers: Vec<String>,
    #[serde(with = "crate::wire::time")]
    pub starts_at: DateTime<Utc>,
    #[serde(with = "crate::wire::time")]
    pub ends_at: DateTime<Utc>,
    pub comment: String,
    pub created_by: String,
    pub active: bool,
}

/// One entry of an alert's history: a state change or a notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub id: i64,
    pub rule_id: i64,
    pub rule_name: String,
    pub series_id: i64,
    pub source: String,
    pub metric: String,
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(with = "crate::wire::time")]
    pub at: DateTime<Utc>,
    /// The state after the event: pending, firing, resolved or inactive.
    pub state: String,
    /// The notice sent, if any: firing, resolved, flapping, no_data, error.
    pub notice: Option<String>,
    pub value: Option<f64>,
}

impl AlertInfo {
    /// Pending or firing (not resolved).
    pub fn is_active(&self) -> bool {
        self.state == "pending" || self.state == "firing"
    }
}
