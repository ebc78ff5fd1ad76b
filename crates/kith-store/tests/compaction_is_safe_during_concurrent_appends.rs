//! Compaction on one connection while other connections append to the same document loses
//! nothing: appended chunks are never deleted by a compaction that did not include them.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{add_checkin, checkin_ids, no_background, shift_with_checkins};
use kith_store::Store;

#[test]
fn compaction_concurrent_with_appends_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut writer = Store::open_with(&path, no_background()).unwrap();
    let id = shift_with_checkins(&mut writer, 5);
    let done = Arc::new(AtomicBool::new(false));

    let compactor = {
        let path = path.clone();
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut store = Store::open_with(&path, no_background()).unwrap();
            let mut compactions = 0;
            while !done.load(Ordering::SeqCst) {
                if store.compact(id).unwrap() {
                    compactions += 1;
                }
            }
            compactions
        })
    };
    let second_writer = {
        let path = path.clone();
        std::thread::spawn(move || {
            let mut store = Store::open_with(&path, no_background()).unwrap();
            for i in 0..100 {
                store.change_doc(id, |tx| add_checkin(tx, &format!("w2-{i}"), i)).unwrap();
            }
        })
    };
    for i in 0..100 {
        writer.change_doc(id, |tx| add_checkin(tx, &format!("w1-{i}"), i)).unwrap();
    }
    second_writer.join().unwrap();
    done.store(true, Ordering::SeqCst);
    let compactions = compactor.join().unwrap();
    eprintln!("{compactions} compactions ran during the appends");

    let expected_heads = writer.doc(id).unwrap().get_heads();
    drop(writer);
    let mut store = Store::open_with(&path, no_background()).unwrap();
    let doc = store.doc(id).unwrap();
    assert_eq!(checkin_ids(doc).len(), 205);
    assert_eq!(doc.get_heads(), expected_heads);
    store.compact(id).unwrap();
    drop(store);
    let mut store = Store::open_with(&path, no_background()).unwrap();
    assert_eq!(checkin_ids(store.doc(id).unwrap()).len(), 205);
}
