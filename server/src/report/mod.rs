//! Reports: templates stored in PostgreSQL (checked by [`template`]), generated on their cron schedules, on demand
//! (UI, REST API) or from the CLI, into HTML, JSON and CSV files kept in PostgreSQL and optionally emailed.
//!
//! A run enters as a row in `reports` with status `running` — for scheduled runs claimed in one transaction that
//! also advances the template's `next_run_at` (`FOR UPDATE SKIP LOCKED`, and `UNIQUE (template_id, due_at)`), so a
//! due time runs once however many mcpulse processes share the database. [`data::collect`] reads the numbers,
//! [`render`] makes the files on a blocking thread, and one transaction stores the files and marks the run
//! `succeeded`; anything else marks it `failed` with the error and leaves no file. Files leave through
//! `GET /api/reports/{id}/{format}`, the CLI's output directory, and email attachments (lettre).

pub mod data;
pub mod render;
pub mod template;

use crate::clock::Clock;
use crate::store::Store;
use app::error::AppError;
use app::types::{
    ReportFilter, ReportInfo, ReportSection, ReportTemplateDraft, ReportTemplateInfo,
};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use template::{Format, Period, Template};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A run taking longer than this is stopped and marked failed.
const GENERATION_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The scheduler looks for due templates at least this often (and whenever a template changes).
const SCHEDULER_TICK: Duration = Duration::from_secs(30);
/// Reports still `running` this long after they started were interrupted (the process stopped).
const INTERRUPTED_AFTER: chrono::Duration = chrono::Duration::minutes(20);
/// The period of a `since_last` template's first run.
const FIRST_SINCE_LAST: chrono::Duration = chrono::Duration::hours(24);
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// How generated reports are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub keep_last: i64,
    pub keep_for: Duration,
    /// How long raw samples are kept (`storage.retention`): statistics of older times cannot be computed.
    pub samples: Duration,
}

pub struct Reports {
    pool: PgPool,
    store: Arc<Store>,
    smtp: Option<url::Url>,
    public_url: Option<url::Url>,
    retention: Retention,
    /// Template changes wake the scheduler (its next due time may be sooner).
    wake: Notify,
    /// Generations in progress, awaited at shutdown.
    tasks: TaskTracker,
    /// The time schedules, periods, housekeeping and run records go by.
    clock: Clock,
}

/// A run ready to generate.
pub struct Prepared {
    pub info: ReportInfo,
    template: Template,
}

impl Prepared {
    /// Generates these formats instead of the template's.
    pub fn with_formats(mut self, mut formats: Vec<Format>) -> Self {
        formats.sort();
        formats.dedup();
        if !formats.is_empty() {
            self.template.formats = formats;
        }
        self
    }

    pub fn sections(&self) -> usize {
        self.template.sections.len()
    }
}

impl Reports {
    pub fn new(
        pool: PgPool,
        store: Arc<Store>,
        smtp: Option<url::Url>,
        public_url: Option<url::Url>,
        retention: Retention,
    ) -> Self {
        Reports {
            pool,
            store,
            smtp,
            public_url,
            retention,
            wake: Notify::new(),
            tasks: TaskTracker::new(),
            clock: Clock::system(),
        }
    }

    /// Reports on `clock` (see [`Reports::clock`]).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The oldest time raw samples are still kept for.
    fn raw_from(&self) -> DateTime<Utc> {
        self.clock.now() - chrono::Duration::from_std(self.retention.samples).unwrap_or_default()
    }

    /// Checks a draft against what the store knows (metric names) and this server's email setup.
    async fn check(&self, draft: &ReportTemplateDraft) -> Result<Template, AppError> {
        let known: Vec<String> = sqlx::query_scalar("SELECT DISTINCT metric FROM series")
            .fetch_all(&self.pool)
            .await
            .map_err(AppError::internal)?;
        let template = Template::check(draft, &|m| known.iter().any(|k| k == m))?;
        if !template.recipients.is_empty() && self.smtp.is_none() {
            return Err(AppError::invalid(
                "recipients",
                "no SMTP server is configured: set smtp.url (MCPULSE_SMTP_URL) to email reports",
            ));
        }
        Ok(template)
    }

