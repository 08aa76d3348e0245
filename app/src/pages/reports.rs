//! The reports page: report templates (schedule, next run, period, formats, recipients) and the reports generated
//! from them, filtered by template and dates, with their status and files to view or download
//! (`/api/reports/{id}/{format}`). Editors also get the template form — ordered sections of three kinds, each with
//! its own fields, the server's verdict under each field — and "Generate now", which starts a run in the
//! background; the list refreshes itself while a run is in progress.

use crate::api::{
    delete_report, delete_report_template, generate_report, list_reports, metric_catalog,
    report_templates, SaveReportTemplate,
};
use crate::error::AppError;
use crate::forms::{SectionFields, TemplateFields};
use crate::pages::{
    date_time, field_error, field_invalid, other_error, FormErrors, SignedIn, TextField, Topbar,
};
use crate::types::{
    ReportFilter, ReportInfo, ReportSection, ReportTemplateDraft, ReportTemplateInfo, Role,
    UserInfo,
};
use leptos::prelude::*;
use leptos::server_fn::ServerFn as _;
use leptos_router::{lazy_route, LazyRoute};

/// The page's resources and the signals they follow, created once when the route renders (see
/// [`SignedIn`](crate::pages::SignedIn) for why never later).
#[derive(Clone, Copy)]
pub struct ReportsData {
    version: RwSignal<u32>,
    reports_version: RwSignal<u32>,
    templates: Resource<Result<Vec<ReportTemplateInfo>, AppError>>,
    filter_template: RwSignal<String>,
    filter_from: RwSignal<String>,
    filter_to: RwSignal<String>,
    reports: Resource<Result<Vec<ReportInfo>, AppError>>,
}

/// The page as a lazy route: in the browser its code — the view and the page's resources with their decoders — is
/// a separate WASM chunk, fetched when the page is first visited, so the first load carries only the dashboard
/// and sign-in.
pub struct ReportsRoute;

#[lazy_route]
impl LazyRoute for ReportsRoute {
    fn data() -> Self {
        ReportsRoute
    }

    fn view(route: Self) -> AnyView {
        let _ = route;
        // The resources are created here, once, when the route renders (never inside the `SignedIn` suspense; see
        // there why): the same place on the server and in the browser.
        let this = ReportsData::new();
        view! { <SignedIn title="Reports" page=move |user| view! { <Reports user data=this/> }/> }
            .into_any()
    }
}

impl ReportsData {
    fn new() -> Self {
        let version = RwSignal::new(0u32);
        let reports_version = RwSignal::new(0u32);
        let templates = Resource::new(move || version.get(), |_| report_templates());
        // Filters of the generated reports.
        let filter_template = RwSignal::new(String::new());
        let filter_from = RwSignal::new(String::new());
        let filter_to = RwSignal::new(String::new());
        let reports = Resource::new(
            move || {
                (
                    reports_version.get(),
                    filter_template.get(),
                    filter_from.get(),
                    filter_to.get(),
                )
            },
            |(_, template, from, to)| {
                list_reports(ReportFilter {
                    template_id: template.parse().ok(),
                    from: Some(from).filter(|s| !s.is_empty()),
                    to: Some(to).filter(|s| !s.is_empty()),
                    limit: Some(200),
                })
            },
        );
        ReportsData {
            version,
            reports_version,
            templates,
            filter_template,
            filter_from,
            filter_to,
            reports,
        }
    }
}

const TEMPLATE_FIELDS: &[&str] = &[
    "name",
    "description",
    "formats",
    "schedule",
    "timezone",
    "period",
    "recipients",
    "sections",
];

/// One section in the form; its fields are signals of their own, so typing does not rebuild the list.
#[derive(Clone, Copy)]
struct SectionForm {
    key: u32,
    kind: RwSignal<String>,
    title: RwSignal<String>,
    metrics: RwSignal<String>,
    sources: RwSignal<String>,
    labels: RwSignal<String>,
    chart: RwSignal<bool>,
    show_resolved: RwSignal<bool>,
}

