//! Server-rendered pages, as the browser receives them: each page's data is fetched and serialized once per render,
//! so the browser's one copy of each resource hydrates exactly what the HTML shows.

use crate::helpers::spawn_app;
use app::types::Role;
use reqwest::StatusCode;
use std::collections::BTreeMap;

/// The serialized resources of a page: id → payload (`__RESOLVED_RESOURCES[id] = "…"` in its scripts).
fn resources(html: &str) -> BTreeMap<u32, String> {
    let assignment =
        regex::Regex::new(r#"__RESOLVED_RESOURCES\[(\d+)\] = "((?:[^"\\]|\\.)*)";"#).unwrap();
    let initial = html
        .split("__RESOLVED_RESOURCES=[")
        .nth(1)
        .and_then(|rest| rest.split("];").next())
        .unwrap_or("");
    assert!(
        initial.trim().is_empty(),
        "resources resolved before rendering are counted too; expected none: {initial}"
    );
    assignment
        .captures_iter(html)
        .map(|c| (c[1].parse().unwrap(), c[2].to_string()))
        .collect()
}

/// The root cause of the hydration panics (`tachys … hydration.rs:227 entered unreachable code`, 16 of 154 cold
/// loads): pages created their resources inside the sign-in check's `Suspend`, which the server's Suspense walks
/// more than once before rendering (`dry_resolve`). Each walk created and fetched the page's resources again under
/// new ids, so a page carried two or three copies of its data, fetched at different instants; the browser creates
/// each resource once and took the first copy, while the HTML showed a later one. Whenever the data changed in
/// between (a source's health, a token's last use, an alert's value: every second under load), the browser's first
/// render differed from the HTML and hydration panicked. Now every page's resources are created once, when its
/// route is chosen, outside any Suspense.
#[tokio::test]
async fn every_page_serializes_each_of_its_resources_exactly_once() {
    let app = spawn_app().await;
    app.add_user("admin", Role::Admin).await;
    let client = app.signed_in("admin").await;
    // Page → its resources: the signed-in user, then the page's own.
    let pages: &[(&str, usize)] = &[
        ("/", 1),
        ("/sources", 2),
        ("/mcp-servers", 2),
        // users, tokens, and a token made by the form as the browser posted it
        ("/users", 4),
        ("/reports", 3),
        ("/alerts", 6),
        ("/explore", 2),
        (
            "/explore?metric=process_resident_memory_bytes&sources=self",
            2,
        ),
    ];
    for (path, expected) in pages {
        let res = app.get(&client, path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let html = res.text().await.unwrap();
        let found = resources(&html);
        assert_eq!(
            found.len(),
            *expected,
            "{path}: resources serialized {:?}",
            found
                .iter()
                .map(|(id, payload)| format!(
                    "{id}: {}",
                    payload.chars().take(80).collect::<String>()
                ))
                .collect::<Vec<_>>()
        );
    }
    app.stop().await;
}

/// The page, never the "Loading…" fallback, is what the server sends — whatever races the render. Root cause of the
/// intermittent fallbacks (/alerts 4, /explore 7, /reports 6 of 20 renders): a `LocalResource` read while the server
/// rendered (the silence preview, the metric suggestions, the report filter's choices) makes the enclosing
/// `Transition` give up and send its fallback (leptos 0.8 `suspense_component.rs`: "if there are local resources,
/// bail"), depending on whether the page's data or the local read came first. Such a page was empty without
/// script and flashed "Loading…" before hydration. Local resources are now read only once the page is interactive.
#[tokio::test]
async fn every_page_is_rendered_whole_every_time() {
    let app = spawn_app().await;
    app.add_user("admin", Role::Admin).await;
    let client = app.signed_in("admin").await;
    // What each page shows once rendered: its heading or its form.
    let pages = [
        ("/", "class=\"topbar\""),
        ("/sources", "id=\"source-form\""),
        ("/mcp-servers", "class=\"topbar\""),
        ("/users", "id=\"token-form\""),
        ("/reports", "id=\"template-form\""),
        ("/alerts", "id=\"silence-form\""),
        ("/explore", "class=\"topbar\""),
    ];
    for round in 0..25 {
        for (path, shown) in pages {
            let html = app.get(&client, path).await.text().await.unwrap();
            assert!(
                html.contains(shown) && !html.contains(">Loading…</p><!></main>"),
                "{path}, render {round}: the fallback was sent instead of the page"
            );
        }
    }
    app.stop().await;
}
