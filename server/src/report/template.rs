//! Report templates as checked domain values: a [`ReportTemplateDraft`] (strings, from a form or the REST API)
//! becomes a [`Template`] that cannot be invalid, or an [`AppError::Invalid`] naming the first bad field. The
//! schedule is a cron expression read by `croner` in the template's IANA time zone (`chrono-tz`).

use crate::names::{MetricName, SourceId};
use crate::store::query::LabelMatcher;
use app::error::AppError;
use app::types::{ReportSection, ReportTemplateDraft};
use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds};
use std::time::Duration;

/// The longest period a report may cover.
pub const MAX_PERIOD: Duration = Duration::from_secs(90 * 86_400);
/// The most sections, metrics per section and recipients a template may name.
const MAX_SECTIONS: usize = 20;
const MAX_METRICS: usize = 50;
const MAX_RECIPIENTS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    Html,
    Json,
    Csv,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Html, Format::Json, Format::Csv];

    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "html" => Some(Format::Html),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// When a template runs.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub expression: String,
    pub timezone: chrono_tz::Tz,
    cron: croner::Cron,
}

impl Schedule {
    /// Reads `expression` (5 fields, or 6 with leading seconds; `@daily` and friends) in `timezone`.
    pub fn parse(expression: &str, timezone: &str) -> Result<Schedule, AppError> {
        let timezone: chrono_tz::Tz = match timezone.trim() {
            "" => chrono_tz::UTC,
            tz => tz.parse().map_err(|_| {
                AppError::invalid(
                    "timezone",
                    format!("`{tz}` is not an IANA time zone (e.g. UTC, Europe/Berlin)"),
                )
            })?,
        };
        let expression = expression.split_whitespace().collect::<Vec<_>>().join(" ");
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(&expression)
            .map_err(|e| {
                AppError::invalid(
                    "schedule",
                    format!("`{expression}` is not a cron expression: {e} (e.g. `0 9 * * *`: 09:00 every day)"),
                )
            })?;
        Ok(Schedule {
            expression,
            timezone,
            cron,
        })
    }

    /// The latest due time at or before `t`, if the schedule ever fired.
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.timezone);
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The first due time strictly after `t`, or `None` if the schedule never fires again.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
}

/// What a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// This long, ending when the run is due.
    Last(Duration),
    /// From the end of the previous successful run (24 hours for the first).
    SinceLast,
}

impl Period {
    pub fn parse(text: &str) -> Result<Period, AppError> {
        let text = text.trim();
        if text == "since_last" || text == "since last run" {
            return Ok(Period::SinceLast);
        }
        let d = humantime::parse_duration(text).map_err(|e| {
            AppError::invalid(
                "period",
                format!("`{text}`: {e} (a duration like 24h or 7d, or since_last)"),
            )
        })?;
        if d < Duration::from_secs(60) {
            return Err(AppError::invalid("period", "must be at least one minute"));
        }
        if d > MAX_PERIOD {
            return Err(AppError::invalid("period", "must be at most 90 days"));
        }
        Ok(Period::Last(d))
    }
}

/// A checked section.
#[derive(Debug, Clone)]
pub enum Section {
    Metrics {
        title: String,
        metrics: Vec<MetricName>,
        sources: Vec<SourceId>,
        matchers: Vec<LabelMatcher>,
        /// The matchers as written (for the chart's query).
        labels: Vec<String>,
        chart: bool,
    },
    Alerts {
        title: String,
        show_resolved: bool,
    },
    SourceHealth {
        title: String,
        sources: Vec<String>,
    },
    McpTools {
        title: String,
        sources: Vec<String>,
    },
}

/// A checked template.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    pub description: String,
    pub formats: Vec<Format>,
    pub schedule: Option<Schedule>,
    /// The time zone of the schedule (also without one): the HTML report prints its times in it.
    pub timezone: chrono_tz::Tz,
    pub period: Period,
    pub recipients: Vec<lettre::message::Mailbox>,
    pub sections: Vec<Section>,
    pub enabled: bool,
}

