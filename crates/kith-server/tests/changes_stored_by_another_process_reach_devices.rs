//! The server answers the feed of a device that syncs regularly from memory (the latest stored
//! changes). Changes stored by another process on the same database file (as
//! `kith-server admin create-team` does) are not in that memory: the feed must still bring every
//! one of them, later if not at once, and never move a cursor past one it did not deliver.

use crate::common;
use automerge::Automerge;
use common::*;
use kith_domain::doc::shift;
use kith_domain::{CheckInStatus, Secs, Shift};
use kith_proto::Kind;
use kith_server::storage::{AppendChanges, DocMeta, NewChange};
use kith_server::testing::TestServer;

/// The server-wide seq a device's (sealed) cursor stands for.
fn position(server: &TestServer, dev: &Dev) -> u64 {
    match server.app().sync.cursor_key.open(dev.team, dev.cursor.as_ref()) {
        kith_server::cursor::Position::At { seq, .. } => seq,
        other => panic!("not a cursor of this server: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shift_stored_by_another_process_reaches_the_lead() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let first = alice.start_shift();
    alice.sync().await;
    lead.sync().await;
    let cursor_before = position(&server, &lead);

    // Another process stores a new shift of alice's (a valid document, her own actor).
    let s = Shift::begin(alice.team, alice.member, "written elsewhere", t0(), t0() + Secs::hours(8), Secs::minutes(30));
    let mut doc = Automerge::new().with_actor(alice.actor.clone());
    doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
    let change = doc.get_last_local_change().unwrap().clone();
    let other = server.open_another().await;
    other
        .append_changes(AppendChanges {
            meta: DocMeta { id: s.id.uuid(), team: alice.team, kind: Kind::Shift, owner: Some(alice.member) },
            create: true,
            changes: vec![NewChange {
                hash: change.hash().0.to_vec(),
                bytes: change.raw_bytes().to_vec(),
                actor: alice.actor.to_bytes().to_vec(),
                device: Some(alice.device),
            }],
            received_at: 0,
        })
        .await
        .unwrap();
    let foreign_seq = other.max_seq().await.unwrap();
    other.close().await;
    assert!(foreign_seq > cursor_before);

    // The lead may not see it at once, but its cursor never passes it undelivered...
    lead.sync().await;
    let c = position(&server, &lead);
    assert!(lead.docs.contains_key(&s.id.uuid()) || c < foreign_seq, "cursor {c} skipped seq {foreign_seq}");
    // ...and once the server stores anything, it reads the feed from the database again.
    alice.checkin(first, CheckInStatus::Ok, 3);
    alice.sync().await;
    lead.sync().await;
    let got = lead.docs.get(&s.id.uuid()).expect("the shift stored by the other process reached the lead");
    assert_eq!(got.get_heads(), doc.get_heads());
    assert_eq!(lead.shift(first).checkins.len(), 1);
    assert!(position(&server, &lead) > foreign_seq);
}
