//! The embedded SQLite storage: one file in the data directory, WAL, `synchronous=FULL`.
//!
//! Writes go through one writer thread doing **group commit**: it takes every write queued by
//! concurrent requests, runs each inside its own savepoint of one transaction, commits once (one
//! fsync per batch) and only then answers each request. Reads use a small pool of connections on
//! blocking threads, so the async runtime never waits on SQLite.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use async_trait::async_trait;
use kith_domain::{CheckInId, DeviceId, MemberId, Notify, Role, ShiftId, TeamId};
use kith_proto::Kind;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::recent::{Recent, RecentChange};
use super::*;

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 4;

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
fn has_column(c: &Connection, table: &str, column: &str) -> Result<bool, StorageError> {
    let mut st = c.prepare(&format!("PRAGMA table_info({table})")).map_err(db)?;
    let names = st.query_map([], |r| r.get::<_, String>(1)).map_err(db)?;
    for n in names {
        if n.map_err(db)? == column {
            return Ok(true);
        }
    }
    Ok(false)
}

/// 2 -> 3. Idempotent: it is run again from version 3 (see [`migrate`]). A shift tracked before
/// has its start and end on the server clock approximated by when they arrived.
fn migrate_2_to_3(c: &Connection) -> Result<(), StorageError> {
    if !has_column(c, "tracked_shifts", "started_at")? {
        c.execute_batch(
            "ALTER TABLE tracked_shifts ADD COLUMN started_at INTEGER;
             ALTER TABLE tracked_shifts ADD COLUMN ended_at INTEGER;
             ALTER TABLE tracked_shifts ADD COLUMN ended_offset_ms INTEGER;
             UPDATE tracked_shifts SET started_at = first_seen, ended_at = ended_seen;",
        )
        .map_err(db)?;
    }
    c.execute_batch(MIGRATE_2_TO_3).map_err(db)
}

/// Checks the database's schema version and migrates it to this build's.
fn upgrade(c: &Connection, path: &Path) -> Result<(), StorageError> {
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
    migrate(c, version).map_err(|e| {
        StorageError::Db(format!(
            "{} could not be upgraded from schema version {version} to {SCHEMA_VERSION}: {e}",
            path.display()
        ))
    })
}

/// Brings a database of schema version `from` (0: a new one) to [`SCHEMA_VERSION`], one step after
/// the other, in the caller's transaction. Every step only adds (tables, columns, indexes), so
/// nothing stored is lost, and a server of any older version keeps reading what it knows.
///
/// Version 3 was given to two different schemas by two lines of development built at the same
/// time: one added the shift receipts (`entry_receipts`, the `tracked_shifts` columns), the other
/// the alert log. A version-3 database may hold either, so 3 -> 4 first completes the first (its
/// steps are idempotent) and then adds the second (created only if missing).
fn migrate(c: &Connection, from: i64) -> Result<(), StorageError> {
    if from < 1 {
        c.execute_batch(SCHEMA_1).map_err(db)?;
    }
    if from < 2 {
        c.execute_batch(MIGRATE_1_TO_2).map_err(db)?;
    }
    if from < 3 {
        migrate_2_to_3(c)?;
    }
    if from < 4 {
        migrate_2_to_3(c)?;
        c.execute_batch(MIGRATE_3_TO_4).map_err(db)?;
    }
    c.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}")).map_err(db)
}

type Done = Box<dyn FnOnce(Result<(), StorageError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Done + Send>;

/// SQLite storage in one file.
pub struct SqliteStorage {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    closed: std::sync::atomic::AtomicBool,
    /// The latest stored changes (see [`super::recent`]), shared with the writer thread.
    feed: Arc<FeedShared>,
    /// The receiving end of the notes, until the deadline engine takes it.
    notes_rx: Mutex<Option<tokio::sync::mpsc::Receiver<Committed>>>,
    /// Device lookups by token hash (see [`SqliteStorage::device_by_token`]).
    auth: Mutex<AuthCache>,
    /// Reads the auth generation inline: one row, no trip through the blocking pool.
    gen_conn: Mutex<Connection>,
}

/// What the writer thread and the readers share about recent changes: the in-process change log.
#[derive(Debug)]
struct FeedShared {
    recent: RwLock<Recent>,
    /// Changes stored by the jobs of the transaction in progress (published once it commits).
    pending: Mutex<Vec<RecentChange>>,
    /// Notes of the transaction in progress (handed over once it commits).
    pending_notes: Mutex<Vec<Committed>>,
    /// The greatest seq committed (dropped on close, which ends the followers).
    committed: Mutex<Option<tokio::sync::watch::Sender<u64>>>,
    notes: Mutex<Option<tokio::sync::mpsc::Sender<Committed>>>,
    /// The server's own actor: its changes are told apart from pushed ones.
    server_actor: Vec<u8>,
}

/// Notes waiting for the deadline engine at most; past that they are dropped (it then reads the
/// documents): a stalled engine never makes the writer wait or memory grow.
const NOTES_QUEUE: usize = 16_384;

/// What a write job stored, for the change log.
#[derive(Debug, Default)]
struct Logged {
    changes: Vec<RecentChange>,
    notes: Vec<Committed>,
}

/// Cached device lookups, valid while the database's auth generation is `generation`. Every
/// write that can change what a lookup returns (a revocation, a role change) bumps the
/// generation in the same transaction, whichever process makes it (`kith-server admin revoke`
/// writes the same file), and every lookup reads the generation first: a revocation is honoured
/// from the next request on, as without the cache.
#[derive(Debug, Default)]
struct AuthCache {
    generation: i64,
    by_token: HashMap<Vec<u8>, DeviceAuth>,
}

/// Devices kept in the auth cache at most (it starts over when full).
const AUTH_CACHE_MAX: usize = 100_000;

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage").field("path", &self.path).finish()
    }
}

fn db(e: rusqlite::Error) -> StorageError {
    StorageError::Db(e.to_string())
}

