//! The MCP page: every probed MCP server (sources of kind `mcp`) with its health, what it says it is (name,
//! version, protocol), its tools with per-tool call count, error rate and p50/p95/p99 latency over a chosen window,
//! the latency of the protocol methods (`initialize`, `ping`, `tools/list` …), and the history of its tool schemas.
//! Data comes from the `mcp_servers` server function; admins get a link to add a probe on the sources page.

use crate::api::mcp_servers;
use crate::pages::{status_badge, time_of_day, SignedIn, Topbar};
use crate::types::{McpOperationStats, McpServerView, Role, UserInfo};
use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

/// The page's resources and the signals they follow, created once when the route renders (see
/// [`SignedIn`](crate::pages::SignedIn) for why never later).
#[derive(Clone, Copy)]
pub struct McpData {
    window: RwSignal<String>,
    version: RwSignal<u32>,
    list: Resource<Result<Vec<McpServerView>, crate::error::AppError>>,
}

/// The page as a lazy route: in the browser its code — the view and the page's resources with their decoders — is
/// a separate WASM chunk, fetched when the page is first visited, so the first load carries only the dashboard
/// and sign-in.
pub struct McpRoute;

#[lazy_route]
impl LazyRoute for McpRoute {
    fn data() -> Self {
        McpRoute
    }

    fn view(route: Self) -> AnyView {
        let _ = route;
        // The resources are created here, once, when the route renders (never inside the `SignedIn` suspense; see
        // there why): the same place on the server and in the browser.
        let this = McpData::new();
        view! { <SignedIn title="MCP servers" page=move |user| view! { <McpServers user data=this/> }/> }
            .into_any()
    }
}

impl McpData {
    fn new() -> Self {
        let window = RwSignal::new("1h".to_string());
        let version = RwSignal::new(0u32);
        let list = Resource::new(
            move || (window.get(), version.get()),
            |(w, _)| mcp_servers(w),
        );
        McpData {
            window,
            version,
            list,
        }
    }
}

#[component]
fn McpServers(user: UserInfo, data: McpData) -> impl IntoView {
    let admin = user.role >= Role::Admin;
    let McpData {
        window,
        version,
        list,
    } = data;
    // Statistics, health and tool lists follow the probe rounds as they happen.
    crate::pages::follow_rounds(version, 10_000);
    let body = move || {
        Suspend::new(async move {
            match list.await {
                Ok(servers) if servers.is_empty() => view! {
                    <section class="card">
                        <p class="muted">
                            "No MCP server is probed yet. Add a source of kind " <code>"mcp"</code>
                            " with the server's URL (Streamable HTTP) or the command that starts it (stdio)."
                        </p>
                    </section>
                }
                .into_any(),
                Ok(servers) => servers
                    .into_iter()
                    .map(|s| view! { <ServerCard s/> })
                    .collect_view()
                    .into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
            }
        })
    };
    view! {
        <Topbar user/>
        <main id="main" class="page">
            <div class="page-head">
                <h1>"MCP servers"</h1>
                <p class="muted">
                    "Servers mcpulse probes over the Model Context Protocol: every round it pings them, lists their tools and calls the tools you chose."
                </p>
            </div>
            <div class="toolbar">
                <label for="mcp-window">"Window"</label>
                <select id="mcp-window" on:change=move |ev| window.set(event_target_value(&ev))>
                    <option value="1h" selected>"last hour"</option>
                    <option value="24h">"last 24 hours"</option>
                    <option value="7d">"last 7 days"</option>
                </select>
                <button type="button" class="secondary" on:click=move |_| version.update(|v| *v += 1)>"Refresh"</button>
                {admin.then(|| view! { <a class="button" href="/sources?kind=mcp">"Add an MCP server"</a> })}
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>{body}</Transition>
        </main>
    }
    .into_any()
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| {
        if v < 10.0 {
            format!("{v:.1} ms")
        } else {
            format!("{v:.0} ms")
        }
    })
    .unwrap_or_else(|| "–".into())
}

