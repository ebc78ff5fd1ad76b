//! Faults at random while many devices check in: a proxy that drops, delays, truncates and
//! duplicates connections (seeded), and the server — a real process of its own — SIGKILLed and
//! started again on the same port and data directory at random moments. At the end every
//! check-in any device holds is on the server and on every device that may see it, exactly once,
//! every emergency raised its alert exactly once, and the team's webhook (a receiver on loopback)
//! got each alert's first step, always under one key with one body however often it was resent.
//!
//! `KITH_FAULT_KILLS` (default 5: the short run of `cargo test`) and `KITH_FAULT_SEED` (default 1;
//! `random` for a new one; printed) set the run; the long run (≥ 100 kills) is in docs/reliability.md.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use kith_domain::{CheckInId, CheckInStatus, Role, ShiftId};
use kith_server::storage::sqlite::SqliteStorage;
use kith_stories::proxy::{Fault, FaultyProxy};
use kith_stories::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHILD_DIR: &str = "KITH_FAULTS_SERVER_DIR";
const CHILD_LISTEN: &str = "KITH_FAULTS_SERVER_LISTEN";

/// Not a test of its own: the server process of the story below, which runs this test binary
/// again with the two variables set (a real process, so it can be SIGKILLed). Without them it
/// does nothing.
#[test]
fn server_process_for_the_fault_story() {
    let (Ok(dir), Ok(listen)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_LISTEN)) else { return };
    let mut config = kith_server::Config {
        listen: listen.parse().expect("an address"),
        data_dir: Some(PathBuf::from(dir)),
        ui_dir: Some(PathBuf::new()),
        ..kith_server::Config::default()
    };
    config.join_rate.burst = 1000;
    config.join_rate.replenish_ms = 1;
    // The story's webhook receiver is on loopback, which the server refuses unless the operator
    // allows private targets.
    config.alerts.webhook_allow_private = true;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    rt.block_on(kith_server::serve(config, std::future::pending())).expect("the server runs");
}

struct ServerProcess {
    dir: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
}

impl ServerProcess {
    async fn start(dir: &Path, addr: SocketAddr) -> ServerProcess {
        let mut s = ServerProcess { dir: dir.to_path_buf(), addr, child: None };
        s.spawn().await;
        s
    }

