//! A minimal sync client for server tests: named devices that join, edit documents with the
//! domain functions, and sync over real HTTP.
#![allow(dead_code)]

use std::collections::HashMap;

use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};
use kith_domain::doc::shift;
use kith_domain::*;
use kith_proto::{Cursor, DocPush, JoinRequest, JoinResponse, Kind, Outcome, SyncRequest, SyncResponse};
use kith_server::testing::TestServer;
use serde_bytes::ByteBuf;
use uuid::Uuid;

/// Nine hours ago, the same for the whole test process: shifts start then and last eight hours.
pub fn t0() -> Timestamp {
    static T: std::sync::OnceLock<Timestamp> = std::sync::OnceLock::new();
    *T.get_or_init(|| Timestamp(kith_server::now_ms() - 9 * 3600 * 1000))
}

/// A counter of the process-wide metrics recorder, 0 before its first count: every server of the
/// test binary counts into it, so a file that reads it is a `[[test]]` of its own (Cargo.toml).
pub fn process_counter(name: &str) -> u64 {
    let text = kith_server::http::metrics_handle().render();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// An HTTP client that lets an idle connection go before the server closes it
/// (`limits.idle_timeout_s`, 30 s), as Kith's own clients do (`SYNC_CONNECTION_IDLE`, 20 s).
/// reqwest's default keeps one 90 s, so a request sent just as the server closed it met
/// "Connection reset by peer" (a_new_device_catches_up_in_one_answer_when_it_fits, under load).
pub fn client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(kith_sync::client::SYNC_CONNECTION_IDLE)
}

pub fn http() -> reqwest::Client {
    client().build().unwrap()
}

/// One device with its own actor, token and replicas.
#[derive(Debug)]
pub struct Dev {
    pub name: String,
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
    pub team: TeamId,
    pub member: MemberId,
    pub device: DeviceId,
    pub role: String,
    pub actor: ActorId,
    pub docs: HashMap<Uuid, Automerge>,
    pub kinds: HashMap<Uuid, Kind>,
    pub server_heads: HashMap<Uuid, Vec<ChangeHash>>,
    pub cursor: Option<Cursor>,
    /// The server's manual clock, if it runs on one: this device's clock follows it plus `skew_ms`.
    pub clock: Option<std::sync::Arc<kith_server::clock::ManualClock>>,
    /// How far this device's clock is ahead of the server's (ms; negative: behind).
    pub skew_ms: i64,
}

pub fn join_request(code: &str, name: &str, actor: &ActorId) -> JoinRequest {
    JoinRequest {
        code: code.to_string(),
        name: name.to_string(),
        device_label: format!("{name}'s laptop"),
        actor: actor.to_hex_string(),
        rejoin: None,
    }
}

impl Dev {
    pub async fn join(server: &TestServer, code: &str, name: &str) -> Dev {
        let actor = ActorId::random();
        let http = http();
        let resp = http.post(server.url("/v1/join")).json(&join_request(code, name, &actor)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "join failed: {}", resp.text().await.unwrap());
        let j: JoinResponse = resp.json().await.unwrap();
        Dev {
            name: name.to_string(),
            base: server.base_url.clone(),
            http,
            token: j.token,
            team: TeamId(j.team_id),
            member: MemberId(j.member_id),
            device: DeviceId(j.device_id),
            role: j.role,
            actor,
            docs: HashMap::new(),
            kinds: HashMap::new(),
            server_heads: HashMap::new(),
            cursor: None,
            clock: server.manual_clock(),
            skew_ms: 0,
        }
    }

    /// This device's clock now (ms): the server's manual clock plus the skew, else the system clock.
    pub fn device_now(&self) -> i64 {
        use kith_server::clock::Clock;
        self.clock.as_ref().map_or_else(kith_server::now_ms, |c| c.now_ms()) + self.skew_ms
    }

