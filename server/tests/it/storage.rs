//! Storage guarantees straight against PostgreSQL: retention drops whole partitions, and a connection killed
//! mid-batch loses no acknowledged sample and duplicates none.

use crate::helpers::{drop_database, fresh_database};
use chrono::{Duration as Days, Utc};
use mcpulse::config;
use mcpulse::db::{ClusterOwnership, Database};
use mcpulse::store::{Labels, Sample, Store};
use std::collections::BTreeMap;
use std::time::Duration;

async fn open() -> (Database, String) {
    let (url, name) = fresh_database().await;
    let env: BTreeMap<String, String> = [("DATABASE_URL".to_string(), url)].into();
    let db = Database::open(
        &config::from_sources(None, &env).unwrap(),
        ClusterOwnership::Guest,
    )
    .await
    .unwrap();
    mcpulse::db::migrate(&db.pool).await.unwrap();
    (db, name)
}

fn samples(metric: &str, n: usize, at: chrono::DateTime<Utc>) -> Vec<Sample> {
    (0..n)
        .map(|i| Sample {
            metric: metric.into(),
            source: "s".into(),
            labels: Labels::from([("shard".to_string(), (i % 50).to_string())]),
            ts: at + chrono::Duration::milliseconds(i as i64),
            value: i as f64,
        })
        .collect()
}

async fn count(db: &Database, metric: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM samples JOIN series ON series.id = series_id WHERE metric = $1",
    )
    .bind(metric)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn retention_drops_whole_old_partitions_only() {
    let (db, name) = open().await;
    let store = Store::new(db.pool.clone());
    store
        .write(&samples("old", 100, Utc::now() - Days::days(10)))
        .await
        .unwrap();
    store
        .write(&samples("recent", 100, Utc::now() - Days::days(1)))
        .await
        .unwrap();

    let dropped = store
        .apply_retention(Utc::now(), Duration::from_secs(7 * 86400))
        .await
        .unwrap();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(count(&db, "old").await, 0);
    assert_eq!(count(&db, "recent").await, 100);
    assert!(
        store
            .apply_retention(Utc::now(), Duration::from_secs(7 * 86400))
            .await
            .unwrap()
            .is_empty(),
        "idempotent"
    );
    db.close().await;
    drop_database(&name).await;
}

#[tokio::test]
async fn a_killed_connection_loses_no_acknowledged_sample_and_duplicates_none() {
    let (db, name) = open().await;
    let store = std::sync::Arc::new(Store::new(db.pool.clone()));
    store
        .write(&samples("acked", 1000, Utc::now()))
        .await
        .unwrap();

    let mut killed = false;
    for (attempt, size) in [200_000usize, 400_000, 800_000].into_iter().enumerate() {
        let metric = format!("victim{attempt}");
        let batch = samples(&metric, size, Utc::now() - Days::minutes(5));
        let writer = {
            let store = store.clone();
            let batch = batch.clone();
            tokio::spawn(async move { store.write(&batch).await })
        };
        // Kill the backend while it runs the sample insert.
        let killer = async {
            for _ in 0..2000 {
                let pid: Option<i32> = sqlx::query_scalar(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                     AND state = 'active' AND query LIKE 'COPY samples%'",
                )
                .fetch_optional(&db.pool)
                .await
                .unwrap();
                if let Some(pid) = pid {
                    sqlx::query("SELECT pg_terminate_backend($1)")
                        .bind(pid)
                        .execute(&db.pool)
                        .await
                        .unwrap();
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            false
        };
        let terminated = killer.await;
        let result = writer.await.unwrap();
        match result {
            Err(_) => {
                assert!(terminated);
                assert_eq!(
                    count(&db, &metric).await,
                    0,
                    "an unacknowledged batch left nothing behind"
                );
                // The sender retries (it got no acknowledgement): stored exactly once.
                store
                    .write(&batch)
                    .await
                    .expect("the retry succeeds on a fresh connection");
                assert_eq!(
                    count(&db, &metric).await,
                    size as i64,
                    "no duplicates after the retry"
                );
                killed = true;
                break;
            }
            Ok(outcome) => assert_eq!(
                count(&db, &metric).await,
                outcome.stored as i64,
                "acknowledged means stored"
            ),
        }
    }
    assert!(
        killed,
        "the insert was never caught running; the test did not exercise the kill"
    );
    assert_eq!(
        count(&db, "acked").await,
        1000,
        "earlier acknowledged samples are intact"
    );
    db.close().await;
    drop_database(&name).await;
}
