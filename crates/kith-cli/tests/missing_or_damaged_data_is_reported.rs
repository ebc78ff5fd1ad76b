//! Without a profile, with someone else's file in place of the database, or with a damaged
//! profile, every command says so plainly, exits non-zero, and writes nothing.

use crate::common;

use common::{Kith, file_bytes};

const T0: &str = "2026-11-27T09:00:00Z";
const STATE: i32 = 3;
const DATA: i32 = 4;

const ALL_COMMANDS: &[&[&str]] = &[
    &["status"],
    &["log"],
    &["log", "--all"],
    &["checkin"],
    &["checkin", "emergency"],
    &["shift", "start", "--purpose", "Survey", "--until", "17:30"],
    &["extend", "--until", "18:00", "--reason", "late"],
    &["end"],
];

#[test]
fn without_a_profile_every_command_says_how_to_make_one_and_creates_nothing() {
    let k = Kith::new();
    for args in ALL_COMMANDS {
        k.fails(T0, args, STATE, &["No Kith profile in", "kith init --name"]);
        assert!(!k.data_dir().exists(), "kith {args:?} created the data directory");
    }
    // An empty data directory is no different.
    std::fs::create_dir_all(k.data_dir()).unwrap_or_else(|e| panic!("{e}"));
    k.fails(T0, &["status"], STATE, &["No Kith profile in"]);
    assert!(!k.db().exists());
}

#[test]
fn a_store_without_a_profile_is_treated_as_no_profile() {
    let k = Kith::new();
    std::fs::create_dir_all(k.data_dir()).unwrap_or_else(|e| panic!("{e}"));
    drop(kith_store::Store::open(k.db()).unwrap_or_else(|e| panic!("{e}")));
    k.fails(T0, &["checkin"], STATE, &["No Kith profile in", "kith init"]);
}

#[test]
fn a_garbage_file_as_the_database_is_refused_and_left_alone() {
    let k = Kith::new();
    std::fs::create_dir_all(k.data_dir()).unwrap_or_else(|e| panic!("{e}"));
    let garbage = b"this is not a database, it is my shopping list\n".repeat(100);
    std::fs::write(k.db(), &garbage).unwrap_or_else(|e| panic!("{e}"));
    for args in ALL_COMMANDS {
        k.fails(T0, args, DATA, &["is not a Kith database", "did not change it"]);
    }
    k.fails(T0, &["init", "--name", "Alice"], DATA, &["is not a Kith database"]);
    k.fails(T0, &["checkin", "emergency"], DATA, &["YOUR EMERGENCY WAS NOT SAVED", "Phone"]);
    assert_eq!(file_bytes(&k.db()), garbage, "the garbage file was modified");
}

#[test]
fn a_damaged_profile_is_reported_not_overwritten() {
    let k = Kith::with_profile(T0);
    {
        let mut store = kith_store::Store::open(k.db()).unwrap_or_else(|e| panic!("{e}"));
        store.meta_set("profile", "{ not json").unwrap_or_else(|e| panic!("{e}"));
    }
    k.fails(T0, &["status"], DATA, &["profile", "damaged", "backup"]);
    k.fails(T0, &["init", "--name", "Mallory"], DATA, &["profile", "damaged"]);
    let store = kith_store::Store::open(k.db()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.meta_get("profile").ok().flatten().as_deref(), Some("{ not json"));
}

#[test]
fn init_refuses_to_overwrite_a_profile() {
    let k = Kith::with_profile(T0);
    let before = k.json(T0, &["status"]);
    k.fails(T0, &["init", "--name", "Mallory"], STATE, &["already a Kith profile", "Alice", "--data-dir"]);
    let after = k.json(T0, &["status"]);
    assert_eq!(after["member_id"], before["member_id"]);
    assert_eq!(after["name"], "Alice");
    assert_eq!(after["unsynced_changes"], before["unsynced_changes"]);
}

#[test]
fn init_refuses_empty_names() {
    let k = Kith::new();
    k.fails(T0, &["init", "--name", "  "], 2, &["--name cannot be empty"]);
    k.fails(T0, &["init", "--name", "Al", "--team", ""], 2, &["--team cannot be empty"]);
}

#[test]
fn a_stale_or_damaged_current_shift_hint_is_not_trusted() {
    let k = Kith::with_profile(T0);
    k.ok(T0, &["shift", "start", "--purpose", "Survey", "--until", "17:30"]);
    for hint in ["not a shift id", "01900000-0000-7000-8000-000000000009"] {
        {
            let mut store = kith_store::Store::open(k.db()).unwrap_or_else(|e| panic!("{e}"));
            store.meta_set("current_shift", hint).unwrap_or_else(|e| panic!("{e}"));
        }
        k.ok("2026-11-27T09:30:00Z", &["checkin"]);
    }
    let log = k.json("2026-11-27T09:31:00Z", &["log"]);
    assert_eq!(log["shifts"][0]["checkins"].as_array().map(Vec::len), Some(2));
    // An ended shift behind the hint is not the running one.
    k.ok("2026-11-27T10:00:00Z", &["end"]);
    k.fails("2026-11-27T10:01:00Z", &["checkin"], STATE, &["not on shift"]);
}

/// Any error, for the store's closures (which need `From<StoreError>`).
#[derive(Debug)]
struct Failed(#[allow(dead_code)] String);

impl From<kith_store::StoreError> for Failed {
    fn from(e: kith_store::StoreError) -> Self {
        Failed(e.to_string())
    }
}

#[test]
fn a_damaged_team_document_is_reported_but_never_blocks_an_emergency() {
    use automerge::transaction::Transactable;
    let k = Kith::with_profile(T0);
    let team_id: uuid::Uuid = k.json(T0, &["status"])["team_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no team id"));
    {
        let mut store = kith_store::Store::open(k.db()).unwrap_or_else(|e| panic!("{e}"));
        store
            .change_doc(team_id, |tx| tx.delete(automerge::ROOT, "policy").map_err(|e| Failed(e.to_string())))
            .unwrap_or_else(|e| panic!("{e:?}"));
    }
    k.fails(T0, &["status"], DATA, &["could not be used", "policy"]);
    let r = k.run(T0, &["checkin", "emergency"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("Nobody has been reached yet"), "{r:?}");
    assert!(r.stderr.contains("warning: using the default team policy"), "{r:?}");
}
