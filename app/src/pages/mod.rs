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
/// alert's value), hydration met a node it did not expect and panicked. Pages create their resources in their
/// route's `LazyRoute::data()` and hand them to `page` (`tests/it/pages.rs` counts them in the HTML).
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
        <Transition fallback=|| view! { <main class="page"><p class="muted">"Loading…"</p></main> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(user) if user.role >= min => page(user).into_any(),
                    Ok(user) => view! {
                        <Topbar user/>
                        <main class="page">
                            <p class="form-error" role="alert">
                                {format!("{} This page is for {}s.", AppError::Forbidden, min)}
                            </p>
                        </main>
                    }
                    .into_any(),
                    Err(AppError::Unauthorized) => view! { <leptos_router::components::Redirect path="/login"/> }.into_any(),
                    Err(e) => view! { <main class="page"><p class="form-error" role="alert">{e.to_string()}</p></main> }.into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
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
    value: RwSignal<String>,
    error_id: String,
    /// Spans the whole form row.
    #[prop(optional)]
    wide: bool,
    #[prop(optional)] required: bool,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="field" class:wide=wide>
            <label for=id>{label} {(!hint.is_empty()).then(|| view! { " " <span class="muted">{hint}</span> })}</label>
            <input id=id type="text" required=required placeholder=placeholder aria-describedby=error_id
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
    value: RwSignal<String>,
    error_id: String,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <select id=id aria-describedby=error_id
                prop:value=move || value.get() on:change=move |ev| value.set(event_target_value(&ev))>
                {options.iter().map(|o| view! { <option value=*o>{*o}</option> }).collect_view()}
            </select>
            {children()}
        </div>
    }
}

/// The problem with form field `field`: found locally before sending (`local`), or named by the server in its last
/// answer (`AppError::Invalid`). Rendered under the field as `<p id=id>`, which the field's `aria-describedby` names.
pub(crate) fn field_error<T: 'static>(
    value: impl With<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static,
    local: RwSignal<Option<(String, String)>>,
    field: &'static str,
    id: String,
) -> impl IntoView {
    move || {
        let message = local
            .get()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m)
            .or_else(|| {
                value.with(|v| match v {
                    Some(Err(AppError::Invalid { field: f, message })) if f == field => {
                        Some(message.clone())
                    }
                    _ => None,
                })
            });
        let id = id.clone();
        message.map(|m| view! { <p class="field-error" id=id role="alert">{m}</p> })
    }
}

/// The error of a form's last answer unless it names one of `fields` (those show under their field).
pub(crate) fn other_error<T: 'static>(
    value: impl With<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static,
    fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        value.with(|v| match v {
            Some(Err(AppError::Invalid { field, .. })) if fields.contains(&field.as_str()) => None,
            Some(Err(e)) => Some(view! { <p class="form-error" role="alert">{e.to_string()}</p> }),
            _ => None,
        })
    }
}

/// `team=search, env=prod` → a map; a pair without `=` is an error naming it.
pub(crate) fn parse_pairs(
    text: &str,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut pairs = std::collections::BTreeMap::new();
    for pair in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(format!(
                "`{pair}`: write name=value pairs, separated by commas"
            ));
        };
        pairs.insert(name.trim().to_string(), value.trim().to_string());
    }
    Ok(pairs)
}

/// A map as `name=value, …` for a text field.
pub(crate) fn format_pairs(pairs: &std::collections::BTreeMap<String, String>) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a, b` (or one per line) → `["a", "b"]`.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// A date and time for tables (UTC), or "–".
pub(crate) fn date_time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| {
        crate::chart::draw::format_time(t.timestamp_millis(), crate::chart::draw::TimeFormat::Full)
    })
    .unwrap_or_else(|| "–".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_lists_are_written_with_commas() {
        let pairs = parse_pairs(" team=search, env = prod ,\n").unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs["env"], "prod");
        assert_eq!(format_pairs(&pairs), "env=prod, team=search");
        assert!(parse_pairs("").unwrap().is_empty());
        assert!(parse_pairs("team").unwrap_err().contains("name=value"));
        assert_eq!(split_list(" a, b\n,c "), vec!["a", "b", "c"]);
        // Matchers with regex alternatives keep their `|`.
        assert_eq!(
            split_list("severity=~error|critical"),
            vec!["severity=~error|critical"]
        );
    }
}