    async fn spawn(&mut self) {
        let child = Command::new(std::env::current_exe().expect("this test binary"))
            .args(["--exact", "server_process_for_the_fault_story", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, &self.dir)
            .env(CHILD_LISTEN, self.addr.to_string())
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server process");
        self.child = Some(child);
        // Ready when it answers; bounded.
        let http = kith_stories::http_client().build().unwrap();
        for _ in 0..3000 {
            if let Ok(r) = http.get(format!("http://{}/healthz", self.addr)).send().await
                && r.status() == 200
            {
                return;
            }
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("the server process exited: {st}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the server did not answer within 30 s");
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("reaped");
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A webhook receiver on loopback: keeps every delivery's idempotency key and body, answers 200.
async fn webhook_receiver() -> (SocketAddr, Arc<Mutex<Vec<(String, String)>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("its address");
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let kept = got.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // One request per connection (the answer says `Connection: close`).
                let (head_end, length) = loop {
                    let Ok(n) = conn.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse().ok()))
                            .unwrap_or(0usize);
                        break (end + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let key = head
                    .lines()
                    .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("x-kith-delivery")))
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_default();
                let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
                kept.lock().expect("the receiver's log").push((key, body));
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            });
        }
    });
    (addr, got)
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_and_kills_lose_no_checkin_and_no_alert() {
    let kills: usize = std::env::var("KITH_FAULT_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    // A fixed seed unless told otherwise, so `cargo test` plays the same faults on every run (the
    // kills' moments still vary with timing); KITH_FAULT_SEED=random draws a new one.
    let seed: u64 = match std::env::var("KITH_FAULT_SEED").ok().as_deref() {
        Some("random") => rand::random(),
        Some(s) => s.parse().expect("KITH_FAULT_SEED: a number or \"random\""),
        None => 1,
    };
    println!("fault story: {kills} kills, seed {seed} (KITH_FAULT_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("a data directory");
    let mut server = ServerProcess::start(dir.path(), free_port()).await;
    let url = format!("http://{}", server.addr);

    // The team, made with the admin functions on the same database (as `kith-server admin` does).
    let (team, lead_code) = {
        let storage = SqliteStorage::open(&dir.path().join("kith-server.sqlite3")).expect("the server's database");
        let (team, invite) = kith_server::admin::create_team(&storage, "North estate", None, kith_server::now_ms())
            .await
            .expect("a team");
        let mut codes = Vec::new();
        for _ in 0..4 {
            codes.push(
                kith_server::admin::create_invite(
                    &storage,
                    team,
                    Role::Member,
                    Duration::from_secs(3600),
                    1,
                    kith_server::now_ms(),
                )
                .await
                .expect("an invite")
                .code,
            );
        }
        ((team, codes), invite.code)
    };
    let (_, codes) = team;
    let mut lead = Device::join("lead", &url, &lead_code).await;
    let names = ["alice", "bo", "cy", "dee"];
    let mut members = Vec::new();
    for (name, code) in names.iter().zip(&codes) {
        members.push(Device::join(name, &url, code).await);
    }
    // The team's webhook: a receiver on loopback (the server process allows private targets).
    let (hook_addr, deliveries) = webhook_receiver().await;
    let http = kith_stories::http_client().build().unwrap();
    let token = lead.client.token().expect("the lead's token").to_string();
    let r = http
        .put(format!("{url}/v1/webhook"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"url": format!("http://{hook_addr}/kith"), "secret": "a-long-random-webhook-secret"}))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(r.status(), 204, "the lead sets the webhook");
    let proxy = FaultyProxy::start_seeded(server.addr, rng.random()).await;
    proxy.set_fault(Fault::Random);
    println!("proxy seed {}", proxy.seed());

    // What each device made: per shift, its check-ins; and every emergency, one per shift.
    let mut made: BTreeMap<(usize, ShiftId), Vec<CheckInId>> = BTreeMap::new();
    let mut current: Vec<Option<ShiftId>> = vec![None; members.len()];
    let mut emergencies: Vec<(ShiftId, CheckInId)> = Vec::new();
    let mut done_kills = 0;
    let mut round = 0i64;
    while done_kills < kills {
        round += 1;
        for (i, m) in members.iter_mut().enumerate() {
            let shift = *current[i].get_or_insert_with(|| m.start_shift("Rounds"));
            made.entry((i, shift)).or_default();
            let emergency = rng.random_bool(0.08);
            let status = if emergency { CheckInStatus::Emergency } else { CheckInStatus::Ok };
            let c = m.checkin(shift, status, at(round));
            made.get_mut(&(i, shift)).expect("the shift").push(c.id);
            if emergency {
                emergencies.push((shift, c.id));
                // One emergency per shift: the next check-in goes into a new shift.
                current[i] = None;
            }
        }
        // Every device syncs through the faulty proxy (a new client each time: faults apply per
        // connection) while, every other round or so, the server is killed at a random moment.
        for m in members.iter_mut() {
            m.use_server(&proxy.url());
        }
        let kill_after = rng.random_bool(0.5).then(|| Duration::from_millis(rng.random_range(0..60)));
        let syncs = join_all(members.iter_mut().map(|m| m.sync()));
        let killer = async {
            if let Some(after) = kill_after {
                tokio::time::sleep(after).await;
                server.kill();
                server.spawn().await;
                done_kills += 1;
            }
        };
        let (results, ()) = tokio::join!(syncs, killer);
        for r in results {
            if let Err(e) = r {
                assert!(e.retryable(), "faults and kills only ever cause retryable failures: {e}");
            }
        }
    }
    println!("{round} rounds, {done_kills} kills; proxy faults {:?}", proxy.drawn());

    // The network heals: every device gets everything through.
    proxy.set_fault(Fault::None);
    for m in members.iter_mut() {
        m.use_server(&url);
        let mut tries = 0;
        while m.sync().await.is_err() || m.pending() > 0 {
            tries += 1;
            assert!(tries < 20, "{} cannot sync after the faults", m.name);
        }
    }
    for _ in 0..3 {
        lead.sync().await.expect("the lead syncs");
    }
    for ((i, shift), made_ids) in &made {
        let mut want = made_ids.clone();
        want.sort();
        let m = &mut members[*i];
        m.sync().await.expect("a last sync");
        assert_eq!(ids(&m.shift(*shift).expect("the worker's shift")).0, want, "{}'s device", m.name);
        let on_lead = ids(&lead.shift(*shift).expect("the lead has the shift")).0;
        assert_eq!(on_lead, want, "{}'s check-ins on the lead's device, each once", members[*i].name);
        let view: serde_json::Value = http
            .get(format!("{url}/v1/shifts/{shift}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("the server answers")
            .json()
            .await
            .expect("a shift view");
        let mut on_server: Vec<String> = view["checkins"]
            .as_array()
            .expect("check-ins")
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        on_server.sort();
        let mut want_s: Vec<String> = want.iter().map(|c| c.to_string()).collect();
        want_s.sort();
        assert_eq!(on_server, want_s, "{}'s check-ins on the server, each once", members[*i].name);
    }

    let alerts: serde_json::Value = http
        .get(format!("{url}/v1/alerts?all=true"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("alerts");
    let alerts = alerts["alerts"].as_array().expect("a list");
    let mut missing = Vec::new();
    // The first step's delivery key of every emergency's alert.
    let mut hook_keys = Vec::new();
    for (shift, checkin) in &emergencies {
        let raised: Vec<&serde_json::Value> = alerts
            .iter()
            .filter(|a| {
                a["kind"] == "emergency" && a["shift"] == shift.to_string() && a["checkin"] == checkin.to_string()
            })
            .collect();
        let n = raised.len();
        assert!(n <= 1, "the emergency {checkin} raised {n} alerts: exactly one, please");
        match raised.first() {
            Some(a) => hook_keys.push(format!("alert:{}:step:0", a["id"].as_str().expect("an alert id"))),
            None => missing.push(checkin.to_string()),
        }
    }
    println!(
        "{} check-ins, {} emergencies, {} alerts",
        made.values().map(Vec::len).sum::<usize>(),
        emergencies.len(),
        alerts.len()
    );
    // The deadline engine follows the stored changes: an emergency stored just before a kill
    // raises its alert when the server starts again.
    assert!(
        missing.is_empty(),
        "{} of {} emergencies raised no alert after a kill: {missing:?} (seed {seed})",
        missing.len(),
        emergencies.len()
    );

    // Every alert reached the webhook (a delivery cut by a kill is sent again after the restart):
    // waited for, bounded, as the deliverer works in the background.
    let delivered = |keys: &[String]| {
        let got = deliveries.lock().expect("the receiver's log");
        keys.iter().all(|k| got.iter().any(|(key, _)| key == k))
    };
    let mut waited = 0;
    while !delivered(&hook_keys) {
        waited += 1;
        assert!(waited < 6000, "alerts not delivered to the webhook within 60 s: {hook_keys:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = deliveries.lock().expect("the receiver's log").clone();
    let mut bodies: BTreeMap<&str, &str> = BTreeMap::new();
    for (key, body) in &got {
        let v: serde_json::Value = serde_json::from_str(body).expect("a JSON delivery");
        assert_eq!(v["id"], key.as_str(), "the body carries its idempotency key");
        let first = bodies.entry(key).or_insert(body);
        assert_eq!(first, body, "a resent delivery ({key}) is the very same body");
    }
    println!("webhook: {} deliveries of {} keys ({} resent)", got.len(), bodies.len(), got.len() - bodies.len());
}
