//! A file that is not a Kith store (random bytes, another program's SQLite database, a Kith
//! store from a newer version) is refused with a clear error naming the file, and is left
//! byte-for-byte unchanged.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use kith_store::{KITH_APPLICATION_ID, SCHEMA_VERSION, Store, StoreError};

fn assert_refused_unchanged(path: &Path, check: impl Fn(&StoreError) -> bool) {
    let before = std::fs::read(path).unwrap();
    for _ in 0..2 {
        let err = Store::open(path).unwrap_err();
        assert!(check(&err), "unexpected error: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "names the file: {msg}");
        assert!(msg.contains("did not change it"), "says it is untouched: {msg}");
        assert_eq!(std::fs::read(path).unwrap(), before, "file was modified");
    }
}

#[test]
fn random_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    std::fs::write(&path, b"this is my shopping list, not a database\n".repeat(200)).unwrap();
    assert_refused_unchanged(&path, |e| matches!(e, StoreError::NotADatabase { .. }));
}

#[test]
fn damaged_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    // A valid SQLite header followed by garbage.
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend((0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&path, bytes).unwrap();
    assert_refused_unchanged(&path, |e| matches!(e, StoreError::NotADatabase { .. }));
}

#[test]
fn another_programs_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');").unwrap();
    }
    assert_refused_unchanged(&path, |e| matches!(e, StoreError::ForeignDatabase { .. }));

    let other = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&other).unwrap();
        conn.execute_batch("PRAGMA application_id = 1234; PRAGMA user_version = 1;").unwrap();
    }
    assert_refused_unchanged(&other, |e| matches!(e, StoreError::ForeignDatabase { .. }));
    let message = Store::open(&other).unwrap_err().to_string();
    assert!(message.contains("--data-dir"), "{message}");
}

#[test]
fn store_from_a_newer_kith_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    Store::open(&path).unwrap().close().unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).unwrap();
        assert_eq!(app_id, KITH_APPLICATION_ID);
        conn.execute_batch(&format!("PRAGMA user_version = {}; PRAGMA wal_checkpoint(TRUNCATE);", SCHEMA_VERSION + 1))
            .unwrap();
    }
    assert_refused_unchanged(
        &path,
        |e| matches!(e, StoreError::NewerSchema { found, .. } if *found == SCHEMA_VERSION + 1),
    );
}

#[test]
fn empty_file_and_missing_file_become_stores() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    Store::open(&empty).unwrap().close().unwrap();
    Store::open(&empty).unwrap().close().unwrap();
    let missing = dir.path().join("new.db");
    Store::open(&missing).unwrap().close().unwrap();
    let conn = rusqlite::Connection::open(&missing).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).unwrap();
    assert_eq!(app_id, KITH_APPLICATION_ID);
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/kith.db");
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("directory exists"), "{err}");
}
