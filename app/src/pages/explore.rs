//! The explore page: pick a metric (searchable list of every metric with its sources and label names), filter by
//! sources and label matchers, choose a range (last 15m/1h/6h/24h/7d or custom), step, aggregation and grouping, and
//! see the series in an interactive chart. The whole view lives in the URL (`/explore?metric=…&range=1h&…`), so a
//! link reproduces it; zooming the chart moves the URL to that custom range and fetches finer points. The data
//! shown can be downloaded as CSV or JSON from `/api/timeseries` with the same query.

use crate::api::{metric_catalog, query_series};
use crate::chart::{Chart, ChartSeries};
use crate::error::AppError;
use crate::pages::{format_pairs, split_list, SignedIn, Topbar};
use crate::types::{
    default_aggregation, is_counter, is_histogram_bucket, unit_of, MetricCatalog, QueryRequest,
    QueryResult, UserInfo,
};
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use leptos_router::NavigateOptions;
use leptos_router::{lazy_route, LazyRoute};

/// Preset ranges, as offered in the picker.
const RANGES: &[(&str, &str)] = &[
    ("15m", "last 15 minutes"),
    ("1h", "last hour"),
    ("6h", "last 6 hours"),
    ("24h", "last 24 hours"),
    ("7d", "last 7 days"),
    ("custom", "custom (from/to)"),
];
/// Value, label. `rate`/`increase` are for counters (`*_total`), chosen by default for them.
const AGGREGATIONS: &[(&str, &str)] = &[
    ("avg", "avg"),
    ("sum", "sum"),
    ("min", "min"),
    ("max", "max"),
    ("count", "count"),
    ("last", "last"),
    ("rate", "rate (per second, counters)"),
    ("increase", "increase (per step, counters)"),
    ("p50", "p50 (histograms)"),
    ("p90", "p90 (histograms)"),
    ("p95", "p95 (histograms)"),
    ("p99", "p99 (histograms)"),
];

/// The chart's width in SVG pixels; the server sends at most two points per column.
const CHART_WIDTH: u32 = 1000;

/// The view as the URL states it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExploreView {
    pub metric: String,
    pub sources: String,
    pub labels: String,
    pub range: String,
    pub from: String,
    pub to: String,
    pub step: String,
    pub agg: String,
    /// `series` (one line per series), empty (one line), or label names (`source`, `tool`, …).
    pub group: String,
    /// Auto-refresh period of a relative range (`10s`, `30s`, `1m`; empty: off).
    pub refresh: String,
}

/// Auto-refresh choices: value, label.
const REFRESHES: &[(&str, &str)] = &[
    ("", "off"),
    ("10s", "every 10 s"),
    ("30s", "every 30 s"),
    ("1m", "every minute"),
];

/// The refresh period of `refresh` in milliseconds, if it is one of [`REFRESHES`].
fn refresh_ms(refresh: &str) -> Option<u64> {
    match refresh {
        "10s" => Some(10_000),
        "30s" => Some(30_000),
        "1m" => Some(60_000),
        _ => None,
    }
}

impl ExploreView {
    pub fn from_query(q: &ParamsMap) -> Self {
        let get = |k: &str| q.get(k).unwrap_or_default().trim().to_string();
        let or = |v: String, d: &str| if v.is_empty() { d.to_string() } else { v };
        ExploreView {
            metric: get("metric"),
            sources: get("sources"),
            labels: get("labels"),
            range: or(get("range"), "1h"),
            from: get("from"),
            to: get("to"),
            step: get("step"),
            agg: or(get("agg"), default_aggregation(&get("metric"))),
            group: q
                .get("group")
                .map(|g| g.trim().to_string())
                .unwrap_or_else(|| "series".into()),
            refresh: Some(get("refresh"))
                .filter(|r| refresh_ms(r).is_some())
                .unwrap_or_default(),
        }
    }

