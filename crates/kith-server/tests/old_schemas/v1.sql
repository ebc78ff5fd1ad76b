-- The schema of a kith-server database of version 1 (7fb188f), exactly as that build created it.
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
PRAGMA user_version = 1;