impl SectionForm {
    fn from(key: u32, s: &ReportSection) -> Self {
        let f = SectionFields::of(s);
        SectionForm {
            key,
            kind: RwSignal::new(f.kind),
            title: RwSignal::new(f.title),
            metrics: RwSignal::new(f.metrics),
            sources: RwSignal::new(f.sources),
            labels: RwSignal::new(f.labels),
            chart: RwSignal::new(f.chart),
            show_resolved: RwSignal::new(f.show_resolved),
        }
    }

    fn fields(&self) -> SectionFields {
        SectionFields {
            kind: self.kind.get_untracked(),
            title: self.title.get_untracked(),
            metrics: self.metrics.get_untracked(),
            sources: self.sources.get_untracked(),
            labels: self.labels.get_untracked(),
            chart: self.chart.get_untracked(),
            show_resolved: self.show_resolved.get_untracked(),
        }
    }
}

/// A new template: every format, a day, one section of each kind.
fn default_draft() -> ReportTemplateDraft {
    ReportTemplateDraft {
        sections: ["metrics_summary", "alerts_summary", "source_health"]
            .iter()
            .filter_map(|k| ReportSection::new(k))
            .collect(),
        ..Default::default()
    }
}

/// The template form's fields.
#[derive(Clone, Copy)]
struct TemplateForm {
    editing: RwSignal<Option<i64>>,
    name: RwSignal<String>,
    description: RwSignal<String>,
    html: RwSignal<bool>,
    json: RwSignal<bool>,
    csv: RwSignal<bool>,
    schedule: RwSignal<String>,
    timezone: RwSignal<String>,
    period: RwSignal<String>,
    recipients: RwSignal<String>,
    enabled: RwSignal<bool>,
    sections: RwSignal<Vec<SectionForm>>,
    next_key: StoredValue<u32>,
    /// The page's owner: sections are made under it, wherever `fill` is called from (a table row, an effect, a
    /// `Show`), so they live as long as the page and not as long as whatever rebuilt last.
    owner: StoredValue<Owner>,
}

impl TemplateForm {
    fn new() -> Self {
        let form = TemplateForm {
            editing: RwSignal::new(None),
            name: RwSignal::new(String::new()),
            description: RwSignal::new(String::new()),
            html: RwSignal::new(true),
            json: RwSignal::new(true),
            csv: RwSignal::new(true),
            schedule: RwSignal::new(String::new()),
            timezone: RwSignal::new(String::new()),
            period: RwSignal::new(String::new()),
            recipients: RwSignal::new(String::new()),
            enabled: RwSignal::new(true),
            sections: RwSignal::new(Vec::new()),
            next_key: StoredValue::new(0),
            owner: StoredValue::new(Owner::current().unwrap_or_default()),
        };
        form.fill(None, &default_draft());
        form
    }

    fn key(&self) -> u32 {
        let k = self.next_key.get_value();
        self.next_key.set_value(k + 1);
        k
    }

    fn fill(&self, editing: Option<i64>, d: &ReportTemplateDraft) {
        self.editing.set(editing);
        self.name.set(d.name.clone());
        self.description.set(d.description.clone());
        self.html.set(d.formats.iter().any(|f| f == "html"));
        self.json.set(d.formats.iter().any(|f| f == "json"));
        self.csv.set(d.formats.iter().any(|f| f == "csv"));
        self.schedule.set(d.schedule.clone());
        self.timezone.set(d.timezone.clone());
        self.period.set(d.period.clone());
        self.recipients.set(d.recipients.join(", "));
        self.enabled.set(d.enabled);
        let sections = d.sections.iter().map(|s| self.section(s)).collect();
        self.sections.set(sections);
    }

    /// A section's fields, owned by the page.
    fn section(&self, s: &ReportSection) -> SectionForm {
        let key = self.key();
        self.owner.get_value().with(|| SectionForm::from(key, s))
    }

    /// The form's fields as the browser would post them.
    fn fields(&self) -> TemplateFields {
        TemplateFields {
            editing: self
                .editing
                .get_untracked()
                .map(|id| id.to_string())
                .unwrap_or_default(),
            name: self.name.get_untracked(),
            description: self.description.get_untracked(),
            html: self.html.get_untracked(),
            json: self.json.get_untracked(),
            csv: self.csv.get_untracked(),
            schedule: self.schedule.get_untracked(),
            timezone: self.timezone.get_untracked(),
            period: self.period.get_untracked(),
            recipients: self.recipients.get_untracked(),
            enabled: self.enabled.get_untracked(),
            sections: self
                .sections
                .get_untracked()
                .iter()
                .map(SectionForm::fields)
                .collect(),
        }
    }
}

