//! A server opens a database made by any earlier build and upgrades it in one ordered chain
//! (1 -> 2 -> 3 -> 4), keeping everything it holds. Version 3 was given to two different schemas
//! by two lines of development built at once (the shift receipts; the alert log), so a version-3
//! database of either kind must come out as version 4 with both.
//!
//! Each story: a team, an emergency and its alert claimed by a lead, stored by today's server;
//! the database is then rebuilt with an old build's exact schema (`tests/old_schemas/`, copied
//! from those builds) holding the same rows, as that build would have stored them, and the server
//! starts on it. The alert, its owner and history, the board and the shift are all still there,
//! new actions are stored, and the schema is exactly a new database's.

use crate::common;
use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use kith_domain::{CheckInStatus, Role, Secs};
use kith_server::storage::Storage;
use kith_server::testing::TestServer;
use rusqlite::Connection;
use serde_json::{Value, json};

const V1: &str = include_str!("old_schemas/v1.sql");
const V2: &str = include_str!("old_schemas/v2.sql");
const V3_RECEIPTS: &str = include_str!("old_schemas/v3-receipts.sql");
const V3_ALERT_LOG: &str = include_str!("old_schemas/v3-alert-log.sql");

/// Every table with its columns, and every index, by name.
fn schema(db: &Path) -> BTreeSet<String> {
    let c = Connection::open(db).unwrap();
    let mut out = BTreeSet::new();
    let mut st = c.prepare("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").unwrap();
    let rows: Vec<(String, String, String)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    for (kind, name, table) in rows {
        out.insert(format!("{kind} {name} on {table}"));
        if kind == "table" {
            let mut cols = c.prepare(&format!("PRAGMA table_info({name})")).unwrap();
            for col in cols.query_map([], |r| r.get::<_, String>(1)).unwrap() {
                out.insert(format!("column {name}.{}", col.unwrap()));
            }
        }
    }
    out
}

fn user_version(db: &Path) -> i64 {
    Connection::open(db).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
}

