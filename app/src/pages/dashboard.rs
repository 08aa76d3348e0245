//! The dashboard: overview tiles (sources up/down, firing and pending alerts by severity), the current value of each
//! `self` metric, a chart of any metric of any source over the last 15 minutes (chosen in a picker; the URL's
//! `chart=source/metric` keeps the choice), the active alerts and the health of every source.
//! The first render comes from the `dashboard` server function; after hydration, messages pushed over `/ws` update
//! everything without a reload: samples update the tiles and the source list and extend the chart (a label-less
//! series appends the pushed value; a labelled one is re-queried through the `query` server function), and alert
//! changes replace the active alerts.

use crate::api::{chart_query, dashboard, query_series};
use crate::chart::{Chart, ChartSeries};
use crate::error::AppError;
use crate::live::{use_live, LiveStatus};
use crate::pages::{status_badge, time_of_day, Topbar};
use crate::types::{
    format_value, is_counter, unit_of, AlertInfo, CurrentValue, DashboardData, Point, SourceStatus,
    SELF_METRICS,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, Redirect};
use leptos_router::hooks::use_query_map;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let chart = Memo::new(move |_| query.read().get("chart").unwrap_or_default());
    let data = Resource::new(move || chart.get(), dashboard);
    view! {
        <Title text="Dashboard · mcpulse"/>
        <Transition fallback=|| view! { <main id="main" class="page"><p class="muted">"Loading…"</p></main> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <Dashboard data=d/> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <Redirect path="/login"/> }.into_any(),
                    Err(e) => view! { <main id="main" class="page"><p class="form-error" role="alert">{e.to_string()}</p></main> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Dashboard(data: DashboardData) -> impl IntoView {
    let DashboardData {
        user,
        values,
        sources,
        chart_source,
        chart_metric,
        points,
        window_secs,
        now_ms,
        alerts,
    } = data;
    let alerts = RwSignal::new(alerts);
    let values = RwSignal::new(values);
    let sources = RwSignal::new(sources);
    let points = RwSignal::new(points);
    let now = RwSignal::new(now_ms);
    let live = use_live();
    let unit = if is_counter(&chart_metric) {
        format!("{}/s", unit_of(&chart_metric))
    } else {
        unit_of(&chart_metric).to_string()
    };
    // Every series the picker offers: each metric of each source once.
    let choices = Memo::new(move |_| {
        values.with(|vs| {
            let mut all: Vec<(String, String)> = vs
                .iter()
                .map(|c| (c.source.clone(), c.metric.clone()))
                .collect();
            all.sort();
            all.dedup();
            all
        })
    });
    let selected = format!("{chart_source}/{chart_metric}");

    Effect::new(move |_| {
        if let Some(now_active) = live.alerts.get() {
            alerts.set(now_active);
        }
    });
    let (charted_source, charted) = (chart_source.clone(), chart_metric.clone());
    Effect::new(move |_| {
        let Some(batch) = live.latest.get() else {
            return;
        };
        now.update(|n| *n = (*n).max(batch.t));
        if batch.source == charted_source {
            let cutoff = batch.t - window_secs * 1000;
            // A counter is charted as its rate, which only the query engine computes.
            let raw = (!is_counter(&charted))
                .then(|| batch.values.iter().find(|(m, _)| *m == charted))
                .flatten();
            match raw {
                Some((_, v)) => points.update(|ps| {
                    if ps.last().is_none_or(|p| p.t < batch.t) {
                        ps.push(Point { t: batch.t, v: *v });
                    }
                    ps.retain(|p| p.t >= cutoff);
                }),
                None => {
                    // Labelled series are not in the live batch, a rate is not a sample: ask for the window again.
                    let request = chart_query(&charted_source, &charted);
                    leptos::task::spawn_local(async move {
                        if let Ok(result) = query_series(request).await {
                            points.set(
                                result
                                    .series
                                    .into_iter()
                                    .next()
                                    .map(|s| s.points)
                                    .unwrap_or_default(),
                            );
                        }
                    });
                }
            }
        }
        let at = chrono::DateTime::from_timestamp_millis(batch.t).unwrap_or_default();
        if let Some((_, up)) = batch.values.iter().find(|(m, _)| m == "up") {
            sources.update(|list| {
                if let Some(s) = list.iter_mut().find(|s| s.id == batch.source) {
                    s.up = Some(*up >= 1.0);
                    s.last_scrape = Some(at);
                    if *up >= 1.0 {
                        s.last_success = Some(at);
                        s.last_error = None;
                    }
                }
            });
        }
        values.update(|vs| {
            for (metric, value) in &batch.values {
                match vs
                    .iter_mut()
                    .find(|c| c.source == batch.source && c.metric == *metric)
                {
                    Some(c) => {
                        c.value = *value;
                        c.at = at;
                    }
                    None => vs.push(CurrentValue {
                        source: batch.source.clone(),
                        metric: metric.clone(),
                        value: *value,
                        at,
                    }),
                }
            }
        });
    });

    let series = Signal::derive(move || {
        vec![ChartSeries {
            name: String::new(),
            points: points.get(),
        }]
    });
    let x_range = Signal::derive(move || {
        let end = now.get();
        (end - window_secs * 1000, end)
    });
    let chart_label = if is_counter(&chart_metric) {
        format!("rate of {chart_metric} (per second) of {chart_source} over the last 15 minutes")
    } else if crate::types::is_histogram_bucket(&chart_metric) {
        format!("p95 of {chart_metric} of {chart_source} over the last 15 minutes")
    } else {
        format!("{chart_metric} of {chart_source} over the last 15 minutes")
    };
    let status = move || match live.status.get() {
        LiveStatus::Live => ("live", "Live"),
        LiveStatus::Connecting => ("connecting", "Connecting…"),
        LiveStatus::Reconnecting => ("reconnecting", "Reconnecting…"),
    };

    view! {
        <Topbar user>
            <span class="live-status" data-status=move || status().0 aria-live="polite">{move || status().1}</span>
        </Topbar>
        <main id="main" class="page">
            <div class="page-head">
                <h1>"Dashboard"</h1>
                <p class="muted">"Tiles: source " <code>"self"</code> ", mcpulse's own HTTP server and process."</p>
            </div>
            <Overview sources alerts/>
            <section class="tiles" aria-label="Current values">
                {SELF_METRICS
                    .iter()
                    .map(|(metric, unit)| {
                        let value = move || {
                            values.with(|vs| {
                                vs.iter()
                                    .find(|c| c.source == "self" && c.metric == *metric)
                                    .map(|c| format_value(c.value, unit))
                                    .unwrap_or_else(|| "–".to_string())
                            })
                        };
                        let selected = chart_source == "self" && chart_metric == *metric;
                        view! {
                            <a class="tile" class:selected=selected data-metric=*metric href=format!("/?chart=self/{metric}")>
                                <span class="tile-label" title=*metric>{*metric}</span>
                                <span class="tile-value">{value}</span>
                            </a>
                        }
                    })
                    .collect_view()}
            </section>
            <section class="card">
                <div class="card-head">
                    <h2>{chart_metric.clone()} <span class="muted">" · " {chart_source.clone()} " · last 15 minutes"</span></h2>
                    <Form method="GET" action="/" attr:class="chart-picker">
                        <label for="chart-picker">"Chart"</label>
                        <select id="chart-picker" name="chart">
                            {move || {
                                let selected = selected.clone();
                                choices
                                    .get()
                                    .into_iter()
                                    .map(|(source, metric)| {
                                        let value = format!("{source}/{metric}");
                                        let is = value == selected;
                                        view! { <option value=value.clone() selected=is>{format!("{metric} · {source}")}</option> }
                                    })
                                    .collect_view()
                            }}
                        </select>
                        <button type="submit" class="secondary">"Show"</button>
                    </Form>
                </div>
                <div class="chart-card" data-source=chart_source.clone() data-metric=chart_metric.clone()>
                    <Chart series x_range unit=unit label=chart_label/>
                </div>
            </section>
            <ActiveAlerts alerts/>
            <SourcesTable sources/>
        </main>
    }
}

/// Tiles on top: sources up and down, firing alerts by severity, pending alerts.
#[component]
fn Overview(
    sources: RwSignal<Vec<SourceStatus>>,
    alerts: RwSignal<Vec<AlertInfo>>,
) -> impl IntoView {
    let count = move |state: &'static str| {
        move || sources.with(|all| all.iter().filter(|s| s.state() == state).count())
    };
    let firing = move || alerts.with(|all| all.iter().filter(|a| a.state == "firing").count());
    let pending = move || alerts.with(|all| all.iter().filter(|a| a.state == "pending").count());
    let by_severity = move || {
        alerts.with(|all| {
            let parts: Vec<String> = ["critical", "error", "warning", "info"]
                .iter()
                .filter_map(|sev| {
                    let n = all
                        .iter()
                        .filter(|a| a.state == "firing" && a.severity == *sev)
                        .count();
                    (n > 0).then(|| format!("{n} {sev}"))
                })
                .collect();
            if parts.is_empty() {
                "none".to_string()
            } else {
                parts.join(" · ")
            }
        })
    };
    view! {
        <section class="tiles overview" aria-label="Overview">
            <a class="tile" href="/sources" data-tile="sources-up" data-count=count("up")>
                <span class="tile-label">"sources up"</span>
                <span class="tile-value ok-text">{count("up")}</span>
            </a>
            <a class="tile" href="/sources" data-tile="sources-down" data-count=count("down")>
                <span class="tile-label">"sources down"</span>
                <span class="tile-value" class:error-text={move || count("down")() > 0}>{count("down")}</span>
            </a>
            <a class="tile" href="/alerts" data-tile="firing" data-count=firing>
                <span class="tile-label">"firing alerts"</span>
                <span class="tile-value" class:error-text={move || firing() > 0}>{firing}</span>
                <span class="small muted" data-severities="">{by_severity}</span>
            </a>
            <a class="tile" href="/alerts" data-tile="pending" data-count=pending>
                <span class="tile-label">"pending alerts"</span>
                <span class="tile-value">{pending}</span>
            </a>
        </section>
    }
    .into_any()
}

/// Pending and firing alerts, replaced whenever the server announces a change.
#[component]
fn ActiveAlerts(alerts: RwSignal<Vec<AlertInfo>>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="active-alerts">
            <h2 id="active-alerts">"Active alerts " <a class="muted small" href="/alerts">"all alerts"</a></h2>
            <Show when=move || alerts.with(|a| !a.is_empty())
                fallback=|| view! { <p class="muted" data-empty="">"Nothing pending or firing."</p> }>
                <table class="sources alerts-table">
                    <thead>
                        <tr><th scope="col">"Alert"</th><th scope="col">"Severity"</th><th scope="col">"State"</th><th scope="col">"Source"</th><th scope="col">"Value"</th><th scope="col">"Since"</th></tr>
                    </thead>
                    <tbody>
                        <For each=move || alerts.get() key=|a| (a.rule_id, a.series_id, a.state.clone(), a.acknowledged_at, a.silenced.as_ref().map(|s| (s.id, s.until))) let:a>
                            <tr data-rule=a.rule_name.clone() data-state=a.state.clone() data-silenced=a.silenced.is_some().to_string()>
                                <td><strong>{a.rule_name.clone()}</strong></td>
                                <td><span class=format!("badge sev-{}", a.severity)>{a.severity.clone()}</span></td>
                                <td>
                                    <span class=format!("badge {}", a.state)>{a.state.clone()}</span>
                                    {a.acknowledged_by.clone().map(|by| view! { <span class="small muted">" acknowledged by " {by}</span> })}
                                    {a.silenced.clone().map(|s| view! {
                                        " " <span class="badge silenced" title=format!("by {} until {}", s.by, time_of_day(Some(s.until)))>"silenced"</span>
                                    })}
                                </td>
                                <td><code>{a.source.clone()}</code></td>
                                <td>{a.value.map(|v| format_value(v, unit_of(&a.metric))).unwrap_or_else(|| "–".into())}
                                    <span class="muted small">{format!(" {} {}", a.condition, a.threshold)}</span></td>
                                <td class="muted">{time_of_day(a.firing_since.or(a.active_since))}</td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </Show>
        </section>
    }
    .into_any()
}

/// The health of every source, kept fresh by the dashboard's live updates.
#[component]
fn SourcesTable(sources: RwSignal<Vec<crate::types::SourceStatus>>) -> impl IntoView {
    view! {
            <section class="card">
            <h2>"Sources " <a class="muted small" href="/sources">"manage"</a></h2>
            <table class="sources">
                <thead>
                    <tr><th scope="col">"Source"</th><th scope="col">"Kind"</th><th scope="col">"Status"</th><th scope="col">"Last scrape"</th><th scope="col">"Last success"</th><th scope="col">"Last error"</th></tr>
                </thead>
                <tbody>
                    <For each=move || sources.get() key=|s| (s.id.clone(), s.up, s.last_scrape, s.last_success) let:s>
                        <tr data-source=s.id.clone()>
                            <td><strong>{s.name.clone()}</strong> " " <code class="muted">{s.id.clone()}</code></td>
                            <td>{s.kind.clone()}</td>
                            <td>{status_badge(&s)}</td>
                            <td class="muted">{time_of_day(s.last_scrape)}</td>
                            <td class="muted">{time_of_day(s.last_success)}</td>
                            <td class="error-text">{s.last_error.clone().unwrap_or_default()}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
        </section>
    }
    .into_any()
}
