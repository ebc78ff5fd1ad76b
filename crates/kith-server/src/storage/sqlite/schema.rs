//! The SQLite schema and its ordered migrations (rusqlite_migration, on `PRAGMA user_version`).
//!
//! Each migration only adds (tables, columns, indexes), so nothing stored is lost and a server of
//! any older version keeps reading what it knows. All pending migrations run in one immediate
//! transaction on open: a crash half way leaves the database at its old version, and two processes
//! opening it at once take turns. A database from a newer server is refused.
//!
//! Version 3 was given to two different schemas by two lines of development built at the same
//! time: one added the shift receipts (`entry_receipts`, the `tracked_shifts` columns), the other
//! the alert log. A version-3 database may hold either, so 3 -> 4 first completes the first (its
//! steps are idempotent) and then adds the second (created only if missing).

use std::path::Path;

use rusqlite::Connection;
use rusqlite_migration::{HookError, M, Migrations};

use super::db;
use crate::storage::StorageError;

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 4;

/// Version 1: teams, members, devices, invites, and documents as a log of changes with snapshots.
const SCHEMA_1: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS teams (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    id TEXT PRIMARY KEY, team_id TEXT NOT NULL REFERENCES teams(id), name TEXT NOT NULL,
    role TEXT NOT NULL, created_at INTEGER NOT NULL, role_seq INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, member_id TEXT NOT NULL REFERENCES members(id), team_id TEXT NOT NULL,
    label TEXT NOT NULL, token_hash BLOB NOT NULL UNIQUE, actor BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL, revoked_at INTEGER);
CREATE TABLE IF NOT EXISTS invites (
    code_hash BLOB PRIMARY KEY, team_id TEXT NOT NULL REFERENCES teams(id), role TEXT NOT NULL,
    expires_at INTEGER NOT NULL, uses_left INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    id TEXT PRIMARY KEY, team_id TEXT NOT NULL, kind TEXT NOT NULL, owner TEXT, first_seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS docs_owner ON docs(team_id, owner, first_seq);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, team_id TEXT NOT NULL, kind TEXT NOT NULL,
    owner TEXT, hash BLOB NOT NULL, bytes BLOB NOT NULL, actor BLOB NOT NULL, device_id TEXT,
    received_at INTEGER NOT NULL, UNIQUE (doc_id, hash));
CREATE INDEX IF NOT EXISTS changes_team_seq ON changes(team_id, seq);
CREATE INDEX IF NOT EXISTS changes_doc_seq ON changes(doc_id, seq);
CREATE TABLE IF NOT EXISTS snapshots (doc_id TEXT PRIMARY KEY, upto_seq INTEGER NOT NULL, bytes BLOB NOT NULL);
"#;

/// 1 -> 2: alerts, escalation steps, check-in receipts, device clocks, tracked shifts, webhooks.
const MIGRATE_1_TO_2: &str = r#"
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, team_id TEXT NOT NULL, shift_id TEXT NOT NULL,
    state TEXT NOT NULL, opened_at INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_team ON alerts(team_id, state, opened_at);
CREATE TABLE IF NOT EXISTS alert_steps (
    alert_id TEXT NOT NULL, step INTEGER NOT NULL, notify TEXT NOT NULL, fired_at INTEGER NOT NULL,
    PRIMARY KEY (alert_id, step));