fn open_conn(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open(path)
        .map_err(|e| StorageError::Db(format!("cannot open the database {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;").map_err(db)?;
    Ok(conn)
}

/// Read connections kept open for reuse.
const MAX_READERS: usize = 64;

fn open_reader(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open(path)
        .map_err(|e| StorageError::Db(format!("cannot open the database {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStorage {
    /// Opens (creating if needed) the database file `path`.
    pub fn open(path: &Path) -> Result<SqliteStorage, StorageError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StorageError::Db(format!("cannot create the data directory {}: {e}", dir.display())))?;
        }
        let conn = open_conn(path)?;
        // All steps or none, and one process at a time: a crash half way leaves the database at
        // its old version.
        conn.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
        let upgraded = upgrade(&conn, path);
        match &upgraded {
            Ok(()) => conn.execute_batch("COMMIT").map_err(db)?,
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        upgraded?;
        let actor: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM meta WHERE key = 'server_actor'", [], |r| r.get(0))
            .optional()
            .map_err(db)?;
        if actor.is_none() {
            let a: [u8; 16] = rand::random();
            conn.execute("INSERT INTO meta (key, value) VALUES ('server_actor', ?1)", params![a.to_vec()])
                .map_err(db)?;
        }
        let key: [u8; 32] = rand::random();
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('receipt_key', ?1)", params![key.to_vec()])
            .map_err(db)?;
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('auth_gen', 0)", []).map_err(db)?;
        let server_actor: Vec<u8> =
            conn.query_row("SELECT value FROM meta WHERE key = 'server_actor'", [], |r| r.get(0)).map_err(db)?;
        let last = last_change(&conn)?;
        let (committed, _) = tokio::sync::watch::channel(last.as_ref().map_or(0, |l| l.0));
        let (notes_tx, notes_rx) = tokio::sync::mpsc::channel(NOTES_QUEUE);
        let feed = Arc::new(FeedShared {
            recent: RwLock::new(Recent::after(last)),
            pending: Mutex::new(Vec::new()),
            pending_notes: Mutex::new(Vec::new()),
            committed: Mutex::new(Some(committed)),
            notes: Mutex::new(Some(notes_tx)),
            server_actor,
        });
        let gen_conn = open_reader(path)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let shared = feed.clone();
        let thread = std::thread::Builder::new()
            .name("kith-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, &shared))
            .map_err(|e| StorageError::Db(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStorage {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(thread)),
            readers: Arc::new(Mutex::new(Vec::new())),
            closed: std::sync::atomic::AtomicBool::new(false),
            feed,
            notes_rx: Mutex::new(Some(notes_rx)),
            auth: Mutex::new(AuthCache::default()),
            gen_conn: Mutex::new(gen_conn),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in the next group-committed transaction; answers once it is durable.
    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StorageError> + Send + 'static,
    ) -> StorageResult<R> {
        self.write_changes(move |c| f(c).map(|r| (r, Logged::default()))).await
    }

    /// [`SqliteStorage::write`] for a job that stores changes: it returns them too, and they join
    /// the change log (the window of recent changes, the notes) once the transaction has committed.
    async fn write_changes<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<(R, Logged), StorageError> + Send + 'static,
    ) -> StorageResult<R> {
        let (tx, rx) = tokio::sync::oneshot::channel::<StorageResult<R>>();
        let feed = self.feed.clone();
        let job: Job = Box::new(move |conn: &Connection| {
            let r = savepoint(conn, f).map(|(r, logged)| {
                if !logged.changes.is_empty() {
                    lock(&feed.pending).extend(logged.changes);
                }
                if !logged.notes.is_empty() {
                    lock(&feed.pending_notes).extend(logged.notes);
                }
                r
            });
            Box::new(move |commit: Result<(), StorageError>| {
                let _ = tx.send(commit.and(r));
            })
        });
        {
            let guard = self.writer.lock().map_err(|_| StorageError::Closed)?;
            let sender = guard.as_ref().ok_or(StorageError::Closed)?;
            sender.send(job).map_err(|_| StorageError::Closed)?;
        }
        rx.await.map_err(|_| StorageError::Closed)?
    }

    /// Runs `f` on a pooled read connection on a blocking thread.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StorageError> + Send + 'static,
    ) -> StorageResult<R> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StorageError::Closed);
        }
        let pool = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.lock().map_err(|_| StorageError::Closed)?.pop();
            let conn = match conn {
                Some(c) => c,
                None => open_reader(&path)?,
            };
            let r = f(&conn);
            if let Ok(mut p) = pool.lock()
                && p.len() < MAX_READERS
            {
                p.push(conn);
            }
            r
        })
        .await
        .map_err(|e| StorageError::Db(format!("read task failed: {e}")))?
    }

    /// [`Storage::feed_position`] from the database.
    async fn feed_position_stored(&self, cursor_seq: u64) -> StorageResult<FeedPosition> {
        self.read(move |c| {
            let max: Option<(i64, Vec<u8>)> = c
                .prepare_cached("SELECT seq, hash FROM changes ORDER BY seq DESC LIMIT 1")
                .map_err(db)?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(db)?;
            let at: Option<Vec<u8>> = if cursor_seq == 0 {
                None
            } else {
                c.prepare_cached("SELECT hash FROM changes WHERE seq = ?1")
                    .map_err(db)?
                    .query_row(params![i(cursor_seq)], |r| r.get(0))
                    .optional()
                    .map_err(db)?
            };
            Ok(FeedPosition {
                max_seq: max.as_ref().map_or(0, |m| u(m.0)),
                max_hash: max.map(|m| m.1),
                hash_at_cursor: at,
            })
        })
        .await
    }

    fn check_open(&self) -> StorageResult<()> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) { Err(StorageError::Closed) } else { Ok(()) }
    }

    /// The auth generation now (see [`AuthCache`]), read on the calling thread: one row of a
    /// WAL database, which never waits for the writer.
    fn auth_generation(&self) -> StorageResult<i64> {
        self.check_open()?;
        let conn = lock(&self.gen_conn);
        let g: Option<i64> = conn
            .prepare_cached("SELECT value FROM meta WHERE key = 'auth_gen'")
            .map_err(db)?
            .query_row([], |r| r.get(0))
            .optional()
            .map_err(db)?;
        Ok(g.unwrap_or(0))
    }

    fn shutdown_now(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        // The followers of the change log end when it closes.
        lock(&self.feed.committed).take();
        lock(&self.feed.notes).take();
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
        if let Ok(mut t) = self.writer_thread.lock()
            && let Some(t) = t.take()
        {
            let _ = t.join();
        }
        if let Ok(mut p) = self.readers.lock() {
            p.clear();
        }
    }
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

fn savepoint<R>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<R, StorageError>) -> Result<R, StorageError> {
    conn.prepare_cached("SAVEPOINT job").and_then(|mut s| s.execute([])).map_err(db)?;
    match f(conn) {
        Ok(r) => {
            conn.prepare_cached("RELEASE job").and_then(|mut s| s.execute([])).map_err(db)?;
            Ok(r)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            Err(e)
        }
    }
}

/// Largest number of writes committed together.
const MAX_BATCH: usize = 1024;

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>, feed: &FeedShared) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the jobs unrun answers each request with an error.
            tracing::error!(error = %e, jobs = batch.len(), "could not begin a write transaction");
            continue;
        }
        // Another process stored changes since our last commit: the window of recent changes
        // starts over after them, before this transaction stores anything after them.
        match last_change(&conn) {
            Ok(last) => {
                let mut recent = write_lock(&feed.recent);
                if recent.max().map(|(s, _)| s) != last.as_ref().map(|l| l.0) {
                    tracing::info!("changes were stored by another process: the feed reads them from the database");
                    *recent = Recent::after(last);
                } else {
                    recent.confirm();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), "could not read the greatest seq");
                let _ = conn.execute_batch("ROLLBACK");
                continue;
            }
        }
        lock(&feed.pending).clear();
        lock(&feed.pending_notes).clear();
        let dones: Vec<Done> = batch.into_iter().map(|job| job(&conn)).collect();
        let commit = conn.execute_batch("COMMIT").map_err(db);
        let stored = std::mem::take(&mut *lock(&feed.pending));
        let notes = std::mem::take(&mut *lock(&feed.pending_notes));
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        } else if !stored.is_empty() {
            // Before anyone hears that these changes are stored: the window, the notes, then the
            // greatest seq, which wakes the followers (the deadline engine, the live channel).
            let max = stored.last().map(|c| c.seq);
            write_lock(&feed.recent).extend(stored);
            if let Some(tx) = lock(&feed.notes).as_ref() {
                for n in notes {
                    if tx.try_send(n).is_err() {
                        tracing::debug!("the deadline engine's note queue is full: it reads the document instead");
                    }
                }
            }
            if let (Some(tx), Some(max)) = (lock(&feed.committed).as_ref(), max) {
                tx.send_if_modified(|v| {
                    let moved = max > *v;
                    *v = (*v).max(max);
                    moved
                });
            }
        }
        for d in dones {
            d(commit.clone());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read_lock<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The greatest seq stored and its hash.
fn last_change(c: &Connection) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
    c.prepare_cached("SELECT seq, hash FROM changes ORDER BY seq DESC LIMIT 1")
        .map_err(db)?
        .query_row([], |r| Ok((u(r.get(0)?), r.get(1)?)))
        .optional()
        .map_err(db)
}

