//! A device's feed cursor is opaque and its team's own (crate::cursor, docs/protocol.md *The
//! feed*): it does not move when another team stores changes, it carries no other team's change
//! hash nor the server-wide change count, and a cursor made up to probe the server (`{seq, hash}`:
//! "is this hash stored at this seq?", "are there this many changes?") gets the same answer
//! whatever it holds. Plain cursors handed out before sealing still work for the team's own changes.

use crate::common;
use common::*;
use kith_domain::CheckInStatus;
use kith_proto::{Cursor, SyncResponse};
use kith_server::testing::TestServer;
use serde_bytes::ByteBuf;

/// Every stored change: (seq, team, hash).
async fn stored(server: &TestServer) -> Vec<(u64, kith_domain::TeamId, Vec<u8>)> {
    let storage = server.storage();
    let mut out = Vec::new();
    for r in storage.stored_since(0, 100_000).await.unwrap() {
        let (seq, hash) = storage.change_at_or_before(r.seq).await.unwrap().unwrap();
        assert_eq!(seq, r.seq);
        out.push((r.seq, r.meta.team, hash));
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn another_teams_changes_do_not_move_or_show_in_a_cursor() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;
    lead.sync().await;
    alice.sync().await;
    let before = alice.cursor.clone().unwrap();

    // Another team gets busy.
    let (_, code) = server.create_team("South estate").await;
    let mut eve = Dev::join(&server, &code, "Eve").await;
    let eves = eve.start_shift();
    for m in 1..=5 {
        eve.checkin(eves, CheckInStatus::Ok, m);
    }
    eve.sync().await;

    alice.sync().await;
    let after = alice.cursor.clone().unwrap();
    assert_eq!(after, before, "the cursor moved because another team stored changes");
    let bytes = after.hash.clone().unwrap_or_default();
    for (seq, team, hash) in stored(&server).await {
        if team != alice.team {
            assert!(!contains(&bytes, &hash), "another team's change hash (seq {seq}) is in the cursor");
        }
    }
    // Her own team's changes move it, and she still gets everything.
    lead.sync().await;
    alice.checkin(shift, CheckInStatus::Ok, 10);
    alice.sync().await;
    assert_ne!(alice.cursor.clone().unwrap(), before);
    lead.sync().await;
    assert_eq!(lead.shift(shift).checkins.len(), 1);
}

#[tokio::test]
async fn a_made_up_cursor_gets_the_same_answer_whatever_it_holds() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    alice.sync().await;
    let (_, code) = server.create_team("South estate").await;
    let mut eve = Dev::join(&server, &code, "Eve").await;
    let eves = eve.start_shift();
    eve.checkin(eves, CheckInStatus::Ok, 1);
    eve.sync().await;
    let all = stored(&server).await;
    let (seq, _, hash) = all.iter().rfind(|(_, t, _)| *t != alice.team).unwrap().clone();

    let ask = |cursor: Cursor| {
        let mut req = alice.request(vec![]);
        req.cursor = Some(cursor);
        req
    };
    let seen = |r: SyncResponse| {
        let ids: Vec<_> = r.feed.iter().map(|f| f.id).collect();
        (ids, r.cursor, r.more, r.reset)
    };
    let probes = [
        ("another team's change at its seq", Cursor { seq, hash: Some(ByteBuf::from(hash.clone())) }),
        ("a wrong hash at that seq", Cursor { seq, hash: Some(ByteBuf::from(vec![7u8; 32])) }),
        ("a seq beyond every change", Cursor { seq: seq + 1_000, hash: Some(ByteBuf::from(vec![7u8; 32])) }),
    ];
    let mut answers = Vec::new();
    for (what, c) in probes {
        answers.push((what, seen(alice.send(&ask(c)).await)));
    }
    for (what, a) in &answers[1..] {
        assert_eq!(a, &answers[0].1, "{what} is answered unlike {}", answers[0].0);
    }
    // A sealed cursor that was tampered with is a cursor this server does not know.
    let mut token = alice.cursor.clone().unwrap().hash.unwrap().to_vec();
    let last = token.len() - 1;
    token[last] ^= 1;
    let r = alice.send(&ask(Cursor { seq: 1, hash: Some(ByteBuf::from(token)) })).await;
    assert!(r.reset);
}

#[tokio::test]
async fn a_plain_cursor_from_before_sealing_still_works_for_the_teams_own_changes() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;
    let (seq, _, hash) = stored(&server).await.into_iter().rfind(|(_, t, _)| *t == alice.team).unwrap();
    let mut req = alice.request(vec![]);
    req.cursor = Some(Cursor { seq, hash: Some(ByteBuf::from(hash)) });
    let r = alice.send(&req).await;
    assert!(!r.reset, "her own team's change at that seq: a cursor this server knows");
    assert!(r.feed.iter().all(|f| f.id != shift.uuid()), "nothing after it");
    assert_eq!(r.cursor.seq, kith_server::cursor::SEALED, "and she gets a sealed one");
}
