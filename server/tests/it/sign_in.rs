//! Sign-in, sign-out, sessions, first-run setup, attempt limits and the cross-site guard.

use crate::helpers::{spawn_app, PASSWORD};
use app::types::Role;
use mcpulse::auth::{NewPassword, Users};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mcpulse_session="))
        .map(str::to_string)
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn wrong_credentials_get_one_generic_message_and_right_ones_a_hardened_session() {
    let app = spawn_app().await;
    app.add_user("alice", Role::Admin).await;
    let client = app.client();

    let wrong_password = app
        .call(
            &client,
            "login",
            &[("username", "alice"), ("password", "nope nope")],
        )
        .await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    let wrong_password = wrong_password.text().await.unwrap();
    let unknown_user = app
        .call(
            &client,
            "login",
            &[("username", "mallory"), ("password", "nope nope")],
        )
        .await;
    assert_eq!(unknown_user.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown_user.text().await.unwrap(),
        wrong_password,
        "no hint whether the user exists"
    );

    let ok = app
        .call(
            &client,
            "login",
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let cookie = session_cookie(&ok).expect("a session cookie is set");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http: no Secure flag ({cookie})"
    );
    assert_eq!(
        app.get(&client, "/api/metrics").await.status(),
        StatusCode::OK
    );

    // Usernames are case-insensitive.
    let again = app
        .call(
            &app.client(),
            "login",
            &[("username", "ALICE"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let app =
        crate::helpers::spawn_app_with(&[("MCPULSE_PUBLIC_URL", "https://mon.example.com")]).await;
    app.add_user("alice", Role::Viewer).await;
    let res = app
        .call(
            &app.client(),
            "login",
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert!(session_cookie(&res).unwrap().contains("Secure"));
    app.stop().await;
}

#[tokio::test]
async fn sign_in_cycles_the_session_id_and_sign_out_invalidates_it_server_side() {
    let app = spawn_app().await;
    app.add_user("bob", Role::Viewer).await;
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = |cookie: Option<String>| {
        let mut req = raw
            .post(format!("{}/api/fn/login", app.base))
            .form(&[("username", "bob"), ("password", PASSWORD)]);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send()
    };
    let first = cookie_pair(&session_cookie(&login(None).await.unwrap()).unwrap());
    let second = cookie_pair(&session_cookie(&login(Some(first.clone())).await.unwrap()).unwrap());
    assert_ne!(first, second, "signing in again issues a new session id");
    let metrics = |cookie: String| {
        raw.get(format!("{}/api/metrics", app.base))
            .header(COOKIE, cookie)
            .send()
    };
    // A request sent with the old id before the browser saw the new one (another tab, a slow request) still
    // works for the rotation grace period, and its answer sets no cookie (which would overwrite the new one).
    let late = metrics(first.clone()).await.unwrap();
    assert_eq!(late.status(), StatusCode::OK, "in flight during sign-in");
    assert_eq!(
        session_cookie(&late),
        None,
        "no cookie replaces the new session's"
    );
    assert_eq!(
        metrics(second.clone()).await.unwrap().status(),
        StatusCode::OK
    );
    // After the grace period (its clock moved back in the database) the old id is dead; the new one lives on.
    sqlx::query("UPDATE sessions SET ended_at = ended_at - interval '31 seconds' WHERE ended_at IS NOT NULL")
        .execute(&app.pool)
        .await
        .unwrap();
    let dead = metrics(first.clone()).await.unwrap();
    assert_eq!(
        dead.status(),
        StatusCode::UNAUTHORIZED,
        "the old id is dead"
    );
    assert_eq!(
        metrics(second.clone()).await.unwrap().status(),
        StatusCode::OK
    );

    let out = raw
        .post(format!("{}/api/fn/logout", app.base))
        .header(COOKIE, second.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    assert_eq!(
        metrics(second.clone()).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "a replayed cookie is refused at once after sign-out (no grace)"
    );
    // A request finishing after the sign-out cannot bring the record back.
    let revived: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE ended_at IS NULL AND data <> '{}'::jsonb",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(revived, 0, "no live session is left");
    app.stop().await;
}

/// Activity extends a session: a user who keeps using mcpulse is not signed out `auth.session_ttl` after sign-in.
#[tokio::test]
async fn an_active_session_outlives_the_session_ttl_an_idle_one_does_not() {
    let app = crate::helpers::spawn_app_with(&[("MCPULSE_SESSION_TTL", "6s")]).await;
    app.add_user("dora", Role::Viewer).await;
    let active = app.signed_in("dora").await;
    let idle = app.signed_in("dora").await;
    let started = std::time::Instant::now();
    // Requests every 500 ms for three TTLs.
    while started.elapsed() < std::time::Duration::from_secs(18) {
        let res = app.get(&active, "/api/metrics").await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "active session refused after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(
        app.get(&idle, "/api/metrics").await.status(),
        StatusCode::UNAUTHORIZED,
        "the idle session expired"
    );
    app.stop().await;
}

/// The session store compares expiry with the database's own clock: on a database whose `TimeZone` is west of UTC,
/// the sweep deletes no live session (it used to compare with a local-time timestamp, 8 hours off).
#[tokio::test]
async fn the_session_sweep_keeps_live_sessions_whatever_the_database_time_zone() {
    use tower_sessions::session::{Id, Record};
    use tower_sessions::session_store::{ExpiredDeletion, SessionStore};
    let (url, name) = crate::helpers::fresh_database().await;
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    // sqlx asks for UTC when it connects; the session is switched afterwards, as a server's TimeZone would be.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .after_connect(|conn, _| {
            Box::pin(async move {
                use sqlx::Executor;
                conn.execute("SET TimeZone = 'America/Los_Angeles'").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .unwrap();
    let tz: String = sqlx::query_scalar("SHOW TimeZone")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tz, "America/Los_Angeles");
    mcpulse::db::migrate(&pool).await.unwrap();
    let store = mcpulse::auth::sessions::PgSessions::new(pool.clone());
    let mut live = Record {
        id: Id::default(),
        data: [("uid".to_string(), serde_json::json!(1))].into(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    store.create(&mut live).await.unwrap();
    let mut gone = Record {
        id: Id::default(),
        data: [("uid".to_string(), serde_json::json!(2))].into(),
        expiry_date: time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
    };
    store.create(&mut gone).await.unwrap();
    store.delete_expired().await.unwrap();
    assert!(
        store.load(&live.id).await.unwrap().is_some(),
        "the live session survived the sweep"
    );
    assert!(store.load(&gone.id).await.unwrap().is_none());
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1, "only the expired one was deleted");
    pool.close().await;
    crate::helpers::drop_database(&name).await;
}

#[tokio::test]
async fn a_password_change_signs_out_every_session() {
    let app = spawn_app().await;
    app.add_user("carol", Role::Editor).await;
    let client = app.signed_in("carol").await;
    assert_eq!(
        app.get(&client, "/api/metrics").await.status(),
        StatusCode::OK
    );
    Users::new(app.pool.clone())
        .set_password("carol", NewPassword::parse("another password").unwrap())
        .await
        .unwrap();
    assert_eq!(
        app.get(&client, "/api/metrics").await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

#[tokio::test]
async fn repeated_failures_lock_the_account_with_a_clear_message() {
    let app = spawn_app().await;
    app.add_user("dave", Role::Viewer).await;
    let client = app.client();
    for _ in 0..5 {
        let res = app
            .call(
                &client,
                "login",
                &[("username", "dave"), ("password", "guess guess")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app
        .call(
            &client,
            "login",
            &[("username", "dave"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let body = res.text().await.unwrap();
    assert!(body.contains("RateLimited"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn cross_site_state_changes_are_refused() {
    let app = spawn_app().await;
    app.add_user("erin", Role::Viewer).await;
    let client = app.client();
    let forged = client
        .post(format!("{}/api/fn/login", app.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[("username", "erin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(&forged).is_none());
    let forged = client
        .post(format!("{}/api/fn/login", app.base))
        .header("origin", "https://evil.example")
        .form(&[("username", "erin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let same_origin = client
        .post(format!("{}/api/fn/login", app.base))
        .header("sec-fetch-site", "same-origin")
        .form(&[("username", "erin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn first_run_setup_exists_only_while_there_are_no_users() {
    let app = spawn_app().await;
    let client = app.client();
    let res = app.get(&client, "/").await;
    assert_eq!(
        res.headers()["location"],
        "/setup",
        "no users: everything leads to setup"
    );
    assert_eq!(app.get(&client, "/setup").await.status(), StatusCode::OK);

    let mismatch = app
        .call(
            &client,
            "setup",
            &[
                ("username", "root"),
                ("password", "longenough"),
                ("confirm", "different"),
            ],
        )
        .await;
    assert_eq!(mismatch.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let short = app
        .call(
            &client,
            "setup",
            &[
                ("username", "root"),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        Users::new(app.pool.clone()).count().await.unwrap(),
        0,
        "bad input changes nothing"
    );

    let ok = app
        .call(
            &client,
            "setup",
            &[
                ("username", "root"),
                ("password", "longenough"),
                ("confirm", "longenough"),
            ],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let me: serde_json::Value = app.call(&client, "me", &[]).await.json().await.unwrap();
    assert_eq!(
        me["role"], "admin",
        "the first user is an admin and is signed in"
    );

    let again = app
        .call(
            &app.client(),
            "setup",
            &[
                ("username", "eve"),
                ("password", "longenough"),
                ("confirm", "longenough"),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let res = app.get(&app.client(), "/setup").await;
    assert_eq!(
        res.headers()["location"],
        "/login",
        "setup is gone once a user exists"
    );
    app.stop().await;
}

#[tokio::test]
async fn admins_manage_users_roles_passwords_and_sessions() {
    let app = crate::helpers::spawn_app().await;
    app.add_user("root", app::types::Role::Admin).await;
    let admin = app.signed_in("root").await;
    let fn_status = |res: reqwest::Response| res.status().as_u16();

    // Create: bad input is named, a good account signs in with its role.
    let bad = app
        .call(
            &admin,
            "user_create",
            &[
                ("username", "new"),
                ("password", "short"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(bad.status(), 422);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["Invalid"]["field"], "password", "{body}");
    let created = app
        .call(
            &admin,
            "user_create",
            &[
                ("username", "ann"),
                ("password", "ann-password-1"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(created.status(), 200);
    let ann: app::types::UserInfo = created.json().await.unwrap();
    let dup = app
        .call(
            &admin,
            "user_create",
            &[
                ("username", "ANN"),
                ("password", "ann-password-1"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(fn_status(dup), 422, "usernames are case-insensitive");

    let ann_client = app.client();
    let login = app
        .call(
            &ann_client,
            "login",
            &[("username", "ann"), ("password", "ann-password-1")],
        )
        .await;
    assert_eq!(login.status(), 200);
    // As a viewer she may not create rules; promoted to editor she may, in the same session.
    let me: app::types::UserInfo = app.call(&ann_client, "me", &[]).await.json().await.unwrap();
    assert_eq!(me.role, app::types::Role::Viewer);
    let id = ann.id.to_string();
    let promoted = app
        .call(
            &admin,
            "user_role",
            &[("id", id.as_str()), ("role", "editor")],
        )
        .await;
    assert_eq!(promoted.status(), 200);
    let me: app::types::UserInfo = app.call(&ann_client, "me", &[]).await.json().await.unwrap();
    assert_eq!(me.role, app::types::Role::Editor);

    // Revoking sessions signs her out at once; a password reset does too, and the old password stops working.
    let revoked = app
        .call(&admin, "user_revoke_sessions", &[("id", id.as_str())])
        .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(fn_status(app.call(&ann_client, "me", &[]).await), 401);
    let reset = app
        .call(
            &admin,
            "user_password",
            &[("id", id.as_str()), ("password", "ann-password-2")],
        )
        .await;
    assert_eq!(reset.status(), 200);
    let old = app
        .call(
            &app.client(),
            "login",
            &[("username", "ann"), ("password", "ann-password-1")],
        )
        .await;
    assert_eq!(old.status(), 401);
    let new = app
        .call(
            &app.client(),
            "login",
            &[("username", "ann"), ("password", "ann-password-2")],
        )
        .await;
    assert_eq!(new.status(), 200);

    // The last admin cannot be demoted; with a second admin it can.
    let root_id = app
        .call(&admin, "users", &[])
        .await
        .json::<Vec<app::types::UserInfo>>()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == "root")
        .unwrap()
        .id
        .to_string();
    let refused = app
        .call(
            &admin,
            "user_role",
            &[("id", root_id.as_str()), ("role", "viewer")],
        )
        .await;
    assert_eq!(refused.status(), 409);
    assert_eq!(
        fn_status(
            app.call(
                &admin,
                "user_role",
                &[("id", id.as_str()), ("role", "admin")]
            )
            .await
        ),
        200
    );
    assert_eq!(
        fn_status(
            app.call(
                &admin,
                "user_role",
                &[("id", root_id.as_str()), ("role", "editor")]
            )
            .await
        ),
        200
    );
    // Root is an editor now: user management is refused; Ann (admin) is told a missing user is missing.
    assert_eq!(fn_status(app.call(&admin, "users", &[]).await), 403);
    let ann_admin = app.client();
    let login = app
        .call(
            &ann_admin,
            "login",
            &[("username", "ann"), ("password", "ann-password-2")],
        )
        .await;
    assert_eq!(login.status(), 200);
    assert_eq!(
        fn_status(
            app.call(
                &ann_admin,
                "user_role",
                &[("id", "999999"), ("role", "editor")]
            )
            .await
        ),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_user_is_signed_out_at_once_and_the_last_admin_stays() {
    let app = spawn_app().await;
    app.add_user("boss", Role::Admin).await;
    app.add_user("carol", Role::Viewer).await;
    let boss = app.signed_in("boss").await;
    let carol = app.signed_in("carol").await;
    let id = |name: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE username = $1")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let (carol_id, boss_id) = (id("carol").await, id("boss").await);
    assert_eq!(app.call(&carol, "me", &[]).await.status(), StatusCode::OK);
    // Not oneself, not by a non-admin.
    let own = app
        .call(&boss, "user_delete", &[("id", &boss_id.to_string())])
        .await;
    assert_eq!(own.status(), StatusCode::CONFLICT);
    let by_viewer = app
        .call(&carol, "user_delete", &[("id", &boss_id.to_string())])
        .await;
    assert_eq!(by_viewer.status(), StatusCode::FORBIDDEN);
    let res = app
        .call(&boss, "user_delete", &[("id", &carol_id.to_string())])
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(
        app.call(&carol, "me", &[]).await.status(),
        StatusCode::UNAUTHORIZED,
        "her session ended"
    );
    let again = app
        .call(&boss, "user_delete", &[("id", &carol_id.to_string())])
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    // The last admin cannot be deleted: with boss gone, eve is the last one.
    app.add_user("eve", Role::Admin).await;
    let eve = app.signed_in("eve").await;
    let res = app
        .call(&eve, "user_delete", &[("id", &boss_id.to_string())])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let last = Users::new(app.pool.clone()).delete(id("eve").await).await;
    assert!(
        matches!(last, Err(app::error::AppError::Conflict(_))),
        "{last:?}"
    );
    app.stop().await;
}
