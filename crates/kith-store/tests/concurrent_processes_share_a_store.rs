//! Two stores on the same file (as the app and the CLI would be) see each other's writes and
//! never produce two changes with the same actor sequence number.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{add_checkin, checkin_ids, no_background, shift_with_checkins};
use kith_store::Store;

#[test]
fn interleaved_writers_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut app = Store::open_with(&path, no_background()).unwrap();
    let mut cli = Store::open_with(&path, no_background()).unwrap();
    assert_eq!(app.actor_id(), cli.actor_id(), "one device, one actor");
    let id = shift_with_checkins(&mut app, 2);
    for i in 0..20 {
        let store = if i % 3 == 0 { &mut cli } else { &mut app };
        store.change_doc(id, |tx| add_checkin(tx, &format!("x{i}"), i)).unwrap();
    }
    assert_eq!(checkin_ids(app.doc(id).unwrap()).len(), 22);
    assert_eq!(checkin_ids(cli.doc(id).unwrap()).len(), 22);
    assert_eq!(app.doc(id).unwrap().get_heads(), cli.doc(id).unwrap().get_heads());
    // Sequence numbers of the device actor are 1..=n without gaps or duplicates.
    let mut seqs: Vec<u64> = app.doc(id).unwrap().get_changes(&[]).iter().map(|c| c.seq()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=23).collect::<Vec<u64>>());
    // A document created by one is listed by the other.
    let other = shift_with_checkins(&mut cli, 1);
    assert!(app.has_doc(other).unwrap());
    assert_eq!(checkin_ids(app.doc(other).unwrap()).len(), 1);
}

#[test]
fn parallel_writers_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut first = Store::open_with(&path, no_background()).unwrap();
    let id = shift_with_checkins(&mut first, 1);
    drop(first);
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&path).unwrap();
                for i in 0..40 {
                    store.change_doc(id, |tx| add_checkin(tx, &format!("t{t}-{i}"), i)).unwrap();
                }
                store.close().unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut store = Store::open_with(&path, no_background()).unwrap();
    let doc = store.doc(id).unwrap();
    assert_eq!(checkin_ids(doc).len(), 121);
    assert_eq!(doc.get_changes(&[]).len(), 1 + 1 + 120);
}
