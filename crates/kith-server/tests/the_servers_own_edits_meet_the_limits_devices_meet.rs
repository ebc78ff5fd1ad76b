//! What the server writes into documents itself (`DocService::server_edit`: a member added at
//! join, an admin's edit) and on a browser's behalf (`DocService::edit_as`: a lead's console edit,
//! an acknowledgement) is held to the same write schema and size caps as a pushed change: a field
//! nobody knows, text with control characters or over its limit, or a document grown past its
//! kind's cap is refused with a message that says why, and nothing is stored.

use crate::common;
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use common::*;
use kith_domain::{CheckInStatus, DomainError, limits};
use kith_server::docs::EditError;
use kith_server::testing::TestServer;
use serde_json::json;
use uuid::Uuid;

async fn stored_heads(server: &TestServer, id: Uuid) -> Vec<automerge::ChangeHash> {
    server_doc(server, id).await.unwrap().get_heads()
}

/// A server edit that must be refused as invalid, storing nothing; returns the message.
async fn refused_edit(
    server: &TestServer,
    id: Uuid,
    edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), DomainError>,
) -> String {
    let (heads, seq) = (stored_heads(server, id).await, max_seq(server).await);
    let e = server.app().docs.server_edit(id, edit, server.now()).await.expect_err("the edit is refused");
    assert_eq!((stored_heads(server, id).await, max_seq(server).await), (heads, seq), "nothing was stored");
    match e {
        EditError::Domain(d) => d.to_string(),
        e => panic!("expected an invalid edit, got {e:?}"),
    }
}

#[tokio::test]
async fn the_servers_own_edits_write_only_known_fields_within_their_limits() {
    let server = TestServer::start().await;
    let (team, code) = server.create_team("North estate").await;
    let sam = Dev::join(&server, &code, "Sam").await;
    let id = team.uuid();

    let m = refused_edit(&server, id, |tx| Ok(tx.put(ROOT, "motto", "be safe")?)).await;
    assert!(m.contains("'motto' of a team document is not a field"), "{m}");
    let member = sam.member.to_string();
    let m = refused_edit(&server, id, |tx| {
        let members = tx.get(ROOT, "members")?.unwrap().1;
        let me = tx.get(&members, member.as_str())?.unwrap().1;
        tx.put(&me, "name", "Sam\u{1b}[2J")?;
        Ok(())
    })
    .await;
    assert!(m.contains("control character"), "{m}");
    let long = "x".repeat(limits::TEAM_PURPOSE.max_chars + 1);
    let m = refused_edit(&server, id, |tx| Ok(tx.put(ROOT, "purpose", long.as_str())?)).await;
    assert!(m.contains("too long"), "{m}");

    // A server edit within the limits is stored.
    let ok = server.app().docs.server_edit(id, |tx| Ok(tx.put(ROOT, "purpose", "Safe visits")?), server.now()).await;
    assert!(ok.unwrap().is_some());
}

#[tokio::test]
async fn a_team_document_at_its_cap_takes_no_more_edits_from_the_server_or_the_console() {
    let server = TestServer::start_with(|c| c.limits.max_team_doc_bytes = 6 * 1024).await;
    let (team, code) = server.create_team("North estate").await;
    let sam = Dev::join(&server, &code, "Sam").await;
    let id = team.uuid();
    // Purposes that do not compress, each as long as a purpose may be.
    let mut seed = 11u64;
    let mut noise = || {
        (0..limits::TEAM_PURPOSE.max_chars)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                char::from(b'a' + ((seed >> 33) % 26) as u8)
            })
            .collect::<String>()
    };
    let mut stored = 0;
    let message = loop {
        let purpose = noise();
        let (heads, seq) = (stored_heads(&server, id).await, max_seq(&server).await);
        match server.app().docs.server_edit(id, |tx| Ok(tx.put(ROOT, "purpose", purpose.as_str())?), server.now()).await
        {
            Ok(_) => stored += 1,
            Err(EditError::Domain(e)) => {
                assert_eq!((stored_heads(&server, id).await, max_seq(&server).await), (heads, seq), "nothing stored");
                break e.to_string();
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert!(stored < 100, "the cap was never reached");
    };
    assert!(message.contains("max_team_doc_bytes"), "{message}");
    assert!(stored >= 3, "a few edits fit: {stored}");

    // A lead's edits from the console fill what is left, then are refused the same way.
    let mut edits = 0;
    loop {
        let seq = max_seq(&server).await;
        let phone = format!("+44 20 7946 {:04}", edits);
        let r = sam.put_json(&format!("/v1/members/{}", sam.member), json!({"phone": phone})).await;
        if r.status() == 200 {
            edits += 1;
            assert!(edits < 200, "the cap was never reached");
            continue;
        }
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("team document would grow"), "{body}");
        assert_eq!(max_seq(&server).await, seq, "nothing was stored");
        break;
    }
}

#[tokio::test]
async fn a_shift_at_its_cap_takes_no_acknowledgement_from_the_browser() {
    let server = TestServer::start_with(|c| c.limits.max_shift_doc_bytes = 12 * 1024).await;
    let (sam, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let checkin = alice.checkin(shift, CheckInStatus::Support, 5);
    alice.sync().await;
    // Replies that do not compress, each as long as a reply may be.
    let mut seed = 5u64;
    let mut acks = 0;
    loop {
        let reply: String = (0..limits::ACK_REPLY.max_chars)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                char::from(b'a' + ((seed >> 33) % 26) as u8)
            })
            .collect();
        let seq = max_seq(&server).await;
        let path = format!("/v1/shifts/{}/checkins/{checkin}/ack", shift.uuid());
        let r = sam.post_json(&path, json!({ "reply": reply })).await;
        if r.status() == 200 {
            acks += 1;
            assert!(acks < 20, "the cap was never reached");
            continue;
        }
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("shift document would grow"), "{body}");
        assert_eq!(max_seq(&server).await, seq, "nothing was stored");
        break;
    }
    assert!(acks >= 2, "a few acknowledgements fit: {acks}");
}
