//! Server and protocol benchmarks (docs/benchmarks.md): check-in sync throughput and latency,
//! propagation over the live channel with 1,000 live clients, and bytes and round trips of Kith's
//! protocol against Automerge's own sync protocol on the same documents.
//!
//! ```text
//! cargo bench -p kith-stories --bench sync                 # everything
//! KITH_BENCH_QUICK=1 cargo bench -p kith-stories --bench sync   # a short run
//! KITH_BENCH_ONLY=throughput|propagation|bytes cargo bench -p kith-stories --bench sync
//! KITH_BENCH_CLIENTS=100,1000 KITH_BENCH_REPS=5 ...        # throughput levels and runs per level
//! ```
//! The server is the real one, in-process (`kith_server::testing::TestServer`: SQLite with
//! `synchronous=FULL` in a temporary directory, axum on 127.0.0.1:0) on its own 2-thread runtime,
//! like the `kith-server` binary; the load generator runs on a separate single-thread runtime in
//! the same process, so both share the machine's cores. Prints markdown tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::sync::{Message, State, SyncDoc};
use automerge::{ActorId, Automerge, ChangeHash};
use futures_util::StreamExt;
use kith_domain::doc::shift;
use kith_domain::*;
use kith_proto::{Cursor, DocPush, JoinRequest, JoinResponse, Kind, Outcome, SyncRequest, SyncResponse};
use kith_server::testing::TestServer;
use kith_stories::{Device, T0, at};
use serde_bytes::ByteBuf;
use uuid::Uuid;

fn quick() -> bool {
    std::env::var("KITH_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn wants(section: &str) -> bool {
    match std::env::var("KITH_BENCH_ONLY") {
        Ok(v) if !v.is_empty() => v.split(',').any(|s| s.trim() == section),
        _ => true,
    }
}

fn hb(h: &ChangeHash) -> ByteBuf {
    ByteBuf::from(h.0.to_vec())
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn gz(bytes: &[u8]) -> usize {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap().len()
}

/// CPU time used so far (ms): by the whole process, and by the calling thread (the load
/// generator's runtime runs on it). From /proc (Linux); None elsewhere.
fn cpu_ms() -> Option<(f64, f64)> {
    let ticks = |path: &str| -> Option<f64> {
        let s = std::fs::read_to_string(path).ok()?;
        let fields: Vec<&str> = s[s.rfind(')')? + 1..].split_whitespace().collect();
        // utime and stime: fields 14 and 15 of stat(5), in clock ticks (100 per second).
        Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) * 10.0)
    };
    Some((ticks("/proc/self/stat")?, ticks("/proc/thread-self/stat")?))
}

/// The server on its own runtime (2 worker threads, like the binary on this 2-core machine).
struct Bench {
    server: Option<TestServer>,
    /// Every instance's base URL: the server's, then the other instances' on its database.
    urls: Vec<String>,
    /// The other instances (`KITH_BENCH_INSTANCES`): their stop switches and data directories.
    others: Vec<(tokio::sync::oneshot::Sender<()>, tempfile::TempDir)>,
    srv: tokio::runtime::Runtime,
    cli: tokio::runtime::Runtime,
}

/// How many server instances share the database: `KITH_BENCH_INSTANCES` (default 1; more than
/// one needs PostgreSQL: `KITH_TEST_BACKEND=postgres`).
/// What the bench reads `/metrics` with.
const METRICS_TOKEN: &str = "the-bench-reads-metrics";

fn instances() -> usize {
    std::env::var("KITH_BENCH_INSTANCES").ok().and_then(|v| v.parse().ok()).unwrap_or(1).max(1)
}

impl Bench {
    fn new() -> Bench {
        let srv = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let cli = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let tweak = |c: &mut kith_server::config::Config| {
            c.join_rate.burst = 100_000;
            c.join_rate.replenish_ms = 1;
            c.metrics_token = Some(METRICS_TOKEN.into());
        };
        let server = srv.block_on(TestServer::start_with(tweak));
        let mut urls = vec![server.base_url.clone()];
        let mut others = Vec::new();
        for _ in 1..instances() {
            let kith_server::testing::Backend::Postgres { url } = server.backend().clone() else {
                panic!("KITH_BENCH_INSTANCES > 1 needs KITH_TEST_BACKEND=postgres (one database, several servers)");
            };
            // Another kith-server on the same database, in this process and on the same runtime
            // (the machine's cores are shared either way), as `kith-server serve` would run it.
            let dir = tempfile::tempdir().unwrap();
            let mut config = kith_server::config::Config {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                data_dir: Some(dir.path().to_path_buf()),
                ui_dir: Some(std::path::PathBuf::new()),
                database_url: Some(url),
                ..Default::default()
            };
            tweak(&mut config);
            let (stop, rx) = tokio::sync::oneshot::channel::<()>();
            let base = srv.block_on(async move {
                let storage = kith_server::open_storage(&config).await.unwrap();
                let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
                let base = format!("http://{}", listener.local_addr().unwrap());
                let app = kith_server::http::App::new(config, storage).await.unwrap();
                tokio::spawn(kith_server::http::run(app, listener, async move {
                    let _ = rx.await;
                }));
                base
            });
            urls.push(base);
            others.push((stop, dir));
        }
        Bench { server: Some(server), urls, others, srv, cli }
    }