impl Template {
    /// Checks `draft`; `metric_known` says whether any source reported a metric (a typo is refused, as in rules).
    pub fn check(
        draft: &ReportTemplateDraft,
        metric_known: &dyn Fn(&str) -> bool,
    ) -> Result<Template, AppError> {
        // Every field is checked, and every problem named at once.
        let mut problems = app::error::Problems::new();
        let name = draft.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            problems.add("name", "must be 1 to 100 characters");
        }
        if draft.description.chars().count() > 1000 {
            problems.add("description", "must be at most 1000 characters");
        }
        let formats = problems.take(Self::formats(draft));
        // Without a schedule the time zone is still checked (a typo is not kept for later) and kept: the report
        // prints its times in it.
        let expression = draft.schedule.trim();
        let parsed = problems.take(Schedule::parse(
            if expression.is_empty() {
                "0 0 * * *"
            } else {
                expression
            },
            &draft.timezone,
        ));
        let timezone = parsed
            .as_ref()
            .map(|s| s.timezone)
            .unwrap_or(chrono_tz::UTC);
        let schedule = parsed.map(|s| (!expression.is_empty()).then_some(s));
        let period = problems.take(Period::parse(&draft.period));
        let recipients = problems.take(Self::recipients(draft));
        let sections = problems.take(Self::sections(draft, metric_known));
        problems.finish()?;
        let (Some(formats), Some(schedule), Some(period), Some(recipients), Some(sections)) =
            (formats, schedule, period, recipients, sections)
        else {
            unreachable!("every missing value was recorded as a problem");
        };
        Ok(Template {
            name,
            description: draft.description.trim().to_string(),
            formats,
            schedule,
            timezone,
            period,
            recipients,
            sections,
            enabled: draft.enabled,
        })
    }

    fn formats(draft: &ReportTemplateDraft) -> Result<Vec<Format>, AppError> {
        let mut formats = Vec::new();
        for f in &draft.formats {
            let format = Format::parse(f).ok_or_else(|| {
                AppError::invalid("formats", format!("`{f}`: expected html, json or csv"))
            })?;
            if !formats.contains(&format) {
                formats.push(format);
            }
        }
        if formats.is_empty() {
            return Err(AppError::invalid(
                "formats",
                "choose at least one of html, json, csv",
            ));
        }
        formats.sort();
        Ok(formats)
    }

    fn recipients(draft: &ReportTemplateDraft) -> Result<Vec<lettre::message::Mailbox>, AppError> {
        let mut recipients = Vec::new();
        for r in draft
            .recipients
            .iter()
            .map(|r| r.trim())
            .filter(|r| !r.is_empty())
        {
            let mailbox: lettre::message::Mailbox = r.parse().map_err(|_| {
                AppError::invalid("recipients", format!("`{r}` is not an email address"))
            })?;
            recipients.push(mailbox);
        }
        if recipients.len() > MAX_RECIPIENTS {
            return Err(AppError::invalid(
                "recipients",
                format!("at most {MAX_RECIPIENTS}"),
            ));
        }
        Ok(recipients)
    }

    fn sections(
        draft: &ReportTemplateDraft,
        metric_known: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Section>, AppError> {
        if draft.sections.is_empty() {
            return Err(AppError::invalid("sections", "add at least one section"));
        }
        if draft.sections.len() > MAX_SECTIONS {
            return Err(AppError::invalid(
                "sections",
                format!("at most {MAX_SECTIONS}"),
            ));
        }
        let mut sections = Vec::with_capacity(draft.sections.len());
        for (i, s) in draft.sections.iter().enumerate() {
            let bad = |m: String| AppError::invalid("sections", format!("section {}: {m}", i + 1));
            let title = s.title();
            if title.chars().count() > 200 {
                return Err(bad("the title must be at most 200 characters".into()));
            }
            sections.push(match s {
                ReportSection::MetricsSummary {
                    metrics,
                    sources,
                    labels,
                    chart,
                    ..
                } => {
                    let metrics: Vec<MetricName> = metrics
                        .iter()
                        .map(|m| m.trim())
                        .filter(|m| !m.is_empty())
                        .map(|m| {
                            MetricName::parse(m)
                                .map_err(|_| bad(format!("`{m}` is not a metric name")))
                        })
                        .collect::<Result<_, _>>()?;
                    if metrics.is_empty() {
                        return Err(bad("name at least one metric".into()));
                    }
                    if metrics.len() > MAX_METRICS {
                        return Err(bad(format!("at most {MAX_METRICS} metrics")));
                    }
                    if let Some(m) = metrics.iter().find(|m| !metric_known(m)) {
                        return Err(bad(format!("no source has reported `{m}`")));
                    }
                    let sources = clean(sources)
                        .iter()
                        .map(|s| SourceId::parse(s).map_err(|e| bad(e.to_string())))
                        .collect::<Result<Vec<_>, _>>()?;
                    let matchers = labels
                        .iter()
                        .map(|l| l.trim())
                        .filter(|l| !l.is_empty())
                        .map(|l| l.parse::<LabelMatcher>().map_err(bad))
                        .collect::<Result<Vec<_>, _>>()?;
                    Section::Metrics {
                        title,
                        metrics,
                        sources,
                        matchers,
                        labels: clean(labels),
                        chart: *chart,
                    }
                }
                ReportSection::AlertsSummary { show_resolved, .. } => Section::Alerts {
                    title,
                    show_resolved: *show_resolved,
                },
                ReportSection::SourceHealth { sources, .. } => Section::SourceHealth {
                    title,
                    sources: clean(sources),
                },
                ReportSection::McpTools { sources, .. } => Section::McpTools {
                    title,
                    sources: clean(sources),
                },
            });
        }
        Ok(sections)
    }
}

