//! Alerting. Rules enter as [`RuleDraft`]s (server functions, REST) and are checked into [`rule::Rule`]s before
//! they are stored in `alert_rules`. Every evaluation interval [`Alerting::evaluate`] reads each enabled rule's
//! series from storage (the latest value, or a reduction over the rule's window), steps the state machine of
//! `state.rs` for each series with the evaluation time, and writes the changed states and their history
//! (`alert_states`, `alert_events`) in one transaction before anything is announced. Alerts leave through
//! [`Alerting::alerts`] (`GET /api/alerts`, the UI) and as notices, which enter the outbox in that same
//! transaction and are delivered by `notify.rs`.

pub mod backtest;
pub mod config;
pub mod notify;
pub mod rule;
pub mod silence;
pub mod state;

use crate::clock::Clock;
use crate::store::query::push_series_filter;
use anyhow::Context;
use app::error::AppError;
use app::types::{AlertEvent, AlertInfo, BacktestSeries, Point, RuleBacktest, RuleDraft, RuleInfo};
use chrono::{DateTime, Utc};
use rule::{NoData, Reduce, Rule};
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, PgPool, Postgres, QueryBuilder};
use state::{elapsed, AlertState, Health, Notice, Phase};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The advisory lock held by an evaluation (and by rule changes that end alerts), across processes.
const EVALUATION_LOCK: i64 = 7_415_003;

pub struct Alerting {
    pool: PgPool,
    /// A firing, unacknowledged alert is notified again this often.
    pub repeat_interval: Duration,
    pub grouping: notify::Grouping,
    pub silences: silence::Silences,
    pub contact_points: notify::ContactPoints,
    pub dispatcher: std::sync::Arc<notify::Dispatcher>,
    /// The shortest lookback of a `last` rule: a series is "no data" only after this long without a sample (twice
    /// the collection interval, so one late round is not a gap).
    pub lookback_floor: Duration,
    /// How often the evaluator runs (`alerts.interval`): the backtest replays no more often.
    pub evaluation_interval: Duration,
    /// The time of evaluations, acknowledgements, rule changes and the alert list's silences (the dispatcher's
    /// and the silences' too).
    pub clock: Clock,
}

/// The most series one backtest replays.
pub const BACKTEST_SERIES: usize = 50;

/// One rule's series observed in an evaluation: its id and the value compared with the threshold.
struct Observation {
    series_id: i64,
    value: f64,
}

/// What an evaluation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Evaluated {
    pub rules: usize,
    pub series: usize,
    pub notices: usize,
    /// Notices not sent because a silence matched.
    pub silenced: usize,
    /// History entries written: alerts that changed state or were notified.
    pub transitions: usize,
}

impl Alerting {
    pub fn new(
        pool: PgPool,
        allowed: notify::AllowList,
        repeat_interval: Duration,
        grouping: notify::Grouping,
    ) -> anyhow::Result<Self> {
        Self::build(
            pool,
            allowed,
            repeat_interval,
            grouping,
            notify::SEND_TIMEOUT,
        )
    }

    /// The alerting `alerts` configures (its contact points and dispatcher built once), on `clock`; `last` rules
    /// look back at least `lookback_floor`.
    pub fn from_config(
        pool: PgPool,
        alerts: &config::AlertsConfig,
        lookback_floor: Duration,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let grouping = notify::Grouping {
            by: alerts.group_by.clone(),
            wait: alerts.group_wait,
            interval: alerts.group_interval,
        };
        let allowed = notify::AllowList(alerts.allowed_hosts.clone());
        Ok(Self::build(
            pool,
            allowed,
            alerts.repeat_interval,
            grouping,
            alerts.send_timeout,
        )?
        .with_lookback_floor(lookback_floor)
        .with_evaluation_interval(alerts.interval)
        .with_clock(clock))
    }

