//! The PostgreSQL schema and its ordered migrations (refinery, recorded in
//! `refinery_schema_history`). Each migration only adds; all pending ones run on open, one server
//! instance at a time (an advisory lock), each in its own transaction.
//!
//! Seqs are not a sequence: `seq_counter` hands them out inside the storing transaction, whose row
//! lock on the counter orders the commits that append (see [`super`]).

use refinery::{Migration, Runner};

use crate::storage::StorageError;

/// Version 1: the same tables as the SQLite schema at its version 4.
const V1: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE seq_counter (id INTEGER PRIMARY KEY CHECK (id = 1), last BIGINT NOT NULL);
INSERT INTO seq_counter (id, last) VALUES (1, 0);
CREATE TABLE teams (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE members (
    id TEXT PRIMARY KEY, team_id TEXT NOT NULL REFERENCES teams(id), name TEXT NOT NULL,
    role TEXT NOT NULL, created_at BIGINT NOT NULL, role_seq BIGINT NOT NULL DEFAULT 0);
CREATE TABLE devices (
    id TEXT PRIMARY KEY, member_id TEXT NOT NULL REFERENCES members(id), team_id TEXT NOT NULL,
    label TEXT NOT NULL, token_hash BYTEA NOT NULL UNIQUE, actor BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL, revoked_at BIGINT);
CREATE TABLE invites (
    code_hash BYTEA PRIMARY KEY, team_id TEXT NOT NULL REFERENCES teams(id), role TEXT NOT NULL,
    expires_at BIGINT NOT NULL, uses_left BIGINT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE docs (
    id TEXT PRIMARY KEY, team_id TEXT NOT NULL, kind TEXT NOT NULL, owner TEXT, first_seq BIGINT NOT NULL);
CREATE INDEX docs_owner ON docs(team_id, owner, first_seq);
CREATE TABLE changes (
    seq BIGINT PRIMARY KEY, doc_id TEXT NOT NULL, team_id TEXT NOT NULL, kind TEXT NOT NULL,
    owner TEXT, hash BYTEA NOT NULL, bytes BYTEA NOT NULL, actor BYTEA NOT NULL, device_id TEXT,
    received_at BIGINT NOT NULL, UNIQUE (doc_id, hash));
CREATE INDEX changes_team_seq ON changes(team_id, seq);
CREATE INDEX changes_doc_seq ON changes(doc_id, seq);
CREATE TABLE snapshots (doc_id TEXT PRIMARY KEY, upto_seq BIGINT NOT NULL, bytes BYTEA NOT NULL);
CREATE TABLE alerts (
    id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, team_id TEXT NOT NULL, shift_id TEXT NOT NULL,
    state TEXT NOT NULL, opened_at BIGINT NOT NULL, body TEXT NOT NULL);
CREATE INDEX alerts_team ON alerts(team_id, state, opened_at);
CREATE TABLE alert_steps (
    alert_id TEXT NOT NULL, step BIGINT NOT NULL, notify TEXT NOT NULL, fired_at BIGINT NOT NULL,
    PRIMARY KEY (alert_id, step));
CREATE TABLE alert_log (
    alert_id TEXT NOT NULL, n BIGINT NOT NULL, at BIGINT NOT NULL, action TEXT NOT NULL, by_member TEXT NOT NULL,
    target TEXT, note TEXT, PRIMARY KEY (alert_id, n));
CREATE TABLE checkin_receipts (
    checkin_id TEXT PRIMARY KEY, shift_id TEXT NOT NULL, device_id TEXT NOT NULL, device_time BIGINT NOT NULL,
    received_at BIGINT NOT NULL, offset_ms BIGINT NOT NULL, effective_at BIGINT NOT NULL);
CREATE INDEX checkin_receipts_shift ON checkin_receipts(shift_id);
CREATE TABLE entry_receipts (
    entry_id TEXT PRIMARY KEY, shift_id TEXT NOT NULL, kind TEXT NOT NULL, received_at BIGINT NOT NULL,
    offset_ms BIGINT NOT NULL);
CREATE INDEX entry_receipts_shift ON entry_receipts(shift_id);
CREATE TABLE device_clocks (device_id TEXT PRIMARY KEY, offset_ms BIGINT NOT NULL, measured_at BIGINT NOT NULL);
CREATE TABLE tracked_shifts (
    shift_id TEXT PRIMARY KEY, team_id TEXT NOT NULL, worker_id TEXT NOT NULL, offset_ms BIGINT NOT NULL,
    first_seen BIGINT NOT NULL, ended_seen BIGINT, started_at BIGINT, ended_at BIGINT, ended_offset_ms BIGINT);
CREATE INDEX tracked_shifts_active ON tracked_shifts(ended_seen);
CREATE INDEX tracked_shifts_member ON tracked_shifts(team_id, worker_id, started_at);
CREATE INDEX tracked_shifts_team ON tracked_shifts(team_id, ended_seen);
CREATE TABLE webhooks (team_id TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL);
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY, team_id TEXT NOT NULL, key TEXT NOT NULL UNIQUE, url TEXT NOT NULL,
    secret TEXT NOT NULL, body TEXT NOT NULL, created_at BIGINT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL, delivered_at BIGINT, last_error TEXT);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(delivered_at, next_attempt_at);
CREATE TABLE webhook_attempts (
    delivery_id BIGINT NOT NULL, at BIGINT NOT NULL, status BIGINT, error TEXT, delivered BOOLEAN NOT NULL);
"#;

/// Version 2: a counter that moves whenever a device is revoked or a role changes, so every
/// instance's open live streams are checked again ([`crate::storage::Storage::read_auth_generation`]).
const V2: &str = r#"
CREATE TABLE auth_generation (id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL);
INSERT INTO auth_generation (id, value) VALUES (1, 0);
"#;

/// Version 3: several instances. Leases, so that one instance runs the deadline ticker and
/// delivers webhooks ([`crate::storage::Storage::hold_lease`]); live instances and their members'
/// live streams, so that presence is team-wide ([`crate::storage::Storage::set_presence`]).
const V3: &str = r#"
CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL);
CREATE TABLE live_instances (id TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
CREATE TABLE live_presence (
    instance TEXT NOT NULL, team_id TEXT NOT NULL, member_id TEXT NOT NULL, connections BIGINT NOT NULL,
    last_seen BIGINT NOT NULL, PRIMARY KEY (instance, team_id, member_id));
CREATE INDEX live_presence_member ON live_presence(team_id, member_id);
"#;

/// The chain, in order.
pub fn runner() -> Result<Runner, StorageError> {
    let ms = [("V1__initial", V1), ("V2__auth_generation", V2), ("V3__several_instances", V3)]
        .into_iter()
        .map(|(name, sql)| Migration::unapplied(name, sql))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StorageError::Db(format!("a migration is malformed: {e}")))?;
    Ok(Runner::new(&ms).set_abort_divergent(true))
}
