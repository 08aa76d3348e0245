//! Every server function and every data route refuses callers without a session (401 or a redirect to sign-in)
//! and callers whose role is too low (403). New endpoints must be added to the tables here, or the test fails.

use crate::helpers::{spawn_app, TestApp};
use app::types::Role;
use mcpulse::api::DATA_ROUTES;
use reqwest::StatusCode;

#[derive(Debug, Clone, Copy)]
enum Access {
    /// Open to anyone (sign-in and first-run setup).
    Public,
    Min(Role),
}

/// Calls that name something that does not exist in the test's database: 404 after the role check passes.
const NOT_FOUND_PASSES: &[&str] = &["/api/fn/alert_ack", "/api/alerts/ack"];

/// Every server function: path, access, arguments that are valid for it.
const SERVER_FNS: &[(&str, Access, &[(&str, &str)])] = &[
    (
        "/api/fn/login",
        Access::Public,
        &[("username", "nobody"), ("password", "wrong-password")],
    ),
    (
        "/api/fn/setup",
        Access::Public,
        &[
            ("username", "x"),
            ("password", "longenough"),
            ("confirm", "longenough"),
        ],
    ),
    ("/api/fn/me", Access::Min(Role::Viewer), &[]),
    ("/api/fn/logout", Access::Min(Role::Viewer), &[]),
    (
        "/api/fn/dashboard",
        Access::Min(Role::Viewer),
        &[("chart", "self/requests_total")],
    ),
    ("/api/fn/users", Access::Min(Role::Admin), &[]),
    ("/api/fn/sources", Access::Min(Role::Viewer), &[]),
    (
        "/api/fn/mcp_servers",
        Access::Min(Role::Viewer),
        &[("window", "24h")],
    ),
    (
        "/api/fn/query",
        Access::Min(Role::Viewer),
        &[("request[metric]", "requests_total")],
    ),
    (
        "/api/fn/token_create",
        Access::Min(Role::Admin),
        &[
            ("form[name]", "ci"),
            ("form[ingest]", "on"),
            ("form[expires_in]", ""),
            ("form[role]", "viewer"),
        ],
    ),
    ("/api/fn/token_new", Access::Min(Role::Admin), &[]),
    ("/api/fn/tokens", Access::Min(Role::Admin), &[]),
    // Token 1 exists by then: the admin's call to token_create above made it.
    (
        "/api/fn/token_revoke",
        Access::Min(Role::Admin),
        &[("id", "1")],
    ),
    // Rule 1 is created by the editor's call, changed and deleted by the next ones (metric `up` comes from `self`).
    ("/api/fn/rules", Access::Min(Role::Viewer), &[]),
    ("/api/fn/alerts", Access::Min(Role::Viewer), &[]),
    ("/api/fn/metric_catalog", Access::Min(Role::Viewer), &[]),
    (
        "/api/fn/alert_history",
        Access::Min(Role::Viewer),
        &[("limit", "10")],
    ),
    (
        "/api/fn/rule_save",
        Access::Min(Role::Editor),
        &[
            ("form[name]", "acc rule"),
            ("form[metric]", "up"),
            ("form[condition]", "<"),
            ("form[threshold]", "1"),
        ],
    ),
    (
        "/api/fn/rule_update",
        Access::Min(Role::Editor),
        &[
            ("id", "1"),
            ("rule[name]", "acc rule"),
            ("rule[metric]", "up"),
            ("rule[condition]", "<"),
            ("rule[threshold]", "0.5"),
        ],
    ),
    (
        "/api/fn/rule_delete",
        Access::Min(Role::Editor),
        &[("id", "1")],
    ),
    // No alert exists here: past the role check, acknowledging answers 404 (see NOT_FOUND_PASSES).
    (
        "/api/fn/alert_ack",
        Access::Min(Role::Editor),
        &[("rule_id", "1"), ("series_id", "1")],
    ),
    ("/api/fn/silences", Access::Min(Role::Viewer), &[]),
    (
        "/api/fn/silence_save",
        Access::Min(Role::Editor),
        &[
            ("form[matchers]", "alertname=acc"),
            ("form[duration]", "1h"),
        ],
    ),
    (
        "/api/fn/rule_backtest",
        Access::Min(Role::Viewer),
        &[
            ("draft[name]", "acc rule"),
            ("draft[metric]", "up"),
            ("draft[condition]", "<"),
            ("draft[threshold]", "1"),
        ],
    ),
    (
        "/api/fn/silence_preview",
        Access::Min(Role::Viewer),
        &[("matchers[0]", "alertname=acc")],
    ),
    (
        "/api/fn/silence_delete",
        Access::Min(Role::Editor),
        &[("id", "1")],
    ),
    ("/api/fn/contact_points", Access::Min(Role::Admin), &[]),
    (
        "/api/fn/contact_point_save",
        Access::Min(Role::Admin),
        &[("form[name]", "acc"), ("form[kind]", "console")],
    ),
    // Contact point 1 (console, made just above) gets a test notification before it is deleted.
    (
        "/api/fn/contact_point_test",
        Access::Min(Role::Admin),
        &[("id", "1")],
    ),
    (
        "/api/fn/contact_point_delete",
        Access::Min(Role::Admin),
        &[("id", "1")],
    ),
    // Source `acc` is created by the admin's first call, changed, tried and deleted by the next ones.
    (
        "/api/fn/source_save",
        Access::Min(Role::Admin),
        &[
            ("form[id]", "acc"),
            ("form[kind]", "prometheus"),
            ("form[target]", UNREACHABLE),
            ("form[interval]", "1m"),
        ],
    ),
    (
        "/api/fn/source_update",
        Access::Min(Role::Admin),
        &[
            ("id", "acc"),
            ("definition[kind]", "prometheus"),
            ("definition[target]", UNREACHABLE),
            ("definition[interval]", "30s"),
        ],
    ),
    (
        "/api/fn/source_test",
        Access::Min(Role::Admin),
        &[
            ("definition[kind]", "prometheus"),
            ("definition[target]", UNREACHABLE),
        ],
    ),
    (
        "/api/fn/source_delete",
        Access::Min(Role::Admin),
        &[("id", "acc")],
    ),
    // Template 1 is created here (and changed by the next entry), for the report functions after them.
    (
        "/api/fn/report_template_save",
        Access::Min(Role::Editor),
        &[
            ("form[name]", "acc report"),
            ("form[period]", "1h"),
            ("form[html]", "on"),
            ("form[sections][0][kind]", "alerts_summary"),
        ],
    ),
    ("/api/fn/report_templates", Access::Min(Role::Viewer), &[]),
    (
        "/api/fn/report_generate",
        Access::Min(Role::Editor),
        &[("id", "1")],
    ),
    (
        "/api/fn/report_delete",
        Access::Min(Role::Editor),
        &[("id", "1")],
    ),
    (
        "/api/fn/report_template_delete",
        Access::Min(Role::Editor),
        &[("id", "1")],
    ),
    (
        "/api/fn/user_create",
        Access::Min(Role::Admin),
        &[
            ("username", "acc-user"),
            ("password", "a-long-enough-password"),
            ("role", "viewer"),
        ],
    ),
    // User 4 is the one just created (users 1-3 are the role clients).
    (
        "/api/fn/user_delete",
        Access::Min(Role::Admin),
        &[("id", "4")],
    ),
    // Last: they act on user 1 (viewer-user), whose session the checks above use.
    (
        "/api/fn/user_role",
        Access::Min(Role::Admin),
        &[("id", "1"), ("role", "viewer")],
    ),
    (
        "/api/fn/user_password",
        Access::Min(Role::Admin),
        &[("id", "1"), ("password", "another-long-password")],
    ),
    (
        "/api/fn/user_revoke_sessions",
        Access::Min(Role::Admin),
        &[("id", "1")],
    ),
];