    /// Starts a shift at `start` (device clock) with the given planned end, interval and buddies.
    pub fn start_shift_at(&mut self, start: i64, end: i64, interval: Secs, buddies: Vec<MemberId>) -> ShiftId {
        let s = Shift {
            id: ShiftId::new(),
            team: self.team,
            worker: self.member,
            purpose: format!("{}'s rounds", self.name),
            started_at: Timestamp(start),
            initial_end: Timestamp(end),
            interval,
            buddies,
            extensions: vec![],
            ended: None,
            checkins: vec![],
            acks: vec![],
        };
        let mut doc = Automerge::new().with_actor(self.actor.clone());
        doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
        self.docs.insert(s.id.uuid(), doc);
        self.kinds.insert(s.id.uuid(), Kind::Shift);
        s.id
    }

    /// A check-in stamped with `device_time` (this device's clock, ms).
    pub fn checkin_at(&mut self, shift_id: ShiftId, status: CheckInStatus, device_time: i64) -> CheckInId {
        let c = CheckIn::new(status, Timestamp(device_time), self.member, self.device);
        let doc = self.docs.get_mut(&shift_id.uuid()).expect("shift held");
        doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error).unwrap();
        c.id
    }

    /// Ends the shift ("I'm done, all fine") at `at` (device clock).
    pub fn end_shift_at(&mut self, shift_id: ShiftId, at: i64) {
        let doc = self.docs.get_mut(&shift_id.uuid()).expect("shift held");
        doc.transact(|tx| shift::end(tx, &ShiftEnd { at: Timestamp(at), note: None })).map_err(|f| f.error).unwrap();
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body).send().await.unwrap()
    }

    pub async fn put_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http.put(format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body).send().await.unwrap()
    }

    /// Points the device at a server again (after a restart on a new port).
    pub fn reconnect(&mut self, server: &TestServer) {
        self.base = server.base_url.clone();
    }

    pub fn doc(&self, id: Uuid) -> &Automerge {
        self.docs.get(&id).expect("the device holds the document")
    }

    pub fn shift(&self, id: ShiftId) -> Shift {
        shift::read(self.doc(id.uuid())).expect("a readable shift")
    }

    /// Starts a shift (a new shift document) and returns its id.
    pub fn start_shift(&mut self) -> ShiftId {
        let s = Shift::begin(
            self.team,
            self.member,
            format!("{}'s rounds", self.name),
            t0(),
            t0() + Secs::hours(8),
            Secs::minutes(30),
        );
        let mut doc = Automerge::new().with_actor(self.actor.clone());
        doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
        self.docs.insert(s.id.uuid(), doc);
        self.kinds.insert(s.id.uuid(), Kind::Shift);
        s.id
    }

    pub fn checkin(&mut self, shift_id: ShiftId, status: CheckInStatus, minute: i64) -> CheckInId {
        let c = CheckIn::new(status, t0() + Secs::minutes(minute), self.member, self.device);
        let doc = self.docs.get_mut(&shift_id.uuid()).expect("shift held");
        doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error).unwrap();
        c.id
    }

    pub fn ack(&mut self, shift_id: ShiftId, checkin: CheckInId, reply: &str) -> AckId {
        let a = Ack { id: AckId::new(), checkin, by: self.member, at: t0(), reply: Some(reply.into()) };
        let doc = self.docs.get_mut(&shift_id.uuid()).expect("shift held");
        doc.transact(|tx| shift::add_ack(tx, &a)).map_err(|f| f.error).unwrap();
        a.id
    }

    /// What to push for a document: changes since the server heads last seen.
    pub fn push_for(&self, id: Uuid) -> DocPush {
        let doc = self.doc(id);
        let have = self.server_heads.get(&id).cloned().unwrap_or_default();
        DocPush {
            id,
            kind: self.kinds.get(&id).copied().unwrap_or(Kind::Shift),
            have: hashes(&have),
            changes: doc.get_changes(&have).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
            heads: hashes(&doc.get_heads()),
            vouch: None,
            save: None,
        }
    }

    pub fn request(&self, docs: Vec<DocPush>) -> SyncRequest {
        SyncRequest {
            protocol: kith_proto::PROTOCOL_VERSION,
            client_time: self.device_now(),
            cursor: self.cursor.clone(),
            docs,
        }
    }

    /// Posts a CBOR body to /v1/sync with this device's token.
    pub async fn post_sync(&self, body: Vec<u8>) -> reqwest::Response {
        post_sync(&self.http, &self.base, &self.token, body).await
    }

    /// [`Dev::post_sync`] in a task of its own, for a request the test lets wait (on held
    /// storage) while it goes on: the answer's status and body.
    pub fn spawn_post_sync(&self, body: Vec<u8>) -> tokio::task::JoinHandle<(reqwest::StatusCode, Vec<u8>)> {
        let (client, base, token) = (self.http.clone(), self.base.clone(), self.token.clone());
        tokio::spawn(async move {
            let r = post_sync(&client, &base, &token, body).await;
            (r.status(), r.bytes().await.unwrap().to_vec())
        })
    }

    /// Sends a request as is and decodes the answer (must be 200).
    pub async fn send(&self, req: &SyncRequest) -> SyncResponse {
        let resp = self.post_sync(kith_proto::encode(req).unwrap()).await;
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(status, 200, "sync failed: {}", String::from_utf8_lossy(&bytes));
        kith_proto::decode(&bytes).unwrap()
    }

    /// Pushes the given documents and applies everything in the answer.
    pub async fn sync_docs(&mut self, ids: &[Uuid]) -> SyncResponse {
        let req = self.request(ids.iter().map(|id| self.push_for(*id)).collect());
        let resp = self.send(&req).await;
        self.apply(&resp);
        resp
    }

    /// Pushes every document held and pulls the feed.
    pub async fn sync(&mut self) -> SyncResponse {
        let ids: Vec<Uuid> = self.docs.keys().copied().collect();
        self.sync_docs(&ids).await
    }

    /// Syncs until the feed has no more.
    pub async fn sync_all(&mut self) -> usize {
        let mut rounds = 1;
        while self.sync().await.more {
            rounds += 1;
        }
        rounds
    }

    pub fn apply(&mut self, resp: &SyncResponse) {
        for r in &resp.docs {
            if let Some(doc) = self.docs.get_mut(&r.id) {
                for d in &r.data {
                    doc.load_incremental(d).unwrap();
                }
            }
            if r.outcome == Outcome::Accepted {
                self.server_heads.insert(r.id, unhash(&r.heads));
            }
        }
        for f in &resp.feed {
            let doc = self.docs.entry(f.id).or_insert_with(|| Automerge::new().with_actor(self.actor.clone()));
            for d in &f.data {
                doc.load_incremental(d).unwrap();
            }
            self.kinds.insert(f.id, f.kind);
            // No heads with one whole saved document (protocol 2): they are its own.
            let heads = match f.data.as_slice() {
                [whole] if f.heads.is_empty() => Automerge::load(whole).unwrap().get_heads(),
                _ => unhash(&f.heads),
            };
            self.server_heads.insert(f.id, heads);
        }
        self.cursor = Some(resp.cursor.clone());
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.unwrap()
    }
}

