//! The database going away: requests fail fast and say nothing of the server's insides,
//! readiness says so at once, and the server recovers by itself when the database is back.
//!
//! The test runs a PostgreSQL cluster of its own (in a temporary directory, on a free port) so it
//! can stop it; it needs PostgreSQL's server binaries, as the rest of the suite does for its
//! PostgreSQL run, and runs the cluster as the `postgres` user when started as root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestApp, code};

/// PostgreSQL's server binaries (`initdb`, `pg_ctl`).
fn pg_bin() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|dirs| dirs.filter_map(Result::ok).map(|d| d.path().join("bin")).find(|b| b.join("pg_ctl").exists()));
    found.expect("PostgreSQL's server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin")
}

/// A PostgreSQL tool, run as `postgres` when this process is root (initdb refuses root).
fn pg_command(tool: &str) -> Command {
    let bin = pg_bin().join(tool);
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin);
        command
    } else {
        Command::new(bin)
    }
}

fn pg(tool: &str, args: &[&str]) {
    let status = pg_command(tool).args(args).status();
    assert!(status.expect(tool).success(), "{tool} {args:?} failed");
}

struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn create() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // The cluster's owner must own its directory.
        let _ = Command::new("chown").arg("postgres:postgres").arg(dir.path()).status();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let data = dir.path().join("data");
        pg("initdb", &["-D", path(&data), "-A", "trust", "-U", "postgres", "--no-sync"]);
        let cluster = Self { dir, port };
        cluster.start();
        cluster
    }

    fn options(&self) -> String {
        format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, path(self.dir.path()))
    }

    fn start(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        pg("pg_ctl", &["-D", path(&data), "-l", path(&log), "-o", &self.options(), "-w", "start"]);
    }

    fn stop(&self) {
        let data = self.dir.path().join("data");
        pg("pg_ctl", &["-D", path(&data), "-m", "immediate", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = pg_command("pg_ctl").args(["-D", path(&data), "-m", "immediate", "stop"]).status();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[tokio::test]
async fn requests_fail_fast_while_the_database_is_down_and_recover_after() {
    let cluster = Cluster::create();
    let url = cluster.url();
    let app = TestApp::spawn_with(move |c| {
        c.database_url = url;
        c.default_plugins = false;
    })
    .await;
    let t = app.token("acme", "ADMIN", "admin");
    app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "before" })).await;

    cluster.stop();
    let started = Instant::now();
    let res = app.gql(&t, "{ customers { nodes { name } } }", json!({})).await;
    let took = started.elapsed();
    assert_eq!(code(&res), "INTERNAL", "{res}");
    assert_eq!(res["errors"][0]["message"], "internal error", "no internals shown: {res}");
    assert!(took < Duration::from_secs(4), "a request failed only after {took:?}");

    let started = Instant::now();
    let ready = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(ready.status(), 503);
    assert!(took < Duration::from_secs(2), "/readyz answered after {took:?}");

    cluster.start();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = app.gql(&t, "{ customers { nodes { name } } }", json!({})).await;
        if res.get("errors").is_none() {
            assert_eq!(res["data"]["customers"]["nodes"][0]["name"], "before");
            break;
        }
        assert!(Instant::now() < deadline, "not recovered: {res}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.client.get(format!("{}/readyz", app.base)).send().await.unwrap().status(), 200);
}
