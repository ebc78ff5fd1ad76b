//! The app on a data directory copied from another device (the store file without the
//! credential, which lives in the keychain or a private file): everything on the device still
//! opens and saves, nothing can reach the server, and the sync state says the device must join
//! again, instead of syncing with another device's credential.

use crate::common;

use common::Team;
use kith_client::credential::Keep;
use kith_client::{CheckInInput, Client, ClientOptions};
use kith_domain::CheckInStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_copied_without_its_credential_asks_to_join_again() {
    let t = Team::new().await;
    let copy = tempfile::tempdir().unwrap();
    let dir = copy.path().join("kith");
    std::fs::create_dir_all(&dir).unwrap();
    t.worker.client.sync_now().await.unwrap();
    // The store as a backup or a copy carries it: the database and its write-ahead log (the app
    // is running), not the credential.
    for name in ["kith.db", "kith.db-wal"] {
        let from = t.worker.dir.path().join("kith").join(name);
        if from.exists() {
            std::fs::copy(from, dir.join(name)).unwrap();
        }
    }

    let c = Client::open_with(&dir, ClientOptions { keep: Keep::FileOnly, ..ClientOptions::default() }).await.unwrap();
    let state = c.state().await.unwrap();
    assert!(state.joined, "the profile and documents are still here");
    assert!(state.sync.needs_attention && !state.sync.online, "{:?}", state.sync);
    let why = state.sync.last_error.unwrap_or_default();
    assert!(why.contains("not on this computer") && why.contains("join again"), "{why}");

    let e = c.sync_now().await.unwrap_err();
    assert_eq!(e.code(), "credential_missing");
    assert!(!e.retryable());

    let saved = c
        .check_in(CheckInInput {
            status: CheckInStatus::Support,
            mood: None,
            confidence: None,
            note: None,
            note_visibility: None,
            lat: None,
            lon: None,
        })
        .await
        .expect("saved on the device all the same");
    assert!(!saved.shared);
    assert!(saved.queued.is_some_and(|q| q.contains("join again")));
}
