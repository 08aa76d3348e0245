//! The outbox's consumer. The [`Dispatcher`] delivers due rows per contact point, in order, concurrently across
//! contact points (a slow receiver delays no one else): a batch (a row with the rest of its group) is leased in a
//! short transaction, combined and sent by its channel under a timeout with no database resources held, and its
//! outcome recorded under the lease. 5xx, 429, timeouts and connection errors are retried with capped exponential
//! backoff and jitter; other refusals are not. Every time it compares or writes comes from the pass's clock.

use super::channels::{Kind, KindChannel, Outcome, Sender};
use super::guard::{check_target, AllowList, GuardedResolver};
use crate::clock::Clock;
use app::error::AppError;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A batch of outbox rows claimed for one send.
struct Claim {
    ids: Vec<i64>,
    /// When the lease ends: the rows' `leased_until`, compared when the outcome is written.
    lease: DateTime<Utc>,
    /// Of the batch's first row (the backoff follows it).
    attempts: i32,
    key: String,
    payloads: Vec<Value>,
}

/// The outbox's consumer: delivers due rows, per contact point in order, with retries.
pub struct Dispatcher {
    pool: PgPool,
    sender: Sender,
    /// Rung after an evaluation wrote to the outbox, so delivery does not wait for the next tick.
    pub wake: tokio::sync::Notify,
    /// The time of passes [`Dispatcher::run`] starts and of test notifications.
    pub clock: Clock,
}

/// The first retry waits this long; each next one twice as long, up to [`RETRY_CAP`], ±20 % jitter.
pub const RETRY_BASE: Duration = Duration::from_millis(500);
pub const RETRY_CAP: Duration = Duration::from_secs(300);
/// How long a receiver may take to answer, unless `alerts.send_timeout` says otherwise.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

impl Dispatcher {
    pub fn new(pool: PgPool, allowed: AllowList, timeout: Duration) -> anyhow::Result<Arc<Self>> {
        Self::with_resolver(pool, GuardedResolver::new(allowed), timeout)
    }

    /// A dispatcher whose HTTP client resolves (and checks) names with `resolver` only.
    pub fn with_resolver(
        pool: PgPool,
        resolver: GuardedResolver,
        timeout: Duration,
    ) -> anyhow::Result<Arc<Self>> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("mcpulse/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .dns_resolver(Arc::new(resolver.clone()))
            .build()?;
        Ok(Arc::new(Dispatcher {
            pool,
            sender: Sender {
                client,
                resolver,
                timeout,
            },
            wake: tokio::sync::Notify::new(),
            clock: Clock::system(),
        }))
    }

    /// Delivers until `stop`: after every wake-up, and at least every second for retries.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        loop {
            if let Err(e) = self.deliver_due(self.clock.now()).await {
                tracing::warn!(error = %format!("{e:#}"), "delivering notifications failed");
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// One pass at `now`: every contact point's due rows, contact points concurrently. Every time the pass
    /// compares or writes (due, lease, next retry) is `now` plus the time the pass has taken, never the database's
    /// clock: the same clock as the evaluation that queued the rows, and one a test can set.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let clock = PassClock::starting_at(now, &self.clock);
        let points: Vec<(i64, String, Kind, String)> = sqlx::query_as(
            "SELECT DISTINCT c.id, c.name, c.kind, coalesce(c.settings->>'url', '') FROM contact_points c
             JOIN outbox o ON o.contact_point_id = c.id
             WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= $1
               AND o.not_before <= $1 AND coalesce(o.leased_until <= $1, true)",
        )
        .bind(clock.now())
        .fetch_all(&self.pool)
        .await?;
        let work = points
            .into_iter()
            .map(|(id, name, kind, url)| self.deliver_queue(&clock, id, name, kind, url));
        for result in futures::future::join_all(work).await {
            result?;
        }
        Ok(())
    }

    /// A contact point's due rows, oldest first, stopping at the first that must wait (order is kept).
    ///
    /// Delivery by lease: a batch is claimed in a short transaction (its rows locked, `leased_until` set, committed),
    /// then sent with no transaction, lock or pooled connection held, then its outcome recorded. However slow a
    /// receiver is, it holds no database resources; a dispatcher that dies mid-send leaves a lease that expires, and
    /// the batch is sent again under the same idempotency key.
    async fn deliver_queue(
        &self,
        clock: &PassClock<'_>,
        contact_point: i64,
        name: String,
        kind: Kind,
        url: String,
    ) -> anyhow::Result<()> {
        loop {
            let Some(claim) = self.claim(clock, contact_point).await? else {
                return Ok(());
            };
            let combined = kind.channel().combine(&claim.key, &claim.payloads);
            // Never longer than the lease: a send still under way when it ends is given up (and retried).
            let outcome = match tokio::time::timeout(
                self.lease() - Duration::from_secs(5),
                self.send(kind, &url, &claim.key, &combined),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Retry(format!(
                    "the send took longer than its lease ({:?})",
                    self.lease() - Duration::from_secs(5)
                )),
            };
            self.record(clock, &name, &claim, &outcome).await?;
            if matches!(outcome, Outcome::Retry(_)) {
                return Ok(());
            }
        }
    }

