//! What the load and startup bench binaries (`src/bin/kith-load.rs`, `kith-startup.rs`) share:
//! reading a process's memory, making teams and joining devices, and pushing a device's documents through the real `/v1/sync`.

use anyhow::{Context as _, bail};
use automerge::ActorId;
use kith_domain::{DeviceId, MemberId, TeamId};
use kith_proto::{JoinRequest, JoinResponse, Outcome, SyncRequest, SyncResponse};

/// A device joined through the real `/v1/join`: its actor, bearer token and ids.
#[derive(Debug)]
pub struct Dev {
    pub actor: ActorId,
    pub token: String,
    pub team: TeamId,
    pub member: MemberId,
    pub device: DeviceId,
}

/// Joins server `base` with invite `code` as `name`, the device labelled `label`.
pub async fn join(http: &reqwest::Client, base: &str, code: &str, name: String, label: &str) -> anyhow::Result<Dev> {
    let actor = ActorId::random();
    let req =
        JoinRequest { code: code.into(), name, device_label: label.into(), actor: actor.to_hex_string(), rejoin: None };
    let r = http.post(format!("{base}/v1/join")).json(&req).send().await?;
    if !r.status().is_success() {
        bail!("join: {} {}", r.status(), r.text().await?);
    }
    let j: JoinResponse = r.json().await?;
    Ok(Dev {
        actor,
        token: j.token,
        team: TeamId(j.team_id),
        member: MemberId(j.member_id),
        device: DeviceId(j.device_id),
    })
}

/// A team of `n` devices, its lead first: created with `<bin> --data-dir <data> admin
/// create-team` (named "Team `t`"), the lead joined with its invite and the others with one
/// member invite of the lead's, each device labelled `label`.
pub async fn team(
    http: &reqwest::Client,
    bin: &str,
    data: &std::path::Path,
    base: &str,
    t: usize,
    n: usize,
    label: &str,
) -> anyhow::Result<Vec<Dev>> {
    let args = [
        "--data-dir".to_string(),
        data.to_str().context("a data directory path in UTF-8")?.to_string(),
        "admin".into(),
        "create-team".into(),
        "--name".into(),
        format!("Team {t}"),
    ];
    let bin = bin.to_string();
    let out = tokio::task::spawn_blocking(move || std::process::Command::new(bin).args(args).output()).await??;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let code = text
        .lines()
        .find_map(|l| l.strip_prefix("lead invite "))
        .and_then(|r| r.split_whitespace().next())
        .with_context(|| format!("a lead invite: {text} {}", String::from_utf8_lossy(&out.stderr)))?
        .to_string();
    let lead = join(http, base, &code, format!("Lead {t}"), label).await?;
    let inv: serde_json::Value = http
        .post(format!("{base}/v1/invites"))
        .bearer_auth(&lead.token)
        .json(&serde_json::json!({"role": "member", "expires_in_s": 86400, "uses": n.max(2) - 1}))
        .send()
        .await?
        .json()
        .await?;
    let code = inv["code"].as_str().context("an invite")?.to_string();
    let mut devs = vec![lead];
    for i in 1..n {
        devs.push(join(http, base, &code, format!("Worker {t}.{i}"), label).await?);
    }
    Ok(devs)
}