    fn build(
        pool: PgPool,
        allowed: notify::AllowList,
        repeat_interval: Duration,
        grouping: notify::Grouping,
        send_timeout: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Alerting {
            repeat_interval,
            grouping,
            silences: silence::Silences::new(pool.clone(), Clock::system()),
            contact_points: notify::ContactPoints::new(pool.clone(), allowed.clone()),
            dispatcher: notify::Dispatcher::new(pool.clone(), allowed, send_timeout)?,
            lookback_floor: Duration::ZERO,
            evaluation_interval: Duration::from_secs(10),
            clock: Clock::system(),
            pool,
        })
    }

    /// `last` rules look back at least `floor` for a sample (see [`Alerting::lookback_floor`]).
    pub fn with_lookback_floor(mut self, floor: Duration) -> Self {
        self.lookback_floor = floor;
        self
    }

    /// The evaluator runs every `interval` (see [`Alerting::evaluation_interval`]).
    pub fn with_evaluation_interval(mut self, interval: Duration) -> Self {
        self.evaluation_interval = interval;
        self
    }

    /// Alerting, its silences and its dispatcher on `clock` (see [`Alerting::clock`]). Called as it is built,
    /// before the dispatcher is shared.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        std::sync::Arc::get_mut(&mut self.dispatcher)
            .expect("the clock is set before the dispatcher runs")
            .clock = clock.clone();
        self.silences.clock = clock.clone();
        self.clock = clock;
        self
    }

    /// Checks and stores a new rule.
    pub async fn create_rule(&self, draft: &RuleDraft, by: &str) -> Result<RuleInfo, AppError> {
        let rule = self.check(draft).await?;
        let id: i64 = sqlx::query_scalar_with(
            INSERT_RULE,
            insert_args(&rule, by, "api", self.clock.now())?,
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| unique_name(e, &rule.name))?;
        self.rule(id).await
    }

    /// Replaces a rule's definition; its alerts keep their state, unless the rule is now disabled: then its pending
    /// and firing alerts end (history: `resolved`, notice `disabled`), since nothing will evaluate them any more.
    pub async fn update_rule(&self, id: i64, draft: &RuleDraft) -> Result<RuleInfo, AppError> {
        self.refuse_config(id).await?;
        let rule = self.check(draft).await?;
        // Not while an evaluation is writing this rule's states.
        let mut tx = evaluation_locked(&self.pool)
            .await
            .map_err(AppError::internal)?;
        let now = self.clock.now();
        let updated = sqlx::query_with(UPDATE_RULE, update_args(&rule, id, now)?)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_name(e, &rule.name))?;
        if updated.rows_affected() == 0 {
            return Err(AppError::NotFound);
        }
        if !rule.enabled {
            sqlx::query(
                "WITH ended AS (
                     DELETE FROM alert_states WHERE rule_id = $1 AND phase IN ('pending', 'firing')
                     RETURNING series_id, value)
                 INSERT INTO alert_events (rule_id, series_id, at, phase, notice, value)
                 SELECT $1, series_id, $2, 'resolved', 'disabled', value FROM ended",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(AppError::internal)?;
        } else {
            // Alerts of series the rule no longer selects end now (they would otherwise wait for data forever).
            let mut sql: QueryBuilder<Postgres> =
                QueryBuilder::new("WITH ended AS (DELETE FROM alert_states a WHERE a.rule_id = ");
            sql.push_bind(id)
                .push(" AND NOT EXISTS (SELECT 1 FROM series s WHERE s.id = a.series_id AND ");
            push_series_filter(&mut sql, &rule.metric, &rule.sources, &rule.matchers);
            sql.push(
                ") RETURNING a.series_id, a.phase, a.value)
                 INSERT INTO alert_events (rule_id, series_id, at, phase, notice, value) SELECT ",
            )
            .push_bind(id)
            .push(", series_id, ")
            .push_bind(now)
            .push(", 'resolved', 'rule_changed', value FROM ended WHERE phase IN ('pending', 'firing')");
            sql.build()
                .execute(&mut *tx)
                .await
                .map_err(AppError::internal)?;
        }
        tx.commit().await.map_err(AppError::internal)?;
        self.rule(id).await
    }

    pub async fn delete_rule(&self, id: i64) -> Result<(), AppError> {
        self.refuse_config(id).await?;
        delete_by_id(&self.pool, "alert_rules", id).await
    }

    /// Rules of mcpulse.toml change only there.
    async fn refuse_config(&self, id: i64) -> Result<(), AppError> {
        let origin: Option<String> =
            sqlx::query_scalar("SELECT origin FROM alert_rules WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(AppError::internal)?;
        match origin.as_deref() {
            None => Err(AppError::NotFound),
            Some("config") => Err(AppError::Conflict(
                "this rule is declared in mcpulse.toml: change it there".into(),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Makes the stored `config` rules exactly `drafts` (already checked by the configuration), in one
    /// transaction: new ones added, changed ones updated (their alerts keep their state), missing ones deleted. A
    /// rule of the same name made in the UI is left alone, and the file's rule skipped with a warning.
    pub async fn sync_config_rules(&self, drafts: &[RuleDraft]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        let mut kept = Vec::new();
        for draft in drafts {
            let rule =
                Rule::parse(draft).map_err(|e| anyhow::anyhow!("rule {:?}: {e}", draft.name))?;
            let existing: Option<(i64, String)> =
                sqlx::query_as("SELECT id, origin FROM alert_rules WHERE lower(name) = lower($1)")
                    .bind(&rule.name)
                    .fetch_optional(&mut *tx)
                    .await?;
            match existing {
                Some((_, origin)) if origin != "config" => {
                    tracing::warn!(rule = %rule.name, "mcpulse.toml declares a rule whose name a rule made in the UI already has; skipped");
                }
                Some((id, _)) => {
                    sqlx::query_with(
                        UPDATE_RULE,
                        update_args(&rule, id, self.clock.now())
                            .map_err(|e| anyhow::anyhow!("{e}"))?,
                    )
                    .execute(&mut *tx)
                    .await?;
                    kept.push(id);
                }
                None => {
                    let id: i64 = sqlx::query_scalar_with(
                        INSERT_RULE,
                        insert_args(&rule, "mcpulse.toml", "config", self.clock.now())
                            .map_err(|e| anyhow::anyhow!("{e}"))?,
                    )
                    .fetch_one(&mut *tx)
                    .await?;
                    kept.push(id);
                }
            }
        }
        let removed =
            sqlx::query("DELETE FROM alert_rules WHERE origin = 'config' AND NOT (id = ANY($1))")
                .bind(&kept)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        tracing::info!(
            rules = kept.len(),
            removed,
            "alert rules of mcpulse.toml in effect"
        );
        Ok(())
    }

    pub async fn rules(&self) -> Result<Vec<RuleInfo>, AppError> {
        let rows = self.rule_rows(None).await.map_err(AppError::internal)?;
        Ok(rows.into_iter().map(|(info, _)| info).collect())
    }

    async fn rule(&self, id: i64) -> Result<RuleInfo, AppError> {
        self.rule_rows(Some(id))
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .next()
            .map(|(info, _)| info)
            .ok_or_else(|| AppError::NotFound)
    }

    /// Parses a draft and checks what parsing alone cannot: that the metric exists.
    async fn check(&self, draft: &RuleDraft) -> Result<Rule, AppError> {
        let rule = Rule::parse(draft)?;
        let known: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM series WHERE metric = $1)")
                .bind(&rule.metric)
                .fetch_one(&self.pool)
                .await
                .map_err(AppError::internal)?;
        if !known {
            return Err(AppError::invalid(
                "metric",
                format!("no source has reported `{}`", rule.metric),
            ));
        }
        Ok(rule)
    }

    /// Stored rules with their checked form (a row that no longer parses is skipped and logged).
    async fn rule_rows(&self, id: Option<i64>) -> anyhow::Result<Vec<(RuleInfo, Rule)>> {
        let rows: Vec<RuleRow> = sqlx::query_as(
            "SELECT id, name, description, metric, sources, matchers, reduce, window_ms, condition, threshold, for_ms,
                    keep_firing_for_ms, severity, enabled, labels::text AS labels, annotations::text AS annotations,
                    created_by, updated_at, origin, no_data, eval_health, eval_error, evaluated_at
             FROM alert_rules WHERE $1::bigint IS NULL OR id = $1 ORDER BY lower(name)",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let ms = |ms: i64| Duration::from_millis(ms.max(0) as u64);
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let text = |d: Duration| humantime::format_duration(d).to_string();
            let draft = RuleDraft {
                name: r.name,
                description: r.description,
                metric: r.metric,
                sources: r.sources,
                matchers: r.matchers,
                reduce: r.reduce,
                window: text(ms(r.window_ms)),
                condition: r.condition,
                threshold: r.threshold.to_string(),
                for_: text(ms(r.for_ms)),
                keep_firing_for: text(ms(r.keep_firing_for_ms)),
                severity: r.severity,
                enabled: r.enabled,
                labels: serde_json::from_str(&r.labels).unwrap_or_default(),
                annotations: serde_json::from_str(&r.annotations).unwrap_or_default(),
                no_data: r.no_data,
            };
            match Rule::parse(&draft) {
                Ok(rule) => out.push((
                    RuleInfo {
                        id: r.id,
                        rule: rule.to_draft(),
                        created_by: r.created_by,
                        updated_at: r.updated_at,
                        origin: r.origin,
                        health: r.eval_health,
                        health_error: r.eval_error,
                        evaluated_at: r.evaluated_at,
                    },
                    rule,
                )),
                Err(e) => {
                    tracing::error!(rule = r.id, error = %e, "a stored rule no longer parses; skipped")
                }
            }
        }
        Ok(out)
    }

    /// Evaluates every enabled rule at `now`: steps each series' state and stores the changes with their history
    /// in one transaction. Returns the figures and logs every notice.
    pub async fn evaluate(&self, now: DateTime<Utc>) -> anyhow::Result<Evaluated> {
        let mut tx = self.pool.begin().await?;
        // This transaction waits while the rules' queries run on other connections: however long they take, the
        // server must not end it as idle.
        sqlx::query("SET LOCAL idle_in_transaction_session_timeout = 0")
            .execute(&mut *tx)
            .await?;
        // One evaluator at a time, also across mcpulse processes sharing the database; rules are read after the
        // lock, so a rule disabled meanwhile is not evaluated once more.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(EVALUATION_LOCK)
            .execute(&mut *tx)
            .await?;
        let rules: Vec<(RuleInfo, Rule)> = self
            .rule_rows(None)
            .await?
            .into_iter()
            .filter(|(_, r)| r.enabled)
            .collect();
        let mut figures = Evaluated {
            rules: rules.len(),
            ..Default::default()
        };
        let silences = silence::active(&mut *tx, now).await?;
        // Windows reaching before it read the compacted tier too.
        let watermark = crate::store::chunk::watermark(&self.pool).await?;
        // The earliest escalation step, if any: alerts firing unacknowledged that long are escalated.
        let first_escalation: Option<Duration> = sqlx::query_scalar::<_, Option<i64>>(
            "SELECT min(escalate_after_ms) FROM contact_points WHERE enabled",
        )
        .fetch_one(&mut *tx)
        .await?
        .map(|ms| Duration::from_millis(ms.max(0) as u64));
        let mut healths: Vec<(i64, Health, Option<String>)> = Vec::with_capacity(rules.len());
        let rule_health = stored_rule_health(&mut tx).await?;
        let mut rule_notified: Vec<(i64, Option<&'static str>)> = Vec::new();
        for (info, rule) in &rules {
            // A failed query is the rule's Error state: its alerts keep their state (nothing is known).
            let observed = match self.observe(rule, now, watermark).await {
                Ok(observed) => Ok(observed),
                Err(e) => {
                    tracing::warn!(rule = %rule.name, error = %format!("{e:#}"), "rule evaluation failed");
                    Err(format!("{e:#}"))
                }
            };
            let observed_ok = observed.as_ref().map(Vec::as_slice).unwrap_or(&[]);
            healths.push(match &observed {
                Err(e) => (info.id, Health::Error, Some(e.clone())),
                Ok(o) if o.is_empty() => (info.id, Health::NoData, None),
                Ok(_) => (info.id, Health::Ok, None),
            });
            figures.series += observed_ok.len();
            let mut states = load_states(&mut tx, info.id).await?;
            let values: HashMap<i64, f64> =
                observed_ok.iter().map(|o| (o.series_id, o.value)).collect();
            for o in observed_ok {
                states.entry(o.series_id).or_default();
            }
            let timing = rule.timing();
            // Changed states and history, written in one statement each per rule.
            let mut saves: Vec<(i64, Stored, Option<f64>)> = Vec::new();
            let mut events: Vec<(i64, &'static str, Option<&'static str>, Option<f64>)> =
                Vec::new();
            for (series_id, stored) in states.iter_mut() {
                let value = values.get(series_id).copied();
                let before = stored.clone();
                let (held, health) = verdict(
                    rule,
                    observed.as_ref().map(|_| value).map_err(|_| ()),
                    stored.state.phase,
                    stored.health,
                );
                let mut notices = match held {
                    Some(held) => stored.state.step(now, held, &timing),
                    None => Vec::new(),
                };
                if health != stored.health {
                    if health != Health::Ok {
                        tracing::info!(rule = %rule.name, series = series_id, health = health.as_str(),
                            phase = stored.state.phase.as_str(), "alert cannot be checked");
                    }
                    stored.health = health;
                    stored.health_since = (health != Health::Ok).then_some(now);
                    // Said once, of an alert that stays as it was (the other policies notify by their own steps).
                    // Only of firing alerts: a receiver never heard of a pending one.
                    let kept = health == Health::Error || rule.no_data == NoData::Keep;
                    if kept && stored.state.phase == Phase::Firing && notices.is_empty() {
                        match health {
                            Health::NoData => notices.push(Notice::NoData),
                            Health::Error => notices.push(Notice::Error),
                            Health::Ok => {}
                        }
                    }
                }
                if matches!(stored.state.phase, Phase::Inactive | Phase::Resolved) {
                    // Acknowledgement lasts until the alert really ends.
                    stored.acknowledged = None;
                }
                // Dampening: a firing alert is repeated every repeat interval until acknowledged.
                // Not while it cannot be checked: the NoData/Error notice said so once.
                let repeat_due = stored.state.phase == Phase::Firing
                    && stored.health == Health::Ok
                    && !stored.state.flapping
                    && stored.acknowledged.is_none()
                    && stored
                        .last_sent
                        .is_some_and(|t| elapsed(t, now) >= self.repeat_interval);
                if notices.is_empty() && repeat_due {
                    notices.push(Notice::Firing);
                }
                if !notices.is_empty() {
                    stored.last_sent = Some(now);
                }
                let escalation_due = stored.state.phase == Phase::Firing
                    && stored.acknowledged.is_none()
                    && match (first_escalation, stored.state.firing_since) {
                        (Some(after), Some(since)) => elapsed(since, now) >= after,
                        _ => false,
                    };
                if *stored == before && notices.is_empty() && !escalation_due {
                    continue;
                }
                if *stored != before {
                    saves.push((*series_id, stored.clone(), value));
                }
                if stored.state.phase != before.state.phase || !notices.is_empty() {
                    events.push((
                        *series_id,
                        stored.state.phase.as_str(),
                        notices.first().copied().map(notify::notice_name),
                        value,
                    ));
                }
                if notices.is_empty() && !escalation_due {
                    continue;
                }
                let (source, metric, labels): (String, String, String) =
                    sqlx::query_as("SELECT source, metric, labels::text FROM series WHERE id = $1")
                        .bind(series_id)
                        .fetch_one(&mut *tx)
                        .await?;
                let series_labels: BTreeMap<String, String> =
                    serde_json::from_str(&labels).unwrap_or_default();
                let alert_labels = alert_labels(rule, &source, &metric, &series_labels);
                if let Some(id) = silences
                    .iter()
                    .find(|s| s.matches(&alert_labels))
                    .map(|s| s.id)
                {
                    figures.silenced += notices.len();
                    tracing::info!(rule = %rule.name, silence = id, source = %source, "notice silenced");
                    continue;
                }
                let notification = |notice| notify::Notification {
                    rule_id: info.id,
                    rule,
                    series_id: *series_id,
                    source: source.clone(),
                    metric: metric.clone(),
                    series_labels: series_labels.clone(),
                    notice,
                    state: &stored.state,
                    value,
                    at: now,
                    grouping: &self.grouping,
                };
                for notice in &notices {
                    figures.notices += 1;
                    tracing::info!(rule = %rule.name, severity = %rule.severity, notice = notify::notice_name(*notice),
                        source = %source, metric = %metric, value = ?value, "alert notice");
                    notify::enqueue(&mut tx, &notification(*notice)).await?;
                }
                if escalation_due {
                    let escalated =
                        notify::escalate(&mut tx, &notification(Notice::Firing)).await?;
                    if escalated > 0 {
                        figures.notices += escalated as usize;
                        tracing::info!(rule = %rule.name, source = %source, steps = escalated, "alert escalated");
                    }
                }
            }
            figures.transitions += events.len();
            save_states(&mut tx, info.id, &saves, now).await?;
            save_events(&mut tx, info.id, &events, now).await?;

            // The rule as a whole: a failing query (and, under `no_data = "alerting"`, a rule none of whose series
            // has data) is said once it has lasted the rule's `for`, and its end is said too, as Grafana's
            // DatasourceError / DatasourceNoData alerts are.
            let (health, error) = healths
                .last()
                .map(|h| (h.1, h.2.clone()))
                .unwrap_or((Health::Ok, None));
            let stored = rule_health.get(&info.id).cloned().unwrap_or_default();
            let Some((notice, notified)) = rule_notice(&stored, health, rule, now) else {
                continue;
            };
            let state = AlertState {
                phase: if notice == Notice::Resolved {
                    Phase::Resolved
                } else {
                    Phase::Firing
                },
                firing_since: Some(stored.since_if(health, now)),
                resolved_at: (notice == Notice::Resolved).then_some(now),
                ..AlertState::default()
            };
            let alert_labels = alert_labels(rule, "", &rule.metric, &BTreeMap::new());
            if let Some(id) = silences
                .iter()
                .find(|s| s.matches(&alert_labels))
                .map(|s| s.id)
            {
                // Not sent and not taken as said: it goes out when the silence ends if the problem lasts,
                // and nothing never announced is resolved.
                figures.silenced += 1;
                tracing::debug!(rule = %rule.name, silence = id, "rule notice silenced");
                continue;
            }
            rule_notified.push((info.id, notified));
            figures.notices += 1;
            tracing::info!(rule = %rule.name, notice = notify::notice_name(notice), error = ?error,
                "rule notice");
            notify::enqueue(
                &mut tx,
                &notify::Notification {
                    rule_id: info.id,
                    rule,
                    series_id: notify::RULE_LEVEL,
                    source: String::new(),
                    metric: rule.metric.to_string(),
                    series_labels: BTreeMap::new(),
                    notice,
                    state: &state,
                    value: None,
                    at: now,
                    grouping: &self.grouping,
                },
            )
            .await?;
        }
        save_rule_health(&mut tx, &healths, now).await?;
        save_rule_notified(&mut tx, &rule_notified).await?;
        tx.commit().await?;
        if figures.notices > 0 {
            self.dispatcher.wake.notify_one();
        }
        Ok(figures)
    }

    /// Acknowledges a pending or firing alert now (by the clock): its repeats and escalations stop until it
    /// resolves.
    pub async fn acknowledge(
        &self,
        rule_id: i64,
        series_id: i64,
        by: &str,
    ) -> Result<(), AppError> {
        let at = self.clock.now();
        // Under the evaluation lock: an evaluation in progress would otherwise write back the state it read before
        // this acknowledgement, and the acknowledgement would be lost.
        let mut tx = evaluation_locked(&self.pool)
            .await
            .map_err(AppError::internal)?;
        // The history records who acknowledged (reports list it).
        let done = sqlx::query(
            "WITH acked AS (
                 UPDATE alert_states SET acknowledged_at = $4, acknowledged_by = $3
                 WHERE rule_id = $1 AND series_id = $2 AND phase IN ('pending', 'firing')
                 RETURNING rule_id, series_id, phase, value)
             INSERT INTO alert_events (rule_id, series_id, at, phase, notice, value, actor)
             SELECT rule_id, series_id, $4, phase, 'acknowledged', value, $3 FROM acked",
        )
        .bind(rule_id)
        .bind(series_id)
        .bind(by)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(AppError::internal)?;
        if done.rows_affected() == 0 {
            return Err(AppError::NotFound);
        }
        tx.commit().await.map_err(AppError::internal)?;
        Ok(())
    }

    /// The rule editor's backtest of `draft` (not stored; checked as a save would check it) over the `range`
    /// before `end`: its series (at most [`BACKTEST_SERIES`]) replayed at instants `step` apart (at least the
    /// evaluation interval) by [`backtest::replay`], the engine's own reduction, condition and state machine.
    pub async fn backtest(
        &self,
        draft: &RuleDraft,
        end: DateTime<Utc>,
        range: Duration,
        step: Duration,
    ) -> Result<RuleBacktest, AppError> {
        let rule = Rule::parse(draft)?;
        let start = end - chrono::Duration::from_std(range).map_err(AppError::internal)?;
        let step = step.max(self.evaluation_interval);
        let lookback = match rule.reduce {
            Reduce::Last => rule.window.max(self.lookback_floor),
            _ => rule.window,
        };
        let from = start - chrono::Duration::from_std(lookback).map_err(AppError::internal)?;
        let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(
            "SELECT s.id, s.source, s.labels::text FROM series s WHERE s.last_ts >= ",
        );
        sql.push_bind(from).push(" AND ");
        push_series_filter(&mut sql, &rule.metric, &rule.sources, &rule.matchers);
        sql.push(" ORDER BY s.source, s.labels::text LIMIT ")
            .push_bind(BACKTEST_SERIES as i64 + 1);
        let mut series: Vec<(i64, String, String)> = sql
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(AppError::internal)?;
        let more = series.len() > BACKTEST_SERIES;
        series.truncate(BACKTEST_SERIES);
        let ids: Vec<i64> = series.iter().map(|s| s.0).collect();
        // Up to and including `end`.
        let until = end + chrono::Duration::milliseconds(1);
        let mut samples: HashMap<i64, Vec<(DateTime<Utc>, f64)>> =
            crate::store::chunk::points(&self.pool, &ids, from, until)
                .await
                .map_err(AppError::internal)?
                .into_iter()
                .map(|(id, p)| (id, p.timed()))
                .collect();
        let instants = backtest::instants(start, end, step);
        let ms = |t: DateTime<Utc>| t.timestamp_millis();
        Ok(RuleBacktest {
            start,
            end,
            step_ms: step.as_millis() as i64,
            more,
            series: series
                .into_iter()
                .map(|(id, source, labels)| {
                    let seen = samples.remove(&id).unwrap_or_default();
                    let replayed =
                        backtest::replay(&rule, self.lookback_floor, &seen, &instants, end);
                    BacktestSeries {
                        source,
                        labels: serde_json::from_str(&labels).unwrap_or_default(),
                        points: replayed
                            .values
                            .iter()
                            .map(|(t, v)| Point { t: ms(*t), v: *v })
                            .collect(),
                        firing: replayed
                            .firing
                            .iter()
                            .map(|(a, b)| (ms(*a), ms(*b)))
                            .collect(),
                    }
                })
                .collect(),
        })
    }

    /// The value of every series of the rule at `now`, read as of `now`: for `last`, the latest sample at or before
    /// `now` within the lookback (the rule's window, at least [`Alerting::lookback_floor`]), so a sample stored while
    /// the evaluation runs (stamped after `now`) never hides the one before it; for the reductions, the samples in
    /// `(now - window, now]`. A series without such samples is absent (no data).
    async fn observe(
        &self,
        rule: &Rule,
        now: DateTime<Utc>,
        watermark: Option<DateTime<Utc>>,
    ) -> anyhow::Result<Vec<Observation>> {
        let lookback = match rule.reduce {
            Reduce::Last => rule.window.max(self.lookback_floor),
            _ => rule.window,
        };
        let from = now - chrono::Duration::from_std(lookback)?;
        if watermark.is_some_and(|w| from < w) {
            return self.observe_points(rule, now, from).await;
        }
        let since = now - chrono::Duration::from_std(rule.window)?;
        let mut sql: QueryBuilder<Postgres> = QueryBuilder::new("");
        match rule.reduce {
            Reduce::Last => {
                let since = now - chrono::Duration::from_std(rule.window.max(self.lookback_floor))?;
                // The latest value is kept on the series row; only when a newer sample arrived meanwhile is the
                // one at `now` looked up among the samples.
                sql.push("SELECT s.id, CASE WHEN s.last_ts <= ")
                    .push_bind(now)
                    .push(" THEN s.last_value ELSE (SELECT x.value FROM samples_in(")
                    .push_bind(since)
                    .push(", ")
                    .push_bind(just_after(now))
                    .push(") x WHERE x.series_id = s.id ORDER BY x.ts DESC LIMIT 1) END FROM series s WHERE s.last_ts >= ")
                    .push_bind(since)
                    .push(" AND ");
                push_series_filter(&mut sql, &rule.metric, &rule.sources, &rule.matchers);
            }
            reduce => {
                let f = match reduce {
                    Reduce::Avg => "avg(x.value)",
                    Reduce::Min => "min(x.value)",
                    Reduce::Max => "max(x.value)",
                    Reduce::Sum => "sum(x.value)",
                    _ => "count(*)::float8",
                };
                // The window is (since, now]: samples_in takes [from, to).
                sql.push(format!("SELECT s.id, {f} FROM series s JOIN samples_in("))
                    .push_bind(just_after(since))
                    .push(", ")
                    .push_bind(just_after(now))
                    .push(") x ON x.series_id = s.id WHERE ");
                push_series_filter(&mut sql, &rule.metric, &rule.sources, &rule.matchers);
                sql.push(" GROUP BY s.id");
            }
        }
        let rows: Vec<(i64, Option<f64>)> = sql
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .with_context(|| format!("reading the series of rule `{}`", rule.name))?;
        Ok(rows
            .into_iter()
            .filter_map(|(series_id, value)| value.map(|value| Observation { series_id, value }))
            .collect())
    }

    /// [`Alerting::observe`] for a window that reaches into the compacted tier: the samples themselves
    /// (`chunk::points`, chunks and hot rows in one snapshot), reduced as the backtest reduces them.
    async fn observe_points(
        &self,
        rule: &Rule,
        now: DateTime<Utc>,
        from: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Observation>> {
        let mut sql: QueryBuilder<Postgres> = QueryBuilder::new("SELECT s.id FROM series s WHERE ");
        push_series_filter(&mut sql, &rule.metric, &rule.sources, &rule.matchers);
        let ids: Vec<i64> = sql
            .build_query_scalar()
            .fetch_all(&self.pool)
            .await
            .with_context(|| format!("reading the series of rule `{}`", rule.name))?;
        let until = now + chrono::Duration::milliseconds(1);
        let points = crate::store::chunk::points(&self.pool, &ids, from, until).await?;
        Ok(points
            .into_iter()
            .filter_map(|(series_id, p)| {
                let samples = p.timed();
                rule.reduce
                    .over(&samples, now, rule.window, self.lookback_floor)
                    .map(|value| Observation { series_id, value })
            })
            .collect())
    }

    /// Every alert that is pending, firing, or resolved, with its rule and series; firing first.
    /// The latest `limit` history entries (state changes and notices), newest first; of one rule if `rule_id`.
    pub async fn history(
        &self,
        rule_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AlertEvent>, AppError> {
        type Row = (
            i64,
            i64,
            String,
            i64,
            String,
            String,
            String,
            DateTime<Utc>,
            String,
            Option<String>,
            Option<f64>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT e.id, e.rule_id, r.name, e.series_id, s.source, s.metric, s.labels::text, e.at, e.phase,
                    e.notice, e.value
             FROM alert_events e
             JOIN alert_rules r ON r.id = e.rule_id
             JOIN series s ON s.id = e.series_id
             WHERE $1::bigint IS NULL OR e.rule_id = $1
             ORDER BY e.id DESC
             LIMIT $2",
        )
        .bind(rule_id)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await
        .map_err(AppError::internal)?;
        Ok(rows
            .into_iter()
            .map(|r| AlertEvent {
                id: r.0,
                rule_id: r.1,
                rule_name: r.2,
                series_id: r.3,
                source: r.4,
                metric: r.5,
                labels: serde_json::from_str(&r.6).unwrap_or_default(),
                at: r.7,
                state: r.8,
                notice: r.9,
                value: r.10,
            })
            .collect())
    }

    /// Publishes every pending and firing alert to live clients, after an evaluation changed some or a user
    /// acknowledged one.
    pub async fn publish(&self, hub: &crate::live::Hub) {
        // Without the hub's order an acknowledgement's list and an evaluation's list could be read in one order and
        // sent in the other, leaving clients with the older one.
        let _order = hub.alerts_in_order().await;
        match self.alerts().await {
            Ok(all) => hub.publish(&app::types::LiveMessage::Alerts {
                alerts: all.into_iter().filter(|a| a.is_active()).collect(),
            }),
            Err(e) => tracing::warn!(error = %e, "listing alerts for live clients failed"),
        }
    }

    pub async fn alerts(&self) -> Result<Vec<AlertInfo>, AppError> {
        let rules: HashMap<i64, (RuleInfo, Rule)> = self
            .rule_rows(None)
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .map(|(info, rule)| (info.id, (info, rule)))
            .collect();
        type Row = (
            i64,
            String,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            bool,
            Option<f64>,
            String,
            String,
            String,
            i64,
            Option<DateTime<Utc>>,
            Option<String>,
            String,
            Option<DateTime<Utc>>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT a.rule_id, a.phase, a.active_since, a.firing_since, a.resolved_at, a.flapping, a.value,
                    s.source, s.metric, s.labels::text, a.series_id, a.acknowledged_at, a.acknowledged_by,
                    a.health, a.health_since
             FROM alert_states a JOIN series s ON s.id = a.series_id
             WHERE a.phase <> 'inactive'
             ORDER BY CASE a.phase WHEN 'firing' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, a.updated_at DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(AppError::internal)?;
        let silences = silence::active(&self.pool, self.clock.now())
            .await
            .map_err(AppError::internal)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let (info, rule) = rules.get(&r.0)?;
                let series_labels: BTreeMap<String, String> =
                    serde_json::from_str(&r.9).unwrap_or_default();
                // Silenced as the evaluator decides it: by the alert's full label set.
                let known_by = alert_labels(rule, &r.7, &r.8, &series_labels);
                let silenced = silences.iter().find(|s| s.matches(&known_by)).map(|s| {
                    app::types::SilencedBy {
                        id: s.id,
                        by: s.created_by.clone(),
                        until: s.ends_at,
                        comment: s.comment.clone(),
                    }
                });
                let mut labels = series_labels;
                labels.extend(rule.labels.clone());
                Some(AlertInfo {
                    silenced,
                    rule_id: r.0,
                    series_id: r.10,
                    acknowledged_at: r.11,
                    acknowledged_by: r.12,
                    rule_name: info.rule.name.clone(),
                    severity: rule.severity.to_string(),
                    state: r.1,
                    source: r.7,
                    metric: r.8,
                    labels,
                    annotations: rule.annotations.clone(),
                    value: r.6,
                    threshold: rule.threshold,
                    condition: rule.condition.as_str().to_string(),
                    active_since: r.2,
                    firing_since: r.3,
                    resolved_at: r.4,
                    flapping: r.5,
                    health: r.13,
                    health_since: r.14,
                })
            })
            .collect())
    }
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: i64,
    name: String,
    description: String,
    metric: String,
    sources: Vec<String>,
    matchers: Vec<String>,
    reduce: String,
    window_ms: i64,
    condition: String,
    threshold: f64,
    for_ms: i64,
    keep_firing_for_ms: i64,
    severity: String,
    enabled: bool,
    labels: String,
    annotations: String,
    created_by: String,
    updated_at: DateTime<Utc>,
    origin: String,
    no_data: String,
    eval_health: String,
    eval_error: Option<String>,
    evaluated_at: Option<DateTime<Utc>>,
}

/// A transaction holding the evaluation lock: no evaluation runs until it ends.
async fn evaluation_locked(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(EVALUATION_LOCK)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Deletes row `id` of `table`; `NotFound` when there is none.
pub(crate) async fn delete_by_id(
    pool: &PgPool,
    table: &'static str,
    id: i64,
) -> Result<(), AppError> {
    let done = sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
        .bind(id)
        .execute(pool)
        .await
        .map_err(AppError::internal)?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// Stores a rule: [`insert_args`] binds it.
const INSERT_RULE: &str = "INSERT INTO alert_rules (name, description, metric, sources, matchers, reduce, window_ms,
        condition, threshold, for_ms, keep_firing_for_ms, severity, enabled, labels, annotations, no_data, created_by,
        origin, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb, $16, $17, $18, $19, $19)
     RETURNING id";

/// Replaces rule `$17` at `$18`: [`update_args`] binds it.
const UPDATE_RULE: &str = "UPDATE alert_rules SET name = $1, description = $2, metric = $3, sources = $4,
        matchers = $5, reduce = $6, window_ms = $7, condition = $8, threshold = $9, for_ms = $10,
        keep_firing_for_ms = $11, severity = $12, enabled = $13, labels = $14::jsonb, annotations = $15::jsonb,
        no_data = $16, updated_at = $18
     WHERE id = $17";

/// The arguments of [`INSERT_RULE`]: the rule, who made it, where it comes from (`api` or `config`) and when.
/// The first instant after `t` PostgreSQL can tell apart (it keeps microseconds): a bound `< just_after(t)` is
/// `<= t`.
fn just_after(t: DateTime<Utc>) -> DateTime<Utc> {
    t + chrono::Duration::microseconds(1)
}

fn insert_args(
    rule: &Rule,
    by: &str,
    origin: &'static str,
    now: DateTime<Utc>,
) -> Result<PgArguments, AppError> {
    let mut args = rule_args(rule, by.to_string())?;
    let mut add = || -> Result<(), sqlx::error::BoxDynError> {
        args.add(origin)?;
        args.add(now)
    };
    add().map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
    Ok(args)
}

/// The arguments of [`UPDATE_RULE`]: the rule, its id, and when.
fn update_args(rule: &Rule, id: i64, now: DateTime<Utc>) -> Result<PgArguments, AppError> {
    let mut args = rule_args(rule, id)?;
    args.add(now)
        .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
    Ok(args)
}

/// A rule's fields as `$1`…`$16` in the column order of `alert_rules`, then `tail`.
fn rule_args<T>(rule: &Rule, tail: T) -> Result<PgArguments, AppError>
where
    T: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send,
{
    let ms = |d: Duration| d.as_millis() as i64;
    let mut args = PgArguments::default();
    let add = || -> Result<(), sqlx::error::BoxDynError> {
        args.add(rule.name.clone())?;
        args.add(rule.description.clone())?;
        args.add(rule.metric.clone())?;
        args.add(rule.sources.clone())?;
        args.add(
            rule.matchers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        )?;
        args.add(rule.reduce.as_str())?;
        args.add(ms(rule.window))?;
        args.add(rule.condition.as_str())?;
        args.add(rule.threshold)?;
        args.add(ms(rule.for_))?;
        args.add(ms(rule.keep_firing_for))?;
        args.add(rule.severity.as_str())?;
        args.add(rule.enabled)?;
        args.add(serde_json::to_string(&rule.labels)?)?;
        args.add(serde_json::to_string(&rule.annotations)?)?;
        args.add(rule.no_data.as_str())?;
        args.add(tail)?;
        Ok(())
    };
    add().map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
    Ok(args)
}

/// A second rule with the same name is a field error.
fn unique_name(e: sqlx::Error, name: &str) -> AppError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            AppError::invalid("name", format!("a rule named `{name}` exists already"))
        }
        _ => AppError::internal(e),
    }
}

/// A series' state machine plus what the engine keeps around it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Stored {
    state: AlertState,
    acknowledged: Option<(DateTime<Utc>, String)>,
    last_sent: Option<DateTime<Utc>>,
    health: Health,
    health_since: Option<DateTime<Utc>>,
}