fn clean(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Why a schedule that parses would still never run, if it would not.
pub fn schedule_warning(schedule: Option<&Schedule>, now: DateTime<Utc>) -> Option<String> {
    let schedule = schedule?;
    match schedule.next_after(now) {
        None => Some(format!(
            "the schedule `{}` never fires (no such date in the next years): the report runs only on demand",
            schedule.expression
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn draft() -> ReportTemplateDraft {
        ReportTemplateDraft {
            name: "Daily".into(),
            sections: vec![ReportSection::MetricsSummary {
                title: String::new(),
                metrics: vec!["response_time_ms".into()],
                sources: vec![],
                labels: vec!["tool=search".into()],
                chart: true,
            }],
            ..Default::default()
        }
    }

    fn field(e: AppError) -> String {
        match e {
            AppError::Invalid { field, .. } => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_draft_checks() {
        let t = Template::check(&draft(), &|_| true).unwrap();
        assert_eq!(t.formats, vec![Format::Html, Format::Json, Format::Csv]);
        assert_eq!(t.period, Period::Last(Duration::from_secs(86_400)));
        assert!(t.schedule.is_none());
    }

    #[test]
    fn bad_fields_are_named() {
        let cases: Vec<(&str, Box<dyn Fn(&mut ReportTemplateDraft)>)> = vec![
            ("name", Box::new(|d| d.name = " ".into())),
            ("formats", Box::new(|d| d.formats = vec!["pdf".into()])),
            ("formats", Box::new(|d| d.formats = vec![])),
            ("schedule", Box::new(|d| d.schedule = "61 * * * *".into())),
            ("schedule", Box::new(|d| d.schedule = "every day".into())),
            ("timezone", Box::new(|d| d.timezone = "Mars/Olympus".into())),
            ("period", Box::new(|d| d.period = "soon".into())),
            ("period", Box::new(|d| d.period = "400d".into())),
            (
                "recipients",
                Box::new(|d| d.recipients = vec!["not an address".into()]),
            ),
            ("sections", Box::new(|d| d.sections.clear())),
        ];
        for (expected, change) in cases {
            let mut d = draft();
            change(&mut d);
            let e = Template::check(&d, &|_| true).expect_err(expected);
            assert_eq!(field(e), expected);
        }
        let e = Template::check(&draft(), &|_| false).unwrap_err();
        assert_eq!(field(e), "sections");
    }

    #[test]
    fn schedules_run_in_their_time_zone() {
        let s = Schedule::parse("0 9 * * *", "Europe/Berlin").unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 7, 0, 0).unwrap();
        // 09:00 in Berlin is 08:00 UTC in November.
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap())
        );
        // Strictly after: a due time is not found again.
        assert_eq!(
            s.next_after(Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap())
        );
        assert_eq!(
            s.last_at_or_before(Utc.with_ymd_and_hms(2026, 11, 26, 7, 59, 0).unwrap()),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap())
        );
        let every_two = Schedule::parse("*/2 * * * * *", "UTC").unwrap();
        assert_eq!(
            every_two.next_after(t),
            Some(t + chrono::Duration::seconds(2))
        );
        assert!(Schedule::parse("@daily", "").is_ok());
    }

    #[test]
    fn a_schedule_that_never_fires_is_warned_about() {
        let now = Utc::now();
        let never = Schedule::parse("0 0 30 2 *", "UTC").unwrap();
        assert!(schedule_warning(Some(&never), now).is_some());
        let daily = Schedule::parse("0 0 * * *", "UTC").unwrap();
        assert!(schedule_warning(Some(&daily), now).is_none());
    }
}
