//! The dashboard: current value of each `self` metric and a chart of one of them over the last 15 minutes. The first
//! render comes from the `dashboard` server function; after hydration, samples pushed over `/ws` update the tiles and
//! extend the chart without a reload.

use crate::api::dashboard;
use crate::chart::{line_chart_svg, ChartSpec};
use crate::error::AppError;
use crate::live::{use_live, LiveStatus};
use crate::pages::{status_badge, time_of_day, Topbar};
use crate::types::{format_value, CurrentValue, DashboardData, Point, SELF_METRICS};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let metric = Memo::new(move |_| {
        query
            .read()
            .get("metric")
            .filter(|m| SELF_METRICS.iter().any(|(known, _)| known == m))
            .unwrap_or_else(|| SELF_METRICS[0].0.to_string())
    });
    let data = Resource::new(move || metric.get(), dashboard);
    view! {
        <Title text="Dashboard · mcpulse"/>
        <Transition fallback=|| view! { <main class="page"><p class="muted">"Loading…"</p></main> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <Dashboard data=d/> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <Redirect path="/login"/> }.into_any(),
                    Err(e) => view! { <main class="page"><p class="form-error" role="alert">{e.to_string()}</p></main> }.into_any(),
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
        chart_metric,
        points,
        window_secs,
        now_ms,
    } = data;
    let values = RwSignal::new(values);
    let sources = RwSignal::new(sources);
    let points = RwSignal::new(points);
    let now = RwSignal::new(now_ms);
    let live = use_live();
    let unit = SELF_METRICS
        .iter()
        .find(|(m, _)| *m == chart_metric)
        .map(|(_, u)| *u)
        .unwrap_or("");

    let charted = chart_metric.clone();
    Effect::new(move |_| {
        let Some(batch) = live.latest.get() else {
            return;
        };
        if batch.source != "self" {
            return;
        }
        now.update(|n| *n = (*n).max(batch.t));
        if let Some((_, v)) = batch.values.iter().find(|(m, _)| *m == charted) {
            points.update(|ps| {
                if ps.last().is_none_or(|p| p.t < batch.t) {
                    ps.push(Point { t: batch.t, v: *v });
                }
                let cutoff = batch.t - window_secs * 1000;
                ps.retain(|p| p.t >= cutoff);
            });
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

    let svg = move || {
        let end = now.get();
        points.with(|ps| {
            line_chart_svg(
                ps,
                &ChartSpec {
                    width: 880,
                    height: 280,
                    unit,
                    x_range: (end - window_secs * 1000, end),
                },
            )
        })
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
        <main class="page">
            <div class="page-head">
                <h1>"mcpulse itself"</h1>
                <p class="muted">"Source " <code>"self"</code> ": mcpulse's own HTTP server and process."</p>
            </div>
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
                        let selected = chart_metric == *metric;
                        view! {
                            <a class="tile" class:selected=selected data-metric=*metric href=format!("/?metric={metric}")>
                                <span class="tile-label" title=*metric>{*metric}</span>
                                <span class="tile-value">{value}</span>
                            </a>
                        }
                    })
                    .collect_view()}
            </section>
            <section class="card">
                <h2>{chart_metric.clone()} <span class="muted">" · last 15 minutes"</span></h2>
                <div class="chart" data-metric=chart_metric.clone() data-points=move || points.with(Vec::len) inner_html=svg></div>
            </section>
            <SourcesTable sources/>
        </main>
    }
}

/// The health of every source, kept fresh by the dashboard's live updates.
#[component]
fn SourcesTable(sources: RwSignal<Vec<crate::types::SourceStatus>>) -> impl IntoView {
    view! {
            <section class="card">
            <h2>"Sources" <a class="muted small" href="/sources">"manage"</a></h2>
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
