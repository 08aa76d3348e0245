//! The users page (admins): every account with its role, a form to add one, and per user: change the role, set a
//! new password (which signs them out everywhere) or sign them out everywhere. Below, API tokens: create one
//! (the secret is shown once), see when each was last used, revoke it.
//!
//! Everything goes through the admin-only server functions of `api`; other roles get a clear refusal.

use crate::api::{
    delete_user, list_tokens, list_users, new_token, revoke_sessions, revoke_token, set_user_role,
    CreateToken, CreateUser, ResetPassword,
};
use crate::error::AppError;
use crate::forms::TokenFields;
use crate::pages::{
    date_time, field_error, field_invalid, other_error, FormErrors, SignedIn, Topbar,
};
use crate::types::{CreatedToken, Role, TokenInfo, UserInfo};
use leptos::prelude::*;
use leptos::server_fn::ServerFn as _;
use leptos_router::{lazy_route, LazyRoute};

/// The page's resources and the signals they follow, created once when the route renders (see
/// [`SignedIn`](crate::pages::SignedIn) for why never later).
#[derive(Clone, Copy)]
pub struct UsersData {
    version: RwSignal<u32>,
    users: Resource<Result<Vec<UserInfo>, AppError>>,
    tokens_version: RwSignal<u32>,
    tokens: Resource<Result<Vec<TokenInfo>, AppError>>,
    /// A token created by the form as the browser posted it, before the page was interactive (shown once).
    fresh: Resource<Result<Option<CreatedToken>, AppError>>,
}

/// The page as a lazy route: in the browser its code — the view and the page's resources with their decoders — is
/// a separate WASM chunk, fetched when the page is first visited, so the first load carries only the dashboard
/// and sign-in.
pub struct UsersRoute;

#[lazy_route]
impl LazyRoute for UsersRoute {
    fn data() -> Self {
        UsersRoute
    }

    fn view(route: Self) -> AnyView {
        let _ = route;
        // The resources are created here, once, when the route renders (never inside the `SignedIn` suspense; see
        // there why): the same place on the server and in the browser.
        let this = UsersData::new();
        view! { <SignedIn title="Users" min=Role::Admin page=move |user| view! { <Users user data=this/> }/> }
            .into_any()
    }
}

impl UsersData {
    fn new() -> Self {
        let version = RwSignal::new(0u32);
        let tokens_version = RwSignal::new(0u32);
        UsersData {
            version,
            users: Resource::new(move || version.get(), |_| list_users()),
            tokens_version,
            tokens: Resource::new(move || tokens_version.get(), |_| list_tokens()),
            fresh: Resource::new(|| (), |_| new_token()),
        }
    }
}

