//! Signing in and out, first-run setup, and who the caller is (the public exceptions: sign-in and setup).

use crate::error::AppError;
use crate::types::*;
use leptos::prelude::*;

/// The signed-in user.
#[server(prefix = "/api/fn", endpoint = "me", output = crate::codec::Answer)]
pub async fn current_user() -> Result<UserInfo, AppError> {
    use crate::engine::{require_role, respond};
    use crate::types::Role;
    respond(require_role(Role::Viewer).await)
}

/// Public: signs in. Rate-limited per client address and per account; one generic message for every wrong credential.
#[server(prefix = "/api/fn", endpoint = "login", output = crate::codec::Answer)]
pub async fn login(username: String, password: String) -> Result<(), AppError> {
    use crate::engine::{client_ip, engine, respond, session, sign_in};
    respond(
        async {
            let (user, epoch) = engine()?
                .verify_login(username.trim(), &password, client_ip().await)
                .await?;
            sign_in(&session().await?, &user, epoch).await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

/// Public only while no user exists: creates the first admin and signs it in.
#[server(prefix = "/api/fn", endpoint = "setup", output = crate::codec::Answer)]
pub async fn setup(username: String, password: String, confirm: String) -> Result<(), AppError> {
    use crate::engine::{engine, respond, session, sign_in};
    respond(
        async {
            if password != confirm {
                return Err(AppError::invalid("confirm", "the two passwords differ"));
            }
            let (user, epoch) = engine()?
                .create_first_admin(username.trim(), &password)
                .await?;
            sign_in(&session().await?, &user, epoch).await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

/// Signs out: the session is deleted server-side.
#[server(prefix = "/api/fn", endpoint = "logout", output = crate::codec::Answer)]
pub async fn logout() -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond, session, sign_out};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            sign_out(&session().await?, engine()?.as_ref()).await?;
            leptos_axum::redirect("/login");
            Ok(())
        }
        .await,
    )
}
