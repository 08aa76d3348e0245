//! mcpulse's web UI: pages, components, shared types and the typed server functions.
//!
//! Data enters through server functions (`api`), which reach the engine only through the [`engine::Engine`] trait that
//! `server` provides in Leptos context, and through the `/ws` websocket (`live`), which streams fresh samples to the
//! browser. Pages render on the server first, then hydrate in the browser (`frontend`).

// Deeply nested views exceed the default limit in release builds (no `erase_components` there).
#![recursion_limit = "256"]

pub mod api;
pub mod chart;
pub mod codec;
#[cfg(feature = "ssr")]
pub mod engine;
pub mod error;
pub mod forms;
pub mod live;
pub mod names;
pub mod pages;
pub mod types;
pub mod wire;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, Lazy, SsrMode};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <AutoReload options=options.clone()/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="mcpulse"/>
        // Pages are rendered whole (every resource resolved) before they are sent: with out-of-order streaming a
        // lazily loaded page could start hydrating before its streamed data arrived, and hydrate a fallback the
        // browser no longer showed (an intermittent, unrecoverable hydration error on /explore).
        <Router>
            <Routes fallback=|| view! { <main class="centered"><h1>"Not found"</h1><a href="/">"Back to the dashboard"</a></main> }>
                <Route path=path!("/") view=pages::dashboard::DashboardPage ssr=SsrMode::Async/>
                <Route path=path!("/login") view=pages::login::LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/setup") view=pages::setup::SetupPage ssr=SsrMode::Async/>
                <Route path=path!("/sources") view={Lazy::<pages::sources::SourcesRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/alerts") view={Lazy::<pages::alerts::AlertsRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/explore") view={Lazy::<pages::explore::ExploreRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/users") view={Lazy::<pages::users::UsersRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/reports") view={Lazy::<pages::reports::ReportsRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/mcp-servers") view={Lazy::<pages::mcp::McpRoute>::new()} ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
