//! Reports through the REST API: numbers equal to the query engine's, inert HTML and CSV, field errors, one run per
//! due time with two mcpulse processes on one database, and email through a real SMTP server.

use crate::helpers::{eventually, spawn_app_with, TestApp};
use app::types::Role;
use chrono::{DateTime, DurationRound, Utc};
use mcpulse::store::{Labels, Sample, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Writes `values` one minute apart from `start` into series `source`/`metric` with `labels`.
async fn write(
    app_pool: &sqlx::PgPool,
    metric: &str,
    source: &str,
    labels: &[(&str, &str)],
    start: DateTime<Utc>,
    values: &[f64],
) {
    let labels: Labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let samples: Vec<Sample> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Sample {
            metric: metric.parse().unwrap(),
            source: source.parse().unwrap(),
            labels: labels.clone().try_into().unwrap(),
            ts: start + chrono::Duration::minutes(i as i64),
            value: *v,
        })
        .collect();
    Store::new(app_pool.clone())
        .write(&samples)
        .await
        .expect("stored");
}

/// Creates a template (201) and returns its id.
async fn create(app: &TestApp, client: &reqwest::Client, template: Value) -> i64 {
    let res = client
        .post(format!("{}/api/report-templates", app.base))
        .json(&template)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["template"]["id"].as_i64().unwrap()
}