#[component]
fn Users(user: UserInfo, data: UsersData) -> impl IntoView {
    let me = user.id;
    let UsersData { version, users, .. } = data;
    let change_role = Action::new(|(id, role): &(i64, Role)| set_user_role(*id, *role));
    let revoke = Action::new(|id: &i64| revoke_sessions(*id));
    let remove = Action::new(|id: &i64| delete_user(*id));
    // The user whose deletion waits for a confirmation.
    let deleting = RwSignal::new(None::<i64>);
    let reset = ServerAction::<ResetPassword>::new();
    // The user whose new password is being typed, and the text.
    let resetting = RwSignal::new(None::<i64>);
    let new_password = RwSignal::new(String::new());
    let done = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(())) = remove.value().get() {
            deleting.set(None);
            done.set(Some("User deleted; their sessions are signed out.".into()));
            version.update(|v| *v += 1);
        }
    });
    Effect::new(move |_| {
        match change_role.value().get() {
            Some(Ok(u)) => {
                done.set(Some(format!("{} is now {}.", u.username, u.role)));
                version.update(|v| *v += 1);
            }
            // Refused (e.g. the last admin): reload, so the select shows the role the user still has.
            Some(Err(_)) => {
                done.set(None);
                version.update(|v| *v += 1);
            }
            None => {}
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = revoke.value().get() {
            done.set(Some("Signed out everywhere.".into()));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = reset.value().get() {
            resetting.set(None);
            new_password.set(String::new());
            done.set(Some("Password set; their sessions are signed out.".into()));
        }
    });
    let action_error = move || {
        let e = change_role
            .value()
            .with(|v| v.clone().and_then(Result::err))
            .or_else(|| revoke.value().with(|v| v.clone().and_then(Result::err)))
            .or_else(|| reset.value().with(|v| v.clone().and_then(Result::err)))
            .or_else(|| remove.value().with(|v| v.clone().and_then(Result::err)));
        e.map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    };

    let rows = move || {
        Suspend::new(async move {
            match users.await {
                Err(e) => view! { <tr><td colspan="3" class="form-error">{e.to_string()}</td></tr> }.into_any(),
                Ok(all) => all
                    .into_iter()
                    .map(|u| {
                        let id = u.id;
                        let name = u.username.clone();
                        let role_select = view! {
                            <select aria-label=format!("Role of {name}") data-action="role"
                                on:change=move |ev| {
                                    if let Ok(role) = event_target_value(&ev).parse::<Role>() {
                                        change_role.dispatch((id, role));
                                    }
                                }>
                                {Role::ALL.map(|r| view! { <option value=r.as_str() selected=r == u.role>{r.as_str()}</option> })}
                            </select>
                        };
                        view! {
                            <tr data-user=u.username.clone()>
                                <td><strong>{u.username.clone()}</strong> {(id == me).then(|| view! { <span class="muted small">" (you)"</span> })}</td>
                                <td>{role_select}</td>
                                <td>
                                    <div class="row-actions">
                                        <Show when=move || resetting.get() == Some(id) fallback=move || view! {
                                            <button type="button" class="secondary" data-action="reset-password"
                                                on:click=move |_| { new_password.set(String::new()); resetting.set(Some(id)); }>"Set password…"</button>
                                        }>
                                            <form class="inline-form" method="post" action=ResetPassword::url() on:submit=move |ev| {
                                                ev.prevent_default();
                                                reset.dispatch(ResetPassword { id, password: new_password.get_untracked() });
                                            }>
                                                <input type="hidden" name="id" value=id.to_string()/>
                                                <label class="sr-only" for=format!("password-{id}")>"New password"</label>
                                                <input id=format!("password-{id}") name="password" type="password" autocomplete="new-password" placeholder="new password"
                                                    prop:value=move || new_password.get() on:input=move |ev| new_password.set(event_target_value(&ev))/>
                                                <button type="submit" class="secondary">"Set"</button>
                                                <button type="button" class="secondary" on:click=move |_| resetting.set(None)>"Cancel"</button>
                                            </form>
                                        </Show>
                                        <button type="button" class="secondary" data-action="revoke-sessions"
                                            on:click=move |_| { revoke.dispatch(id); }>"Sign out everywhere"</button>
                                        {(id != me).then(|| view! {
                                            <Show when=move || deleting.get() == Some(id) fallback=move || view! {
                                                <button type="button" class="secondary danger" data-action="delete"
                                                    on:click=move |_| deleting.set(Some(id))>"Delete…"</button>
                                            }>
                                                <span class="confirm" role="group" aria-label="Confirm deletion">
                                                    <button type="button" class="secondary danger" data-action="confirm-delete"
                                                        on:click=move |_| { remove.dispatch(id); }>"Yes, delete"</button>
                                                    <button type="button" class="secondary" on:click=move |_| deleting.set(None)>"Keep"</button>
                                                </span>
                                            </Show>
                                        })}
                                    </div>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()
                    .into_any(),
            }
        })
    };

    view! {
        <Topbar user/>
        <main id="main" class="page">
            <div class="page-head">
                <h1>"Users"</h1>
                <p class="muted">"Viewers see everything; editors also change alert rules and silences; admins also manage sources, contact points, users and tokens."</p>
            </div>
            <section class="card" aria-labelledby="users-heading">
                <h2 id="users-heading">"Accounts"</h2>
                {action_error}
                {move || done.get().map(|m| view! { <p class="ok-text small" role="status">{m}</p> })}
                <div class="table-scroll">
                    <table class="sources users-table">
                        <thead><tr><th scope="col">"User"</th><th scope="col">"Role"</th><th scope="col">"Actions"</th></tr></thead>
                        <tbody>
                            <Transition fallback=|| view! { <tr><td colspan="3" class="muted">"Loading…"</td></tr> }>{rows}</Transition>
                        </tbody>
                    </table>
                </div>
                <NewUser version/>
            </section>
            <Tokens version=data.tokens_version tokens=data.tokens fresh=data.fresh/>
        </main>
    }
    .into_any()
}

#[component]
fn NewUser(version: RwSignal<u32>) -> impl IntoView {
    // Posted by the browser itself before the page is interactive; a problem met then comes back in the URL.
    let save = ServerAction::<CreateUser>::new();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let local = FormErrors::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            username.set(String::new());
            password.set(String::new());
            version.update(|v| *v += 1);
        }
    });
    let value = save.value();
    let err =
        move |field: &'static str| field_error(value, local, field, format!("user-{field}-error"));
    let bad = move |field: &'static str| field_invalid(value, local, field);
    view! {
        <h3>"Add a user"</h3>
        <form id="user-form" class="source-form" method="post" action=CreateUser::url() novalidate on:input=move |ev| local.edited(&ev) on:change=move |ev| local.edited(&ev) on:submit=move |ev| {
            ev.prevent_default();
            local.set(None);
            save.dispatch(CreateUser {
                username: username.get_untracked().trim().to_string(),
                password: password.get_untracked(),
                role: role.get_untracked(),
            });
        }>
            <div class="field">
                <label for="user-username">"Username"</label>
                <input id="user-username" name="username" type="text" autocomplete="off" aria-describedby="user-username-error" aria-invalid=move || bad("username").get().then_some("true")
                    prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev))/>
                {err("username")}
            </div>
            <div class="field">
                <label for="user-password">"Password " <span class="muted">"(at least 8 characters)"</span></label>
                <input id="user-password" name="password" type="password" autocomplete="new-password" aria-describedby="user-password-error" aria-invalid=move || bad("password").get().then_some("true")
                    prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                {err("password")}
            </div>
            <div class="field">
                <label for="user-role">"Role"</label>
                <select id="user-role" name="role" on:change=move |ev| {
                    if let Ok(r) = event_target_value(&ev).parse::<Role>() { role.set(r) }
                }>
                    {Role::ALL.map(|r| view! { <option value=r.as_str() selected=move || role.get() == r>{r.as_str()}</option> })}
                </select>
            </div>
            {other_error(value, &["username", "password"])}
            <div class="form-actions">
                <button type="submit" disabled=save.pending()>"Add user"</button>
            </div>
        </form>
    }
    .into_any()
}

