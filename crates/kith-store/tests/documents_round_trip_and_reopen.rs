//! A document written, closed and reopened reads back identical; failed edits write nothing;
//! the device actor id is generated once, persisted and used for every change.
#![allow(clippy::unwrap_used)]

use crate::common;

use automerge::ROOT;
use automerge::transaction::Transactable;
use common::{BoxError, add_checkin, checkin_ids, no_background, shift_with_checkins};
use kith_store::{Store, StoreError};
use uuid::Uuid;

#[test]
fn round_trip_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open_with(&path, no_background()).unwrap();
    let id = shift_with_checkins(&mut store, 25);
    let team = Uuid::new_v4();
    store
        .create_doc(team, "team", |tx| -> Result<(), BoxError> {
            tx.put(ROOT, "name", "North")?;
            Ok(())
        })
        .unwrap();
    let saved = store.doc(id).unwrap().save();
    let heads = store.doc(id).unwrap().get_heads();
    let actor = store.actor_id().clone();
    store.close().unwrap();

    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.actor_id(), &actor, "actor id must be persisted");
    let doc = store.doc(id).unwrap();
    assert_eq!(doc.get_heads(), heads);
    assert_eq!(doc.save(), saved);
    assert_eq!(checkin_ids(doc).len(), 25);
    for change in doc.get_changes(&[]) {
        assert_eq!(change.actor_id(), &actor, "every change uses the device actor");
    }
    assert!(store.has_doc(id).unwrap());
    assert!(!store.has_doc(Uuid::new_v4()).unwrap());
    let shifts = store.list_docs(Some("shift")).unwrap();
    assert_eq!(shifts.len(), 1);
    assert_eq!(shifts[0].id, id);
    assert_eq!(store.list_docs(None).unwrap().len(), 2);
    assert_eq!(store.doc_kind(team).unwrap(), "team");

    // Changes after reopening continue the same actor's sequence.
    store.change_doc(id, |tx| add_checkin(tx, "after-reopen", 99)).unwrap();
    assert_eq!(checkin_ids(store.doc(id).unwrap()).len(), 26);
}

#[test]
fn failed_edit_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open_with(&path, no_background()).unwrap();
    let id = shift_with_checkins(&mut store, 3);
    let before = store.stats().unwrap();
    let heads = store.doc(id).unwrap().get_heads();
    let result: Result<(), BoxError> = store.change_doc(id, |tx| {
        add_checkin(tx, "doomed", 1)?;
        Err("validation failed".into())
    });
    assert!(result.is_err());
    assert_eq!(store.stats().unwrap().chunk_count, before.chunk_count);
    assert_eq!(store.doc(id).unwrap().get_heads(), heads);
    assert!(!checkin_ids(store.doc(id).unwrap()).contains(&"doomed".to_string()));

    // A failed create leaves no document behind.
    let other = Uuid::new_v4();
    let result: Result<(), BoxError> = store.create_doc(other, "shift", |_| Err("no".into()));
    assert!(result.is_err());
    assert!(!store.has_doc(other).unwrap());

    // Creating an existing id is refused.
    let err = store.create_doc(id, "shift", |_| Ok::<_, StoreError>(())).unwrap_err();
    assert!(matches!(err, StoreError::DocumentExists { .. }), "{err}");
}

#[test]
fn meta_values_persist_and_store_keys_are_reserved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.meta_get("profile").unwrap(), None);
    store.meta_set("profile", r#"{"name":"Ann"}"#).unwrap();
    store.meta_set("profile", r#"{"name":"Ann B"}"#).unwrap();
    let err = store.meta_set("store.actor_id", "00").unwrap_err();
    assert!(matches!(err, StoreError::ReservedKey { .. }), "{err}");
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.meta_get("profile").unwrap().as_deref(), Some(r#"{"name":"Ann B"}"#));
}

#[test]
fn each_store_has_its_own_actor() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(dir.path().join("a.db")).unwrap();
    let b = Store::open(dir.path().join("b.db")).unwrap();
    assert_ne!(a.actor_id(), b.actor_id());
}

#[test]
fn store_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Store>();
}
