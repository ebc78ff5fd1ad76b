-- The schema of a kith-server database of version 4 as main wrote it (b12ad2c): the change log still with its changes_doc_seq index.
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
    first_seen INTEGER NOT NULL, ended_seen INTEGER, started_at INTEGER, ended_at INTEGER, ended_offset_ms INTEGER);
CREATE INDEX IF NOT EXISTS tracked_shifts_active ON tracked_shifts(ended_seen);
CREATE TABLE IF NOT EXISTS webhooks (team_id TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, team_id TEXT NOT NULL, key TEXT NOT NULL UNIQUE, url TEXT NOT NULL,
    secret TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL, delivered_at INTEGER, last_error TEXT);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(delivered_at, next_attempt_at);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery_id INTEGER NOT NULL, at INTEGER NOT NULL, status INTEGER, error TEXT, delivered INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entry_receipts (
    entry_id TEXT PRIMARY KEY, shift_id TEXT NOT NULL, kind TEXT NOT NULL, received_at INTEGER NOT NULL,
    offset_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS entry_receipts_shift ON entry_receipts(shift_id);
CREATE INDEX IF NOT EXISTS tracked_shifts_member ON tracked_shifts(team_id, worker_id, started_at);
CREATE INDEX IF NOT EXISTS tracked_shifts_team ON tracked_shifts(team_id, ended_seen);
CREATE TABLE IF NOT EXISTS alert_log (
    alert_id TEXT NOT NULL, n INTEGER NOT NULL, at INTEGER NOT NULL, action TEXT NOT NULL, by_member TEXT NOT NULL,
    target TEXT, note TEXT, PRIMARY KEY (alert_id, n));
PRAGMA user_version = 4;
