//! The embedded SQLite storage: one file in the data directory, WAL, `synchronous=FULL`.
//!
//! Writes go through one writer thread doing **group commit**: it takes every write queued by
//! concurrent requests, runs each inside its own savepoint of one transaction, commits once (one
//! fsync per batch) and only then answers each request. Reads use a small pool of connections on
//! blocking threads, so the async runtime never waits on SQLite.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use kith_domain::{DeviceId, MemberId, Role, TeamId};
use kith_proto::Kind;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::*;

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
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

type Done = Box<dyn FnOnce(Result<(), StorageError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Done + Send>;

/// SQLite storage in one file.
pub struct SqliteStorage {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    closed: std::sync::atomic::AtomicBool,
}

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
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db)?;
        if version > SCHEMA_VERSION {
            return Err(StorageError::Corrupt(format!(
                "{} has schema version {version}, newer than this server understands ({SCHEMA_VERSION}): update kith-server",
                path.display()
            )));
        }
        conn.execute_batch(SCHEMA).map_err(db)?;
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}")).map_err(db)?;
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
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("kith-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| StorageError::Db(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStorage {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(thread)),
            readers: Arc::new(Mutex::new(Vec::new())),
            closed: std::sync::atomic::AtomicBool::new(false),
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
        let (tx, rx) = tokio::sync::oneshot::channel::<StorageResult<R>>();
        let job: Job = Box::new(move |conn: &Connection| {
            let r = savepoint(conn, f);
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

    fn shutdown_now(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
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

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>) {
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
        let dones: Vec<Done> = batch.into_iter().map(|job| job(&conn)).collect();
        let commit = conn.execute_batch("COMMIT").map_err(db);
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for d in dones {
            d(commit.clone());
        }
    }
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

fn insert_changes(conn: &Connection, batch: &AppendChanges) -> Result<Vec<u64>, StorageError> {
    let m = &batch.meta;
    let owner = m.owner.map(|o| o.to_string());
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO changes (doc_id, team_id, kind, owner, hash, bytes, actor, device_id, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(db)?;
    let mut seqs = Vec::with_capacity(batch.changes.len());
    for c in &batch.changes {
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
        seqs.push(u(conn.last_insert_rowid()));
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
    Ok(seqs)
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
        self.write(move |c| {
            c.execute(
                "INSERT INTO teams (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![team.id.to_string(), team.name, team.created_at],
            )
            .map_err(db)?;
            insert_changes(c, &team_doc)?;
            Ok(())
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
        self.write(move |c| {
            let mut st = c
                .prepare_cached(
                    "UPDATE members SET role = ?3, role_seq = (SELECT COALESCE(MAX(seq), 0) FROM changes)
                     WHERE id = ?1 AND team_id = ?2 AND role <> ?3",
                )
                .map_err(db)?;
            let mut n = 0;
            for (m, r) in roles {
                n += st.execute(params![m.to_string(), team.to_string(), role_str(r)]).map_err(db)?;
            }
            Ok(n)
        })
        .await
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

    async fn device_by_token(&self, token_hash: Vec<u8>) -> StorageResult<Option<DeviceAuth>> {
        self.read(move |c| {
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
        })
        .await
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

    async fn append_changes(&self, batch: AppendChanges) -> StorageResult<Vec<u64>> {
        self.write(move |c| insert_changes(c, &batch)).await
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

    async fn recent_shifts(&self, team: TeamId, member: MemberId, limit: usize) -> StorageResult<Vec<Uuid>> {
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT id FROM docs WHERE team_id = ?1 AND owner = ?2 AND kind = 'shift'
                     ORDER BY first_seq DESC LIMIT ?3",
                )
                .map_err(db)?;
            let rows = st
                .query_map(
                    params![team.to_string(), member.to_string(), i64::try_from(limit).unwrap_or(i64::MAX)],
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

    async fn close(&self) {
        self.shutdown_now();
    }
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