async fn load_states(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    rule_id: i64,
) -> anyhow::Result<BTreeMap<i64, Stored>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        series_id: i64,
        phase: String,
        active_since: Option<DateTime<Utc>>,
        firing_since: Option<DateTime<Utc>>,
        resolved_at: Option<DateTime<Utc>>,
        last_held: Option<DateTime<Utc>>,
        changes: Vec<DateTime<Utc>>,
        flapping: bool,
        acknowledged_at: Option<DateTime<Utc>>,
        acknowledged_by: Option<String>,
        last_sent_at: Option<DateTime<Utc>>,
        health: String,
        health_since: Option<DateTime<Utc>>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT series_id, phase, active_since, firing_since, resolved_at, last_held, changes, flapping,
                acknowledged_at, acknowledged_by, last_sent_at, health, health_since
         FROM alert_states WHERE rule_id = $1",
    )
    .bind(rule_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.series_id,
                Stored {
                    state: AlertState {
                        phase: Phase::parse(&r.phase).unwrap_or(Phase::Inactive),
                        active_since: r.active_since,
                        firing_since: r.firing_since,
                        resolved_at: r.resolved_at,
                        last_held: r.last_held,
                        changes: r.changes,
                        flapping: r.flapping,
                    },
                    acknowledged: r.acknowledged_at.zip(r.acknowledged_by),
                    last_sent: r.last_sent_at,
                    health: Health::parse(&r.health),
                    health_since: r.health_since,
                },
            )
        })
        .collect())
}

