//! Bad input gets a clear error and changes nothing: malformed CBOR, oversize bodies, too many
//! documents, another protocol version, garbage Automerge bytes, unknown documents and another
//! team's documents; missing credentials get 401. Every error body is a JSON ApiError.

use crate::common;
use common::*;
use kith_domain::CheckInStatus;
use kith_proto::{ApiError, DocPush, Kind, Outcome, RejectCode};
use kith_server::testing::TestServer;
use serde_bytes::ByteBuf;
use uuid::Uuid;

async fn api_error(resp: reqwest::Response) -> (u16, ApiError) {
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert!(ct.starts_with("application/json"), "{status}: {ct}");
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn malformed_oversize_and_wrong_version_bodies_get_json_errors_and_store_nothing() {
    let server = TestServer::start_with(|c| {
        c.limits.max_body_bytes = 64 * 1024;
        c.limits.max_docs_per_request = 3;
    })
    .await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;
    let seq = max_seq(&server).await;

    let (status, e) = api_error(alice.post_sync(b"\xff\x00 not cbor".to_vec()).await).await;
    assert_eq!((status, e.code.as_str()), (400, "malformed_body"));
    assert!(!e.retryable);

    let (status, e) = api_error(alice.post_sync(vec![0u8; 200 * 1024]).await).await;
    assert_eq!((status, e.code.as_str()), (413, "payload_too_large"));

    let mut req = alice.request(vec![]);
    req.protocol = kith_proto::PROTOCOL_VERSION + 1;
    let (status, e) = api_error(alice.post_sync(kith_proto::encode(&req).unwrap()).await).await;
    assert_eq!((status, e.code.as_str()), (426, "protocol_version"));
    assert!(e.message.contains("update Kith"));

    let req = alice.request((0..4).map(|_| alice.push_for(shift.uuid())).collect());
    let (status, e) = api_error(alice.post_sync(kith_proto::encode(&req).unwrap()).await).await;
    assert_eq!((status, e.code.as_str()), (413, "too_many_documents"));

    let resp = http().post(server.url("/v1/sync")).body(kith_proto::encode(&req).unwrap()).send().await.unwrap();
    let (status, e) = api_error(resp).await;
    assert_eq!((status, e.code.as_str()), (401, "unauthorized"));

    let (status, e) = api_error(http().get(server.url("/v1/nowhere")).send().await.unwrap()).await;
    assert_eq!((status, e.code.as_str()), (404, "not_found"));

    assert_eq!(max_seq(&server).await, seq);
}

#[tokio::test]
async fn garbage_changes_unknown_documents_and_other_teams_documents_are_refused_per_document() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let (other_team, other_code) = server.create_team("South estate").await;
    let mut eve = Dev::join(&server, &other_code, "Eve").await;
    let eves = eve.start_shift();
    eve.checkin(eves, CheckInStatus::Ok, 3);
    eve.sync().await;
    let seq = max_seq(&server).await;

    let shift = alice.start_shift();
    let garbage = DocPush {
        id: shift.uuid(),
        kind: Kind::Shift,
        have: vec![],
        changes: vec![ByteBuf::from(b"\x85\x6f\x4a\x83garbage".to_vec())],
        heads: vec![],
        vouch: None,
        save: None,
    };
    let unknown = DocPush {
        id: Uuid::now_v7(),
        kind: Kind::Shift,
        have: vec![],
        changes: vec![],
        heads: vec![],
        vouch: None,
        save: None,
    };
    // Alice asks for Eve's shift and Eve's team document.
    let theirs = DocPush { id: eves.uuid(), ..unknown.clone() };
    let their_team = DocPush { id: other_team.uuid(), kind: Kind::Team, ..unknown.clone() };
    // And tries to write into Eve's shift with changes of her own on top of Eve's.
    let mut copy = eve.doc(eves.uuid()).fork();
    copy.set_actor(alice.actor.clone());
    alice.docs.insert(eves.uuid(), copy);
    alice.checkin(eves, CheckInStatus::Ok, 4);
    let write_theirs = alice.push_for(eves.uuid());
    let good = alice.push_for(shift.uuid());
    let resp = alice.send(&alice.request(vec![garbage, unknown, theirs, their_team, write_theirs, good])).await;
    let codes: Vec<_> = resp.docs.iter().map(|d| code_of(&d.outcome)).collect();
    assert_eq!(
        codes,
        vec![
            Some(RejectCode::Malformed),
            Some(RejectCode::UnknownDocument),
            Some(RejectCode::UnknownDocument),
            Some(RejectCode::UnknownDocument),
            // Eve's changes under Alice's: what a document that does not exist would answer
            // (nobody learns Eve's shift exists: nobody_learns_whether_a_document_...).
            Some(RejectCode::ActorNotYours),
            None
        ]
    );
    assert_eq!(resp.docs[5].outcome, Outcome::Accepted);
    let msgs: std::collections::HashSet<_> = resp.docs[1..4].iter().map(|d| format!("{:?}", d.outcome)).collect();
    assert_eq!(msgs.len(), 1, "the same answer whether a document exists elsewhere or not");
    assert!(resp.feed.iter().all(|f| f.id != eves.uuid() && f.id != other_team.uuid()));
    assert_eq!(max_seq(&server).await, seq + 1, "only the good shift was stored");
    assert_eq!(server_doc(&server, eves.uuid()).await.unwrap().get_heads(), eve.doc(eves.uuid()).get_heads());
}

