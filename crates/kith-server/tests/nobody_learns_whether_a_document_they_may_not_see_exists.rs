//! A document that does not exist and a document the caller may not see (a teammate's shift for a
//! member, another team's shift or team document for anyone) get the very same answer, whatever
//! the request carries (docs/protocol.md, *Visibility*): the server checks visibility first and
//! then answers as if the document did not exist. Table-driven over every way a push can reach a
//! document (nothing, a `have`, garbage changes, a garbage save, a change of another actor, a
//! change with missing dependencies, a change of one's own that is no Kith document) and the JSON
//! endpoints that take a document id.

use crate::common;
use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ChangeHash};
use common::*;
use kith_domain::{CheckInStatus, Role};
use kith_proto::{DocPush, DocReply, Kind, SyncResponse};
use kith_server::testing::TestServer;
use serde_bytes::ByteBuf;
use serde_json::json;
use uuid::Uuid;

/// One change by `actor` that writes `{"x": n}` and depends on `deps`.
fn change_by(actor: &ActorId, n: i64, deps: &[ChangeHash]) -> ByteBuf {
    let mut doc = Automerge::new().with_actor(actor.clone());
    if !deps.is_empty() {
        // A change depending on something the server never saw: build it on a fork that has it.
        let mut base = Automerge::new().with_actor(ActorId::random());
        base.transact(|tx| tx.put(automerge::ROOT, "base", 1)).unwrap();
        doc.merge(&mut base).unwrap();
    }
    doc.transact(|tx| tx.put(automerge::ROOT, "x", n)).unwrap();
    ByteBuf::from(doc.get_last_local_change().unwrap().raw_bytes().to_vec())
}

/// The changes the table pushes, made once per caller so every document gets the same bytes.
struct Fixtures {
    own: ByteBuf,
    others: ByteBuf,
    missing_deps: ByteBuf,
    missing_deps_too: ByteBuf,
}

fn fixtures(dev: &Dev) -> Fixtures {
    let mut base = Automerge::new().with_actor(ActorId::random());
    base.transact(|tx| tx.put(automerge::ROOT, "base", 1)).unwrap();
    let unknown_dep = base.get_heads();
    Fixtures {
        own: change_by(&dev.actor, 1, &[]),
        others: change_by(&ActorId::random(), 1, &[]),
        missing_deps: change_by(&dev.actor, 2, &unknown_dep),
        missing_deps_too: change_by(&dev.actor, 3, &unknown_dep),
    }
}

/// The pushes of the table, for document `id`.
fn pushes(f: &Fixtures, id: Uuid) -> Vec<(&'static str, DocPush)> {
    let some_hash = ByteBuf::from(vec![7u8; 32]);
    let push = |have: Vec<ByteBuf>, changes: Vec<ByteBuf>, save: Option<ByteBuf>| DocPush {
        id,
        kind: Kind::Shift,
        have,
        changes,
        heads: vec![],
        vouch: None,
        save,
    };
    let own = f.own.clone();
    let own_hash = ByteBuf::from(automerge::Change::from_bytes(own.to_vec()).unwrap().hash().0.to_vec());
    vec![
        ("nothing", push(vec![], vec![], None)),
        ("a have only", push(vec![some_hash.clone()], vec![], None)),
        ("heads the server lacks", DocPush { heads: vec![some_hash.clone()], ..push(vec![], vec![], None) }),
        ("garbage change bytes", push(vec![], vec![ByteBuf::from(b"not a change".to_vec())], None)),
        (
            "garbage change bytes with a have",
            push(vec![some_hash.clone()], vec![ByteBuf::from(vec![0x85, 0x6f])], None),
        ),
        ("a garbage save", push(vec![], vec![], Some(ByteBuf::from(b"not a document".to_vec())))),
        ("another actor's change", push(vec![], vec![f.others.clone()], None)),
        ("a change with missing deps", push(vec![], vec![f.missing_deps.clone()], None)),
        (
            "a change with missing deps and a have",
            push(vec![some_hash.clone()], vec![f.missing_deps_too.clone()], None),
        ),
        ("an own change that is no Kith document", push(vec![], vec![own.clone()], None)),
        ("an own change, as a team document", DocPush { kind: Kind::Team, ..push(vec![], vec![own.clone()], None) }),
        ("an own change with its heads", DocPush { heads: vec![own_hash], ..push(vec![], vec![own], None) }),
    ]
}

/// What a caller sees of one document's push: the whole reply, and the rest of the answer but
/// the time (the feed and the cursor must not differ either).
fn seen(resp: &SyncResponse) -> (DocReply, String) {
    let mut rest = resp.clone();
    rest.server_time = 0;
    let reply = rest.docs.remove(0);
    (reply, format!("{:?}", (rest.feed, rest.cursor, rest.more, rest.reset)))
}