/// A CBOR body posted to `base`'s /v1/sync with `token`.
async fn post_sync(client: &reqwest::Client, base: &str, token: &str, body: Vec<u8>) -> reqwest::Response {
    client
        .post(format!("{base}/v1/sync"))
        .bearer_auth(token)
        .header("content-type", kith_proto::CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap()
}

pub fn hashes(hs: &[ChangeHash]) -> Vec<ByteBuf> {
    hs.iter().map(|h| ByteBuf::from(h.0.to_vec())).collect()
}

pub fn unhash(hs: &[ByteBuf]) -> Vec<ChangeHash> {
    hs.iter().map(|h| ChangeHash::try_from(h.as_slice()).unwrap()).collect()
}

/// The reject code of a reply, if rejected.
pub fn code_of(o: &Outcome) -> Option<kith_proto::RejectCode> {
    match o {
        Outcome::Rejected { code, .. } => Some(*code),
        _ => None,
    }
}

/// The server's copy of a document, read straight from its state.
/// Asserts that a document was refused as `Invalid`, with a message that says `says`.
pub fn assert_invalid(o: &Outcome, says: &str) {
    match o {
        Outcome::Rejected { code: kith_proto::RejectCode::Invalid, message } => {
            assert!(message.contains(says), "{message} (expected to say {says:?})")
        }
        o => panic!("expected Invalid ({says}), got {o:?}"),
    }
}

pub async fn server_doc(server: &TestServer, id: Uuid) -> Option<Automerge> {
    server.app().docs.with_doc(id, |st| st.doc.clone()).await.unwrap()
}

pub async fn max_seq(server: &TestServer) -> u64 {
    server.storage().max_seq().await.unwrap()
}

/// A team with a lead and a worker who joined.
pub async fn team_of_two(server: &TestServer) -> (Dev, Dev) {
    let (team, lead_code) = server.create_team("North estate").await;
    let lead = Dev::join(server, &lead_code, "Sam").await;
    let code = server.invite(team, Role::Member).await;
    let alice = Dev::join(server, &code, "Alice").await;
    (lead, alice)
}

pub fn checkin_ids(s: &Shift) -> Vec<CheckInId> {
    s.checkins.iter().map(|c| c.id).collect()
}

pub fn has_doc_heads(doc: &Automerge) -> usize {
    doc.get_heads().len()
}

pub fn doc_has_key(doc: &Automerge, key: &str) -> bool {
    doc.get(automerge::ROOT, key).ok().flatten().is_some()
}

impl Dev {
    /// Posts `body` as is (JSON or not) with this device's token.
    pub async fn post_raw(&self, path: &str, body: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// GETs a JSON endpoint: the status and the body.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self.get(path).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// The unresolved alerts this device sees (`GET /v1/alerts`).
    pub async fn open_alerts(&self) -> Vec<serde_json::Value> {
        let (status, v) = self.get_json("/v1/alerts").await;
        assert_eq!(status, 200, "{v}");
        v["alerts"].as_array().unwrap().clone()
    }
}

/// Asserts that `alert` (as `GET /v1/alerts` shows it) is `name`'s missed check-in, opened at
/// `opened`, and that the default chain's steps (worker at once, buddies +5 min, leads +15 min)
/// fired at their times, once each.
pub async fn assert_missed_checkin_climbed(server: &TestServer, alert: &serde_json::Value, name: &str, opened: i64) {
    const MIN: i64 = 60_000;
    assert_eq!(alert["worker_name"], name, "{alert}");
    assert_eq!(alert["kind"], "missed_checkin", "{alert}");
    assert_eq!(alert["opened_at"], opened, "{name}'s alert opens at its moment");
    let id = alert["id"].as_str().unwrap().parse().unwrap();
    let steps = server.storage().alert_steps(id).await.unwrap();
    assert_eq!(
        steps.iter().map(|s| s.fired_at).collect::<Vec<_>>(),
        vec![opened, opened + 5 * MIN, opened + 15 * MIN],
        "{name}'s steps fire at their times, once each"
    );
}

/// A device's live stream (SSE) as parsed events.
pub type LiveEvents = std::pin::Pin<Box<dyn futures_util::Stream<Item = eventsource_stream::Event> + Send>>;

/// Opens the live channel of `dev` and waits until the member's own arrival is announced on it,
/// so the stream is known to be subscribed.
pub async fn open_live(dev: &Dev) -> LiveEvents {
    use eventsource_stream::Eventsource;
    use futures_util::StreamExt;
    let resp = dev.get("/v1/live").await;
    assert_eq!(resp.status(), 200);
    let mut events: LiveEvents = Box::pin(resp.bytes_stream().eventsource().map(|e| e.expect("a well-formed event")));
    let me = dev.member.to_string();
    next_live(&mut events, "presence", |v| v["member_id"] == me.as_str() && v["online"] == true).await;
    events
}

/// The next live event named `name` whose data satisfies `pred`.
pub async fn next_live(
    events: &mut LiveEvents,
    name: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    use futures_util::StreamExt;
    loop {
        let e = events.next().await.expect("the stream is open");
        if e.event == name {
            let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
            if pred(&v) {
                return v;
            }
        }
    }
}

/// Two server instances on one PostgreSQL database and a new team ("Night shift") with its lead's
/// invite code; None, said on stderr, unless the suite runs on PostgreSQL
/// (`KITH_TEST_BACKEND=postgres`): several instances need a database they share.
pub async fn two_instances() -> Option<(TestServer, TestServer, kith_domain::TeamId, String)> {
    let kith_server::testing::Backend::Postgres { .. } = kith_server::testing::Backend::from_env() else {
        eprintln!("several instances share a PostgreSQL database: run with KITH_TEST_BACKEND=postgres");
        return None;
    };
    let a = TestServer::start().await;
    let b = a.start_another_instance().await;
    let (team, lead_code) = a.create_team("Night shift").await;
    Some((a, b, team, lead_code))
}

/// One `kith-server` process, with its log lines.
pub struct Instance {
    pub name: &'static str,
    child: Option<std::process::Child>,
    pub url: String,
    pub lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

pub fn plain(line: &str) -> String {
    // Without the terminal colours tracing may add.
    let mut out = String::new();
    let mut esc = false;
    for c in line.chars() {
        match (esc, c) {
            (false, '\u{1b}') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

impl Instance {
    /// Starts `kith-server` on `database_url` with the extra settings `env`, and waits for it to
    /// listen (from its log, not a sleep).
    pub async fn start_with(env: &[(&str, &str)], name: &'static str, database_url: &str) -> Instance {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kith-server"))
            .args(["--database-url", database_url, "--listen", "127.0.0.1:0"])
            .env_remove("KITH_DATA_DIR")
            .env_remove("KITH_DATABASE_URL")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "kith_server=info")
            .env("KITH_UI_DIR", "")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start kith-server");
        let stderr = child.stderr.take().expect("its log");
        let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
                let line = plain(&line);
                eprintln!("[{name}] {line}");
                let _ = tx.send(line);
            }
        });
        let addr = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            while let Some(l) = lines.recv().await {
                if l.contains("kith-server listening")
                    && let Some(rest) = l.split("addr=").nth(1)
                {
                    return rest.split_whitespace().next().unwrap_or("").to_string();
                }
            }
            panic!("{name} exited before listening");
        })
        .await
        .unwrap_or_else(|_| panic!("{name} did not start listening"));
        Instance { name, child: Some(child), url: format!("http://{addr}"), lines }
    }

    /// The process id (0 once killed).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("reaped");
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A raw live stream: opens `GET /v1/live` on a new TCP connection (the connection `conn.rs` serves
/// itself) and reads the response head.
pub async fn open_raw_live(server: &TestServer, token: &str) -> (tokio::net::TcpStream, String) {
    use tokio::io::AsyncWriteExt as _;
    let addr = server.url("").trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /v1/live HTTP/1.1\r\nhost: kith\r\naccept: text/event-stream\r\nauthorization: Bearer {token}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let head = read_until(&mut s, "\r\n\r\n").await;
    (s, head)
}

/// Reads from `s` until what was read contains `end` (or the peer closes); returns it all.
pub async fn read_until(s: &mut tokio::net::TcpStream, end: &str) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&got).contains(end) {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

/// Releases the storage's held appends when dropped, so a failing test does not leave requests
/// waiting on them for ever.
pub struct ReleaseOnDrop(pub kith_server::testing::faults::StorageFaults);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.release_appends();
    }
}

/// `n` members of `team` ("W0", "W1", ...), each on an eight-hour shift begun now by its device
/// and synced, worker i checking in every 20 + 5i minutes: deadlines at +20, +25, ... minutes.
pub async fn workers_on_staggered_shifts(server: &TestServer, team: TeamId, n: usize) -> (Vec<Dev>, Vec<ShiftId>) {
    let mut workers = Vec::new();
    for i in 0..n {
        workers.push(Dev::join(server, &server.invite(team, Role::Member).await, &format!("W{i}")).await);
    }
    let mut shifts = Vec::new();
    for (i, w) in workers.iter_mut().enumerate() {
        let now = w.device_now();
        shifts.push(w.start_shift_at(now, now + 8 * 3_600_000, Secs::minutes(20 + 5 * i as i64), vec![]));
        w.sync().await;
    }
    (workers, shifts)
}