/// Starts a `kith-server` for a bench: `bin` (behind `wrap`, e.g. `taskset -c 0`, when not empty)
/// serving `data` on `listen`, with no UI and joins not rate-limited (a bench joins thousands of
/// devices), its log appended to `log`.
pub fn spawn_server(
    wrap: &str,
    bin: &str,
    data: &std::path::Path,
    listen: &str,
    log: &std::path::Path,
) -> anyhow::Result<std::process::Child> {
    let mut words = wrap.split_whitespace();
    let mut cmd = match words.next() {
        Some(w) => {
            let mut c = std::process::Command::new(w);
            c.args(words).arg(bin);
            c
        }
        None => std::process::Command::new(bin),
    };
    cmd.args(["--data-dir", data.to_str().context("a data directory path in UTF-8")?, "--listen", listen])
        .env("KITH_UI_DIR", "")
        .env("KITH_JOIN_RATE__BURST", "1000000")
        .env("KITH_JOIN_RATE__REPLENISH_MS", "1")
        .env("RUST_LOG", "warn,kith_server=info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(log)?)
        .spawn()
        .with_context(|| format!("start {bin}"))
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`, ...); 0 if it cannot be read.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Sends `req` to `url` (a server's `/v1/sync`) as the device holding `token` and returns the
/// answer; an error unless it is 200 and every pushed document was accepted.
pub async fn sync_all_accepted(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    req: &SyncRequest,
) -> anyhow::Result<SyncResponse> {
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", kith_proto::CONTENT_TYPE)
        .body(kith_proto::encode(req)?)
        .send()
        .await?;
    if r.status() != 200 {
        bail!("sync: {} {}", r.status(), r.text().await?);
    }
    let resp: SyncResponse = kith_proto::decode(&r.bytes().await?)?;
    if resp.docs.iter().any(|d| d.outcome != Outcome::Accepted) {
        bail!("sync: a push not accepted: {:?}", resp.docs.iter().map(|d| &d.outcome).collect::<Vec<_>>());
    }
    Ok(resp)
}

/// One device's shift prepared for a write → ack run: the change that creates the shift and
/// `rounds` check-in changes after it, each as (bytes, hash). Built before the clock starts, so
/// the load generator only does HTTP (the server's side of a sync is what is measured).
#[derive(Debug)]
pub struct CheckinScript {
    pub doc_id: uuid::Uuid,
    pub init: (Vec<u8>, automerge::ChangeHash),
    pub checkins: Vec<(Vec<u8>, automerge::ChangeHash)>,
}

impl CheckinScript {
    /// A new shift of `dev` begun at `start` (8 hours, check-ins every 30 minutes) and `rounds`
    /// "ok" check-ins a minute apart.
    pub fn new(dev: &Dev, start: kith_domain::Timestamp, rounds: usize) -> anyhow::Result<CheckinScript> {
        use kith_domain::doc::shift;
        use kith_domain::{CheckIn, CheckInStatus, Rating, Secs, Shift};
        let s = Shift::begin(dev.team, dev.member, "load", start, start + Secs::hours(8), Secs::minutes(30));
        let mut doc = automerge::Automerge::new().with_actor(dev.actor.clone());
        doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error)?;
        let last = |doc: &mut automerge::Automerge| -> anyhow::Result<(Vec<u8>, automerge::ChangeHash)> {
            let c = doc.get_last_local_change().ok_or_else(|| anyhow::anyhow!("no change made"))?;
            Ok((c.raw_bytes().to_vec(), c.hash()))
        };
        let init = last(&mut doc)?;
        let mut checkins = Vec::with_capacity(rounds);
        for r in 0..rounds {
            let c = CheckIn {
                mood: Some(Rating::new(4, "mood")?),
                ..CheckIn::new(CheckInStatus::Ok, start + Secs(60 * r as i64), dev.member, dev.device)
            };
            doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error)?;
            checkins.push(last(&mut doc)?);
        }
        Ok(CheckinScript { doc_id: s.id.uuid(), init, checkins })
    }

    /// The push of one change of this shift on top of `have` (the server's heads as last answered).
    pub fn push(
        &self,
        have: &[automerge::ChangeHash],
        change: &(Vec<u8>, automerge::ChangeHash),
    ) -> kith_proto::DocPush {
        let hb = |h: &automerge::ChangeHash| serde_bytes::ByteBuf::from(h.0.to_vec());
        kith_proto::DocPush {
            id: self.doc_id,
            kind: kith_proto::Kind::Shift,
            have: have.iter().map(hb).collect(),
            changes: vec![serde_bytes::ByteBuf::from(change.0.clone())],
            heads: vec![hb(&change.1)],
            vouch: None,
            save: None,
        }
    }
}

/// A process's CPU time so far (user + system, ms) from `/proc/<pid>/stat` (`self` for this one);
/// None where it cannot be read.
pub fn cpu_ms(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = s[s.rfind(')')? + 1..].split_whitespace().collect();
    // utime and stime: fields 14 and 15 of stat(5), in clock ticks (100 per second).
    Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) * 10.0)
}
