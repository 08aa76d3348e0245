//! The sources page: every source with its health (status, kind, target, interval, last scrape, last success, last
//! duration, samples in the last round, last error). Admins also get a form to add or change runtime sources, to
//! try a definition ("Test"), and buttons to enable, disable and delete them; sources of `mcpulse.toml` and the
//! built-in ones are shown read-only. The list renders on the server; the controls work once hydrated.

use crate::api::{delete_source, sources, test_source, update_source, SaveSource};
use crate::error::AppError;
use crate::forms::{format_lines, format_pairs, SourceFields};
use crate::pages::{status_badge, time_of_day, FormErrors, SignedIn, Topbar};
use crate::types::{
    Role, SourceDefinition, SourceOrigin, SourceStatus, SourceTestResult, UserInfo,
};
use leptos::prelude::*;
use leptos::server_fn::ServerFn as _;
use leptos_router::{lazy_route, LazyRoute};
use std::collections::BTreeMap;

/// The page's resources and the signals they follow, created once when the route renders (see
/// [`SignedIn`](crate::pages::SignedIn) for why never later).
pub struct SourcesData {
    version: RwSignal<u32>,
    list: Resource<Result<Vec<SourceStatus>, AppError>>,
}

/// The page as a lazy route: in the browser its code — the view and the page's resources with their decoders — is
/// a separate WASM chunk, fetched when the page is first visited, so the first load carries only the dashboard
/// and sign-in.
pub struct SourcesRoute;

#[lazy_route]
impl LazyRoute for SourcesRoute {
    fn data() -> Self {
        SourcesRoute
    }

    fn view(route: Self) -> AnyView {
        let _ = route;
        // The resources are created here, once, when the route renders (never inside the `SignedIn` suspense; see
        // there why): the same place on the server and in the browser.
        let this = SourcesData::new();
        let SourcesData { version, list } = this;
        view! { <SignedIn title="Sources" page=move |user| view! { <Sources user version list/> }/> }.into_any()
    }
}

impl SourcesData {
    fn new() -> Self {
        // Bumped after every change, to fetch the list again.
        let version = RwSignal::new(0u32);
        let list = Resource::new(move || version.get(), |_| sources());
        SourcesData { version, list }
    }
}

/// The form's fields, as text the user edits.
#[derive(Clone, Copy)]
struct Form {
    /// `Some(id)` while changing source `id`; `None` while adding one.
    editing: RwSignal<Option<String>>,
    id: RwSignal<String>,
    name: RwSignal<String>,
    target: RwSignal<String>,
    interval: RwSignal<String>,
    timeout: RwSignal<String>,
    /// `name=value` pairs separated by commas.
    labels: RwSignal<String>,
    enabled: RwSignal<bool>,
    /// `prometheus` or `mcp`.
    kind: RwSignal<String>,
    /// MCP over stdio: one argument per line.
    args: RwSignal<String>,
    /// MCP over stdio: `NAME=value` per line.
    env: RwSignal<String>,
    /// MCP over HTTP: `Name: value` per line.
    headers: RwSignal<String>,
    /// MCP: `tool {"json": "arguments"}` per line.
    calls: RwSignal<String>,
    /// A problem found before sending (field, message).
    local_error: FormErrors,
}

impl Form {
    fn new() -> Self {
        Form {
            editing: RwSignal::new(None),
            id: RwSignal::new(String::new()),
            name: RwSignal::new(String::new()),
            target: RwSignal::new(String::new()),
            interval: RwSignal::new(String::new()),
            timeout: RwSignal::new(String::new()),
            labels: RwSignal::new(String::new()),
            enabled: RwSignal::new(true),
            kind: RwSignal::new("prometheus".into()),
            args: RwSignal::new(String::new()),
            env: RwSignal::new(String::new()),
            headers: RwSignal::new(String::new()),
            calls: RwSignal::new(String::new()),
            local_error: FormErrors::new(),
        }
    }

