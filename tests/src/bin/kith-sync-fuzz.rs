//! A structured fuzzer of `POST /v1/sync` against a running `kith-server` (scripts/suites/api.sh
//! runs it after schemathesis): valid-looking sync requests of a real worker's device with random,
//! mutated fields — garbage and truncated Automerge changes, saves, oversize arrays, wrong CBOR
//! types, deep nesting, extreme times, gzip bodies. Every answer must be a 200 with per-document
//! outcomes or a clear 4xx JSON error: never a 5xx, never a hang; and nothing of a refused push is
//! stored (after every request the lead pulls the feed: only documents the request got accepted
//! may have changed).
//!
//! `kith-sync-fuzz --server http://127.0.0.1:PORT --lead-token TOKEN [--seed N] [--requests N]`
//! prints its seed; the same seed replays the same requests against a fresh server.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use automerge::{ActorId, Automerge, ChangeHash};
use ciborium::Value;
use kith_domain::doc::{shift, team};
use kith_domain::*;
use kith_proto::{Cursor, DocPush, JoinRequest, JoinResponse, Kind, Outcome, SyncRequest, SyncResponse, Vouch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_bytes::ByteBuf;
use uuid::Uuid;

struct Args {
    server: String,
    lead_token: String,
    seed: u64,
    requests: usize,
}

fn args() -> Result<Args> {
    let mut a = Args { server: String::new(), lead_token: String::new(), seed: rand::random(), requests: 500 };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--server" => a.server = v.trim_end_matches('/').to_string(),
            "--lead-token" => a.lead_token = v,
            "--seed" => a.seed = v.parse()?,
            "--requests" => a.requests = v.parse()?,
            _ => bail!("unknown argument {k}; usage: --server URL --lead-token TOKEN [--seed N] [--requests N]"),
        }
    }
    if a.server.is_empty() || a.lead_token.is_empty() {
        bail!("usage: kith-sync-fuzz --server URL --lead-token TOKEN [--seed N] [--requests N]");
    }
    Ok(a)
}

/// A device of the fuzzer's own: its token, actor and documents.
struct Dev {
    token: String,
    team: TeamId,
    member: MemberId,
    device: DeviceId,
    actor: ActorId,
}

struct Fuzz {
    http: reqwest::Client,
    server: String,
    lead: String,
    lead_cursor: Option<Cursor>,
    worker: Dev,
    /// The worker's shift, as the server accepted it.
    shift: Automerge,
    shift_id: ShiftId,
    /// The team document, as last pulled.
    team: Automerge,
    rng: StdRng,
    now: i64,
    /// The last request's first push (its changes join `shift` if accepted).
    pending: Option<DocPush>,
    /// The documents as the lead holds them.
    lead_docs: std::collections::HashMap<Uuid, Automerge>,
}

fn hashes(hs: &[ChangeHash]) -> Vec<ByteBuf> {
    hs.iter().map(|h| ByteBuf::from(h.0.to_vec())).collect()
}

impl Fuzz {
    async fn join(http: &reqwest::Client, server: &str, lead: &str, role: &str, name: &str) -> Result<Dev> {
        let r = http
            .post(format!("{server}/v1/invites"))
            .bearer_auth(lead)
            .json(&serde_json::json!({"role": role, "expires_in_s": 3600, "uses": 1}))
            .send()
            .await?;
        let inv: serde_json::Value = r.json().await?;
        let code = inv["code"].as_str().with_context(|| format!("an invite: {inv}"))?.to_string();
        let actor = ActorId::random();
        let req = JoinRequest {
            code,
            name: name.into(),
            device_label: "fuzzer".into(),
            actor: actor.to_hex_string(),
            rejoin: None,
        };
        let r = http.post(format!("{server}/v1/join")).json(&req).send().await?;
        if !r.status().is_success() {
            bail!("join: {} {}", r.status(), r.text().await?);
        }
        let j: JoinResponse = r.json().await?;
        Ok(Dev {
            token: j.token,
            team: TeamId(j.team_id),
            member: MemberId(j.member_id),
            device: DeviceId(j.device_id),
            actor,
        })
    }

