//! Named peers ("alice", "lead") each running a [`Core`] over storage kept here as [`Records`]
//! (what IndexedDB would hold), and an in-process transport to a real Kith server: its router
//! called as a service (no socket, no HTTP client), the server on its manual clock. The test
//! decides the device times, when storage commits and when the network is down.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use kith_api::{AppState, SyncState, WriteResult};
use kith_core::{Command, Core, CoreOptions, Effect, Event, Failure, Records, Reply, TaskId, Write};
use kith_domain::{Role, TeamId};
use kith_proto::ApiError;
use kith_server::testing::TestServer;
use tower::ServiceExt;

/// A real server, reached in-process.
pub struct Server {
    pub test: TestServer,
    router: axum::Router,
}

impl Server {
    pub async fn start() -> Server {
        let test = TestServer::start_manual().await;
        let router = kith_server::router(test.app().clone());
        Server { test, router }
    }

    pub async fn start_with_storage_faults() -> Server {
        let test = TestServer::start_with_storage_faults(|_| {}).await;
        let router = kith_server::router(test.app().clone());
        Server { test, router }
    }

    /// "http://kith.test": the address the peers are given (never dialled).
    pub fn url(&self) -> String {
        "http://kith.test".into()
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, Vec<u8>) {
        let mut req = req;
        // As the server's own connection loop would: the peer's address (for the join limit).
        req.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 1))));
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, body)
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let mut b = Request::builder().method("POST").uri(path).header(header::CONTENT_TYPE, content_type);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.call(b.body(Body::from(body)).unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Vec<u8>) {
        let req = Request::builder()
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        self.call(req).await
    }

    pub async fn team(&self, name: &str) -> (TeamId, String) {
        self.test.create_team(name).await
    }

    pub async fn invite(&self, team: TeamId, role: Role) -> String {
        self.test.invite(team, role).await
    }

    /// A copy of the database, as the nightly backup (the server stops and starts again for it).
    pub async fn back_up(&mut self) -> kith_server::testing::Backup {
        self.test.stop().await;
        let b = self.test.back_up().await;
        self.start_again().await;
        b
    }

    /// The disk is lost: the database is replaced by `backup` and the server starts again.
    pub async fn restore(&mut self, backup: &kith_server::testing::Backup) {
        self.test.stop().await;
        self.test.restore(backup).await;
        self.start_again().await;
    }

    async fn start_again(&mut self) {
        self.test.start_again().await;
        self.router = kith_server::router(self.test.app().clone());
    }
}

fn failure(status: StatusCode, body: &[u8]) -> Failure {
    let api: Option<ApiError> = serde_json::from_slice(body).ok();
    let code = status.as_u16();
    Failure {
        message: api.as_ref().map_or_else(|| format!("HTTP {code}"), |a| a.message.clone()),
        retryable: api.as_ref().is_some_and(|a| a.retryable) || code >= 500 || code == 408 || code == 429,
        retry_after_ms: None,
        unauthorized: code == 401,
        code: api.map(|a| a.code),
    }
}

/// One device: a core, its storage, and what it was told.
pub struct Peer {
    pub name: &'static str,
    pub core: Core,
    /// What is committed to storage.
    pub stored: Records,
    /// Persists not carried out yet (when the test holds storage back).
    pub held: Vec<(TaskId, Vec<Write>)>,
    /// Hold persists instead of committing them.
    pub hold_storage: bool,
    /// The network is down: every request fails as offline.
    pub offline: bool,
    pub now: i64,
    next_id: u64,
    pub replies: BTreeMap<u64, Result<Reply, ApiError>>,
    pub statuses: Vec<SyncState>,
    pub reminders: Vec<kith_api::ReminderView>,
    pub wake_at: Option<i64>,
    pub reloads: Vec<String>,
    /// Sync requests sent, with their documents.
    pub sent: Vec<kith_proto::SyncRequest>,
    queue: Vec<Effect>,
}

/// Device time at the start of every test: 2026-03-02 08:00 UTC.
pub const T0: i64 = 1_772_438_400_000;

impl Peer {
    pub fn new(name: &'static str) -> Peer {
        Peer::over(name, Records::default(), T0)
    }

    /// A core over `stored`, as a browser opening the app again.
    pub fn over(name: &'static str, stored: Records, now: i64) -> Peer {
        let opts = CoreOptions { device_label: format!("{name}'s phone"), ..CoreOptions::default() };
        let (core, effects) = Core::load(stored.clone(), now, opts, 42).unwrap();
        Peer {
            name,
            core,
            stored,
            held: Vec::new(),
            hold_storage: false,
            offline: false,
            now,
            next_id: 1,
            replies: BTreeMap::new(),
            statuses: Vec::new(),
            reminders: Vec::new(),
            wake_at: None,
            reloads: Vec::new(),
            sent: Vec::new(),
            queue: effects,
        }
    }
}

