//! Alert benchmarks (docs/benchmarks.md, "Alerts"), with 10,000 active shifts on the server:
//!
//! 1. latency from a deadline passing to the alert reaching a lead connected to the live channel,
//!    p50/p99, on the system clock with the background ticker, as deployed: 200 deadlines spread
//!    over 20 s, then 200 deadlines at the same instant (a burst);
//! 2. CPU time of the deadline scan: an idle tick (nothing due), and a full re-evaluation of all
//!    10,000 shifts; from them, the CPU time per minute for 10,000 shifts checking in every 30 min;
//! 3. latency from a stored emergency to its alert reaching the lead (docs/alerts.md, "The
//!    guarantee"): through a normal sync (from sending the request), and for a request dropped as
//!    soon as its changes are stored (from that moment): the deadline engine follows the store.
//!
//! Run: `cargo bench -p kith-server --bench alerts` (`KITH_BENCH_SKIP_SCAN=1`, `KITH_BENCH_ONLY=emergency|deadline`)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use kith_domain::doc::{shift, team};
use kith_domain::*;
use kith_proto::{DocPush, JoinRequest, JoinResponse, Kind, SyncRequest, SyncResponse};
use kith_server::testing::TestServer;
use serde_bytes::ByteBuf;

const ACTIVE: usize = 10_000;
const WORKERS: usize = 100;
const MEASURED: usize = 200;

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    team: TeamId,
    member: MemberId,
    device: DeviceId,
    actor: ActorId,
}