    pub async fn templates(&self) -> Result<Vec<ReportTemplateInfo>, AppError> {
        let rows: Vec<TemplateRow> =
            sqlx::query_as(&format!("{SELECT_TEMPLATE} ORDER BY lower(name)"))
                .fetch_all(&self.pool)
                .await
                .map_err(AppError::internal)?;
        Ok(rows.into_iter().map(TemplateRow::info).collect())
    }

    pub async fn template(&self, id: i64) -> Result<ReportTemplateInfo, AppError> {
        self.template_row(id).await.map(TemplateRow::info)
    }

    /// The template named `name` (case-insensitive) or with id `name`.
    pub async fn template_named(&self, name: &str) -> Result<ReportTemplateInfo, AppError> {
        let row: Option<TemplateRow> = sqlx::query_as(&format!(
            "{SELECT_TEMPLATE} WHERE lower(name) = lower($1) OR id::text = $1 ORDER BY id LIMIT 1"
        ))
        .bind(name.trim())
        .fetch_optional(&self.pool)
        .await
        .map_err(AppError::internal)?;
        row.map(TemplateRow::info).ok_or(AppError::NotFound)
    }

    async fn template_row(&self, id: i64) -> Result<TemplateRow, AppError> {
        let row: Option<TemplateRow> = sqlx::query_as(&format!("{SELECT_TEMPLATE} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(AppError::internal)?;
        row.ok_or(AppError::NotFound)
    }

    pub async fn create_template(
        &self,
        draft: &ReportTemplateDraft,
        by: &str,
    ) -> Result<ReportTemplateInfo, AppError> {
        let t = self.check(draft).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO report_templates
                 (name, description, formats, schedule, timezone, period, recipients, sections, enabled, next_run_at, created_by,
                  created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
        )
        .bind(&t.name)
        .bind(&t.description)
        .bind(format_names(&t.formats))
        .bind(t.schedule.as_ref().map(|s| s.expression.clone()).unwrap_or_default())
        .bind(timezone_name(&t))
        .bind(draft.period.trim())
        .bind(recipient_list(&t))
        .bind(sqlx::types::Json(&draft.sections))
        .bind(t.enabled)
        .bind(next_run(&t, self.clock.now()))
        .bind(by)
        .bind(self.clock.now())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| unique_name(e, &t.name))?;
        tracing::info!(template = %t.name, by, "report template created");
        self.wake.notify_one();
        self.template(id).await
    }

    pub async fn update_template(
        &self,
        id: i64,
        draft: &ReportTemplateDraft,
        by: &str,
    ) -> Result<ReportTemplateInfo, AppError> {
        let t = self.check(draft).await?;
        let done = sqlx::query(
            "UPDATE report_templates SET name = $2, description = $3, formats = $4, schedule = $5, timezone = $6,
                 period = $7, recipients = $8, sections = $9, enabled = $10, next_run_at = $11, updated_at = $12
             WHERE id = $1",
        )
        .bind(id)
        .bind(&t.name)
        .bind(&t.description)
        .bind(format_names(&t.formats))
        .bind(t.schedule.as_ref().map(|s| s.expression.clone()).unwrap_or_default())
        .bind(timezone_name(&t))
        .bind(draft.period.trim())
        .bind(recipient_list(&t))
        .bind(sqlx::types::Json(&draft.sections))
        .bind(t.enabled)
        .bind(next_run(&t, self.clock.now()))
        .bind(self.clock.now())
        .execute(&self.pool)
        .await
        .map_err(|e| unique_name(e, &t.name))?;
        if done.rows_affected() == 0 {
            return Err(AppError::NotFound);
        }
        tracing::info!(template = %t.name, by, "report template changed");
        self.wake.notify_one();
        self.template(id).await
    }

    /// Deletes a template; its generated reports stay until retention removes them.
    pub async fn delete_template(&self, id: i64, by: &str) -> Result<(), AppError> {
        crate::alert::delete_by_id(&self.pool, "report_templates", id).await?;
        tracing::info!(template = id, by, "report template deleted");
        Ok(())
    }

    /// Records a run of template `id` as running, over `range` or the template's period ending now.
    pub async fn prepare(
        &self,
        id: i64,
        trigger: &str,
        by: Option<&str>,
        range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<Prepared, AppError> {
        let row = self.template_row(id).await?;
        // Stored templates were checked when saved; metrics that stopped reporting just come out empty.
        let template = Template::check(&row.draft(), &|_| true)?;
        let (start, end) = match range {
            Some((start, end)) if start < end => (start, end),
            Some(_) => return Err(AppError::invalid("from", "must be before `to`")),
            None => self.period(id, template.period, self.clock.now()).await?,
        };
        if (end - start).to_std().unwrap_or_default() > template::MAX_PERIOD {
            return Err(AppError::invalid("from", "a report covers at most 90 days"));
        }
        let report_id: i64 = sqlx::query_scalar(
            "INSERT INTO reports (template_id, template_name, status, trigger, requested_by, period_start, period_end,
                                  started_at)
             VALUES ($1, $2, 'running', $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(id)
        .bind(&template.name)
        .bind(trigger)
        .bind(by)
        .bind(start)
        .bind(end)
        .bind(self.clock.now())
        .fetch_one(&self.pool)
        .await
        .map_err(AppError::internal)?;
        Ok(Prepared {
            info: self.report(report_id).await?,
            template,
        })
    }

    /// Starts generating a report of template `id` now, off the request path; returns it as running.
    pub async fn start(self: &Arc<Self>, id: i64, by: &str) -> Result<ReportInfo, AppError> {
        let prepared = self.prepare(id, "manual", Some(by), None).await?;
        let info = prepared.info.clone();
        tracing::info!(template = %info.template_name, report = info.id, by, "report requested");
        self.spawn_generate(prepared);
        Ok(info)
    }

    /// Generates a prepared run in the background; shutdown waits for it.
    pub fn spawn_generate(self: &Arc<Self>, prepared: Prepared) {
        let this = self.clone();
        self.tasks.spawn(async move {
            this.generate(prepared, &|_, _| {}).await;
        });
    }

    /// What a run of template `id` due at `end` covers.
    async fn period(
        &self,
        id: i64,
        period: Period,
        end: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), AppError> {
        let start = match period {
            Period::Last(d) => end - chrono::Duration::from_std(d).map_err(AppError::internal)?,
            Period::SinceLast => {
                let last = last_covered(&self.pool, id)
                    .await
                    .map_err(AppError::internal)?;
                since_last_start(last, end)
            }
        };
        Ok((start, end))
    }

    /// Generates a prepared run: reads the data, renders every format, stores the files and marks it succeeded —
    /// or marks it failed with the error. Then emails it if the template has recipients. Never panics the caller.
    pub async fn generate(
        &self,
        prepared: Prepared,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> ReportInfo {
        let Prepared { info, template } = prepared;
        let started = std::time::Instant::now();
        let work = async {
            let data = data::collect(
                &self.store,
                &template,
                info.period_start,
                info.period_end,
                self.raw_from(),
                self.clock.now(),
                progress,
            )
            .await?;
            let formats = template.formats.clone();
            let files = tokio::task::spawn_blocking(move || {
                formats
                    .into_iter()
                    .map(|f| {
                        let bytes = match f {
                            Format::Html => render::html(&data)?,
                            Format::Json => render::json(&data)?,
                            Format::Csv => render::csv(&data)?,
                        };
                        Ok((f, bytes))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .await??;
            self.store_files(info.id, &files).await?;
            anyhow::Ok(files)
        };
        let outcome = match tokio::time::timeout(GENERATION_TIMEOUT, work).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!(
                "took longer than {} minutes",
                GENERATION_TIMEOUT.as_secs() / 60
            )),
        };
        match outcome {
            Ok(files) => {
                tracing::info!(template = %info.template_name, report = info.id,
                    took_ms = started.elapsed().as_millis() as u64, "report generated");
                if !template.recipients.is_empty() {
                    let status = self.email(&info, &template, &files).await;
                    let _ = sqlx::query("UPDATE reports SET email_status = $2 WHERE id = $1")
                        .bind(info.id)
                        .bind(&status)
                        .execute(&self.pool)
                        .await;
                }
            }
            Err(e) => {
                let error = format!("{e:#}");
                tracing::warn!(template = %info.template_name, report = info.id, error = %error, "report failed");
                let _ = sqlx::query(
                    "UPDATE reports SET status = 'failed', error = $2, finished_at = $3 WHERE id = $1",
                )
                .bind(info.id)
                .bind(&error)
                .bind(self.clock.now())
                .execute(&self.pool)
                .await;
            }
        }
        self.report(info.id).await.unwrap_or(info)
    }

    /// Stores every file and marks the report succeeded, in one transaction.
    async fn store_files(&self, id: i64, files: &[(Format, Vec<u8>)]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        for (format, bytes) in files {
            sqlx::query(
                "INSERT INTO report_files (report_id, format, content) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(format.as_str())
            .bind(bytes)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query(
            "UPDATE reports SET status = 'succeeded', finished_at = $2 WHERE id = $1 AND status = 'running'",
        )
        .bind(id)
        .bind(self.clock.now())
        .execute(&mut *tx)
        .await?;
        anyhow::ensure!(
            done.rows_affected() == 1,
            "the report was deleted or marked interrupted while it was generated"
        );
        tx.commit().await?;
        Ok(())
    }

    /// Sends the files to the template's recipients; returns what to record.
    async fn email(
        &self,
        info: &ReportInfo,
        template: &Template,
        files: &[(Format, Vec<u8>)],
    ) -> String {
        use lettre::message::{header::ContentType, Attachment, MultiPart, SinglePart};
        use lettre::AsyncTransport;
        let Some(url) = &self.smtp else {
            return "not sent: smtp.url is not set".into();
        };
        let smtp = match crate::alert::notify::Smtp::parse_server(url) {
            Ok(s) => s,
            Err(e) => return format!("not sent: {e}"),
        };
        let period = format!(
            "{} — {}",
            info.period_start.format("%Y-%m-%d %H:%M UTC"),
            info.period_end.format("%Y-%m-%d %H:%M UTC")
        );
        let mut text = format!("The report “{}” for {period} is attached.\n", template.name);
        if let Some(base) = &self.public_url {
            if let Ok(link) = base.join(&format!("/reports?report={}", info.id)) {
                text.push_str(&format!("\nAll reports: {link}\n"));
            }
        }
        let stem = file_stem(&template.name, info.period_end);
        let mut body = MultiPart::mixed().singlepart(SinglePart::plain(text));
        for (format, bytes) in files {
            let content_type =
                ContentType::parse(format.content_type()).unwrap_or(ContentType::TEXT_PLAIN);
            body = body.singlepart(
                Attachment::new(format!("{stem}.{}", format.as_str()))
                    .body(bytes.clone(), content_type),
            );
        }
        let mut message = lettre::Message::builder()
            .from(smtp.from.clone())
            .subject(format!("mcpulse report: {} ({period})", template.name));
        for to in &template.recipients {
            message = message.to(to.clone());
        }
        let message = match message.multipart(body) {
            Ok(m) => m,
            Err(e) => return format!("not sent: {e}"),
        };
        // The admin's own server (`smtp.url`), resolved as configured: no user chooses this address.
        let transport = match smtp.transport(SMTP_TIMEOUT, None) {
            Ok(t) => t,
            Err(e) => return format!("not sent: {e}"),
        };
        match transport.send(message).await {
            Ok(_) => format!("sent to {} recipient(s)", template.recipients.len()),
            Err(e) => {
                tracing::warn!(report = info.id, error = %e, "emailing the report failed");
                format!("failed: {e}")
            }
        }
    }

    pub async fn report(&self, id: i64) -> Result<ReportInfo, AppError> {
        let row: Option<ReportRow> = sqlx::query_as(&format!("{SELECT_REPORT} WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(AppError::internal)?;
        row.map(ReportRow::info).ok_or(AppError::NotFound)
    }

    /// Generated reports, newest first.
    pub async fn reports(&self, filter: &ReportFilter) -> Result<Vec<ReportInfo>, AppError> {
        let from = filter
            .from
            .as_deref()
            .map(|s| parse_day_or_time(s, false).map_err(|e| AppError::invalid("from", e)))
            .transpose()?;
        let to = filter
            .to
            .as_deref()
            .map(|s| parse_day_or_time(s, true).map_err(|e| AppError::invalid("to", e)))
            .transpose()?;
        let rows: Vec<ReportRow> = sqlx::query_as(&format!(
            "{SELECT_REPORT}
             WHERE ($1::bigint IS NULL OR r.template_id = $1)
               AND ($2::timestamptz IS NULL OR r.started_at >= $2)
               AND ($3::timestamptz IS NULL OR r.started_at < $3)
             ORDER BY r.started_at DESC, r.id DESC LIMIT $4"
        ))
        .bind(filter.template_id)
        .bind(from.flatten())
        .bind(to.flatten())
        .bind(filter.limit.unwrap_or(100).clamp(1, 1000))
        .fetch_all(&self.pool)
        .await
        .map_err(AppError::internal)?;
        Ok(rows.into_iter().map(ReportRow::info).collect())
    }

    /// A succeeded report's file: its bytes and the file name to save it as.
    pub async fn file(&self, id: i64, format: Format) -> Result<(Vec<u8>, String), AppError> {
        let row: Option<(Vec<u8>, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT f.content, r.template_name, r.period_end FROM report_files f JOIN reports r ON r.id = f.report_id
             WHERE f.report_id = $1 AND f.format = $2 AND r.status = 'succeeded'",
        )
        .bind(id)
        .bind(format.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(AppError::internal)?;
        let (bytes, name, end) = row.ok_or(AppError::NotFound)?;
        Ok((
            bytes,
            format!("{}.{}", file_stem(&name, end), format.as_str()),
        ))
    }

    pub async fn delete_report(&self, id: i64) -> Result<(), AppError> {
        crate::alert::delete_by_id(&self.pool, "reports", id).await
    }

    /// Claims every template due at `now` — one run per due time across processes — and advances its next due
    /// time past `now` (missed due times are not caught up one by one: the latest runs once).
    pub async fn claim_due(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<Prepared>> {
        let mut tx = self.pool.begin().await?;
        let due: Vec<TemplateRow> = sqlx::query_as(&format!(
            "{SELECT_TEMPLATE} WHERE enabled AND next_run_at <= $1 ORDER BY next_run_at
             LIMIT 20 FOR UPDATE SKIP LOCKED"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::new();
        for row in due {
            let Some(next) = row.next_run_at else {
                continue;
            };
            let template = match Template::check(&row.draft(), &|_| true) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(template = %row.name, error = %e, "stored report template no longer checks; not scheduled");
                    sqlx::query("UPDATE report_templates SET next_run_at = NULL WHERE id = $1")
                        .bind(row.id)
                        .execute(&mut *tx)
                        .await?;
                    continue;
                }
            };
            // After downtime, the latest missed due time runs (once), not the oldest.
            let due_at = template
                .schedule
                .as_ref()
                .and_then(|s| s.last_at_or_before(now))
                .filter(|d| *d >= next)
                .unwrap_or(next);
            sqlx::query("UPDATE report_templates SET next_run_at = $2 WHERE id = $1")
                .bind(row.id)
                .bind(next_run(&template, now.max(due_at)))
                .execute(&mut *tx)
                .await?;
            let (start, end) = match template.period {
                Period::Last(d) => (due_at - chrono::Duration::from_std(d)?, due_at),
                Period::SinceLast => (
                    since_last_start(last_covered(&self.pool, row.id).await?, due_at),
                    due_at,
                ),
            };
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO reports (template_id, template_name, status, trigger, due_at, period_start, period_end,
                                      started_at)
                 VALUES ($1, $2, 'running', 'schedule', $3, $4, $5, $6)
                 ON CONFLICT (template_id, due_at) DO NOTHING RETURNING id",
            )
            .bind(row.id)
            .bind(&template.name)
            .bind(due_at)
            .bind(start)
            .bind(end)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = id {
                claimed.push((id, template));
            }
        }
        tx.commit().await?;
        let mut out = Vec::with_capacity(claimed.len());
        for (id, template) in claimed {
            // Claimed is committed: a run that cannot be read back is marked failed, never left running.
            match self.report(id).await {
                Ok(info) => out.push(Prepared { info, template }),
                Err(e) => {
                    tracing::warn!(report = id, error = %e, "reading a claimed report failed");
                    let _ = sqlx::query(
                        "UPDATE reports SET status = 'failed', error = $2, finished_at = $3 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(format!("could not start: {e}"))
                    .bind(now)
                    .execute(&self.pool)
                    .await;
                }
            }
        }
        Ok(out)
    }

    /// Marks runs that have been `running` too long as failed (their process stopped mid-way).
    pub async fn fail_interrupted(&self, now: DateTime<Utc>) -> anyhow::Result<u64> {
        let done = sqlx::query(
            "UPDATE reports SET status = 'failed', finished_at = $1,
                 error = 'interrupted: mcpulse stopped or the run took too long'
             WHERE status = 'running' AND started_at < $2",
        )
        .bind(now)
        .bind(now - INTERRUPTED_AFTER)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes reports beyond the newest `keep_last` succeeded ones of each template (and beyond the newest
    /// `keep_last` failed ones, so failures never push good reports out), and all older than `keep_for`.
    pub async fn apply_retention(&self, now: DateTime<Utc>) -> anyhow::Result<u64> {
        let cutoff = now - chrono::Duration::from_std(self.retention.keep_for)?;
        let done = sqlx::query(
            "DELETE FROM reports WHERE status <> 'running' AND (started_at < $1 OR id IN (
                 SELECT id FROM (
                     SELECT id, row_number() OVER (
                         PARTITION BY template_id, status = 'succeeded' ORDER BY started_at DESC, id DESC) AS n
                     FROM reports WHERE template_id IS NOT NULL AND status <> 'running') ranked
                 WHERE n > $2))",
        )
        .bind(cutoff)
        .bind(self.retention.keep_last)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Until `shutdown`: housekeeping (interrupted runs, retention) and, if `schedule`, runs due templates. Then
    /// waits for generations in progress.
    pub async fn run_scheduler(self: Arc<Self>, shutdown: CancellationToken, schedule: bool) {
        let mut last_housekeeping: Option<std::time::Instant> = None;
        loop {
            let now = self.clock.now();
            let instant = self.clock.instant();
            if last_housekeeping.is_none_or(|t| instant - t >= Duration::from_secs(600)) {
                last_housekeeping = Some(instant);
                match self.fail_interrupted(now).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(reports = n, "interrupted report runs marked failed"),
                    Err(e) => tracing::warn!(error = %e, "checking for interrupted reports failed"),
                }
                match self.apply_retention(now).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(reports = n, "old reports deleted"),
                    Err(e) => tracing::warn!(error = %e, "report retention failed"),
                }
            }
            if schedule {
                match self.claim_due(now).await {
                    Ok(due) => {
                        for prepared in due {
                            tracing::info!(template = %prepared.info.template_name, report = prepared.info.id, "scheduled report due");
                            self.spawn_generate(prepared);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming due reports failed"),
                }
            }
            let next: Option<DateTime<Utc>> = if schedule {
                sqlx::query_scalar("SELECT min(next_run_at) FROM report_templates WHERE enabled")
                    .fetch_one(&self.pool)
                    .await
                    .unwrap_or(None)
            } else {
                None
            };
            let wait = next
                .and_then(|n| (n - self.clock.now()).to_std().ok())
                .unwrap_or(Duration::ZERO)
                .min(SCHEDULER_TICK);
            let wait = if next.is_none() { SCHEDULER_TICK } else { wait };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
            }
        }
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// The end of the last successful scheduled run of template `id`: where a `since_last` period starts.
async fn last_covered(pool: &PgPool, id: i64) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT max(period_end) FROM reports WHERE template_id = $1 AND status = 'succeeded' AND trigger = 'schedule'",
    )
    .bind(id)
    .fetch_one(pool)
    .await
}

/// A `since_last` period's start: the end of the last run, 24 hours for the first, at most [`template::MAX_PERIOD`].
fn since_last_start(last: Option<DateTime<Utc>>, end: DateTime<Utc>) -> DateTime<Utc> {
    let longest = end - chrono::Duration::from_std(template::MAX_PERIOD).unwrap_or_default();
    last.filter(|l| *l < end)
        .unwrap_or(end - FIRST_SINCE_LAST)
        .max(longest)
}

/// `2026-11-24` (the start of that day, or of the next one when `end`) or an RFC 3339 time; empty: none.
pub fn parse_day_or_time(s: &str, end: bool) -> Result<Option<DateTime<Utc>>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let day = if end {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        return Ok(Some(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| format!("`{s}`: expected a date (2026-11-24) or an RFC 3339 time"))
}

/// `Daily summary`, 2026-11-24 09:00 → `daily-summary-2026-11-24-0900`.
fn file_stem(name: &str, end: DateTime<Utc>) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "report" } else { slug };
    format!("{slug}-{}", end.format("%Y-%m-%d-%H%M"))
}

fn next_run(t: &Template, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !t.enabled {
        return None;
    }
    t.schedule.as_ref().and_then(|s| s.next_after(after))
}

fn format_names(formats: &[Format]) -> Vec<String> {
    formats.iter().map(|f| f.as_str().to_string()).collect()
}

fn timezone_name(t: &Template) -> String {
    t.timezone.name().to_string()
}

fn recipient_list(t: &Template) -> Vec<String> {
    t.recipients.iter().map(|m| m.to_string()).collect()
}

fn unique_name(e: sqlx::Error, name: &str) -> AppError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => AppError::invalid(
            "name",
            format!("a report template named `{name}` exists already"),
        ),
        _ => AppError::internal(e),
    }
}

const SELECT_TEMPLATE: &str =
    "SELECT id, name, description, formats, schedule, timezone, period, recipients,
    sections, enabled, next_run_at, created_by, updated_at FROM report_templates";

#[derive(sqlx::FromRow)]
struct TemplateRow {
    id: i64,
    name: String,
    description: String,
    formats: Vec<String>,
    schedule: String,
    timezone: String,
    period: String,
    recipients: Vec<String>,
    sections: sqlx::types::Json<Vec<ReportSection>>,
    enabled: bool,
    next_run_at: Option<DateTime<Utc>>,
    created_by: String,
    updated_at: DateTime<Utc>,
}

impl TemplateRow {
    fn draft(&self) -> ReportTemplateDraft {
        ReportTemplateDraft {
            name: self.name.clone(),
            description: self.description.clone(),
            formats: self.formats.clone(),
            schedule: self.schedule.clone(),
            timezone: self.timezone.clone(),
            period: self.period.clone(),
            recipients: self.recipients.clone(),
            sections: self.sections.0.clone(),
            enabled: self.enabled,
        }
    }

    fn info(self) -> ReportTemplateInfo {
        let draft = self.draft();
        // An enabled schedule without a next due time never fires (saving computes `next_run_at`): no search here.
        let warning = (self.enabled && !self.schedule.trim().is_empty() && self.next_run_at.is_none())
            .then(|| {
                format!(
                    "the schedule `{}` never fires (no such date in the coming years): the report runs only on demand",
                    self.schedule
                )
            });
        ReportTemplateInfo {
            id: self.id,
            template: draft,
            next_run: self.next_run_at,
            warning,
            created_by: self.created_by,
            updated_at: self.updated_at,
        }
    }
}

const SELECT_REPORT: &str = "SELECT r.id, r.template_id, r.template_name, r.status, r.error, r.trigger,
    r.requested_by, r.period_start, r.period_end, r.started_at, r.finished_at, r.email_status,
    coalesce((SELECT array_agg(f.format ORDER BY f.format) FROM report_files f WHERE f.report_id = r.id), '{}') AS formats,
    coalesce((SELECT array_agg(length(f.content)::bigint ORDER BY f.format) FROM report_files f WHERE f.report_id = r.id), '{}') AS sizes
    FROM reports r";

#[derive(sqlx::FromRow)]
struct ReportRow {
    id: i64,
    template_id: Option<i64>,
    template_name: String,
    status: String,
    error: Option<String>,
    trigger: String,
    requested_by: Option<String>,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    email_status: Option<String>,
    formats: Vec<String>,
    sizes: Vec<i64>,
}

impl ReportRow {
    fn info(self) -> ReportInfo {
        ReportInfo {
            id: self.id,
            template_id: self.template_id,
            template_name: self.template_name,
            status: self.status,
            error: self.error,
            trigger: self.trigger,
            requested_by: self.requested_by,
            period_start: self.period_start,
            period_end: self.period_end,
            started_at: self.started_at,
            finished_at: self.finished_at,
            files: self.formats.into_iter().zip(self.sizes).collect(),
            email_status: self.email_status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn file_names_are_plain() {
        let end = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
        assert_eq!(
            file_stem("Daily summary", end),
            "daily-summary-2026-11-24-0900"
        );
        assert_eq!(
            file_stem("\"><img src=x>", end),
            "img-src-x-2026-11-24-0900"
        );
        assert_eq!(file_stem("über", end), "ber-2026-11-24-0900");
        assert_eq!(file_stem("!!!", end), "report-2026-11-24-0900");
    }

    #[test]
    fn days_and_times_filter() {
        let start = parse_day_or_time("2026-11-24", false).unwrap().unwrap();
        let end = parse_day_or_time("2026-11-24", true).unwrap().unwrap();
        assert_eq!(end - start, chrono::Duration::days(1));
        assert!(parse_day_or_time("yesterday", false).is_err());
        assert_eq!(parse_day_or_time(" ", false).unwrap(), None);
    }
}
