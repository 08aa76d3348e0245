//! The alerts page: current alerts (pending, firing, resolved) with acknowledge and silence-from-alert, recent
//! history, the alert rules with their state, and silences; editors create, change, clone, enable/disable and
//! delete rules in a form that shows the server's verdict per field, with a preview chart of the rule's metric over
//! the last six hours, its threshold and a backtest shading when it would have fired. Admins also manage contact
//! points (receivers, routing by severity and labels, escalation steps).
//!
//! Data comes from the server functions of `api` (list, create, update, delete); the page listens on `/ws` and
//! fetches the lists again whenever the server announces an alert change.

use crate::api::{
    acknowledge_alert, alert_history, backtest_rule, delete_contact_point, delete_rule,
    delete_silence, list_alerts, list_contact_points, list_rules, list_silences, preview_silence,
    test_contact_point, update_rule, SaveContactPoint, SaveRule, SaveSilence,
};
use crate::chart::{Chart, ChartSeries};
use crate::error::AppError;
use crate::forms::{ContactFields, RuleFields, SilenceFields};
use crate::live::use_live;
use crate::pages::{
    date_time, field_error, field_invalid, format_pairs, other_error, split_list, time_of_day,
    FormErrors, SelectField, SignedIn, TextField, Topbar,
};
use crate::types::{
    format_value, unit_of, AlertInfo, ContactPointDraft, ContactPointInfo, Role, RuleDraft,
    RuleInfo, SilenceInfo, UserInfo, BACKTEST_HOURS,
};
use leptos::prelude::*;
use leptos::server_fn::ServerFn as _;
use leptos_router::{lazy_route, LazyRoute};

/// The page's resources and the signals they follow, created once when the route renders (see
/// [`SignedIn`](crate::pages::SignedIn) for why never later).
#[derive(Clone, Copy)]
pub struct AlertsData {
    version: Version,
    alerts: Resource<Result<Vec<AlertInfo>, AppError>>,
    rules: Resource<Result<Vec<RuleInfo>, AppError>>,
    silences: Resource<Result<Vec<SilenceInfo>, AppError>>,
    history: Resource<Result<Vec<crate::types::AlertEvent>, AppError>>,
    contacts_version: Version,
    /// Admins only (for others the server refuses and nothing shows it).
    contacts: Resource<Result<Vec<ContactPointInfo>, AppError>>,
}

/// The page as a lazy route: in the browser its code — the view and the page's resources with their decoders — is
/// a separate WASM chunk, fetched when the page is first visited, so the first load carries only the dashboard
/// and sign-in.
pub struct AlertsRoute;

#[lazy_route]
impl LazyRoute for AlertsRoute {
    fn data() -> Self {
        AlertsRoute
    }

    fn view(route: Self) -> AnyView {
        let _ = route;
        // The resources are created here, once, when the route renders (never inside the `SignedIn` suspense; see
        // there why): the same place on the server and in the browser.
        let this = AlertsData::new();
        view! { <SignedIn title="Alerts" page=move |user| view! { <Alerts user data=this/> }/> }
            .into_any()
    }
}

impl AlertsData {
    fn new() -> Self {
        let version: Version = RwSignal::new(0);
        let contacts_version: Version = RwSignal::new(0);
        AlertsData {
            version,
            alerts: Resource::new(move || version.get(), |_| list_alerts()),
            rules: Resource::new(move || version.get(), |_| list_rules()),
            silences: Resource::new(move || version.get(), |_| list_silences()),
            history: Resource::new(move || version.get(), |_| alert_history(None, 50)),
            contacts_version,
            contacts: Resource::new(move || contacts_version.get(), |_| list_contact_points()),
        }
    }
}

/// Bumped after every change (ours, or announced by the server) to fetch the lists again.
type Version = RwSignal<u32>;