    fn fill(&self, def: &SourceDefinition) {
        self.editing.set(Some(def.id.clone()));
        self.id.set(def.id.clone());
        self.name.set(def.name.clone());
        self.target.set(def.target.clone());
        self.interval.set(def.interval.clone());
        self.timeout.set(def.timeout.clone());
        self.labels.set(format_pairs(&def.labels));
        self.enabled.set(def.enabled);
        self.kind.set(def.kind.clone());
        self.args.set(def.args.join("\n"));
        self.env.set(format_lines(&def.env, "="));
        self.headers.set(format_lines(&def.headers, ": "));
        self.calls.set(
            def.calls
                .iter()
                .map(|c| format!("{} {}", c.tool, c.arguments).trim().to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        );
        self.local_error.set(None);
    }

    fn clear(&self) {
        let kind = self.kind.get_untracked();
        self.fill(&SourceDefinition {
            id: String::new(),
            name: String::new(),
            kind,
            target: String::new(),
            interval: String::new(),
            timeout: String::new(),
            labels: BTreeMap::new(),
            enabled: true,
            args: Vec::new(),
            env: BTreeMap::new(),
            headers: BTreeMap::new(),
            calls: Vec::new(),
        });
        self.editing.set(None);
    }

    /// The form's fields as the browser would post them.
    fn fields(&self) -> SourceFields {
        SourceFields {
            editing: self.editing.get_untracked().unwrap_or_default(),
            id: self.id.get_untracked(),
            name: self.name.get_untracked(),
            kind: self.kind.get_untracked(),
            target: self.target.get_untracked(),
            interval: self.interval.get_untracked(),
            timeout: self.timeout.get_untracked(),
            labels: self.labels.get_untracked(),
            enabled: self.enabled.get_untracked(),
            args: self.args.get_untracked(),
            env: self.env.get_untracked(),
            headers: self.headers.get_untracked(),
            calls: self.calls.get_untracked(),
        }
    }
}

impl Form {
    fn is_mcp(&self) -> bool {
        self.kind.get() == "mcp"
    }
}

#[component]
fn Sources(
    user: UserInfo,
    version: RwSignal<u32>,
    list: Resource<Result<Vec<SourceStatus>, AppError>>,
) -> impl IntoView {
    let admin = user.role >= Role::Admin;
    // Health, last scrape and errors follow the rounds as they happen.
    crate::pages::follow_rounds(version, 5_000);
    let form = Form::new();
    // `?kind=mcp` (the MCP page's "Add an MCP server") starts the form on that kind — once hydrated, so the page
    // hydrates exactly what the server rendered (the MCP fields' textareas appear in the browser).
    let query = leptos_router::hooks::use_query_map();
    Effect::new(move |_| {
        if query.with_untracked(|q| q.get("kind").as_deref() == Some("mcp")) {
            form.kind.set("mcp".into());
        }
    });

    // The form posts to `source_save` itself before the page is interactive; a problem it met then comes back in
    // the URL, and this action shows it.
    let save = ServerAction::<SaveSource>::new();
    let toggle = Action::new(|def: &SourceDefinition| {
        let def = def.clone();
        async move { update_source(def.id.clone(), def).await }
    });
    let remove = Action::new(|id: &String| delete_source(id.clone()));
    let try_it = Action::new(|def: &SourceDefinition| test_source(def.clone()));
    // The source whose deletion waits for a confirmation.
    let confirming = RwSignal::new(None::<String>);

    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            form.clear();
            version.update(|v| *v += 1);
        }
    });
    Effect::new(move |_| {
        if toggle.value().with(|v| matches!(v, Some(Ok(_))))
            || remove.value().with(|v| matches!(v, Some(Ok(_))))
        {
            confirming.set(None);
            version.update(|v| *v += 1);
        }
    });

    let rows = move || {
        Suspend::new(async move {
            match list.await {
                Ok(all) => all
                    .into_iter()
                    .map(|s| view! { <SourceRow s admin form toggle remove confirming/> })
                    .collect_view()
                    .into_any(),
                Err(e) => {
                    view! { <tr><td colspan="11" class="form-error">{e.to_string()}</td></tr> }
                        .into_any()
                }
            }
        })
    };
    let row_error = move || {
        let e = toggle.value().with(|v| v.clone().and_then(Result::err));
        e.or_else(|| remove.value().with(|v| v.clone().and_then(Result::err)))
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    };

    view! {
        <Topbar user/>
        <main id="main" class="page">
            <div class="page-head">
                <h1>"Sources"</h1>
                <p class="muted">
                    "Where mcpulse collects metrics from. Sources of " <code>"mcpulse.toml"</code>
                    " are read-only here; change them in the file."
                </p>
            </div>
            <section class="card">
                <h2>
                    "All sources "
                    <button type="button" class="secondary" on:click=move |_| version.update(|v| *v += 1)>"Refresh"</button>
                </h2>
                {row_error}
                <div class="table-scroll">
                    <table class="sources">
                        <thead>
                            <tr>
                                <th scope="col">"Source"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col">"Kind"</th>
                                <th scope="col">"Target"</th>
                                <th scope="col">"Interval"</th>
                                <th scope="col">"Last scrape"</th>
                                <th scope="col">"Last success"</th>
                                <th scope="col">"Duration"</th>
                                <th scope="col">"Samples"</th>
                                <th scope="col">"Last error"</th>
                                {admin.then(|| view! { <th scope="col">"Actions"</th> })}
                            </tr>
                        </thead>
                        <tbody>
                            <Transition fallback=|| view! { <tr><td colspan="11" class="muted">"Loading…"</td></tr> }>
                                {rows}
                            </Transition>
                        </tbody>
                    </table>
                </div>
            </section>
            {admin.then(|| view! { <SourceForm form save try_it/> })}
        </main>
    }
    .into_any()
}