async fn answer(dev: &Dev, push: DocPush) -> (DocReply, String) {
    let mut reply = seen(&dev.send(&dev.request(vec![push.clone()])).await);
    // The id differs by construction: compare the rest.
    reply.0.id = Uuid::nil();
    reply
}

#[tokio::test]
async fn a_push_to_a_document_one_may_not_see_is_answered_as_if_it_did_not_exist() {
    let server = TestServer::start().await;
    let (mut sam, mut alice) = team_of_two(&server).await;
    let code = server.invite(sam.team, Role::Member).await;
    let mut bob = Dev::join(&server, &code, "Bob").await;
    let bobs_shift = bob.start_shift();
    bob.checkin(bobs_shift, CheckInStatus::Ok, 5);
    bob.sync().await;
    let (other_team, code) = server.create_team("South estate").await;
    let mut zed = Dev::join(&server, &code, "Zed").await;
    let zeds_shift = zed.start_shift();
    zed.sync().await;
    alice.sync().await;
    sam.sync().await;
    let seq = max_seq(&server).await;

    // For each caller, documents that exist but that they may not see.
    let hidden_for_alice = [
        ("a teammate's shift", bobs_shift.uuid()),
        ("another team's shift", zeds_shift.uuid()),
        ("another team's team document", other_team.uuid()),
    ];
    let hidden_for_sam =
        [("another team's shift", zeds_shift.uuid()), ("another team's team document", other_team.uuid())];
    let mut compared = 0;
    for (caller, hidden) in [(&alice, &hidden_for_alice[..]), (&sam, &hidden_for_sam[..])] {
        let missing = Uuid::now_v7();
        let f = fixtures(caller);
        let expected: Vec<_> = {
            let mut v = Vec::new();
            for (what, push) in pushes(&f, missing) {
                v.push((what, answer(caller, push).await));
            }
            v
        };
        for (which, id) in hidden {
            for ((what, push), (_, want)) in pushes(&f, *id).into_iter().zip(&expected) {
                let got = answer(caller, push).await;
                assert_eq!(
                    &got, want,
                    "{} pushing {what} to {which}: not the answer for a missing document",
                    caller.name
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 5 * pushes(&fixtures(&alice), Uuid::nil()).len());
    assert_eq!(max_seq(&server).await, seq, "nothing was stored");
    // The documents are untouched.
    bob.sync().await;
    assert_eq!(bob.shift(bobs_shift).checkins.len(), 1);
}

#[tokio::test]
async fn the_json_endpoints_answer_a_hidden_document_as_a_missing_one() {
    let server = TestServer::start().await;
    let (sam, mut alice) = team_of_two(&server).await;
    let code = server.invite(sam.team, Role::Member).await;
    let mut bob = Dev::join(&server, &code, "Bob").await;
    let bobs_shift = bob.start_shift();
    let c = bob.checkin(bobs_shift, CheckInStatus::Ok, 5);
    bob.sync().await;
    let (other_team, code) = server.create_team("South estate").await;
    let mut zed = Dev::join(&server, &code, "Zed").await;
    let zeds_shift = zed.start_shift();
    let zc = zed.checkin(zeds_shift, CheckInStatus::Ok, 5);
    zed.sync().await;
    alice.sync().await;

    let missing = Uuid::now_v7();
    let cases: Vec<(&Dev, &str, Uuid, String)> = vec![
        (&alice, "a teammate's shift", bobs_shift.uuid(), c.to_string()),
        (&alice, "another team's shift", zeds_shift.uuid(), zc.to_string()),
        (&alice, "another team's team document", other_team.uuid(), zc.to_string()),
        (&alice, "her own team's document", alice.team.uuid(), zc.to_string()),
        (&sam, "another team's shift", zeds_shift.uuid(), zc.to_string()),
        (&sam, "another team's team document", other_team.uuid(), zc.to_string()),
    ];
    for (dev, which, id, checkin) in cases {
        let (want_status, want) = dev.get_json(&format!("/v1/shifts/{missing}")).await;
        let (status, got) = dev.get_json(&format!("/v1/shifts/{id}")).await;
        assert_eq!((status, &got), (want_status, &want), "{} reading {which}", dev.name);
        assert_eq!(status, 404);
        let ack = |doc: Uuid| format!("/v1/shifts/{doc}/checkins/{checkin}/ack");
        let want = dev.post_json(&ack(missing), json!({})).await;
        let want = (want.status(), want.text().await.unwrap());
        let got = dev.post_json(&ack(id), json!({})).await;
        let got = (got.status(), got.text().await.unwrap());
        assert_eq!(got, want, "{} acknowledging in {which}", dev.name);
    }
}
