//! The engine's classification of the server's per-document refusals (docs/protocol.md): a
//! retryable one (`Busy`: the server's storage is full or failing) leaves the document queued, so
//! the next sync pushes it again with no new local change; only a permanent one parks it until
//! the next local change. Whatever the verdict, the server's side of the document that comes with
//! a refusal (a lead's reply) is taken.
#![allow(clippy::unwrap_used)]

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge};
use kith_domain::doc::shift;
use kith_domain::*;
use kith_proto::{Cursor, DocReply, Outcome, PROTOCOL_VERSION, RejectCode, SyncResponse};
use kith_store::Store;
use serde_bytes::ByteBuf;
use uuid::Uuid;

const T0: Timestamp = Timestamp(1_800_000_000_000);

#[derive(Debug)]
#[allow(dead_code)]
enum Failed {
    Store(kith_store::StoreError),
    Domain(DomainError),
}

impl From<kith_store::StoreError> for Failed {
    fn from(e: kith_store::StoreError) -> Self {
        Failed::Store(e)
    }
}

impl From<DomainError> for Failed {
    fn from(e: DomainError) -> Self {
        Failed::Domain(e)
    }
}

fn new_shift(store: &mut Store, status: CheckInStatus) -> Uuid {
    let s = Shift::begin(TeamId::new(), MemberId::new(), "rounds", T0, T0 + Secs::hours(8), Secs::minutes(30));
    store.create_doc(s.id.uuid(), "shift", |tx| shift::init(tx, &s).map_err(Failed::from)).unwrap();
    let c = CheckIn::new(status, T0 + Secs::minutes(5), s.worker, DeviceId::new());
    store.change_doc(s.id.uuid(), |tx| shift::add_checkin(tx, &c).map_err(Failed::from)).unwrap();
    s.id.uuid()
}

fn refused(id: Uuid, code: RejectCode) -> DocReply {
    DocReply {
        id,
        outcome: Outcome::Rejected { code, message: format!("{code:?} for a test.") },
        data: vec![],
        heads: vec![],
        receipt: None,
    }
}

fn response(docs: Vec<DocReply>) -> SyncResponse {
    SyncResponse {
        protocol: PROTOCOL_VERSION,
        server_time: T0.0,
        docs,
        feed: vec![],
        cursor: Cursor::default(),
        more: false,
        reset: false,
    }
}

fn pushed(store: &mut Store) -> Vec<Uuid> {
    kith_sync::prepare(store, T0.0).unwrap().docs.iter().map(|d| d.id).collect()
}

#[test]
fn a_busy_document_stays_queued_and_a_forbidden_one_is_parked_until_a_new_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kith.db")).unwrap();
    let emergency = new_shift(&mut store, CheckInStatus::Emergency);
    let forged = new_shift(&mut store, CheckInStatus::Ok);

    let req = kith_sync::prepare(&mut store, T0.0).unwrap();
    assert_eq!(req.docs.len(), 2);
    let resp = response(vec![refused(emergency, RejectCode::Busy), refused(forged, RejectCode::Forbidden)]);
    let out = kith_sync::absorb(&mut store, &req, &resp, T0.0, T0.0).unwrap();

    assert_eq!(out.retrying.iter().map(|r| r.0).collect::<Vec<_>>(), vec![emergency], "refused for now");
    assert_eq!(out.rejected.iter().map(|r| r.0).collect::<Vec<_>>(), vec![forged], "refused for good");
    assert!(!out.again, "a refusal for now waits for the next sync (the runner's backoff), no hot loop");

    // The next sync pushes the emergency again with no new change; the forged one stays parked.
    assert_eq!(pushed(&mut store), vec![emergency]);
    assert_eq!(kith_sync::engine::pending_change_count(&mut store).unwrap(), 4, "nothing was dropped");
    assert!(!kith_sync::engine::rejected_docs(&store).unwrap().contains_key(&emergency));

    // A new local change makes the parked document eligible again.
    let c = CheckIn::new(CheckInStatus::Ok, T0 + Secs::minutes(9), MemberId::new(), DeviceId::new());
    store.change_doc(forged, |tx| shift::add_checkin(tx, &c).map_err(Failed::from)).unwrap();
    let mut now = pushed(&mut store);
    now.sort();
    let mut both = vec![emergency, forged];
    both.sort();
    assert_eq!(now, both);
}

#[test]
fn a_busy_document_parked_by_an_older_version_is_pushed_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kith.db")).unwrap();
    let emergency = new_shift(&mut store, CheckInStatus::Emergency);
    // What a device of the previous version wrote after a `Busy`: parked at its current heads.
    let heads: Vec<String> = store.doc(emergency).unwrap().get_heads().iter().map(ToString::to_string).collect();
    let parked = serde_json::json!({ emergency.to_string(): { "heads": heads, "code": "busy", "message": "full" } });
    store.meta_set("sync.rejected", &parked.to_string()).unwrap();
    assert_eq!(pushed(&mut store), vec![emergency]);
}

#[test]
fn every_refusal_code_but_busy_is_for_good() {
    use RejectCode::*;
    for code in [Malformed, MissingDeps, UnknownDocument, Forbidden, ActorNotYours, Invalid, TooLarge] {
        assert!(!code.retryable(), "{code:?}");
    }
    assert!(Busy.retryable());
}

#[test]
fn a_refusal_brings_the_servers_side_of_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kith.db")).unwrap();
    let id = new_shift(&mut store, CheckInStatus::Support);
    // The server has the shift as it was, plus a lead's change the device has not seen.
    let base = store.doc(id).unwrap().get_heads();
    store.set_server_heads(id, &base).unwrap();
    let mut server = store.doc(id).unwrap().fork().with_actor(ActorId::random());
    server
        .transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put(automerge::ROOT, "lead_was_here", true)?;
            Ok(())
        })
        .unwrap();
    let lead_change = server.get_changes(&base).iter().map(|c| c.raw_bytes().to_vec()).collect::<Vec<_>>().concat();
    // The worker's own new change, which the server is about to refuse for now.
    let c = CheckIn::new(CheckInStatus::Emergency, T0 + Secs::minutes(20), MemberId::new(), DeviceId::new());
    store.change_doc(id, |tx| shift::add_checkin(tx, &c).map_err(Failed::from)).unwrap();

    let req = kith_sync::prepare(&mut store, T0.0).unwrap();
    let mut reply = refused(id, RejectCode::Busy);
    reply.data = vec![ByteBuf::from(lead_change)];
    reply.heads = server.get_heads().iter().map(|h| ByteBuf::from(h.0.to_vec())).collect();
    let out = kith_sync::absorb(&mut store, &req, &response(vec![reply]), T0.0, T0.0).unwrap();

    assert_eq!(out.received, vec![id]);
    let doc: &Automerge = store.doc(id).unwrap();
    assert!(automerge::ReadDoc::get(doc, automerge::ROOT, "lead_was_here").unwrap().is_some());
    // Still queued: exactly the worker's refused change, pushed again at the next sync.
    assert_eq!(store.pending_changes(id).unwrap().len(), 1);
    assert_eq!(pushed(&mut store), vec![id]);
}