fn stat_cells(s: Option<&McpOperationStats>) -> impl IntoView {
    match s {
        Some(s) => {
            let rate = s.error_rate();
            let class = if s.errors > 0 { "error-text" } else { "" };
            view! {
                <td class="num">{s.calls}</td>
                <td class=format!("num {class}") title=s.top_error.clone().unwrap_or_default()>
                    {format!("{rate:.1} %")}
                    {s.top_error.clone().map(|e| view! { " " <span class="muted small">{format!("({e})")}</span> })}
                </td>
                <td class="num">{ms(s.p50_ms)}</td>
                <td class="num">{ms(s.p95_ms)}</td>
                <td class="num">{ms(s.p99_ms)}</td>
            }
            .into_any()
        }
        None => view! { <td class="muted" colspan="5">"not called by the probe"</td> }.into_any(),
    }
}

#[component]
fn ServerCard(s: McpServerView) -> impl IntoView {
    let id = s.source.id.clone();
    let identity = match (&s.server_name, &s.server_version) {
        (Some(n), Some(v)) => format!("{n} {v}"),
        (Some(n), None) => n.clone(),
        _ => "not reached yet".into(),
    };
    let transport = s.source.description.clone();
    let tools = s
        .tools
        .iter()
        .map(|t| {
            view! {
                <tr data-tool=t.name.clone()>
                    <th scope="row"><code>{t.name.clone()}</code></th>
                    <td class="muted">{t.description.clone().unwrap_or_default()}</td>
                    {stat_cells(t.stats.as_ref())}
                </tr>
            }
        })
        .collect_view();
    let methods = s
        .operations
        .iter()
        .filter(|o| o.method != "tools/call")
        .map(|o| {
            view! {
                <tr data-method=o.method.clone()>
                    <th scope="row"><code>{o.method.clone()}</code></th>
                    {stat_cells(Some(o))}
                </tr>
            }
        })
        .collect_view();
    let history = s
        .history
        .iter()
        .map(|v| {
            let mut what = Vec::new();
            if !v.added.is_empty() {
                what.push(format!("added {}", v.added.join(", ")));
            }
            if !v.removed.is_empty() {
                what.push(format!("removed {}", v.removed.join(", ")));
            }
            if !v.changed.is_empty() {
                what.push(format!("changed {}", v.changed.join(", ")));
            }
            let what = if what.is_empty() {
                format!("first seen with {} tools", v.tools)
            } else {
                what.join("; ")
            };
            let day = v.seen_at.format("%Y-%m-%d").to_string();
            view! {
                <li data-hash=v.hash.clone()>
                    <span class="muted">{day} " " {time_of_day(Some(v.seen_at))}</span>
                    " — " {what} " " <code class="muted small">{v.hash.clone()}</code>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="card mcp-server" data-source=id.clone()>
            <h2>
                {s.source.name.clone()} " " {status_badge(&s.source)}
            </h2>
            <p class="muted">
                <strong>{identity}</strong>
                {s.protocol_version.clone().map(|p| format!(" · protocol {p}"))}
                " · " {transport}
                " · last round " {time_of_day(s.source.last_scrape)}
                {s.source.last_duration_ms.map(|d| format!(" ({d:.0} ms)"))}
            </p>
            {s.source.last_error.clone().map(|e| view! { <p class="error-text" role="status">{e}</p> })}
            <h3>"Tools"</h3>
            <div class="table-scroll">
                <table class="mcp-tools">
                    <thead>
                        <tr>
                            <th scope="col">"Tool"</th>
                            <th scope="col">"Description"</th>
                            <th scope="col" class="num">"Calls"</th>
                            <th scope="col" class="num">"Errors"</th>
                            <th scope="col" class="num">"p50"</th>
                            <th scope="col" class="num">"p95"</th>
                            <th scope="col" class="num">"p99"</th>
                        </tr>
                    </thead>
                    <tbody>{tools}</tbody>
                </table>
            </div>
            <h3>"Protocol methods"</h3>
            <div class="table-scroll">
                <table class="mcp-methods">
                    <thead>
                        <tr>
                            <th scope="col">"Method"</th>
                            <th scope="col" class="num">"Requests"</th>
                            <th scope="col" class="num">"Errors"</th>
                            <th scope="col" class="num">"p50"</th>
                            <th scope="col" class="num">"p95"</th>
                            <th scope="col" class="num">"p99"</th>
                        </tr>
                    </thead>
                    <tbody>{methods}</tbody>
                </table>
            </div>
            <h3>"Tool schema history"</h3>
            <ul class="schema-history">{history}</ul>
            <p class="small">
                <a href=format!("/explore?metric=mcp_probe_latency_ms&sources={id}&group=series")>"Latency in Explore"</a>
            </p>
        </section>
    }
}
