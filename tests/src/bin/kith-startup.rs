//! Startup at scale: how long a real (release) `kith-server`, restarted on a database of many
//! teams and shifts, takes to serve an authenticated request and for its deadline engine to have
//! re-evaluated every active shift. Not a test: a benchmark whose figures go in
//! docs/benchmarks.md ("Startup at scale"), with the command.
//!
//! Seeding goes through the real write path: `admin create-team`, `/v1/join` for every member
//! (so the roster, devices and invites are what a server stores), and one `/v1/sync` per device
//! pushing its shift documents (real Automerge changes, with their receipts). Some active shifts
//! are overdue when they arrive, so alerts are open and escalating at the restart. The seeded data
//! directory is kept (`--seed-dir`) and copied afresh for every measured start.
//!
//! Each run spawns the server and polls (every 2 ms) `GET /v1/board` with a lead's token until it
//! answers 200 ("serving"), then `/healthz` until its `deadlines` field says `ready` ("re-evaluated").
//! A server without that field loads its engine before it serves: "re-evaluated" is then
//! "serving". Peak RSS is the server's VmHWM once re-evaluated.
//!
//! ```text
//! cargo build --release -p kith-server -p kith-stories
//! target/release/kith-startup --server-bin target/release/kith-server --seed-dir /tmp/kith-startup-seed
//! ```
#![allow(clippy::expect_used, clippy::unwrap_used)]

use kith_stories::loadgen::Dev;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use automerge::{Automerge, ChangeHash};
use futures_util::StreamExt as _;
use kith_domain::doc::shift;
use kith_domain::*;
use kith_proto::{DocPush, Kind, SyncRequest};
use rand::{Rng, SeedableRng};
use serde_bytes::ByteBuf;

struct Args {
    server_bin: String,
    seed_dir: PathBuf,
    teams: usize,
    min_team: usize,
    max_team: usize,
    shifts: usize,
    active: usize,
    runs: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        server_bin: "target/release/kith-server".into(),
        seed_dir: std::env::temp_dir().join("kith-startup-seed"),
        teams: 1000,
        min_team: 10,
        max_team: 100,
        shifts: 100_000,
        active: 10_000,
        runs: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--server-bin" => a.server_bin = v,
            "--seed-dir" => a.seed_dir = v.into(),
            "--teams" => a.teams = v.parse()?,
            "--min-team" => a.min_team = v.parse()?,
            "--max-team" => a.max_team = v.parse()?,
            "--shifts" => a.shifts = v.parse()?,
            "--active" => a.active = v.parse()?,
            "--runs" => a.runs = v.parse()?,
            _ => bail!(
                "usage: kith-startup [--server-bin PATH] [--seed-dir DIR] [--teams N] [--min-team N] \\
                 [--max-team N] [--shifts N] [--active N] [--runs N]"
            ),
        }
    }
    if a.min_team < 2 || a.max_team < a.min_team || a.active > a.shifts {
        bail!("need 2 <= --min-team <= --max-team and --active <= --shifts");
    }
    Ok(a)
}

fn free_addr() -> Result<String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.to_string())
}

fn stop(mut child: Child) {
    // SIGTERM: a clean stop, as an operator's restart would do.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

/// The kinds of shift seeded.
#[derive(Clone, Copy)]
enum Seeded {
    /// Begun now, checked in now: nothing due for 30 minutes.
    Active,
    /// Begun three hours ago, last check-in three hours ago: overdue, escalating.
    Overdue,
    /// Ended days ago.
    Ended { days_ago: i64 },
}

fn shift_push(d: &Dev, now: Timestamp, kind: Seeded) -> DocPush {
    let h = 3_600_000;
    let start = match kind {
        Seeded::Active => now,
        Seeded::Overdue => Timestamp(now.0 - 3 * h),
        Seeded::Ended { days_ago } => Timestamp(now.0 - days_ago * 24 * h),
    };
    let s = Shift::begin(d.team, d.member, "bench", start, Timestamp(start.0 + 8 * h), Secs::minutes(30));
    let mut doc = Automerge::new().with_actor(d.actor.clone());
    doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
    let c = CheckIn {
        mood: Some(Rating::new(4, "mood").unwrap()),
        ..CheckIn::new(CheckInStatus::Ok, start, d.member, d.device)
    };
    doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error).unwrap();
    if let Seeded::Ended { .. } = kind {
        let end = ShiftEnd { at: Timestamp(start.0 + 8 * h), note: None };
        doc.transact(|tx| shift::end(tx, &end)).map_err(|f| f.error).unwrap();
    }
    let changes: Vec<ByteBuf> = doc.get_changes(&[]).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect();
    let heads = doc.get_heads().iter().map(|h: &ChangeHash| ByteBuf::from(h.0.to_vec())).collect();
    DocPush { id: s.id.uuid(), kind: Kind::Shift, have: vec![], changes, heads, vouch: None, save: None }
}