/// API tokens: for push ingest (`ingest`), reading and changing things through the REST API (`read`, `write`) and
/// mcpulse's MCP endpoint `/mcp` (`mcp`); the REST API and `/mcp` act with the token's role, capped by its creator's.
#[component]
fn Tokens(
    version: RwSignal<u32>,
    tokens: Resource<Result<Vec<TokenInfo>, AppError>>,
    fresh: Resource<Result<Option<CreatedToken>, AppError>>,
) -> impl IntoView {
    // Posted by the browser itself before the page is interactive; a problem met then comes back in the URL, the
    // new token in `fresh`.
    let create = ServerAction::<CreateToken>::new();
    let revoke = Action::new(|id: &i64| revoke_token(*id));
    let name = RwSignal::new(String::new());
    let ingest = RwSignal::new(true);
    let read = RwSignal::new(false);
    let write = RwSignal::new(false);
    let mcp = RwSignal::new(false);
    let mcp_role = RwSignal::new("viewer".to_string());
    let expires = RwSignal::new(String::new());
    let local = FormErrors::new();
    let confirming = RwSignal::new(None::<i64>);
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            name.set(String::new());
            version.update(|v| *v += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = revoke.value().get() {
            confirming.set(None);
            version.update(|v| *v += 1);
        }
    });
    let value = create.value();
    let err =
        move |field: &'static str| field_error(value, local, field, format!("token-{field}-error"));
    let bad = move |field: &'static str| field_invalid(value, local, field);
    let copied = RwSignal::new(false);
    // A new secret has not been copied yet.
    Effect::new(move |_| {
        value.track();
        copied.set(false);
    });
    let secret_view = move |CreatedToken { info, token }: CreatedToken| {
        let text = token.clone();
        view! {
            <div class="secret" role="status">
                <p>"Token " <strong>{info.name.clone()}</strong> " created. Copy it now: it is not shown again."</p>
                <code class="token-secret" data-token="">{token}</code>
                " "
                <button type="button" class="secondary" data-action="copy-token"
                    on:click=move |_| { copy_to_clipboard(&text); copied.set(true); }>
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
        }
    };
    let secret = move || {
        value.with(|v| match v {
            Some(Ok(created)) => Some(secret_view(created.clone())),
            _ => None,
        })
    };
    // Made by the form as the browser posted it (before the page was interactive), until this page makes another.
    let posted_secret = move || {
        Suspend::new(async move {
            match fresh.await {
                Ok(Some(created)) => Some(secret_view(created)),
                _ => None,
            }
        })
    };
    let rows = move || {
        Suspend::new(async move {
            match tokens.await {
                Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                Ok(all) if all.is_empty() => {
                    view! { <p class="muted" data-empty="">"No tokens yet."</p> }.into_any()
                }
                Ok(all) => view! { <TokenTable all revoke confirming/> }.into_any(),
            }
        })
    };
    view! {
        <section class="card" aria-labelledby="tokens-heading">
            <h2 id="tokens-heading">"API tokens"</h2>
            <p class="muted small">"Send as " <code>"Authorization: Bearer …"</code> ". Pushes with a token land in the source named after it."</p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>{rows}</Transition>
            {move || revoke.value().with(|v| v.clone().and_then(Result::err)).map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })}
            <h3>"Create a token"</h3>
            <form id="token-form" class="source-form" method="post" action=CreateToken::url() novalidate on:input=move |ev| local.edited(&ev) on:change=move |ev| local.edited(&ev) on:submit=move |ev| {
                ev.prevent_default();
                local.set(None);
                create.dispatch(CreateToken {
                    form: TokenFields {
                        name: name.get_untracked(),
                        ingest: ingest.get_untracked(),
                        read: read.get_untracked(),
                        write: write.get_untracked(),
                        mcp: mcp.get_untracked(),
                        expires_in: expires.get_untracked(),
                        role: mcp_role.get_untracked(),
                    },
                });
            }>
                <div class="field">
                    <label for="token-name">"Name " <span class="muted">"(also the source of its pushes)"</span></label>
                    <input id="token-name" name="form[name]" type="text" autocomplete="off" aria-describedby="token-name-error" aria-invalid=move || bad("name").get().then_some("true")
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                    {err("name")}
                </div>
                <fieldset class="field" aria-describedby="token-scopes-error">
                    <legend>"Scopes"</legend>
                    <label><input type="checkbox" name="form[ingest]" checked=true prop:checked=move || ingest.get() on:change=move |ev| ingest.set(event_target_checked(&ev))/> " ingest"</label>
                    <label><input type="checkbox" name="form[read]" prop:checked=move || read.get() on:change=move |ev| read.set(event_target_checked(&ev))/> " read"</label>
                    <label title="state-changing REST routes (editor or admin role)"><input type="checkbox" name="form[write]" prop:checked=move || write.get() on:change=move |ev| write.set(event_target_checked(&ev))/> " write"</label>
                    <label title="mcpulse's MCP endpoint /mcp"><input type="checkbox" name="form[mcp]" prop:checked=move || mcp.get() on:change=move |ev| mcp.set(event_target_checked(&ev))/> " mcp"</label>
                    {err("scopes")}
                </fieldset>
                <div class="field">
                    <label for="token-role">"Role " <span class="muted">"(on the REST API and /mcp; editors may acknowledge and silence)"</span></label>
                    <select id="token-role" name="form[role]" aria-describedby="token-role-error" aria-invalid=move || bad("role").get().then_some("true")
                        on:change=move |ev| mcp_role.set(event_target_value(&ev))>
                        <option value="viewer" selected>"viewer"</option>
                        <option value="editor">"editor"</option>
                        <option value="admin">"admin"</option>
                    </select>
                    {err("role")}
                </div>
                <div class="field">
                    <label for="token-expires">"Expires in " <span class="muted">"(e.g. 90d; empty: never)"</span></label>
                    <input id="token-expires" name="form[expires_in]" type="text" aria-describedby="token-expires_in-error" aria-invalid=move || bad("expires_in").get().then_some("true")
                        prop:value=move || expires.get() on:input=move |ev| expires.set(event_target_value(&ev))/>
                    {err("expires_in")}
                </div>
                {other_error(value, &["name", "scopes", "expires_in", "role"])}
                <div class="form-actions">
                    <button type="submit" disabled=create.pending()>"Create token"</button>
                </div>
            </form>
            {secret}
            <Show when=move || value.with(Option::is_none)>
                <Transition fallback=|| ()>{posted_secret}</Transition>
            </Show>
        </section>
    }
    .into_any()
}