    fn server(&self) -> &TestServer {
        self.server.as_ref().unwrap()
    }

    fn team(&self, name: &str) -> (TeamId, String) {
        self.srv.block_on(self.server().create_team(name))
    }

    fn invite(&self, team: TeamId, role: Role, uses: u32) -> String {
        self.srv.block_on(self.server().invite_with(team, role, Duration::from_secs(24 * 3600), uses))
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        for (stop, _) in self.others.drain(..) {
            let _ = stop.send(());
        }
        if let Some(mut s) = self.server.take() {
            self.srv.block_on(s.stop());
        }
    }
}

/// A device speaking the raw protocol (no local store: the load generator measures the server).
#[derive(Clone)]
struct RawDevice {
    actor: ActorId,
    token: String,
    team: TeamId,
    member: MemberId,
    device: DeviceId,
}

async fn join_raw(http: &reqwest::Client, base: &str, code: &str, name: String) -> RawDevice {
    let actor = ActorId::random();
    let req = JoinRequest {
        code: code.to_string(),
        name,
        device_label: "bench".into(),
        actor: actor.to_hex_string(),
        rejoin: None,
    };
    let resp = http.post(format!("{base}/v1/join")).json(&req).send().await.unwrap();
    assert!(resp.status().is_success(), "join: {}", resp.text().await.unwrap());
    let j: JoinResponse = resp.json().await.unwrap();
    RawDevice {
        actor,
        token: j.token,
        team: TeamId(j.team_id),
        member: MemberId(j.member_id),
        device: DeviceId(j.device_id),
    }
}

/// `n` member devices in teams of `team_size`.
fn join_members(b: &Bench, n: usize, team_size: usize, http: &reqwest::Client) -> Vec<RawDevice> {
    let base = b.server().base_url.clone();
    let mut codes = Vec::new();
    for t in 0..n.div_ceil(team_size) {
        let (team, _) = b.team(&format!("Bench team {t}"));
        codes.push(b.invite(team, Role::Member, team_size as u32));
    }
    b.cli.block_on(async {
        let mut out = Vec::with_capacity(n);
        // One team at a time: joins edit the team document, which serialises them per team.
        for (t, code) in codes.iter().enumerate() {
            let k = team_size.min(n - t * team_size);
            let joins = (0..k).map(|i| join_raw(http, &base, code, format!("worker {t}.{i}")));
            out.extend(futures_util::future::join_all(joins).await);
        }
        out
    })
}

fn new_shift(d: &RawDevice, now: Timestamp) -> Shift {
    Shift::begin(d.team, d.member, "bench", now, now + Secs::hours(8), Secs::minutes(30))
}

fn checkin(d: &RawDevice, t: Timestamp) -> CheckIn {
    CheckIn { mood: Some(Rating::new(4, "mood").unwrap()), ..CheckIn::new(CheckInStatus::Ok, t, d.member, d.device) }
}

/// One client's pre-built shift: the creating change and `rounds` check-in changes, each as
/// (bytes, hash). Built before the clock starts so the load generator only does HTTP.
struct Script {
    dev: RawDevice,
    doc_id: Uuid,
    init: (Vec<u8>, ChangeHash),
    checkins: Vec<(Vec<u8>, ChangeHash)>,
}

fn script(dev: &RawDevice, rounds: usize) -> Script {
    let s = new_shift(dev, T0);
    let mut doc = Automerge::new().with_actor(dev.actor.clone());
    doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
    let last = |doc: &mut Automerge| {
        let c = doc.get_last_local_change().unwrap();
        (c.raw_bytes().to_vec(), c.hash())
    };
    let init = last(&mut doc);
    let mut checkins = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let c = checkin(dev, T0 + Secs(60 * r as i64));
        doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error).unwrap();
        checkins.push(last(&mut doc));
    }
    Script { dev: dev.clone(), doc_id: s.id.uuid(), init, checkins }
}

async fn post_sync(http: &reqwest::Client, url: &str, token: &str, req: &SyncRequest) -> SyncResponse {
    let body = kith_proto::encode(req).unwrap();
    let resp = http
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, kith_proto::CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "sync failed: {}", resp.text().await.unwrap_or_default());
    kith_proto::decode(&resp.bytes().await.unwrap()).unwrap()
}

fn push(doc_id: Uuid, have: &[ChangeHash], change: &(Vec<u8>, ChangeHash)) -> DocPush {
    DocPush {
        id: doc_id,
        kind: Kind::Shift,
        have: have.iter().map(hb).collect(),
        changes: vec![ByteBuf::from(change.0.clone())],
        heads: vec![hb(&change.1)],
        vouch: None,
        save: None,
    }
}

/// Creates the shift on the server (not timed); returns the cursor to continue from.
async fn create(http: &reqwest::Client, url: &str, s: &Script) -> Cursor {
    let req = SyncRequest {
        protocol: kith_proto::PROTOCOL_VERSION,
        client_time: 0,
        cursor: None,
        docs: vec![push(s.doc_id, &[], &s.init)],
    };
    let resp = post_sync(http, url, &s.dev.token, &req).await;
    assert_eq!(resp.docs[0].outcome, Outcome::Accepted);
    resp.cursor
}

