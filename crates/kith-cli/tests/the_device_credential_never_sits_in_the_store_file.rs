//! The device's bearer token is kept out of the store file (docs/security.md, "Devices and
//! credentials"): in the system keychain where one is reachable, else in a file only the user can
//! read. Here no keychain is reachable (as in CI), so the file is used; a store written by an
//! older Kith is migrated and its copy of the token erased; a store copied to another computer
//! without its credential says the device must join again.

use crate::with_server;

use std::path::Path;

use with_server::{Device, Team};

/// Every byte of the store: the database file and its write-ahead log, if any.
fn store_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["kith.db", "kith.db-wal", "kith.db-journal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            all.extend(b);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn credential_file(dir: &Path) -> String {
    let path = dir.join(kith_client::credential::FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("the credential file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by its owner only: {mode:o}");
    }
    std::fs::read_to_string(path).expect("the credential file").trim().to_string()
}

#[test]
fn joining_keeps_the_credential_in_a_private_file_and_out_of_the_store() {
    let t = Team::new();
    for (device, join) in [(&t.lead, &t.lead_join), (&t.worker, &t.worker_join)] {
        let dir = device.data_dir();
        let token = credential_file(&dir);
        assert!(token.len() >= 40, "a real token: {token:?}");
        assert!(!contains(&store_bytes(&dir), token.as_bytes()), "the token is in the store file");
        assert_eq!(join["synced"], true, "{join}");
    }
    let text = t.worker.ok(&["sync"]);
    assert!(text.contains("Synced with"), "the credential from the file works: {text}");
}

#[test]
fn a_store_from_an_older_kith_is_migrated_and_its_copy_of_the_token_erased() {
    let t = Team::new();
    let dir = t.worker.data_dir();
    let token = credential_file(&dir);
    // What an older Kith wrote: the token inside the store's `server` row, no credential file.
    {
        let mut store = kith_store::Store::open(dir.join("kith.db")).unwrap();
        let link: serde_json::Value =
            serde_json::from_str(&store.meta_get("server").unwrap().expect("a server link")).unwrap();
        let old = serde_json::json!({ "url": link["url"], "token": token, "role": link["role"] });
        store.meta_set("server", &old.to_string()).unwrap();
        store.close().unwrap();
    }
    std::fs::remove_file(dir.join(kith_client::credential::FILE)).unwrap();
    assert!(contains(&store_bytes(&dir), token.as_bytes()), "the old layout really holds the token");

    t.worker.ok(&["status"]);
    assert!(!contains(&store_bytes(&dir), token.as_bytes()), "the token is still in the store file");
    assert_eq!(credential_file(&dir), token, "moved to the private file");
    let text = t.worker.ok(&["shift", "start", "--purpose", "Meter readings", "--until", "+4h"]);
    assert!(text.contains("Shared with your team"), "the moved credential works: {text}");
}

#[test]
fn a_store_copied_without_its_credential_says_the_device_must_join_again() {
    let t = Team::new();
    t.worker.ok(&["shift", "start", "--purpose", "Meter readings", "--until", "+4h"]);
    let copy = Device::new();
    std::fs::create_dir_all(copy.data_dir()).unwrap();
    std::fs::copy(t.worker.data_dir().join("kith.db"), copy.data_dir().join("kith.db")).unwrap();

    // Everything on the device still works...
    let status = copy.ok(&["status"]);
    assert!(status.contains("Meter readings"), "{status}");
    // ...but nothing can reach the server, and it says why and what to do.
    let r = copy.fails(&["sync"], 6, &["credential", "not on this computer", "join again"]);
    assert!(r.stderr.contains(&t.server.url), "{}", r.stderr);
    let out = copy.ok(&["checkin", "--note", "All fine"]);
    assert!(out.contains("Saved on this device") && out.contains("Not shared with your team"), "{out}");
    assert!(out.contains("join again"), "{out}");
}
