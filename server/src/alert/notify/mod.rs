//! Notifications, as a pipeline of stages (the shape of Alertmanager's `notify/`). A notice of the evaluator
//! enters in the evaluator's own transaction and leaves as an HTTP POST, an email or a log line:
//! 1. [`route`]: the contact points that take it (severity, matchers, escalation delay);
//! 2. [`outbox`]: [`enqueue`] / [`escalate`] write one `outbox` row per routed contact point, holding the payload its
//!    channel rendered and an idempotency key;
//! 3. [`group`]: rows of one group wait `group wait` / `group interval` and leave together;
//! 4. [`dispatch`]: the [`Dispatcher`] leases due rows per contact point, in order, and records each send's outcome,
//!    retrying with capped backoff;
//! 5. [`channels`]: one module per [`Kind`] behind the `Channel` trait: payload, batching, delivery.
//!
//! Beside them, [`contact_points`] keeps the receivers (checked from a draft, listed with their queue's state), and
//! [`guard`] refuses internal addresses unless allow-listed (`alerts.allowed_hosts`) and redacts URLs (they are
//! secrets: shown redacted, never logged whole).

mod channels;
mod contact_points;
mod dispatch;
mod group;
mod guard;
mod outbox;
mod route;

pub(crate) use channels::email::Smtp;
pub use channels::Kind;
pub use contact_points::ContactPoints;
pub use dispatch::{Dispatcher, RETRY_BASE, RETRY_CAP, SEND_TIMEOUT};
pub use group::Grouping;
pub use guard::{redact, AllowList, GuardedResolver, Lookup};
pub use outbox::{enqueue, escalate, notice_name, Notification, RULE_LEVEL};
