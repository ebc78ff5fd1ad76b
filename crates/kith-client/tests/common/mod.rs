//! A real team server in-process (`kith_server::testing::TestServer`, SQLite in a temporary
//! directory, on a fixed loopback port so it can stop and come back at the same address) and
//! app clients, each with its own data directory. Nothing sleeps to wait: waits are on the
//! client's events or sync state, with a timeout that only fails a broken test.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use kith_api::AppState;
use kith_client::credential::Keep;
use kith_client::{Client, ClientEvent, ClientOptions, JoinInput};
use kith_domain::{Role, TeamId};
use kith_server::testing::TestServer;
use tokio::sync::broadcast;

/// Long enough never to fire on a working machine; only a broken test waits this long.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct Server {
    pub server: TestServer,
    pub url: String,
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(|_| {}).await
    }

    /// [`Server::start`] with settings of the test's own.
    pub async fn start_with(tweak: impl FnOnce(&mut kith_server::config::Config)) -> Server {
        // A fixed port (free now), so after `stop` the same address serves again and the
        // devices' links stay valid.
        let addr: SocketAddr = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
        let server = TestServer::start_with(|c| {
            c.listen = addr;
            tweak(c);
        })
        .await;
        let url = server.base_url.clone();
        Server { server, url }
    }

    /// A server whose storage can be made to fail like a full disk, and recover
    /// (`self.server.storage_faults()`).
    pub async fn start_with_storage_faults() -> Server {
        let addr: SocketAddr = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
        let server = TestServer::start_with_storage_faults(|c| c.listen = addr).await;
        let url = server.base_url.clone();
        Server { server, url }
    }

    pub async fn team(&self, name: &str) -> (TeamId, String) {
        self.server.create_team(name).await
    }

    pub async fn invite(&self, team: TeamId, role: Role) -> String {
        self.server.invite(team, role).await
    }

    pub async fn stop(&mut self) {
        self.server.stop().await;
    }

    pub async fn start_again(&mut self) {
        self.server.start_again().await;
        assert_eq!(self.server.base_url, self.url, "the server came back on another address");
    }
}

/// One app install: a client on its own data directory.
pub struct Device {
    pub client: Client,
    pub dir: tempfile::TempDir,
}

impl Device {
    pub async fn new() -> Device {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // The credential file, the fallback CI uses, and never a developer's own keychain.
        let opts = ClientOptions { keep: Keep::FileOnly, ..ClientOptions::default() };
        let client = Client::open_with(dir.path().join("kith"), opts).await.expect("open the client");
        Device { client, dir }
    }

    /// A device joined to `team` with a fresh invite for `role`.
    pub async fn joined(server: &Server, team: TeamId, role: Role, name: &str) -> Device {
        let d = Device::new().await;
        let code = server.invite(team, role).await;
        d.join(server, &code, name).await;
        d
    }

    pub async fn join(&self, server: &Server, code: &str, name: &str) -> AppState {
        let input =
            JoinInput { server: Some(server.url.clone()), code: Some(code.into()), link: None, name: name.into() };
        let state = self.client.join(input).await.expect("join");
        assert!(state.joined);
        assert!(state.sync.online, "the first sync should have run: {:?}", state.sync);
        state
    }
}

/// A team whose lead ("Lee Lead") joined, on a server backed up then (stopped for it and
/// started again): restoring the backup later makes the server forget every device joined since.
pub async fn team_backed_up_with_its_lead(server: &mut Server) -> (TeamId, Device, kith_server::testing::Backup) {
    let (team, lead_code) = server.team("North estate").await;
    let lead = Device::new().await;
    lead.join(server, &lead_code, "Lee Lead").await;
    server.stop().await;
    let backup = server.server.back_up().await;
    server.start_again().await;
    (team, lead, backup)
}

/// A team with a lead and a worker ("Lee Lead", "Alice Field"), both joined and synced.
pub struct Team {
    pub server: Server,
    pub team: TeamId,
    pub lead: Device,
    pub worker: Device,
}

impl Team {
    pub async fn new() -> Team {
        Team::on(Server::start().await).await
    }

    /// [`Team::new`] on a server whose storage can fail and recover.
    pub async fn with_storage_faults() -> Team {
        Team::on(Server::start_with_storage_faults().await).await
    }

    async fn on(server: Server) -> Team {
        let (team, lead_code) = server.team("North estate").await;
        let lead = Device::new().await;
        lead.join(&server, &lead_code, "Lee Lead").await;
        let worker = Device::joined(&server, team, Role::Member, "Alice Field").await;
        // The lead learns of the worker's roster entry with a sync.
        lead.client.sync_now().await.expect("sync");
        // Pokes, alerts and waves reach only connected devices: wait for both live channels.
        for d in [&lead, &worker] {
            let mut status = d.client.sync_handle().expect("joined, so syncing").watch_status();
            tokio::time::timeout(PATIENCE, status.wait_for(|s| s.live)).await.expect("live channel").expect("runner");
        }
        Team { server, team, lead, worker }
    }
}

/// Waits for the first event that `pick` accepts.
pub async fn next_event<T>(
    rx: &mut broadcast::Receiver<ClientEvent>,
    mut pick: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("the client's events ended"),
            }
        }
    })
    .await
    .expect("the event should arrive")
}

/// In one hour from now (ms), for planned ends.
pub fn in_hours(h: i64) -> kith_domain::Timestamp {
    kith_domain::Timestamp(kith_sync::now_ms() + h * 3_600_000)
}

/// A counter or gauge of the server's `/metrics` (0 when absent), read over a plain HTTP/1.0
/// request of its own (which is one of the server's connections while it is answered): the client
/// crate has no HTTP client of its own to lend. The server needs `metrics_token` = `token`.
pub async fn server_metric(server: &Server, token: &str, name: &str) -> u64 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = server.url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /metrics HTTP/1.0\r\nhost: kith\r\nauthorization: Bearer {token}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"), "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

/// Lee Lead's join with invite `code`, from a device of a fixed actor.
pub fn lee_joins(code: String) -> kith_proto::JoinRequest {
    kith_proto::JoinRequest {
        code,
        name: "Lee Lead".into(),
        device_label: "Lee's phone".into(),
        actor: "0123456789abcdef0123456789abcdef".into(),
        rejoin: None,
    }
}
