//! The `mcpulse` binary: configuration errors, user management, and a graceful SIGTERM.

use crate::helpers::{drop_database, eventually, fresh_database};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn mcpulse() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcpulse"));
    for (key, _) in std::env::vars() {
        if key.starts_with("MCPULSE_")
            || [
                "DATABASE_URL",
                "COLLECTION_INTERVAL",
                "RETENTION_PERIOD",
                "DASHBOARD_PORT",
                "ALERTS_ENABLED",
            ]
            .contains(&key.as_str())
        {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(std::env::temp_dir());
    cmd
}

#[test]
fn an_invalid_configuration_exits_non_zero_listing_every_problem() {
    let out = mcpulse()
        .args(["config", "check"])
        .env("MCPULSE_PORT", "http")
        .env("COLLECTION_INTERVAL", "often")
        .env("MCPULSE_DATABASE_URL", "mysql://db")
        .env("MCPULSE_COLOUR", "blue")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "4 problems",
        "server.port",
        "collection.interval",
        "database.url",
        "MCPULSE_COLOUR",
    ] {
        assert!(stderr.contains(needle), "{needle} missing from:\n{stderr}");
    }

    let dir = tempdir();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[server]\nport = 8089\nhost = \"x\"\n").unwrap();
    let out = mcpulse()
        .arg("--config")
        .arg(&file)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown key `server.host`"));
}

#[tokio::test]
async fn users_are_managed_from_the_command_line() {
    let (url, name) = fresh_database().await;
    let add = |user: &str, role: &str, password: &str| {
        let mut child = mcpulse()
            .args(["user", "add", user, "--role", role, "--password-stdin"])
            .env("DATABASE_URL", &url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = add("root", "admin", "a good password");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let short = add("other", "viewer", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8"));
    let bad_role = add("other", "superuser", "a good password");
    assert!(!bad_role.status.success());
    let duplicate = add("ROOT", "viewer", "a good password");
    assert!(
        !duplicate.status.success(),
        "usernames are unique regardless of case"
    );

    let list = mcpulse()
        .args(["user", "list"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(
        stdout.contains("root") && stdout.contains("admin") && !stdout.contains("other"),
        "{stdout}"
    );
    drop_database(&name).await;
}

#[tokio::test]
async fn sigterm_drains_and_exits_promptly() {
    let (url, name) = fresh_database().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = mcpulse()
        .args(["serve"])
        .env("DATABASE_URL", &url)
        .env("MCPULSE_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let ready_url = format!("http://127.0.0.1:{port}/ready");
    eventually(Duration::from_secs(30), "/ready", || async {
        let res = client.get(&ready_url).send().await.ok()?;
        let body: serde_json::Value = res.json().await.ok()?;
        (body["status"] == "ready").then_some(())
    })
    .await;
    // A long-lived client connection must not hold the exit up.
    let _idle = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();

    let started = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "mcpulse did not exit within 30 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "clean exit: {status:?}");
    drop_database(&name).await;
}

pub fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mcpulse-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
