//! Who is calling a REST data route: a signed-in browser (its session) or a program with an API token
//! (`Authorization: Bearer mcpulse_…`). Every data route's first step is [`Caller::authorize`].
//!
//! A token reads (GET routes) with the `read` scope and changes things (every other method) with the `write`
//! scope; either way it acts with its role, capped by its creator's current role, so a demotion reaches their tokens
//! at once. A revoked, expired or unknown token is 401, a missing scope or too low a role 403.

use crate::auth::tokens::Scope;
use crate::state::AppState;
use app::engine::authorize;
use app::error::AppError;
use app::types::{Role, UserInfo};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use tower_sessions::Session;

pub struct Caller {
    bearer: Option<String>,
    method: Method,
    session: Option<Session>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        // Only a bearer token counts: a browser behind a basic-auth proxy sends `Authorization: Basic …` with
        // every request and keeps using its session.
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "))
            .map(str::to_string);
        // A request with a token does not touch the session at all.
        let session = match bearer {
            Some(_) => None,
            None => Some(
                Session::from_request_parts(parts, state)
                    .await
                    .map_err(|(_, e)| AppError::Internal(e.to_string()))?,
            ),
        };
        Ok(Caller {
            bearer,
            method: parts.method.clone(),
            session,
        })
    }
}

impl Caller {
    /// The caller, if it may act with at least role `min`.
    pub async fn authorize(&self, state: &AppState, min: Role) -> Result<UserInfo, AppError> {
        if let Some(session) = &self.session {
            return authorize(session, state.engine.as_ref(), min).await;
        }
        let scope = if matches!(self.method, Method::GET | Method::HEAD) {
            Scope::Read
        } else {
            Scope::Write
        };
        let token = state
            .tokens
            .authenticate(self.bearer.as_deref(), scope)
            .await?;
        let acting = state.tokens.acting_as(&token).await?;
        if acting.role < min {
            return Err(AppError::Forbidden);
        }
        Ok(acting)
    }
}
