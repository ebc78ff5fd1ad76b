//! `/healthz` latency while heavy pushes run (docs/benchmarks.md, "Heavy pushes"): 4 devices
//! push a shift of 2,000 changes each at once (the most one request may carry for one document),
//! while a prober asks `/healthz` every 20 ms (each probe on its own, timed from when it was due). Two runs on a fresh server each: the heavy pool off
//! (every exchange on the async workers, as before issue 10 #3) and on (the defaults).
//!
//! The server runs on its own multi-thread runtime with as many workers as cores (as deployed);
//! the clients on another thread and runtime, so a stalled server cannot stall the measurement.
//!
//! Run: `cargo bench -p kith-server --bench heavy_pushes` (`KITH_BENCH_PUSHES=4`, `KITH_BENCH_CHANGES=2000`)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge};
use kith_domain::doc::shift;
use kith_domain::*;
use kith_proto::{DocPush, JoinRequest, JoinResponse, Kind, SyncRequest};
use kith_server::testing::TestServer;
use serde_bytes::ByteBuf;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A device that joined: its token and a shift of `changes` changes, encoded as one sync request.
struct Pusher {
    token: String,
    body: Vec<u8>,
}

async fn join(http: &reqwest::Client, base: &str, code: &str, name: &str, changes: usize) -> Pusher {
    let actor = ActorId::random();
    let j: JoinResponse = http
        .post(format!("{base}/v1/join"))
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
    let (team, member, device) = (TeamId(j.team_id), MemberId(j.member_id), DeviceId(j.device_id));
    let now = kith_server::now_ms();
    let s = Shift::begin(team, member, "rounds", Timestamp(now), Timestamp(now) + Secs::hours(12), Secs::minutes(30));
    let mut doc = Automerge::new().with_actor(actor);
    doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
    for i in 1..changes {
        let c = CheckIn::new(CheckInStatus::Ok, Timestamp(now + i as i64), member, device);
        doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error).unwrap();
    }
    let push = DocPush {
        id: s.id.uuid(),
        kind: Kind::Shift,
        have: vec![],
        changes: doc.get_changes(&[]).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
        heads: doc.get_heads().iter().map(|h| ByteBuf::from(h.0.to_vec())).collect(),
        vouch: None,
        save: None,
    };
    let req = SyncRequest { protocol: kith_proto::PROTOCOL_VERSION, client_time: now, cursor: None, docs: vec![push] };
    Pusher { token: j.token, body: kith_proto::encode(&req).unwrap() }
}

/// One run: the pushes at once, `/healthz` probed every 20 ms until they are all answered.
async fn measure(base: String, pushers: Vec<Pusher>) -> (Vec<f64>, Vec<(u16, f64)>) {
    let http = reqwest::Client::builder().pool_idle_timeout(kith_sync::client::SYNC_CONNECTION_IDLE).build().unwrap();
    let started = Instant::now();
    let pushes: Vec<_> = pushers
        .into_iter()
        .map(|p| {
            let (http, url) = (http.clone(), format!("{base}/v1/sync"));
            tokio::spawn(async move {
                let t = Instant::now();
                let r = http
                    .post(url)
                    .bearer_auth(p.token)
                    .header("content-type", kith_proto::CONTENT_TYPE)
                    .body(p.body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let _ = r.bytes().await;
                (status, t.elapsed().as_secs_f64())
            })
        })
        .collect();
    let done = futures_util::future::join_all(pushes);
    tokio::pin!(done);
    // Each probe on its own task, timed from when it was due: a stalled server shows as many slow
    // probes, not as one (no coordinated omission).
    let mut probes = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let results = loop {
        tokio::select! {
            r = &mut done => break r,
            _ = tick.tick() => {
                let (http, url) = (http.clone(), format!("{base}/healthz"));
                probes.push(tokio::spawn(async move {
                    let t = Instant::now();
                    let r = http.get(url).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    t.elapsed().as_secs_f64() * 1000.0
                }));
            }
        }
    };
    let health = futures_util::future::join_all(probes).await.into_iter().map(|r| r.unwrap()).collect();
    eprintln!("  all pushes answered after {:.1} s", started.elapsed().as_secs_f64());
    (health, results.into_iter().map(|r| r.unwrap()).collect())
}

fn main() {
    let (n, changes) = (env("KITH_BENCH_PUSHES", 4), env("KITH_BENCH_CHANGES", 2000));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!("{n} pushes of {changes} changes at once, server on {cores} async workers");
    for pooled in [false, true] {
        let server_rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let server = server_rt.block_on(TestServer::start_with(|c| {
            if !pooled {
                c.limits.heavy_sync_changes = usize::MAX;
                c.limits.heavy_sync_bytes = usize::MAX;
            }
        }));
        let (team, _) = server_rt.block_on(server.create_team("Bench"));
        let code = server_rt.block_on(server.invite_with(team, Role::Member, Duration::from_secs(3600), n as u32));
        let base = server.base_url.clone();
        let (health, pushes) = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let http = reqwest::Client::builder()
                    .pool_idle_timeout(kith_sync::client::SYNC_CONNECTION_IDLE)
                    .build()
                    .unwrap();
                let mut pushers = Vec::new();
                for i in 0..n {
                    pushers.push(join(&http, &base, &code, &format!("Worker {i}"), changes).await);
                }
                let body = pushers[0].body.len();
                eprintln!("  request body {body} bytes");
                measure(base, pushers).await
            })
        })
        .join()
        .unwrap();
        let mut h = health.clone();
        h.sort_by(f64::total_cmp);
        let mut took: Vec<f64> = pushes.iter().map(|p| p.1).collect();
        took.sort_by(f64::total_cmp);
        let statuses: Vec<u16> = pushes.iter().map(|p| p.0).collect();
        println!(
            "{}: /healthz n={} p50={:.1} ms p99={:.1} ms max={:.1} ms; pushes {:?} answered in {:.1}..{:.1} s",
            if pooled { "heavy pool (default)" } else { "inline (pool off)" },
            h.len(),
            pct(&h, 0.5),
            pct(&h, 0.99),
            h.last().copied().unwrap_or(0.0),
            statuses,
            took[0],
            took[took.len() - 1],
        );
        drop(server);
        server_rt.shutdown_timeout(Duration::from_secs(5));
    }
}