async fn seed(a: &Args) -> Result<()> {
    let data = a.seed_dir.join("data");
    if a.seed_dir.join("leads.json").exists() {
        println!("seeded data in {} (delete it to seed again)", a.seed_dir.display());
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(&a.seed_dir);
    std::fs::create_dir_all(&a.seed_dir)?;
    let listen = free_addr()?;
    let log = a.seed_dir.join("seed.log");
    let server = kith_stories::loadgen::spawn_server("", &a.server_bin, &data, &listen, &log)?;
    let b = format!("http://{listen}");
    let http = kith_stories::http_client().build().unwrap();
    let started = Instant::now();
    while http.get(format!("{b}/healthz")).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the server did not start to seed");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let sizes: Vec<usize> = (0..a.teams).map(|_| rng.random_range(a.min_team..=a.max_team)).collect();
    let members: usize = sizes.iter().sum();
    println!("seeding {} teams of {}-{} ({members} members)...", a.teams, a.min_team, a.max_team);
    let teams: Vec<Vec<Dev>> = futures_util::stream::iter(sizes.iter().enumerate().map(|(t, &n)| {
        let (http, bin, data, b) = (http.clone(), a.server_bin.clone(), data.clone(), b.clone());
        async move { kith_stories::loadgen::team(&http, &bin, &data, &b, t, n, "bench").await }
    }))
    .buffer_unordered(32)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    println!("  joined in {:.1} s", started.elapsed().as_secs_f64());
    let leads: Vec<String> = teams.iter().map(|t| t[0].token.clone()).collect();
    // Workers only (a lead is not on shift); shift s goes to worker s % workers, so the active
    // ones (the first `active`) belong to different workers while there are enough.
    let workers: Vec<&Dev> = teams.iter().flat_map(|t| t.iter().skip(1)).collect();
    let mut plan: Vec<Vec<Seeded>> = (0..workers.len()).map(|_| Vec::new()).collect();
    for s in 0..a.shifts {
        let kind = if s < a.active {
            if s % 10 == 0 { Seeded::Overdue } else { Seeded::Active }
        } else {
            Seeded::Ended { days_ago: 1 + i64::try_from(s / workers.len()).unwrap_or(0) }
        };
        plan[s % workers.len()].push(kind);
    }
    let now = Timestamp(kith_server::now_ms());
    let synced = Instant::now();
    let results = futures_util::stream::iter(workers.iter().zip(plan).map(|(d, kinds)| {
        let http = http.clone();
        let url = format!("{b}/v1/sync");
        let docs = kinds.into_iter().map(|k| shift_push(d, now, k)).collect();
        let req = SyncRequest { protocol: kith_proto::PROTOCOL_VERSION, client_time: now.0, cursor: None, docs };
        async move { kith_stories::loadgen::sync_all_accepted(&http, &url, &d.token, &req).await.map(drop) }
    }))
    .buffer_unordered(32)
    .collect::<Vec<_>>()
    .await;
    results.into_iter().collect::<Result<Vec<_>>>()?;
    println!("  {} shifts synced in {:.1} s", a.shifts, synced.elapsed().as_secs_f64());
    stop(server);
    std::fs::write(a.seed_dir.join("leads.json"), serde_json::to_string(&leads)?)?;
    let size: u64 = std::fs::read_dir(&data)?.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum();
    println!("  seeded in {:.1} s; data {:.0} MiB", started.elapsed().as_secs_f64(), size as f64 / 1048576.0);
    Ok(())
}

struct Run {
    serving: Duration,
    ready: Option<Duration>,
    peak_kib: u64,
}

async fn measure(a: &Args, leads: &[String], i: usize) -> Result<Run> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let st = Command::new("cp").args(["-a"]).arg(a.seed_dir.join("data")).arg(&data).status()?;
    if !st.success() {
        bail!("copying the seeded data failed");
    }
    let listen = free_addr()?;
    let b = format!("http://{listen}");
    let http = kith_stories::http_client().timeout(Duration::from_secs(30)).build()?;
    let token = &leads[i % leads.len()];
    let log = dir.path().join("server.log");
    let t0 = Instant::now();
    let child = kith_stories::loadgen::spawn_server("", &a.server_bin, &data, &listen, &log)?;
    let pid = child.id();
    let serving = loop {
        if let Ok(r) = http.get(format!("{b}/v1/board")).bearer_auth(token).send().await
            && r.status() == 200
        {
            break t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(300) {
            stop(child);
            bail!("not serving after 300 s: {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let ready = loop {
        let h: serde_json::Value = http.get(format!("{b}/healthz")).send().await?.json().await?;
        match h.get("deadlines").and_then(|v| v.as_str()) {
            None => break None,
            Some("ready") => break Some(t0.elapsed()),
            Some(_) => {}
        }
        if t0.elapsed() > Duration::from_secs(300) {
            stop(child);
            bail!("not re-evaluated after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let peak_kib = kith_stories::loadgen::status_kib(pid, "VmHWM:");
    stop(child);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if let Some(l) = text.lines().find(|l| l.contains("re-evaluated")) {
        println!("    {l}");
    }
    Ok(Run { serving, ready, peak_kib })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

async fn run(a: Args) -> Result<()> {
    seed(&a).await?;
    let leads: Vec<String> = serde_json::from_str(&std::fs::read_to_string(a.seed_dir.join("leads.json"))?)?;
    println!(
        "kith-startup: {} teams, {} shifts ({} active), {} runs of {}",
        leads.len(),
        a.shifts,
        a.active,
        a.runs,
        a.server_bin
    );
    let mut runs = Vec::new();
    for i in 0..a.runs {
        let r = measure(&a, &leads, i).await?;
        println!(
            "  run {}: serving {:.2} s, re-evaluated {}, peak RSS {:.0} MiB",
            i + 1,
            r.serving.as_secs_f64(),
            r.ready.map_or("(before serving)".into(), |d| format!("{:.2} s", d.as_secs_f64())),
            r.peak_kib as f64 / 1024.0
        );
        runs.push(r);
    }
    let serving = median(runs.iter().map(|r| r.serving.as_secs_f64()).collect());
    let ready = median(runs.iter().map(|r| r.ready.unwrap_or(r.serving).as_secs_f64()).collect());
    let peak = median(runs.iter().map(|r| r.peak_kib as f64 / 1024.0).collect());
    println!("median: serving {serving:.2} s, re-evaluated {ready:.2} s, peak RSS {peak:.0} MiB");
    Ok(())
}

fn main() -> Result<()> {
    let a = args()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    rt.block_on(run(a))
}