/// The driver loop, as `wasm.ts` is in the browser.
impl Peer {
    /// Carries out the effects until none are left (storage held back stays held).
    pub async fn pump(&mut self, server: &Server) {
        while let Some(e) = (!self.queue.is_empty()).then(|| self.queue.remove(0)) {
            let next = match e {
                Effect::Persist { task, writes } => {
                    if self.hold_storage {
                        self.held.push((task, writes));
                        None
                    } else {
                        self.stored.apply(&writes);
                        Some(Event::Persisted { task })
                    }
                }
                Effect::Sync { task, request, .. } => {
                    self.sent.push(request.clone());
                    if self.offline {
                        Some(Event::SyncFailed { task, failure: offline() })
                    } else {
                        let body = kith_proto::encode(&request).unwrap();
                        let token = self.core.token().map(str::to_string);
                        let (status, bytes) =
                            server.post("/v1/sync", token.as_deref(), kith_proto::CONTENT_TYPE, body).await;
                        if status.is_success() {
                            Some(Event::SyncAnswered { task, response: kith_proto::decode(&bytes).unwrap() })
                        } else {
                            Some(Event::SyncFailed { task, failure: failure(status, &bytes) })
                        }
                    }
                }
                Effect::Join { task, request, .. } => {
                    if self.offline {
                        Some(Event::JoinFailed { task, failure: offline() })
                    } else {
                        let (status, bytes) = server
                            .post("/v1/join", None, "application/json", serde_json::to_vec(&request).unwrap())
                            .await;
                        if status.is_success() {
                            Some(Event::Joined { task, response: serde_json::from_slice(&bytes).unwrap() })
                        } else {
                            Some(Event::JoinFailed { task, failure: failure(status, &bytes) })
                        }
                    }
                }
                Effect::Reply { id, result } => {
                    self.replies.insert(id, result);
                    None
                }
                Effect::Status { sync } => {
                    self.statuses.push(sync);
                    None
                }
                Effect::Remind { reminder } => {
                    self.reminders.push(reminder);
                    None
                }
                Effect::WakeAt { at_ms } => {
                    self.wake_at = Some(at_ms);
                    None
                }
                Effect::Reload { reason } => {
                    self.reloads.push(reason);
                    None
                }
                Effect::Changed { .. } => None,
            };
            if let Some(ev) = next {
                let more = self.core.handle(self.now, ev);
                self.queue.extend(more);
            }
        }
    }

    /// Sends an event now and carries out what follows.
    pub async fn event(&mut self, server: &Server, ev: Event) {
        let more = self.core.handle(self.now, ev);
        self.queue.extend(more);
        self.pump(server).await;
    }

    /// Sends a command; returns its id (the reply may come later).
    pub async fn send(&mut self, server: &Server, command: Command) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.event(server, Event::Command { id, command }).await;
        id
    }

    /// Sends a command and returns its reply, which must have come.
    pub async fn ask(&mut self, server: &Server, command: Command) -> Result<Reply, ApiError> {
        let id = self.send(server, command).await;
        self.replies.remove(&id).unwrap_or_else(|| panic!("{}: no reply yet", self.name))
    }

    pub async fn state(&mut self, server: &Server) -> AppState {
        match self.ask(server, Command::AppState).await.unwrap() {
            Reply::State(s) => *s,
            other => panic!("{other:?}"),
        }
    }

    pub async fn write(&mut self, server: &Server, command: Command) -> Result<WriteResult, ApiError> {
        self.ask(server, command).await.map(|r| match r {
            Reply::Write(w) => *w,
            other => panic!("{other:?}"),
        })
    }

    /// Moves this device's clock to `at` and wakes the core, as its timer would.
    pub async fn wake_at(&mut self, server: &Server, at: i64) {
        self.now = at;
        self.event(server, Event::Wake).await;
    }

    /// Commits the persists held back, in order.
    pub async fn commit_held(&mut self, server: &Server) {
        self.hold_storage = false;
        for (task, writes) in std::mem::take(&mut self.held) {
            self.stored.apply(&writes);
            self.event(server, Event::Persisted { task }).await;
        }
    }

    /// Joins the team with `code`.
    pub async fn join(&mut self, server: &Server, code: &str, name: &str) -> AppState {
        let input = kith_api::input::JoinInput {
            server: Some(server.url()),
            code: Some(code.into()),
            link: None,
            name: name.into(),
        };
        match self.ask(server, Command::Join(input)).await {
            Ok(Reply::State(s)) => *s,
            other => panic!("{}: join: {other:?}", self.name),
        }
    }

    pub fn sync_state(&self) -> &SyncState {
        self.core.sync_state()
    }
}

fn offline() -> Failure {
    Failure {
        message: "Offline: cannot reach the team server. Your check-ins are saved on this device and will sync when the connection is back".into(),
        retryable: true,
        ..Failure::default()
    }
}

/// A shift start input ending `hours` after `now`.
pub fn start(purpose: &str, now: i64, hours: i64) -> Command {
    Command::StartShift(kith_api::input::StartShiftInput {
        purpose: Some(purpose.into()),
        planned_end: kith_domain::Timestamp(now + hours * 3_600_000),
        interval_s: Some(3600),
        buddies: None,
    })
}

/// A check-in of `status` with an optional note.
pub fn checkin(status: kith_domain::CheckInStatus, note: Option<&str>) -> Command {
    Command::CheckIn(kith_api::input::CheckInInput {
        status,
        mood: Some(4),
        confidence: None,
        note: note.map(str::to_string),
        note_visibility: None,
        lat: None,
        lon: None,
    })
}

/// A team with a lead and a member ("alice") joined, both online and synced.
pub async fn team_of_two(server: &Server) -> (Peer, Peer) {
    let (team, lead_code) = server.team("North estate").await;
    let mut lead = Peer::new("lead");
    lead.join(server, &lead_code, "Lee Lead").await;
    let code = server.invite(team, Role::Member).await;
    let mut alice = Peer::new("alice");
    alice.join(server, &code, "Alice Field").await;
    (alice, lead)
}