type SaveAction = ServerAction<SaveSource>;

#[component]
fn SourceRow(
    s: SourceStatus,
    admin: bool,
    form: Form,
    toggle: Action<SourceDefinition, Result<SourceStatus, AppError>>,
    remove: Action<String, Result<(), AppError>>,
    confirming: RwSignal<Option<String>>,
) -> impl IntoView {
    let target = s
        .definition
        .as_ref()
        .map(|d| d.target.clone())
        .unwrap_or_else(|| s.description.clone());
    let interval = if s.interval_secs > 0.0 {
        format!("{}s", s.interval_secs)
    } else {
        "pushed".into()
    };
    let actions = admin.then(|| {
        let controls = match (s.origin, s.definition.clone()) {
            (SourceOrigin::Runtime, Some(def)) => {
                let id = s.id.clone();
                let asking = {
                    let id = id.clone();
                    move || confirming.get().as_deref() == Some(id.as_str())
                };
                let (edit_def, flip_def) = (def.clone(), def.clone());
                let flip_label = if def.enabled { "Disable" } else { "Enable" };
                let (ask_id, yes_id) = (id.clone(), id.clone());
                view! {
                    <div class="row-actions">
                        <button type="button" class="secondary" data-action="edit"
                            on:click=move |_| form.fill(&edit_def)>"Edit"</button>
                        <button type="button" class="secondary" data-action="toggle"
                            on:click=move |_| {
                                let mut def = flip_def.clone();
                                def.enabled = !def.enabled;
                                toggle.dispatch(def);
                            }>{flip_label}</button>
                        <Show when=asking.clone() fallback=move || {
                            let ask_id = ask_id.clone();
                            view! {
                                <button type="button" class="secondary danger" data-action="delete"
                                    on:click=move |_| confirming.set(Some(ask_id.clone()))>"Delete"</button>
                            }
                        }>
                            <span class="confirm" role="group" aria-label="Confirm deletion">
                                "Delete " <code>{id.clone()}</code> "?"
                                <button type="button" class="secondary danger" data-action="confirm-delete"
                                    on:click={
                                        let yes_id = yes_id.clone();
                                        move |_| { remove.dispatch(yes_id.clone()); }
                                    }>"Yes, delete"</button>
                                <button type="button" class="secondary"
                                    on:click=move |_| confirming.set(None)>"Keep"</button>
                            </span>
                        </Show>
                    </div>
                }
                .into_any()
            }
            (SourceOrigin::Config, _) => view! { <span class="muted small">"mcpulse.toml"</span> }.into_any(),
            (origin, _) => view! { <span class="muted small">{origin.as_str()}</span> }.into_any(),
        };
        view! { <td>{controls}</td> }
    });
    view! {
        <tr data-source=s.id.clone() data-origin=s.origin.as_str()>
            <td><strong>{s.name.clone()}</strong> " " <code class="muted">{s.id.clone()}</code></td>
            <td>{status_badge(&s)}</td>
            <td>{s.kind.clone()}</td>
            <td class="target"><code>{target}</code></td>
            <td>{interval}</td>
            <td class="muted">{time_of_day(s.last_scrape)}</td>
            <td class="muted">{time_of_day(s.last_success)}</td>
            <td class="muted">{s.last_duration_ms.map(|ms| format!("{ms:.0} ms")).unwrap_or_else(|| "–".into())}</td>
            <td>{s.last_samples}</td>
            <td class="error-text">{s.last_error.clone().unwrap_or_default()}</td>
            {actions}
        </tr>
    }
    .into_any()
}

