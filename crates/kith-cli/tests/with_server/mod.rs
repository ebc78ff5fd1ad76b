//! The real `kith` binary against a real team server: an in-process `kith-server`
//! (`kith_server::testing::TestServer`, SQLite in a temporary directory, 127.0.0.1) that the test
//! can stop and start again on the same port, and devices that each have their own data
//! directory. Devices use the real clock (the server's deadlines do), the time zone is UTC.
//! Nothing sleeps to wait: the server is listening when `start` returns.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;

use kith_domain::{DeviceId, Role, TeamId};
use kith_server::testing::TestServer;
use serde_json::Value;

/// A team server the test can stop and start again on the same address.
pub struct Server {
    rt: tokio::runtime::Runtime,
    server: Option<TestServer>,
    pub url: String,
}

impl Server {
    pub fn start() -> Server {
        Server::launch(false)
    }

    /// A server whose storage can be made to fail like a full disk, and recover ([`Server::faults`]).
    pub fn start_with_storage_faults() -> Server {
        Server::launch(true)
    }

    /// The storage switch of a server started with [`Server::start_with_storage_faults`].
    pub fn faults(&self) -> kith_server::testing::faults::StorageFaults {
        self.s().storage_faults()
    }

    fn launch(faulty: bool) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the test server");
        // A fixed port (free now), so that after `stop` the same address can be served again and
        // the devices' links stay valid.
        let addr: SocketAddr = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
        let server = if faulty {
            rt.block_on(TestServer::start_with_storage_faults(|c| c.listen = addr))
        } else {
            rt.block_on(TestServer::start_with(|c| c.listen = addr))
        };
        let url = server.base_url.clone();
        Server { rt, server: Some(server), url }
    }

    fn s(&self) -> &TestServer {
        self.server.as_ref().expect("the server")
    }

    /// A team and its first lead invite code.
    pub fn create_team(&self, name: &str) -> (TeamId, String) {
        self.rt.block_on(self.s().create_team(name))
    }

    pub fn invite(&self, team: TeamId, role: Role) -> String {
        self.rt.block_on(self.s().invite(team, role))
    }

    /// Writes into a stored document as the server's own actor, skipping every check (a plain
    /// append, [`TestServer::write_unchecked`]): how text stored by an older server (before it
    /// checked characters) or written by a buggy one looks to devices today.
    pub fn write_unchecked(
        &self,
        doc: uuid::Uuid,
        edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), kith_domain::DomainError>,
    ) {
        assert!(self.rt.block_on(self.s().write_unchecked(doc, edit)), "the unchecked edit changed nothing");
    }

    pub fn revoke(&self, device: DeviceId) -> bool {
        self.rt.block_on(self.s().revoke(device))
    }

    /// Stops the server gracefully; its port refuses connections until [`Server::start_again`].
    pub fn stop(&mut self) {
        let s = self.server.as_mut().expect("the server");
        self.rt.block_on(s.stop());
    }

    /// Serves the same database on the same address again.
    pub fn start_again(&mut self) {
        let s = self.server.as_mut().expect("the server");
        self.rt.block_on(s.start_again());
        assert_eq!(s.base_url, self.url, "the server came back on another address");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            self.rt.block_on(s.stop());
        }
    }
}

/// One device with its own data directory.
pub struct Device {
    pub dir: tempfile::TempDir,
}

/// What one run printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Device {
    pub fn new() -> Device {
        Device { dir: tempfile::tempdir().expect("a temporary directory") }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("kith")
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let o = Command::new(env!("CARGO_BIN_EXE_kith"))
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .env("TZ", "UTC")
            .env_remove("KITH_NOW")
            .env_remove("KITH_DATA_DIR")
            // No keychain is reachable (as in CI): credentials go to the 0600 file, the fallback
            // under test, and a developer's own keychain is never touched.
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/kith-test-bus")
            .env_remove("KITH_CREDENTIAL_STORE")
            .output()
            .expect("running kith");
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Runs and insists on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, 0, "kith {args:?} failed: {r:?}");
        assert!(!r.stderr.contains("panicked"), "kith {args:?} panicked: {}", r.stderr);
        r.stdout
    }

    /// Runs with `--json`, insists on success and parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("kith {args:?} printed invalid JSON ({e}): {out}"))
    }

    /// Runs and insists on failure with `code`, nothing on stdout, and every one of `words` on
    /// stderr.
    pub fn fails(&self, args: &[&str], code: i32, words: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, code, "kith {args:?} should exit {code}: {r:?}");
        for w in words {
            assert!(r.stderr.contains(w), "kith {args:?}: stderr should mention {w:?}: {}", r.stderr);
        }
        assert!(r.stdout.is_empty(), "kith {args:?} printed to stdout on failure: {}", r.stdout);
        assert!(!r.stderr.contains("panicked"), "kith {args:?} panicked: {}", r.stderr);
        r
    }

    /// Joins with `kith join <server> <code>`; returns the JSON answer.
    pub fn join(&self, server: &str, code: &str, name: &str) -> Value {
        let v = self.json(&["join", server, code, "--name", name]);
        assert_eq!(v["synced"], true, "joining should sync at once: {v}");
        v
    }
}

/// The kith://join link for a server and an invite code.
pub fn join_link(server: &str, code: &str) -> String {
    kith_server::http::join_link(server, code)
}

/// A team on a fresh server with a lead ("Lee Lead", joined with server and code) and a worker
/// ("Alice Field", joined with a kith:// link).
pub struct Team {
    pub server: Server,
    pub team: TeamId,
    pub lead: Device,
    pub worker: Device,
    pub lead_join: Value,
    pub worker_join: Value,
}

impl Team {
    pub fn new() -> Team {
        Team::on(Server::start())
    }

    /// [`Team::new`] on a server whose storage can fail and recover.
    pub fn with_storage_faults() -> Team {
        Team::on(Server::start_with_storage_faults())
    }

    fn on(server: Server) -> Team {
        let (team, lead_code) = server.create_team("North estate");
        let lead = Device::new();
        let lead_join = lead.join(&server.url, &lead_code, "Lee Lead");
        let worker = Device::new();
        let link = join_link(&server.url, &server.invite(team, Role::Member));
        let worker_join = worker.json(&["join", &link, "--name", "Alice Field"]);
        Team { server, team, lead, worker, lead_join, worker_join }
    }
}
