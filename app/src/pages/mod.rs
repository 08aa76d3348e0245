//! One module per page.

pub mod alerts;
pub mod dashboard;
pub mod explore;
pub mod login;
pub mod mcp;
pub mod reports;
pub mod setup;
pub mod sources;
pub mod users;

use crate::api::Logout;
use crate::error::AppError;
use crate::types::UserInfo;
use leptos::prelude::*;
use leptos_router::components::A;

/// The bar on top of every signed-in page: navigation, `extra` (e.g. the live status), the user and sign-out.
#[component]
pub(crate) fn Topbar(
    user: UserInfo,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    // Effects run only in the browser: the attribute says the page is interactive (tests wait for it).
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar" data-hydrated=move || hydrated.get().to_string()>
            <span class="brand">"mcpulse"</span>
            <nav class="nav" aria-label="Pages">
                <A href="/" exact=true>"Dashboard"</A>
                <A href="/explore">"Explore"</A>
                <A href="/alerts">"Alerts"</A>
                <A href="/sources">"Sources"</A>
                <A href="/mcp-servers">"MCP"</A>
                <A href="/reports">"Reports"</A>
                {(user.role >= crate::types::Role::Admin).then(|| view! { <A href="/users">"Users"</A> })}
            </nav>
            {children.map(|c| c())}
            <span class="spacer"></span>
            <span class="muted">{user.username.clone()} " · " {user.role.to_string()}</span>
            <ActionForm action=logout attr:class="inline">
                <button type="submit" class="secondary">"Sign out"</button>
            </ActionForm>
        </header>
    }
    .into_any()
}

/// A page for signed-in users: fetches who is signed in, sends anonymous visitors to sign-in, and renders `page`
/// with the user — or, for a user below `min`, a refusal with the top bar still there.
///
/// `page` must not create resources: it runs inside this `Suspend`, which the server's Suspense walks several times
/// before rendering (`dry_resolve`), so a resource created there was created and fetched two or three times, each
/// copy under the next serialization id. The browser creates it once and read the first copy's value while the
/// HTML showed a later copy's; whenever the data changed in between (a source's health, a token's last use, an
/// alert's value), hydration met a node it did not expect and panicked. Pages create their resources when their
/// route renders, before `SignedIn` (in `LazyRoute::view`, so their code and decoders stay in the page's lazy
/// chunk), and hand them to `page` (`tests/it/pages.rs` counts them in the HTML).
#[component]
pub(crate) fn SignedIn<F, V>(
    /// The page's name in the browser's title.
    title: &'static str,
    #[prop(default = crate::types::Role::Viewer)] min: crate::types::Role,
    page: F,
) -> impl IntoView
where
    F: Fn(UserInfo) -> V + Copy + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let user = Resource::new(|| (), |_| crate::api::current_user());
    view! {
        <leptos_meta::Title text=format!("{title} · mcpulse")/>
        <Transition fallback=|| view! { <main id="main" class="page"><p class="muted">"Loading…"</p></main> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(user) if user.role >= min => page(user).into_any(),
                    Ok(user) => view! {
                        <Topbar user/>
                        <main id="main" class="page">
                            <p class="form-error" role="alert">
                                {format!("{} This page is for {}s.", AppError::Forbidden, min)}
                            </p>
                        </main>
                    }
                    .into_any(),
                    Err(AppError::Unauthorized) => view! { <leptos_router::components::Redirect path="/login"/> }.into_any(),
                    Err(e) => view! { <main id="main" class="page"><p class="form-error" role="alert">{e.to_string()}</p></main> }.into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

/// `false` on the server and during hydration, `true` once the page is interactive. A [`LocalResource`] is read
/// only behind it: read while the server renders, it makes the enclosing `Suspense`/`Transition` give up and send
/// its fallback ("Loading…") instead of the page — intermittently, as it races the page's own data — so the page
/// was blank without script and flashed before hydration (`tests/it/pages.rs` renders every page repeatedly).
pub(crate) fn interactive() -> Signal<bool> {
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));
    ready.into()
}