/// Each client checks in `rounds` times, one sync per check-in, as fast as the server answers.
/// Returns every sync's latency, the wall time, and the CPU time the process and the load
/// generator used meanwhile (ms; see [`cpu_ms`]).
async fn run_clients(
    http: &reqwest::Client,
    urls: &[String],
    scripts: &[Script],
) -> (Vec<Duration>, Duration, Option<(f64, f64)>) {
    // Client i talks to instance i mod n (each client to one instance: see `propagation` for a
    // write on one instance read on another).
    let url_of = |i: usize| &urls[i % urls.len()];
    let cursors =
        futures_util::future::join_all(scripts.iter().enumerate().map(|(i, s)| create(http, url_of(i), s))).await;
    let cpu_start = cpu_ms();
    let start = Instant::now();
    let runs = scripts.iter().zip(cursors).enumerate().map(|(i, (s, cursor))| async move {
        let url = url_of(i);
        let mut cursor = Some(cursor);
        let mut have = vec![s.init.1];
        let mut lat = Vec::with_capacity(s.checkins.len());
        for c in &s.checkins {
            let req = SyncRequest {
                protocol: kith_proto::PROTOCOL_VERSION,
                client_time: 0,
                cursor: cursor.take(),
                docs: vec![push(s.doc_id, &have, c)],
            };
            let t = Instant::now();
            let resp = post_sync(http, url, &s.dev.token, &req).await;
            lat.push(t.elapsed());
            assert_eq!(resp.docs[0].outcome, Outcome::Accepted, "{:?}", resp.docs[0].outcome);
            cursor = Some(resp.cursor);
            have = vec![c.1];
        }
        lat
    });
    let lats = futures_util::future::join_all(runs).await;
    let wall = start.elapsed();
    let cpu = match (cpu_start, cpu_ms()) {
        (Some(a), Some(b)) => Some((b.0 - a.0, b.1 - a.1)),
        _ => None,
    };
    (lats.into_iter().flatten().collect(), wall, cpu)
}

fn http_client() -> reqwest::Client {
    // Bodies as they are: the load generator spends its one thread on HTTP, not on decoding.
    kith_stories::http_client().pool_max_idle_per_host(usize::MAX).no_gzip().no_zstd().build().unwrap()
}