async fn join(server: &TestServer, code: &str, name: &str) -> Client {
    let actor = ActorId::random();
    let http = reqwest::Client::builder().pool_idle_timeout(kith_sync::client::SYNC_CONNECTION_IDLE).build().unwrap();
    let j: JoinResponse = http
        .post(server.url("/v1/join"))
        .json(&JoinRequest {
            code: code.into(),
            name: name.into(),
            device_label: name.into(),
            actor: actor.to_hex_string(),
            rejoin: None,
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Client {
        http,
        base: server.base_url.clone(),
        token: j.token,
        team: TeamId(j.team_id),
        member: MemberId(j.member_id),
        device: DeviceId(j.device_id),
        actor,
    }
}

impl Client {
    /// Pushes new shift documents whose first deadline (due + 10 min grace) is at `overdue_at[i]`.
    async fn push_shifts(&self, overdue_at: &[i64], client_time: i64) {
        for chunk in overdue_at.chunks(400) {
            let docs: Vec<DocPush> = chunk
                .iter()
                .map(|&o| {
                    let start = o - (30 + 10) * 60_000;
                    let s = Shift::begin(
                        self.team,
                        self.member,
                        "rounds",
                        Timestamp(start),
                        Timestamp(start) + Secs::hours(8),
                        Secs::minutes(30),
                    );
                    let mut doc = Automerge::new().with_actor(self.actor.clone());
                    doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
                    DocPush {
                        id: s.id.uuid(),
                        kind: Kind::Shift,
                        have: vec![],
                        changes: doc.get_changes(&[]).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
                        heads: doc.get_heads().iter().map(|h| ByteBuf::from(h.0.to_vec())).collect(),
                        vouch: None,
                        save: None,
                    }
                })
                .collect();
            let req = SyncRequest { protocol: kith_proto::PROTOCOL_VERSION, client_time, cursor: None, docs };
            let resp = self
                .http
                .post(format!("{}/v1/sync", self.base))
                .bearer_auth(&self.token)
                .header("content-type", kith_proto::CONTENT_TYPE)
                .body(kith_proto::encode(&req).unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let r: SyncResponse = kith_proto::decode(&resp.bytes().await.unwrap()).unwrap();
            assert!(r.docs.iter().all(|d| d.outcome == kith_proto::Outcome::Accepted));
        }
    }
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// User plus system CPU time of this process so far (from /proc: 10 ms resolution, so the
/// measured work is repeated until it takes seconds).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks * 10.0
}

/// Sets up a team whose policy notifies leads at once, a lead and `WORKERS` workers.
async fn team(server: &TestServer) -> (Client, Vec<Client>) {
    let (team_id, lead_code) = server.create_team("Bench").await;
    let p = Policy { escalation: vec![EscalationStep { after: Secs(0), notify: Notify::Leads }], ..Policy::default() };
    server.app().docs.server_edit(team_id.uuid(), |tx| team::set_policy(tx, &p), server.now()).await.unwrap();
    let lead = join(server, &lead_code, "Lead").await;
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        let code = server.invite(team_id, Role::Member).await;
        workers.push(join(server, &code, &format!("Worker {i}")).await);
    }
    (lead, workers)
}

async fn latency() {
    let server = TestServer::start_with(|c| c.alerts.tick_ms = 1000).await;
    let (lead, workers) = team(&server).await;
    let t = Instant::now();
    let base = kith_server::now_ms() + 60_000;
    // The background: 9,600 shifts due in hours.
    let far = ACTIVE - 2 * MEASURED;
    for (i, w) in workers.iter().enumerate() {
        let mine: Vec<i64> =
            (0..far / WORKERS).map(|k| base + 3_600_000 + ((i * 97 + k) as i64 % 3_600) * 1000).collect();
        w.push_shifts(&mine, kith_server::now_ms()).await;
    }
    // 200 spread over 20 s, and a burst of 200 at one instant, starting once everything is set up.
    let setup_done = kith_server::now_ms();
    let spread_start = setup_done + 15_000;
    let spread: Vec<i64> = (0..MEASURED).map(|k| spread_start + k as i64 * 100).collect();
    let burst_at = spread_start + 25_000;
    let burst: Vec<i64> = vec![burst_at; MEASURED];
    workers[0].push_shifts(&spread, kith_server::now_ms()).await;
    workers[1].push_shifts(&burst, kith_server::now_ms()).await;
    assert!(kith_server::now_ms() < spread_start, "setup was too slow for the schedule");
    let watched = server.app().alerts.watched().await;
    println!("setup: {watched} active shifts watched, in {:.1} s", t.elapsed().as_secs_f64());

    let resp = lead.http.get(format!("{}/v1/live", lead.base)).bearer_auth(&lead.token).send().await.unwrap();
    let mut events = resp.bytes_stream().eventsource();
    let mut spread_lat = Vec::new();
    let mut burst_lat = Vec::new();
    while spread_lat.len() + burst_lat.len() < 2 * MEASURED {
        let ev = match tokio::time::timeout(Duration::from_secs(30), events.next()).await {
            Ok(Some(Ok(ev))) => ev,
            other => {
                println!(
                    "the live stream stopped after {} spread and {} burst alerts: {other:?}",
                    spread_lat.len(),
                    burst_lat.len()
                );
                break;
            }
        };
        if ev.event != "alert" {
            continue;
        }
        let now = kith_server::now_ms();
        let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
        let opened = v["alert"]["opened_at"].as_i64().unwrap();
        // Opened at the deadline corrected by the device's measured offset (a few ms).
        if opened >= burst_at - 2_000 {
            burst_lat.push(now - opened);
        } else {
            spread_lat.push(now - opened);
        }
    }
    let open: serde_json::Value = lead
        .http
        .get(format!("{}/v1/alerts", lead.base))
        .bearer_auth(&lead.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!("alerts stored: {}", open["alerts"].as_array().map_or(0, Vec::len));
    spread_lat.sort_unstable();
    burst_lat.sort_unstable();
    if spread_lat.is_empty() || burst_lat.is_empty() {
        return;
    }
    println!(
        "deadline -> lead, {MEASURED} deadlines spread over 20 s: p50 {} ms, p99 {} ms, max {} ms",
        pct(&spread_lat, 0.5),
        pct(&spread_lat, 0.99),
        spread_lat[spread_lat.len() - 1]
    );
    println!(
        "deadline -> lead, {MEASURED} deadlines at one instant: p50 {} ms, p99 {} ms, max {} ms",
        pct(&burst_lat, 0.5),
        pct(&burst_lat, 0.99),
        burst_lat[burst_lat.len() - 1]
    );
    let _ = lead.device;
}

async fn scan_cost() {
    let server = TestServer::start_manual().await;
    let (_lead, workers) = team(&server).await;
    let now = server.now();
    for (i, w) in workers.iter().enumerate() {
        let mine: Vec<i64> =
            (0..ACTIVE / WORKERS).map(|k| now + 3_600_000 + ((i * 97 + k) as i64 % 3_600) * 1000).collect();
        w.push_shifts(&mine, now).await;
    }
    let app = server.app();
    assert_eq!(app.alerts.watched().await, ACTIVE);

    // An idle tick: nothing due.
    let n = 20_000_000;
    let (c0, t0) = (cpu_ms(), Instant::now());
    for _ in 0..n {
        app.run_due(now).await.unwrap();
    }
    let idle_us = (cpu_ms() - c0) * 1000.0 / f64::from(n);
    println!(
        "idle tick (nothing due, {ACTIVE} shifts watched): {idle_us:.2} µs CPU each ({:.2} µs wall)",
        t0.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );

    // Every shift re-evaluated (as on start), none due.
    let rounds = 10;
    let (c0, t0) = (cpu_ms(), Instant::now());
    for _ in 0..rounds {
        assert_eq!(app.alerts.rescan(now).await.unwrap(), ACTIVE);
    }
    let full_ms = (cpu_ms() - c0) / f64::from(rounds);
    println!(
        "full re-evaluation of {ACTIVE} shifts: {full_ms:.0} ms CPU ({:.0} ms wall)",
        t0.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds)
    );
    let per_shift_ms = full_ms / ACTIVE as f64;
    // Per minute: 60 ticks of the ticker at most, and each shift looked at once per 30-min deadline.
    let per_min = 60.0 * idle_us / 1000.0 + (ACTIVE as f64 / 30.0) * per_shift_ms;
    println!("deadline scan per minute for {ACTIVE} shifts checking in every 30 min: {per_min:.1} ms CPU");
}

impl Client {
    /// A new shift with an emergency check-in in it, as one push: the request and the check-in.
    fn emergency(&self, now: i64) -> (SyncRequest, CheckInId) {
        let mut s = Shift::begin(
            self.team,
            self.member,
            "rounds",
            Timestamp(now),
            Timestamp(now + 3_600_000),
            Secs::minutes(30),
        );
        let c = CheckIn::new(CheckInStatus::Emergency, Timestamp(now), self.member, self.device);
        s.checkins.push(c.clone());
        let mut doc = Automerge::new().with_actor(self.actor.clone());
        doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
        let push = DocPush {
            id: s.id.uuid(),
            kind: Kind::Shift,
            have: vec![],
            changes: doc.get_changes(&[]).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
            heads: doc.get_heads().iter().map(|h| ByteBuf::from(h.0.to_vec())).collect(),
            vouch: None,
            save: None,
        };
        (SyncRequest { protocol: kith_proto::PROTOCOL_VERSION, client_time: now, cursor: None, docs: vec![push] }, c.id)
    }
}

/// Stored emergency → its alert at the lead, with 10,000 active shifts watched: through the HTTP
/// sync (as a device does), and through the sync service alone, the request ending the moment its
/// changes are stored (nothing then tells the engine but the store).
async fn emergency_latency() {
    let server = TestServer::start_with(|c| c.alerts.tick_ms = 1000).await;
    let (lead, workers) = team(&server).await;
    let base = kith_server::now_ms() + 3_600_000;
    for (i, w) in workers.iter().enumerate() {
        let mine: Vec<i64> = (0..ACTIVE / WORKERS).map(|k| base + ((i * 97 + k) as i64 % 3_600) * 1000).collect();
        w.push_shifts(&mine, kith_server::now_ms()).await;
    }
    let resp = lead.http.get(format!("{}/v1/live", lead.base)).bearer_auth(&lead.token).send().await.unwrap();
    let mut events = resp.bytes_stream().eventsource();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    tokio::spawn(async move {
        while let Some(Ok(ev)) = events.next().await {
            if ev.event == "alert" {
                let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
                if v["alert"]["kind"] == "emergency" && v["action"] == "step" {
                    let _ = tx.send((v["alert"]["checkin"].as_str().unwrap_or_default().to_string(), Instant::now()));
                }
            }
        }
    });
    let app = server.app().clone();
    let w = &workers[0];
    let dev = server.storage().device_by_token(kith_server::auth::token_hash(&w.token)).await.unwrap().unwrap();
    for via_http in [true, false] {
        let mut lat = Vec::with_capacity(MEASURED);
        for _ in 0..MEASURED {
            let (req, c) = w.emergency(kith_server::now_ms());
            let started = if via_http {
                let t = Instant::now();
                let resp = w
                    .http
                    .post(format!("{}/v1/sync", w.base))
                    .bearer_auth(&w.token)
                    .header("content-type", kith_proto::CONTENT_TYPE)
                    .body(kith_proto::encode(&req).unwrap())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                t
            } else {
                // The request is dropped the moment its changes are committed: from then on only
                // the store tells the engine.
                let mut committed = server.storage().committed();
                committed.borrow_and_update();
                let (app, dev) = (app.clone(), dev.clone());
                let task = tokio::spawn(async move {
                    let _ = app.sync.sync(&dev, req, kith_server::now_ms()).await;
                });
                committed.changed().await.unwrap();
                let t = Instant::now();
                task.abort();
                t
            };
            let c = c.to_string();
            // The buddies' and the leads' steps: the lead hears the leads' one.
            let at = loop {
                let (id, at) = rx.recv().await.unwrap();
                if id == c {
                    break at;
                }
            };
            lat.push(i64::try_from(at.saturating_duration_since(started).as_micros()).unwrap());
        }
        lat.sort_unstable();
        println!(
            "stored emergency -> lead ({}), {MEASURED} emergencies, 10,000 shifts watched: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            if via_http { "HTTP sync, from sending" } else { "request gone once stored, from the store" },
            pct(&lat, 0.5) as f64 / 1000.0,
            pct(&lat, 0.99) as f64 / 1000.0,
            lat[lat.len() - 1] as f64 / 1000.0
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let only = std::env::var("KITH_BENCH_ONLY").unwrap_or_default();
    rt.block_on(async {
        if std::env::var_os("KITH_BENCH_SKIP_SCAN").is_none() && only.is_empty() {
            scan_cost().await;
        }
        if only.is_empty() || only == "deadline" {
            latency().await;
        }
        if only.is_empty() || only == "emergency" {
            emergency_latency().await;
        }
    });
}
