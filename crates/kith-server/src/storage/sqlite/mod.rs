//! The embedded SQLite storage: one file in the data directory, WAL, `synchronous=FULL`, served by
//! one server process (`kith-server admin ...` may write the same file meanwhile).
//!
//! Writes go through one writer thread doing **group commit** ([`writer`]). Reads use a small pool
//! of connections on blocking threads, so the async runtime never waits on SQLite. Other processes'
//! commits join the change log at the writer's next transaction. The schema and its ordered
//! migrations are in [`schema`];
//! the queries by concern in [`auth`], [`docs`], [`alerts`] and [`webhooks`].

mod alerts;
mod auth;
mod docs;
pub mod schema;
mod webhooks;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use kith_domain::{DeviceId, MemberId, Role, ShiftId, TeamId};
use kith_proto::Kind;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use self::auth::AuthCache;
use self::writer::{Job, Logged};
use super::log::ChangeLog;
use super::*;

/// SQLite storage in one file.
pub struct SqliteStorage {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<Readers>,
    closed: AtomicBool,
    /// The change log in process (see [`super::log`]), shared with the writer and the watcher.
    log: Arc<ChangeLog>,
    /// What the jobs of the transaction in progress stored (published once it commits).
    pending: Arc<Mutex<Logged>>,
    /// Device lookups by token hash (see [`auth::AuthCache`]).
    auth: Mutex<AuthCache>,
    /// Reads the auth generation inline: one row, no trip through the blocking pool.
    /// `None` once closed.
    gen_conn: Mutex<Option<Connection>>,
}

/// The read connections, and how many are out. Closing waits for those out to come back, so no
/// connection outlives `close`: SQLite moves the WAL into the database file when the last one
/// closes, and a backup made by copying the file after stopping relies on that.
#[derive(Default)]
struct Readers {
    state: Mutex<ReadersState>,
    returned: Condvar,
}

#[derive(Default)]
struct ReadersState {
    idle: Vec<Connection>,
    out: usize,
    closed: bool,
}

/// One read connection out of [`Readers`]; given back (or closed, once the pool is) on drop.
struct ReaderOut<'a> {
    pool: &'a Readers,
    conn: Option<Connection>,
}

impl Drop for ReaderOut<'_> {
    fn drop(&mut self) {
        let mut s = lock(&self.pool.state);
        if let Some(c) = self.conn.take()
            && !s.closed
            && s.idle.len() < MAX_READERS
        {
            s.idle.push(c);
        }
        // A connection not kept is closed here, before `out` says it is back.
        s.out -= 1;
        drop(s);
        self.pool.returned.notify_all();
    }
}

/// How long closing waits for reads in flight (each one query) before it goes on.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage").field("path", &self.path).finish()
    }
}

/// A SQLite error as a [`StorageError`]: busy, locked, a full disk, out of memory, an interrupted
/// statement and a file that cannot be opened now may pass ([`StorageError::Unavailable`]); a
/// corrupt or foreign file, a broken constraint, a read-only database, a schema this build does
/// not expect and every error of ours (a type mismatch, misuse) will not ([`StorageError::Db`]).
pub(crate) fn db(e: rusqlite::Error) -> StorageError {
    use rusqlite::ErrorCode as C;
    let transient = match &e {
        rusqlite::Error::SqliteFailure(f, _) => matches!(
            f.code,
            C::DatabaseBusy
                | C::DatabaseLocked
                | C::DiskFull
                | C::OutOfMemory
                | C::OperationInterrupted
                | C::CannotOpen
                | C::FileLockingProtocolFailed
        ),
        _ => false,
    };
    if transient { StorageError::Unavailable(e.to_string()) } else { StorageError::Db(e.to_string()) }
}