/// Sets the roles of a team's existing members (see [`Storage::set_member_roles`]).
fn set_roles(c: &Connection, team: TeamId, roles: &[(MemberId, Role)]) -> Result<usize, StorageError> {
    let mut st = c
        .prepare_cached(
            "UPDATE members SET role = ?3, role_seq = (SELECT COALESCE(MAX(seq), 0) FROM changes)
             WHERE id = ?1 AND team_id = ?2 AND role <> ?3",
        )
        .map_err(db)?;
    let mut n = 0;
    for (m, r) in roles {
        n += st.execute(params![m.to_string(), team.to_string(), role_str(*r)]).map_err(db)?;
    }
    if n > 0 {
        tracing::info!(team = %team, changed = n, "member roles updated from the team document");
        bump_auth_generation(c)?;
    }
    Ok(n)
}

/// Makes cached device lookups stale (a revocation or a role change): see [`AuthCache`].
fn bump_auth_generation(c: &Connection) -> Result<(), StorageError> {
    c.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('auth_gen', 1) ON CONFLICT (key) DO UPDATE SET value = value + 1",
    )
    .map_err(db)?
    .execute([])
    .map_err(db)?;
    Ok(())
}

fn role_str(r: Role) -> &'static str {
    match r {
        Role::Member => "member",
        Role::Lead => "lead",
        Role::Admin => "admin",
    }
}

fn parse_role(s: &str) -> Result<Role, StorageError> {
    match s {
        "member" => Ok(Role::Member),
        "lead" => Ok(Role::Lead),
        "admin" => Ok(Role::Admin),
        other => Err(StorageError::Corrupt(format!("unknown role '{other}'"))),
    }
}

fn parse_uuid(s: &str) -> Result<Uuid, StorageError> {
    Uuid::parse_str(s).map_err(|_| StorageError::Corrupt(format!("'{s}' is not a UUID")))
}

fn parse_kind(s: &str) -> Result<Kind, StorageError> {
    Kind::parse(s).ok_or_else(|| StorageError::Corrupt(format!("unknown document kind '{s}'")))
}

fn u(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

fn i(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn insert_changes(
    conn: &Connection,
    batch: &AppendChanges,
    server_actor: &[u8],
) -> Result<(Vec<u64>, Vec<RecentChange>), StorageError> {
    let m = &batch.meta;
    // Nothing of a device revoked meanwhile (by any process) is stored.
    let mut checked: Option<DeviceId> = None;
    for d in batch.changes.iter().filter_map(|c| c.device) {
        if checked == Some(d) {
            continue;
        }
        let revoked: Option<bool> = conn
            .prepare_cached("SELECT revoked_at IS NOT NULL FROM devices WHERE id = ?1")
            .map_err(db)?
            .query_row(params![d.to_string()], |r| r.get(0))
            .optional()
            .map_err(db)?;
        if revoked == Some(true) {
            return Err(StorageError::Revoked);
        }
        checked = Some(d);
    }
    let owner = m.owner.map(|o| o.to_string());
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO changes (doc_id, team_id, kind, owner, hash, bytes, actor, device_id, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(db)?;
    let mut seqs = Vec::with_capacity(batch.changes.len());
    let mut stored = Vec::with_capacity(batch.changes.len());
    for (i, c) in batch.changes.iter().enumerate() {
        stmt.execute(params![
            m.id.to_string(),
            m.team.to_string(),
            m.kind.as_str(),
            owner,
            c.hash,
            c.bytes,
            c.actor,
            c.device.map(|d| d.to_string()),
            batch.received_at
        ])
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                StorageError::Conflict("a change of this document is already stored".into())
            }
            e => db(e),
        })?;
        let seq = u(conn.last_insert_rowid());
        seqs.push(seq);
        stored.push(RecentChange {
            seq,
            doc: m.id,
            team: m.team,
            kind: m.kind,
            owner: m.owner,
            hash: c.hash.clone(),
            created: batch.create && i == 0,
            device: c.device,
            by_server: c.actor == server_actor,
        });
    }
    if batch.create {
        let first = seqs.first().copied().unwrap_or(0);
        conn.execute(
            "INSERT INTO docs (id, team_id, kind, owner, first_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![m.id.to_string(), m.team.to_string(), m.kind.as_str(), owner, i(first)],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                StorageError::Conflict("this document already exists".into())
            }
            e => db(e),
        })?;
    }
    Ok((seqs, stored))
}

fn device_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

type DeviceRow = (String, String, String, String, Vec<u8>, i64, Option<i64>);

fn device_record(row: DeviceRow) -> Result<DeviceRecord, StorageError> {
    let (id, member, team, label, actor, created_at, revoked_at) = row;
    Ok(DeviceRecord {
        id: DeviceId(parse_uuid(&id)?),
        member: MemberId(parse_uuid(&member)?),
        team: TeamId(parse_uuid(&team)?),
        label,
        actor,
        created_at,
        revoked_at,
    })
}

const DEVICE_COLS: &str = "d.id, d.member_id, d.team_id, d.label, d.actor, d.created_at, d.revoked_at";