    /// Sends a body as the worker; checks the answer; returns the outcomes per document if 200.
    async fn send(&self, body: Vec<u8>, gzip: bool, what: &str) -> Result<Option<SyncResponse>> {
        let mut rb = self
            .http
            .post(format!("{}/v1/sync", self.server))
            .bearer_auth(&self.worker.token)
            .header("content-type", kith_proto::CONTENT_TYPE)
            .timeout(Duration::from_secs(60));
        if gzip {
            rb = rb.header("content-encoding", "gzip");
        }
        let resp = rb.body(body).send().await.with_context(|| format!("{what}: no answer (a hang or a crash?)"))?;
        let status = resp.status();
        let bytes = resp.bytes().await.with_context(|| format!("{what}: the answer was cut"))?;
        if status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT {
            bail!("{what}: answered {status}: {}", String::from_utf8_lossy(&bytes));
        }
        if status.is_client_error() {
            let e: kith_proto::ApiError = serde_json::from_slice(&bytes).with_context(|| {
                format!("{what}: {status} without a JSON error: {}", String::from_utf8_lossy(&bytes))
            })?;
            if e.code.is_empty() || e.message.is_empty() {
                bail!("{what}: {status} with an empty error {e:?}");
            }
            return Ok(None);
        }
        if status != reqwest::StatusCode::OK {
            bail!("{what}: unexpected {status}");
        }
        let r: SyncResponse = kith_proto::decode(&bytes).with_context(|| format!("{what}: a 200 that is not CBOR"))?;
        Ok(Some(r))
    }

    /// The lead pulls the feed from its cursor: the documents that took new changes since, with
    /// those changes' actor and sequence number (the feed may bring a document again harmlessly).
    async fn lead_pull(&mut self) -> Result<Vec<(Uuid, Vec<String>)>> {
        let mut changed = Vec::new();
        loop {
            let req =
                SyncRequest { protocol: 2, client_time: self.now, cursor: self.lead_cursor.clone(), docs: vec![] };
            let resp = self
                .http
                .post(format!("{}/v1/sync", self.server))
                .bearer_auth(&self.lead)
                .header("content-type", kith_proto::CONTENT_TYPE)
                .body(kith_proto::encode(&req)?)
                .send()
                .await?;
            if !resp.status().is_success() {
                bail!("the lead's pull: {}", resp.status());
            }
            let r: SyncResponse = kith_proto::decode(&resp.bytes().await?)?;
            for f in &r.feed {
                let doc = self.lead_docs.entry(f.id).or_default();
                let before = doc.get_heads();
                for d in &f.data {
                    doc.load_incremental(d).context("a document from the feed")?;
                }
                let new: Vec<String> =
                    doc.get_changes(&before).iter().map(|c| format!("{}/{}", c.actor_id(), c.seq())).collect();
                if !new.is_empty() {
                    changed.push((f.id, new));
                }
                if f.id == self.worker.team.uuid() {
                    self.team = doc.clone();
                }
            }
            self.lead_cursor = Some(r.cursor);
            if !r.more {
                return Ok(changed);
            }
        }
    }

    fn push_of(&self, id: Uuid, kind: Kind, doc: &Automerge, before: &[ChangeHash]) -> DocPush {
        DocPush {
            id,
            kind,
            have: hashes(before),
            changes: doc.get_changes(before).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
            save: None,
            heads: hashes(&doc.get_heads()),
            vouch: None,
        }
    }

