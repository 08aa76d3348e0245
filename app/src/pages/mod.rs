//! One module per page.

pub mod dashboard;
pub mod login;
pub mod setup;
pub mod sources;

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
    view! {
        <header class="topbar">
            <span class="brand">"mcpulse"</span>
            <nav class="nav" aria-label="Pages">
                <A href="/" exact=true>"Dashboard"</A>
                <A href="/sources">"Sources"</A>
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

/// A source's status as a badge: up, down, disabled, or never (no round finished yet).
pub(crate) fn status_badge(status: &crate::types::SourceStatus) -> impl IntoView {
    let state = status.state();
    view! { <span class=format!("badge {state}") data-state=state>{state}</span> }
}

/// A time of day for tables (UTC), or "never".
pub(crate) fn time_of_day(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%H:%M:%S UTC").to_string())
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
