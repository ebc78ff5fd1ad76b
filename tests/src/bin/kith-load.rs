//! Load: many live connections to a real (release) `kith-server` on this machine, then a thundering
//! herd. Not a test: a benchmark whose figures go in docs/benchmarks.md ("Live connections and a
//! thundering herd"), with the command.
//!
//! It starts the server (its own data directory, 127.0.0.1), joins `--devices` devices, opens
//! `--connections` `/v1/live` streams spread over them and over source addresses 127.0.0.1..=N,
//! and reads the server's memory (VmRSS) before and after. Then it SIGKILLs the server and starts
//! it again on the same port and data directory: every stream reconnects and syncs once, with the
//! engine's own backoff (`kith_sync::runner::backoff`, full jitter) after each failure. It reports
//! the answers (200, 429, 503 with or without Retry-After, refused connections), the peak memory
//! and the time until every stream is back and has synced.
//!
//! With `--mode shifts` it measures memory per connected device instead (docs/benchmarks.md,
//! "Memory per connected device"): every device syncs its shift once, then stays on `/v1/live`;
//! `--server-wrap "heaptrack -o FILE"` runs the server under a heap profiler. `--sync-conn
//! keepalive|close|h2c` gives each device its own HTTP client, as a real device has, and adds a
//! phase: each device syncs once more over it while its stream is open (its periodic sync: the
//! next check-in to the same shift, from the cursor its first sync's answer gave), and the memory
//! is read again (`keepalive`: HTTP/1.1, the sync's connection kept idle beside the stream, as reqwest's
//! pool keeps it for 90 s and devices sync every 60 s; `close`: the same sync, its connection
//! closed after it, so `keepalive` less `close` is what the idle connection holds; `device`:
//! kept for `kith_sync::client::SYNC_CONNECTION_IDLE` as a device's own client keeps it, the
//! memory read again once that has passed; `h2c`: HTTP/2 without TLS, the stream and the sync on
//! one connection).
//!
//! With `--mode write` it measures write → ack (docs/benchmarks.md, section 1): `--clients`
//! closed-loop clients (members in teams of `--team-size`, 20 unless given, and a lead who does not
//! sync), each syncing one new
//! check-in per request as soon as the previous one is answered; per level and run the syncs/s,
//! p50 / p99 / max, and the CPU time per sync of the server (from `/proc/<pid>/stat`: the figure
//! that hardly depends on what else the machine runs) and of this generator. Pin the two apart:
//! `taskset -c 1 kith-load ... --server-wrap "taskset -c 0"`.
//!
//! With `--mode quiet` it measures a device's periodic sync when nothing changed the same way
//! (docs/benchmarks.md, "a quiet sync"): see [`quiet`].
//!
//! ```text
//! ulimit -n 20000   # the client side holds one socket per stream, the server as many
//! cargo build --release -p kith-server -p kith-stories
//! target/release/kith-load --server-bin target/release/kith-server --connections 10000
//! target/release/kith-load --server-bin target/release/kith-server --mode shifts --connections 5000
//! taskset -c 1 target/release/kith-load --server-bin target/release/kith-server --mode write \
//!   --clients 100,500 --server-wrap "taskset -c 0"
//! taskset -c 1 target/release/kith-load --server-bin target/release/kith-server --mode quiet \
//!   --clients 100 --server-wrap "taskset -c 0"     # --behind 50000, --new-connections true
//! ```
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt as _;
use kith_proto::{JoinRequest, JoinResponse, SyncRequest};
use tokio::sync::Mutex;

struct Args {
    server_bin: String,
    connections: usize,
    devices: usize,
    sources: u8,
    /// `herd` (streams, then kill and restart) or `shifts` (memory per connected device).
    mode: String,
    team_size: usize,
    /// A command the server runs under, e.g. `heaptrack -o /tmp/kith` (split on spaces).
    server_wrap: String,
    /// `shifts`: sequential probe syncs timed while every stream is open.
    probes: usize,
    /// `shifts`: stop the server after this phase (`joined`, `synced` or `live`, the default), so
    /// a heap profiler wrapping it writes what that phase holds.
    stop_after: String,
    /// `write`: the levels of concurrent closed-loop clients.
    clients: Vec<usize>,
    /// `write`: syncs per run (each client makes syncs / clients of them, at least 6).
    syncs: usize,
    /// `write`: runs per level.
    runs: usize,
    /// Whether `--team-size` was given (`write` defaults to teams of 20, like the in-process bench).
    team_size_given: bool,
    /// `write`, `quiet`: each sync on a new connection, closed after it.
    new_connections: bool,
    /// `quiet`: changes another team stores before the runs (the quiet devices' cursors behind).
    behind: usize,
    /// `shifts`: `none` (the streams share a few clients), `keepalive`, `close`, `device` or `h2c`
    /// (a client per device).
    sync_conn: String,
}

fn args() -> Result<Args> {
    let mut a = Args {
        server_bin: "target/release/kith-server".into(),
        connections: 10_000,
        devices: 500,
        sources: 4,
        mode: "herd".into(),
        team_size: 100,
        server_wrap: String::new(),
        probes: 200,
        stop_after: "live".into(),
        clients: vec![100, 500],
        syncs: 6000,
        runs: 3,
        team_size_given: false,
        sync_conn: "none".into(),
        new_connections: false,
        behind: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--server-bin" => a.server_bin = v,
            "--connections" => a.connections = v.parse()?,
            "--devices" => a.devices = v.parse()?,
            "--sources" => a.sources = v.parse()?,
            "--mode" if ["herd", "shifts", "write", "quiet"].contains(&v.as_str()) => a.mode = v,
            "--behind" => a.behind = v.parse()?,
            "--team-size" => {
                a.team_size = v.parse()?;
                a.team_size_given = true;
            }
            "--clients" => a.clients = v.split(',').map(|x| x.trim().parse()).collect::<Result<_, _>>()?,
            "--syncs" => a.syncs = v.parse()?,
            "--runs" => a.runs = v.parse()?,
            "--server-wrap" => a.server_wrap = v,
            "--probes" => a.probes = v.parse()?,
            "--stop-after" if v == "joined" || v == "synced" || v == "live" => a.stop_after = v,
            "--new-connections" => a.new_connections = v.parse()?,
            "--sync-conn" if ["none", "keepalive", "close", "device", "h2c"].contains(&v.as_str()) => a.sync_conn = v,
            _ => bail!(
                "usage: kith-load [--server-bin PATH] [--connections N] [--devices N] [--sources N] \\
                 [--mode herd|shifts|write|quiet] [--team-size N] [--server-wrap CMD] [--probes N] \\
                 [--stop-after joined|synced|live] [--clients N,N] [--syncs N] [--runs N] \\
                 [--sync-conn none|keepalive|close|device|h2c] [--new-connections true|false] [--behind N]"
            ),
        }
    }
    Ok(a)
}

