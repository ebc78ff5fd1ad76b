//! Asking for a document that does not exist gives `UnknownDocument` with a helpful message.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{BoxError, add_checkin};
use kith_store::{Store, StoreError};
use uuid::Uuid;

#[test]
fn unknown_document_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kith.db")).unwrap();
    let id = Uuid::new_v4();
    let err = store.doc(id).unwrap_err();
    assert!(matches!(err, StoreError::UnknownDocument { id: e } if e == id));
    let msg = err.to_string();
    assert!(msg.contains(&id.to_string()), "{msg}");
    assert!(msg.contains("sync"), "message should say what to do: {msg}");

    let err = store
        .change_doc(id, |tx| -> Result<(), StoreError> {
            add_checkin(tx, "x", 1).map_err(|_| StoreError::UnknownDocument { id })
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownDocument { .. }));
    let err: BoxError = store.change_doc(id, |tx| add_checkin(tx, "x", 1)).unwrap_err();
    assert!(err.to_string().contains("no document"), "{err}");
    assert!(matches!(store.compact(id), Err(StoreError::UnknownDocument { .. })));
    assert!(matches!(store.server_heads(id), Err(StoreError::UnknownDocument { .. })));
    assert!(matches!(store.pending_changes(id), Err(StoreError::UnknownDocument { .. })));
    assert_eq!(store.stats().unwrap().docs, 0);
}
