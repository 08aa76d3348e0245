//! The browser entry point: hydrates the server-rendered HTML with the `app` crate. Nothing else lives here.

// Deeply nested views exceed the default limit in release builds (no `erase_components` there).
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy routes (pages loaded as separate WASM chunks) need the asynchronous hydration.
    leptos::mount::hydrate_lazy(app::App);
}