fn throughput(b: &Bench, pool: &[RawDevice], http: &reqwest::Client) {
    let urls: Vec<String> = b.urls.iter().map(|u| format!("{u}/v1/sync")).collect();
    let reps =
        std::env::var("KITH_BENCH_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(if quick() { 1 } else { 3 });
    let total = if quick() { 2000 } else { 6000 };
    println!("\n## Check-in sync throughput\n");
    println!(
        "Each client owns one shift document and syncs once per new check-in (one change per sync), as soon as \
         the previous sync answered. Clients are members in teams of 20. {reps} run(s) per row; syncs/s is the \
         median run, latencies are over all runs.\n"
    );
    println!(
        "| concurrent clients | syncs per run | syncs/s (median) | runs (syncs/s) | p50 ms | p99 ms | max ms | CPU µs per sync: server + load generator (median run) |"
    );
    println!("|---:|---:|---:|---|---:|---:|---:|---|");
    let levels: Vec<usize> = std::env::var("KITH_BENCH_CLIENTS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 10, 100, 1000]);
    for n in levels {
        let n = n.min(pool.len());
        let rounds = (total / n).clamp(if quick() { 3 } else { 6 }, 200);
        let mut rates = Vec::new();
        let mut all = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..reps {
            let scripts: Vec<Script> = pool[..n].iter().map(|d| script(d, rounds)).collect();
            let (lat, wall, used) = b.cli.block_on(run_clients(http, &urls, &scripts));
            if let Some((process, load)) = used {
                let syncs = lat.len() as f64;
                cpu.push(((process - load) * 1000.0 / syncs, load * 1000.0 / syncs));
            }
            rates.push(lat.len() as f64 / wall.as_secs_f64());
            all.extend(lat);
        }
        cpu.sort_by(|a, b| (a.0 + a.1).total_cmp(&(b.0 + b.1)));
        let cpu = cpu.get(cpu.len() / 2).map_or("?".to_string(), |(s, g)| format!("{s:.0} + {g:.0}"));
        all.sort();
        let runs: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "| {n} | {} | {:.0} | {} | {} | {} | {} | {cpu} |",
            n * rounds,
            median(&mut rates.clone()),
            runs.join(", "),
            ms(pct(&all, 0.5)),
            ms(pct(&all, 0.99)),
            ms(*all.last().unwrap())
        );
    }
}

/// Opens a live stream per device and drains it in the background; returns once all are connected.
fn connect_live(b: &Bench, devices: &[RawDevice], http: &reqwest::Client) -> Vec<tokio::task::JoinHandle<()>> {
    let urls: Vec<String> = b.urls.iter().map(|u| format!("{u}/v1/live")).collect();
    b.cli.block_on(async {
        let mut handles = Vec::new();
        for (c, chunk) in devices.chunks(100).enumerate() {
            let opened = chunk.iter().enumerate().map(|(i, d)| {
                http.get(&urls[(c * 100 + i) % urls.len()])
                    .bearer_auth(&d.token)
                    .header(reqwest::header::ACCEPT, "text/event-stream")
                    .send()
            });
            for resp in futures_util::future::join_all(opened).await {
                let resp = resp.unwrap();
                assert!(resp.status().is_success());
                handles.push(tokio::spawn(async move {
                    let mut s = resp.bytes_stream();
                    while let Some(Ok(_)) = s.next().await {}
                }));
            }
        }
        handles
    })
}

fn live_count(b: &Bench) -> String {
    b.srv.block_on(async {
        let text = kith_stories::http_client()
            .build()
            .unwrap()
            .get(b.server().url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines().find(|l| l.starts_with("kith_live_connections")).unwrap_or("kith_live_connections ?").to_string()
    })
}

fn propagation(b: &Bench, pool: &[RawDevice], http: &reqwest::Client) {
    let samples = if quick() { 60 } else { 300 };
    println!("\n## Propagation over the live channel\n");
    // `KITH_BENCH_LIVE=0` runs it with no other live client (default: the whole pool, 1,000).
    let idle: usize = std::env::var("KITH_BENCH_LIVE").ok().and_then(|v| v.parse().ok()).unwrap_or(pool.len());
    let everyone = pool;
    let pool = &pool[..idle.min(pool.len())];
    let live = connect_live(b, pool, http);
    // With several instances the worker writes through the first and the lead reads through the last.
    let (worker_base, lead_base) = (b.urls[0].clone(), b.urls[b.urls.len() - 1].clone());
    let (team, lead_code) = b.team("Propagation");
    let worker_code = b.invite(team, Role::Member, 1);
    let (mut lead, worker) = b.cli.block_on(async {
        let lead = Device::join("Lead", &lead_base, &lead_code).await;
        let worker = Device::join("Worker", &worker_base, &worker_code).await;
        (lead, worker)
    });
    // Pokes that never came (the lead then syncs after `POKE_WAIT`, and that sample counts the wait).
    let missed = std::sync::atomic::AtomicUsize::new(0);
    // Check-ins the lead's sync through the other instance did not bring.
    let lost = std::sync::atomic::AtomicUsize::new(0);
    let connected = live_count(b);
    println!(
        "A worker checks in (saved in its local store, then synced); the lead's device is on the live channel \
         (SSE) and, on the `changed` poke for that shift, syncs with the real engine (`prepare`, `ServerClient::sync`, \
         `absorb`: what `kith_sync::sync_with` does) and finds the check-in. Timed from the start of the \
         worker's sync to the lead's sync answer being in, and to the check-in being applied and durable in \
         the lead's local store. {} other live clients stay connected (members of 50 other \
         teams, draining their streams); `{connected}` before the lead connects. {samples} check-ins, one at a time.\n",
        pool.len()
    );
    let mut rows = Vec::new();
    let mut worker = Some(worker);
    for background in [0usize, 100] {
        let mut w = worker.take().unwrap();
        let lat = b.cli.block_on(async {
            lead.sync().await.unwrap();
            let shift = w.start_shift("propagation");
            w.sync().await.unwrap();
            lead.sync().await.unwrap();
            let mut events = Box::pin(kith_sync::live::connect(&lead.client).await.unwrap());
            // When the server's live channel announces the shift's change (the commit seen and
            // read back from the change log), on the (first) server's runtime.
            let published = Arc::new(std::sync::Mutex::new(None::<Instant>));
            let mut hub = b.server().app().live.subscribe(team);
            let noted = published.clone();
            let watcher = b.srv.spawn(async move {
                loop {
                    match hub.recv().await {
                        Ok(ev) => {
                            if let kith_server::live::LiveEvent::Changed { docs, .. } = &*ev
                                && docs.iter().any(|m| m.id == shift.uuid())
                            {
                                *noted.lock().unwrap() = Some(Instant::now());
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    }
                }
            });
            // The worker: its own device on its own thread, checking in and syncing on demand;
            // answers when its sync started and when its answer was in (what `sync_with` does).
            let (worker_tx, mut worker_rx) =
                tokio::sync::mpsc::unbounded_channel::<tokio::sync::oneshot::Sender<(Instant, Instant, CheckInId)>>();
            let worker_thread = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    let mut i = 0;
                    while let Some(reply) = worker_rx.recv().await {
                        let c = w.checkin(shift, CheckInStatus::Ok, at(i));
                        i += 1;
                        let t0 = Instant::now();
                        let mut answered = None;
                        loop {
                            let sent = kith_sync::now_ms();
                            let req = kith_sync::prepare(&mut w.store, sent).unwrap();
                            let resp = w.client.sync(&req).await.unwrap();
                            answered.get_or_insert_with(Instant::now);
                            let done = kith_sync::absorb(&mut w.store, &req, &resp, sent, kith_sync::now_ms()).unwrap();
                            if !done.again {
                                break;
                            }
                        }
                        let _ = reply.send((t0, answered.unwrap(), c.id));
                    }
                });
                w
            });
            // Background: other clients checking in continuously, in other teams.
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut bg = Vec::new();
            // Built before the clock starts: the load generator's one thread only does HTTP.
            let scripts: Vec<Script> = everyone.iter().take(background).map(|d| script(d, samples)).collect();
            for (i, s) in scripts.into_iter().enumerate() {
                let url = format!("{}/v1/sync", b.urls[i % b.urls.len()]);
                let (http, stop, d) = (http.clone(), stop.clone(), s.dev.clone());
                bg.push(tokio::spawn(async move {
                    let mut cursor = Some(create(&http, &url, &s).await);
                    let mut have = vec![s.init.1];
                    // Open loop: each client syncs a new check-in every 100 ms (about 1,000 syncs/s
                    // in all), whatever the answers' latency.
                    let mut tick = tokio::time::interval(Duration::from_millis(100));
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    for c in &s.checkins {
                        tick.tick().await;
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let req = SyncRequest {
                            protocol: kith_proto::PROTOCOL_VERSION,
                            client_time: 0,
                            cursor: cursor.take(),
                            docs: vec![push(s.doc_id, &have, c)],
                        };
                        cursor = Some(post_sync(&http, &url, &d.token, &req).await.cursor);
                        have = vec![c.1];
                    }
                }));
            }
            tokio::time::sleep(Duration::from_millis(if background > 0 { 500 } else { 50 })).await;
            let mut lat = Vec::with_capacity(samples);
            for _ in 0..samples {
                // The worker syncs on its own thread (its own device: its `absorb` must not hold
                // the lead's thread while the lead reads its poke).
                let (reply, worker_done) = tokio::sync::oneshot::channel();
                worker_tx.send(reply).unwrap();
                let pull = async {
                    let poked = tokio::time::timeout(POKE_WAIT, async {
                        loop {
                            match events.next().await {
                                Some(Ok(kith_sync::live::LiveEvent::Changed(docs))) if docs.contains(&shift.uuid()) => {
                                    break;
                                }
                                Some(Ok(_)) => {}
                                other => panic!("live channel ended: {other:?}"),
                            }
                        }
                    })
                    .await;
                    let poke_read = Instant::now();
                    if poked.is_err() {
                        missed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    // One exchange of the real engine (what `sync_with` does), timed when the
                    // request is sent, when the answer is in and when it is applied (durable in
                    // the lead's store).
                    let mut sent_at = None;
                    let mut answered = None;
                    loop {
                        let sent = kith_sync::now_ms();
                        let req = kith_sync::prepare(&mut lead.store, sent).unwrap();
                        sent_at.get_or_insert_with(Instant::now);
                        let resp = lead.client.sync(&req).await.unwrap();
                        answered.get_or_insert_with(Instant::now);
                        let done = kith_sync::absorb(&mut lead.store, &req, &resp, sent, kith_sync::now_ms()).unwrap();
                        if !done.again {
                            break;
                        }
                    }
                    let stored = Instant::now();
                    (poke_read, sent_at.unwrap(), answered.unwrap(), stored)
                };
                let (w, (poke_read, sent, answered, stored)) = tokio::join!(async { worker_done.await.unwrap() }, pull);
                let (t0, worker_answered, c) = w;
                let arrived = lead.shift(shift).is_some_and(|s| s.checkins.iter().any(|x| x.id == c));
                // One instance must always deliver; across instances it is measured and told.
                assert!(arrived || b.urls.len() > 1, "lead lacks the check-in");
                if !arrived {
                    lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                let published = published.lock().unwrap().take().unwrap_or(poke_read);
                lat.push(Stages { t0, worker_answered, published, poke_read, sent, answered, stored });
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for h in bg {
                let _ = h.await;
            }
            drop(worker_tx);
            watcher.abort();
            (lat, worker_thread)
        });
        let (lat, worker_thread) = lat;
        worker = Some(worker_thread.join().unwrap());
        rows.push((background, lat));
    }
    println!(
        "Stages, ms from the worker's sync being answered (its answer in; negative: before it), p50 / p99: the \
         server announcing the change on its live channel (`published`), the lead reading the poke, the lead's \
         request sent (after `prepare`), its answer in, the check-in applied and durable in the lead's store (the \
         issue's measure). `whole` is from the start of the worker's sync to the lead's store (this section's \
         measure before).\n"
    );
    println!(
        "| live clients | background load | samples | published | poke read | request sent | answer in | in the lead's store | max | lead's fetch (sent → in) | lead's absorb | whole, p50 / p99 |"
    );
    println!("|---:|---|---:|---|---|---|---|---|---:|---|---|---|");
    for (bg, lat) in rows {
        let since = |f: fn(&Stages) -> Instant| -> Vec<f64> {
            let mut v: Vec<f64> = lat.iter().map(|s| signed_ms(s.worker_answered, f(s))).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let between = |a: fn(&Stages) -> Instant, z: fn(&Stages) -> Instant| -> Vec<f64> {
            let mut v: Vec<f64> = lat.iter().map(|s| signed_ms(a(s), z(s))).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let pp = |v: &[f64]| format!("{:.2} / {:.2}", q(v, 0.5), q(v, 0.99));
        let stored = since(|s| s.stored);
        let load =
            if bg == 0 { "none".to_string() } else { format!("{bg} clients, one check-in sync each per 100 ms") };
        println!(
            "| {} | {load} | {} | {} | {} | {} | {} | {} | {:.2} | {} | {} | {} |",
            pool.len() + 1,
            lat.len(),
            pp(&since(|s| s.published)),
            pp(&since(|s| s.poke_read)),
            pp(&since(|s| s.sent)),
            pp(&since(|s| s.answered)),
            pp(&stored),
            stored.last().copied().unwrap_or(0.0),
            pp(&between(|s| s.sent, |s| s.answered)),
            pp(&between(|s| s.answered, |s| s.stored)),
            pp(&between(|s| s.t0, |s| s.stored)),
        );
    }
    let lost = lost.into_inner();
    if lost > 0 {
        println!(
            "\n**{lost} check-in(s) never reached the lead** syncing through instance {} (written through instance 1).",
            b.urls.len()
        );
    }
    let missed = missed.into_inner();
    if missed > 0 {
        println!(
            "\n**{missed} poke(s) never reached the lead** on instance {} (the worker wrote through instance 1): the \
             lead synced after waiting {} ms, which those samples include.",
            b.urls.len(),
            POKE_WAIT.as_millis()
        );
    }
    for h in live {
        h.abort();
    }
}

/// One propagation sample: when each stage of the path was reached.
struct Stages {
    /// The worker's sync started.
    t0: Instant,
    /// The worker's sync answer was in (the issue's start).
    worker_answered: Instant,
    /// The server's live channel announced the change.
    published: Instant,
    poke_read: Instant,
    /// The lead's sync request sent (its `prepare` done).
    sent: Instant,
    answered: Instant,
    /// The lead's `absorb` committed.
    stored: Instant,
}

/// `to - from` in ms, negative when `to` came first.
fn signed_ms(from: Instant, to: Instant) -> f64 {
    match to.checked_duration_since(from) {
        Some(d) => d.as_secs_f64() * 1000.0,
        None => -(from - to).as_secs_f64() * 1000.0,
    }
}

fn q(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// How long the lead waits for the live poke before syncing anyway.
const POKE_WAIT: Duration = Duration::from_secs(2);

/// Bytes and round trips of one Kith catch-up: prepare → POST → absorb until the engine is done.
#[derive(Default)]
struct Wire {
    round_trips: usize,
    req: usize,
    resp: usize,
    req_gz: usize,
    resp_gz: usize,
    /// What crosses the network: the client gzips request bodies over 1 KiB
    /// (`kith_sync::engine::gzip_body`); the server compresses response bodies over 1 KiB in the
    /// encoding the device accepts (`zstd, gzip`, as the device's HTTP client asks): counted as
    /// they came.
    sent: usize,
}

async fn kith_catch_up(dev: &mut Device, http: &reqwest::Client) -> Wire {
    let url = format!("{}v1/sync", dev.client.base());
    let token = dev.client.token().unwrap().to_string();
    let mut w = Wire::default();
    for _ in 0..kith_sync::engine::MAX_ROUNDS {
        let sent = kith_sync::now_ms();
        let req = kith_sync::prepare(&mut dev.store, sent).unwrap();
        let body = kith_proto::encode(&req).unwrap();
        let resp = http
            .post(&url)
            .bearer_auth(&token)
            .header(reqwest::header::CONTENT_TYPE, kith_proto::CONTENT_TYPE)
            .header(reqwest::header::ACCEPT_ENCODING, "gzip, zstd")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let encoding = resp.headers().get(reqwest::header::CONTENT_ENCODING).map(|v| v.to_str().unwrap().to_string());
        let wire = resp.bytes().await.unwrap();
        let bytes: Vec<u8> = match encoding.as_deref() {
            None => wire.to_vec(),
            Some("zstd") => zstd::stream::decode_all(&wire[..]).unwrap(),
            Some("gzip") => {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&wire[..]), &mut out).unwrap();
                out
            }
            Some(other) => panic!("unexpected content-encoding {other}"),
        };
        let resp: SyncResponse = kith_proto::decode(&bytes).unwrap();
        // `KITH_BENCH_DUMP=DIR`: keep each answer's body, to try other encodings on it.
        if let Ok(dir) = std::env::var("KITH_BENCH_DUMP") {
            std::fs::write(format!("{dir}/answer-{}-{}.cbor", resp.feed.len(), w.round_trips), &bytes).unwrap();
        }
        w.round_trips += 1;
        w.req += body.len();
        w.resp += bytes.len();
        w.req_gz += gz(&body);
        w.resp_gz += gz(&bytes);
        w.sent += kith_sync::engine::gzip_body(&body).map_or(body.len(), |b| b.len());
        w.sent += wire.len();
        let absorbed = kith_sync::absorb(&mut dev.store, &req, &resp, sent, kith_sync::now_ms()).unwrap();
        assert!(absorbed.rejected.is_empty(), "{:?}", absorbed.rejected);
        if !absorbed.again {
            break;
        }
    }
    w
}

/// Automerge's sync protocol between a device's copy and the server's copy of one document, until
/// quiescent. Returns the encoded messages per round trip (device's, server's): the device speaks
/// first; a round trip is a device message and the server's answer.
fn automerge_sync(device: &Automerge, server: &Automerge) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (mut a, mut b) = (device.clone(), server.clone());
    let (mut sa, mut sb) = (State::new(), State::new());
    let mut rounds = Vec::new();
    loop {
        let (mut up, mut down) = (Vec::new(), Vec::new());
        if let Some(m) = a.generate_sync_message(&mut sa) {
            up = m.encode();
            b.receive_sync_message(&mut sb, Message::decode(&up).unwrap()).unwrap();
        }
        if let Some(m) = b.generate_sync_message(&mut sb) {
            down = m.encode();
            a.receive_sync_message(&mut sa, Message::decode(&down).unwrap()).unwrap();
        }
        if up.is_empty() && down.is_empty() {
            break;
        }
        rounds.push((up, down));
    }
    assert_eq!(a.get_heads().into_iter().collect::<HashSet<_>>(), b.get_heads().into_iter().collect::<HashSet<_>>());
    rounds
}

/// The Automerge-sync baseline over pairs of (device copy, server copy).
struct Baseline {
    bytes: usize,
    messages: usize,
    /// Round trips with every document's messages batched per step (the slowest document's).
    max_rounds: usize,
    /// Round trips one document at a time.
    sum_rounds: usize,
    /// Gzip of each step's batched messages, per direction (as if sent in one HTTP body each).
    gzip: usize,
}

fn baseline(pairs: &[(Automerge, Automerge)]) -> Baseline {
    let mut out = Baseline { bytes: 0, messages: 0, max_rounds: 0, sum_rounds: 0, gzip: 0 };
    let mut steps: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (d, s) in pairs {
        let rounds = automerge_sync(d, s);
        out.max_rounds = out.max_rounds.max(rounds.len());
        out.sum_rounds += rounds.len();
        for (k, (up, down)) in rounds.iter().enumerate() {
            out.bytes += up.len() + down.len();
            out.messages += usize::from(!up.is_empty()) + usize::from(!down.is_empty());
            if steps.len() <= k {
                steps.push((Vec::new(), Vec::new()));
            }
            steps[k].0.extend_from_slice(up);
            steps[k].1.extend_from_slice(down);
        }
    }
    out.gzip = steps.iter().map(|(u, d)| gz(u) + gz(d)).sum();
    out
}

fn server_doc(b: &Bench, id: Uuid) -> Automerge {
    let app = b.server().app().clone();
    b.srv.block_on(async move { app.docs.with_doc(id, |st| st.doc.clone()).await.unwrap().unwrap() })
}

fn print_bytes_row(name: &str, docs: usize, w: &Wire, base: Baseline) {
    let kith = w.req + w.resp;
    println!(
        "| {name} | {docs} | Kith protocol | {} | {} ({} gzip) | {} ({} gzip) | {} ({} gzip; {} as sent: requests over 1 KiB gzipped, answers over 1 KiB in zstd) |",
        w.round_trips,
        w.req,
        w.req_gz,
        w.resp,
        w.resp_gz,
        kith,
        w.req_gz + w.resp_gz,
        w.sent
    );
    println!(
        "| {name} | {docs} | Automerge sync | {} per doc (all docs in lockstep); {} one doc at a time; {} messages | | | {} ({} gzip, each step's messages batched) |",
        base.max_rounds, base.sum_rounds, base.messages, base.bytes, base.gzip
    );
    println!(
        "| {name} | | Kith / Automerge bytes | | | | {:.2} uncompressed; {:.2} both gzipped |",
        kith as f64 / base.bytes as f64,
        (w.req_gz + w.resp_gz) as f64 / base.gzip as f64
    );
}

fn bytes(b: &Bench) {
    let http = http_client();
    let base_url = b.server().base_url.clone();
    println!("\n## Bytes and round trips against Automerge's sync protocol\n");
    println!(
        "Kith: the real engine (`kith_sync::prepare` / `absorb` with the device's `kith_store::Store`) over HTTP, \
         counting the CBOR request and response bodies as sent (uncompressed; the gzip column is what \
         HTTP gzip at the default level makes of each body). Automerge: `automerge::sync` \
         (`generate_sync_message` / `receive_sync_message`) between the device's copy and the server's copy \
         of every document involved, until quiescent, counting encoded message bytes; it has no discovery, so \
         it is given the list of documents for free.\n"
    );
    println!("| scenario | documents | protocol | round trips | request bytes | response bytes | total bytes |");
    println!("|---|---:|---|---|---:|---:|---:|");

    // (a) A week offline: a team of 20, seven shifts of ten check-ins each; the lead's device
    // checked in offline all week and now catches up with everyone else's week.
    let (team, lead_code) = b.team("Week");
    let mate_code = b.invite(team, Role::Member, 19);
    let (mut lead, mut mates) = b.cli.block_on(async {
        let lead = Device::join("Lead", &base_url, &lead_code).await;
        let mut mates = Vec::new();
        for _ in 0..19 {
            mates.push(Device::join("Mate", &base_url, &mate_code).await);
        }
        (lead, mates)
    });
    b.cli.block_on(async {
        for m in &mut mates {
            m.sync().await.unwrap();
        }
        lead.sync().await.unwrap();
        for m in &mut mates {
            for day in 0..7 {
                let s = m.start_shift("week");
                for k in 0..10 {
                    m.checkin(s, CheckInStatus::Ok, at(day * 1440 + k * 45));
                }
                m.sync().await.unwrap();
            }
        }
    });
    let mut own = Vec::new();
    for day in 0..7 {
        let s = lead.start_shift("week");
        for k in 0..10 {
            lead.checkin(s, CheckInStatus::Ok, at(day * 1440 + k * 45));
        }
        own.push(s.uuid());
    }
    // The baseline's pairs, taken before the catch-up: the lead's own shifts (the server has none),
    // the teammates' shifts (the lead has none) and the team document (both have it).
    let mut pairs = Vec::new();
    for id in &own {
        pairs.push((lead.store.doc(*id).unwrap().clone(), Automerge::new()));
    }
    let mut mate_docs = Vec::new();
    for m in &mut mates {
        for info in m.store.list_docs(Some("shift")).unwrap() {
            mate_docs.push(info.id);
        }
    }
    for id in &mate_docs {
        pairs.push((Automerge::new(), server_doc(b, *id)));
    }
    pairs.push((lead.store.doc(team.uuid()).unwrap().clone(), server_doc(b, team.uuid())));
    let w = b.cli.block_on(kith_catch_up(&mut lead, &http));
    for id in mate_docs.iter().chain(&own) {
        assert!(lead.store.has_doc(*id).unwrap());
    }
    print_bytes_row("week offline (lead: 70 own check-ins; 19 teammates: 70 each)", pairs.len(), &w, baseline(&pairs));

    // (b) A new device pulls a team's history: 10,000 check-ins in 1,000 shift documents
    // (100 workers, 10 shifts each, 10 check-ins per shift), pushed by the workers beforehand.
    let (team, lead_code) = b.team("History");
    let workers = {
        let code = b.invite(team, Role::Member, 100);
        let mut ws = Vec::new();
        b.cli.block_on(async {
            for i in 0..100 {
                ws.push(join_raw(&http, &base_url, &code, format!("history {i}")).await);
            }
        });
        ws
    };
    let url = b.server().url("/v1/sync");
    let mut history = Vec::new();
    b.cli.block_on(async {
        for w in &workers {
            let mut docs = Vec::new();
            for d in 0..10 {
                let s = new_shift(w, T0 + Secs::hours(24 * d));
                let mut doc = Automerge::new().with_actor(w.actor.clone());
                doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
                for k in 0..10 {
                    let c = checkin(w, T0 + Secs::hours(24 * d) + Secs::minutes(30 * k));
                    doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error).unwrap();
                }
                docs.push(DocPush {
                    id: s.id.uuid(),
                    kind: Kind::Shift,
                    have: vec![],
                    changes: doc.get_changes(&[]).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
                    heads: doc.get_heads().iter().map(hb).collect(),
                    vouch: None,
                    save: None,
                });
                history.push(s.id.uuid());
            }
            let req = SyncRequest { protocol: kith_proto::PROTOCOL_VERSION, client_time: 0, cursor: None, docs };
            let resp = post_sync(&http, &url, &w.token, &req).await;
            assert!(resp.docs.iter().all(|d| d.outcome == Outcome::Accepted));
        }
    });
    let mut newcomer = b.cli.block_on(Device::join("New lead device", &base_url, &lead_code));
    let mut pairs: Vec<(Automerge, Automerge)> =
        history.iter().map(|id| (Automerge::new(), server_doc(b, *id))).collect();
    pairs.push((Automerge::new(), server_doc(b, team.uuid())));
    let started = Instant::now();
    let w = b.cli.block_on(kith_catch_up(&mut newcomer, &http));
    let wall = started.elapsed();
    assert_eq!(newcomer.store.list_docs(Some("shift")).unwrap().len(), 1000);
    print_bytes_row("new device (10,000 check-ins in 1,000 shifts)", pairs.len(), &w, baseline(&pairs));
    println!(
        "\nNew device: {} round trip(s), {:.1} bytes per check-in as sent, {} ms wall time (prepare, HTTP, \
         absorb into its store, every round).",
        w.round_trips,
        w.sent as f64 / 10_000.0,
        ms(wall)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let started = Instant::now();
    println!(
        "# Kith sync benchmarks{}\n\nServer: in-process `kith_server::testing::TestServer` ({}, {} instance(s)) on \
         a 2-thread runtime; load generator on a 1-thread runtime in the same process; {} CPU(s) shared by both.",
        if quick() { " (quick mode)" } else { "" },
        match kith_server::testing::Backend::from_env() {
            kith_server::testing::Backend::Postgres { .. } => "PostgreSQL",
            _ => "SQLite, synchronous=FULL",
        },
        instances(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let b = Bench::new();
    let http = http_client();
    let need_pool = wants("throughput") || wants("propagation");
    let pool = if need_pool { join_members(&b, 1000, 20, &http) } else { vec![] };
    if wants("throughput") {
        throughput(&b, &pool, &http);
    }
    if wants("propagation") {
        propagation(&b, &pool, &http);
    }
    if wants("bytes") {
        bytes(&b);
    }
    eprintln!("\n(bench took {:.0}s)", started.elapsed().as_secs_f64());
}