/// A source's status as a badge: up, down, disabled, or never (no round finished yet).
pub(crate) fn status_badge(status: &crate::types::SourceStatus) -> impl IntoView {
    let state = status.state();
    view! { <span class=format!("badge {state}") data-state=state>{state}</span> }
}

/// A time of day for tables (UTC), or "never".
pub(crate) fn time_of_day(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| {
        let hms = crate::chart::draw::format_time(
            t.timestamp_millis(),
            crate::chart::draw::TimeFormat::Second,
        );
        format!("{hms} UTC")
    })
    .unwrap_or_else(|| "never".into())
}

/// The message under a form after its server function failed, if it did.
pub(crate) fn form_error<T: 'static>(
    value: impl With<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        value.with(|v| match v {
            Some(Err(e)) => Some(view! { <p class="form-error" role="alert">{e.to_string()}</p> }),
            _ => None,
        })
    }
}

/// Bumps `version` (which the page's list resource follows) when a collection round arrives over the websocket,
/// at most once per `every_ms` of the rounds' own clock: lists of sources and servers stay current without a
/// reload, and a busy fleet does not turn into a request per round.
pub(crate) fn follow_rounds(version: RwSignal<u32>, every_ms: i64) {
    let live = crate::live::use_live();
    Effect::new(move |last: Option<i64>| {
        let last = last.unwrap_or(i64::MIN / 2);
        let Some(t) = live.latest.with(|b| b.as_ref().map(|b| b.t)) else {
            return last;
        };
        if t - last >= every_ms {
            version.update(|v| *v += 1);
            t
        } else {
            last
        }
    });
}

/// A labelled text input bound to `value`; `children` is the field's error (see [`field_error`]), which
/// `aria-describedby` names by `error_id`.
#[component]
pub(crate) fn TextField(
    id: &'static str,
    label: &'static str,
    /// Shown after the label, muted (e.g. an example).
    #[prop(optional)]
    hint: &'static str,
    #[prop(optional)] placeholder: &'static str,
    /// The name the browser posts it under (`form[<field>]`), when the form is posted before it is interactive.
    #[prop(optional)]
    name: &'static str,
    value: RwSignal<String>,
    error_id: String,
    /// Spans the whole form row.
    #[prop(optional)]
    wide: bool,
    #[prop(optional)] required: bool,
    /// Whether the field's error shows (`aria-invalid`).
    #[prop(optional, into)]
    invalid: Signal<bool>,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="field" class:wide=wide>
            <label for=id>{label} {(!hint.is_empty()).then(|| view! { " " <span class="muted">{hint}</span> })}</label>
            // `value` (the attribute) is what the server renders; the property follows the signal once hydrated.
            <input id=id type="text" name=(!name.is_empty()).then_some(name) value=value.get_untracked()
                required=required placeholder=placeholder aria-describedby=error_id
                aria-invalid=move || invalid.get().then_some("true")
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
            {children()}
        </div>
    }
}

/// A labelled select of `options` bound to `value`; `children` is the field's error.
#[component]
pub(crate) fn SelectField(
    id: &'static str,
    label: &'static str,
    options: &'static [&'static str],
    /// The name the browser posts it under (see [`TextField`]).
    #[prop(optional)]
    name: &'static str,
    value: RwSignal<String>,
    error_id: String,
    /// Whether the field's error shows (`aria-invalid`).
    #[prop(optional, into)]
    invalid: Signal<bool>,
    children: Children,
) -> impl IntoView {
    let initial = value.get_untracked();
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <select id=id name=(!name.is_empty()).then_some(name) aria-describedby=error_id aria-invalid=move || invalid.get().then_some("true")
                prop:value=move || value.get() on:change=move |ev| value.set(event_target_value(&ev))>
                {options.iter().map(|o| view! { <option value=*o selected=*o == initial>{*o}</option> }).collect_view()}
            </select>
            {children()}
        </div>
    }
}

/// A form's own error state: the problem found in the browser before sending, and the fields edited since the
/// last submit (whose errors no longer apply, so they are hidden until the next answer).
#[derive(Clone, Copy)]
pub(crate) struct FormErrors {
    local: RwSignal<Option<(String, String)>>,
    edited: RwSignal<Vec<String>>,
}

