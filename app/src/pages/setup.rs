//! First-run setup: creates the first admin. The server only serves this page while no user exists.

use crate::api::Setup;
use crate::pages::form_error;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn SetupPage() -> impl IntoView {
    let setup = ServerAction::<Setup>::new();
    let pending = setup.pending();
    view! {
        <Title text="Set up · mcpulse"/>
        <main class="centered">
            <section class="card auth-card">
                <h1 class="brand">"Welcome to mcpulse"</h1>
                <p class="muted">"Create the first administrator account."</p>
                <ActionForm action=setup attr:class="stack">
                    <label for="username">"Username"</label>
                    <input id="username" name="username" type="text" autocomplete="username" required autofocus/>
                    <label for="password">"Password (at least 8 characters)"</label>
                    <input id="password" name="password" type="password" autocomplete="new-password" minlength="8" required/>
                    <label for="confirm">"Repeat the password"</label>
                    <input id="confirm" name="confirm" type="password" autocomplete="new-password" minlength="8" required/>
                    {form_error(setup.value())}
                    <button type="submit" disabled=pending>"Create administrator"</button>
                </ActionForm>
            </section>
        </main>
    }
}