/// Upserts the changed states of one rule in one statement.
async fn save_states(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    rule_id: i64,
    saves: &[(i64, Stored, Option<f64>)],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if saves.is_empty() {
        return Ok(());
    }
    let column = |f: &dyn Fn(&Stored) -> Option<DateTime<Utc>>| -> Vec<Option<DateTime<Utc>>> {
        saves.iter().map(|(_, s, _)| f(s)).collect()
    };
    let ids: Vec<i64> = saves.iter().map(|(id, ..)| *id).collect();
    let phases: Vec<&str> = saves
        .iter()
        .map(|(_, s, _)| s.state.phase.as_str())
        .collect();
    // Arrays of arrays do not UNNEST row by row: each row's changes travel as an array literal.
    let changes: Vec<String> = saves
        .iter()
        .map(|(_, s, _)| {
            let items: Vec<String> = s
                .state
                .changes
                .iter()
                .map(|t| format!("\"{}\"", t.to_rfc3339()))
                .collect();
            format!("{{{}}}", items.join(","))
        })
        .collect();
    let flapping: Vec<bool> = saves.iter().map(|(_, s, _)| s.state.flapping).collect();
    let values: Vec<Option<f64>> = saves.iter().map(|(.., v)| *v).collect();
    let acked_by: Vec<Option<String>> = saves
        .iter()
        .map(|(_, s, _)| s.acknowledged.as_ref().map(|a| a.1.clone()))
        .collect();
    sqlx::query(
        "INSERT INTO alert_states (rule_id, series_id, phase, active_since, firing_since, resolved_at, last_held,
            changes, flapping, value, updated_at, acknowledged_at, acknowledged_by, last_sent_at, health,
            health_since)
         SELECT $1, u.series_id, u.phase, u.active_since, u.firing_since, u.resolved_at, u.last_held,
                u.changes::timestamptz[], u.flapping, u.value, $2, u.acknowledged_at, u.acknowledged_by, u.last_sent_at,
                u.health, u.health_since
         FROM UNNEST($3::bigint[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[],
                     $8::timestamptz[], $9::text[], $10::bool[], $11::float8[], $12::timestamptz[], $13::text[],
                     $14::timestamptz[], $15::text[], $16::timestamptz[])
           AS u(series_id, phase, active_since, firing_since, resolved_at, last_held, changes, flapping, value,
                acknowledged_at, acknowledged_by, last_sent_at, health, health_since)
         ON CONFLICT (rule_id, series_id) DO UPDATE SET phase = EXCLUDED.phase,
            active_since = EXCLUDED.active_since, firing_since = EXCLUDED.firing_since,
            resolved_at = EXCLUDED.resolved_at, last_held = EXCLUDED.last_held, changes = EXCLUDED.changes,
            flapping = EXCLUDED.flapping, value = EXCLUDED.value, updated_at = EXCLUDED.updated_at,
            acknowledged_at = EXCLUDED.acknowledged_at, acknowledged_by = EXCLUDED.acknowledged_by,
            last_sent_at = EXCLUDED.last_sent_at, health = EXCLUDED.health, health_since = EXCLUDED.health_since",
    )
    .bind(rule_id)
    .bind(now)
    .bind(&ids)
    .bind(&phases)
    .bind(column(&|s| s.state.active_since))
    .bind(column(&|s| s.state.firing_since))
    .bind(column(&|s| s.state.resolved_at))
    .bind(column(&|s| s.state.last_held))
    .bind(&changes)
    .bind(&flapping)
    .bind(&values)
    .bind(column(&|s| s.acknowledged.as_ref().map(|a| a.0)))
    .bind(&acked_by)
    .bind(column(&|s| s.last_sent))
    .bind(
        saves
            .iter()
            .map(|(_, s, _)| s.health.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(column(&|s| s.health_since))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records each rule's latest evaluation: its health (`since` kept while it stays the same) and error.
/// A rule's health as the previous evaluation left it, and which of its problems was notified.
#[derive(Debug, Clone, Default)]
struct RuleHealth {
    health: Option<Health>,
    since: Option<DateTime<Utc>>,
    /// `nodata` or `error` once said, until the rule is healthy again.
    notified: Option<Health>,
}

impl RuleHealth {
    /// Since when the rule has had `health`, if it keeps it at `now`.
    fn since_if(&self, health: Health, now: DateTime<Utc>) -> DateTime<Utc> {
        match (self.health, self.since) {
            (Some(h), Some(since)) if h == health => since,
            _ => now,
        }
    }
}

/// Every rule's stored health, read under the evaluation lock.
async fn stored_rule_health(
    tx: &mut sqlx::Transaction<'_, Postgres>,
) -> anyhow::Result<HashMap<i64, RuleHealth>> {
    let rows: Vec<(i64, String, Option<DateTime<Utc>>, Option<String>)> = sqlx::query_as(
        "SELECT id, eval_health, eval_health_since, health_notified FROM alert_rules",
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, health, since, notified)| {
            let parse = |s: &str| (s != "unknown").then(|| Health::parse(s));
            let health = RuleHealth {
                health: parse(&health),
                since,
                notified: notified.as_deref().and_then(parse),
            };
            (id, health)
        })
        .collect())
}

/// What to say of the rule as a whole at `now`, given its stored health and the health just observed: the notice
/// and the problem it leaves notified (`None` once the rule is healthy again), or `None` when nothing changes.
/// An Error is said always, NoData only under `no_data = "alerting"`; either once it has lasted the rule's `for`.
fn rule_notice(
    stored: &RuleHealth,
    health: Health,
    rule: &Rule,
    now: DateTime<Utc>,
) -> Option<(Notice, Option<&'static str>)> {
    let said = |h: Health| (h != Health::Ok).then(|| h.as_str());
    let notifiable = match health {
        Health::Ok => false,
        Health::Error => true,
        Health::NoData => rule.no_data == NoData::Alerting,
    };
    if notifiable {
        if stored.notified == Some(health) || elapsed(stored.since_if(health, now), now) < rule.for_
        {
            return None;
        }
        let notice = if health == Health::Error {
            Notice::Error
        } else {
            Notice::NoData
        };
        return Some((notice, said(health)));
    }
    // Healthy again, or a problem this rule does not notify: a notified one ends with a resolution.
    stored.notified.map(|_| (Notice::Resolved, None))
}

/// Records which rule-level problem each rule has notified.
async fn save_rule_notified(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    notified: &[(i64, Option<&'static str>)],
) -> anyhow::Result<()> {
    if notified.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = notified.iter().map(|n| n.0).collect();
    let health: Vec<Option<&str>> = notified.iter().map(|n| n.1).collect();
    sqlx::query(
        "UPDATE alert_rules r SET health_notified = u.health
         FROM UNNEST($1::bigint[], $2::text[]) AS u(id, health) WHERE r.id = u.id",
    )
    .bind(&ids)
    .bind(&health)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn save_rule_health(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    healths: &[(i64, Health, Option<String>)],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if healths.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = healths.iter().map(|h| h.0).collect();
    let names: Vec<&str> = healths.iter().map(|h| h.1.as_str()).collect();
    let errors: Vec<Option<String>> = healths.iter().map(|h| h.2.clone()).collect();
    sqlx::query(
        "UPDATE alert_rules r SET eval_health = u.health, eval_error = u.error, evaluated_at = $1,
            eval_health_since = CASE WHEN r.eval_health = u.health THEN r.eval_health_since ELSE $1 END
         FROM UNNEST($2::bigint[], $3::text[], $4::text[]) AS u(id, health, error)
         WHERE r.id = u.id",
    )
    .bind(now)
    .bind(&ids)
    .bind(&names)
    .bind(&errors)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Appends one rule's history rows in one statement.
async fn save_events(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    rule_id: i64,
    events: &[(i64, &'static str, Option<&'static str>, Option<f64>)],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = events.iter().map(|e| e.0).collect();
    let phases: Vec<&str> = events.iter().map(|e| e.1).collect();
    let notices: Vec<Option<&str>> = events.iter().map(|e| e.2).collect();
    let values: Vec<Option<f64>> = events.iter().map(|e| e.3).collect();
    sqlx::query(
        "INSERT INTO alert_events (rule_id, series_id, at, phase, notice, value)
         SELECT $1, u.series_id, $2, u.phase, u.notice, u.value
         FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::float8[]) AS u(series_id, phase, notice, value)",
    )
    .bind(rule_id)
    .bind(now)
    .bind(&ids)
    .bind(&phases)
    .bind(&notices)
    .bind(&values)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The labels an alert is known by: the series' labels, the rule's, and `alertname`, `severity`, `source`,
/// `metric` (what silences and receivers match on).
/// Whether the rule's condition held for one series at an evaluation (`None` where its state must not step) and
/// the series' health, from what the rule's query gave (`Err`: it failed; `Ok(None)`: no data) and the alert's
/// phase and health before. The evaluator and the backtest decide with this one function.
pub(crate) fn verdict(
    rule: &Rule,
    observed: Result<Option<f64>, ()>,
    phase: Phase,
    health: Health,
) -> (Option<bool>, Health) {
    let active = matches!(phase, Phase::Pending | Phase::Firing);
    match observed {
        Err(()) if active => (None, Health::Error),
        Err(()) => (None, health),
        Ok(Some(v)) => (Some(rule.condition.holds(v, rule.threshold)), Health::Ok),
        // No data never resolves by itself: the rule's `no_data` says what an active alert does.
        Ok(None) if active => match rule.no_data {
            NoData::Keep => (None, Health::NoData),
            NoData::Alerting => (Some(true), Health::NoData),
            NoData::Ok => (Some(false), Health::NoData),
        },
        // An inactive or resolved alert whose series went quiet: nothing to say (a resolved one keeps the no-data
        // mark that resolved it under `no_data = "ok"`).
        Ok(None) if phase == Phase::Resolved => (None, health),
        Ok(None) => (None, Health::Ok),
    }
}

pub fn alert_labels(
    rule: &Rule,
    source: &str,
    metric: &str,
    series_labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut labels = series_labels.clone();
    labels.extend(rule.labels.clone());
    known_by(
        labels,
        &rule.name,
        &rule.severity.to_string(),
        source,
        metric,
    )
}

/// The same label set from an alert as listed (its `labels` are already the series' and the rule's).
pub fn listed_alert_labels(alert: &AlertInfo) -> BTreeMap<String, String> {
    known_by(
        alert.labels.clone(),
        &alert.rule_name,
        &alert.severity,
        &alert.source,
        &alert.metric,
    )
}

fn known_by(
    mut labels: BTreeMap<String, String>,
    alertname: &str,
    severity: &str,
    source: &str,
    metric: &str,
) -> BTreeMap<String, String> {
    labels.insert("alertname".into(), alertname.to_string());
    labels.insert("severity".into(), severity.to_string());
    labels.insert("source".into(), source.to_string());
    labels.insert("metric".into(), metric.to_string());
    labels
}