#[component]
fn Reports(user: UserInfo, data: ReportsData) -> impl IntoView {
    let editor = user.role >= Role::Editor;
    // Templates and generated reports refresh separately: polling a running report leaves the templates table
    // (and a pending "Delete?" in it) alone.
    let ReportsData {
        version,
        reports_version,
        templates,
        filter_template,
        filter_from,
        filter_to,
        reports,
    } = data;
    let generate = Action::new(|id: &i64| generate_report(*id));
    let remove_template = Action::new(|id: &i64| delete_report_template(*id));
    let remove_report = Action::new(|id: &i64| delete_report(*id));
    Effect::new(move |_| {
        let generated = generate.value().with(|v| matches!(v, Some(Ok(_))));
        let deleted = remove_report.value().with(|v| matches!(v, Some(Ok(_))));
        if generated || deleted {
            reports_version.update(|v| *v += 1);
        }
    });
    Effect::new(move |_| {
        if remove_template.value().with(|v| matches!(v, Some(Ok(_)))) {
            version.update(|v| *v += 1);
        }
    });
    // While a run is in progress, look again every second and a half.
    Effect::new(move |_| {
        let running = reports.with(|r| {
            r.as_ref()
                .and_then(|r| r.as_ref().ok())
                .is_some_and(|all| all.iter().any(|r| r.status == "running"))
        });
        if running {
            set_timeout(
                move || reports_version.update(|v| *v += 1),
                std::time::Duration::from_millis(1500),
            );
        }
    });
    let form = TemplateForm::new();
    let action_error = move || {
        generate
            .value()
            .with(|v| v.clone().and_then(Result::err))
            .or_else(|| {
                remove_template
                    .value()
                    .with(|v| v.clone().and_then(Result::err))
            })
            .or_else(|| {
                remove_report
                    .value()
                    .with(|v| v.clone().and_then(Result::err))
            })
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    };

    let template_rows = move || {
        Suspend::new(async move {
            match templates.await {
                Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                Ok(all) if all.is_empty() => view! {
                    <p class="muted" data-empty="">"No report templates yet."
                        {editor.then(|| " Describe one below: what to report, how often, and in which formats.")}</p>
                }
                .into_any(),
                Ok(all) => view! { <TemplateTable all editor form generate remove=remove_template/> }.into_any(),
            }
        })
    };
    // The filter's choices, fetched in the browser (no Suspense inside <select>).
    let choices = LocalResource::new(move || {
        version.track();
        report_templates()
    });
    let interactive = crate::pages::interactive();
    let template_options = move || {
        interactive
            .get()
            .then(|| choices.get())
            .flatten()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .map(|t| view! { <option value=t.id.to_string()>{t.template.name}</option> })
            .collect_view()
    };
    let report_rows = move || {
        Suspend::new(async move {
            match reports.await {
                Err(e) => {
                    view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any()
                }
                Ok(all) if all.is_empty() => {
                    view! { <p class="muted" data-empty="">"No reports match."</p> }.into_any()
                }
                Ok(all) => view! { <ReportTable all editor remove=remove_report/> }.into_any(),
            }
        })
    };

    view! {
        <Topbar user/>
        <main id="main" class="page">
            <div class="page-head">
                <h1>"Reports"</h1>
                <p class="muted">"Summaries of metrics, alerts and source health over a period, on a schedule or on demand, as HTML (with charts), JSON and CSV."</p>
            </div>
            <section class="card" aria-labelledby="templates-heading">
                <h2 id="templates-heading">"Templates"</h2>
                {action_error}
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>{template_rows}</Transition>
            </section>
            {editor.then(|| view! { <TemplateEditor form version/> })}
            <section class="card" aria-labelledby="generated-heading">
                <h2 id="generated-heading">"Generated reports"</h2>
                <div class="source-form filters" role="group" aria-label="Filter reports">
                    <div class="field">
                        <label for="filter-template">"Template"</label>
                        <select id="filter-template" on:change=move |ev| filter_template.set(event_target_value(&ev))
                            prop:value=move || filter_template.get()>
                            <option value="">"all"</option>
                            {template_options}
                        </select>
                    </div>
                    <div class="field">
                        <label for="filter-from">"From"</label>
                        <input id="filter-from" type="date" prop:value=move || filter_from.get()
                            on:change=move |ev| filter_from.set(event_target_value(&ev))/>
                    </div>
                    <div class="field">
                        <label for="filter-to">"To"</label>
                        <input id="filter-to" type="date" prop:value=move || filter_to.get()
                            on:change=move |ev| filter_to.set(event_target_value(&ev))/>
                    </div>
                </div>
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>{report_rows}</Transition>
            </section>
        </main>
    }
    .into_any()
}

