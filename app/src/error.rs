//! The error every server function returns. It crosses the wire as JSON, so the UI matches on variants and shows a
//! clear message; internal causes stay in the server log, the client only sees a reference to find them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Sign in to continue.")]
    Unauthorized,
    #[error("Your role does not allow this.")]
    Forbidden,
    /// Deliberately the same message whether the user exists or not.
    #[error("Invalid username or password.")]
    InvalidCredentials,
    #[error("Too many sign-in attempts. Try again in {} minute(s).", retry_after_secs.div_ceil(60).max(1))]
    RateLimited { retry_after_secs: u64 },
    /// Bad input: the first problem, and in `more` every other one found in the same request (forms show each
    /// under its field). Nothing was changed.
    #[error("{field}: {message}{}", more.iter().map(|p| format!("; {}: {}", p.field, p.message)).collect::<String>())]
    Invalid {
        field: String,
        message: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        more: Vec<Problem>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("Not found.")]
    NotFound,
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A configured limit was reached (the message names it); nothing of the request was stored.
    #[error("{0}")]
    LimitReached(String),
    /// The database (or another dependency) cannot be reached right now; nothing of the request was stored and it
    /// may be retried.
    #[error("{0}")]
    Unavailable(String),
    #[error(
        "Something went wrong on the server (reference {0}); the details are in the server log."
    )]
    Internal(String),
    /// Stored data that cannot be read (a damaged chunk): the message names the series and the period.
    #[error("{0}")]
    Damaged(String),
    /// The request never reached the server function, or its answer could not be read.
    #[error("Request failed: {0}")]
    Transport(String),
}

/// One field's problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

/// Collects every problem of a request before answering, so a form learns all of them at once:
/// `let name = problems.take(parse_name(..));` … `problems.finish()?;`.
#[derive(Debug, Default)]
pub struct Problems {
    found: Vec<Problem>,
    /// An error that is not about a field (it is answered instead).
    other: Option<AppError>,
}

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field` (one per field: the first is kept).
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let field = field.into();
        if !self.found.iter().any(|p| p.field == field) {
            self.found.push(Problem {
                field,
                message: message.into(),
            });
        }
    }

    /// The value of `result`, or `None` after recording its problems.
    pub fn take<T>(&mut self, result: Result<T, AppError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                match e.problems() {
                    list if list.is_empty() => {
                        self.other.get_or_insert(e);
                    }
                    list => {
                        for p in list {
                            self.add(p.field, p.message);
                        }
                    }
                }
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty() && self.other.is_none()
    }

    /// `Ok` when nothing was found; else every problem in one `Invalid` (or the first error not about a field).
    pub fn finish(self) -> Result<(), AppError> {
        if let Some(e) = self.other {
            return Err(e);
        }
        let mut found = self.found.into_iter();
        match found.next() {
            None => Ok(()),
            Some(first) => Err(AppError::Invalid {
                field: first.field,
                message: first.message,
                more: found.collect(),
            }),
        }
    }
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.into(),
            message: message.into(),
            more: Vec::new(),
        }
    }

    /// Every field problem of an `Invalid` error, first first (none for other errors).
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            AppError::Invalid {
                field,
                message,
                more,
            } => std::iter::once(Problem {
                field: field.clone(),
                message: message.clone(),
            })
            .chain(more.iter().cloned())
            .collect(),
            _ => Vec::new(),
        }
    }

    /// The problem with `field`, if this error names it.
    pub fn problem_with(&self, field: &str) -> Option<String> {
        self.problems()
            .into_iter()
            .find(|p| p.field == field)
            .map(|p| p.message)
    }

    /// Logs `cause` with a fresh reference and returns an error that shows only the reference; a database that
    /// cannot be reached right now is [`AppError::Unavailable`] instead (503: retry later, nothing was changed).
    #[cfg(feature = "ssr")]
    pub fn internal(cause: impl std::fmt::Display + 'static) -> Self {
        let any: &dyn std::any::Any = &cause;
        let unavailable = any
            .downcast_ref::<sqlx::Error>()
            .is_some_and(database_unavailable)
            || any.downcast_ref::<anyhow::Error>().is_some_and(|e| {
                e.chain()
                    .filter_map(|c| c.downcast_ref::<sqlx::Error>())
                    .any(database_unavailable)
            });
        if unavailable {
            tracing::warn!(error = %cause, "the database is unavailable");
            return AppError::Unavailable(
                "The database cannot be reached right now; nothing was changed. Try again shortly."
                    .into(),
            );
        }
        let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        tracing::error!(reference = %reference, error = %cause, "internal error");
        AppError::Internal(reference)
    }

    /// The HTTP status this error is answered with, for server functions and REST routes alike.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Unauthorized | AppError::InvalidCredentials => 401,
            AppError::Forbidden => 403,
            AppError::NotFound => 404,
            AppError::TooLarge(_) => 413,
            AppError::UnsupportedMediaType(_) => 415,
            AppError::Conflict(_) => 409,
            AppError::Invalid { .. } => 422,
            AppError::RateLimited { .. } | AppError::LimitReached(_) => 429,
            AppError::Unavailable(_) => 503,
            AppError::Transport(_) => 400,
            AppError::Internal(_) | AppError::Damaged(_) => 500,
        }
    }
}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = crate::codec::JsonText;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let status = axum::http::StatusCode::from_u16(self.status_code())
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (
            status,
            axum::Json(serde_json::json!({ "error": self.to_string(), "kind": self })),
        )
            .into_response();
        if self == AppError::Unauthorized {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"mcpulse\""),
            );
        }
        if let AppError::RateLimited { retry_after_secs } = self {
            if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after_secs.to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// Whether a database error means PostgreSQL cannot be reached right now (connection lost or refused, the server
/// shutting down or starting, the pool exhausted) rather than a fault of the request or of mcpulse.
#[cfg(feature = "ssr")]
pub fn database_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        // Class 08 (connection exception), 57P01–57P05 (shutdown, crash, cannot connect now…), 53300 (too many
        // connections).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "53300"),
        _ => false,
    }
}