    /// The query this view runs.
    pub fn request(&self) -> QueryRequest {
        let (start, end) = if self.range == "custom" {
            (
                Some(self.from.clone()).filter(|s| !s.is_empty()),
                Some(self.to.clone()).filter(|s| !s.is_empty()),
            )
        } else {
            (Some(format!("-{}", self.range)), None)
        };
        QueryRequest {
            metric: self.metric.clone(),
            sources: split_list(&self.sources),
            labels: split_list(&self.labels),
            start,
            end,
            step: Some(self.step.clone()).filter(|s| !s.is_empty()),
            aggregation: Some(self.agg.clone()),
            group_by: Some(self.group.clone()),
            max_points: Some(2 * CHART_WIDTH as usize),
            resolution: None,
            window: None,
        }
    }

    /// The URL of this view's page.
    pub fn href(&self) -> String {
        format!("/explore?{}", self.query_string())
    }

    fn query_string(&self) -> String {
        let mut pairs = vec![
            ("metric", &self.metric),
            ("range", &self.range),
            ("agg", &self.agg),
            ("group", &self.group),
        ];
        for (k, v) in [
            ("sources", &self.sources),
            ("labels", &self.labels),
            ("from", &self.from),
            ("to", &self.to),
            ("step", &self.step),
            ("refresh", &self.refresh),
        ] {
            if !v.is_empty() {
                pairs.push((k, v));
            }
        }
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// `/api/timeseries` with this view's query, in `format` (csv or json), for download.
    pub fn download(&self, format: &str) -> String {
        let r = self.request();
        let mut pairs: Vec<(String, String)> = vec![("metric".into(), r.metric.clone())];
        if let Some(s) = &r.start {
            pairs.push(("start".into(), s.clone()));
        }
        if let Some(e) = &r.end {
            pairs.push(("end".into(), e.clone()));
        }
        if let Some(s) = &r.step {
            pairs.push(("step".into(), s.clone()));
        }
        pairs.push(("aggregation".into(), self.agg.clone()));
        pairs.push(("group_by".into(), self.group.clone()));
        pairs.push(("max_points".into(), (2 * CHART_WIDTH).to_string()));
        if !r.sources.is_empty() {
            pairs.push(("sources".into(), r.sources.join(",")));
        }
        for m in &r.labels {
            pairs.push(("label".into(), m.clone()));
        }
        pairs.push(("format".into(), format.into()));
        format!(
            "/api/timeseries?{}",
            pairs
                .into_iter()
                .map(|(k, v)| format!("{k}={}", encode(&v)))
                .collect::<Vec<_>>()
                .join("&")
        )
    }
}

/// The picker's metrics: a histogram family is one entry, its `_bucket` series (its `_sum` and `_count` are left
/// out; they can still be typed).
fn picker_entries(mut all: Vec<MetricCatalog>) -> Vec<MetricCatalog> {
    let families: Vec<String> = all
        .iter()
        .filter_map(|m| m.metric.strip_suffix("_bucket").map(str::to_string))
        .collect();
    all.retain(|m| {
        let family = m
            .metric
            .strip_suffix("_sum")
            .or_else(|| m.metric.strip_suffix("_count"));
        !family.is_some_and(|f| families.iter().any(|h| h == f))
    });
    all
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The page's resources and the signals they follow, created once when the route renders (see
/// [`SignedIn`](crate::pages::SignedIn) for why never later).
#[derive(Clone, Copy)]
pub struct ExploreData {
    view_state: Memo<ExploreView>,
    data: Resource<Result<Option<QueryResult>, AppError>>,
}

/// The page as a lazy route: in the browser its code — the view and the page's resources with their decoders — is
/// a separate WASM chunk, fetched when the page is first visited, so the first load carries only the dashboard
/// and sign-in.
pub struct ExploreRoute;

#[lazy_route]
impl LazyRoute for ExploreRoute {
    fn data() -> Self {
        ExploreRoute
    }

    fn view(route: Self) -> AnyView {
        let _ = route;
        // The resources are created here, once, when the route renders (never inside the `SignedIn` suspense; see
        // there why): the same place on the server and in the browser.
        let this = ExploreData::new();
        view! { <SignedIn title="Explore" page=move |user| view! { <Explore user route=this/> }/> }
            .into_any()
    }
}

impl ExploreData {
    fn new() -> Self {
        let query = use_query_map();
        let view_state = Memo::new(move |_| ExploreView::from_query(&query.read()));
        let data = Resource::new(
            move || view_state.get(),
            |v| async move {
                if v.metric.is_empty() {
                    Ok(None)
                } else {
                    query_series(v.request()).await.map(Some)
                }
            },
        );
        ExploreData { view_state, data }
    }
}

#[component]
fn Explore(user: UserInfo, route: ExploreData) -> impl IntoView {
    let ExploreData { view_state, data } = route;
    // Suggestions only: fetched in the browser after hydration, so no Suspense sits inside the form (a streamed
    // boundary inside <datalist> could race hydration).
    let catalog = LocalResource::new(metric_catalog);
    let interactive = crate::pages::interactive();
    let navigate = use_navigate();
    let on_zoom = Callback::new(move |range: Option<(i64, i64)>| {
        if let Some((a, b)) = range {
            let mut v = view_state.get_untracked();
            v.range = "custom".into();
            v.from = iso_ms(a);
            v.to = iso_ms(b);
            v.step = String::new();
            navigate(&v.href(), Default::default());
        }
    });

    // A form submitted before the page was interactive, or by the router's <Form>, puts every empty field (and the
    // button) in the URL; replace it with the canonical link, which holds only what is set. Once per address.
    let location = use_location();
    let canonical = use_navigate();
    let replaced = StoredValue::new(String::new());
    Effect::new(move |_| {
        let search = location.search.get();
        let search = search.trim_start_matches('?');
        let want = view_state.get().query_string();
        if !search.is_empty() && search != want && replaced.get_value() != want {
            replaced.set_value(want.clone());
            let options = NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            };
            canonical(&format!("/explore?{want}"), options);
        }
    });

    // Auto-refresh: a relative range is fetched again every period (a custom range holds still). The timer
    // ends with the view's change and with the page.
    let timer = std::sync::Arc::new(std::sync::Mutex::new(None::<IntervalHandle>));
    let stop = {
        let timer = timer.clone();
        move || {
            if let Some(handle) = timer.lock().ok().and_then(|mut t| t.take()) {
                handle.clear();
            }
        }
    };
    on_cleanup(stop.clone());
    Effect::new(move |_| {
        stop();
        let v = view_state.get();
        let Some(period) =
            refresh_ms(&v.refresh).filter(|_| v.range != "custom" && !v.metric.is_empty())
        else {
            return;
        };
        let handle = set_interval_with_handle(
            move || data.refetch(),
            std::time::Duration::from_millis(period),
        )
        .ok();
        if let Ok(mut t) = timer.lock() {
            *t = handle;
        }
    });

    let form = move || {
        let v = view_state.get();
        let refresh = v.refresh.clone();
        let range = v.range.clone();
        let agg = v.agg.clone();
        let group = v.group.clone();
        view! {
            <Form method="GET" action="/explore" attr:class="source-form explore-form">
                <div class="field wide">
                    <label for="explore-metric">"Metric " <span class="muted">"(type to search)"</span></label>
                    <input id="explore-metric" name="metric" type="search" list="metric-list" autocomplete="off"
                        placeholder="response_time_ms" value=v.metric.clone()/>
                    <datalist id="metric-list">
                                                {move || picker_entries(interactive.get().then(|| catalog.get()).flatten().and_then(Result::ok).unwrap_or_default()).into_iter().map(|m| {
                            let kind = if is_counter(&m.metric) {
                                "counter (charted as rate) · "
                            } else if is_histogram_bucket(&m.metric) {
                                "histogram (p50/p90/p95/p99; charted as p95) · "
                            } else {
                                ""
                            };
                            let hint = format!("{kind}{} · {} series{}",
                                m.sources.join(", "), m.series,
                                if m.labels.is_empty() { String::new() } else { format!(" · labels: {}", m.labels.join(", ")) });
                            view! { <option value=m.metric.clone()>{hint}</option> }
                        }).collect_view()}
                    </datalist>
                </div>
                <div class="field">
                    <label for="explore-sources">"Sources " <span class="muted">"(empty: all)"</span></label>
                    <input id="explore-sources" name="sources" type="text" placeholder="all" value=v.sources.clone()/>
                </div>
                <div class="field">
                    <label for="explore-labels">"Label matchers"</label>
                    <input id="explore-labels" name="labels" type="text" placeholder="tool=search, env!=dev" value=v.labels.clone()/>
                </div>
                <div class="field">
                    <label for="explore-range">"Range"</label>
                    <select id="explore-range" name="range">
                        {RANGES.iter().map(|(value, text)| view! { <option value=*value selected=*value == range>{*text}</option> }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="explore-from">"From " <span class="muted">"(custom)"</span></label>
                    <input id="explore-from" name="from" type="text" placeholder="2026-11-24T08:00:00Z or -2d" value=v.from.clone()/>
                </div>
                <div class="field">
                    <label for="explore-to">"To " <span class="muted">"(custom; empty: now)"</span></label>
                    <input id="explore-to" name="to" type="text" placeholder="now" value=v.to.clone()/>
                </div>
                <div class="field">
                    <label for="explore-step">"Step " <span class="muted">"(empty: fit the chart)"</span></label>
                    <input id="explore-step" name="step" type="text" placeholder="auto" value=v.step.clone()/>
                </div>
                <div class="field">
                    <label for="explore-agg">"Aggregation"</label>
                    <select id="explore-agg" name="agg">
                        {AGGREGATIONS.iter().map(|(a, text)| view! { <option value=*a selected=*a == agg>{*text}</option> }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="explore-refresh">"Auto-refresh"</label>
                    <select id="explore-refresh" name="refresh">
                        {REFRESHES.iter().map(|(value, text)| view! { <option value=*value selected=*value == refresh>{*text}</option> }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="explore-group">"Lines " <span class="muted">"(series, none, or label names)"</span></label>
                    <input id="explore-group" name="group" type="text" value=group placeholder="one line"/>
                </div>
                <div class="form-actions">
                    <button type="submit">"Show"</button>
                </div>
            </Form>
        }
    };

    let result = move || {
        Suspend::new(async move {
            let v = view_state.get_untracked();
            match data.await {
                Ok(None) => {
                    view! { <p class="muted" data-empty="">"Pick a metric to see its series."</p> }
                        .into_any()
                }
                Err(e) => {
                    view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any()
                }
                Ok(Some(result)) if result.series.is_empty() => view! {
                    <p class="muted" data-empty="" role="status">
                        "No data for " <code>{result.metric.clone()}</code> " in this range. "
                        "Check the metric's name (the picker lists every metric a source has reported), its sources "
                        "and label matchers, or choose a longer range."
                    </p>
                }
                .into_any(),
                Ok(Some(result)) => {
                    let unit = match result.aggregation.as_str() {
                        "rate" => format!("{}/s", unit_of(&result.metric)),
                        _ => unit_of(&result.metric).to_string(),
                    };
                    let points: usize = result.series.iter().map(|s| s.points.len()).sum();
                    let summary = format!(
                        "{} series · {} points · step {} · {} · from {}",
                        result.series.len(),
                        points,
                        human_step(result.step_ms),
                        match result.aggregation.as_str() {
                            "rate" => "rate per second".to_string(),
                            "increase" => "increase per step".to_string(),
                            other => other.to_string(),
                        },
                        if result.resolution == "raw" {
                            "raw samples".to_string()
                        } else {
                            format!("{} rollups", result.resolution)
                        },
                    );
                    let series: Vec<ChartSeries> = result
                        .series
                        .iter()
                        .map(|s| ChartSeries {
                            name: match (&s.source, s.labels.is_empty()) {
                                (Some(src), true) => src.clone(),
                                (Some(src), false) => {
                                    format!("{src} {{{}}}", format_pairs(&s.labels))
                                }
                                (None, false) => format!("{{{}}}", format_pairs(&s.labels)),
                                (None, true) => result.metric.clone(),
                            },
                            points: s.points.clone(),
                        })
                        .collect();
                    let x_range = (
                        result.start.timestamp_millis(),
                        result.end.timestamp_millis(),
                    );
                    let label = format!(
                        "{} ({}) over the chosen range",
                        result.metric, result.aggregation
                    );
                    // Downloads carry exactly the range shown, not a range relative to when the link is clicked.
                    let shown = ExploreView {
                        range: "custom".into(),
                        from: iso_ms(result.start.timestamp_millis()),
                        to: iso_ms(result.end.timestamp_millis()),
                        ..v.clone()
                    };
                    view! {
                        <p class="small muted" data-summary="">{summary}</p>
                        <Chart series=Signal::stored(series) x_range=Signal::stored(x_range) unit label on_zoom width=CHART_WIDTH height=320/>
                        <p class="downloads small">
                            "Download what is shown: "
                            <a href=shown.download("csv") download="" rel="external" data-format="csv">"CSV"</a>
                            " · "
                            <a href=shown.download("json") download="" rel="external" data-format="json">"JSON"</a>
                            " · "
                            <a href=v.href() data-share="">"link to this view"</a>
                        </p>
                    }
                    .into_any()
                }
            }
        })
    };

    view! {
        <Topbar user/>
        <main id="main" class="page">
            <div class="page-head">
                <h1>"Explore"</h1>
                <p class="muted">"Any metric of any source over any range. The URL keeps the view: share it."</p>
            </div>
            <section class="card">{form}</section>
            <section class="card explore-result">
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>{result}</Transition>
            </section>
        </main>
    }
    .into_any()
}

/// Epoch milliseconds as an RFC 3339 UTC time with milliseconds.
fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// `60000` → `1m`.
fn human_step(ms: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_survives_its_own_url() {
        let v = ExploreView {
            metric: "tool_latency_ms".into(),
            sources: "a, b".into(),
            labels: "tool=search, env!=dev".into(),
            range: "custom".into(),
            from: "2026-11-24T08:00:00Z".into(),
            to: String::new(),
            step: "1m".into(),
            agg: "max".into(),
            group: "series".into(),
            refresh: "30s".into(),
        };
        let href = v.href();
        let query = href.split_once('?').unwrap().1;
        let mut map = ParamsMap::new();
        for pair in query.split('&') {
            let (k, val) = pair.split_once('=').unwrap();
            map.insert(k.to_string(), percent_decode(val));
        }
        assert_eq!(ExploreView::from_query(&map), v);
        let r = v.request();
        assert_eq!(r.sources, vec!["a", "b"]);
        assert_eq!(r.labels, vec!["tool=search", "env!=dev"]);
        assert_eq!(r.start.as_deref(), Some("2026-11-24T08:00:00Z"));
        assert_eq!(r.end, None);
        assert!(v.download("csv").contains("label=env%21%3Ddev"));
    }

    #[test]
    fn presets_are_relative_and_grouping_defaults_to_series() {
        let v = ExploreView::from_query(&ParamsMap::new());
        assert_eq!(v.range, "1h");
        assert_eq!(v.group, "series");
        assert_eq!(v.request().start.as_deref(), Some("-1h"));
        assert_eq!(human_step(120_000), "2m");
        assert_eq!(human_step(1500), "1500ms");
    }

    #[test]
    fn a_histogram_family_is_one_picker_entry() {
        let entry = |metric: &str| MetricCatalog {
            metric: metric.into(),
            sources: vec!["edge".into()],
            series: 1,
            labels: Vec::new(),
        };
        let all = [
            "latency_seconds_bucket",
            "latency_seconds_sum",
            "latency_seconds_count",
            "jobs_count",
            "up",
        ];
        let shown: Vec<String> = picker_entries(all.iter().map(|m| entry(m)).collect())
            .into_iter()
            .map(|m| m.metric)
            .collect();
        assert_eq!(shown, ["latency_seconds_bucket", "jobs_count", "up"]);
        let mut q = ParamsMap::new();
        q.insert("metric".to_string(), "latency_seconds_bucket".to_string());
        assert_eq!(ExploreView::from_query(&q).agg, "p95");
    }

    #[test]
    fn counters_are_charted_as_rates_unless_the_view_says_otherwise() {
        let mut q = ParamsMap::new();
        q.insert("metric".to_string(), "requests_total".to_string());
        assert_eq!(ExploreView::from_query(&q).agg, "rate");
        q.insert("agg".to_string(), "max".to_string());
        assert_eq!(ExploreView::from_query(&q).agg, "max");
        q.insert("metric".to_string(), "queue_depth".to_string());
        q.remove("agg");
        assert_eq!(ExploreView::from_query(&q).agg, "avg");
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
}