impl FormErrors {
    pub fn new() -> Self {
        FormErrors {
            local: RwSignal::new(None),
            edited: RwSignal::new(Vec::new()),
        }
    }

    /// Sets (or clears) the local problem; a new submit starts here, so every field's errors show again.
    pub fn set(&self, problem: Option<(String, String)>) {
        self.local.set(problem);
        self.edited.set(Vec::new());
    }

    pub fn get(&self) -> Option<(String, String)> {
        self.local.get()
    }

    /// Marks the field an input or change event came from as edited: each field names its error element with
    /// `aria-describedby="<form>-<field>-error"` (or `<field>-error`).
    pub fn edited(&self, ev: &leptos::ev::Event) {
        use leptos::wasm_bindgen::JsCast;
        let Some(target) = ev
            .target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
        else {
            return;
        };
        // A checkbox in a fieldset: the fieldset names the error.
        let Some(field) = target
            .closest("[aria-describedby]")
            .ok()
            .flatten()
            .and_then(|e| e.get_attribute("aria-describedby"))
            .as_deref()
            .and_then(|d| d.strip_suffix("-error"))
            .map(|d| d.split_once('-').map(|(_, f)| f).unwrap_or(d).to_string())
        else {
            return;
        };
        if !self.edited.with_untracked(|e| e.contains(&field)) {
            self.edited.update(|e| e.push(field));
        }
    }

    fn is_edited(&self, field: &str) -> bool {
        self.edited.with(|e| e.iter().any(|f| f == field))
    }
}

/// The problem with form field `field`: found locally before sending (`local`), or named by the server in its last
/// answer (`AppError::Invalid`, which names every bad field at once); hidden once the field is edited. Rendered
/// under the field as `<p id=id>`, which the field's `aria-describedby` names.
pub(crate) fn field_error<T: 'static>(
    value: impl With<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static,
    local: FormErrors,
    field: &'static str,
    id: String,
) -> impl IntoView {
    move || {
        let id = id.clone();
        field_message(value, local, field)
            .map(|m| view! { <p class="field-error" id=id role="alert">{m}</p> })
    }
}

/// Whether form field `field` has a problem shown under it (for its `aria-invalid`).
pub(crate) fn field_invalid<T: 'static>(
    value: impl With<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static,
    local: FormErrors,
    field: &'static str,
) -> Signal<bool> {
    Signal::derive(move || field_message(value, local, field).is_some())
}

/// The problem shown under `field`: the local one, else the server's last answer's; none once edited.
fn field_message<T: 'static>(
    value: impl With<Value = Option<Result<T, AppError>>>,
    local: FormErrors,
    field: &'static str,
) -> Option<String> {
    if local.is_edited(field) {
        return None;
    }
    local
        .get()
        .filter(|(f, _)| f == field)
        .map(|(_, m)| m)
        .or_else(|| {
            value.with(|v| match v {
                Some(Err(e)) => e.problem_with(field),
                _ => None,
            })
        })
}

/// Whether every problem of `e` shows under one of `fields` (so the form needs no message of its own).
pub(crate) fn shown_by_fields(e: &AppError, fields: &[&str]) -> bool {
    let problems = e.problems();
    !problems.is_empty() && problems.iter().all(|p| fields.contains(&p.field.as_str()))
}

/// The error of a form's last answer unless each of its problems names one of `fields` (those show under their
/// field).
pub(crate) fn other_error<T: 'static>(
    value: impl With<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static,
    fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        value.with(|v| match v {
            Some(Err(e)) if shown_by_fields(e, fields) => None,
            Some(Err(e)) => Some(view! { <p class="form-error" role="alert">{e.to_string()}</p> }),
            _ => None,
        })
    }
}

pub(crate) use crate::forms::{format_pairs, split_list};

/// A date and time for tables (UTC), or "–".
pub(crate) fn date_time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| {
        crate::chart::draw::format_time(t.timestamp_millis(), crate::chart::draw::TimeFormat::Full)
    })
    .unwrap_or_else(|| "–".into())
}