/// How many sockets the process holds open (its connections and listeners).
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|l| l.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

/// The median of five readings of the process's VmRSS, a second apart.
async fn rss_median(pid: u32) -> u64 {
    let mut rss = Vec::new();
    for _ in 0..5 {
        rss.push(rss_kib(pid));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    rss.sort_unstable();
    rss[rss.len() / 2]
}

fn rss_kib(pid: u32) -> u64 {
    kith_stories::loadgen::status_kib(pid, "VmRSS:")
}

/// The pid of the `kith-server` process itself: `pid`, or (when it runs under a wrapper such as
/// heaptrack) its descendant of that name.
fn server_pid(pid: u32) -> u32 {
    let comm = |p: u32| std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
    let ppid = |p: u32| -> u32 {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next()?.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    let descends = |mut p: u32| {
        while p > 1 {
            if p == pid {
                return true;
            }
            p = ppid(p);
        }
        false
    };
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(p) = e.file_name().to_string_lossy().parse::<u32>()
            && comm(p).trim() == "kith-server"
            && descends(p)
        {
            return p;
        }
    }
    pid
}

/// The log without its colours.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Starts the server on `listen`; returns it and the address it reports.
fn start_server(bin: &str, data: &std::path::Path, listen: &str) -> Result<(Child, String)> {
    start_server_wrapped("", bin, data, listen)
}

fn start_server_wrapped(wrap: &str, bin: &str, data: &std::path::Path, listen: &str) -> Result<(Child, String)> {
    let log = data.with_extension("log");
    let mut child = kith_stories::loadgen::spawn_server(wrap, bin, data, listen, &log)?;
    let started = Instant::now();
    loop {
        let text = strip_ansi(&std::fs::read_to_string(&log).unwrap_or_default());
        let addr =
            text.lines().rev().find(|l| l.contains("kith-server listening")).and_then(|l| l.split("addr=").nth(1)).map(
                |r| r.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':')).next().unwrap_or("").to_string(),
            );
        // The newest "listening" line, once the process has written one since it started.
        if let Some(a) = addr.filter(|a| !a.is_empty())
            && text.matches("kith-server listening").count() > usize::from(listen != "127.0.0.1:0")
        {
            return Ok((child, a));
        }
        if let Some(st) = child.try_wait()? {
            bail!("kith-server exited ({st}): {text}");
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("kith-server did not start within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Default)]
struct Tally {
    answers: Mutex<BTreeMap<String, usize>>,
}

impl Tally {
    async fn add(&self, k: impl Into<String>) {
        *self.answers.lock().await.entry(k.into()).or_default() += 1;
    }
}

/// One live stream: connects (with backoff after failures), reads until the connection drops,
/// then (once `herd` is set) reconnects and syncs once.
#[allow(clippy::too_many_arguments)]
async fn stream(
    http: reqwest::Client,
    base: Arc<std::sync::RwLock<String>>,
    token: String,
    connected: Arc<AtomicUsize>,
    synced: Arc<AtomicUsize>,
    tally: Arc<Tally>,
    herd: Arc<std::sync::atomic::AtomicBool>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut attempt = 0u32;
    let mut need_sync = false;
    while !stop.load(Ordering::Relaxed) {
        let url = format!("{}/v1/live", base.read().unwrap());
        let resp = http.get(url).bearer_auth(&token).send().await;
        let resp = match resp {
            Ok(r) if r.status() == 200 => r,
            Ok(r) => {
                let ra = if r.headers().contains_key("retry-after") { " with Retry-After" } else { "" };
                tally.add(format!("live {}{ra}", r.status().as_u16())).await;
                attempt += 1;
                tokio::time::sleep(kith_sync::runner::backoff(
                    attempt,
                    Duration::from_millis(200),
                    Duration::from_secs(10),
                ))
                .await;
                continue;
            }
            Err(_) => {
                if herd.load(Ordering::Relaxed) {
                    tally.add("live: connection failed").await;
                }
                attempt += 1;
                tokio::time::sleep(kith_sync::runner::backoff(
                    attempt,
                    Duration::from_millis(200),
                    Duration::from_secs(10),
                ))
                .await;
                continue;
            }
        };
        attempt = 0;
        connected.fetch_add(1, Ordering::Relaxed);
        if need_sync {
            // After reconnecting, sync: the herd.
            loop {
                let req = SyncRequest { protocol: 2, client_time: kith_server::now_ms(), cursor: None, docs: vec![] };
                let url = format!("{}/v1/sync", base.read().unwrap());
                let r = http
                    .post(url)
                    .bearer_auth(&token)
                    .header("content-type", kith_proto::CONTENT_TYPE)
                    .body(kith_proto::encode(&req).unwrap())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        let _ = r.bytes().await;
                        tally.add("sync 200").await;
                        synced.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(r) => {
                        let ra = if r.headers().contains_key("retry-after") { " with Retry-After" } else { "" };
                        tally.add(format!("sync {}{ra}", r.status().as_u16())).await;
                    }
                    Err(_) => tally.add("sync: connection failed").await,
                }
                attempt += 1;
                tokio::time::sleep(kith_sync::runner::backoff(
                    attempt,
                    Duration::from_millis(200),
                    Duration::from_secs(10),
                ))
                .await;
            }
            attempt = 0;
        }
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            if chunk.is_err() || stop.load(Ordering::Relaxed) {
                break;
            }
        }
        connected.fetch_sub(1, Ordering::Relaxed);
        need_sync = herd.load(Ordering::Relaxed);
    }
}

fn main() -> Result<()> {
    let a = args()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    rt.block_on(run(a))
}

async fn run(a: Args) -> Result<()> {
    if a.mode == "shifts" {
        return shifts::run(a).await;
    }
    if a.mode == "write" {
        return write::run(a).await;
    }
    if a.mode == "quiet" {
        return quiet::run(a).await;
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let (mut server, addr) = start_server(&a.server_bin, &data, "127.0.0.1:0")?;
    let base = Arc::new(std::sync::RwLock::new(format!("http://{addr}")));
    let b = base.read().unwrap().clone();
    println!("kith-load: {} live connections over {} devices against {b} ({})", a.connections, a.devices, a.server_bin);
    let out = Command::new(&a.server_bin)
        .args(["--data-dir", data.to_str().unwrap(), "admin", "create-team", "--name", "Load"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let code = text
        .lines()
        .find_map(|l| l.strip_prefix("lead invite "))
        .and_then(|r| r.split_whitespace().next())
        .context("a lead invite")?
        .to_string();
    let http = kith_stories::http_client().build().unwrap();
    let join = |code: String, name: String| {
        let http = http.clone();
        let b = b.clone();
        async move {
            let req = JoinRequest {
                code,
                name,
                device_label: "load".into(),
                actor: automerge::ActorId::random().to_hex_string(),
                rejoin: None,
            };
            let r = http.post(format!("{b}/v1/join")).json(&req).send().await?;
            if !r.status().is_success() {
                bail!("join: {} {}", r.status(), r.text().await?);
            }
            Ok::<JoinResponse, anyhow::Error>(r.json().await?)
        }
    };
    let lead = join(code, "Lead".into()).await?;
    let mut tokens = vec![lead.token.clone()];
    while tokens.len() < a.devices {
        let n = (a.devices - tokens.len()).min(1000);
        let inv: serde_json::Value = http
            .post(format!("{b}/v1/invites"))
            .bearer_auth(&lead.token)
            .json(&serde_json::json!({"role": "member", "expires_in_s": 3600, "uses": n}))
            .send()
            .await?
            .json()
            .await?;
        let code = inv["code"].as_str().context("an invite")?.to_string();
        for i in 0..n {
            tokens.push(join(code.clone(), format!("Worker {}", tokens.len() + i)).await?.token);
        }
    }
    let pid = server.id();
    let idle = rss_kib(pid);

    // One client per source address; connections are spread over them.
    let clients: Vec<reqwest::Client> = (1..=a.sources.max(1))
        .map(|i| {
            kith_stories::http_client()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
                .pool_max_idle_per_host(0)
                .build()
                .unwrap()
        })
        .collect();
    let connected = Arc::new(AtomicUsize::new(0));
    let synced = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Tally::default());
    let herd = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let opening = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..a.connections {
        tasks.push(tokio::spawn(stream(
            clients[i % clients.len()].clone(),
            base.clone(),
            tokens[i % tokens.len()].clone(),
            connected.clone(),
            synced.clone(),
            tally.clone(),
            herd.clone(),
            stop.clone(),
        )));
    }
    let mut last = 0;
    while connected.load(Ordering::Relaxed) < a.connections {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let c = connected.load(Ordering::Relaxed);
        if opening.elapsed() > Duration::from_secs(600) {
            bail!("only {c} of {} streams connected after 600 s", a.connections);
        }
        if c / 1000 != last / 1000 {
            println!("  {c} streams open ({:.1} s)", opening.elapsed().as_secs_f64());
        }
        last = c;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open_rss = rss_kib(pid);
    println!(
        "open: {} streams in {:.1} s; server RSS {} KiB idle, {} KiB with them: {:.1} KiB a connection",
        a.connections,
        opening.elapsed().as_secs_f64(),
        idle,
        open_rss,
        (open_rss.saturating_sub(idle)) as f64 / a.connections as f64
    );

    // The thundering herd: SIGKILL, start again on the same port and data directory.
    herd.store(true, Ordering::Relaxed);
    server.kill()?;
    server.wait()?;
    let killed = Instant::now();
    let (server2, _) = start_server(&a.server_bin, &data, &addr)?;
    let restarted = killed.elapsed();
    let pid = server2.id();
    let mut server = server2;
    let mut peak = 0;
    while synced.load(Ordering::Relaxed) < a.connections || connected.load(Ordering::Relaxed) < a.connections {
        peak = peak.max(rss_kib(pid));
        if let Some(st) = server.try_wait()? {
            bail!("the server died during the herd: {st}");
        }
        if killed.elapsed() > Duration::from_secs(900) {
            bail!(
                "not settled after 900 s: {} streams back, {} synced",
                connected.load(Ordering::Relaxed),
                synced.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled = killed.elapsed();
    peak = peak.max(rss_kib(pid));
    let healthy = http.get(format!("{}/healthz", base.read().unwrap())).send().await.map(|r| r.status().as_u16());
    println!(
        "herd: restarted in {:.2} s; all {} streams back and synced {:.1} s after the kill; peak server RSS {} KiB; \
         /healthz after: {:?}",
        restarted.as_secs_f64(),
        a.connections,
        settled.as_secs_f64(),
        peak,
        healthy
    );
    println!("answers during the herd: {:?}", tally.answers.lock().await);
    stop.store(true, Ordering::Relaxed);
    server.kill()?;
    server.wait()?;
    for t in tasks {
        t.abort();
    }
    Ok(())
}

/// `--mode shifts`: memory per connected device. `--connections` devices in teams of
/// `--team-size`; each syncs its shift once (a pull from scratch pushing the shift and one
/// check-in), then every device opens its `/v1/live` stream and stays connected. The server's
/// VmRSS is read after the joins, after the syncs and with every stream open; then the server is
/// stopped with SIGTERM (so a heap profiler wrapping it writes its profile).
/// SIGTERM: the server (or its wrapper's child) shuts down and a profiler writes its file; killed
/// if it is still there after 300 s.
async fn terminate(server: &mut Child, pid: u32) -> Result<()> {
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let waited = Instant::now();
    while server.try_wait()?.is_none() {
        if waited.elapsed() > Duration::from_secs(300) {
            server.kill()?;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

mod shifts {
    use super::*;
    use automerge::{Automerge, ChangeHash};
    use kith_domain::doc::shift;
    use kith_domain::*;
    use kith_proto::{Cursor, DocPush, Kind};
    use kith_stories::loadgen::Dev;
    use serde_bytes::ByteBuf;

    /// A device's shift, begun now (so nothing falls due during the run) with one check-in, and
    /// the device's next check-in to it, made ahead so the generator only does HTTP.
    struct DeviceShift {
        id: uuid::Uuid,
        /// The shift's first push: its creation and first check-in.
        first: Vec<ByteBuf>,
        first_heads: Vec<ByteBuf>,
        /// The next check-in (bytes, hash), pushed on top of `first_heads` by the periodic sync.
        next: (ByteBuf, ByteBuf),
    }

    fn device_shift(d: &Dev, now: Timestamp) -> DeviceShift {
        let s = Shift::begin(d.team, d.member, "load", now, now + Secs::hours(8), Secs::minutes(30));
        let mut doc = Automerge::new().with_actor(d.actor.clone());
        doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
        let checkin = |doc: &mut Automerge| {
            let c = CheckIn {
                mood: Some(Rating::new(4, "mood").unwrap()),
                ..CheckIn::new(CheckInStatus::Ok, now, d.member, d.device)
            };
            doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error).unwrap();
        };
        checkin(&mut doc);
        let heads =
            |doc: &Automerge| doc.get_heads().iter().map(|h: &ChangeHash| ByteBuf::from(h.0.to_vec())).collect();
        let first = doc.get_changes(&[]).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect();
        let first_heads = heads(&doc);
        checkin(&mut doc);
        let c = doc.get_last_local_change().expect("the check-in just made");
        let next = (ByteBuf::from(c.raw_bytes().to_vec()), ByteBuf::from(c.hash().0.to_vec()));
        DeviceShift { id: s.id.uuid(), first, first_heads, next }
    }

    impl DeviceShift {
        /// The shift's first push: created and checked in to, pushed whole.
        fn first_push(&self) -> DocPush {
            DocPush {
                id: self.id,
                kind: Kind::Shift,
                have: vec![],
                changes: self.first.clone(),
                heads: self.first_heads.clone(),
                vouch: None,
                save: None,
            }
        }
    }

    /// A new shift of the device, pushed whole (the probe's sync).
    fn shift_push(d: &Dev, now: Timestamp) -> DocPush {
        device_shift(d, now).first_push()
    }

    /// A probe's sync: a new shift pushed whole ([`shift_push`]), with no cursor.
    fn shift_sync(d: &Dev, now: Timestamp) -> SyncRequest {
        SyncRequest {
            protocol: kith_proto::PROTOCOL_VERSION,
            client_time: now.0,
            cursor: None,
            docs: vec![shift_push(d, now)],
        }
    }

    /// The first sync of every device ([`sync_devices`]): its shift pushed whole, with no cursor.
    fn first_sync(s: &DeviceShift) -> SyncRequest {
        SyncRequest {
            protocol: kith_proto::PROTOCOL_VERSION,
            client_time: kith_server::now_ms(),
            cursor: None,
            docs: vec![s.first_push()],
        }
    }

    /// A device's periodic sync after its first: its next check-in to the same shift, on top of
    /// the heads and from the cursor the first sync's answer gave, as a device sends it.
    fn next_sync(s: &DeviceShift, cursor: &Cursor) -> SyncRequest {
        SyncRequest {
            protocol: kith_proto::PROTOCOL_VERSION,
            client_time: kith_server::now_ms(),
            cursor: Some(cursor.clone()),
            docs: vec![DocPush {
                id: s.id,
                kind: Kind::Shift,
                have: s.first_heads.clone(),
                changes: vec![s.next.0.clone()],
                heads: vec![s.next.1.clone()],
                vouch: None,
                save: None,
            }],
        }
    }

    /// Every device sends the sync `req(i)` over `client(i)`, 32 at once; the answers' cursors,
    /// by device.
    async fn sync_devices(
        n: usize,
        tokens: impl Fn(usize) -> String,
        b: &str,
        req: impl Fn(usize) -> SyncRequest,
        client: impl Fn(usize) -> reqwest::Client,
    ) -> Result<Vec<Cursor>> {
        let url = format!("{b}/v1/sync");
        let results =
            futures_util::stream::iter(
                (0..n).map(|i| {
                    let (http, url, req, token) = (client(i), url.clone(), req(i), tokens(i));
                    async move {
                        kith_stories::loadgen::sync_all_accepted(&http, &url, &token, &req).await.map(|r| r.cursor)
                    }
                }),
            )
            .buffered(32)
            .collect::<Vec<_>>()
            .await;
        results.into_iter().collect()
    }

    fn mib(k: u64) -> f64 {
        k as f64 / 1024.0
    }

    pub async fn run(a: Args) -> Result<()> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let (mut server, addr) = start_server_wrapped(&a.server_wrap, &a.server_bin, &data, "127.0.0.1:0")?;
        let pid = server_pid(server.id());
        let b = format!("http://{addr}");
        let n = a.connections;
        println!(
            "kith-load shifts: {n} devices in teams of {}, each syncs its shift then stays live ({b}, pid {pid})",
            a.team_size
        );
        let http = kith_stories::http_client().build().unwrap();
        let start_rss = rss_kib(pid);
        let teams = n.div_ceil(a.team_size);
        let started = Instant::now();
        let devs: Vec<Dev> = futures_util::stream::iter((0..teams).map(|t| {
            let k = a.team_size.min(n - t * a.team_size);
            let (http, bin, data, b) = (http.clone(), a.server_bin.clone(), data.clone(), b.clone());
            async move { kith_stories::loadgen::team(&http, &bin, &data, &b, t, k, "load").await }
        }))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let joined_rss = rss_kib(pid);
        println!(
            "  {} devices joined in {:.1} s; RSS {start_rss} KiB at start, {joined_rss} KiB",
            devs.len(),
            started.elapsed().as_secs_f64()
        );
        if a.stop_after == "joined" {
            return terminate(&mut server, pid).await;
        }

        // Each device syncs its shift once: a pull from scratch that pushes it.
        let synced = Instant::now();
        let now = Timestamp(kith_server::now_ms());
        let shifts: Vec<DeviceShift> = devs.iter().map(|d| device_shift(d, now)).collect();
        let token = |i: usize| devs[i].token.clone();
        let cursors = sync_devices(n, token, &b, |i| first_sync(&shifts[i]), |_| http.clone()).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let synced_rss = rss_kib(pid);
        println!("  {n} shifts synced in {:.1} s; RSS {synced_rss} KiB", synced.elapsed().as_secs_f64());
        if a.stop_after == "synced" {
            return terminate(&mut server, pid).await;
        }

        // Every device opens its live stream and stays connected: over a few shared clients, or
        // (`--sync-conn`) each over its own, which its sync uses too.
        let source = |i: usize| IpAddr::V4(Ipv4Addr::new(127, 0, 0, (i % usize::from(a.sources.max(1))) as u8 + 1));
        let clients: Vec<reqwest::Client> = match a.sync_conn.as_str() {
            "none" => (0..usize::from(a.sources.max(1)))
                .map(|i| {
                    kith_stories::http_client().local_address(source(i)).pool_max_idle_per_host(0).build().unwrap()
                })
                .collect(),
            conn => (0..n)
                .map(|i| {
                    let c = kith_stories::http_client().local_address(source(i));
                    match conn {
                        "h2c" => c.pool_max_idle_per_host(1).http2_prior_knowledge(),
                        "close" => c.pool_max_idle_per_host(0).http1_only(),
                        "device" => c.pool_idle_timeout(kith_sync::client::SYNC_CONNECTION_IDLE).http1_only(),
                        _ => c.pool_max_idle_per_host(1).http1_only(),
                    }
                    .build()
                    .unwrap()
                })
                .collect(),
        };
        let connected = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let base = Arc::new(std::sync::RwLock::new(b.clone()));
        let opening = Instant::now();
        let mut tasks = Vec::new();
        for (i, d) in devs.iter().enumerate() {
            tasks.push(tokio::spawn(stream(
                clients[i % clients.len()].clone(),
                base.clone(),
                d.token.clone(),
                connected.clone(),
                Arc::new(AtomicUsize::new(0)),
                Arc::new(Tally::default()),
                Arc::new(std::sync::atomic::AtomicBool::new(false)),
                stop.clone(),
            )));
        }
        while connected.load(Ordering::Relaxed) < n {
            if opening.elapsed() > Duration::from_secs(600) {
                bail!("only {} of {n} streams connected after 600 s", connected.load(Ordering::Relaxed));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Let the first events (presence of teammates) drain, then read a few times.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let live_rss = rss_median(pid).await;
        let hwm = kith_stories::loadgen::status_kib(pid, "VmHWM:");
        println!(
            "  RssAnon {} KiB, RssFile {} KiB, threads {}",
            kith_stories::loadgen::status_kib(pid, "RssAnon:"),
            kith_stories::loadgen::status_kib(pid, "RssFile:"),
            kith_stories::loadgen::status_kib(pid, "Threads:")
        );
        println!(
            "  {n} streams open in {:.1} s; RSS median of 5 {live_rss} KiB, VmHWM {hwm} KiB",
            opening.elapsed().as_secs_f64()
        );
        let per = |from: u64, to: u64| (to.saturating_sub(from)) as f64 / n as f64;
        println!(
            "| {n} | {:.1} | {:.1} | {:.1} | {:.1} MiB | {:.1} KiB | {:.1} KiB | {:.1} KiB | {:.1} KiB |",
            mib(start_rss),
            mib(joined_rss),
            mib(synced_rss),
            mib(live_rss),
            per(start_rss, joined_rss),
            per(joined_rss, synced_rss),
            per(synced_rss, live_rss),
            per(start_rss, live_rss)
        );
        if a.sync_conn != "none" {
            // Each device syncs once more over its own client while its stream is open: its next
            // check-in to its shift, from the cursor its first sync's answer gave.
            let before = sockets(pid);
            sync_devices(n, token, &b, |i| next_sync(&shifts[i], &cursors[i]), |i| clients[i].clone()).await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            let after_rss = rss_median(pid).await;
            println!(
                "  after one more sync each over its own client ({}): server sockets {before} -> {}; RSS median of 5 \
                 {after_rss} KiB: {:.1} KiB a device more, {:.1} KiB a device from the start",
                a.sync_conn,
                sockets(pid),
                per(live_rss, after_rss),
                per(start_rss, after_rss)
            );
            if a.sync_conn == "device" {
                tokio::time::sleep(kith_sync::client::SYNC_CONNECTION_IDLE + Duration::from_secs(3)).await;
                let rss = rss_median(pid).await;
                println!(
                    "  once the devices let their sync connections go: server sockets {}; RSS median of 5 {rss} KiB: \
                     {:.1} KiB a device more than with the streams alone, {:.1} KiB a device from the start",
                    sockets(pid),
                    per(live_rss, rss),
                    per(start_rss, rss)
                );
            }
        }
        // A probe: sequential syncs (each a new shift pushed, as above) while every stream is open.
        let mut probes = Vec::new();
        for i in 0..a.probes {
            let d = &devs[i % devs.len()];
            let req = shift_sync(d, now);
            let body = kith_proto::encode(&req)?;
            let t = Instant::now();
            let r = http
                .post(format!("{b}/v1/sync"))
                .bearer_auth(&d.token)
                .header("content-type", kith_proto::CONTENT_TYPE)
                .body(body)
                .send()
                .await?;
            let ok = r.status() == 200;
            r.bytes().await?;
            if !ok {
                bail!("probe sync failed");
            }
            probes.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        if !probes.is_empty() {
            probes.sort_by(f64::total_cmp);
            let p = |q: f64| probes[((probes.len() - 1) as f64 * q).round() as usize];
            println!(
                "  probe sync with {n} streams open ({} probes): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                probes.len(),
                p(0.5),
                p(0.99),
                p(1.0)
            );
        }
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.abort();
        }
        terminate(&mut server, pid).await
    }
}

/// `--mode write`: write → ack. `--clients` levels of closed-loop clients, each syncing one new
/// check-in per request (the previous answer's heads as `have`, its cursor as the next cursor),
/// as the in-process bench does (`cargo bench -p kith-stories --bench sync`, throughput), but
/// against a release server in its own process. Per run: syncs/s, p50 / p99 / max as the client
/// sees them, and the CPU time per sync of the server and of this generator.
mod write {
    use super::*;
    use automerge::ChangeHash;
    use kith_domain::Timestamp;
    use kith_proto::Cursor;
    use kith_stories::loadgen::{CheckinScript, Dev, cpu_ms, sync_all_accepted as sync};

    /// A closed-loop bench's server (`--mode write` and `quiet`): its own data directory, a
    /// loopback port, teams of 20 unless `--team-size` was given.
    pub(super) struct Bench {
        pub(super) _dir: tempfile::TempDir,
        pub(super) data: std::path::PathBuf,
        pub(super) server: Child,
        pub(super) pid: u32,
        /// Its base URL.
        pub(super) b: String,
    }

    impl Bench {
        pub(super) fn start(a: &mut Args) -> Result<Bench> {
            if !a.team_size_given {
                a.team_size = 20;
            }
            let dir = tempfile::tempdir()?;
            let data = dir.path().join("data");
            let (server, addr) = start_server_wrapped(&a.server_wrap, &a.server_bin, &data, "127.0.0.1:0")?;
            let pid = server_pid(server.id());
            Ok(Bench { _dir: dir, data, server, pid, b: format!("http://{addr}") })
        }
    }

    /// The clock and the CPU counters of a run, from its start (`--mode write` and `quiet`).
    pub(super) struct Meter {
        server: String,
        start: Instant,
        server_cpu: Option<f64>,
        load_cpu: Option<f64>,
    }

    impl Meter {
        pub(super) fn start(pid: u32) -> Meter {
            let server = pid.to_string();
            let (server_cpu, load_cpu) = (cpu_ms(&server), cpu_ms("self"));
            Meter { server, start: Instant::now(), server_cpu, load_cpu }
        }

        /// The run once its clients are done, each with its syncs' latencies (ms).
        pub(super) fn finish(self, lats: Vec<Result<Vec<f64>>>) -> Result<Run> {
            let wall = self.start.elapsed().as_secs_f64();
            let (s1, l1) = (cpu_ms(&self.server), cpu_ms("self"));
            let mut lat: Vec<f64> = lats.into_iter().collect::<Result<Vec<_>>>()?.into_iter().flatten().collect();
            lat.sort_by(f64::total_cmp);
            let used = |a: Option<f64>, b: Option<f64>| a.zip(b).map_or(f64::NAN, |(a, b)| b - a);
            Ok(Run { wall, server_cpu: used(self.server_cpu, s1), load_cpu: used(self.load_cpu, l1), lat })
        }
    }

    /// One closed-loop run: each sync's latency (ms, sorted), the wall time and the CPU (ms) of
    /// the server and of this generator.
    pub(super) struct Run {
        pub(super) lat: Vec<f64>,
        pub(super) wall: f64,
        pub(super) server_cpu: f64,
        pub(super) load_cpu: f64,
    }

    /// One run: every client creates a new shift (not timed), then checks in `rounds` times.
    async fn run_once(http: &reqwest::Client, url: &str, pid: u32, devs: &[Dev], rounds: usize) -> Result<Run> {
        let now = Timestamp(kith_server::now_ms());
        let scripts = devs.iter().map(|d| CheckinScript::new(d, now, rounds)).collect::<Result<Vec<_>>>()?;
        let create = scripts.iter().zip(devs).map(|(s, d)| async move {
            let req = SyncRequest {
                protocol: kith_proto::PROTOCOL_VERSION,
                client_time: now.0,
                cursor: None,
                docs: vec![s.push(&[], &s.init)],
            };
            sync(http, url, &d.token, &req).await.map(|r| r.cursor)
        });
        let cursors: Vec<Cursor> =
            futures_util::future::join_all(create).await.into_iter().collect::<Result<Vec<_>>>()?;
        let meter = Meter::start(pid);
        let clients = scripts.iter().zip(devs).zip(cursors).map(|((s, d), cursor)| async move {
            let mut cursor = Some(cursor);
            let mut have: Vec<ChangeHash> = vec![s.init.1];
            let mut lat = Vec::with_capacity(s.checkins.len());
            for c in &s.checkins {
                let req = SyncRequest {
                    protocol: kith_proto::PROTOCOL_VERSION,
                    client_time: kith_server::now_ms(),
                    cursor: cursor.take(),
                    docs: vec![s.push(&have, c)],
                };
                let t = Instant::now();
                let resp = sync(http, url, &d.token, &req).await?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                cursor = Some(resp.cursor);
                have = vec![c.1];
            }
            Ok::<_, anyhow::Error>(lat)
        });
        meter.finish(futures_util::future::join_all(clients).await)
    }

    fn pct(sorted: &[f64], q: f64) -> f64 {
        sorted.get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1))).copied().unwrap_or(0.0)
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }

    pub async fn run(mut a: Args) -> Result<()> {
        let Bench { _dir, data, mut server, pid, b } = Bench::start(&mut a)?;
        let url = format!("{b}/v1/sync");
        let n = a.clients.iter().copied().max().unwrap_or(1);
        // Bodies as they are: the generator spends its core on HTTP, not on decompressing. With
        // `--new-connections`, each sync on a connection of its own (a quiet device's, once a
        // minute: it lets its idle connection go after `SYNC_CONNECTION_IDLE`).
        let idle = if a.new_connections { 0 } else { usize::MAX };
        let http = kith_stories::http_client().pool_max_idle_per_host(idle).no_gzip().no_zstd().build()?;
        let devs = members(&a, &http, &data, &b, n).await?;
        println!(
            "kith-load write: {} devices in teams of {} against {b} (pid {pid}, {}); {} run(s) per level\n",
            devs.len(),
            a.team_size,
            a.server_bin,
            a.runs
        );
        super::write::print_table_head();
        for &clients in &a.clients {
            let rounds = (a.syncs / clients).max(6);
            let mut runs = Vec::new();
            for _ in 0..a.runs {
                runs.push(run_once(&http, &url, pid, &devs[..clients], rounds).await?);
            }
            super::write::print_level(clients, rounds, &runs);
        }
        println!("\n(p50 / p99 / max: the median over the runs of each run's figure)");
        terminate(&mut server, pid).await
    }

    /// `n` members in teams of `--team-size`, joined through the real `/v1/join`. Members only,
    /// like the in-process bench: each team's lead (its first device) is not a client (a lead's
    /// feed brings every shift of the team, a heavier sync).
    pub(super) async fn members(
        a: &Args,
        http: &reqwest::Client,
        data: &std::path::Path,
        b: &str,
        n: usize,
    ) -> Result<Vec<Dev>> {
        let teams = n.div_ceil(a.team_size);
        Ok(futures_util::stream::iter((0..teams).map(|t| {
            let k = a.team_size.min(n - t * a.team_size);
            let (http, bin, data, b) = (http.clone(), a.server_bin.clone(), data.to_path_buf(), b.to_string());
            async move {
                kith_stories::loadgen::team(&http, &bin, &data, &b, t, k + 1, "load")
                    .await
                    .map(|devs| devs.into_iter().skip(1))
            }
        }))
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect())
    }

    /// The head of the table `print_level` prints a row of (`--mode write` and `quiet`).
    pub(super) fn print_table_head() {
        println!(
            "| clients | syncs per run | syncs/s (median; runs) | p50 ms | p99 ms | max ms | server CPU µs per sync (median; runs) | generator CPU µs per sync |"
        );
        println!("|---:|---:|---|---:|---:|---:|---|---:|");
    }

    /// One level's row: `clients` closed-loop clients, `rounds` syncs each, per run.
    pub(super) fn print_level(clients: usize, rounds: usize, runs: &[Run]) {
        let syncs = (clients * rounds) as f64;
        let rates: Vec<f64> = runs.iter().map(|r| syncs / r.wall).collect();
        let cpus: Vec<f64> = runs.iter().map(|r| r.server_cpu * 1000.0 / syncs).collect();
        let loads: Vec<f64> = runs.iter().map(|r| r.load_cpu * 1000.0 / syncs).collect();
        let list = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ");
        println!(
            "| {clients} | {} | {:.0} ({}) | {:.2} | {:.2} | {:.2} | {:.0} ({}) | {:.0} |",
            clients * rounds,
            median(rates.clone()),
            list(&rates),
            median(runs.iter().map(|r| pct(&r.lat, 0.5)).collect()),
            median(runs.iter().map(|r| pct(&r.lat, 0.99)).collect()),
            median(runs.iter().map(|r| pct(&r.lat, 1.0)).collect()),
            median(cpus.clone()),
            list(&cpus),
            median(loads),
        );
    }
}

/// `--mode quiet`: the periodic sync of a device that has nothing new (docs/benchmarks.md, "A quiet
/// sync"). Each of `--clients` members has an open shift with one check-in, synced, and its cursor
/// from the answer; then each syncs `--syncs / --clients` times in a closed loop, as its runner's
/// periodic sync would with nothing pending: the request `kith_core::sync::prepare` builds then
/// (no documents, the cursor the last answer gave, the device's clock), sent by the device's own
/// HTTP client (`kith_sync::client::ServerClient::sync`: its headers, its encoding, a pooled
/// connection; `--new-connections true`: its connection let go once idle, so a new one for every
/// sync, as a device's sync every minute finds its connection let go after `SYNC_CONNECTION_IDLE`).
/// `--behind N`: before the runs, a device of another team stores N check-ins, so every quiet
/// device's cursor is N changes behind the newest (as on a busy server, where a quiet member's
/// cursor stays at its own last change while the other teams write). Reported as `--mode write`.
mod quiet {
    use super::*;
    use kith_domain::Timestamp;
    use kith_proto::{Cursor, DocPush, Kind};
    use kith_stories::loadgen::{CheckinScript, Dev, sync_all_accepted as sync};
    use kith_sync::client::ServerClient;
    use serde_bytes::ByteBuf;

    use super::write::{Bench, Meter, Run};

    /// The device's own client, as its runner holds it.
    fn device_client(b: &str, d: &Dev) -> Result<ServerClient> {
        Ok(ServerClient::new(b, Some(d.token.clone()))?)
    }

    /// The request a device's periodic sync sends when nothing is pending: what
    /// `kith_core::sync::prepare` builds from a store with no pending changes.
    fn quiet_request(cursor: &Cursor) -> SyncRequest {
        SyncRequest {
            protocol: kith_proto::PROTOCOL_VERSION,
            client_time: kith_server::now_ms(),
            cursor: Some(cursor.clone()),
            docs: vec![],
        }
    }

    /// Each device's shift, begun now with one check-in, pushed and synced; its cursor after one
    /// more (quiet) sync, when it holds everything.
    async fn settle(http: &reqwest::Client, b: &str, devs: &[Dev]) -> Result<Vec<Cursor>> {
        let url = format!("{b}/v1/sync");
        let now = Timestamp(kith_server::now_ms());
        let settle = devs.iter().map(|d| {
            let url = url.clone();
            async move {
                let s = CheckinScript::new(d, now, 1)?;
                let mut push = s.push(&[], &s.checkins[0]);
                push.changes.insert(0, ByteBuf::from(s.init.0.clone()));
                let req = SyncRequest {
                    protocol: kith_proto::PROTOCOL_VERSION,
                    client_time: now.0,
                    cursor: None,
                    docs: vec![push],
                };
                let resp = sync(http, &url, &d.token, &req).await?;
                let resp = device_client(b, d)?.sync(&quiet_request(&resp.cursor)).await?;
                Ok::<_, anyhow::Error>(resp.cursor)
            }
        });
        futures_util::future::join_all(settle).await.into_iter().collect()
    }

    /// A device of another team stores `n` check-ins (in shifts of up to 1,000).
    async fn store_behind(http: &reqwest::Client, b: &str, bg: &Dev, n: usize) -> Result<()> {
        let url = format!("{b}/v1/sync");
        let mut left = n;
        while left > 0 {
            let k = left.min(1000);
            let now = Timestamp(kith_server::now_ms());
            let s = CheckinScript::new(bg, now, k - 1)?;
            let hb = |h: &automerge::ChangeHash| ByteBuf::from(h.0.to_vec());
            let last = s.checkins.last().map_or(&s.init, |c| c);
            let mut changes = vec![ByteBuf::from(s.init.0.clone())];
            changes.extend(s.checkins.iter().map(|c| ByteBuf::from(c.0.clone())));
            let push = DocPush {
                id: s.doc_id,
                kind: Kind::Shift,
                have: vec![],
                changes,
                heads: vec![hb(&last.1)],
                vouch: None,
                save: None,
            };
            let req = SyncRequest {
                protocol: kith_proto::PROTOCOL_VERSION,
                client_time: now.0,
                cursor: None,
                docs: vec![push],
            };
            sync(http, &url, &bg.token, &req).await?;
            left -= k;
        }
        Ok(())
    }

    async fn run_once(
        b: &str,
        pid: u32,
        devs: &[Dev],
        cursors: &mut [Cursor],
        rounds: usize,
        fresh: bool,
    ) -> Result<Run> {
        // `fresh`: a connection let go as soon as it is idle, so each sync opens one (a new
        // client per sync would measure the generator: building one loads the TLS roots).
        let client = |d: &Dev| match fresh {
            true => Ok(device_client(b, d)?.with_sync_connection_idle(Duration::ZERO)?),
            false => device_client(b, d),
        };
        let clients = devs.iter().map(client).collect::<Result<Vec<_>>>()?;
        let meter = Meter::start(pid);
        let loops = clients.iter().zip(cursors.iter_mut()).map(|(client, cursor)| async move {
            let mut lat = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let req = quiet_request(cursor);
                let t = Instant::now();
                let resp = client.sync(&req).await?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                if !resp.docs.is_empty() || !resp.feed.is_empty() || resp.more || resp.reset {
                    bail!(
                        "a quiet sync brought something: {} feed documents, more {}, reset {}",
                        resp.feed.len(),
                        resp.more,
                        resp.reset
                    );
                }
                *cursor = resp.cursor;
            }
            Ok::<_, anyhow::Error>(lat)
        });
        meter.finish(futures_util::future::join_all(loops).await)
    }

    pub async fn run(mut a: Args) -> Result<()> {
        let Bench { _dir, data, mut server, pid, b } = Bench::start(&mut a)?;
        let n = a.clients.iter().copied().max().unwrap_or(1);
        let http = kith_stories::http_client().no_gzip().no_zstd().build()?;
        let devs = super::write::members(&a, &http, &data, &b, n).await?;
        let mut cursors = settle(&http, &b, &devs).await?;
        if a.behind > 0 {
            let bg = kith_stories::loadgen::team(&http, &a.server_bin, &data, &b, usize::MAX, 1, "load")
                .await?
                .pop()
                .context("a device of another team")?;
            store_behind(&http, &b, &bg, a.behind).await?;
        }
        println!(
            "kith-load quiet: {} devices in teams of {} against {b} (pid {pid}, {}); {} run(s) per level; cursors {} \
             changes behind; {}\n",
            devs.len(),
            a.team_size,
            a.server_bin,
            a.runs,
            a.behind,
            if a.new_connections { "a new connection per sync" } else { "pooled connections" }
        );
        super::write::print_table_head();
        for &clients in &a.clients {
            let rounds = (a.syncs / clients).max(6);
            let mut runs = Vec::new();
            for _ in 0..a.runs {
                runs.push(
                    run_once(&b, pid, &devs[..clients], &mut cursors[..clients], rounds, a.new_connections).await?,
                );
            }
            super::write::print_level(clients, rounds, &runs);
        }
        println!("\n(p50 / p99 / max: the median over the runs of each run's figure)");
        terminate(&mut server, pid).await
    }
}