/// Server functions that take a JSON body (their arguments hold tagged objects): path, access, body.
const JSON_SERVER_FNS: &[(&str, Access, &str)] = &[(
    "/api/fn/reports",
    Access::Min(Role::Viewer),
    r#"{"filter": {}}"#,
)];

/// How a server function's arguments travel.
#[derive(Clone, Copy)]
enum Args {
    Form(&'static [(&'static str, &'static str)]),
    Json(&'static str),
}

fn send(client: &reqwest::Client, url: &str, args: Args) -> reqwest::RequestBuilder {
    match args {
        Args::Form(pairs) => client.post(url).form(pairs),
        Args::Json(body) => client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body),
    }
}

/// A scrape target nothing listens on (the discard port): a round fails at once.
const UNREACHABLE: &str = "http://127.0.0.1:9/metrics";

/// A request to a data route as `client`: `{id}` becomes `acc`; POST and PUT carry a valid source definition.
async fn request(
    app: &TestApp,
    client: &reqwest::Client,
    method: &str,
    path: &str,
) -> reqwest::Response {
    let reports = path.starts_with("/api/report");
    let rules = path.starts_with("/api/rules");
    let contact_points = path.starts_with("/api/contact-points");
    let silences = path.starts_with("/api/silences");
    // Each test has its own database: the first rule created is rule 1.
    let id = if rules || contact_points || silences || reports {
        "1"
    } else {
        "acc"
    };
    let url = format!(
        "{}{}",
        app.base,
        path.replace("{id}", id).replace("{format}", "json")
    );
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client.request(method.clone(), url);
    if method == reqwest::Method::POST || method == reqwest::Method::PUT {
        req = req.json(&if path == "/api/alerts/ack" {
            serde_json::json!({ "rule_id": 1, "series_id": 1 })
        } else if path.ends_with("/run") {
            serde_json::json!({})
        } else if reports {
            serde_json::json!({ "name": "acc report", "period": "1h", "sections": [{ "kind": "alerts_summary" }] })
        } else if silences {
            serde_json::json!({ "matchers": ["alertname=acc"], "duration": "1h" })
        } else if contact_points {
            serde_json::json!({ "name": "acc", "kind": "console" })
        } else if rules {
            serde_json::json!({ "name": "acc rule", "metric": "up", "condition": "<", "threshold": "1" })
        } else {
            serde_json::json!({
                "id": "acc", "kind": "prometheus", "target": UNREACHABLE, "interval": "1m"
            })
        });
    }
    req.send().await.expect("request")
}

fn below(role: Role) -> Option<Role> {
    match role {
        Role::Viewer => None,
        Role::Editor => Some(Role::Viewer),
        Role::Admin => Some(Role::Editor),
    }
}

async fn clients(app: &TestApp) -> Vec<(Role, reqwest::Client)> {
    let mut out = Vec::new();
    for role in Role::ALL {
        let name = format!("{role}-user");
        app.add_user(&name, role).await;
        out.push((role, app.signed_in(&name).await));
    }
    out
}

#[tokio::test]
async fn every_server_function_checks_the_callers_role() {
    let app = spawn_app().await;
    let registered: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .collect();
    for path in &registered {
        assert!(
            SERVER_FNS.iter().any(|(p, _, _)| p == path)
                || JSON_SERVER_FNS.iter().any(|(p, _, _)| p == path),
            "server function {path} is not in the access table of this test: add it with the role it requires"
        );
    }
    let signed_in = clients(&app).await;
    let anonymous = app.client();

    // The JSON calls go just before the report functions.
    let split = SERVER_FNS
        .iter()
        .position(|(p, _, _)| *p == "/api/fn/report_templates")
        .unwrap();
    let form = |(p, a, args): &(
        &'static str,
        Access,
        &'static [(&'static str, &'static str)],
    )| { (*p, *a, Args::Form(args)) };
    let calls: Vec<(&str, Access, Args)> = SERVER_FNS[..split]
        .iter()
        .map(form)
        .chain(
            JSON_SERVER_FNS
                .iter()
                .map(|(p, a, body)| (*p, *a, Args::Json(body))),
        )
        .chain(SERVER_FNS[split..].iter().map(form))
        .collect();
    for (path, access, args) in calls {
        let path = &path;
        let access = &access;
        assert!(
            registered.contains(&path.to_string()),
            "{path} is listed here but not registered"
        );
        let url = format!("{}{path}", app.base);
        match access {
            Access::Public => {
                let res = send(&anonymous, &url, args).send().await.unwrap();
                assert_ne!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
            }
            Access::Min(min) => {
                let res = send(&anonymous, &url, args).send().await.unwrap();
                assert_eq!(
                    res.status(),
                    StatusCode::UNAUTHORIZED,
                    "{path} without a session"
                );
                if let Some(low) = below(*min) {
                    let client = &signed_in.iter().find(|(r, _)| *r == low).unwrap().1;
                    let res = send(client, &url, args).send().await.unwrap();
                    assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} as {low}");
                }
                if *path != "/api/fn/logout" {
                    let client = &signed_in.iter().find(|(r, _)| r == min).unwrap().1;
                    let res = send(client, &url, args).send().await.unwrap();
                    let status = res.status();
                    let passed = status == StatusCode::OK
                        || NOT_FOUND_PASSES.contains(path) && status == StatusCode::NOT_FOUND;
                    let body = res.text().await.unwrap_or_default();
                    assert!(passed, "{path} as {min}: {status} {body}");
                }
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn every_data_route_and_page_checks_the_callers_role() {
    let app = spawn_app().await;
    let signed_in = clients(&app).await;
    let anonymous = app.client();

    // In table order: POST /api/sources creates `acc` before it is changed and deleted.
    for (method, path, min) in DATA_ROUTES {
        let res = request(&app, &anonymous, method, path).await;
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{path} without a session"
        );
        if let Some(low) = below(*min) {
            let client = &signed_in.iter().find(|(r, _)| *r == low).unwrap().1;
            assert_eq!(
                request(&app, client, method, path).await.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} as {low}"
            );
        }
        let client = &signed_in.iter().find(|(r, _)| r == min).unwrap().1;
        let status = request(&app, client, method, path).await.status();
        assert!(
            status.is_success()
                || NOT_FOUND_PASSES.contains(path) && status == StatusCode::NOT_FOUND
                || *method == "GET"
                    && status != StatusCode::UNAUTHORIZED
                    && status != StatusCode::FORBIDDEN,
            "{method} {path} as {min}: {status}"
        );
    }

    // Token routes: no token → 401; a session is not a token → 401; a token without the scope → 403.
    let (_, read_only) = mcpulse::auth::tokens::Tokens::new(app.pool.clone())
        .create(
            "reader",
            &[mcpulse::auth::tokens::Scope::Read],
            None,
            "test",
        )
        .await
        .unwrap();
    for (method, path, _scope) in mcpulse::api::TOKEN_ROUTES {
        assert_eq!(*method, "POST", "extend this test for {method} routes");
        let url = format!("{}{path}", app.base);
        let res = anonymous.post(&url).body("x 1\n").send().await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{path} without a token"
        );
        assert!(res.headers().contains_key("www-authenticate"));
        let res = signed_in[2]
            .1
            .post(&url)
            .body("x 1\n")
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{path} with an admin session but no token"
        );
        let res = anonymous
            .post(&url)
            .bearer_auth(&read_only)
            .body("x 1\n")
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{path} with a token lacking the scope"
        );
    }

    // Deliberately public operational routes answer anyone.
    for path in mcpulse::api::PUBLIC_ROUTES {
        assert_eq!(
            app.get(&anonymous, path).await.status(),
            StatusCode::OK,
            "{path} is public"
        );
    }

    // Pages: anonymous visitors are sent to sign-in; signed-in ones get the page rendered on the server.
    let res = app.get(&anonymous, "/").await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], "/login");
    let res = app.get(&signed_in[0].1, "/").await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("data-metric=\"requests_total\"") && html.contains("<svg"),
        "dashboard rendered: {html}"
    );
    app.stop().await;
}