    /// A valid-looking push of the worker's: a check-in, a note that is too long, an ack it may not
    /// write, a new shift (as changes or a save), a roster edit.
    fn base_push(&mut self) -> DocPush {
        let w = &self.worker;
        let now = self.now;
        let before = self.shift.get_heads();
        let mut doc = self.shift.fork().with_actor(w.actor.clone());
        match self.rng.random_range(0..6) {
            0 | 1 => {
                let status = [CheckInStatus::Ok, CheckInStatus::Support][self.rng.random_range(0..2)];
                let c = CheckIn::new(status, Timestamp(now), w.member, w.device);
                doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error).expect("a check-in");
                self.push_of(self.shift_id.uuid(), Kind::Shift, &doc, &before)
            }
            2 => {
                let first = shift::read(&doc).ok().and_then(|s| s.checkins.first().map(|c| c.id));
                let a = Ack {
                    id: AckId::new(),
                    checkin: first.unwrap_or_default(),
                    by: w.member,
                    at: Timestamp(now),
                    reply: Some("x".repeat(self.rng.random_range(0..4000))),
                };
                // The domain refuses what is never valid; write the operations by hand then.
                if doc.transact(|tx| shift::add_ack(tx, &a)).is_err() {
                    use automerge::transaction::Transactable;
                    let mut tx = doc.transaction();
                    if let Ok(Some((_, acks))) = automerge::ReadDoc::get(&tx, automerge::ROOT, "acks") {
                        let e = tx.put_object(&acks, a.id.to_string(), automerge::ObjType::Map).expect("an entry");
                        tx.put(&e, "by", w.member.to_string()).expect("a field");
                    }
                    tx.commit();
                }
                self.push_of(self.shift_id.uuid(), Kind::Shift, &doc, &before)
            }
            3 => {
                let s = Shift::begin(
                    w.team,
                    w.member,
                    "rounds",
                    Timestamp(now),
                    Timestamp(now + 3_600_000),
                    Secs::minutes(30),
                );
                let mut doc = Automerge::new().with_actor(w.actor.clone());
                doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).expect("a shift");
                if self.rng.random_bool(0.3) {
                    // A purpose the device would refuse, written by hand.
                    use automerge::transaction::Transactable;
                    let mut tx = doc.transaction();
                    tx.put(automerge::ROOT, "purpose", "x".repeat(self.rng.random_range(300..5000)))
                        .expect("a purpose");
                    tx.commit();
                }
                let mut p = self.push_of(s.id.uuid(), Kind::Shift, &doc, &[]);
                if self.rng.random_bool(0.5) {
                    p.changes.clear();
                    p.save = Some(ByteBuf::from(doc.save()));
                }
                p
            }
            4 => {
                let before = self.team.get_heads();
                let mut doc = self.team.fork().with_actor(w.actor.clone());
                let role = if self.rng.random_bool(0.5) { Role::Lead } else { Role::Member };
                let m = Member {
                    id: w.member,
                    name: "F".repeat(self.rng.random_range(1..500)),
                    role,
                    buddies: vec![],
                    phone: None,
                };
                let _ = doc.transact(|tx| team::upsert_member(tx, &m));
                self.push_of(w.team.uuid(), Kind::Team, &doc, &before)
            }
            _ => {
                let mut p = self.push_of(self.shift_id.uuid(), Kind::Shift, &self.shift, &before);
                p.have = vec![];
                p
            }
        }
    }

    fn random_bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.rng.random_range(0..=max);
        (0..n).map(|_| self.rng.random()).collect()
    }

    /// One request: a base push, mutated; its body; whether gzipped; what was done (for the log).
    fn request(&mut self) -> (Vec<u8>, bool, String) {
        let mut push = self.base_push();
        let mutation = self.rng.random_range(0..18);
        let mut client_time = self.now;
        let mut protocol = kith_proto::PROTOCOL_VERSION;
        let mut docs_extra = Vec::new();
        let what = match mutation {
            0 => "valid".to_string(),
            1 => {
                if let Some(c) = push.changes.first_mut() {
                    let i = self.rng.random_range(0..c.len());
                    c[i] ^= 1 << self.rng.random_range(0..8);
                }
                "a bit flipped in a change".into()
            }
            2 => {
                if let Some(c) = push.changes.first_mut() {
                    let n = self.rng.random_range(0..c.len());
                    c.truncate(n);
                }
                "a truncated change".into()
            }
            3 => {
                let g = self.random_bytes(300);
                push.changes.push(ByteBuf::from(g));
                "garbage change bytes".into()
            }
            4 => {
                let mut g = vec![0x85, 0x6f, 0x4a, 0x83];
                g.extend(self.random_bytes(200));
                push.save = Some(ByteBuf::from(g));
                "a garbage save with Automerge's magic".into()
            }
            5 => {
                let n = self.rng.random_range(2001..4000);
                push.changes = (0..n).map(|i| ByteBuf::from(vec![i as u8])).collect();
                format!("{n} one-byte changes")
            }
            6 => {
                let n = self.rng.random_range(1000..20000);
                let hs: Vec<ByteBuf> = (0..n).map(|_| ByteBuf::from(self.random_bytes(40))).collect();
                if self.rng.random_bool(0.5) {
                    push.have = hs
                } else {
                    push.heads = hs
                }
                format!("{n} random hashes")
            }
            7 => {
                push.vouch = Some(Vouch { heads: push.heads.clone(), receipt: ByteBuf::from(self.random_bytes(32)) });
                "a forged vouch".into()
            }
            8 => {
                push.id = if self.rng.random_bool(0.5) { Uuid::new_v4() } else { Uuid::nil() };
                "an unknown document id".into()
            }
            9 => {
                push.kind = if push.kind == Kind::Shift { Kind::Team } else { Kind::Shift };
                "the wrong kind".into()
            }
            10 => {
                client_time =
                    [i64::MIN, i64::MAX, 0, -1, self.now + 100 * 365 * 86_400_000][self.rng.random_range(0..5)];
                format!("client_time {client_time}")
            }
            11 => {
                protocol = [0, 1, 3, u32::MAX][self.rng.random_range(0..4)];
                format!("protocol {protocol}")
            }
            12 => {
                let n = self.rng.random_range(501..1200);
                docs_extra = (0..n).map(|_| DocPush { id: Uuid::new_v4(), ..push.clone() }).collect();
                format!("{n} more documents")
            }
            13 => "deep nesting".into(),
            14 => "a wrong CBOR type".into(),
            15 => "random bytes".into(),
            16 => "gzip".into(),
            _ => "broken gzip".into(),
        };
        self.pending = Some(push.clone());
        let mut docs = vec![push];
        docs.extend(docs_extra);
        let req = SyncRequest { protocol, client_time, cursor: None, docs };
        let body = kith_proto::encode(&req).expect("encode");
        match mutation {
            13 => {
                let depth = self.rng.random_range(100..100_000);
                let mut b = vec![0x84]; // a map of four, then `docs` nested `depth` arrays deep
                for (k, v) in [
                    ("protocol", Value::Integer(2.into())),
                    ("client_time", Value::Integer(0.into())),
                    ("cursor", Value::Null),
                ] {
                    ciborium::into_writer(&Value::Text(k.into()), &mut b).unwrap();
                    ciborium::into_writer(&v, &mut b).unwrap();
                }
                ciborium::into_writer(&Value::Text("docs".into()), &mut b).unwrap();
                b.extend(std::iter::repeat_n(0x81, depth));
                b.push(0x80);
                (b, false, format!("{what} ({depth})"))
            }
            14 => {
                let mut v: Value = ciborium::from_reader(&body[..]).expect("our own CBOR");
                let replacement = match self.rng.random_range(0..5) {
                    0 => Value::Text("x".into()),
                    1 => Value::Integer((-1).into()),
                    2 => Value::Bytes(vec![1, 2, 3]),
                    3 => Value::Map(vec![]),
                    _ => Value::Null,
                };
                mutate_one(&mut v, &mut self.rng, replacement);
                let mut b = Vec::new();
                ciborium::into_writer(&v, &mut b).unwrap();
                (b, false, what)
            }
            15 => (self.random_bytes(2000), false, what),
            16 => (gzip(&body), true, what),
            17 => {
                let mut g = gzip(&body);
                let n = g.len() / 2;
                g.truncate(n);
                (g, true, what)
            }
            _ => (body, false, what),
        }
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Replaces one randomly chosen node of `v` (never the root) by `with`.
fn mutate_one(v: &mut Value, rng: &mut StdRng, with: Value) {
    let children: Vec<&mut Value> = match v {
        Value::Array(a) => a.iter_mut().collect(),
        Value::Map(m) => m.iter_mut().map(|(_, v)| v).collect(),
        _ => vec![],
    };
    if children.is_empty() {
        *v = with;
        return;
    }
    let n = children.len();
    let (i, deeper) = (rng.random_range(0..n), rng.random_bool(0.6));
    let child = children.into_iter().nth(i).expect("a child");
    if deeper && matches!(child, Value::Array(_) | Value::Map(_)) {
        mutate_one(child, rng, with);
    } else {
        *child = with;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let a = args()?;
    println!("kith-sync-fuzz: seed {} ({} requests against {})", a.seed, a.requests, a.server);
    let http = kith_stories::http_client().build().unwrap();
    let worker = Fuzz::join(&http, &a.server, &a.lead_token, "member", "Fuzzy").await?;
    let now = kith_server::now_ms();
    let s = Shift::begin(
        worker.team,
        worker.member,
        "fuzzing",
        Timestamp(now),
        Timestamp(now + 8 * 3_600_000),
        Secs::minutes(30),
    );
    let mut shift_doc = Automerge::new().with_actor(worker.actor.clone());
    shift_doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).expect("a shift");
    let mut f = Fuzz {
        http,
        server: a.server.clone(),
        lead: a.lead_token.clone(),
        lead_cursor: None,
        shift: shift_doc,
        shift_id: s.id,
        team: Automerge::new(),
        rng: StdRng::seed_from_u64(a.seed),
        now,
        worker,
        pending: None,
        lead_docs: Default::default(),
    };
    let first = f.push_of(s.id.uuid(), Kind::Shift, &f.shift, &[]);
    let req = SyncRequest { protocol: 2, client_time: now, cursor: None, docs: vec![first] };
    let r = f.send(kith_proto::encode(&req)?, false, "the first push").await?.context("the first push is refused")?;
    if r.docs[0].outcome != Outcome::Accepted {
        bail!("the worker's first shift was refused: {:?}", r.docs[0].outcome);
    }
    f.lead_pull().await?;

    let mut outcomes: std::collections::BTreeMap<String, usize> = Default::default();
    let mut failures = Vec::new();
    for i in 0..a.requests {
        f.now = kith_server::now_ms();
        let (body, gz, what) = f.request();
        let what = format!("request {i} ({what})");
        let resp = match f.send(body, gz, &what).await {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{e:#}"));
                f.lead_pull().await?;
                continue;
            }
        };
        let mut accepted = HashSet::new();
        match &resp {
            None => *outcomes.entry("4xx".into()).or_default() += 1,
            Some(r) => {
                for d in &r.docs {
                    let k = match &d.outcome {
                        Outcome::Accepted => {
                            accepted.insert(d.id);
                            "accepted".to_string()
                        }
                        Outcome::ResendAll => "resend_all".into(),
                        Outcome::Rejected { code, .. } => format!("{code:?}"),
                    };
                    *outcomes.entry(k).or_default() += 1;
                    if d.id == f.shift_id.uuid()
                        && d.outcome == Outcome::Accepted
                        && let Some(p) = f.pending.as_ref().filter(|p| p.id == d.id)
                    {
                        for c in &p.changes {
                            let _ = f.shift.load_incremental(c);
                        }
                    }
                }
            }
        }
        let stored = f.lead_pull().await?;
        if std::env::var_os("KITH_SYNC_FUZZ_VERBOSE").is_some() {
            let outcomes: Vec<String> = resp
                .as_ref()
                .map(|r| r.docs.iter().take(2).map(|d| format!("{} {:?}", d.id, d.outcome)).collect())
                .unwrap_or_else(|| vec!["4xx".into()]);
            println!("{what}: {outcomes:?}; the lead got {stored:?}");
        }
        for (id, new) in stored {
            if !accepted.contains(&id) {
                let outcomes: Vec<String> = resp
                    .as_ref()
                    .map(|r| r.docs.iter().take(3).map(|d| format!("{} {:?}", d.id, d.outcome)).collect())
                    .unwrap_or_default();
                failures.push(format!(
                    "{what}: document {id} took changes {new:?} on the server but the push was not accepted (answers: {outcomes:?})"
                ));
            }
        }
    }
    println!("kith-sync-fuzz: outcomes {outcomes:?}");
    for e in &failures {
        println!("FAILED: {e}");
    }
    // The closing line scripts/test.sh counts: every request is one test.
    println!("sync fuzz: {} passed, {} failed", a.requests.saturating_sub(failures.len()), failures.len());
    if !failures.is_empty() {
        bail!("{} of {} requests were answered wrongly (seed {})", failures.len(), a.requests, a.seed);
    }
    Ok(())
}