#[component]
fn Alerts(user: UserInfo, data: AlertsData) -> impl IntoView {
    let editor = user.role >= Role::Editor;
    let admin = user.role >= Role::Admin;
    let AlertsData {
        version,
        alerts,
        rules,
        silences,
        history,
        contacts_version,
        contacts,
    } = data;
    let live = use_live();
    Effect::new(move |_| {
        if live.alerts.get().is_some() {
            version.update(|v| *v += 1);
        }
    });
    let rule_form = RuleForm::new();
    let silence_form = SilenceForm::new();

    view! {
        <Topbar user/>
        <main id="main" class="page">
            <div class="page-head">
                <h1>"Alerts"</h1>
                <p class="muted">"Rules are evaluated continuously; changes appear here as they happen."</p>
            </div>
            <section class="card" aria-labelledby="current-alerts">
                <h2 id="current-alerts">"Current alerts"</h2>
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match alerts.await {
                            Ok(list) => view! { <AlertTable list editor version silence_form/> }.into_any(),
                            Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
            <section class="card" aria-labelledby="rules-heading">
                <h2 id="rules-heading">"Rules"</h2>
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let active = alerts.await.unwrap_or_default();
                        match rules.await {
                            Ok(list) => view! { <RuleTable list active editor version form=rule_form/> }.into_any(),
                            Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
            {editor.then(|| view! { <RuleEditor form=rule_form version/> })}
            <section class="card" aria-labelledby="silences-heading">
                <h2 id="silences-heading">"Silences"</h2>
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match silences.await {
                            Ok(list) => view! { <SilenceTable list editor version form=silence_form/> }.into_any(),
                            Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
                {editor.then(|| view! { <SilenceEditor form=silence_form version/> })}
            </section>
            <section class="card" aria-labelledby="history-heading">
                <h2 id="history-heading">"History " <span class="muted small">"latest 50 changes"</span></h2>
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match history.await {
                            Ok(events) if events.is_empty() => view! { <p class="muted">"Nothing has happened yet."</p> }.into_any(),
                            Ok(events) => view! {
                                <div class="table-scroll">
                                    <table class="sources history">
                                        <thead><tr><th scope="col">"When"</th><th scope="col">"Rule"</th><th scope="col">"State"</th><th scope="col">"Notice"</th><th scope="col">"Source"</th><th scope="col">"Value"</th></tr></thead>
                                        <tbody>
                                            {events.into_iter().map(|e| view! {
                                                <tr data-rule=e.rule_name.clone() data-state=e.state.clone()>
                                                    <td class="muted">{date_time(Some(e.at))}</td>
                                                    <td>{e.rule_name.clone()}</td>
                                                    <td><span class=format!("badge {}", e.state)>{e.state.clone()}</span></td>
                                                    <td>{e.notice.clone().unwrap_or_default()}</td>
                                                    <td><code>{e.source.clone()}</code></td>
                                                    <td>{e.value.map(|v| format_value(v, unit_of(&e.metric))).unwrap_or_else(|| "–".into())}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }.into_any(),
                            Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
            {admin.then(|| view! { <ContactPoints version=contacts_version list=contacts/> })}
        </main>
    }
    .into_any()
}

/// Current alerts, firing first. Editors acknowledge them or start a silence from them.
#[component]
fn AlertTable(
    list: Vec<AlertInfo>,
    editor: bool,
    version: Version,
    silence_form: SilenceForm,
) -> impl IntoView {
    let ack = Action::new(|key: &(i64, i64)| acknowledge_alert(key.0, key.1));
    Effect::new(move |_| {
        if let Some(Ok(())) = ack.value().get() {
            version.update(|v| *v += 1);
        }
    });
    if list.is_empty() {
        return view! { <p class="muted" data-empty="">"No alerts: nothing is pending, firing or recently resolved."</p> }.into_any();
    }
    let rows = list
        .into_iter()
        .map(|a| {
            let labels = format_pairs(&a.labels);
            let unit = unit_of(&a.metric);
            let actions = editor.then(|| {
                let key = (a.rule_id, a.series_id);
                let can_ack = a.is_active() && a.acknowledged_at.is_none();
                let matchers = format!("alertname={}, source={}", a.rule_name, a.source);
                view! {
                    <td>
                        <div class="row-actions">
                            {can_ack.then(|| view! {
                                <button type="button" class="secondary" data-action="ack"
                                    on:click=move |_| { ack.dispatch(key); }>"Acknowledge"</button>
                            })}
                            <button type="button" class="secondary" data-action="silence"
                                on:click=move |_| silence_form.start(&matchers)>"Silence…"</button>
                        </div>
                    </td>
                }
            });
            view! {
                <tr data-rule=a.rule_name.clone() data-state=a.state.clone() data-acknowledged=a.acknowledged_at.is_some().to_string()
                    data-silenced=a.silenced.is_some().to_string()>
                    <td>
                        <strong>{a.rule_name.clone()}</strong>
                        {a.annotations.get("summary").cloned().map(|s| view! { <div class="small muted">{s}</div> })}
                    </td>
                    <td><span class=format!("badge sev-{}", a.severity)>{a.severity.clone()}</span></td>
                    <td>
                        <span class=format!("badge {}", a.state)>{a.state.clone()}</span>
                        {a.flapping.then(|| view! { <span class="badge">"flapping"</span> })}
                        {health_badge(&a.health, a.health_since)}
                        {a.acknowledged_by.clone().map(|by| view! {
                            <div class="small muted" data-acknowledged-by=by.clone()>
                                {format!("acknowledged by {by}{}", a.acknowledged_at.map(|t| format!(" at {}", time_of_day(Some(t)))).unwrap_or_default())}
                            </div>
                        })}
                        {a.silenced.clone().map(|s| view! {
                            <div class="small" data-silenced-by=s.by.clone()>
                                <span class="badge silenced">"silenced"</span>
                                {format!(" by {} until {}{}", s.by, date_time(Some(s.until)),
                                    if s.comment.is_empty() { String::new() } else { format!(" ({})", s.comment) })}
                            </div>
                        })}
                    </td>
                    <td><code>{a.source.clone()}</code> <div class="small muted">{labels}</div></td>
                    <td>{a.value.map(|v| format_value(v, unit)).unwrap_or_else(|| "–".into())}
                        <span class="muted small">{format!(" {} {}", a.condition, a.threshold)}</span></td>
                    <td class="muted">{time_of_day(a.firing_since.or(a.active_since))}</td>
                    <td class="muted">{time_of_day(a.resolved_at)}</td>
                    {actions}
                </tr>
            }
        })
        .collect_view();
    view! {
        {move || ack.value().with(|v| v.clone().and_then(Result::err)).map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })}
        <div class="table-scroll">
            <table class="sources alerts-table">
                <thead>
                    <tr>
                        <th scope="col">"Rule"</th><th scope="col">"Severity"</th><th scope="col">"State"</th>
                        <th scope="col">"Series"</th><th scope="col">"Value"</th><th scope="col">"Since"</th>
                        <th scope="col">"Resolved"</th>
                        {editor.then(|| view! { <th scope="col">"Actions"</th> })}
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The rule form's fields, as text the user edits.
#[derive(Clone, Copy)]
struct RuleForm {
    /// `Some(id)` while changing rule `id`.
    editing: RwSignal<Option<i64>>,
    name: RwSignal<String>,
    description: RwSignal<String>,
    metric: RwSignal<String>,
    sources: RwSignal<String>,
    matchers: RwSignal<String>,
    reduce: RwSignal<String>,
    window: RwSignal<String>,
    condition: RwSignal<String>,
    threshold: RwSignal<String>,
    for_: RwSignal<String>,
    keep_firing_for: RwSignal<String>,
    no_data: RwSignal<String>,
    severity: RwSignal<String>,
    labels: RwSignal<String>,
    summary: RwSignal<String>,
    /// Annotations the form has no field for (e.g. `runbook_url` set through the API), kept as they are.
    other_annotations: StoredValue<std::collections::BTreeMap<String, String>>,
    enabled: RwSignal<bool>,
    local_error: FormErrors,
}

impl RuleForm {
    fn new() -> Self {
        let form = RuleForm {
            editing: RwSignal::new(None),
            name: RwSignal::new(String::new()),
            description: RwSignal::new(String::new()),
            metric: RwSignal::new(String::new()),
            sources: RwSignal::new(String::new()),
            matchers: RwSignal::new(String::new()),
            reduce: RwSignal::new(String::new()),
            window: RwSignal::new(String::new()),
            condition: RwSignal::new(String::new()),
            threshold: RwSignal::new(String::new()),
            for_: RwSignal::new(String::new()),
            keep_firing_for: RwSignal::new(String::new()),
            no_data: RwSignal::new(String::new()),
            severity: RwSignal::new(String::new()),
            labels: RwSignal::new(String::new()),
            summary: RwSignal::new(String::new()),
            other_annotations: StoredValue::new(Default::default()),
            enabled: RwSignal::new(true),
            local_error: FormErrors::new(),
        };
        form.fill(None, &RuleDraft::default());
        form
    }

    fn fill(&self, editing: Option<i64>, d: &RuleDraft) {
        self.editing.set(editing);
        self.name.set(d.name.clone());
        self.description.set(d.description.clone());
        self.metric.set(d.metric.clone());
        self.sources.set(d.sources.join(", "));
        self.matchers.set(d.matchers.join(", "));
        self.reduce.set(d.reduce.clone());
        self.window.set(d.window.clone());
        self.condition.set(d.condition.clone());
        self.threshold.set(d.threshold.clone());
        self.for_.set(d.for_.clone());
        self.keep_firing_for.set(d.keep_firing_for.clone());
        self.no_data.set(d.no_data.clone());
        self.severity.set(d.severity.clone());
        self.labels.set(format_pairs(&d.labels));
        self.summary
            .set(d.annotations.get("summary").cloned().unwrap_or_default());
        let mut others = d.annotations.clone();
        others.remove("summary");
        self.other_annotations.set_value(others);
        self.enabled.set(d.enabled);
        self.local_error.set(None);
    }

    /// The form's fields as the browser would post them.
    fn fields(&self) -> RuleFields {
        RuleFields {
            editing: self
                .editing
                .get_untracked()
                .map(|id| id.to_string())
                .unwrap_or_default(),
            name: self.name.get_untracked(),
            description: self.description.get_untracked(),
            metric: self.metric.get_untracked(),
            sources: self.sources.get_untracked(),
            matchers: self.matchers.get_untracked(),
            reduce: self.reduce.get_untracked(),
            window: self.window.get_untracked(),
            condition: self.condition.get_untracked(),
            threshold: self.threshold.get_untracked(),
            for_: self.for_.get_untracked(),
            keep_firing_for: self.keep_firing_for.get_untracked(),
            no_data: self.no_data.get_untracked(),
            severity: self.severity.get_untracked(),
            labels: self.labels.get_untracked(),
            summary: self.summary.get_untracked(),
            enabled: self.enabled.get_untracked(),
        }
    }

    /// The draft in the form (for the preview), read as the server reads it.
    fn draft(&self) -> Result<RuleDraft, AppError> {
        self.fields()
            .draft(self.other_annotations.get_value())
            .map(|(_, d)| d)
    }
}

/// Every rule with its current alerts. Editors get edit, clone, enable/disable and delete (after a confirmation);
/// rules of `mcpulse.toml` are read-only.
#[component]
fn RuleTable(
    list: Vec<RuleInfo>,
    active: Vec<AlertInfo>,
    editor: bool,
    version: Version,
    form: RuleForm,
) -> impl IntoView {
    let toggle = Action::new(|(id, draft): &(i64, RuleDraft)| update_rule(*id, draft.clone()));
    let remove = Action::new(|id: &i64| delete_rule(*id));
    let confirming = RwSignal::new(None::<i64>);
    Effect::new(move |_| {
        if toggle.value().with(|v| matches!(v, Some(Ok(_))))
            || remove.value().with(|v| matches!(v, Some(Ok(_))))
        {
            confirming.set(None);
            version.update(|v| *v += 1);
        }
    });
    if list.is_empty() {
        return view! { <p class="muted" data-empty="">"No rules yet."</p> }.into_any();
    }
    let rows = list
        .into_iter()
        .map(|r| {
            let firing = active.iter().filter(|a| a.rule_id == r.id && a.state == "firing").count();
            let pending = active.iter().filter(|a| a.rule_id == r.id && a.state == "pending").count();
            let state = if !r.rule.enabled {
                ("disabled", "disabled".to_string())
            } else if r.health == "error" {
                ("error", "error".to_string())
            } else if firing > 0 {
                ("firing", format!("{firing} firing"))
            } else if pending > 0 {
                ("pending", format!("{pending} pending"))
            } else if r.health == "nodata" {
                ("nodata", "no data".to_string())
            } else {
                ("ok", "ok".to_string())
            };
            let d = &r.rule;
            let condition = format!(
                "{}({}) {} {}{}",
                d.reduce,
                d.window,
                d.condition,
                d.threshold,
                if d.for_.is_empty() || d.for_ == "0" { String::new() } else { format!(" for {}", d.for_) }
            );
            let scope = [
                (!d.sources.is_empty()).then(|| d.sources.join(", ")),
                (!d.matchers.is_empty()).then(|| format!("{{{}}}", d.matchers.join(", "))),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            let actions = editor.then(|| {
                if r.origin == "config" {
                    return view! { <td><span class="muted small">"mcpulse.toml"</span></td> }.into_any();
                }
                let id = r.id;
                let (edit, clone, flip) = (r.rule.clone(), r.rule.clone(), r.rule.clone());
                let flip_label = if r.rule.enabled { "Disable" } else { "Enable" };
                let name = r.rule.name.clone();
                view! {
                    <td>
                        <div class="row-actions">
                            <button type="button" class="secondary" data-action="edit"
                                on:click=move |_| { form.fill(Some(id), &edit); scroll_to("rule-form"); }>"Edit"</button>
                            <button type="button" class="secondary" data-action="clone"
                                on:click=move |_| {
                                    let mut copy = clone.clone();
                                    copy.name = format!("{} (copy)", copy.name);
                                    form.fill(None, &copy);
                                    scroll_to("rule-form");
                                }>"Clone"</button>
                            <button type="button" class="secondary" data-action="toggle"
                                on:click=move |_| {
                                    let mut d = flip.clone();
                                    d.enabled = !d.enabled;
                                    toggle.dispatch((id, d));
                                }>{flip_label}</button>
                            <Show when=move || confirming.get() == Some(id) fallback=move || view! {
                                <button type="button" class="secondary danger" data-action="delete"
                                    on:click=move |_| confirming.set(Some(id))>"Delete"</button>
                            }>
                                <span class="confirm" role="group" aria-label="Confirm deletion">
                                    "Delete " <strong>{name.clone()}</strong> " and its history?"
                                    <button type="button" class="secondary danger" data-action="confirm-delete"
                                        on:click=move |_| { remove.dispatch(id); }>"Yes, delete"</button>
                                    <button type="button" class="secondary" on:click=move |_| confirming.set(None)>"Keep"</button>
                                </span>
                            </Show>
                        </div>
                    </td>
                }
                .into_any()
            });
            view! {
                <tr data-rule=r.rule.name.clone() data-state=state.0>
                    <td>
                        <strong>{r.rule.name.clone()}</strong>
                        {(!r.rule.description.is_empty()).then(|| view! { <div class="small muted">{r.rule.description.clone()}</div> })}
                    </td>
                    <td><code>{r.rule.metric.clone()}</code> <div class="small muted">{scope}</div></td>
                    <td><code>{condition}</code></td>
                    <td><span class=format!("badge sev-{}", r.rule.severity)>{r.rule.severity.clone()}</span></td>
                    <td><span class=format!("badge {}", state.0)>{state.1}</span></td>
                    {actions}
                </tr>
            }
        })
        .collect_view();
    let row_error = move || {
        let e = toggle.value().with(|v| v.clone().and_then(Result::err));
        e.or_else(|| remove.value().with(|v| v.clone().and_then(Result::err)))
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    };
    view! {
        {row_error}
        <div class="table-scroll">
            <table class="sources rules-table">
                <thead>
                    <tr>
                        <th scope="col">"Rule"</th><th scope="col">"Metric"</th><th scope="col">"Condition"</th>
                        <th scope="col">"Severity"</th><th scope="col">"State"</th>
                        {editor.then(|| view! { <th scope="col">"Actions"</th> })}
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Moves the page to element `id` (a form opened from a table row).
fn scroll_to(id: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
    {
        el.scroll_into_view();
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = id;
}

/// Fields of the rule form that show their own problems.
const RULE_FIELDS: &[&str] = &[
    "name",
    "description",
    "metric",
    "sources",
    "matchers",
    "reduce",
    "window",
    "condition",
    "threshold",
    "for",
    "keep_firing_for",
    "no_data",
    "severity",
    "labels",
    "annotations",
];

const REDUCE_OPTIONS: &[&str] = &["last", "avg", "min", "max", "sum", "count"];
const NO_DATA_OPTIONS: &[&str] = &["keep", "alerting", "ok"];
const CONDITION_OPTIONS: &[&str] = &[">", ">=", "<", "<=", "==", "!="];
const SEVERITY_OPTIONS: &[&str] = &["info", "warning", "error", "critical"];

/// The create/change form with preview and backtest.
#[component]
fn RuleEditor(form: RuleForm, version: Version) -> impl IntoView {
    // Posted by the browser itself before the page is interactive; a problem met then comes back in the URL.
    let save = ServerAction::<SaveRule>::new();
    // The backtest is the engine's: the draft replayed by the alert evaluator over the last hours.
    let preview = Action::new(|draft: &RuleDraft| backtest_rule(draft.clone()));
    // The threshold of the draft last previewed (the chart's line matches its shading).
    let previewed_threshold = RwSignal::new(None::<f64>);
    let saved = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(rule)) = save.value().get() {
            saved.set(Some(rule.rule.name.clone()));
            form.fill(None, &RuleDraft::default());
            version.update(|v| *v += 1);
        }
    });
    let pending = save.pending();
    let value = save.value();
    let local = form.local_error;
    let err =
        move |field: &'static str| field_error(value, local, field, format!("rule-{field}-error"));
    let bad = move |field: &'static str| field_invalid(value, local, field);
    let described = |field: &'static str| format!("rule-{field}-error");
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.local_error.set(None);
        saved.set(None);
        save.dispatch(SaveRule {
            form: form.fields(),
        });
    };
    let run_preview = move |_| {
        form.local_error.set(None);
        match form.draft() {
            Ok(d) if d.metric.is_empty() => form
                .local_error
                .set(Some(("metric".into(), "name a metric to preview".into()))),
            Ok(d) => {
                previewed_threshold.set(d.threshold.trim().parse::<f64>().ok());
                preview.dispatch(d);
            }
            Err(e) => form.local_error.set(
                e.problems()
                    .into_iter()
                    .next()
                    .map(|p| (p.field, p.message)),
            ),
        }
    };
    let heading = move || match form.editing.get() {
        Some(_) => format!("Change rule {}", form.name.get()),
        None => "New rule".to_string(),
    };

    // The preview: each series of the metric, the threshold, and when the rule would have fired.
    let preview_series = Signal::derive(move || {
        preview.value().with(|v| match v {
            Some(Ok(result)) => result
                .series
                .iter()
                .map(|s| ChartSeries {
                    name: series_name(&s.source, &s.labels),
                    points: s.points.clone(),
                })
                .collect(),
            _ => Vec::new(),
        })
    });
    let preview_range = Signal::derive(move || {
        preview.value().with(|v| match v {
            Some(Ok(r)) => (r.start.timestamp_millis(), r.end.timestamp_millis()),
            _ => (0, 1),
        })
    });
    let threshold = Signal::derive(move || previewed_threshold.get());
    let marks = Signal::derive(move || {
        preview.value().with(|v| match v {
            Some(Ok(r)) => r
                .series
                .iter()
                .flat_map(|s| s.firing.iter().copied())
                .collect(),
            _ => Vec::new(),
        })
    });
    let fired = move || marks.with(Vec::len);
    let preview_view = move || {
        preview.value().with(|v| match v {
            None => None,
            Some(Err(e)) => Some(view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any()),
            Some(Ok(r)) if r.series.is_empty() => Some(view! { <p class="muted">{format!("No data for this metric in the last {BACKTEST_HOURS} hours.")}</p> }.into_any()),
            Some(Ok(r)) => {
                let unit = unit_of(&form.metric.get_untracked()).to_string();
                let more = r.more.then_some(" Only the first series were replayed.");
                Some(view! {
                    <div class="rule-preview" data-marks=fired>
                        <p class="small muted">
                            {move || match fired() {
                                0 => format!("Backtest: would not have fired in the last {BACKTEST_HOURS} hours."),
                                1 => format!("Backtest: would have fired once in the last {BACKTEST_HOURS} hours (shaded)."),
                                n => format!("Backtest: would have fired {n} times in the last {BACKTEST_HOURS} hours (shaded)."),
                            }}
                            {more}
                        </p>
                        <Chart series=preview_series x_range=preview_range unit threshold marks
                            label="Preview of the rule's metric with its threshold" height=220/>
                    </div>
                }.into_any())
            }
        })
    };

    view! {
        <section class="card" id="rule-form">
            <h2>{heading}</h2>
            <form class="source-form" method="post" action=SaveRule::url() on:submit=submit on:input=move |ev| local.edited(&ev) on:change=move |ev| local.edited(&ev) novalidate>
                <input type="hidden" name="form[editing]" prop:value=move || form.editing.get().map(|id| id.to_string()).unwrap_or_default()/>
                <TextField id="rule-name" name="form[name]" label="Name" required=true value=form.name error_id=described("name") invalid=bad("name")>{err("name")}</TextField>
                <TextField id="rule-metric" name="form[metric]" label="Metric" required=true placeholder="response_time_ms" value=form.metric error_id=described("metric") invalid=bad("metric")>{err("metric")}</TextField>
                <TextField id="rule-sources" name="form[sources]" label="Sources" hint="(ids, comma-separated; empty: all)" placeholder="all" value=form.sources error_id=described("sources") invalid=bad("sources")>{err("sources")}</TextField>
                <TextField id="rule-matchers" name="form[matchers]" label="Label matchers" hint="(tool=search, env!=dev)" value=form.matchers error_id=described("matchers") invalid=bad("matchers")>{err("matchers")}</TextField>
                <SelectField id="rule-reduce" name="form[reduce]" label="Reduce" options=REDUCE_OPTIONS value=form.reduce error_id=described("reduce") invalid=bad("reduce")>{err("reduce")}</SelectField>
                <TextField id="rule-window" name="form[window]" label="Over" hint="(window, e.g. 5m)" value=form.window error_id=described("window") invalid=bad("window")>{err("window")}</TextField>
                <SelectField id="rule-condition" name="form[condition]" label="Condition" options=CONDITION_OPTIONS value=form.condition error_id=described("condition") invalid=bad("condition")>{err("condition")}</SelectField>
                <TextField id="rule-threshold" name="form[threshold]" label="Threshold" required=true value=form.threshold error_id=described("threshold") invalid=bad("threshold")>{err("threshold")}</TextField>
                <TextField id="rule-for" name="form[for]" label="For" hint="(holds this long before firing)" placeholder="0" value=form.for_ error_id=described("for") invalid=bad("for")>{err("for")}</TextField>
                <TextField id="rule-keep" name="form[keep_firing_for]" label="Keep firing for" placeholder="0" value=form.keep_firing_for error_id=described("keep_firing_for") invalid=bad("keep_firing_for")>{err("keep_firing_for")}</TextField>
                <SelectField id="rule-no-data" name="form[no_data]" label="When no data" options=NO_DATA_OPTIONS value=form.no_data error_id=described("no_data") invalid=bad("no_data")>{err("no_data")}</SelectField>
                <SelectField id="rule-severity" name="form[severity]" label="Severity" options=SEVERITY_OPTIONS value=form.severity error_id=described("severity") invalid=bad("severity")>{err("severity")}</SelectField>
                <TextField id="rule-labels" name="form[labels]" label="Labels" hint="(team=search)" value=form.labels error_id=described("labels") invalid=bad("labels")>{err("labels")}</TextField>
                <TextField id="rule-summary" name="form[summary]" label="Summary" hint="(sent with notifications)" wide=true value=form.summary error_id=described("annotations") invalid=bad("annotations")>{err("annotations")}</TextField>
                <TextField id="rule-description" name="form[description]" label="Description" wide=true value=form.description error_id=described("description") invalid=bad("description")>{err("description")}</TextField>
                <div class="field check">
                    <input id="rule-enabled" name="form[enabled]" type="checkbox" checked=form.enabled.get_untracked()
                        prop:checked=move || form.enabled.get() on:change=move |ev| form.enabled.set(event_target_checked(&ev))/>
                    <label for="rule-enabled">"Evaluate it (enabled)"</label>
                </div>
                {other_error(value, RULE_FIELDS)}
                <div class="form-actions">
                    <button type="submit" disabled=pending>
                        {move || match (pending.get(), form.editing.get().is_some()) {
                            (true, _) => "Saving…",
                            (false, true) => "Save changes",
                            (false, false) => "Create rule",
                        }}
                    </button>
                    <button type="button" class="secondary" data-action="preview" on:click=run_preview>"Preview"</button>
                    <Show when=move || form.editing.get().is_some()>
                        <button type="button" class="secondary" on:click=move |_| form.fill(None, &RuleDraft::default())>"Cancel"</button>
                    </Show>
                    {move || saved.get().map(|name| view! { <span class="ok-text small" role="status">"Saved " {name}</span> })}
                </div>
            </form>
            {preview_view}
        </section>
    }
    .into_any()
}

/// `source {a=b, c=d}` for a legend.
fn series_name(source: &str, labels: &std::collections::BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        source.to_string()
    } else {
        format!("{source} {{{}}}", format_pairs(labels))
    }
}

/// The silence form's fields.
#[derive(Clone, Copy)]
struct SilenceForm {
    matchers: RwSignal<String>,
    duration: RwSignal<String>,
    comment: RwSignal<String>,
    /// `Some((id, starts_at))` while changing silence `id` in place (it keeps its start).
    editing: RwSignal<Option<(i64, String)>>,
}

impl SilenceForm {
    fn new() -> Self {
        SilenceForm {
            matchers: RwSignal::new(String::new()),
            duration: RwSignal::new("1h".into()),
            comment: RwSignal::new(String::new()),
            editing: RwSignal::new(None),
        }
    }

    /// Opens the form on silence `s`, to change it in place: its length is shown from its start.
    fn edit(&self, s: &SilenceInfo) {
        let length = (s.ends_at - s.starts_at).to_std().unwrap_or_default();
        self.editing.set(Some((s.id, s.starts_at.to_rfc3339())));
        self.matchers.set(s.matchers.join(", "));
        self.duration.set(
            humantime::format_duration(std::time::Duration::from_secs(length.as_secs()))
                .to_string(),
        );
        self.comment.set(s.comment.clone());
        scroll_to("silence-form");
        focus("silence-duration");
    }

    fn clear(&self) {
        self.editing.set(None);
        self.matchers.set(String::new());
        self.duration.set("1h".into());
        self.comment.set(String::new());
    }

    /// Opens the form for silencing an alert known by `matchers`.
    fn start(&self, matchers: &str) {
        self.editing.set(None);
        self.matchers.set(matchers.to_string());
        self.duration.set("1h".into());
        scroll_to("silence-form");
        focus("silence-comment");
    }
}

fn focus(id: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(id))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = id;
}

#[component]
fn SilenceTable(
    list: Vec<SilenceInfo>,
    editor: bool,
    version: Version,
    form: SilenceForm,
) -> impl IntoView {
    let remove = Action::new(|id: &i64| delete_silence(*id));
    Effect::new(move |_| {
        if remove.value().with(|v| matches!(v, Some(Ok(_)))) {
            version.update(|v| *v += 1);
        }
    });
    if list.is_empty() {
        return view! { <p class="muted" data-empty="">"No silences."</p> }.into_any();
    }
    view! {
        {move || remove.value().with(|v| v.clone().and_then(Result::err)).map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })}
        <div class="table-scroll">
            <table class="sources silences-table">
                <thead><tr><th scope="col">"Matchers"</th><th scope="col">"From"</th><th scope="col">"Until"</th><th scope="col">"Comment"</th><th scope="col">"By"</th>
                    {editor.then(|| view! { <th scope="col">"Actions"</th> })}</tr></thead>
                <tbody>
                    {list.into_iter().map(|s| {
                        let id = s.id;
                        let shown = s.clone();
                        view! {
                            <tr data-silence=s.id data-active=s.active.to_string()>
                                <td><code>{s.matchers.join(", ")}</code> {(!s.active).then(|| view! { <span class="badge">"expired"</span> })}</td>
                                <td class="muted">{date_time(Some(s.starts_at))}</td>
                                <td class="muted">{date_time(Some(s.ends_at))}</td>
                                <td>{s.comment.clone()}</td>
                                <td>{s.created_by.clone()}</td>
                                {editor.then(|| view! {
                                    <td class="actions">
                                        <button type="button" class="secondary" data-action="edit-silence"
                                            on:click=move |_| form.edit(&shown)>"Edit"</button>
                                        " "
                                        <button type="button" class="secondary" data-action="delete-silence"
                                            on:click=move |_| { remove.dispatch(id); }>"Delete"</button>
                                    </td>
                                })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

const SILENCE_FIELDS: &[&str] = &["matchers", "starts_at", "duration", "comment"];

#[component]
fn SilenceEditor(form: SilenceForm, version: Version) -> impl IntoView {
    // Posted by the browser itself before the page is interactive; a problem met then comes back in the URL.
    let save = ServerAction::<SaveSilence>::new();
    let local = FormErrors::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            form.clear();
            version.update(|v| *v += 1);
        }
    });
    let value = save.value();
    let err = move |field: &'static str| {
        field_error(value, local, field, format!("silence-{field}-error"))
    };
    let bad = move |field: &'static str| field_invalid(value, local, field);
    // What it would mute, as the matchers are typed (fetched in the browser only: nothing to hydrate).
    let interactive = crate::pages::interactive();
    let preview = LocalResource::new(move || {
        let matchers = split_list(&form.matchers.get());
        async move {
            if matchers.is_empty() {
                None
            } else {
                Some(preview_silence(matchers).await)
            }
        }
    });
    let preview_view = move || {
        interactive.get().then(|| preview.get()).flatten().flatten().map(|answer| match answer {
            Ok(alerts) if alerts.is_empty() => {
                view! { <p class="small muted" data-mutes="0">"Mutes no current alert."</p> }.into_any()
            }
            Ok(alerts) => {
                let names = alerts
                    .iter()
                    .map(|a| format!("{} ({}, {})", a.rule_name, a.source, a.state))
                    .collect::<Vec<_>>()
                    .join(", ");
                view! {
                    <p class="small" data-mutes=alerts.len()>
                        {format!("Mutes {} current alert{}: {names}", alerts.len(), if alerts.len() == 1 { "" } else { "s" })}
                    </p>
                }
                .into_any()
            }
            Err(e) => view! { <p class="small error-text" data-mutes="error">{e.to_string()}</p> }.into_any(),
        })
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        local.set(None);
        let editing = form.editing.get_untracked();
        save.dispatch(SaveSilence {
            form: SilenceFields {
                editing: editing
                    .as_ref()
                    .map(|(id, _)| id.to_string())
                    .unwrap_or_default(),
                starts_at: editing.map(|(_, start)| start).unwrap_or_default(),
                matchers: form.matchers.get_untracked(),
                duration: form.duration.get_untracked(),
                comment: form.comment.get_untracked(),
            },
        });
    };
    view! {
        <form id="silence-form" class="source-form silence-form" method="post" action=SaveSilence::url() on:submit=submit on:input=move |ev| local.edited(&ev) on:change=move |ev| local.edited(&ev) novalidate>
            <input type="hidden" name="form[editing]" prop:value=move || form.editing.get().map(|(id, _)| id.to_string()).unwrap_or_default()/>
            <input type="hidden" name="form[starts_at]" prop:value=move || form.editing.get().map(|(_, start)| start).unwrap_or_default()/>
            <TextField id="silence-matchers" name="form[matchers]" label="Silence alerts matching" hint="(alertname=High latency, source=search)" wide=true
                value=form.matchers error_id="silence-matchers-error".to_string() invalid=bad("matchers")>{err("matchers")}</TextField>
            <TextField id="silence-duration" name="form[duration]" label="For" value=form.duration error_id="silence-duration-error".to_string() invalid=bad("duration")>{err("duration")}</TextField>
            <TextField id="silence-comment" name="form[comment]" label="Comment" value=form.comment error_id="silence-comment-error".to_string() invalid=bad("comment")>{err("comment")}</TextField>
            <div class="field wide silence-preview" aria-live="polite">{preview_view}</div>
            {other_error(value, SILENCE_FIELDS)}
            <div class="form-actions">
                <button type="submit" disabled=save.pending()>
                    {move || if form.editing.get().is_some() { "Save silence" } else { "Create silence" }}
                </button>
                <Show when=move || form.editing.get().is_some()>
                    <button type="button" class="secondary" on:click=move |_| form.clear()>"Cancel"</button>
                </Show>
            </div>
        </form>
    }
    .into_any()
}

const CONTACT_FIELDS: &[&str] = &[
    "name",
    "kind",
    "url",
    "min_severity",
    "escalate_after",
    "matchers",
];

/// Admin: contact points with their queues, a form to add one, and deletion.
#[component]
fn ContactPoints(
    version: Version,
    list: Resource<Result<Vec<ContactPointInfo>, AppError>>,
) -> impl IntoView {
    // `Some(id)` while changing contact point `id` in the form.
    let editing = RwSignal::new(None::<i64>);
    // Posted by the browser itself before the page is interactive; a problem met then comes back in the URL.
    let save = ServerAction::<SaveContactPoint>::new();
    let remove = Action::new(|id: &i64| delete_contact_point(*id));
    let draft = RwSignal::new(ContactPointDraft::default());
    let matchers = RwSignal::new(String::new());
    let local = FormErrors::new();
    let start_edit = Callback::new(move |c: ContactPointInfo| {
        editing.set(Some(c.id));
        draft.set(ContactPointDraft {
            name: c.name,
            kind: c.kind.as_str().to_string(),
            // Shown redacted: left empty, the stored URL stays.
            url: String::new(),
            min_severity: c.min_severity,
            enabled: c.enabled,
            escalate_after: c.escalate_after.unwrap_or_default(),
            matchers: Vec::new(),
        });
        matchers.set(c.matchers.join(", "));
        scroll_to("contact-form");
    });
    let cancel_edit = move || {
        editing.set(None);
        draft.set(ContactPointDraft::default());
        matchers.set(String::new());
    };
    Effect::new(move |_| {
        if save.value().with(|v| matches!(v, Some(Ok(_)))) {
            cancel_edit();
            version.update(|v| *v += 1);
        }
        if remove.value().with(|v| matches!(v, Some(Ok(_)))) {
            version.update(|v| *v += 1);
        }
    });
    let value = save.value();
    let err =
        move |field: &'static str| field_error(value, local, field, format!("cp-{field}-error"));
    let bad = move |field: &'static str| field_invalid(value, local, field);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        local.set(None);
        let d = draft.get_untracked();
        save.dispatch(SaveContactPoint {
            form: ContactFields {
                editing: editing
                    .get_untracked()
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                name: d.name,
                kind: d.kind,
                url: d.url,
                min_severity: d.min_severity,
                enabled: d.enabled.to_string(),
                escalate_after: d.escalate_after,
                matchers: matchers.get_untracked(),
            },
        });
    };
    let text = move |get: fn(&ContactPointDraft) -> &String,
                     set: fn(&mut ContactPointDraft, String)| {
        (
            move || draft.with(|d| get(d).clone()),
            move |ev| draft.update(|d| set(d, event_target_value(&ev))),
        )
    };
    let (name_get, name_set) = text(|d| &d.name, |d, v| d.name = v);
    let (url_get, url_set) = text(|d| &d.url, |d, v| d.url = v);
    let (esc_get, esc_set) = text(|d| &d.escalate_after, |d, v| d.escalate_after = v);
    let (kind_get, kind_set) = text(|d| &d.kind, |d, v| d.kind = v);
    let (sev_get, sev_set) = text(|d| &d.min_severity, |d, v| d.min_severity = v);
    let rows = move || {
        Suspend::new(async move {
            match list.await {
                Ok(all) if all.is_empty() => view! { <p class="muted" data-empty="">"No contact points: alerts are only logged."</p> }.into_any(),
                Ok(all) => view! { <ContactTable all remove edit=start_edit/> }.into_any(),
                Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
            }
        })
    };
    view! {
        <section class="card" aria-labelledby="contact-heading">
            <h2 id="contact-heading">"Contact points " <span class="muted small">"where notifications go"</span></h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>{rows}</Transition>
            {move || remove.value().with(|v| v.clone().and_then(Result::err)).map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })}
            <h3>{move || if editing.get().is_some() { "Change the contact point" } else { "Add a contact point" }}</h3>
            <form id="contact-form" class="source-form" method="post" action=SaveContactPoint::url() on:submit=submit on:input=move |ev| local.edited(&ev) on:change=move |ev| local.edited(&ev) novalidate>
                <input type="hidden" name="form[editing]" prop:value=move || editing.get().map(|id| id.to_string()).unwrap_or_default()/>
                <input type="hidden" name="form[enabled]" prop:value=move || draft.with(|d| d.enabled.to_string())/>
                <div class="field">
                    <label for="cp-name">"Name"</label>
                    <input id="cp-name" name="form[name]" type="text" aria-describedby="cp-name-error" aria-invalid=move || bad("name").get().then_some("true") prop:value=name_get on:input=name_set/>
                    {err("name")}
                </div>
                <div class="field">
                    <label for="cp-kind">"Kind"</label>
                    <select id="cp-kind" name="form[kind]" aria-describedby="cp-kind-error" aria-invalid=move || bad("kind").get().then_some("true") prop:value=kind_get on:change=kind_set>
                        {["webhook", "slack", "logstash", "email", "console"].map(|k| view! { <option value=k>{k}</option> })}
                    </select>
                    {err("kind")}
                </div>
                <div class="field wide">
                    <label for="cp-url">"URL " <span class="muted">{move || if editing.get().is_some() {
                        "(empty: keep the current one)"
                    } else {
                        "(https://…, or smtp://host:25?from=…&to=… for email)"
                    }}</span></label>
                    <input id="cp-url" name="form[url]" type="text" aria-describedby="cp-url-error" aria-invalid=move || bad("url").get().then_some("true") prop:value=url_get on:input=url_set/>
                    {err("url")}
                </div>
                <div class="field">
                    <label for="cp-severity">"Least severity"</label>
                    <select id="cp-severity" name="form[min_severity]" aria-describedby="cp-min_severity-error" aria-invalid=move || bad("min_severity").get().then_some("true") prop:value=sev_get on:change=sev_set>
                        {["info", "warning", "error", "critical"].map(|s| view! { <option value=s>{s}</option> })}
                    </select>
                    {err("min_severity")}
                </div>
                <div class="field">
                    <label for="cp-escalate">"Escalate after " <span class="muted">"(empty: at once)"</span></label>
                    <input id="cp-escalate" name="form[escalate_after]" type="text" placeholder="15m" aria-describedby="cp-escalate_after-error" aria-invalid=move || bad("escalate_after").get().then_some("true") prop:value=esc_get on:input=esc_set/>
                    {err("escalate_after")}
                </div>
                <div class="field">
                    <label for="cp-matchers">"Only alerts matching"</label>
                    <input id="cp-matchers" name="form[matchers]" type="text" placeholder="team=search" aria-describedby="cp-matchers-error" aria-invalid=move || bad("matchers").get().then_some("true")
                        prop:value=move || matchers.get() on:input=move |ev| matchers.set(event_target_value(&ev))/>
                    {err("matchers")}
                </div>
                {other_error(value, CONTACT_FIELDS)}
                <div class="form-actions">
                    <button type="submit" disabled=save.pending()>
                        {move || if editing.get().is_some() { "Save changes" } else { "Add contact point" }}
                    </button>
                    {move || editing.get().is_some().then(|| view! {
                        <button type="button" class="secondary" on:click=move |_| cancel_edit()>"Cancel"</button>
                    })}
                </div>
            </form>
        </section>
    }
    .into_any()
}

#[component]
fn ContactTable(
    all: Vec<ContactPointInfo>,
    remove: Action<i64, Result<(), AppError>>,
    /// Fills the form with a contact point to change it.
    edit: Callback<ContactPointInfo>,
) -> impl IntoView {
    let confirming = RwSignal::new(None::<i64>);
    // The last test's answer per contact point.
    let test = Action::new(|id: &i64| {
        let id = *id;
        async move { (id, test_contact_point(id).await) }
    });
    let tested = move |id: i64| {
        move || {
            test.value().with(|v| match v {
                Some((at, result)) if *at == id => Some(match result {
                    Ok(t) => view! {
                        <p class=if t.delivered { "small ok-text" } else { "small error-text" } role="status" data-test-result=if t.delivered { "delivered" } else { "failed" }>
                            {format!("Test: {}", t.message)}
                        </p>
                    }
                    .into_any(),
                    Err(e) => view! { <p class="small error-text" role="status" data-test-result="failed">{format!("Test: {e}")}</p> }.into_any(),
                }),
                _ => None,
            })
        }
    };
    view! {
        <div class="table-scroll">
            <table class="sources contacts-table">
                <thead><tr><th scope="col">"Name"</th><th scope="col">"Kind"</th><th scope="col">"Where"</th><th scope="col">"Routing"</th><th scope="col">"Delivery"</th><th scope="col">"Actions"</th></tr></thead>
                <tbody>
                    {all.into_iter().map(|c| {
                        let id = c.id;
                        let for_edit = c.clone();
                        let routing = [
                            Some(format!("{}+", c.min_severity)),
                            c.escalate_after.clone().map(|e| format!("after {e} unacknowledged")),
                            (!c.matchers.is_empty()).then(|| c.matchers.join(", ")),
                            (!c.enabled).then(|| "disabled".to_string()),
                        ].into_iter().flatten().collect::<Vec<_>>().join(" · ");
                        view! {
                            <tr data-contact=c.name.clone()>
                                <td><strong>{c.name.clone()}</strong></td>
                                <td>{c.kind.as_str()}</td>
                                <td><code>{c.url.clone()}</code></td>
                                <td class="small">{routing}</td>
                                <td class="small delivery" data-delivered=c.delivered data-queued=c.queued data-failed=c.failed>
                                    {delivery_summary(&c)}
                                    {c.last_attempt_at.map(|t| view! { <br/><span class="muted">{format!("last attempt {}", time_of_day(Some(t)))}</span> })}
                                    {c.next_retry_at.filter(|_| c.queued > 0).map(|t| view! { <span class="muted">{format!(" · next retry {}", time_of_day(Some(t)))}</span> })}
                                    {c.last_error.clone().map(|e| view! { <br/><span class="error-text" data-last-error="">{format!("last error: {e}")}</span> })}
                                    {tested(id)}
                                </td>
                                <td>
                                    <Show when=move || confirming.get() == Some(id) fallback=move || view! {
                                        <button type="button" class="secondary" data-action="test" disabled=move || test.pending().get()
                                            on:click=move |_| { test.dispatch(id); }>"Test"</button>
                                        " "
                                        <button type="button" class="secondary" data-action="edit"
                                            on:click={ let c = for_edit.clone(); move |_| edit.run(c.clone()) }>"Edit"</button>
                                        " "
                                        <button type="button" class="secondary danger" on:click=move |_| confirming.set(Some(id))>"Delete"</button>
                                    }>
                                        <span class="confirm" role="group" aria-label="Confirm deletion">
                                            <button type="button" class="secondary danger" on:click=move |_| { remove.dispatch(id); }>"Yes, delete"</button>
                                            <button type="button" class="secondary" on:click=move |_| confirming.set(None)>"Keep"</button>
                                        </span>
                                    </Show>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// "12 delivered · 3 queued · 1 failed": what happened to a contact point's notifications.
fn delivery_summary(c: &ContactPointInfo) -> impl IntoView {
    let mut parts = vec![format!("{} delivered", c.delivered)];
    if c.queued > 0 {
        parts.push(format!("{} queued", c.queued));
    }
    let failed = (c.failed > 0)
        .then(|| view! { <span class="error-text">{format!(" · {} failed", c.failed)}</span> });
    view! { <span>{parts.join(" · ")}</span> {failed} }
}

/// "no data" or "error" beside an alert's state, with the time it started; nothing when the alert could be checked.
fn health_badge(
    health: &str,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<impl IntoView> {
    let (class, text) = match health {
        "nodata" => ("badge nodata", "no data"),
        "error" => ("badge error", "query failed"),
        _ => return None,
    };
    let title = since.map(|t| format!("since {}", date_time(Some(t))));
    Some(view! { <span class=class title=title data-health=health.to_string()>{text}</span> })
}
