//! Protocol 2 on the device side: a document the server has not seen is pushed as one compact
//! `save()` rather than change by change, later changes go as changes, and request bodies over
//! 1 KiB are gzip-compressed.
#![allow(clippy::unwrap_used)]

use std::io::Read;

use automerge::Automerge;
use kith_domain::doc::shift;
use kith_domain::*;
use kith_store::Store;

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

fn store_with_a_shift(checkins: usize) -> (tempfile::TempDir, Store, ShiftId) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kith.db")).unwrap();
    let s = Shift::begin(TeamId::new(), MemberId::new(), "rounds", T0, T0 + Secs::hours(8), Secs::minutes(30));
    store.create_doc(s.id.uuid(), "shift", |tx| shift::init(tx, &s).map_err(Failed::from)).unwrap();
    for i in 0..checkins {
        let c = CheckIn::new(CheckInStatus::Ok, T0 + Secs::minutes(i as i64), s.worker, DeviceId::new());
        store.change_doc(s.id.uuid(), |tx| shift::add_checkin(tx, &c).map_err(Failed::from)).unwrap();
    }
    (dir, store, s.id)
}

#[test]
fn a_document_the_server_has_not_seen_goes_as_one_save_and_later_changes_as_changes() {
    let (_dir, mut store, id) = store_with_a_shift(10);
    let req = kith_sync::prepare(&mut store, 0).unwrap();
    assert_eq!(req.protocol, kith_proto::PROTOCOL_VERSION);
    let push = &req.docs[0];
    assert!(push.changes.is_empty() && push.have.is_empty());
    let saved = Automerge::load(push.save.as_ref().expect("a save")).unwrap();
    let local = store.doc(id.uuid()).unwrap();
    assert_eq!(saved.get_heads(), local.get_heads());
    let each: usize = local.get_changes(&[]).iter().map(|c| c.raw_bytes().len()).sum();
    assert!(push.save.as_ref().unwrap().len() < each, "smaller than its changes one by one");

    // Once the server has it, only what it lacks goes, as changes.
    let heads = store.doc(id.uuid()).unwrap().get_heads();
    store.set_server_heads(id.uuid(), &heads).unwrap();
    let c = CheckIn::new(CheckInStatus::Ok, T0 + Secs::hours(1), MemberId::new(), DeviceId::new());
    store.change_doc(id.uuid(), |tx| shift::add_checkin(tx, &c).map_err(Failed::from)).unwrap();
    let req = kith_sync::prepare(&mut store, 0).unwrap();
    assert!(req.docs[0].save.is_none());
    assert_eq!(req.docs[0].changes.len(), 1);
}

#[test]
fn request_bodies_over_a_kibibyte_are_gzipped() {
    assert!(kith_sync::engine::gzip_body(&[7u8; 1000]).is_none(), "small bodies go as they are");
    let (_dir, mut store, _) = store_with_a_shift(40);
    let body = kith_proto::encode(&kith_sync::prepare(&mut store, 0).unwrap()).unwrap();
    assert!(body.len() > kith_sync::engine::GZIP_ABOVE_BYTES);
    let gz = kith_sync::engine::gzip_body(&body).expect("compressed");
    assert!(gz.len() < body.len());
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
    assert_eq!(back, body);
}