#[component]
fn TemplateTable(
    all: Vec<ReportTemplateInfo>,
    editor: bool,
    form: TemplateForm,
    generate: Action<i64, Result<ReportInfo, AppError>>,
    remove: Action<i64, Result<(), AppError>>,
) -> impl IntoView {
    let confirming = RwSignal::new(None::<i64>);
    view! {
        <div class="table-scroll">
            <table class="sources templates-table">
                <thead><tr>
                    <th scope="col">"Template"</th><th scope="col">"Schedule"</th><th scope="col">"Period"</th>
                    <th scope="col">"Formats"</th><th scope="col">"Sections"</th>
                    {editor.then(|| view! { <th scope="col">"Actions"</th> })}
                </tr></thead>
                <tbody>
                    {all.into_iter().map(|t| {
                        let id = t.id;
                        let d = t.template.clone();
                        let schedule = if d.schedule.is_empty() {
                            "on demand".to_string()
                        } else {
                            format!("{} ({})", d.schedule, d.timezone)
                        };
                        let next = match (&t.next_run, d.enabled) {
                            (_, false) => Some("disabled".to_string()),
                            (Some(n), true) => Some(format!("next {}", date_time(Some(*n)))),
                            (None, true) => None,
                        };
                        let sections = d.sections.iter().map(ReportSection::title).collect::<Vec<_>>().join(" · ");
                        let draft = d.clone();
                        view! {
                            <tr data-template=d.name.clone()>
                                <td><strong>{d.name.clone()}</strong>
                                    {(!d.description.is_empty()).then(|| view! { <div class="small muted">{d.description.clone()}</div> })}
                                    {(!d.recipients.is_empty()).then(|| view! { <div class="small muted">{format!("emailed to {}", d.recipients.join(", "))}</div> })}
                                </td>
                                <td><code>{schedule}</code>
                                    {next.map(|n| view! { <div class="small muted">{n}</div> })}
                                    {t.warning.clone().map(|w| view! { <div class="small warn-text" data-warning="">{w}</div> })}
                                </td>
                                <td>{d.period.clone()}</td>
                                <td>{d.formats.join(", ")}</td>
                                <td class="small">{sections}</td>
                                {editor.then(|| view! {
                                    <td>
                                        <div class="row-actions">
                                            <button type="button" data-action="generate" disabled=generate.pending()
                                                on:click=move |_| { generate.dispatch(id); }>"Generate now"</button>
                                            <button type="button" class="secondary" data-action="edit"
                                                on:click=move |_| { form.fill(Some(id), &draft); scroll_to("template-form"); }>"Edit"</button>
                                            <Show when=move || confirming.get() == Some(id) fallback=move || view! {
                                                <button type="button" class="secondary danger" data-action="delete"
                                                    on:click=move |_| confirming.set(Some(id))>"Delete"</button>
                                            }>
                                                <span class="small">"Delete the template? Its reports stay. "</span>
                                                <button type="button" class="danger" data-action="confirm-delete"
                                                    on:click=move |_| { confirming.set(None); remove.dispatch(id); }>"Delete"</button>
                                                <button type="button" class="secondary" on:click=move |_| confirming.set(None)>"Keep"</button>
                                            </Show>
                                        </div>
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

#[component]
fn ReportTable(
    all: Vec<ReportInfo>,
    editor: bool,
    remove: Action<i64, Result<(), AppError>>,
) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="sources reports-table">
                <thead><tr>
                    <th scope="col">"Report"</th><th scope="col">"Period"</th><th scope="col">"Status"</th>
                    <th scope="col">"Started"</th><th scope="col">"Files"</th>
                    {editor.then(|| view! { <th scope="col"><span class="sr-only">"Actions"</span></th> })}
                </tr></thead>
                <tbody>
                    {all.into_iter().map(|r| {
                        let id = r.id;
                        let by = match (&r.trigger[..], &r.requested_by) {
                            ("schedule", _) => "on schedule".to_string(),
                            (t, Some(by)) => format!("{t} by {by}"),
                            (t, None) => t.to_string(),
                        };
                        let status = r.status.clone();
                        let files = r.files.iter().map(|(format, size)| {
                            let href = format!("/api/reports/{id}/{format}");
                            let view_link = (format == "html").then(|| view! {
                                <a href=format!("{href}?inline=true") target="_blank" rel="external noopener" data-view="">"View"</a>
                                " · "
                            });
                            view! {
                                <span class="file">
                                    {view_link}
                                    <a href=href download="" rel="external" data-format=format.clone()>{format!("{} ({})", format.to_uppercase(), size_text(*size))}</a>
                                </span>
                            }
                        }).collect_view();
                        view! {
                            <tr data-report=id.to_string() data-status=status.clone() data-template=r.template_name.clone()>
                                <td><strong>{r.template_name.clone()}</strong><div class="small muted">{by}</div></td>
                                <td class="small">{date_time(Some(r.period_start))}<br/>{date_time(Some(r.period_end))}</td>
                                <td>
                                    <span class=format!("badge {}", report_badge(&status)) data-state=status.clone()>{status.clone()}</span>
                                    {r.error.clone().map(|e| view! { <div class="small form-error">{e}</div> })}
                                    {r.email_status.clone().map(|e| view! { <div class="small muted">{format!("email: {e}")}</div> })}
                                </td>
                                <td class="small">{date_time(Some(r.started_at))}</td>
                                <td class="small files">{files}</td>
                                {editor.then(|| view! {
                                    <td><button type="button" class="secondary" data-action="delete-report"
                                        aria-label=format!("Delete report {id}")
                                        on:click=move |_| { remove.dispatch(id); }>"Delete"</button></td>
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

fn report_badge(status: &str) -> &'static str {
    match status {
        "succeeded" => "up",
        "failed" => "down",
        _ => "never",
    }
}

fn size_text(bytes: i64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

#[component]
fn TemplateEditor(form: TemplateForm, version: RwSignal<u32>) -> impl IntoView {
    // Posted by the browser itself before the page is interactive; a problem met then comes back in the URL.
    let save = ServerAction::<SaveReportTemplate>::new();
    let saved = RwSignal::new(None::<ReportTemplateInfo>);
    Effect::new(move |_| {
        if let Some(Ok(info)) = save.value().get() {
            saved.set(Some(info));
            form.fill(None, &default_draft());
            version.update(|v| *v += 1);
        }
    });
    // Suggestions only, fetched in the browser after hydration (no Suspense inside the form).
    let catalog = LocalResource::new(metric_catalog);
    let interactive = crate::pages::interactive();
    let value = save.value();
    let local = FormErrors::new();
    let err = move |field: &'static str| {
        field_error(value, local, field, format!("report-{field}-error"))
    };
    let bad = move |field: &'static str| field_invalid(value, local, field);
    let described = |field: &str| format!("report-{field}-error");
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        local.set(None);
        saved.set(None);
        save.dispatch(SaveReportTemplate {
            form: form.fields(),
        });
    };
    let heading = move || match form.editing.get() {
        Some(_) => format!("Change template {}", form.name.get()),
        None => "New template".to_string(),
    };
    let add_kind = RwSignal::new("metrics_summary".to_string());
    let add_section = move |_| {
        if let Some(s) = ReportSection::new(&add_kind.get_untracked()) {
            let section = form.section(&s);
            form.sections.update(|all| all.push(section));
        }
    };
    let move_section = move |key: u32, by: isize| {
        form.sections.update(|all| {
            if let Some(i) = all.iter().position(|s| s.key == key) {
                let j = i as isize + by;
                if j >= 0 && (j as usize) < all.len() {
                    all.swap(i, j as usize);
                }
            }
        })
    };
    let remove_section = move |key: u32| form.sections.update(|all| all.retain(|s| s.key != key));
    let checkbox = move |id: &'static str,
                         name: &'static str,
                         label: &'static str,
                         on: RwSignal<bool>| {
        view! {
            <label class="check" for=id>
                <input id=id name=name type="checkbox" checked=on.get_untracked() prop:checked=move || on.get()
                    on:change=move |ev| on.set(event_target_checked(&ev))/>
                {label}
            </label>
        }
    };

    view! {
        <section class="card" aria-labelledby="template-form-heading">
            <h2 id="template-form-heading">{heading}</h2>
            {move || saved.get().map(|t| view! {
                <p class="ok-text small" role="status" data-saved="">{format!("Saved “{}”.", t.template.name)}
                    {t.warning.map(|w| view! { " " <span class="warn-text" data-warning="">{w}</span> })}</p>
            })}
            <form id="template-form" class="source-form" method="post" action=SaveReportTemplate::url() on:submit=submit on:input=move |ev| local.edited(&ev) on:change=move |ev| local.edited(&ev) novalidate>
                <input type="hidden" name="form[editing]" prop:value=move || form.editing.get().map(|id| id.to_string()).unwrap_or_default()/>
                <TextField id="report-name" name="form[name]" label="Name" placeholder="Daily summary" value=form.name error_id=described("name") invalid=bad("name")>{err("name")}</TextField>
                <TextField id="report-description" name="form[description]" label="Description" wide=true value=form.description error_id=described("description") invalid=bad("description")>{err("description")}</TextField>
                <TextField id="report-schedule" name="form[schedule]" label="Schedule" hint="(cron; empty: on demand)" placeholder="0 9 * * *" value=form.schedule error_id=described("schedule") invalid=bad("schedule")>{err("schedule")}</TextField>
                <TextField id="report-timezone" name="form[timezone]" label="Time zone" placeholder="UTC" value=form.timezone error_id=described("timezone") invalid=bad("timezone")>{err("timezone")}</TextField>
                <TextField id="report-period" name="form[period]" label="Period" hint="(24h, 7d or since_last)" placeholder="24h" value=form.period error_id=described("period") invalid=bad("period")>{err("period")}</TextField>
                <TextField id="report-recipients" name="form[recipients]" label="Email to" hint="(comma-separated; optional)" placeholder="team@example.com" value=form.recipients error_id=described("recipients") invalid=bad("recipients")>{err("recipients")}</TextField>
                <fieldset class="field" aria-describedby="report-formats-error">
                    <legend>"Formats"</legend>
                    <div class="checks">
                        {checkbox("report-format-html", "form[html]", "HTML (with charts)", form.html)}
                        {checkbox("report-format-json", "form[json]", "JSON", form.json)}
                        {checkbox("report-format-csv", "form[csv]", "CSV", form.csv)}
                    </div>
                    {err("formats")}
                </fieldset>
                <div class="field">
                    <span class="label">"Scheduling"</span>
                    {checkbox("report-enabled", "form[enabled]", "Enabled", form.enabled)}
                </div>
                <fieldset class="field wide sections" aria-describedby="report-sections-error">
                    <legend>"Sections " <span class="muted">"(in order)"</span></legend>
                    <datalist id="report-metric-list">
                                                {move || interactive.get().then(|| catalog.get()).flatten().and_then(Result::ok).unwrap_or_default().into_iter()
                            .map(|m| view! { <option value=m.metric.clone()>{m.sources.join(", ")}</option> })
                            .collect_view()}
                    </datalist>
                    <ol class="section-list">
                        <For each=move || form.sections.get() key=|s| s.key let:s>
                            <SectionEditor s posted=form.sections.with_untracked(|all| all.iter().position(|x| x.key == s.key)).map(|i| format!("form[sections][{i}]")).unwrap_or_default()
                                on_up=move || move_section(s.key, -1) on_down=move || move_section(s.key, 1)
                                on_remove=move || remove_section(s.key)/>
                        </For>
                    </ol>
                    <div class="row-actions">
                        <label class="sr-only" for="report-add-kind">"Kind of section to add"</label>
                        <select id="report-add-kind" prop:value=move || add_kind.get() on:change=move |ev| add_kind.set(event_target_value(&ev))>
                            {ReportSection::KINDS.iter().map(|(k, name)| view! { <option value=*k>{*name}</option> }).collect_view()}
                        </select>
                        <button type="button" class="secondary" data-action="add-section" on:click=add_section>"Add section"</button>
                    </div>
                    {err("sections")}
                </fieldset>
                {other_error(value, TEMPLATE_FIELDS)}
                <div class="form-actions">
                    <button type="submit" disabled=save.pending()>
                        {move || if form.editing.get().is_some() { "Save changes" } else { "Save template" }}
                    </button>
                    <Show when=move || form.editing.get().is_some()>
                        <button type="button" class="secondary" on:click=move |_| form.fill(None, &default_draft())>"Cancel"</button>
                    </Show>
                </div>
            </form>
        </section>
    }
    .into_any()
}

#[component]
fn SectionEditor(
    s: SectionForm,
    /// The prefix its fields are posted under (`form[sections][<i>]`, its place when the page was rendered).
    posted: String,
    on_up: impl Fn() + Send + Sync + Copy + 'static,
    on_down: impl Fn() + Send + Sync + Copy + 'static,
    on_remove: impl Fn() + Send + Sync + Copy + 'static,
) -> impl IntoView {
    let id = move |field: &str| format!("section-{}-{field}", s.key);
    let posted = StoredValue::new(posted);
    let name = move |field: &str| posted.with_value(|p| format!("{p}[{field}]"));
    let text = move |field: &'static str,
                     label: &'static str,
                     placeholder: &'static str,
                     value: RwSignal<String>| {
        let input_id = id(field);
        view! {
            <div class="field">
                <label for=input_id.clone()>{label}</label>
                <input id=input_id type="text" name=name(field) value=value.get_untracked() placeholder=placeholder
                    list=(field == "metrics").then_some("report-metric-list")
                    prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
            </div>
        }
    };
    let fields = move || {
        match s.kind.get().as_str() {
        "metrics_summary" => view! {
            {text("metrics", "Metrics", "response_time_ms, requests_total", s.metrics)}
            {text("sources", "Sources (empty: all)", "all", s.sources)}
            {text("labels", "Label matchers", "tool=search", s.labels)}
            <label class="check" for=id("chart")>
                <input id=id("chart") name=name("chart") type="checkbox" checked=s.chart.get_untracked() prop:checked=move || s.chart.get()
                    on:change=move |ev| s.chart.set(event_target_checked(&ev))/>
                "Chart"
            </label>
        }
        .into_any(),
        "alerts_summary" => view! {
            <label class="check" for=id("resolved")>
                <input id=id("resolved") name=name("show_resolved") type="checkbox" checked=s.show_resolved.get_untracked() prop:checked=move || s.show_resolved.get()
                    on:change=move |ev| s.show_resolved.set(event_target_checked(&ev))/>
                "Also alerts that resolved"
            </label>
        }
        .into_any(),
        _ => text("sources", "Sources (empty: all)", "all", s.sources).into_any(),
    }
    };
    view! {
        <li class="section-item" data-kind=move || s.kind.get()>
            <div class="section-head">
                <label class="sr-only" for=id("kind")>"Kind"</label>
                <select id=id("kind") name=name("kind") prop:value=move || s.kind.get() on:change=move |ev| s.kind.set(event_target_value(&ev))>
                    {ReportSection::KINDS.iter().map(|(k, label)| view! { <option value=*k selected=s.kind.with_untracked(|kind| kind == k)>{*label}</option> }).collect_view()}
                </select>
                <label class="sr-only" for=id("title")>"Title"</label>
                <input id=id("title") name=name("title") value=s.title.get_untracked() type="text" placeholder="Title (optional)"
                    prop:value=move || s.title.get() on:input=move |ev| s.title.set(event_target_value(&ev))/>
                <span class="spacer"></span>
                <button type="button" class="secondary" aria-label="Move up" on:click=move |_| on_up()>"↑"</button>
                <button type="button" class="secondary" aria-label="Move down" on:click=move |_| on_down()>"↓"</button>
                <button type="button" class="secondary" aria-label="Remove section" on:click=move |_| on_remove()>"Remove"</button>
            </div>
            <div class="section-fields">{fields}</div>
        </li>
    }
}

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
