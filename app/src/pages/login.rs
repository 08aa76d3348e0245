//! Sign-in page. The form posts to the `login` server function; it works before hydration too (a plain form post).

use crate::api::Login;
use crate::pages::form_error;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let pending = login.pending();
    // Effects run only in the browser: the attribute says the page is interactive (tests wait for it).
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <Title text="Sign in · mcpulse"/>
        <main class="centered" data-hydrated=move || hydrated.get().to_string()>
            <section class="card auth-card">
                <h1 class="brand">"mcpulse"</h1>
                <p class="muted">"Sign in to watch your MCP fleet."</p>
                <ActionForm action=login attr:class="stack">
                    <label for="username">"Username"</label>
                    <input id="username" name="username" type="text" autocomplete="username" required autofocus/>
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required/>
                    {form_error(login.value())}
                    <button type="submit" disabled=pending>
                        {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </ActionForm>
            </section>
        </main>
    }
}