fn open_conn(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open(path)
        .map_err(|e| StorageError::Db(format!("cannot open the database {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
    // temp_store: each write job runs in a savepoint, whose statement journal (the pages it
    // changed, to roll back to) spilled past 64 KiB into a temporary file in /var/tmp or $TMPDIR,
    // one file per transaction, and under load more page writes to it than to the WAL. In memory
    // it takes no system call, and a full or read-only temporary directory cannot fail a write;
    // it holds only the pages of the job being run.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;",
    )
    .map_err(db)?;
    Ok(conn)
}

/// Read connections kept open for reuse.
const MAX_READERS: usize = 64;

/// Each read connection's page cache, in KiB (SQLite's default is 2 MiB per connection): the pool
/// grows to as many connections as reads run at once, and each cache fills up as the database
/// grows, so it was most of what the server held for the database. Pages not cached are read from
/// the operating system's file cache.
const READER_CACHE_KIB: u32 = 256;

fn open_reader(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open(path)
        .map_err(|e| StorageError::Db(format!("cannot open the database {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{READER_CACHE_KIB};")).map_err(db)?;
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
        let mut conn = open_conn(path)?;
        schema::upgrade(&mut conn, path)?;
        let actor: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM meta WHERE key = 'server_actor'", [], |r| r.get(0))
            .optional()
            .map_err(db)?;
        if actor.is_none() {
            let a: [u8; 16] = rand::random();
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('server_actor', ?1)", params![a.to_vec()])
                .map_err(db)?;
        }
        let key: [u8; 32] = rand::random();
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('receipt_key', ?1)", params![key.to_vec()])
            .map_err(db)?;
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('auth_gen', 0)", []).map_err(db)?;
        let server_actor: Vec<u8> =
            conn.query_row("SELECT value FROM meta WHERE key = 'server_actor'", [], |r| r.get(0)).map_err(db)?;
        let last = docs::last_change(&conn)?;
        let log = Arc::new(ChangeLog::new(last, server_actor));
        let pending = Arc::new(Mutex::new(Logged::default()));
        let gen_conn = open_reader(path)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let (shared, p) = (log.clone(), pending.clone());
        let thread = std::thread::Builder::new()
            .name("kith-sqlite-writer".into())
            .spawn(move || writer::writer_loop(conn, rx, &shared, &p))
            .map_err(|e| StorageError::Db(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStorage {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(thread)),
            readers: Arc::new(Readers::default()),
            closed: AtomicBool::new(false),
            log,
            pending,
            auth: Mutex::new(AuthCache::default()),
            gen_conn: Mutex::new(Some(gen_conn)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled read connection on a blocking thread.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StorageError> + Send + 'static,
    ) -> StorageResult<R> {
        self.check_open()?;
        let pool = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let idle = {
                let mut s = lock(&pool.state);
                // A read queued before the close must not open a connection after it.
                if s.closed {
                    return Err(StorageError::Closed);
                }
                s.out += 1;
                s.idle.pop()
            };
            let mut out = ReaderOut { pool: &pool, conn: idle };
            if out.conn.is_none() {
                out.conn = Some(open_reader(&path)?);
            }
            match &out.conn {
                Some(conn) => f(conn),
                None => Err(StorageError::Closed),
            }
        })
        .await
        .map_err(|e| StorageError::Db(format!("read task failed: {e}")))?
    }

    fn check_open(&self) -> StorageResult<()> {
        if self.closed.load(Ordering::SeqCst) { Err(StorageError::Closed) } else { Ok(()) }
    }

    fn shutdown_now(&self) {
        self.closed.store(true, Ordering::SeqCst);
        // The followers of the change log end when it closes.
        self.log.close();
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
        if let Ok(mut t) = self.writer_thread.lock()
            && let Some(t) = t.take()
        {
            let _ = t.join();
        }
        lock(&self.gen_conn).take();
        let mut s = lock(&self.readers.state);
        s.closed = true;
        s.idle.clear();
        let until = std::time::Instant::now() + CLOSE_WAIT;
        while s.out > 0 {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                tracing::warn!(reads = s.out, "closing the database with reads still in flight");
                break;
            }
            s = self.readers.returned.wait_timeout(s, left).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
    }
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn parse_uuid(s: &str) -> Result<Uuid, StorageError> {
    Uuid::parse_str(s).map_err(|_| StorageError::Corrupt(format!("'{s}' is not a UUID")))
}

pub(super) fn parse_kind(s: &str) -> Result<Kind, StorageError> {
    Kind::parse(s).ok_or_else(|| StorageError::Corrupt(format!("unknown document kind '{s}'")))
}

pub(super) fn u(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

pub(super) fn i(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn server_actor(&self) -> StorageResult<Vec<u8>> {
        auth::server_actor(self).await
    }
    async fn receipt_key(&self) -> StorageResult<Vec<u8>> {
        auth::receipt_key(self).await
    }
    async fn create_team(&self, team: TeamRecord, team_doc: AppendChanges) -> StorageResult<()> {
        auth::create_team(self, team, team_doc).await
    }
    async fn team(&self, id: TeamId) -> StorageResult<Option<TeamRecord>> {
        auth::team(self, id).await
    }
    async fn teams(&self) -> StorageResult<Vec<TeamRecord>> {
        auth::teams(self).await
    }
    async fn members(&self, team: TeamId) -> StorageResult<Vec<MemberRecord>> {
        auth::members(self, team).await
    }
    async fn set_member_roles(&self, team: TeamId, roles: Vec<(MemberId, Role)>) -> StorageResult<usize> {
        auth::set_member_roles(self, team, roles).await
    }
    async fn create_invite(&self, invite: InviteRecord) -> StorageResult<()> {
        auth::create_invite(self, invite).await
    }
    async fn redeem_invite(&self, code_hash: Vec<u8>, now: i64, join: NewDevice) -> StorageResult<Redeem> {
        auth::redeem_invite(self, code_hash, now, join).await
    }
    async fn device_by_token(&self, token_hash: Vec<u8>) -> StorageResult<Option<DeviceAuth>> {
        auth::device_by_token(self, token_hash).await
    }
    async fn devices(&self, team: Option<TeamId>) -> StorageResult<Vec<DeviceRecord>> {
        auth::devices(self, team).await
    }
    async fn revoke_device(&self, id: DeviceId, at: i64) -> StorageResult<bool> {
        auth::revoke_device(self, id, at).await
    }
    async fn read_auth_generation(&self) -> StorageResult<i64> {
        auth::auth_generation(self)
    }
    async fn doc_meta(&self, id: Uuid) -> StorageResult<Option<DocMeta>> {
        docs::doc_meta(self, id).await
    }
    async fn load_doc(&self, id: Uuid) -> StorageResult<Option<LoadedDoc>> {
        docs::load_doc(self, id).await
    }
    async fn append_changes_with(&self, batch: AppendChanges, derived: Derived) -> StorageResult<Vec<u64>> {
        docs::append_changes_with(self, batch, derived).await
    }
    async fn flush(&self) -> StorageResult<()> {
        self.write(|_| Ok(())).await
    }
    fn committed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.log.committed()
    }
    async fn stored_since(&self, after: u64, limit: usize) -> StorageResult<Vec<StoredRef>> {
        docs::stored_since(self, after, limit).await
    }
    fn take_notes(&self) -> Option<tokio::sync::mpsc::Receiver<Committed>> {
        self.log.take_notes()
    }
    fn set_feed_window_bytes(&self, bytes: usize) {
        self.log.set_window_bytes(bytes);
    }
    fn set_auth_cache_bytes(&self, bytes: usize) {
        lock(&self.auth).set_max_bytes(bytes);
    }
    async fn put_snapshot(&self, doc: Uuid, upto_seq: u64, bytes: Vec<u8>) -> StorageResult<()> {
        docs::put_snapshot(self, doc, upto_seq, bytes).await
    }
    async fn count_docs(&self) -> StorageResult<u64> {
        docs::count_docs(self).await
    }
    async fn feed_docs(&self, scope: FeedScope, after: u64, limit: usize) -> StorageResult<Vec<FeedEntry>> {
        docs::feed_docs(self, scope, after, limit).await
    }
    async fn changes_after(&self, doc: Uuid, after: u64) -> StorageResult<Vec<StoredChange>> {
        docs::changes_after(self, doc, after).await
    }
    fn recent_hashes(&self, doc: Uuid, after: u64) -> Option<Vec<Vec<u8>>> {
        self.check_open().ok()?;
        self.log.recent().hashes_after(doc, after)
    }
    async fn change_at_or_before(&self, seq: u64) -> StorageResult<Option<(u64, Vec<u8>)>> {
        docs::change_at_or_before(self, seq).await
    }
    async fn max_seq(&self) -> StorageResult<u64> {
        docs::max_seq(self).await
    }
    async fn feed_position(&self, cursor_seq: u64) -> StorageResult<FeedPosition> {
        docs::feed_position(self, cursor_seq).await
    }
    async fn member_shifts(
        &self,
        team: TeamId,
        member: MemberId,
        since: Option<i64>,
        limit: usize,
    ) -> StorageResult<Vec<Uuid>> {
        docs::member_shifts(self, team, member, since, limit).await
    }
    async fn board_shifts(&self, team: TeamId) -> StorageResult<Vec<ShiftId>> {
        docs::board_shifts(self, team).await
    }
    async fn insert_alert(&self, alert: AlertRecord, event: Option<WebhookEvent>) -> StorageResult<bool> {
        alerts::insert_alert(self, alert, event).await
    }
    async fn fire_step(&self, alert: Uuid, step: FiredStep, event: Option<WebhookEvent>) -> StorageResult<bool> {
        alerts::fire_step(self, alert, step, event).await
    }
    async fn update_alert(
        &self,
        alert: AlertRecord,
        expect: AlertState,
        event: Option<WebhookEvent>,
    ) -> StorageResult<bool> {
        alerts::update_alert(self, alert, expect, event).await
    }
    async fn update_alert_logged(
        &self,
        alert: AlertRecord,
        expect: AlertState,
        owner_was: Option<MemberId>,
        event: Option<WebhookEvent>,
        log: AlertLogEntry,
    ) -> StorageResult<bool> {
        alerts::update_alert_logged(self, alert, expect, owner_was, event, log).await
    }
    async fn alert_histories(
        &self,
        alerts: Vec<Uuid>,
    ) -> StorageResult<std::collections::HashMap<Uuid, (Vec<FiredStep>, Vec<AlertLogEntry>)>> {
        alerts::alert_histories(self, alerts).await
    }
    async fn alert(&self, id: Uuid) -> StorageResult<Option<AlertRecord>> {
        alerts::alert(self, id).await
    }
    async fn alerts(&self, team: Option<TeamId>, unresolved: bool, limit: usize) -> StorageResult<Vec<AlertRecord>> {
        alerts::alerts(self, team, unresolved, limit).await
    }
    async fn alert_steps(&self, alert: Uuid) -> StorageResult<Vec<FiredStep>> {
        alerts::alert_steps(self, alert).await
    }
    async fn checkin_receipts(&self, shift: ShiftId) -> StorageResult<Vec<CheckinReceipt>> {
        docs::checkin_receipts(self, shift).await
    }
    async fn shift_receipts(&self, shifts: Vec<ShiftId>) -> StorageResult<Vec<StoredReceipts>> {
        docs::shift_receipts(self, shifts).await
    }
    async fn set_device_offset(&self, device: DeviceId, offset_ms: i64, at: i64) -> StorageResult<()> {
        auth::set_device_offset(self, device, offset_ms, at).await
    }
    async fn device_offset(&self, device: DeviceId) -> StorageResult<Option<(i64, i64)>> {
        auth::device_offset(self, device).await
    }
    async fn track_shifts(&self, shifts: Vec<Tracking>) -> StorageResult<()> {
        docs::track_shifts(self, shifts).await
    }
    async fn active_shifts(&self) -> StorageResult<Vec<TrackedShift>> {
        docs::active_shifts(self).await
    }
    async fn untracked_shifts(&self, limit: usize) -> StorageResult<Vec<(ShiftId, i64)>> {
        docs::untracked_shifts(self, limit).await
    }
    async fn set_webhook(&self, team: TeamId, hook: Option<WebhookConfig>) -> StorageResult<()> {
        webhooks::set_webhook(self, team, hook).await
    }
    async fn webhook(&self, team: TeamId) -> StorageResult<Option<WebhookConfig>> {
        webhooks::webhook(self, team).await
    }
    async fn due_deliveries(&self, now: i64, limit: usize) -> StorageResult<Vec<Delivery>> {
        webhooks::due_deliveries(self, now, limit).await
    }
    async fn next_delivery_at(&self) -> StorageResult<Option<i64>> {
        webhooks::next_delivery_at(self).await
    }
    async fn record_attempt(&self, delivery: i64, attempt: DeliveryAttempt) -> StorageResult<()> {
        webhooks::record_attempt(self, delivery, attempt).await
    }
    async fn deliveries(&self, team: TeamId) -> StorageResult<Vec<Delivery>> {
        webhooks::deliveries(self, team).await
    }

    // One server process per database file: presence lives in its memory (crate::presence).
    async fn set_presence(
        &self,
        _instance: &str,
        _team: TeamId,
        _member: MemberId,
        _connections: u32,
        _now: i64,
        _ttl_ms: i64,
    ) -> StorageResult<()> {
        Ok(())
    }
    async fn presence_beat(&self, _instance: &str, _now: i64, _ttl_ms: i64) -> StorageResult<()> {
        Ok(())
    }
    async fn presence(&self, _of: Option<(TeamId, MemberId)>, _now: i64) -> StorageResult<Vec<PresenceRow>> {
        Ok(Vec::new())
    }
    fn presence_changes(&self) -> Option<tokio::sync::broadcast::Receiver<(TeamId, MemberId)>> {
        None
    }

    async fn tell_instances(&self, _message: String) -> StorageResult<()> {
        Ok(())
    }
    fn instance_messages(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }

    /// One server process per database file: the lease is always its own.
    async fn hold_lease(&self, _name: &str, _holder: &str, _now: i64, _ttl_ms: i64) -> StorageResult<bool> {
        self.check_open()?;
        Ok(true)
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// The temporary files this process holds open (SQLite names them `etilqs_…` and unlinks
    /// them at once, so only their descriptors show them).
    fn open_temp_files() -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_link(e.path()).ok())
                    .filter(|t| t.to_string_lossy().contains("etilqs"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Whether a row of `meta` with this key is stored.
    async fn stored(s: &SqliteStorage, key: &'static str) -> bool {
        s.read(move |c| {
            c.query_row("SELECT count(*) FROM meta WHERE key = ?1", params![key], |r| r.get::<_, i64>(0)).map_err(db)
        })
        .await
        .unwrap()
            == 1
    }

    /// SQLite may roll back a whole transaction when a statement fails on a full disk, an I/O
    /// error or memory running out, not only the failing job's savepoint. The writer kept running
    /// the batch's other jobs, each then committing on its own outside the transaction, and the
    /// batch's COMMIT failed ("no transaction is active", not retryable) for every job: a job told
    /// it failed for good had been stored, and those undone were not told to retry.
    #[tokio::test]
    async fn a_transaction_the_database_rolls_back_commits_nothing_half_way_and_its_jobs_retry() {
        use futures_util::FutureExt;
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("kith.sqlite3")).unwrap();
        // Holds the writer, so the three jobs below are queued together and run in one batch.
        let (started, running) = std::sync::mpsc::channel::<()>();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let mut blocker = Box::pin(s.write(move |_| {
            let _ = started.send(());
            let _ = hold.recv();
            Ok(())
        }));
        assert!((&mut blocker).now_or_never().is_none());
        running.recv().unwrap();
        let insert = |key: &'static str| {
            move |c: &Connection| {
                c.execute("INSERT INTO meta (key, value) VALUES (?1, x'00')", params![key]).map_err(db).map(|_| ())
            }
        };
        let mut a = Box::pin(s.write(insert("a")));
        // What SQLite does to the transaction when a statement fails past what a savepoint undoes.
        let mut b = Box::pin(s.write(|c| {
            c.execute_batch("ROLLBACK").map_err(db)?;
            Err::<(), _>(StorageError::Unavailable("database or disk is full (as if)".into()))
        }));
        let mut c = Box::pin(s.write(insert("c")));
        assert!((&mut a).now_or_never().is_none(), "queued, waiting for the writer");
        assert!((&mut b).now_or_never().is_none());
        assert!((&mut c).now_or_never().is_none());
        release.send(()).unwrap();
        blocker.await.unwrap();
        let (a, b, c) = (a.await, b.await, c.await);
        assert!(matches!(&a, Err(e) if e.retryable()), "a job undone with the transaction is told to retry: {a:?}");
        assert!(!stored(&s, "a").await);
        assert_eq!(
            b,
            Err(StorageError::Unavailable("database or disk is full (as if)".into())),
            "the failing job says why"
        );
        assert!(c.is_ok(), "a job that had not run goes in the next transaction: {c:?}");
        assert!(stored(&s, "c").await);
    }

    #[tokio::test]
    async fn a_write_job_keeps_its_statement_journal_in_memory_and_a_failed_one_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("kith.sqlite3")).unwrap();
        // Fills the database so the job below changes pages that already exist (only those are
        // journalled), well past the journal's 64 KiB spill threshold.
        s.write(|c| {
            for i in 0..200 {
                c.execute("INSERT INTO meta (key, value) VALUES (?1, zeroblob(3000))", params![format!("t{i}")])
                    .map_err(db)?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let seen = Arc::new(AtomicUsize::new(usize::MAX));
        let during = seen.clone();
        let r = s
            .write(move |c| {
                c.execute("UPDATE meta SET value = zeroblob(3001) WHERE key LIKE 't%'", []).map_err(db)?;
                during.store(open_temp_files(), Ordering::SeqCst);
                Err::<(), _>(StorageError::Db("rolled back on purpose".into()))
            })
            .await;
        assert!(matches!(r, Err(StorageError::Db(_))), "{r:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 0, "the job's statement journal went to a temporary file");
        // Its savepoint was rolled back from the journal held in memory: nothing of it is stored.
        let n = s
            .read(|c| {
                c.query_row("SELECT count(*) FROM meta WHERE key LIKE 't%' AND length(value) = 3000", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(db)
            })
            .await
            .unwrap();
        assert_eq!(n, 200);
    }
}