/// The add/change form. Problems the server names by field are shown next to that field.
#[component]
fn SourceForm(
    form: Form,
    save: SaveAction,
    try_it: Action<SourceDefinition, Result<SourceTestResult, AppError>>,
) -> impl IntoView {
    let pending = save.pending();
    let testing = try_it.pending();
    // The problem with `field`, found locally or by the server's last answer.
    let problem = move |field: &'static str| {
        crate::pages::field_error(
            save.value(),
            form.local_error,
            field,
            format!("{field}-error"),
        )
    };
    let other_error = crate::pages::other_error(save.value(), FIELDS);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.local_error.set(None);
        save.dispatch(SaveSource {
            form: form.fields(),
        });
    };
    let test = move |_| {
        form.local_error.set(None);
        match form.fields().definition() {
            Ok((_, def)) => {
                try_it.dispatch(def);
            }
            Err(e) => form.local_error.set(
                e.problems()
                    .into_iter()
                    .next()
                    .map(|p| (p.field, p.message)),
            ),
        }
    };
    let test_result = move || {
        try_it.value().get().map(|r| match r {
            Ok(r) if r.ok => view! {
                <p class="test-result ok" role="status" data-ok="true">
                    {format!("Reached in {:.0} ms: {} samples", r.duration_ms, r.samples)}
                    {(!r.metric_names.is_empty()).then(|| format!(" ({}{})", r.metric_names.join(", "), if r.samples > r.metric_names.len() { ", …" } else { "" }))}
                </p>
            }
            .into_any(),
            Ok(r) => view! {
                <p class="test-result down" role="status" data-ok="false">
                    {format!("Failed after {:.0} ms: {}", r.duration_ms, r.error.unwrap_or_default())}
                </p>
            }
            .into_any(),
            Err(e) => view! { <p class="test-result down" role="status">{e.to_string()}</p> }.into_any(),
        })
    };
    let heading = move || match form.editing.get() {
        Some(id) => format!("Change source {id}"),
        None => "Add a source".to_string(),
    };
    let described = |field: &'static str| format!("{field}-error");
    let bad = move |field: &'static str| {
        crate::pages::field_invalid(save.value(), form.local_error, field)
    };

    view! {
        <section class="card">
            <h2>{heading}</h2>
            <form id="source-form" class="source-form" method="post" action=SaveSource::url() on:submit=submit on:input=move |ev| form.local_error.edited(&ev) on:change=move |ev| form.local_error.edited(&ev) novalidate>
                <input type="hidden" name="form[editing]" prop:value=move || form.editing.get().unwrap_or_default()/>
                <div class="field">
                    <label for="source-id">"Id"</label>
                    <input id="source-id" name="form[id]" type="text" required placeholder="search-mcp"
                        aria-describedby=described("id") aria-invalid=move || bad("id").get().then_some("true")
                        prop:value=move || form.id.get() on:input=move |ev| form.id.set(event_target_value(&ev))
                        prop:disabled=move || form.editing.get().is_some()/>
                    {problem("id")}
                </div>
                <div class="field">
                    <label for="source-name">"Name " <span class="muted">"(optional)"</span></label>
                    <input id="source-name" name="form[name]" type="text" aria-describedby=described("name") aria-invalid=move || bad("name").get().then_some("true")
                        prop:value=move || form.name.get() on:input=move |ev| form.name.set(event_target_value(&ev))/>
                    {problem("name")}
                </div>
                <div class="field">
                    <label for="source-kind">"Kind"</label>
                    <select id="source-kind" name="form[kind]" aria-describedby=described("kind") aria-invalid=move || bad("kind").get().then_some("true")
                        prop:value=move || form.kind.get() on:change=move |ev| form.kind.set(event_target_value(&ev))
                        prop:disabled=move || form.editing.get().is_some()>
                        <option value="prometheus">"prometheus (scrape an endpoint)"</option>
                        <option value="mcp" selected=move || form.kind.get() == "mcp">"mcp (probe an MCP server)"</option>
                    </select>
                    {problem("kind")}
                </div>
                <div class="field wide">
                    <label for="source-target">
                        {move || if form.is_mcp() { "Server URL or command" } else { "Target URL" }}
                    </label>
                    <input id="source-target" name="form[target]" type="text" required
                        placeholder=move || if form.is_mcp() { "http://search-mcp:8000/mcp  or  npx" } else { "http://search-mcp:9464/metrics" }
                        aria-describedby=described("target") aria-invalid=move || bad("target").get().then_some("true")
                        prop:value=move || form.target.get() on:input=move |ev| form.target.set(event_target_value(&ev))/>
                    {problem("target")}
                </div>
                <Show when=move || form.is_mcp()>
                    <div class="field">
                        <label for="source-args">"Arguments " <span class="muted">"(stdio; one per line)"</span></label>
                        <textarea id="source-args" name="form[args]" rows="3" placeholder="-y\n@modelcontextprotocol/server-everything"
                            aria-describedby=described("args") aria-invalid=move || bad("args").get().then_some("true")
                            prop:value=move || form.args.get() on:input=move |ev| form.args.set(event_target_value(&ev))></textarea>
                        {problem("args")}
                    </div>
                    <div class="field">
                        <label for="source-env">"Environment " <span class="muted">"(stdio; NAME=value per line)"</span></label>
                        <textarea id="source-env" name="form[env]" rows="3" aria-describedby=described("env") aria-invalid=move || bad("env").get().then_some("true")
                            prop:value=move || form.env.get() on:input=move |ev| form.env.set(event_target_value(&ev))></textarea>
                        {problem("env")}
                    </div>
                    <div class="field">
                        <label for="source-headers">"Headers " <span class="muted">"(HTTP; Name: value per line)"</span></label>
                        <textarea id="source-headers" name="form[headers]" rows="3" placeholder="Authorization: Bearer …"
                            aria-describedby=described("headers") aria-invalid=move || bad("headers").get().then_some("true")
                            prop:value=move || form.headers.get() on:input=move |ev| form.headers.set(event_target_value(&ev))></textarea>
                        {problem("headers")}
                    </div>
                    <div class="field wide">
                        <label for="source-calls">"Tool calls " <span class="muted">"(each round; one per line: tool {\"json\": \"arguments\"})"</span></label>
                        <textarea id="source-calls" name="form[calls]" rows="3" placeholder="echo {\"message\": \"ping\"}"
                            aria-describedby=described("calls") aria-invalid=move || bad("calls").get().then_some("true")
                            prop:value=move || form.calls.get() on:input=move |ev| form.calls.set(event_target_value(&ev))></textarea>
                        {problem("calls")}
                    </div>
                </Show>
                <div class="field">
                    <label for="source-interval">"Interval " <span class="muted">"(e.g. 15s)"</span></label>
                    <input id="source-interval" name="form[interval]" type="text" placeholder="default"
                        aria-describedby=described("interval") aria-invalid=move || bad("interval").get().then_some("true")
                        prop:value=move || form.interval.get() on:input=move |ev| form.interval.set(event_target_value(&ev))/>
                    {problem("interval")}
                </div>
                <div class="field">
                    <label for="source-timeout">"Timeout " <span class="muted">"(at most the interval)"</span></label>
                    <input id="source-timeout" name="form[timeout]" type="text" placeholder="the interval"
                        aria-describedby=described("timeout") aria-invalid=move || bad("timeout").get().then_some("true")
                        prop:value=move || form.timeout.get() on:input=move |ev| form.timeout.set(event_target_value(&ev))/>
                    {problem("timeout")}
                </div>
                <div class="field wide">
                    <label for="source-labels">"Labels " <span class="muted">"(name=value, comma-separated)"</span></label>
                    <input id="source-labels" name="form[labels]" type="text" placeholder="team=search, env=prod"
                        aria-describedby=described("labels") aria-invalid=move || bad("labels").get().then_some("true")
                        prop:value=move || form.labels.get() on:input=move |ev| form.labels.set(event_target_value(&ev))/>
                    {problem("labels")}
                </div>
                <div class="field check">
                    <input id="source-enabled" name="form[enabled]" type="checkbox" checked=form.enabled.get_untracked()
                        prop:checked=move || form.enabled.get() on:change=move |ev| form.enabled.set(event_target_checked(&ev))/>
                    <label for="source-enabled">"Collect it (enabled)"</label>
                </div>
                {other_error}
                <div class="form-actions">
                    <button type="submit" disabled=pending>
                        {move || match (pending.get(), form.editing.get().is_some()) {
                            (true, _) => "Saving…",
                            (false, true) => "Save changes",
                            (false, false) => "Add source",
                        }}
                    </button>
                    <button type="button" class="secondary" data-action="test" on:click=test disabled=testing>
                        {move || if testing.get() { "Testing…" } else { "Test" }}
                    </button>
                    <Show when=move || form.editing.get().is_some()>
                        <button type="button" class="secondary" on:click=move |_| form.clear()>"Cancel"</button>
                    </Show>
                </div>
                {test_result}
            </form>
        </section>
    }
    .into_any()
}

/// The form's fields, which show their own problems.
const FIELDS: &[&str] = &[
    "id", "name", "kind", "target", "interval", "timeout", "labels", "args", "env", "headers",
    "calls",
];
