//! One module per page.

pub mod dashboard;
pub mod login;
pub mod setup;

use crate::error::AppError;
use leptos::prelude::*;

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