#[component]
fn TokenTable(
    all: Vec<TokenInfo>,
    revoke: Action<i64, Result<(), AppError>>,
    confirming: RwSignal<Option<i64>>,
) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="sources tokens-table">
                <thead><tr><th scope="col">"Name"</th><th scope="col">"Scopes"</th><th scope="col">"Created"</th><th scope="col">"Expires"</th><th scope="col">"Last used"</th><th scope="col">"Actions"</th></tr></thead>
                <tbody>
                    {all.into_iter().map(|t| {
                        let id = t.id;
                        view! {
                            <tr data-token=t.name.clone() data-revoked=t.revoked.to_string()>
                                <td><strong>{t.name.clone()}</strong> " " <code class="muted">{format!("{}…", t.prefix)}</code></td>
                                <td>{t.scopes.join(", ")} {t.scopes.iter().any(|s| s != "ingest").then(|| view! { <div class="small muted">{format!("as {}", t.role)}</div> })}</td>
                                <td class="muted">{date_time(Some(t.created_at))} <div class="small">{format!("by {}", t.created_by)}</div></td>
                                <td class="muted">{t.expires_at.map(|e| date_time(Some(e))).unwrap_or_else(|| "never".into())}</td>
                                <td class="muted">{t.last_used_at.map(|e| date_time(Some(e))).unwrap_or_else(|| "never".into())}</td>
                                <td>
                                    {if t.revoked {
                                        view! { <span class="badge">"revoked"</span> }.into_any()
                                    } else {
                                        view! {
                                            <Show when=move || confirming.get() == Some(id) fallback=move || view! {
                                                <button type="button" class="secondary danger" data-action="revoke"
                                                    on:click=move |_| confirming.set(Some(id))>"Revoke"</button>
                                            }>
                                                <span class="confirm" role="group" aria-label="Confirm revocation">
                                                    <button type="button" class="secondary danger" data-action="confirm-revoke"
                                                        on:click=move |_| { revoke.dispatch(id); }>"Yes, revoke"</button>
                                                    <button type="button" class="secondary" on:click=move |_| confirming.set(None)>"Keep"</button>
                                                </span>
                                            </Show>
                                        }.into_any()
                                    }}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Puts `text` on the clipboard (the browser may refuse outside a secure context; the text stays selectable).
fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}