/// A client that sends `token` as `Authorization: Bearer` on every request (and keeps no cookies).
fn with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_data_route_takes_api_tokens_with_the_scope_and_role_it_needs() {
    use mcpulse::auth::tokens::{Scope, Tokens};
    let app = spawn_app().await;
    app.add_user("token-admin", Role::Admin).await;
    let tokens = Tokens::new(app.pool.clone());
    let make = |name: &'static str, scopes: &'static [Scope], role: Role| {
        let tokens = &tokens;
        async move {
            tokens
                .create_with_role(name, scopes, None, "token-admin", role)
                .await
                .unwrap()
        }
    };
    let mut by_role = Vec::new();
    for role in Role::ALL {
        let (_, secret) = make(
            Box::leak(format!("rw-{role}").into_boxed_str()),
            &[Scope::Read, Scope::Write],
            role,
        )
        .await;
        by_role.push((role, with_token(&secret)));
    }
    let (_, ingest_only) = make("ingest-only", &[Scope::Ingest], Role::Admin).await;
    let (_, read_only) = make("read-only", &[Scope::Read], Role::Admin).await;
    let (revoked_info, revoked) = make("revoked", &[Scope::Read, Scope::Write], Role::Admin).await;
    tokens.revoke(revoked_info.id).await.unwrap();
    let (expired_info, expired) = make("expired", &[Scope::Read, Scope::Write], Role::Admin).await;
    sqlx::query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(expired_info.id)
        .execute(&app.pool)
        .await
        .unwrap();
    let (ingest_only, read_only, revoked, expired) = (
        with_token(&ingest_only),
        with_token(&read_only),
        with_token(&revoked),
        with_token(&expired),
    );

    for (method, path, min) in DATA_ROUTES {
        if *path == "/ws" {
            continue; // the browser's live socket: sessions only
        }
        let status = |res: reqwest::Response| res.status();
        assert_eq!(
            status(request(&app, &revoked, method, path).await),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a revoked token"
        );
        assert_eq!(
            status(request(&app, &expired, method, path).await),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with an expired token"
        );
        assert_eq!(
            status(request(&app, &ingest_only, method, path).await),
            StatusCode::FORBIDDEN,
            "{method} {path} with a token of another scope"
        );
        if *method != "GET" {
            assert_eq!(
                status(request(&app, &read_only, method, path).await),
                StatusCode::FORBIDDEN,
                "{method} {path} with a read-only token"
            );
        }
        if let Some(low) = below(*min) {
            let client = &by_role.iter().find(|(r, _)| *r == low).unwrap().1;
            assert_eq!(
                status(request(&app, client, method, path).await),
                StatusCode::FORBIDDEN,
                "{method} {path} with a {low} token"
            );
        }
        let client = &by_role.iter().find(|(r, _)| r == min).unwrap().1;
        let res = request(&app, client, method, path).await;
        let got = res.status();
        assert!(
            got.is_success()
                || NOT_FOUND_PASSES.contains(path) && got == StatusCode::NOT_FOUND
                || *method == "GET"
                    && got != StatusCode::UNAUTHORIZED
                    && got != StatusCode::FORBIDDEN,
            "{method} {path} with a {min} token: {got} {}",
            res.text().await.unwrap_or_default()
        );
    }

    // A token acts with at most its creator's current role: demoting the creator demotes the token at once.
    let admin_token = &by_role.iter().find(|(r, _)| *r == Role::Admin).unwrap().1;
    assert_eq!(
        admin_token
            .get(format!("{}/api/users", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    sqlx::query("UPDATE users SET role = 'viewer' WHERE username = 'token-admin'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        admin_token
            .get(format!("{}/api/users", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    app.stop().await;
}
