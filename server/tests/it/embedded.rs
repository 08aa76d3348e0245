//! The zero-setup database: a private PostgreSQL cluster is created, reached over its Unix socket only, reused,
//! and stopped.

use mcpulse::config;
use mcpulse::db::{ClusterOwnership, Database};
use std::collections::BTreeMap;

#[tokio::test]
async fn a_private_cluster_is_created_reused_and_stopped() {
    let dir = crate::cli::tempdir();
    // The cluster runs as an unprivileged user when tests run as root: let it reach the directory.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let env: BTreeMap<String, String> = [(
        "MCPULSE_DATA_DIR".to_string(),
        dir.to_string_lossy().to_string(),
    )]
    .into();
    let config = config::from_sources(None, &env).unwrap();

    let db = Database::open(&config, ClusterOwnership::Owner)
        .await
        .expect("private PostgreSQL starts");
    mcpulse::db::migrate(&db.pool).await.unwrap();
    let listen: String = sqlx::query_scalar("SHOW listen_addresses")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(listen, "", "no TCP listener");
    sqlx::query("INSERT INTO users (username, password_hash, role) VALUES ('keep', 'x', 'viewer')")
        .execute(&db.pool)
        .await
        .unwrap();

    // A second opener (e.g. `mcpulse user add` while serving) reuses the running cluster and leaves it running.
    let guest = Database::open(&config, ClusterOwnership::Guest)
        .await
        .expect("reuses the running cluster");
    guest.close().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&db.pool)
        .await
        .expect("still running");
    assert_eq!(n, 1);
    db.close().await;
    assert!(
        !dir.join("postgres/postmaster.pid").exists(),
        "stopped on close"
    );

    // Next start: same data, no new initdb.
    let db = Database::open(&config, ClusterOwnership::Owner)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(n, 1, "data survives a restart");
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn postgres_binaries_are_found_on_this_machine() {
    let bin = mcpulse::db::embedded::find_bin_dir().expect("initdb and pg_ctl");
    assert!(bin.join("postgres").is_file(), "{}", bin.display());
}