#[tokio::test]
async fn a_change_with_missing_dependencies_is_refused_not_silently_queued() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.checkin(shift, CheckInStatus::Ok, 1);
    let mut push = alice.push_for(shift.uuid());
    push.changes.remove(0);
    let resp = alice.send(&alice.request(vec![push])).await;
    assert_eq!(code_of(&resp.docs[0].outcome), Some(RejectCode::MissingDeps));
    assert!(server_doc(&server, shift.uuid()).await.is_none());
}

#[tokio::test]
async fn a_shift_that_breaks_the_schema_is_invalid() {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;
    // A check-in the worker may write, but with a status no Kith client knows.
    let (member, device) = (alice.member.to_string(), alice.device.to_string());
    let doc = alice.docs.get_mut(&shift.uuid()).unwrap();
    doc.transact(|tx| {
        let checkins = tx.get(automerge::ROOT, "checkins")?.unwrap().1;
        let c = tx.put_object(&checkins, kith_domain::CheckInId::new().to_string(), automerge::ObjType::Map)?;
        tx.put(&c, "status", "dancing")?;
        tx.put(&c, "device_time", 5i64)?;
        tx.put(&c, "by", member.as_str())?;
        tx.put(&c, "device", device.as_str())
    })
    .map_err(|f| f.error)
    .unwrap();
    let resp = alice.sync_docs(&[shift.uuid()]).await;
    assert_eq!(code_of(&resp.docs[0].outcome), Some(RejectCode::Invalid), "{:?}", resp.docs[0].outcome);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn compressed_bodies_are_accepted_and_the_limit_counts_decompressed_bytes() {
    let server = TestServer::start_with(|c| c.limits.max_body_bytes = 64 * 1024).await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let body = kith_proto::encode(&alice.request(vec![alice.push_for(shift.uuid())])).unwrap();
    let send = |b: Vec<u8>| {
        alice
            .http
            .post(server.url("/v1/sync"))
            .bearer_auth(&alice.token)
            .header("content-type", kith_proto::CONTENT_TYPE)
            .header("content-encoding", "gzip")
            .body(b)
            .send()
    };
    let resp = send(gzip(&body)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let r: kith_proto::SyncResponse = kith_proto::decode(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(r.docs[0].outcome, Outcome::Accepted);

    // A small compressed body that inflates past the limit.
    let bomb = gzip(&vec![0u8; 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    let (status, e) = api_error(send(bomb).await.unwrap()).await;
    assert_eq!((status, e.code.as_str()), (413, "payload_too_large"));
}