CREATE TABLE IF NOT EXISTS checkin_receipts (
    checkin_id TEXT PRIMARY KEY, shift_id TEXT NOT NULL, device_id TEXT NOT NULL, device_time INTEGER NOT NULL,
    received_at INTEGER NOT NULL, offset_ms INTEGER NOT NULL, effective_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS checkin_receipts_shift ON checkin_receipts(shift_id);
CREATE TABLE IF NOT EXISTS device_clocks (device_id TEXT PRIMARY KEY, offset_ms INTEGER NOT NULL, measured_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tracked_shifts (
    shift_id TEXT PRIMARY KEY, team_id TEXT NOT NULL, worker_id TEXT NOT NULL, offset_ms INTEGER NOT NULL,
    first_seen INTEGER NOT NULL, ended_seen INTEGER);
CREATE INDEX IF NOT EXISTS tracked_shifts_active ON tracked_shifts(ended_seen);
CREATE TABLE IF NOT EXISTS webhooks (team_id TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, team_id TEXT NOT NULL, key TEXT NOT NULL UNIQUE, url TEXT NOT NULL,
    secret TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL, delivered_at INTEGER, last_error TEXT);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(delivered_at, next_attempt_at);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery_id INTEGER NOT NULL, at INTEGER NOT NULL, status INTEGER, error TEXT, delivered INTEGER NOT NULL);
"#;

/// 2 -> 3, with the new columns of `tracked_shifts` ([`migrate_2_to_3`]): every value of a shift
/// keeps the clock offset it was received with (extensions and acknowledgements get receipts; the
/// end its offset); shifts are indexed per member by their start and end on the server clock (the
/// board and history read every shift from them).
const MIGRATE_2_TO_3: &str = r#"
CREATE TABLE IF NOT EXISTS entry_receipts (
    entry_id TEXT PRIMARY KEY, shift_id TEXT NOT NULL, kind TEXT NOT NULL, received_at INTEGER NOT NULL,
    offset_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS entry_receipts_shift ON entry_receipts(shift_id);
CREATE INDEX IF NOT EXISTS tracked_shifts_member ON tracked_shifts(team_id, worker_id, started_at);
CREATE INDEX IF NOT EXISTS tracked_shifts_team ON tracked_shifts(team_id, ended_seen);
"#;

/// 3 -> 4: who claimed, took over, assigned and resolved each alert (its history).
const MIGRATE_3_TO_4: &str = r#"
CREATE TABLE IF NOT EXISTS alert_log (
    alert_id TEXT NOT NULL, n INTEGER NOT NULL, at INTEGER NOT NULL, action TEXT NOT NULL, by_member TEXT NOT NULL,
    target TEXT, note TEXT, PRIMARY KEY (alert_id, n));
"#;

/// Whether `table` has the column `column`.
fn has_column(c: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut st = c.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = st.query_map([], |r| r.get::<_, String>(1))?;
    for n in names {
        if n? == column {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The new columns of 2 -> 3. Idempotent: run again by 3 -> 4. A shift tracked before has its
/// start and end on the server clock approximated by when they arrived.
fn tracked_shift_columns(c: &rusqlite::Transaction<'_>) -> Result<(), HookError> {
    if !has_column(c, "tracked_shifts", "started_at")? {
        c.execute_batch(
            "ALTER TABLE tracked_shifts ADD COLUMN started_at INTEGER;
             ALTER TABLE tracked_shifts ADD COLUMN ended_at INTEGER;
             ALTER TABLE tracked_shifts ADD COLUMN ended_offset_ms INTEGER;
             UPDATE tracked_shifts SET started_at = first_seen, ended_at = ended_seen;",
        )?;
    }
    c.execute_batch(MIGRATE_2_TO_3)?;
    Ok(())
}

/// The chain: migration *n* (1-based) brings a database to version *n*.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(SCHEMA_1),
        M::up(MIGRATE_1_TO_2),
        // The columns first (the indexes of MIGRATE_2_TO_3 use them).
        M::up_with_hook("", tracked_shift_columns),
        M::up_with_hook(MIGRATE_3_TO_4, tracked_shift_columns),
    ])
}

/// Checks the database's schema version and migrates it to this build's.
pub fn upgrade(c: &mut Connection, path: &Path) -> Result<(), StorageError> {
    let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db)?;
    if version > SCHEMA_VERSION {
        return Err(StorageError::Corrupt(format!(
            "{} has schema version {version}, newer than this server understands ({SCHEMA_VERSION}): update kith-server",
            path.display()
        )));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    c.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    let done = migrations().to_latest(c);
    c.set_transaction_behavior(rusqlite::TransactionBehavior::Deferred);
    done.map_err(|e| {
        StorageError::Db(format!(
            "{} could not be upgraded from schema version {version} to {SCHEMA_VERSION}: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_migrations_are_well_formed() {
        assert!(super::migrations().validate().is_ok());
        assert_eq!(super::SCHEMA_VERSION, 4);
    }
}
