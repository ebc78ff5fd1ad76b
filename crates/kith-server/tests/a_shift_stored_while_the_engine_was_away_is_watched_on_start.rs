//! The deadline engine decides from what is stored, not from what it was told: a shift stored
//! with no tracking row (by another process on the same database, or a server from before
//! tracking existed) while no engine was running is watched as soon as one starts. Its emergency
//! raises its alert then, and the board shows it.

use crate::common;
use automerge::ReadDoc;
use common::*;
use kith_domain::{CheckInStatus, Role, Secs};
use kith_proto::Kind;
use kith_server::storage::{AppendChanges, DocMeta, NewChange};
use kith_server::testing::TestServer;

const MIN: i64 = 60_000;

#[tokio::test]
async fn an_emergency_stored_behind_the_servers_back_raises_its_alert_on_start() {
    let mut server = TestServer::start_manual().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    lead.sync().await;
    let now = alice.device_now();
    let s = alice.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(30), vec![]);
    let c = alice.checkin_at(s, CheckInStatus::Emergency, now + MIN);
    let doc = alice.doc(s.uuid());
    assert!(doc.get(automerge::ROOT, "checkins").unwrap().is_some());

    // The server is down; its database gets the shift from elsewhere, with no tracking row.
    server.stop().await;
    let storage = server.open_another().await;
    let changes = doc
        .get_changes(&[])
        .iter()
        .map(|ch| NewChange {
            hash: ch.hash().0.to_vec(),
            bytes: ch.raw_bytes().to_vec(),
            actor: ch.actor_id().to_bytes().to_vec(),
            device: Some(alice.device),
        })
        .collect();
    let meta = DocMeta { id: s.uuid(), team, kind: Kind::Shift, owner: Some(alice.member) };
    storage.append_changes(AppendChanges { meta, create: true, changes, received_at: now + MIN }).await.unwrap();
    storage.close().await;

    server.start_again().await;
    lead.reconnect(&server);
    let (_, alerts) = lead.get_json("/v1/alerts").await;
    let a = &alerts["alerts"][0];
    assert_eq!(
        (a["kind"].as_str(), a["checkin"].as_str()),
        (Some("emergency"), Some(c.to_string().as_str())),
        "{alerts}"
    );
    let (_, board) = lead.get_json("/v1/board").await;
    let row = board["rows"].as_array().unwrap().iter().find(|r| r["name"] == "Alice").unwrap();
    assert_eq!(row["status"], "emergency", "{row}");
}
