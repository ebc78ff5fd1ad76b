//! A rough load run: N devices each check in and sync in a loop against an in-process server.
//! `cargo run --release -p kith-server --example sync_load -- 100 20` (devices, syncs per device).

use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge};
use kith_domain::doc::shift;
use kith_domain::*;
use kith_proto::{DocPush, JoinRequest, JoinResponse, Kind, SyncRequest, SyncResponse};
use kith_server::testing::TestServer;
use serde_bytes::ByteBuf;

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let devices = args.first().copied().unwrap_or(100);
    let rounds = args.get(1).copied().unwrap_or(20);
    let server = TestServer::start().await;
    let (team, _) = server.create_team("Load").await;
    let code = server.invite_with(team, Role::Member, Duration::from_secs(3600), 1000).await;
    let http = reqwest::Client::new();
    let mut joined = Vec::new();
    for i in 0..devices {
        let actor = ActorId::random();
        let req = JoinRequest {
            code: code.clone(),
            name: format!("w{i}"),
            device_label: "load".into(),
            actor: actor.to_hex_string(),
        };
        let j: JoinResponse = http.post(server.url("/v1/join")).json(&req).send().await.unwrap().json().await.unwrap();
        joined.push((actor, j));
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (actor, j) in joined {
        let url = server.url("/v1/sync");
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            let now = Timestamp(kith_server::now_ms());
            let s = Shift {
                id: ShiftId::new(),
                team: TeamId(j.team_id),
                worker: MemberId(j.member_id),
                purpose: "load".into(),
                started_at: now,
                initial_end: now + Secs::hours(8),
                interval: Secs::minutes(30),
                buddies: vec![],
                extensions: vec![],
                ended: None,
                checkins: vec![],
                acks: vec![],
            };
            let mut doc = Automerge::new().with_actor(actor);
            doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
            let mut have = vec![];
            let mut cursor = None;
            let mut lat = Vec::with_capacity(rounds);
            for r in 0..rounds {
                let c = CheckIn {
                    id: CheckInId::new(),
                    status: CheckInStatus::Ok,
                    mood: None,
                    confidence: None,
                    note: None,
                    location: None,
                    device_time: now + Secs(r as i64),
                    by: s.worker,
                    device: DeviceId(j.device_id),
                };
                doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error).unwrap();
                let push = DocPush {
                    id: s.id.uuid(),
                    kind: Kind::Shift,
                    have: have.iter().map(|h: &automerge::ChangeHash| ByteBuf::from(h.0.to_vec())).collect(),
                    changes: doc.get_changes(&have).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
                    heads: doc.get_heads().iter().map(|h| ByteBuf::from(h.0.to_vec())).collect(),
                    vouch: None,
                };
                let req = SyncRequest { protocol: 1, client_time: 0, cursor: cursor.clone(), docs: vec![push] };
                let t = Instant::now();
                let resp =
                    http.post(&url).bearer_auth(&j.token).body(kith_proto::encode(&req).unwrap()).send().await.unwrap();
                assert_eq!(resp.status(), 200);
                let resp: SyncResponse = kith_proto::decode(&resp.bytes().await.unwrap()).unwrap();
                lat.push(t.elapsed());
                assert_eq!(resp.docs[0].outcome, kith_proto::Outcome::Accepted);
                have = doc.get_heads();
                cursor = Some(resp.cursor);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    println!(
        "{devices} devices x {rounds} check-in syncs: {} syncs in {secs:.2}s = {:.0}/s; p50 {:?} p99 {:?}",
        all.len(),
        all.len() as f64 / secs,
        p(0.5),
        p(0.99)
    );
}