/// Rebuilds the (closed) database at `db` with an old build's schema, keeping every row of the
/// tables and columns that schema has: what that build would hold after the same requests.
fn rebuild_as(db: &Path, old_schema: &str) {
    let old = db.with_extension("old");
    let c = Connection::open(&old).unwrap();
    c.execute_batch(old_schema).unwrap();
    c.execute("ATTACH DATABASE ?1 AS cur", [db.to_str().unwrap()]).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for t in tables {
        let cols: Vec<String> = c
            .prepare(&format!("PRAGMA main.table_info({t})"))
            .unwrap()
            .query_map([], |r| r.get(1))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let cols = cols.join(", ");
        c.execute(&format!("INSERT INTO main.{t} ({cols}) SELECT {cols} FROM cur.{t}"), []).unwrap();
    }
    c.execute("DETACH DATABASE cur", []).unwrap();
    drop(c);
    // Closed cleanly, the database has no write-ahead log left; a stale one must not be replayed.
    for suffix in ["-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    std::fs::rename(&old, db).unwrap();
}

fn actions(alert: &Value) -> Vec<String> {
    alert["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap().to_string()).collect()
}

async fn the_emergency(sam: &Dev) -> Value {
    let (status, v) = sam.get_json("/v1/alerts?all=true").await;
    assert_eq!(status, 200, "{v}");
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "one alert, once: {v}");
    assert_eq!(alerts[0]["kind"], "emergency", "{v}");
    alerts[0].clone()
}

/// The story on a database rebuilt with `old_schema` (None: today's schema, as a control).
async fn upgraded_from(old_schema: Option<&str>, alerts_existed: bool) {
    let mut server = TestServer::start_manual_on(kith_server::testing::Backend::Sqlite).await;
    let (team, code) = server.create_team("North estate").await;
    let mut sam = Dev::join(&server, &code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    let now = alice.device_now();
    let shift = alice.start_shift_at(now, now + 8 * 3_600_000, Secs::minutes(30), vec![]);
    alice.checkin_at(shift, CheckInStatus::Emergency, now);
    alice.sync().await;
    let id = the_emergency(&sam).await["id"].as_str().unwrap().to_string();
    assert_eq!(sam.post_json(&format!("/v1/alerts/{id}/claim"), json!({})).await.status(), 200);
    server.stop().await;

    let db = server.db_path();
    if let Some(old) = old_schema {
        rebuild_as(&db, old);
        assert!(user_version(&db) < 4);
    }
    server.start_again().await;
    sam.reconnect(&server);
    alice.reconnect(&server);
    assert_eq!(user_version(&db), 4);

    // Everything stored is still there: the alert and who owns it (a database from before
    // alerts existed gets its alert on start, once), the board, the shift.
    let a = the_emergency(&sam).await;
    if alerts_existed {
        assert_eq!((a["id"].as_str(), a["state"].as_str()), (Some(id.as_str()), Some("claimed")), "{a}");
        assert_eq!(a["claimed_by_name"], "Sam", "{a}");
        let claims = actions(&a).iter().filter(|x| *x == "claimed").count();
        assert_eq!(claims, 1, "the claim, once, in the history: {a}");
    } else {
        assert_eq!(a["state"], "open", "{a}");
        assert_eq!(
            sam.post_json(&format!("/v1/alerts/{}/claim", a["id"].as_str().unwrap()), json!({})).await.status(),
            200
        );
    }
    let id = a["id"].as_str().unwrap().to_string();
    let (_, board) = sam.get_json("/v1/board").await;
    let row = board["rows"].as_array().unwrap().iter().find(|r| r["name"] == "Alice").unwrap().clone();
    assert_eq!((row["status"].as_str(), row["alert_owner"].as_str()), (Some("emergency"), Some("Sam")), "{row}");
    let (status, s) = sam.get_json(&format!("/v1/shifts/{}", shift.uuid())).await;
    assert_eq!((status, s["status"].as_str()), (200, Some("emergency")), "{s}");

    // What is new is stored in the upgraded database: a resolution, in the alert's log.
    let r = sam.post_json(&format!("/v1/alerts/{id}/resolve"), json!({"note": "phoned her, all fine"})).await;
    assert_eq!(r.status(), 200);
    alice.checkin_at(shift, CheckInStatus::Ok, alice.device_now());
    alice.sync().await;
    server.restart().await;
    sam.reconnect(&server);
    let a = the_emergency(&sam).await;
    assert_eq!(a["state"], "resolved", "{a}");
    assert_eq!(actions(&a).last().map(String::as_str), Some("resolved"), "{a}");
    let resolved = a["history"].as_array().unwrap().iter().find(|h| h["action"] == "resolved").unwrap().clone();
    assert_eq!(resolved["text"], "phoned her, all fine", "{a}");

    // The upgraded schema is exactly what a new database gets.
    let fresh = tempfile::tempdir().unwrap();
    let fresh_db = fresh.path().join("kith-server.sqlite3");
    kith_server::SqliteStorage::open(&fresh_db).unwrap().close().await;
    server.stop().await;
    assert_eq!(schema(&db), schema(&fresh_db));
}

#[tokio::test]
async fn a_database_of_today_is_the_control() {
    upgraded_from(None, true).await;
}

#[tokio::test]
async fn a_version_1_database_is_upgraded() {
    upgraded_from(Some(V1), false).await;
}

#[tokio::test]
async fn a_version_2_database_is_upgraded() {
    upgraded_from(Some(V2), true).await;
}

#[tokio::test]
async fn a_version_3_database_with_the_shift_receipts_is_upgraded() {
    upgraded_from(Some(V3_RECEIPTS), true).await;
}

#[tokio::test]
async fn a_version_3_database_with_the_alert_log_is_upgraded() {
    upgraded_from(Some(V3_ALERT_LOG), true).await;
}

#[tokio::test]
async fn a_database_from_a_newer_server_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kith-server.sqlite3");
    Connection::open(&db).unwrap().execute_batch("PRAGMA user_version = 5").unwrap();
    let e = kith_server::SqliteStorage::open(&db).unwrap_err().to_string();
    assert!(e.contains("newer than this server understands"), "{e}");
    assert_eq!(user_version(&db), 5);
}