fn device_by_token(c: &Connection, token_hash: Vec<u8>) -> Result<Option<DeviceAuth>, StorageError> {
    let row = c
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLS}, m.name, m.role, m.role_seq FROM devices d JOIN members m ON m.id = d.member_id
             WHERE d.token_hash = ?1"
        ))
        .map_err(db)?
        .query_row(params![token_hash], |r| {
            Ok((device_from_row(r)?, r.get::<_, String>(7)?, r.get::<_, String>(8)?, r.get::<_, i64>(9)?))
        })
        .optional()
        .map_err(db)?;
    match row {
        None => Ok(None),
        Some((d, name, role, role_seq)) => Ok(Some(DeviceAuth {
            device: device_record(d)?,
            member_name: name,
            role: parse_role(&role)?,
            role_seq: u(role_seq),
        })),
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn server_actor(&self) -> StorageResult<Vec<u8>> {
        self.read(|c| c.query_row("SELECT value FROM meta WHERE key = 'server_actor'", [], |r| r.get(0)).map_err(db))
            .await
    }

    async fn receipt_key(&self) -> StorageResult<Vec<u8>> {
        self.read(|c| c.query_row("SELECT value FROM meta WHERE key = 'receipt_key'", [], |r| r.get(0)).map_err(db))
            .await
    }

    async fn create_team(&self, team: TeamRecord, team_doc: AppendChanges) -> StorageResult<()> {
        let feed = self.feed.clone();
        self.write_changes(move |c| {
            c.execute(
                "INSERT INTO teams (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![team.id.to_string(), team.name, team.created_at],
            )
            .map_err(db)?;
            let (_, stored) = insert_changes(c, &team_doc, &feed.server_actor)?;
            Ok(((), Logged { changes: stored, notes: Vec::new() }))
        })
        .await
    }

    async fn team(&self, id: TeamId) -> StorageResult<Option<TeamRecord>> {
        self.read(move |c| {
            c.query_row("SELECT name, created_at FROM teams WHERE id = ?1", params![id.to_string()], |r| {
                Ok(TeamRecord { id, name: r.get(0)?, created_at: r.get(1)? })
            })
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn teams(&self) -> StorageResult<Vec<TeamRecord>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT id, name, created_at FROM teams ORDER BY created_at, id").map_err(db)?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, name, created_at) = row.map_err(db)?;
                out.push(TeamRecord { id: TeamId(parse_uuid(&id)?), name, created_at });
            }
            Ok(out)
        })
        .await
    }

    async fn members(&self, team: TeamId) -> StorageResult<Vec<MemberRecord>> {
        self.read(move |c| {
            let mut st =
                c.prepare("SELECT id, name, role FROM members WHERE team_id = ?1 ORDER BY name, id").map_err(db)?;
            let rows = st
                .query_map(params![team.to_string()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, name, role) = row.map_err(db)?;
                out.push(MemberRecord { id: MemberId(parse_uuid(&id)?), team, name, role: parse_role(&role)? });
            }
            Ok(out)
        })
        .await
    }

    async fn set_member_roles(&self, team: TeamId, roles: Vec<(MemberId, Role)>) -> StorageResult<usize> {
        self.write(move |c| set_roles(c, team, &roles)).await
    }

    async fn create_invite(&self, invite: InviteRecord) -> StorageResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO invites (code_hash, team_id, role, expires_at, uses_left, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    invite.code_hash,
                    invite.team.to_string(),
                    role_str(invite.role),
                    invite.expires_at,
                    invite.uses_left,
                    invite.created_at
                ],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn redeem_invite(&self, code_hash: Vec<u8>, now: i64, join: NewDevice) -> StorageResult<Redeem> {
        self.write(move |c| {
            let row: Option<(String, String, i64, i64)> = c
                .query_row(
                    "SELECT team_id, role, expires_at, uses_left FROM invites WHERE code_hash = ?1",
                    params![code_hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((team_id, role, expires_at, uses_left)) = row else { return Ok(Redeem::Unknown) };
            if expires_at <= now {
                return Ok(Redeem::Expired);
            }
            if uses_left <= 0 {
                return Ok(Redeem::UsedUp);
            }
            let taken: bool = c
                .query_row("SELECT EXISTS (SELECT 1 FROM devices WHERE actor = ?1)", params![join.actor], |r| r.get(0))
                .map_err(db)?;
            if taken {
                return Ok(Redeem::ActorTaken);
            }
            let role = parse_role(&role)?;
            let team_id = TeamId(parse_uuid(&team_id)?);
            let team = c
                .query_row("SELECT name, created_at FROM teams WHERE id = ?1", params![team_id.to_string()], |r| {
                    Ok(TeamRecord { id: team_id, name: r.get(0)?, created_at: r.get(1)? })
                })
                .map_err(db)?;
            c.execute("UPDATE invites SET uses_left = uses_left - 1 WHERE code_hash = ?1", params![code_hash])
                .map_err(db)?;
            c.execute(
                "INSERT INTO members (id, team_id, name, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![join.member_id.to_string(), team_id.to_string(), join.member_name, role_str(role), now],
            )
            .map_err(db)?;
            c.execute(
                "INSERT INTO devices (id, member_id, team_id, label, token_hash, actor, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    join.device_id.to_string(),
                    join.member_id.to_string(),
                    team_id.to_string(),
                    join.label,
                    join.token_hash,
                    join.actor,
                    join.created_at
                ],
            )
            .map_err(db)?;
            Ok(Redeem::Joined { team, role })
        })
        .await
    }

    /// Answered from memory while the auth generation has not moved (one inline read of one
    /// row per call; see [`AuthCache`]); from the database otherwise.
    async fn device_by_token(&self, token_hash: Vec<u8>) -> StorageResult<Option<DeviceAuth>> {
        let generation = self.auth_generation()?;
        {
            let cache = lock(&self.auth);
            if cache.generation == generation
                && let Some(d) = cache.by_token.get(&token_hash)
            {
                return Ok(Some(d.clone()));
            }
        }
        let key = token_hash.clone();
        let found = self.read(move |c| device_by_token(c, token_hash)).await?;
        if let Some(d) = &found {
            let mut cache = lock(&self.auth);
            if cache.generation < generation {
                cache.generation = generation;
                cache.by_token.clear();
            }
            if cache.generation == generation {
                if cache.by_token.len() >= AUTH_CACHE_MAX {
                    cache.by_token.clear();
                }
                cache.by_token.insert(key, d.clone());
            }
        }
        Ok(found)
    }

    async fn devices(&self, team: Option<TeamId>) -> StorageResult<Vec<DeviceRecord>> {
        self.read(move |c| {
            let team = team.map(|t| t.to_string());
            let mut st = c
                .prepare(&format!(
                    "SELECT {DEVICE_COLS} FROM devices d WHERE ?1 IS NULL OR d.team_id = ?1 ORDER BY d.created_at, d.id"
                ))
                .map_err(db)?;
            let rows = st.query_map(params![team], device_from_row).map_err(db)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(device_record(r.map_err(db)?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn revoke_device(&self, id: DeviceId, at: i64) -> StorageResult<bool> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id.to_string(), at],
                )
                .map_err(db)?;
            if n > 0 {
                bump_auth_generation(c)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn doc_meta(&self, id: Uuid) -> StorageResult<Option<DocMeta>> {
        self.read(move |c| doc_meta(c, id)).await
    }

    async fn load_doc(&self, id: Uuid) -> StorageResult<Option<LoadedDoc>> {
        self.read(move |c| {
            let Some(meta) = doc_meta(c, id)? else { return Ok(None) };
            let snapshot: Option<(i64, Vec<u8>)> = c
                .query_row("SELECT upto_seq, bytes FROM snapshots WHERE doc_id = ?1", params![id.to_string()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(db)?;
            let after = snapshot.as_ref().map_or(0, |s| u(s.0));
            let changes = changes_after(c, id, after)?;
            Ok(Some(LoadedDoc { meta, snapshot: snapshot.map(|(s, b)| (u(s), b)), changes }))
        })
        .await
    }

    async fn append_changes_with(&self, batch: AppendChanges, derived: Derived) -> StorageResult<Vec<u64>> {
        let feed = self.feed.clone();
        self.write_changes(move |c| {
            let (seqs, stored) = insert_changes(c, &batch, &feed.server_actor)?;
            if let Some(t) = &derived.tracking {
                track_one(c, t)?;
            }
            if let Some((team, roles)) = &derived.roles {
                set_roles(c, *team, roles)?;
            }
            let notes = match (derived.note, seqs.first(), seqs.last()) {
                (Some(note), Some(first), Some(last)) => vec![Committed {
                    doc: batch.meta.id,
                    first_seq: *first,
                    last_seq: *last,
                    tracking: derived.tracking,
                    note,
                }],
                _ => Vec::new(),
            };
            Ok((seqs, Logged { changes: stored, notes }))
        })
        .await
    }

    async fn flush(&self) -> StorageResult<()> {
        self.write(|_| Ok(())).await
    }

    fn committed(&self) -> tokio::sync::watch::Receiver<u64> {
        match lock(&self.feed.committed).as_ref() {
            Some(tx) => tx.subscribe(),
            // Closed: a receiver whose sender is gone, so a follower ends at once.
            None => tokio::sync::watch::channel(0).1,
        }
    }

    async fn stored_since(&self, after: u64, limit: usize) -> StorageResult<Vec<StoredRef>> {
        self.check_open()?;
        if let Some(found) = read_lock(&self.feed.recent).since(after, limit) {
            return Ok(found);
        }
        let server_actor = self.feed.server_actor.clone();
        self.read(move |c| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut st = c
                .prepare_cached(
                    "SELECT seq, doc_id, team_id, kind, owner, device_id, actor = ?3 FROM changes
                     WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(db)?;
            let rows = st
                .query_map(params![i(after), limit, server_actor], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, bool>(6)?,
                    ))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, doc, team, kind, owner, device, by_server) = row.map_err(db)?;
                out.push(StoredRef {
                    seq: u(seq),
                    meta: DocMeta {
                        id: parse_uuid(&doc)?,
                        team: TeamId(parse_uuid(&team)?),
                        kind: parse_kind(&kind)?,
                        owner: owner.as_deref().map(parse_uuid).transpose()?.map(MemberId),
                    },
                    device: device.as_deref().map(parse_uuid).transpose()?.map(DeviceId),
                    by_server,
                });
            }
            Ok(out)
        })
        .await
    }

    fn take_notes(&self) -> Option<tokio::sync::mpsc::Receiver<Committed>> {
        lock(&self.notes_rx).take()
    }

    async fn put_snapshot(&self, doc: Uuid, upto_seq: u64, bytes: Vec<u8>) -> StorageResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO snapshots (doc_id, upto_seq, bytes) VALUES (?1, ?2, ?3)
                 ON CONFLICT (doc_id) DO UPDATE SET upto_seq = excluded.upto_seq, bytes = excluded.bytes
                 WHERE excluded.upto_seq > snapshots.upto_seq",
                params![doc.to_string(), i(upto_seq), bytes],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn count_docs(&self) -> StorageResult<u64> {
        self.read(|c| c.query_row("SELECT COUNT(*) FROM docs", [], |r| r.get::<_, i64>(0)).map(u).map_err(db)).await
    }

    async fn feed_docs(&self, scope: FeedScope, after: u64, limit: usize) -> StorageResult<Vec<FeedEntry>> {
        self.check_open()?;
        if let Some(docs) = read_lock(&self.feed.recent).feed_docs(&scope, after, limit) {
            return Ok(docs);
        }
        self.read(move |c| {
            // The limit is part of the SQL text: SQLite re-prepares a statement on every run when a
            // bound parameter is used by the planner, as `LIMIT ?` is.
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT c.doc_id, MIN(c.seq), d.kind, d.owner, d.first_seq
                     FROM changes c JOIN docs d ON d.id = c.doc_id
                     WHERE c.team_id = ?1 AND c.seq > ?2 AND (c.kind = 'team' OR ?3 OR c.owner = ?4)
                     GROUP BY c.doc_id ORDER BY MIN(c.seq) LIMIT {limit}"
                ))
                .map_err(db)?;
            let rows = st
                .query_map(params![scope.team.to_string(), i(after), scope.all_shifts, scope.member.to_string()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, min_after, kind, owner, first) = row.map_err(db)?;
                out.push(FeedEntry {
                    meta: DocMeta {
                        id: parse_uuid(&id)?,
                        team: scope.team,
                        kind: parse_kind(&kind)?,
                        owner: owner.as_deref().map(parse_uuid).transpose()?.map(MemberId),
                    },
                    first_seq: u(first),
                    min_seq_after: u(min_after),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn changes_after(&self, doc: Uuid, after: u64) -> StorageResult<Vec<StoredChange>> {
        self.read(move |c| changes_after(c, doc, after)).await
    }

    async fn change_at_or_before(&self, seq: u64) -> StorageResult<Option<(u64, Vec<u8>)>> {
        self.check_open()?;
        if let Some(found) = read_lock(&self.feed.recent).at_or_before(seq) {
            return Ok(found);
        }
        self.read(move |c| {
            c.query_row(
                "SELECT seq, hash FROM changes WHERE seq <= ?1 ORDER BY seq DESC LIMIT 1",
                params![i(seq)],
                |r| Ok((u(r.get(0)?), r.get(1)?)),
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn change_hash_at(&self, seq: u64) -> StorageResult<Option<Vec<u8>>> {
        self.read(move |c| {
            c.query_row("SELECT hash FROM changes WHERE seq = ?1", params![i(seq)], |r| r.get(0)).optional().map_err(db)
        })
        .await
    }

    async fn max_seq(&self) -> StorageResult<u64> {
        self.read(|c| {
            c.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| r.get::<_, i64>(0)).map(u).map_err(db)
        })
        .await
    }

    async fn feed_position(&self, cursor_seq: u64) -> StorageResult<FeedPosition> {
        self.check_open()?;
        if let Some(p) = read_lock(&self.feed.recent).position(cursor_seq) {
            return Ok(p);
        }
        let pos = self.feed_position_stored(cursor_seq).await?;
        // Changes the window does not know (stored by another process): it answers nothing more
        // until the writer starts it over, so no feed mixes the two.
        write_lock(&self.feed.recent).saw(pos.max_seq);
        Ok(pos)
    }
    async fn member_shifts(
        &self,
        team: TeamId,
        member: MemberId,
        since: Option<i64>,
        limit: usize,
    ) -> StorageResult<Vec<Uuid>> {
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT shift_id FROM tracked_shifts WHERE team_id = ?1 AND worker_id = ?2
                        AND (?3 IS NULL OR started_at >= ?3)
                     ORDER BY started_at DESC, shift_id DESC LIMIT ?4",
                )
                .map_err(db)?;
            let rows = st
                .query_map(
                    params![team.to_string(), member.to_string(), since, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |r| r.get::<_, String>(0),
                )
                .map_err(db)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(parse_uuid(&r.map_err(db)?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn board_shifts(&self, team: TeamId) -> StorageResult<Vec<ShiftId>> {
        self.read(move |c| {
            // Every active shift; and per member the shift that ended last (SQLite takes the bare
            // column from the row holding the maximum).
            let mut st = c
                .prepare_cached(
                    "SELECT shift_id FROM tracked_shifts WHERE team_id = ?1 AND ended_seen IS NULL
                     UNION ALL
                     SELECT shift_id FROM (
                        SELECT shift_id, MAX(COALESCE(ended_at, ended_seen)) FROM tracked_shifts
                        WHERE team_id = ?1 AND ended_seen IS NOT NULL GROUP BY worker_id)",
                )
                .map_err(db)?;
            let rows = st.query_map(params![team.to_string()], |r| r.get::<_, String>(0)).map_err(db)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(ShiftId(parse_uuid(&r.map_err(db)?)?));
            }
            Ok(out)
        })
        .await
    }

    async fn insert_alert(&self, alert: AlertRecord, event: Option<WebhookEvent>) -> StorageResult<bool> {
        self.write(move |c| {
            let body = serde_json::to_string(&alert).map_err(json_err)?;
            let n = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO alerts (id, key, team_id, shift_id, state, opened_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(db)?
                .execute(params![
                    alert.id.to_string(),
                    alert.key,
                    alert.team.to_string(),
                    alert.shift.to_string(),
                    alert.state.as_str(),
                    alert.opened_at,
                    body
                ])
                .map_err(db)?;
            if n > 0 {
                enqueue(c, event.as_ref(), alert.opened_at)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn fire_step(&self, alert: Uuid, step: FiredStep, event: Option<WebhookEvent>) -> StorageResult<bool> {
        self.write(move |c| {
            // A claimed or resolved alert climbs no further.
            let open: bool = c
                .query_row("SELECT state = 'open' FROM alerts WHERE id = ?1", params![alert.to_string()], |r| r.get(0))
                .optional()
                .map_err(db)?
                .unwrap_or(false);
            if !open {
                return Ok(false);
            }
            let n = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO alert_steps (alert_id, step, notify, fired_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(db)?
                .execute(params![
                    alert.to_string(),
                    i64::try_from(step.index).unwrap_or(i64::MAX),
                    notify_str(step.notify),
                    step.fired_at
                ])
                .map_err(db)?;
            if n == 0 {
                return Ok(false);
            }
            let body: String = c
                .query_row("SELECT body FROM alerts WHERE id = ?1", params![alert.to_string()], |r| r.get(0))
                .map_err(db)?;
            let mut rec = alert_from_body(body)?;
            rec.steps_fired = rec.steps_fired.max(step.index + 1);
            let body = serde_json::to_string(&rec).map_err(json_err)?;
            c.execute("UPDATE alerts SET body = ?2 WHERE id = ?1", params![alert.to_string(), body]).map_err(db)?;
            enqueue(c, event.as_ref(), step.fired_at)?;
            Ok(true)
        })
        .await
    }

    async fn update_alert(
        &self,
        alert: AlertRecord,
        expect: AlertState,
        event: Option<WebhookEvent>,
    ) -> StorageResult<bool> {
        self.write(move |c| update_alert_in(c, alert, expect, None, event.as_ref())).await
    }

    async fn update_alert_logged(
        &self,
        alert: AlertRecord,
        expect: AlertState,
        owner_was: Option<MemberId>,
        event: Option<WebhookEvent>,
        log: AlertLogEntry,
    ) -> StorageResult<bool> {
        self.write(move |c| {
            let id = alert.id;
            if !update_alert_in(c, alert, expect, Some(owner_was), event.as_ref())? {
                return Ok(false);
            }
            c.prepare_cached(
                "INSERT INTO alert_log (alert_id, n, at, action, by_member, target, note)
                 SELECT ?1, COALESCE(MAX(n), 0) + 1, ?2, ?3, ?4, ?5, ?6 FROM alert_log WHERE alert_id = ?1",
            )
            .map_err(db)?
            .execute(params![
                id.to_string(),
                log.at,
                log.action,
                log.by.to_string(),
                log.target.map(|t| t.to_string()),
                log.note
            ])
            .map_err(db)?;
            Ok(true)
        })
        .await
    }

    async fn alert_histories(
        &self,
        alerts: Vec<Uuid>,
    ) -> StorageResult<HashMap<Uuid, (Vec<FiredStep>, Vec<AlertLogEntry>)>> {
        self.read(move |c| {
            let mut out: HashMap<Uuid, (Vec<FiredStep>, Vec<AlertLogEntry>)> = HashMap::new();
            // SQLite allows a few hundred parameters per statement at least; ask in chunks.
            for chunk in alerts.chunks(200) {
                let marks = vec!["?"; chunk.len()].join(",");
                let ids: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
                let mut st = c
                    .prepare(&format!(
                        "SELECT alert_id, step, notify, fired_at FROM alert_steps WHERE alert_id IN ({marks}) ORDER BY alert_id, step"
                    ))
                    .map_err(db)?;
                let rows = st
                    .query_map(rusqlite::params_from_iter(ids.iter()), |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
                    })
                    .map_err(db)?;
                for r in rows {
                    let (id, index, notify, fired_at) = r.map_err(db)?;
                    let notify = notify
                        .parse()
                        .map_err(|_| StorageError::Corrupt(format!("unknown escalation target '{notify}'")))?;
                    let step = FiredStep { index: usize::try_from(index).unwrap_or(0), notify, fired_at };
                    out.entry(parse_uuid(&id)?).or_default().0.push(step);
                }
                let mut st = c
                    .prepare(&format!(
                        "SELECT alert_id, at, action, by_member, target, note FROM alert_log WHERE alert_id IN ({marks}) ORDER BY alert_id, n"
                    ))
                    .map_err(db)?;
                let rows = st
                    .query_map(rusqlite::params_from_iter(ids.iter()), |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, Option<String>>(5)?,
                        ))
                    })
                    .map_err(db)?;
                for r in rows {
                    let (id, at, action, by, target, note) = r.map_err(db)?;
                    let e = AlertLogEntry {
                        at,
                        action,
                        by: MemberId(parse_uuid(&by)?),
                        target: target.as_deref().map(parse_uuid).transpose()?.map(MemberId),
                        note,
                    };
                    out.entry(parse_uuid(&id)?).or_default().1.push(e);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn alert(&self, id: Uuid) -> StorageResult<Option<AlertRecord>> {
        self.read(move |c| {
            let body: Option<String> = c
                .query_row("SELECT body FROM alerts WHERE id = ?1", params![id.to_string()], |r| r.get(0))
                .optional()
                .map_err(db)?;
            body.map(alert_from_body).transpose()
        })
        .await
    }

    async fn alerts(&self, team: Option<TeamId>, unresolved: bool, limit: usize) -> StorageResult<Vec<AlertRecord>> {
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT body FROM alerts WHERE (?1 IS NULL OR team_id = ?1) AND (NOT ?2 OR state <> 'resolved')
                     ORDER BY opened_at DESC, id DESC LIMIT ?3",
                )
                .map_err(db)?;
            let rows = st
                .query_map(
                    params![team.map(|t| t.to_string()), unresolved, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |r| r.get::<_, String>(0),
                )
                .map_err(db)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(alert_from_body(r.map_err(db)?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn alert_steps(&self, alert: Uuid) -> StorageResult<Vec<FiredStep>> {
        self.read(move |c| {
            let mut st = c
                .prepare_cached("SELECT step, notify, fired_at FROM alert_steps WHERE alert_id = ?1 ORDER BY step")
                .map_err(db)?;
            let rows = st
                .query_map(params![alert.to_string()], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for r in rows {
                let (index, notify, fired_at) = r.map_err(db)?;
                let notify = notify
                    .parse()
                    .map_err(|_| StorageError::Corrupt(format!("unknown escalation target '{notify}'")))?;
                out.push(FiredStep { index: usize::try_from(index).unwrap_or(0), notify, fired_at });
            }
            Ok(out)
        })
        .await
    }

    async fn checkin_receipts(&self, shift: ShiftId) -> StorageResult<Vec<CheckinReceipt>> {
        self.read(move |c| checkin_receipts(c, shift)).await
    }

    async fn set_device_offset(&self, device: DeviceId, offset_ms: i64, at: i64) -> StorageResult<()> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO device_clocks (device_id, offset_ms, measured_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (device_id) DO UPDATE SET offset_ms = excluded.offset_ms, measured_at = excluded.measured_at",
            )
            .map_err(db)?
            .execute(params![device.to_string(), offset_ms, at])
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn device_offsets(&self) -> StorageResult<Vec<(DeviceId, i64, i64)>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT device_id, offset_ms, measured_at FROM device_clocks").map_err(db)?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))
                .map_err(db)?;
            let mut out = Vec::new();
            for r in rows {
                let (d, o, at) = r.map_err(db)?;
                out.push((DeviceId(parse_uuid(&d)?), o, at));
            }
            Ok(out)
        })
        .await
    }

    async fn shift_receipts(&self, shifts: Vec<ShiftId>) -> StorageResult<Vec<StoredReceipts>> {
        if shifts.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |c| {
            let mut out = Vec::with_capacity(shifts.len());
            for id in shifts {
                let Some(tracked) = tracked_row(c, id)? else { continue };
                out.push(StoredReceipts {
                    tracked,
                    checkins: checkin_receipts(c, id)?,
                    entries: entry_receipts(c, id)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn track_shifts(&self, shifts: Vec<Tracking>) -> StorageResult<()> {
        self.write(move |c| {
            for t in &shifts {
                track_one(c, t)?;
            }
            Ok(())
        })
        .await
    }

    async fn active_shifts(&self) -> StorageResult<Vec<TrackedShift>> {
        self.read(|c| {
            let mut st = c
                .prepare(&format!(
                    "SELECT {TRACKED_COLS} FROM tracked_shifts
                     WHERE ended_seen IS NULL OR shift_id IN (SELECT shift_id FROM alerts WHERE state <> 'resolved')"
                ))
                .map_err(db)?;
            let rows = st.query_map([], tracked_from_row).map_err(db)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(tracked(r.map_err(db)?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn untracked_shifts(&self, limit: usize) -> StorageResult<Vec<(ShiftId, i64)>> {
        self.read(move |c| {
            let mut st = c
                .prepare(
                    "SELECT d.id, (SELECT received_at FROM changes WHERE seq = d.first_seq) FROM docs d
                     WHERE d.kind = 'shift' AND NOT EXISTS (SELECT 1 FROM tracked_shifts t WHERE t.shift_id = d.id)
                     LIMIT ?1",
                )
                .map_err(db)?;
            let rows = st
                .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for r in rows {
                let (id, first) = r.map_err(db)?;
                out.push((ShiftId(parse_uuid(&id)?), first.unwrap_or(0)));
            }
            Ok(out)
        })
        .await
    }

    async fn set_webhook(&self, team: TeamId, hook: Option<WebhookConfig>) -> StorageResult<()> {
        self.write(move |c| {
            match hook {
                Some(h) => c
                    .execute(
                        "INSERT INTO webhooks (team_id, url, secret) VALUES (?1, ?2, ?3)
                         ON CONFLICT (team_id) DO UPDATE SET url = excluded.url, secret = excluded.secret",
                        params![team.to_string(), h.url, h.secret],
                    )
                    .map_err(db)?,
                None => c.execute("DELETE FROM webhooks WHERE team_id = ?1", params![team.to_string()]).map_err(db)?,
            };
            Ok(())
        })
        .await
    }

    async fn webhook(&self, team: TeamId) -> StorageResult<Option<WebhookConfig>> {
        self.read(move |c| {
            c.query_row("SELECT url, secret FROM webhooks WHERE team_id = ?1", params![team.to_string()], |r| {
                Ok(WebhookConfig { url: r.get(0)?, secret: r.get(1)? })
            })
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn due_deliveries(&self, now: i64, limit: usize) -> StorageResult<Vec<Delivery>> {
        self.read(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE delivered_at IS NULL AND next_attempt_at <= ?1
                     ORDER BY next_attempt_at, id LIMIT ?2"
                ))
                .map_err(db)?;
            let rows =
                st.query_map(params![now, i64::try_from(limit).unwrap_or(i64::MAX)], delivery_row).map_err(db)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(delivery(r.map_err(db)?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn next_delivery_at(&self) -> StorageResult<Option<i64>> {
        self.read(|c| {
            c.query_row("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE delivered_at IS NULL", [], |r| {
                r.get(0)
            })
            .map_err(db)
        })
        .await
    }

    async fn record_attempt(&self, id: i64, a: DeliveryAttempt) -> StorageResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO webhook_attempts (delivery_id, at, status, error, delivered) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, a.at, a.status, a.error, a.delivered],
            )
            .map_err(db)?;
            c.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = ?2,
                    delivered_at = CASE WHEN ?3 THEN ?4 ELSE NULL END, next_attempt_at = ?5
                 WHERE id = ?1 AND delivered_at IS NULL",
                params![id, a.error, a.delivered, a.at, a.next_attempt_at],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn deliveries(&self, team: TeamId) -> StorageResult<Vec<Delivery>> {
        self.read(move |c| {
            let mut st = c
                .prepare(&format!("SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE team_id = ?1 ORDER BY id"))
                .map_err(db)?;
            let rows = st.query_map(params![team.to_string()], delivery_row).map_err(db)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(delivery(r.map_err(db)?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn probe(&self, now: i64) -> StorageResult<()> {
        self.check_open()?;
        self.write(move |c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('health_probe', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![now],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn close(&self) {
        self.shutdown_now();
    }
}

/// Replaces an alert if its state is still `expect` (and, when given, its owner `owner_was`);
/// false if it is not (see [`Storage::update_alert`]).
fn update_alert_in(
    c: &Connection,
    alert: AlertRecord,
    expect: AlertState,
    owner_was: Option<Option<MemberId>>,
    event: Option<&WebhookEvent>,
) -> Result<bool, StorageError> {
    let current: Option<String> = c
        .query_row(
            "SELECT body FROM alerts WHERE id = ?1 AND state = ?2",
            params![alert.id.to_string(), expect.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    let Some(current) = current else { return Ok(false) };
    let current = alert_from_body(current)?;
    if owner_was.is_some_and(|o| o != current.claimed_by) {
        return Ok(false);
    }
    // Steps fired meanwhile are kept: the step log is the truth.
    let mut alert = alert;
    alert.steps_fired = alert.steps_fired.max(current.steps_fired);
    let body = serde_json::to_string(&alert).map_err(json_err)?;
    c.execute(
        "UPDATE alerts SET state = ?2, body = ?3 WHERE id = ?1",
        params![alert.id.to_string(), alert.state.as_str(), body],
    )
    .map_err(db)?;
    let at = alert.resolved_at.or(alert.claimed_at).unwrap_or(alert.opened_at);
    enqueue(c, event, at)?;
    Ok(true)
}

fn json_err(e: serde_json::Error) -> StorageError {
    StorageError::Corrupt(format!("a stored alert is unreadable: {e}"))
}

fn alert_from_body(body: String) -> Result<AlertRecord, StorageError> {
    serde_json::from_str(&body).map_err(json_err)
}

/// Queues a webhook delivery if the team has a webhook; the same key is never queued twice.
fn enqueue(c: &Connection, ev: Option<&WebhookEvent>, now: i64) -> Result<(), StorageError> {
    let Some(ev) = ev else { return Ok(()) };
    c.prepare_cached(
        "INSERT OR IGNORE INTO webhook_deliveries (team_id, key, url, secret, body, created_at, next_attempt_at)
         SELECT team_id, ?2, url, secret, ?3, ?4, ?4 FROM webhooks WHERE team_id = ?1",
    )
    .map_err(db)?
    .execute(params![ev.team.to_string(), ev.key, ev.body, now])
    .map_err(db)?;
    Ok(())
}

fn notify_str(n: Notify) -> String {
    n.to_string()
}

type DeliveryRow = (i64, String, String, String, String, String, i64, i64, Option<i64>, Option<String>);

fn delivery(row: DeliveryRow) -> Result<Delivery, StorageError> {
    let (id, team, key, url, secret, body, attempts, next, delivered_at, last_error) = row;
    Ok(Delivery {
        id,
        team: TeamId(parse_uuid(&team)?),
        key,
        url,
        secret,
        body,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt_at: next,
        delivered_at,
        last_error,
    })
}

const DELIVERY_COLS: &str = "id, team_id, key, url, secret, body, attempts, next_attempt_at, delivered_at, last_error";

fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?))
}

fn checkin_receipts(c: &Connection, shift: ShiftId) -> Result<Vec<CheckinReceipt>, StorageError> {
    let mut st = c
        .prepare_cached(
            "SELECT checkin_id, device_id, device_time, received_at, offset_ms, effective_at
             FROM checkin_receipts WHERE shift_id = ?1",
        )
        .map_err(db)?;
    let rows = st
        .query_map(params![shift.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .map_err(db)?;
    let mut out = Vec::new();
    for r in rows {
        let (id, dev, device_time, received_at, offset_ms, effective_at) = r.map_err(db)?;
        out.push(CheckinReceipt {
            checkin: CheckInId(parse_uuid(&id)?),
            shift,
            device: DeviceId(parse_uuid(&dev)?),
            device_time,
            received_at,
            offset_ms,
            effective_at,
        });
    }
    Ok(out)
}

fn entry_receipts(c: &Connection, shift: ShiftId) -> Result<Vec<EntryReceipt>, StorageError> {
    let mut st = c
        .prepare_cached("SELECT entry_id, kind, received_at, offset_ms FROM entry_receipts WHERE shift_id = ?1")
        .map_err(db)?;
    let rows = st
        .query_map(params![shift.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })
        .map_err(db)?;
    let mut out = Vec::new();
    for r in rows {
        let (id, kind, received_at, offset_ms) = r.map_err(db)?;
        let kind =
            EntryKind::parse(&kind).ok_or_else(|| StorageError::Corrupt(format!("unknown entry kind '{kind}'")))?;
        out.push(EntryReceipt { entry: parse_uuid(&id)?, shift, kind, received_at, offset_ms });
    }
    Ok(out)
}

const TRACKED_COLS: &str =
    "shift_id, team_id, worker_id, offset_ms, first_seen, ended_seen, started_at, ended_at, ended_offset_ms";

type TrackedRow = (String, String, String, i64, i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>);

fn tracked_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TrackedRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
}

fn tracked(row: TrackedRow) -> Result<TrackedShift, StorageError> {
    let (s, t, w, offset_ms, first_seen, ended_seen, started_at, ended_at, ended_offset_ms) = row;
    Ok(TrackedShift {
        shift: ShiftId(parse_uuid(&s)?),
        team: TeamId(parse_uuid(&t)?),
        worker: MemberId(parse_uuid(&w)?),
        offset_ms,
        first_seen,
        started_at: started_at.unwrap_or(first_seen),
        ended_seen,
        ended_at: ended_at.or(ended_seen),
        ended_offset_ms,
    })
}

fn tracked_row(c: &Connection, id: ShiftId) -> Result<Option<TrackedShift>, StorageError> {
    let row = c
        .prepare_cached(&format!("SELECT {TRACKED_COLS} FROM tracked_shifts WHERE shift_id = ?1"))
        .map_err(db)?
        .query_row(params![id.to_string()], tracked_from_row)
        .optional()
        .map_err(db)?;
    row.map(tracked).transpose()
}

/// Stores a shift's tracking row and receipts: a new row as given; of an existing one the end
/// once, and the header's offset when its times were written again. Receipts: the first is kept.
fn track_one(c: &Connection, t: &Tracking) -> Result<(), StorageError> {
    let s = &t.shift;
    let id = s.shift.to_string();
    c.prepare_cached(&format!(
        "INSERT OR IGNORE INTO tracked_shifts ({TRACKED_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))
    .map_err(db)?
    .execute(params![
        id,
        s.team.to_string(),
        s.worker.to_string(),
        s.offset_ms,
        s.first_seen,
        s.ended_seen,
        s.started_at,
        s.ended_at,
        s.ended_offset_ms
    ])
    .map_err(db)?;
    if let Some(ended) = s.ended_seen {
        c.prepare_cached(
            "UPDATE tracked_shifts SET ended_seen = ?2, ended_at = ?3, ended_offset_ms = ?4
             WHERE shift_id = ?1 AND ended_seen IS NULL",
        )
        .map_err(db)?
        .execute(params![id, ended, s.ended_at, s.ended_offset_ms])
        .map_err(db)?;
    }
    if t.header_written {
        c.prepare_cached("UPDATE tracked_shifts SET offset_ms = ?2, started_at = ?3 WHERE shift_id = ?1")
            .map_err(db)?
            .execute(params![id, s.offset_ms, s.started_at])
            .map_err(db)?;
    }
    let mut st = c
        .prepare_cached(
            "INSERT OR IGNORE INTO checkin_receipts
                 (checkin_id, shift_id, device_id, device_time, received_at, offset_ms, effective_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(db)?;
    for r in &t.receipts {
        st.execute(params![
            r.checkin.to_string(),
            r.shift.to_string(),
            r.device.to_string(),
            r.device_time,
            r.received_at,
            r.offset_ms,
            r.effective_at
        ])
        .map_err(db)?;
    }
    let mut st = c
        .prepare_cached(
            "INSERT OR IGNORE INTO entry_receipts (entry_id, shift_id, kind, received_at, offset_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(db)?;
    for r in &t.entries {
        st.execute(params![r.entry.to_string(), r.shift.to_string(), r.kind.as_str(), r.received_at, r.offset_ms])
            .map_err(db)?;
    }
    Ok(())
}

fn doc_meta(c: &Connection, id: Uuid) -> Result<Option<DocMeta>, StorageError> {
    let row: Option<(String, String, Option<String>)> = c
        .prepare_cached("SELECT team_id, kind, owner FROM docs WHERE id = ?1")
        .map_err(db)?
        .query_row(params![id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(db)?;
    let Some((team, kind, owner)) = row else { return Ok(None) };
    Ok(Some(DocMeta {
        id,
        team: TeamId(parse_uuid(&team)?),
        kind: parse_kind(&kind)?,
        owner: owner.as_deref().map(parse_uuid).transpose()?.map(MemberId),
    }))
}

fn changes_after(c: &Connection, doc: Uuid, after: u64) -> Result<Vec<StoredChange>, StorageError> {
    let mut st = c
        .prepare_cached("SELECT seq, hash, bytes FROM changes WHERE doc_id = ?1 AND seq > ?2 ORDER BY seq")
        .map_err(db)?;
    let rows = st
        .query_map(params![doc.to_string(), i(after)], |r| {
            Ok(StoredChange { seq: u(r.get(0)?), hash: r.get(1)?, bytes: r.get(2)? })
        })
        .map_err(db)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db)
}
