//! The Users page: accounts, roles, passwords, sessions and API tokens (admins only).

use crate::error::AppError;
use crate::types::*;
use leptos::prelude::*;

/// Admin: every user account.
#[server(prefix = "/api/fn", endpoint = "users", output = crate::codec::Answer)]
pub async fn list_users() -> Result<Vec<UserInfo>, AppError> {
    crate::engine::serve_as(
        Role::Admin,
        |engine, _| async move { engine.list_users().await },
    )
    .await
}

/// Admin: creates an account with a role; a bad username or password is named.
#[server(prefix = "/api/fn", endpoint = "user_create", output = crate::codec::Answer)]
pub async fn create_user(
    username: String,
    password: String,
    role: crate::types::Role,
) -> Result<UserInfo, AppError> {
    crate::engine::serve_as(Role::Admin, |engine, admin| async move {
        engine
            .create_user(&username, &password, role, &admin.username)
            .await
    })
    .await
}

/// Admin: changes user `id`'s role (the last admin stays admin).
#[server(prefix = "/api/fn", endpoint = "user_role", output = crate::codec::Answer)]
pub async fn set_user_role(id: i64, role: crate::types::Role) -> Result<UserInfo, AppError> {
    crate::engine::serve_as(Role::Admin, |engine, admin| async move {
        engine.set_user_role(id, role, &admin.username).await
    })
    .await
}

/// Admin: sets user `id`'s password and signs them out everywhere.
#[server(prefix = "/api/fn", endpoint = "user_password", output = crate::codec::Answer)]
pub async fn reset_password(id: i64, password: String) -> Result<(), AppError> {
    crate::engine::serve_as(Role::Admin, |engine, admin| async move {
        engine.reset_password(id, &password, &admin.username).await
    })
    .await
}

/// Admin: deletes user `id` (never the last admin, never oneself); their sessions end at once.
#[server(prefix = "/api/fn", endpoint = "user_delete", output = crate::codec::Answer)]
pub async fn delete_user(id: i64) -> Result<(), AppError> {
    crate::engine::serve_as(Role::Admin, |engine, admin| async move {
        engine.delete_user(id, &admin.username).await
    })
    .await
}

/// Admin: signs user `id` out of every session.
#[server(prefix = "/api/fn", endpoint = "user_revoke_sessions", output = crate::codec::Answer)]
pub async fn revoke_sessions(id: i64) -> Result<(), AppError> {
    crate::engine::serve_as(Role::Admin, |engine, admin| async move {
        engine.revoke_sessions(id, &admin.username).await
    })
    .await
}

/// Admin: creates an API token from the token form's fields; the secret is in the answer and nowhere else.
#[server(prefix = "/api/fn", endpoint = "token_create", output = crate::codec::Answer)]
pub async fn create_token(form: crate::forms::TokenFields) -> Result<CreatedToken, AppError> {
    crate::engine::serve_as(Role::Admin, |engine, admin| async move {
        let request =
            TokenRequest::parse(&form.name, &form.scopes(), &form.expires_in, &form.role)?;
        let created = engine.create_token(&request, &admin.username).await?;
        // Posted by the browser itself, the answer is a redirect: the page it leads to shows the secret.
        if crate::engine::posted_by_browser() {
            crate::engine::keep_new_token(&created).await?;
        }
        Ok(created)
    })
    .await
}

/// Admin: the token just created by a form the browser posted itself, once (its secret is shown on the page the
/// browser was sent back to, and then forgotten).
#[server(prefix = "/api/fn", endpoint = "token_new", output = crate::codec::Answer)]
pub async fn new_token() -> Result<Option<CreatedToken>, AppError> {
    use crate::engine::{require_role, respond, take_new_token};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Admin).await?;
            take_new_token().await
        }
        .await,
    )
}

/// Admin: every API token (without secrets).
#[server(prefix = "/api/fn", endpoint = "tokens", output = crate::codec::Answer)]
pub async fn list_tokens() -> Result<Vec<TokenInfo>, AppError> {
    crate::engine::serve_as(Role::Admin, |engine, _| async move {
        engine.list_tokens().await
    })
    .await
}

/// Admin: revokes an API token for good.
#[server(prefix = "/api/fn", endpoint = "token_revoke", output = crate::codec::Answer)]
pub async fn revoke_token(id: i64) -> Result<(), AppError> {
    crate::engine::serve_as(Role::Admin, |engine, _| async move {
        engine.revoke_token(id).await
    })
    .await
}