    /// Claims the contact point's oldest undelivered batch if it is due and not leased: the row, with the rest of
    /// its group, leased for longer than a send can take.
    async fn claim(
        &self,
        clock: &PassClock<'_>,
        contact_point: i64,
    ) -> anyhow::Result<Option<Claim>> {
        let now = clock.now();
        let mut tx = self.pool.begin().await?;
        // One claim of a contact point at a time (across processes), so its queue keeps its order and a group is
        // never split between two claims. (NO KEY UPDATE: evaluations may still add rows referring to it.)
        sqlx::query("SELECT 1 FROM contact_points WHERE id = $1 FOR NO KEY UPDATE")
            .bind(contact_point)
            .execute(&mut *tx)
            .await?;
        let row: Option<(i64, i32, Option<String>, bool)> = sqlx::query_as(
            "SELECT id, attempts, group_key,
                    next_attempt_at <= $2 AND not_before <= $2 AND coalesce(leased_until <= $2, true)
             FROM outbox
             WHERE contact_point_id = $1 AND delivered_at IS NULL AND failed_at IS NULL
             ORDER BY id LIMIT 1",
        )
        .bind(contact_point)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((first, attempts, group, due)) = row else {
            return Ok(None);
        };
        if !due {
            // Order is kept: later rows wait for the first (also while another dispatcher holds its lease).
            return Ok(None);
        }
        // The whole group's batch goes as one notification.
        let batch: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, idempotency_key, payload::text FROM outbox
             WHERE contact_point_id = $1 AND delivered_at IS NULL AND failed_at IS NULL
               AND (id = $2 OR group_key = $3) AND coalesce(leased_until <= $4, true)
             ORDER BY id FOR UPDATE",
        )
        .bind(contact_point)
        .bind(first)
        .bind(&group)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let ids: Vec<i64> = batch.iter().map(|b| b.0).collect();
        // The lease's end is also its token: only the holder of this lease records the outcome.
        let lease: DateTime<Utc> = sqlx::query_scalar(
            "UPDATE outbox SET leased_until = $3::timestamptz + make_interval(secs => $2), last_attempt_at = $3
             WHERE id = ANY($1) RETURNING leased_until",
        )
        .bind(&ids)
        .bind(self.lease().as_secs_f64())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let key = match batch.len() {
            1 => batch[0].1.clone(),
            n => format!("{}+{}", batch[0].1, n - 1),
        };
        Ok(Some(Claim {
            ids,
            lease,
            attempts,
            key,
            payloads: batch
                .iter()
                .map(|b| serde_json::from_str(&b.2).unwrap_or_default())
                .collect(),
        }))
    }

    /// How long a claimed batch is ours: well beyond a send's timeout (SMTP has several steps).
    fn lease(&self) -> Duration {
        self.sender.timeout * 3 + Duration::from_secs(10)
    }

    /// Writes a send's outcome and ends the lease.
    async fn record(
        &self,
        clock: &PassClock<'_>,
        name: &str,
        claim: &Claim,
        outcome: &Outcome,
    ) -> anyhow::Result<()> {
        let now = clock.now();
        match outcome {
            Outcome::Delivered => {
                sqlx::query(
                    "UPDATE outbox SET delivered_at = $3, attempts = attempts + 1, last_error = NULL,
                        leased_until = NULL WHERE id = ANY($1) AND leased_until = $2",
                )
                .bind(&claim.ids)
                .bind(claim.lease)
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
            Outcome::Retry(why) => {
                let wait = backoff(claim.attempts as u32);
                tracing::warn!(contact_point = %name, attempt = claim.attempts + 1, retry_in = ?wait, error = %why,
                    "notification not delivered; will retry");
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2, leased_until = NULL,
                        next_attempt_at = $5::timestamptz + make_interval(secs => $3)
                     WHERE id = ANY($1) AND leased_until = $4",
                )
                .bind(&claim.ids)
                .bind(why)
                .bind(wait.as_secs_f64())
                .bind(claim.lease)
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
            Outcome::GiveUp(why) => {
                tracing::error!(contact_point = %name, error = %why, "notification refused by the receiver; not retried");
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2, failed_at = $4,
                        leased_until = NULL WHERE id = ANY($1) AND leased_until = $3",
                )
                .bind(&claim.ids)
                .bind(why)
                .bind(claim.lease)
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Sends a test notification to contact point `id` now, outside the outbox: whether it was delivered, and
    /// what happened.
    pub async fn test(&self, id: i64) -> Result<(bool, String), AppError> {
        let point: Option<(String, Kind, String)> = sqlx::query_as(
            "SELECT name, kind, coalesce(settings->>'url', '') FROM contact_points WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(AppError::internal)?;
        let Some((name, kind, url)) = point else {
            return Err(AppError::NotFound);
        };
        let now = self.clock.now();
        let key = format!("test:{id}:{}", now.timestamp_millis());
        let payload = kind.channel().test(&name, &key, now);
        Ok(match self.send(kind, &url, &key, &payload).await {
            Outcome::Delivered => (true, format!("delivered to {name}")),
            Outcome::Retry(why) | Outcome::GiveUp(why) => (false, format!("not delivered: {why}")),
        })
    }

    /// Sends `payload` through the channel of `kind` to `url`, once its address has passed the guard.
    async fn send(&self, kind: Kind, url: &str, key: &str, payload: &Value) -> Outcome {
        let channel = kind.channel();
        if channel.url_hint().is_none() {
            return channel.send(&self.sender, None, key, payload).await;
        }
        let url = match url::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return Outcome::GiveUp(format!("bad URL: {e}")),
        };
        if let Err(why) = check_target(&url, &self.sender.resolver).await {
            return Outcome::GiveUp(why);
        }
        channel.send(&self.sender, Some(&url), key, payload).await
    }
}

/// The wait before retry number `attempts + 1`.
fn backoff(attempts: u32) -> Duration {
    let exp = RETRY_BASE.saturating_mul(1u32 << attempts.min(16));
    let capped = exp.min(RETRY_CAP);
    capped.mul_f64(rand::Rng::gen_range(&mut rand::thread_rng(), 0.8..1.2))
}

/// A delivery pass's clock: the instant it started at (the caller's, e.g. the dispatcher clock's `now`) plus the
/// monotonic time since by the dispatcher's clock, so a long pass's leases and retries still move forward.
struct PassClock<'c> {
    at: DateTime<Utc>,
    started: std::time::Instant,
    clock: &'c Clock,
}

impl<'c> PassClock<'c> {
    fn starting_at(at: DateTime<Utc>, clock: &'c Clock) -> PassClock<'c> {
        PassClock {
            at,
            started: clock.instant(),
            clock,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        let taken = self.clock.instant().saturating_duration_since(self.started);
        self.at + chrono::Duration::from_std(taken).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::guard::Lookup;
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        for attempts in 0..20 {
            let wait = backoff(attempts);
            let nominal = RETRY_BASE
                .saturating_mul(1 << attempts.min(16))
                .min(RETRY_CAP);
            assert!(
                wait >= nominal.mul_f64(0.8) && wait <= nominal.mul_f64(1.2),
                "{attempts}: {wait:?}"
            );
        }
    }

    /// A resolver whose name answers a public address first and 127.0.0.1 after, counting its lookups.
    fn rebinding_resolver() -> (Arc<std::sync::atomic::AtomicUsize>, GuardedResolver) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let lookups = Arc::new(AtomicUsize::new(0));
        let seen = lookups.clone();
        let lookup: Lookup = Arc::new(move |_host: String| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                Ok(vec![if n == 0 {
                    "93.184.216.34".parse().unwrap()
                } else {
                    "127.0.0.1".parse().unwrap()
                }])
            })
        });
        (
            lookups,
            GuardedResolver::with_lookup(AllowList::default(), lookup),
        )
    }

    /// DNS rebinding: the name resolves to a public address when checked and to 127.0.0.1 when connecting. The
    /// client connects only through the guarded resolver, so the second answer is refused and nothing reaches the
    /// local listener.
    #[tokio::test]
    async fn a_name_that_rebinds_to_loopback_is_refused_at_connect() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                use tokio::io::AsyncWriteExt;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let (lookups, resolver) = rebinding_resolver();
        let pool = sqlx::PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
        let dispatcher = Dispatcher::with_resolver(pool, resolver, Duration::from_secs(5)).unwrap();
        let url = format!("http://rebind.example:{port}/hook");
        let outcome = dispatcher
            .send(Kind::Webhook, &url, "k", &serde_json::json!({}))
            .await;
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            2,
            "checked once, resolved again to connect"
        );
        match outcome {
            Outcome::Retry(why) | Outcome::GiveUp(why) => {
                assert!(why.contains("internal address (127.0.0.1)"), "{why}")
            }
            Outcome::Delivered => panic!("delivered to a name that resolved to 127.0.0.1"),
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            0,
            "nothing reached the loopback listener"
        );
    }

    /// The same rebinding against an email contact point: the SMTP client connects only to the address the guard
    /// returned, so the second answer (127.0.0.1) is refused before any connection.
    #[tokio::test]
    async fn an_smtp_host_that_rebinds_to_loopback_is_refused() {
        use std::sync::atomic::Ordering;
        let (lookups, resolver) = rebinding_resolver();
        let pool = sqlx::PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
        let dispatcher = Dispatcher::with_resolver(pool, resolver, Duration::from_secs(5)).unwrap();
        let url = "smtp://rebind.example:2525?tls=none&from=a@example.com&to=b@example.com";
        let outcome = dispatcher
            .send(
                Kind::Email,
                url,
                "k",
                &serde_json::json!({"subject": "s", "body": "b"}),
            )
            .await;
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            2,
            "checked, then resolved to connect"
        );
        match outcome {
            Outcome::Retry(why) | Outcome::GiveUp(why) => {
                assert!(why.contains("internal address (127.0.0.1)"), "{why}")
            }
            Outcome::Delivered => panic!("mailed a name that resolved to 127.0.0.1"),
        }
    }
}