/// Runs template `id` over `[from, to)` and waits until the report finished; returns it.
async fn run(
    app: &TestApp,
    client: &reqwest::Client,
    id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Value {
    let res = client
        .post(format!("{}/api/report-templates/{id}/run", app.base))
        .json(&json!({ "from": from, "to": to }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let report: Value = res.json().await.unwrap();
    let report_id = report["report"]["id"].as_i64().unwrap();
    assert_eq!(report["report"]["status"], "running");
    eventually(Duration::from_secs(30), "the report finishes", || async {
        let body: Value = app
            .get(client, &format!("/api/reports/{report_id}"))
            .await
            .json()
            .await
            .ok()?;
        (body["report"]["status"] != "running").then(|| body["report"].clone())
    })
    .await
}

/// A report file: status, content type, content disposition, body.
async fn file(
    app: &TestApp,
    client: &reqwest::Client,
    id: i64,
    format: &str,
) -> (StatusCode, String, String, String) {
    let res = app
        .get(client, &format!("/api/reports/{id}/{format}"))
        .await;
    let header = |name| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (content_type, disposition) = (
        header(reqwest::header::CONTENT_TYPE),
        header(reqwest::header::CONTENT_DISPOSITION),
    );
    let status = res.status();
    (status, content_type, disposition, res.text().await.unwrap())
}

#[tokio::test]
async fn a_report_has_the_query_engines_numbers_in_every_format() {
    let app = spawn_app_with(&[]).await;
    app.add_user("ed", Role::Editor).await;
    let client = app.signed_in("ed").await;
    // One hour of known data in two series, on whole hours so the query engine's one bucket is the period.
    let from = (Utc::now() - chrono::Duration::hours(3))
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap();
    let to = from + chrono::Duration::hours(1);
    let a: Vec<f64> = (1..=60).map(f64::from).collect();
    let b: Vec<f64> = (0..60).map(|i| f64::from((i * 37) % 101) / 4.0).collect();
    write(
        &app.pool,
        "tool_latency_ms",
        "search",
        &[("tool", "lookup")],
        from,
        &a,
    )
    .await;
    write(&app.pool, "tool_latency_ms", "files", &[], from, &b).await;
    // Outside the period: must not count.
    write(
        &app.pool,
        "tool_latency_ms",
        "search",
        &[("tool", "lookup")],
        to,
        &[1000.0],
    )
    .await;

    let id = create(
        &app,
        &client,
        json!({
            "name": "Latency hourly",
            "formats": ["html", "json", "csv"],
            "period": "1h",
            // On demand only, in a time zone: the report's times are in it.
            "timezone": "Europe/Berlin",
            "sections": [
                { "kind": "metrics_summary", "title": "Latency", "metrics": ["tool_latency_ms"] },
                { "kind": "source_health" }
            ]
        }),
    )
    .await;
    let report = run(&app, &client, id, from, to).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    let rid = report["id"].as_i64().unwrap();
    let formats: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f[0].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["csv", "html", "json"]);

    // JSON: the full data, equal to the query engine's answers for the same period.
    let (status, content_type, disposition, body) = file(&app, &client, rid, "json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert!(
        disposition.starts_with("attachment; filename=\"latency-hourly-")
            && disposition.ends_with(".json\""),
        "{disposition}"
    );
    let data: Value = serde_json::from_str(&body).unwrap();
    let series = data["sections"][0]["metrics"][0]["series"]
        .as_array()
        .unwrap();
    assert_eq!(series.len(), 2);
    for aggregation in ["min", "avg", "max", "last"] {
        let q: Value = app
            .get(
                &client,
                &format!(
                    "/api/timeseries?metric=tool_latency_ms&start={}&end={}&step=1h&aggregation={aggregation}&group_by=series&resolution=raw",
                    from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            )
            .await
            .json()
            .await
            .unwrap();
        for s in q["series"].as_array().unwrap() {
            let points = s["points"].as_array().unwrap();
            assert_eq!(points.len(), 1, "one bucket: {s}");
            let engine = points[0]["v"].as_f64().unwrap();
            let ours = series.iter().find(|r| r["source"] == s["source"]).unwrap()[aggregation]
                .as_f64()
                .unwrap();
            assert!(
                (engine - ours).abs() < 1e-9,
                "{aggregation} of {}: report {ours}, query engine {engine}",
                s["source"]
            );
        }
    }
    // And equal to what was written.
    let search = series.iter().find(|s| s["source"] == "search").unwrap();
    assert_eq!(search["samples"], 60);
    assert_eq!(search["min"], 1.0);
    assert_eq!(search["max"], 60.0);
    assert_eq!(search["avg"], 30.5);
    assert_eq!(search["last"], 60.0);
    // percentile_cont: 1 + 0.95 × 59.
    assert!(
        (search["p95"].as_f64().unwrap() - 57.05).abs() < 1e-9,
        "{search}"
    );
    assert_eq!(search["labels"]["tool"], "lookup");
    let chart = &data["sections"][0]["metrics"][0]["chart"];
    assert_eq!(chart["series"].as_array().unwrap().len(), 2);
    assert_eq!(data["sections"][1]["kind"], "source_health");
    assert_eq!(data["period"]["start"], json!(from));

    // CSV: one table per section in the documented layout.
    let (status, content_type, _, csv) = file(&app, &client, rid, "csv").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "section,metrics_summary,Latency");
    assert_eq!(
        lines[1],
        "metric,source,labels,samples,min,avg,max,last,p95"
    );
    assert!(
        lines.contains(&"tool_latency_ms,search,tool=lookup,60,1,30.5,60,60,57.05"),
        "{csv}"
    );
    assert!(
        lines.contains(&"section,source_health,Source health"),
        "{csv}"
    );

    // HTML: one self-contained page with the chart as inline SVG.
    let (status, content_type, _, html) = file(&app, &client, rid, "html").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg"), "a chart");
    assert!(html.contains("<style>"));
    assert!(
        !html.contains("<script") && !html.contains("src=\"http"),
        "self-contained and inert"
    );
    assert!(html.contains(">30.50 ms<"), "avg of search, with its unit");
    let berlin = from
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string();
    assert!(
        html.contains(&berlin),
        "times in the template's time zone ({berlin}): {html}"
    );

    // A viewer lists and downloads but cannot generate.
    app.add_user("vi", Role::Viewer).await;
    let viewer = app.signed_in("vi").await;
    let list: Value = app.get(&viewer, "/api/reports").await.json().await.unwrap();
    assert_eq!(list["reports"].as_array().unwrap().len(), 1);
    assert_eq!(file(&app, &viewer, rid, "csv").await.0, StatusCode::OK);
    let res = viewer
        .post(format!("{}/api/report-templates/{id}/run", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn hostile_label_values_render_inert_in_html_and_csv() {
    let app = spawn_app_with(&[("MCPULSE_ALERTS_INTERVAL", "1s")]).await;
    app.add_user("ed", Role::Editor).await;
    let client = app.signed_in("ed").await;
    let now = Utc::now();
    // Recent, so the rule below sees them.
    let from = now - chrono::Duration::minutes(2);
    write(
        &app.pool,
        "tool_latency_ms",
        "evil",
        &[("tool", "<script>alert(1)</script>")],
        from,
        &[5.0, 6.0],
    )
    .await;
    write(
        &app.pool,
        "tool_latency_ms",
        "evil",
        &[("tool", "\"><img src=x onerror=alert(2)>")],
        from,
        &[7.0],
    )
    .await;
    write(
        &app.pool,
        "tool_latency_ms",
        "evil",
        &[("tool", "=cmd()")],
        from,
        &[8.0],
    )
    .await;
    // An alert whose rule name is a formula, fired and acknowledged.
    let res = client
        .post(format!("{}/api/rules", app.base))
        .json(&json!({ "name": "=HYPERLINK(\"http://x\")", "metric": "tool_latency_ms", "condition": ">", "threshold": "0", "severity": "critical" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let alert = eventually(Duration::from_secs(20), "the rule fires", || async {
        let body: Value = app.get(&client, "/api/alerts").await.json().await.ok()?;
        body["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["state"] == "firing")
            .cloned()
    })
    .await;
    let res = client
        .post(format!("{}/api/alerts/ack", app.base))
        .json(&json!({ "rule_id": alert["rule_id"], "series_id": alert["series_id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let id = create(
        &app,
        &client,
        json!({
            "name": "<b>Hostile</b>",
            "description": "<script>alert(3)</script>",
            "period": "1h",
            "sections": [
                { "kind": "metrics_summary", "title": "=cmd()", "metrics": ["tool_latency_ms"] },
                { "kind": "alerts_summary", "title": "+alerts", "show_resolved": true }
            ]
        }),
    )
    .await;
    let report = run(
        &app,
        &client,
        id,
        now - chrono::Duration::hours(1),
        Utc::now(),
    )
    .await;
    assert_eq!(report["status"], "succeeded", "{report}");
    let rid = report["id"].as_i64().unwrap();

    let html = file(&app, &client, rid, "html").await.3;
    for raw in ["<script", "<img", "<b>Hostile", "onerror=alert(2)>"] {
        assert!(!html.contains(raw), "{raw} must be escaped in:\n{html}");
    }
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{html}"
    );
    assert!(
        html.contains("&#60;img src=x onerror=alert(2)&#62;"),
        "{html}"
    );
    assert!(
        html.contains(">ed, "),
        "the acknowledgement is listed: {html}"
    );
    // Even viewed in the browser, nothing in it may run.
    let res = app
        .get(&client, &format!("/api/reports/{rid}/html?inline=true"))
        .await;
    let csp = res.headers()[reqwest::header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(res.headers()[reqwest::header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .starts_with("inline"));

    let csv = file(&app, &client, rid, "csv").await.3;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv.as_bytes());
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let cells: Vec<&String> = rows.iter().flatten().collect();
    for cell in &cells {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "a cell a spreadsheet would run: {cell:?}"
        );
    }
    assert!(cells.iter().any(|c| *c == "'=cmd()"), "{csv}");
    assert!(cells.iter().any(|c| *c == "'+alerts"), "{csv}");
    assert!(cells.iter().any(|c| c.starts_with("'=HYPERLINK")), "{csv}");
    assert!(cells.iter().any(|c| *c == "tool==cmd()"), "{csv}");
    let alert_row = rows
        .iter()
        .find(|r| r[0].starts_with("'=HYPERLINK"))
        .unwrap();
    assert_eq!(alert_row[1], "critical");
    assert_eq!(alert_row[8], "ed", "acknowledged by: {alert_row:?}");
    app.stop().await;
}

#[tokio::test]
async fn bad_templates_are_refused_with_a_field_error_and_change_nothing() {
    let app = spawn_app_with(&[]).await;
    app.add_user("ed", Role::Editor).await;
    let client = app.signed_in("ed").await;
    let base = json!({
        "name": "Daily",
        "period": "24h",
        "sections": [{ "kind": "alerts_summary" }]
    });
    let cases = [
        ("schedule", json!({ "schedule": "61 * * * *" })),
        ("schedule", json!({ "schedule": "every morning" })),
        (
            "timezone",
            json!({ "schedule": "0 9 * * *", "timezone": "Mars/Olympus" }),
        ),
        ("period", json!({ "period": "fortnight" })),
        ("formats", json!({ "formats": ["pdf"] })),
        (
            "sections",
            json!({ "sections": [{ "kind": "metrics_summary", "metrics": ["no_such_metric"] }] }),
        ),
        ("recipients", json!({ "recipients": ["ops@example.com"] })),
    ];
    for (field, change) in cases {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = client
            .post(format!("{}/api/report-templates", app.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {body}"
        );
        let error: Value = res.json().await.unwrap();
        assert_eq!(error["kind"]["Invalid"]["field"], field, "{error}");
    }
    let list: Value = app
        .get(&client, "/api/report-templates")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["templates"], json!([]), "nothing stored");

    // A schedule that parses but never fires is kept, with a warning, and never scheduled.
    let mut never = base.clone();
    never["schedule"] = json!("0 0 30 2 *");
    let res = client
        .post(format!("{}/api/report-templates", app.base))
        .json(&never)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["template"]["warning"]
            .as_str()
            .unwrap()
            .contains("never fires"),
        "{body}"
    );
    assert_eq!(body["template"]["next_run"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn a_due_schedule_runs_once_per_due_time_with_two_processes_on_one_database() {
    let (url, name) = crate::helpers::fresh_database().await;
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        })
        .collect();
    let mut first = crate::alerts::serve(&url, ports[0]).await;
    let mut second = crate::alerts::serve(&url, ports[1]).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    // Due every two seconds, in both processes' schedulers.
    let reports = mcpulse::report::Reports::new(
        pool.clone(),
        std::sync::Arc::new(Store::new(pool.clone())),
        None,
        None,
        mcpulse::report::Retention {
            keep_last: 1000,
            keep_for: Duration::from_secs(86_400),
            samples: Duration::from_secs(7 * 86_400),
        },
    );
    reports
        .create_template(
            &app::types::ReportTemplateDraft {
                name: "Every two seconds".into(),
                schedule: "*/2 * * * * *".into(),
                period: "1h".into(),
                formats: vec!["json".into()],
                sections: vec![app::types::ReportSection::AlertsSummary {
                    title: String::new(),
                    show_resolved: true,
                }],
                ..Default::default()
            },
            "test",
        )
        .await
        .unwrap();
    // The scheduler sleeps until the next due time (at most 30 s); a template made elsewhere is found by then.
    let runs: Vec<(DateTime<Utc>, String)> = eventually(
        Duration::from_secs(60),
        "four scheduled runs",
        || async {
            let rows: Vec<(DateTime<Utc>, String)> = sqlx::query_as(
                "SELECT due_at, status FROM reports WHERE trigger = 'schedule' AND status <> 'running' ORDER BY due_at",
            )
            .fetch_all(&pool)
            .await
            .ok()?;
            (rows.len() >= 4).then_some(rows)
        },
    )
    .await;
    for child in [&mut first, &mut second] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let per_due: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT due_at, count(*) FROM reports WHERE trigger = 'schedule' GROUP BY due_at ORDER BY due_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        per_due.iter().all(|(_, n)| *n == 1),
        "one run per due time: {per_due:?}"
    );
    for (due, status) in &runs {
        assert_eq!(status, "succeeded", "run due {due}");
        assert_eq!(
            due.timestamp() % 2,
            0,
            "due times are the schedule's: {due}"
        );
    }
    let (files, succeeded): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM report_files), (SELECT count(*) FROM reports WHERE status = 'succeeded')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        files, succeeded,
        "each succeeded run has its one file, and no other run has any"
    );
    pool.close().await;
    crate::helpers::drop_database(&name).await;
}

#[tokio::test]
async fn a_report_is_emailed_through_a_real_smtp_server() {
    let smtp = crate::helpers::smtp_server();
    let smtp_url = format!(
        "smtp://127.0.0.1:{}?from=reports@mcpulse.test&tls=none",
        smtp.port
    );
    let app = spawn_app_with(&[("MCPULSE_SMTP_URL", smtp_url.as_str())]).await;
    app.add_user("ed", Role::Editor).await;
    let client = app.signed_in("ed").await;
    write(
        &app.pool,
        "up",
        "mailer",
        &[],
        Utc::now() - chrono::Duration::minutes(5),
        &[1.0, 0.0, 1.0],
    )
    .await;
    let id = create(
        &app,
        &client,
        json!({
            "name": "Mailed",
            "period": "1h",
            "formats": ["html", "csv"],
            "recipients": ["ops@example.com", "Lead <lead@example.com>"],
            "sections": [{ "kind": "metrics_summary", "metrics": ["up"] }]
        }),
    )
    .await;
    let now = Utc::now();
    let report = run(&app, &client, id, now - chrono::Duration::hours(1), now).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    let message = eventually(Duration::from_secs(20), "the mail arrives", || async {
        let text = std::fs::read_to_string(&smtp.mailbox).ok()?;
        text.lines()
            .next()
            .and_then(|l| serde_json::from_str::<Value>(l).ok())
    })
    .await;
    let mut to: Vec<&str> = message["to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    to.sort();
    assert_eq!(to, ["lead@example.com", "ops@example.com"]);
    assert_eq!(message["from"], "reports@mcpulse.test");
    let data = message["data"].as_str().unwrap();
    assert!(data.contains("Subject: mcpulse report: Mailed"), "{data}");
    assert!(
        data.contains("filename=\"mailed-") && data.contains(".html\""),
        "HTML attached: {data}"
    );
    assert!(data.contains(".csv\""), "CSV attached");
    let done: Value = eventually(Duration::from_secs(10), "email status recorded", || async {
        let body: Value = app
            .get(&client, &format!("/api/reports/{}", report["id"]))
            .await
            .json()
            .await
            .ok()?;
        body["report"]["email_status"].is_string().then_some(body)
    })
    .await;
    assert_eq!(done["report"]["email_status"], "sent to 2 recipient(s)");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_claims_run_a_due_time_once_and_downtime_runs_only_the_latest_missed_one() {
    // mcpulse's own scheduler is off: the test claims.
    let app = spawn_app_with(&[("MCPULSE_REPORTS_ENABLED", "false")]).await;
    let reports = || {
        mcpulse::report::Reports::new(
            app.pool.clone(),
            std::sync::Arc::new(Store::new(app.pool.clone())),
            None,
            None,
            mcpulse::report::Retention {
                keep_last: 10,
                keep_for: Duration::from_secs(86_400),
                samples: Duration::from_secs(7 * 86_400),
            },
        )
    };
    let template = reports()
        .create_template(
            &app::types::ReportTemplateDraft {
                name: "Nightly".into(),
                schedule: "0 0 * * *".into(),
                period: "24h".into(),
                sections: vec![app::types::ReportSection::AlertsSummary {
                    title: String::new(),
                    show_resolved: true,
                }],
                ..Default::default()
            },
            "test",
        )
        .await
        .unwrap();
    let midnight = Utc::now()
        .duration_trunc(chrono::Duration::days(1))
        .unwrap();
    assert_eq!(
        template.next_run,
        Some(midnight + chrono::Duration::days(1))
    );
    // mcpulse was down for three days: the template has been due since then.
    sqlx::query("UPDATE report_templates SET next_run_at = $1")
        .bind(midnight - chrono::Duration::days(3))
        .execute(&app.pool)
        .await
        .unwrap();
    let now = Utc::now();
    let claimers: Vec<_> = (0..4).map(|_| reports()).collect();
    let claims = futures::future::join_all(claimers.iter().map(|r| r.claim_due(now))).await;
    let claimed: Vec<_> = claims.into_iter().flat_map(|c| c.unwrap()).collect();
    assert_eq!(claimed.len(), 1, "four concurrent claimers, one run");
    let run = &claimed[0].info;
    assert_eq!(
        run.period_end, midnight,
        "the latest missed due time, not the oldest"
    );
    assert_eq!(run.period_start, midnight - chrono::Duration::days(1));
    let next: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT next_run_at FROM report_templates")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(next, Some(midnight + chrono::Duration::days(1)));
    // Claiming again at the same time finds nothing due.
    assert!(reports().claim_due(now).await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn the_mcp_tools_section_has_each_tools_calls_errors_and_percentiles() {
    let app = spawn_app_with(&[]).await;
    app.add_user("ed", Role::Editor).await;
    let client = app.signed_in("ed").await;
    let from = (Utc::now() - chrono::Duration::hours(3))
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap();
    let to = from + chrono::Duration::hours(1);
    // What a probe records: one sample per request, failures labelled with their error type.
    let call = [
        ("mcp_method_name", "tools/call"),
        ("gen_ai_tool_name", "search"),
    ];
    let ok: Vec<f64> = (1..=20).map(f64::from).collect();
    write(
        &app.pool,
        "mcp_probe_latency_ms",
        "probe-a",
        &call,
        from,
        &ok,
    )
    .await;
    let failed = [
        ("mcp_method_name", "tools/call"),
        ("gen_ai_tool_name", "search"),
        ("error_type", "tool_error"),
    ];
    write(
        &app.pool,
        "mcp_probe_latency_ms",
        "probe-a",
        &failed,
        from + chrono::Duration::seconds(30),
        &[100.0; 5],
    )
    .await;
    write(
        &app.pool,
        "mcp_probe_latency_ms",
        "probe-a",
        &[("mcp_method_name", "ping")],
        from,
        &[2.0; 10],
    )
    .await;
    // Another server, left out by the section's sources.
    write(
        &app.pool,
        "mcp_probe_latency_ms",
        "probe-b",
        &call,
        from,
        &[5.0; 3],
    )
    .await;
    let id = create(
        &app,
        &client,
        json!({"name": "mcp weekly", "period": "1h", "formats": ["html", "json", "csv"],
               "sections": [{"kind": "mcp_tools", "sources": ["probe-a"]}]}),
    )
    .await;
    let report = run(&app, &client, id, from, to).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    let rid = report["id"].as_i64().unwrap();
    let (_, _, _, body) = file(&app, &client, rid, "json").await;
    let data: Value = serde_json::from_str(&body).unwrap();
    let ops = data["sections"][0]["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "{ops:?}");
    let search = &ops[0];
    assert_eq!(
        (search["method"].as_str(), search["tool"].as_str()),
        (Some("tools/call"), Some("search"))
    );
    assert_eq!(
        (search["calls"].as_i64(), search["errors"].as_i64()),
        (Some(25), Some(5))
    );
    assert_eq!(search["error_rate_pct"], 20.0);
    // 25 latencies: 1 … 20 and five of 100 — the median is the 13th, p95 falls among the hundreds.
    assert_eq!(search["p50_ms"], 13.0);
    assert_eq!(search["p95_ms"], 100.0);
    assert_eq!(search["top_error"], "tool_error");
    assert_eq!(
        (ops[1]["method"].as_str(), ops[1]["calls"].as_i64()),
        (Some("ping"), Some(10))
    );
    let (_, _, _, csv) = file(&app, &client, rid, "csv").await;
    assert!(
        csv.contains("probe-a,tools/call,search,25,5,20.000,13.000,100.000,100.000,tool_error"),
        "{csv}"
    );
    assert!(!csv.contains("probe-b"));
    let (_, _, _, html) = file(&app, &client, rid, "html").await;
    assert!(html.contains("tools/call search"), "{html}");
    assert!(html.contains("20.0 % (tool_error)"));
    app.stop().await;
}
