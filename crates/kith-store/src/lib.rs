//! The device's local store: Automerge documents (shifts, teams, ...) kept in one SQLite file.
//!
//! Each document is a snapshot (`Automerge::save()`) plus small incremental change chunks. A local
//! change is durable on disk (committed, fsync'd) before [`Store::change_doc`] returns, and costs
//! O(size of the change). Chunks are folded into the snapshot by compaction, in the background.
//! Several processes (the app and the CLI) may open the same file. The store knows nothing about
//! what the documents contain. It is the native driver of `kith_core::Repo`: the decisions (edits,
//! sync, reminders, views) are the core's, shared with the browser.

mod compaction;
mod error;
mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

pub use error::StoreError;
pub use kith_core::repo::{DocInfo, Receipt, RemoteApplied};

use kith_core::chunks;
pub use schema::{KITH_APPLICATION_ID, SCHEMA_VERSION};

use compaction::Compactor;

/// Default for [`StoreOptions::compaction_floor_bytes`].
pub const DEFAULT_COMPACTION_FLOOR_BYTES: u64 = 4 * 1024;

const ACTOR_KEY: &str = "store.actor_id";
const RESERVED_PREFIX: &str = "store.";

/// Tuning knobs for [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// A document is compacted when its chunk bytes reach `max(snapshot size, this floor)`.
    pub compaction_floor_bytes: u64,
    /// Run compaction on a background thread (with its own connection). When false, documents
    /// are only compacted by [`Store::compact`] / [`Store::compact_all`].
    pub background_compaction: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { compaction_floor_bytes: DEFAULT_COMPACTION_FLOOR_BYTES, background_compaction: true }
    }
}

/// Sync bookkeeping of one document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncState {
    /// The heads the server was last known to have.
    pub server_heads: Vec<ChangeHash>,
    /// When the server heads were last recorded (milliseconds since the Unix epoch).
    pub last_synced_ms: Option<i64>,
}

/// Size numbers of the whole store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    pub docs: u64,
    pub snapshot_bytes: u64,
    pub chunk_bytes: u64,
    pub chunk_count: u64,
    /// Size of the database file plus its write-ahead log, as on disk now.
    pub file_bytes: u64,
    /// Size of the write-ahead log alone (it is folded into the file at checkpoints).
    pub wal_bytes: u64,
}

/// A document held in memory, with what this `Store` has seen of its rows.
#[derive(Debug)]
struct CachedDoc {
    kind: String,
    doc: Automerge,
    /// Highest chunk seq loaded into `doc` (or the snapshot's `compacted_through`).
    last_seq: i64,
    compacted_through: i64,
    snapshot_len: u64,
    /// Chunks not yet folded into the snapshot (as far as this store knows): (seq, byte length).
    chunk_lens: Vec<(i64, u64)>,
    compaction_queued: bool,
}

impl CachedDoc {
    fn chunk_bytes(&self) -> u64 {
        self.chunk_lens.iter().map(|(_, len)| len).sum()
    }

    fn saw_compaction(&mut self, compacted_through: i64, snapshot_len: u64) {
        if compacted_through > self.compacted_through {
            self.compacted_through = compacted_through;
            self.snapshot_len = snapshot_len;
            self.chunk_lens.retain(|(seq, _)| *seq > compacted_through);
            self.compaction_queued = false;
        }
    }
}

/// The local store. Not `Sync`: wrap it in a mutex to share it between threads.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    actor: ActorId,
    options: StoreOptions,
    docs: HashMap<Uuid, CachedDoc>,
    compactor: Option<Compactor>,
    /// Inside [`Store::atomically`]: the documents to offer the compactor once the batch commits
    /// (before that it could not see their chunks).
    batch: Option<Vec<Uuid>>,
}

/// A write of one operation: its own `BEGIN IMMEDIATE` transaction, or inside
/// [`Store::atomically`] a savepoint of the batch's transaction (so a failing operation still
/// changes nothing, and the batch commits once).
enum WriteTx<'c> {
    Own(rusqlite::Transaction<'c>),
    InBatch(rusqlite::Savepoint<'c>),
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            WriteTx::Own(t) => t,
            WriteTx::InBatch(s) => s,
        }
    }
}

impl WriteTx<'_> {
    fn begin(conn: &mut Connection, in_batch: bool) -> rusqlite::Result<WriteTx<'_>> {
        if in_batch {
            conn.savepoint().map(WriteTx::InBatch)
        } else {
            conn.transaction_with_behavior(TransactionBehavior::Immediate).map(WriteTx::Own)
        }
    }

    fn commit(self) -> rusqlite::Result<()> {
        match self {
            WriteTx::Own(t) => t.commit(),
            WriteTx::InBatch(s) => s.commit(),
        }
    }
}

/// Ends a batch of [`Store::atomically`] that did not commit (an error or a panic): rolls the
/// transaction back and drops the in-memory copies, which may hold what was rolled back.
struct BatchGuard<'s> {
    store: &'s mut Store,
    open: bool,
}

impl Drop for BatchGuard<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.store.conn.execute_batch("ROLLBACK");
            self.store.docs.clear();
            self.store.batch = None;
        }
    }
}

/// Puts `synchronous = FULL` back if a relaxed batch panics ([`Store::atomically_refetchable`]).
struct FullAgain<'s> {
    store: &'s mut Store,
}

impl Drop for FullAgain<'_> {
    fn drop(&mut self) {
        let _ = self.store.conn.execute_batch("PRAGMA synchronous = FULL");
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

pub(crate) fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite { path: path.to_path_buf(), source }
}

fn len_u64(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

fn decode_heads(id: Uuid, bytes: &[u8]) -> Result<Vec<ChangeHash>, StoreError> {
    if !bytes.len().is_multiple_of(32) {
        return Err(StoreError::BadServerHeads { id });
    }
    bytes.chunks_exact(32).map(|c| ChangeHash::try_from(c).map_err(|_| StoreError::BadServerHeads { id })).collect()
}

/// Loads a whole document (snapshot and all chunks) in one read transaction. `Ok(None)` if the
/// document does not exist.
pub(crate) fn load_doc_full(
    conn: &Connection,
    path: &Path,
    id: Uuid,
    actor: &ActorId,
) -> Result<Option<CachedDoc>, StoreError> {
    let e = sql_err(path);
    let row: Option<(String, Vec<u8>, i64, i64)> = conn
        .prepare_cached("SELECT kind, snapshot, compacted_through, snapshot_len FROM docs WHERE id = ?1")
        .map_err(&e)?
        .query_row(params![id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()
        .map_err(&e)?;
    let Some((kind, snapshot, compacted_through, snapshot_len)) = row else {
        return Ok(None);
    };
    let mut doc =
        Automerge::load(&snapshot).map_err(|err| StoreError::CorruptDocument { id, reason: err.to_string() })?;
    doc.set_actor(actor.clone());
    let mut cached = CachedDoc {
        kind,
        doc,
        last_seq: compacted_through,
        compacted_through,
        snapshot_len: u64::try_from(snapshot_len).unwrap_or(0),
        chunk_lens: Vec::new(),
        compaction_queued: false,
    };
    let mut stmt =
        conn.prepare_cached("SELECT seq, bytes FROM chunks WHERE doc_id = ?1 AND seq > ?2 ORDER BY seq").map_err(&e)?;
    let mut rows = stmt.query(params![id.to_string(), compacted_through]).map_err(&e)?;
    let mut pending = PendingChunks::default();
    while let Some(r) = rows.next().map_err(&e)? {
        let seq: i64 = r.get(0).map_err(&e)?;
        let bytes = r
            .get_ref(1)
            .map_err(&e)?
            .as_blob()
            .map_err(|err| StoreError::CorruptDocument { id, reason: err.to_string() })?;
        pending.push(seq, bytes);
    }
    pending.apply(&mut cached, id)?;
    Ok(Some(cached))
}

/// Chunks read from the database, applied to a document in one `load_incremental` call
/// (much faster than one call per chunk).
#[derive(Default)]
struct PendingChunks {
    bytes: Vec<u8>,
    lens: Vec<(i64, u64)>,
}

impl PendingChunks {
    fn push(&mut self, seq: i64, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        self.lens.push((seq, len_u64(bytes)));
    }

    fn apply(self, cached: &mut CachedDoc, id: Uuid) -> Result<(), StoreError> {
        let Some(&(last, _)) = self.lens.last() else {
            return Ok(());
        };
        cached
            .doc
            .load_incremental(&self.bytes)
            .map_err(|err| StoreError::CorruptDocument { id, reason: format!("chunks up to {last}: {err}") })?;
        cached.chunk_lens.extend(self.lens);
        cached.last_seq = last;
        Ok(())
    }
}

/// Brings `cached` up to date with the database with one indexed query (plus a snapshot read in
/// the rare case another connection compacted chunks this store has not seen). Must run inside a
/// transaction so the reads are consistent. `Ok(None)`: the document does not exist.
fn catch_up(
    conn: &Connection,
    path: &Path,
    id: Uuid,
    cached: Option<CachedDoc>,
    actor: &ActorId,
) -> Result<Option<CachedDoc>, StoreError> {
    let Some(mut cached) = cached else {
        return load_doc_full(conn, path, id, actor);
    };
    let e = sql_err(path);
    let mut stmt = conn
        .prepare_cached(
            "SELECT d.compacted_through, d.snapshot_len, c.seq, c.bytes \
             FROM docs d LEFT JOIN chunks c ON c.doc_id = d.id AND c.seq > ?2 \
             WHERE d.id = ?1 ORDER BY c.seq",
        )
        .map_err(&e)?;
    let mut rows = stmt.query(params![id.to_string(), cached.last_seq]).map_err(&e)?;
    let mut first = true;
    let mut pending = PendingChunks::default();
    while let Some(r) = rows.next().map_err(&e)? {
        if first {
            first = false;
            let compacted_through: i64 = r.get(0).map_err(&e)?;
            let snapshot_len: i64 = r.get(1).map_err(&e)?;
            if compacted_through > cached.last_seq {
                // Another connection folded chunks we never saw into the snapshot.
                let snapshot: Vec<u8> = conn
                    .prepare_cached("SELECT snapshot FROM docs WHERE id = ?1")
                    .map_err(&e)?
                    .query_row(params![id.to_string()], |r| r.get(0))
                    .map_err(&e)?;
                cached
                    .doc
                    .load_incremental(&snapshot)
                    .map_err(|err| StoreError::CorruptDocument { id, reason: format!("snapshot: {err}") })?;
                cached.last_seq = compacted_through;
            }
            cached.saw_compaction(compacted_through, u64::try_from(snapshot_len).unwrap_or(0));
        }
        let seq: Option<i64> = r.get(2).map_err(&e)?;
        if let Some(seq) = seq {
            let bytes = r
                .get_ref(3)
                .map_err(&e)?
                .as_blob()
                .map_err(|err| StoreError::CorruptDocument { id, reason: err.to_string() })?;
            pending.push(seq, bytes);
        }
    }
    if first {
        return Ok(None);
    }
    pending.apply(&mut cached, id)?;
    Ok(Some(cached))
}

impl Store {
    /// Opens (or creates) the store at `path` with default options.
    ///
    /// A file that is not a Kith store, is damaged, or was written by a newer Kith is refused
    /// with an error and is not written to.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, StoreOptions::default())
    }

    /// Opens (or creates) the store at `path`.
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = schema::open_checked(&path)?;
        let actor = load_or_create_actor(&conn, &path)?;
        let compactor =
            if options.background_compaction { Some(Compactor::start(path.clone(), actor.clone())) } else { None };
        Ok(Self { conn, path, actor, options, docs: HashMap::new(), compactor, batch: None })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This device's Automerge actor id, used for every change this store makes.
    pub fn actor_id(&self) -> &ActorId {
        &self.actor
    }

    /// Reads a value saved with [`Store::meta_set`].
    pub fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .map_err(sql_err(&self.path))?
            .query_row(params![key], |r| r.get(0))
            .optional()
            .map_err(sql_err(&self.path))
    }

    /// Saves a small value (e.g. the local profile as JSON); durable when this returns.
    /// Keys starting with `store.` are reserved.
    pub fn meta_set(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        if key.starts_with(RESERVED_PREFIX) {
            return Err(StoreError::ReservedKey { key: key.to_string() });
        }
        self.conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .map_err(sql_err(&self.path))?
            .execute(params![key, value])
            .map_err(sql_err(&self.path))?;
        Ok(())
    }

    /// [`Store::meta_set`] for a value that replaces one holding a secret: the old value leaves
    /// no trace in the file. The freed bytes are zeroed (`secure_delete` for this write) and the
    /// write-ahead log is folded into the file and truncated (best effort while another
    /// connection reads; the last connection to close folds it in anyway).
    pub fn meta_set_erasing(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        let was: i64 = self.conn.query_row("PRAGMA secure_delete", [], |r| r.get(0)).map_err(sql_err(&self.path))?;
        self.conn.execute_batch("PRAGMA secure_delete = ON").map_err(sql_err(&self.path))?;
        let set = self.meta_set(key, value);
        let _ = self.conn.execute_batch(&format!("PRAGMA secure_delete = {was}"));
        set?;
        self.checkpoint();
        Ok(())
    }

    /// Creates document `id` of `kind` and makes its first change with `f`. Durable when this
    /// returns `Ok`. If `f` fails, nothing is written.
    pub fn create_doc<O, E, F>(&mut self, id: Uuid, kind: &str, f: F) -> Result<O, E>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<O, E>,
        E: From<StoreError>,
    {
        let path = self.path.clone();
        let e = sql_err(&path);
        let tx = WriteTx::begin(&mut self.conn, self.batch.is_some()).map_err(&e)?;
        let existing: Option<String> = tx
            .prepare_cached("SELECT kind FROM docs WHERE id = ?1")
            .map_err(&e)?
            .query_row(params![id.to_string()], |r| r.get(0))
            .optional()
            .map_err(&e)?;
        if let Some(kind) = existing {
            return Err(StoreError::DocumentExists { id, kind }.into());
        }
        let mut doc = Automerge::new().with_actor(self.actor.clone());
        let mut t = doc.transaction();
        let out = f(&mut t)?;
        let (hash, _) = t.commit();
        tx.prepare_cached(
            "INSERT INTO docs (id, kind, snapshot, snapshot_len, compacted_through, created_at_ms) \
             VALUES (?1, ?2, X'', 0, 0, ?3)",
        )
        .map_err(&e)?
        .execute(params![id.to_string(), kind, now_ms()])
        .map_err(&e)?;
        let mut cached = CachedDoc {
            kind: kind.to_string(),
            doc,
            last_seq: 0,
            compacted_through: 0,
            snapshot_len: 0,
            chunk_lens: Vec::new(),
            compaction_queued: false,
        };
        if hash.is_some() {
            let bytes = cached.doc.save_after(&[]);
            let seq = insert_chunk(&tx, &path, id, &bytes)?;
            cached.chunk_lens.push((seq, len_u64(&bytes)));
            cached.last_seq = seq;
        }
        record_heads(&tx, &path, id, &cached.doc.get_heads())?;
        tx.commit().map_err(&e)?;
        self.docs.insert(id, cached);
        self.maybe_enqueue(id);
        Ok(out)
    }

    /// Changes document `id` with `f`. The change is durable (one chunk row, committed and
    /// fsync'd) when this returns `Ok`; if `f` fails, nothing is written and the document is
    /// unchanged. Changes written by other processes are loaded first.
    pub fn change_doc<O, E, F>(&mut self, id: Uuid, f: F) -> Result<O, E>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<O, E>,
        E: From<StoreError>,
    {
        let path = self.path.clone();
        let e = sql_err(&path);
        let tx = WriteTx::begin(&mut self.conn, self.batch.is_some()).map_err(&e)?;
        // The cached entry is out of the map while we work: on any early return it is simply
        // dropped and reloaded from the database next time, so memory never runs ahead of disk.
        let cached = self.docs.remove(&id);
        let mut cached = catch_up(&tx, &path, id, cached, &self.actor)?.ok_or(StoreError::UnknownDocument { id })?;
        let heads_before = cached.doc.get_heads();
        let mut t = cached.doc.transaction();
        let out = match f(&mut t) {
            Ok(out) => out,
            Err(err) => {
                t.rollback();
                drop(tx);
                self.docs.insert(id, cached);
                return Err(err);
            }
        };
        let (hash, _) = t.commit();
        if hash.is_some() {
            let bytes = cached.doc.save_after(&heads_before);
            let seq = insert_chunk(&tx, &path, id, &bytes)?;
            record_heads(&tx, &path, id, &cached.doc.get_heads())?;
            tx.commit().map_err(&e)?;
            cached.chunk_lens.push((seq, len_u64(&bytes)));
            cached.last_seq = seq;
        } else {
            drop(tx);
        }
        self.docs.insert(id, cached);
        self.maybe_enqueue(id);
        Ok(out)
    }

    /// The current state of document `id`, including changes written by other processes.
    pub fn doc(&mut self, id: Uuid) -> Result<&Automerge, StoreError> {
        self.refresh(id)?;
        self.docs.get(&id).map(|c| &c.doc).ok_or(StoreError::UnknownDocument { id })
    }

    /// The kind of document `id`.
    pub fn doc_kind(&mut self, id: Uuid) -> Result<String, StoreError> {
        self.refresh(id)?;
        self.docs.get(&id).map(|c| c.kind.clone()).ok_or(StoreError::UnknownDocument { id })
    }

    fn refresh(&mut self, id: Uuid) -> Result<(), StoreError> {
        let e = sql_err(&self.path);
        let cached = self.docs.remove(&id);
        if self.batch.is_some() {
            // The batch's transaction already makes the reads consistent.
            let cached =
                catch_up(&self.conn, &self.path, id, cached, &self.actor)?.ok_or(StoreError::UnknownDocument { id })?;
            self.docs.insert(id, cached);
            return Ok(());
        }
        let tx = self.conn.unchecked_transaction().map_err(&e)?;
        let cached = catch_up(&tx, &self.path, id, cached, &self.actor)?.ok_or(StoreError::UnknownDocument { id })?;
        tx.commit().map_err(&e)?;
        self.docs.insert(id, cached);
        Ok(())
    }

    /// Runs `f` as one transaction: everything it writes becomes durable together, with one
    /// commit (one fsync) when it returns `Ok`, instead of one per write; if it fails (or
    /// panics), nothing it wrote is kept. Each write inside still fails alone (a savepoint), and
    /// reads see the batch's own writes. Inside `f`, "durable when this returns" means "when the
    /// batch commits". Nested calls are part of the outer batch. Other connections wait for the
    /// batch to end before writing (so keep it short: never across the network).
    pub fn atomically<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Store) -> Result<T, E>,
        E: From<StoreError>,
    {
        if self.batch.is_some() {
            return f(self);
        }
        let path = self.path.clone();
        let e = sql_err(&path);
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(&e)?;
        self.batch = Some(Vec::new());
        let mut guard = BatchGuard { store: self, open: true };
        let out = f(&mut *guard.store)?;
        guard.store.conn.execute_batch("COMMIT").map_err(&e)?;
        guard.open = false;
        let store = &mut *guard.store;
        for id in store.batch.take().unwrap_or_default() {
            store.maybe_enqueue(id);
        }
        Ok(out)
    }

    /// [`Store::atomically`] for writes that only record what the server holds (a sync answer:
    /// its changes, heads, receipts, cursor), which the device can fetch again: committed without
    /// waiting for the disk (`synchronous = NORMAL` for this one commit; with the write-ahead log
    /// the batch is still all or nothing, and survives the app crashing, but a power loss may
    /// lose it, with whatever else came after the last synced commit, never half of it; the next
    /// sync then fetches it again). Everything else, a user's own writes first, keeps
    /// `synchronous = FULL` (durable when its call returns), and such a commit also makes every
    /// earlier one durable. Saves the lead's device an fsync on every answer (docs/benchmarks.md).
    pub fn atomically_refetchable<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Store) -> Result<T, E>,
        E: From<StoreError>,
    {
        if self.batch.is_some() {
            return f(self);
        }
        let path = self.path.clone();
        let e = sql_err(&path);
        self.conn.execute_batch("PRAGMA synchronous = NORMAL").map_err(&e)?;
        let guard = FullAgain { store: self };
        let out = guard.store.atomically(f);
        let restored = guard.store.conn.execute_batch("PRAGMA synchronous = FULL").map_err(&e);
        std::mem::forget(guard);
        let out = out?;
        restored?;
        Ok(out)
    }

    /// Whether document `id` exists in the store.
    pub fn has_doc(&self, id: Uuid) -> Result<bool, StoreError> {
        if self.docs.contains_key(&id) {
            return Ok(true);
        }
        self.conn
            .prepare_cached("SELECT 1 FROM docs WHERE id = ?1")
            .map_err(sql_err(&self.path))?
            .exists(params![id.to_string()])
            .map_err(sql_err(&self.path))
    }

    /// All documents, or those of one kind, oldest first.
    pub fn list_docs(&self, kind: Option<&str>) -> Result<Vec<DocInfo>, StoreError> {
        let e = sql_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, kind, created_at_ms FROM docs WHERE ?1 IS NULL OR kind = ?1 \
                 ORDER BY created_at_ms, id",
            )
            .map_err(&e)?;
        let rows = stmt
            .query_map(params![kind], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
            .map_err(&e)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, created_at_ms) = row.map_err(&e)?;
            let id = Uuid::parse_str(&id).map_err(|_| StoreError::CorruptDocument {
                id: Uuid::nil(),
                reason: format!("stored document id '{id}' is not a UUID"),
            })?;
            out.push(DocInfo { id, kind, created_at_ms });
        }
        Ok(out)
    }

    /// Loads changes received from the server (a `save()`, `save_after()` or concatenated change
    /// chunks), creating the document if it is unknown. The new changes are durable when this
    /// returns. Changes whose dependencies are missing are stored too and reported in
    /// [`RemoteApplied::missing_deps`]. Bytes that are not valid Automerge data are refused and
    /// nothing is stored.
    pub fn apply_remote(&mut self, id: Uuid, kind: &str, bytes: &[u8]) -> Result<RemoteApplied, StoreError> {
        let changes = chunks::parse_changes(bytes).map_err(|reason| StoreError::InvalidRemoteData { id, reason })?;
        let received_heads = chunks::heads_of(&changes);
        let path = self.path.clone();
        let e = sql_err(&path);
        let tx = WriteTx::begin(&mut self.conn, self.batch.is_some()).map_err(&e)?;
        let cached = self.docs.remove(&id);
        let (mut cached, created) = match catch_up(&tx, &path, id, cached, &self.actor)? {
            Some(c) => (c, false),
            None => {
                tx.prepare_cached(
                    "INSERT INTO docs (id, kind, snapshot, snapshot_len, compacted_through, created_at_ms) \
                     VALUES (?1, ?2, X'', 0, 0, ?3)",
                )
                .map_err(&e)?
                .execute(params![id.to_string(), kind, now_ms()])
                .map_err(&e)?;
                let c = CachedDoc {
                    kind: kind.to_string(),
                    doc: Automerge::new().with_actor(self.actor.clone()),
                    last_seq: 0,
                    compacted_through: 0,
                    snapshot_len: 0,
                    chunk_lens: Vec::new(),
                    compaction_queued: false,
                };
                (c, true)
            }
        };
        if cached.kind != kind {
            let actual = cached.kind.clone();
            self.docs.insert(id, cached);
            return Err(StoreError::KindMismatch { id, expected: kind.to_string(), actual });
        }
        let new: Vec<Change> =
            changes.into_iter().filter(|c| cached.doc.get_change_by_hash(&c.hash()).is_none()).collect();
        // Changes still waiting for dependencies are not returned by get_change_by_hash, so a
        // re-sent one is stored again; that is harmless (loading is idempotent).
        let mut stored = Vec::new();
        for c in &new {
            stored.extend_from_slice(c.raw_bytes());
        }
        if !new.is_empty() {
            cached
                .doc
                .apply_changes(new.clone())
                .map_err(|source| StoreError::RemoteRejected { id, source: Box::new(source) })?;
            let seq = insert_chunk(&tx, &path, id, &stored)?;
            record_heads(&tx, &path, id, &cached.doc.get_heads())?;
            tx.commit().map_err(&e)?;
            cached.chunk_lens.push((seq, len_u64(&stored)));
            cached.last_seq = seq;
        } else if created {
            tx.commit().map_err(&e)?;
        } else {
            drop(tx);
        }
        let missing_deps = cached.doc.get_missing_deps(&[]);
        let heads = cached.doc.get_heads();
        self.docs.insert(id, cached);
        self.maybe_enqueue(id);
        Ok(RemoteApplied { created, new_changes: new.len(), missing_deps, heads, received_heads })
    }

    /// The sync bookkeeping of document `id` (empty heads if it was never synced).
    pub fn sync_state(&self, id: Uuid) -> Result<SyncState, StoreError> {
        if !self.has_doc(id)? {
            return Err(StoreError::UnknownDocument { id });
        }
        let row: Option<(Vec<u8>, Option<i64>)> = self
            .conn
            .prepare_cached("SELECT server_heads, last_synced_ms FROM sync_state WHERE doc_id = ?1")
            .map_err(sql_err(&self.path))?
            .query_row(params![id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(sql_err(&self.path))?;
        match row {
            None => Ok(SyncState::default()),
            Some((heads, last_synced_ms)) => Ok(SyncState { server_heads: decode_heads(id, &heads)?, last_synced_ms }),
        }
    }

    /// The heads the server was last known to have for document `id`.
    pub fn server_heads(&self, id: Uuid) -> Result<Vec<ChangeHash>, StoreError> {
        Ok(self.sync_state(id)?.server_heads)
    }

    /// Records the heads the server has for document `id`, with the current time as the last
    /// synced time. Durable when this returns.
    pub fn set_server_heads(&mut self, id: Uuid, heads: &[ChangeHash]) -> Result<(), StoreError> {
        if !self.has_doc(id)? {
            return Err(StoreError::UnknownDocument { id });
        }
        self.conn
            .prepare_cached(
                "INSERT INTO sync_state (doc_id, server_heads, last_synced_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (doc_id) DO UPDATE SET server_heads = excluded.server_heads, \
                 last_synced_ms = excluded.last_synced_ms",
            )
            .map_err(sql_err(&self.path))?
            .execute(params![id.to_string(), encode_heads(&sorted(heads)), now_ms()])
            .map_err(sql_err(&self.path))?;
        Ok(())
    }

    /// Records the server's receipt for `heads` of document `id` (kept even when the server heads
    /// are reset). Durable when this returns.
    pub fn set_receipt(&mut self, id: Uuid, heads: &[ChangeHash], receipt: &[u8]) -> Result<(), StoreError> {
        if !self.has_doc(id)? {
            return Err(StoreError::UnknownDocument { id });
        }
        let heads = encode_heads(&sorted(heads));
        self.conn
            .prepare_cached(
                "INSERT INTO sync_state (doc_id, server_heads, vouch_heads, receipt) VALUES (?1, ?2, ?2, ?3) \
                 ON CONFLICT (doc_id) DO UPDATE SET vouch_heads = excluded.vouch_heads, receipt = excluded.receipt",
            )
            .map_err(sql_err(&self.path))?
            .execute(params![id.to_string(), heads, receipt])
            .map_err(sql_err(&self.path))?;
        Ok(())
    }

    /// The server's last receipt for document `id`, with the heads it vouches for.
    pub fn receipt(&self, id: Uuid) -> Result<Option<Receipt>, StoreError> {
        type Row = (Option<Vec<u8>>, Option<Vec<u8>>);
        let row: Option<Row> = self
            .conn
            .prepare_cached("SELECT vouch_heads, receipt FROM sync_state WHERE doc_id = ?1")
            .map_err(sql_err(&self.path))?
            .query_row(params![id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(sql_err(&self.path))?;
        match row {
            Some((Some(heads), Some(receipt))) => Ok(Some(Receipt { heads: decode_heads(id, &heads)?, receipt })),
            _ => Ok(None),
        }
    }

    /// The changes of document `id` that the server does not have (according to its recorded
    /// heads), in causal order.
    pub fn pending_changes(&mut self, id: Uuid) -> Result<Vec<Change>, StoreError> {
        let server = self.server_heads(id)?;
        let doc = self.doc(id)?;
        Ok(doc.get_changes(&server))
    }

    /// Documents that have changes the server does not have. One query finds the documents
    /// whose heads differ from the server heads recorded for them; only those are loaded.
    pub fn docs_with_pending_changes(&mut self) -> Result<Vec<Uuid>, StoreError> {
        let path = self.path.clone();
        let e = sql_err(&path);
        let candidates: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT d.id FROM docs d LEFT JOIN sync_state s ON s.doc_id = d.id \
                     WHERE d.heads IS NULL OR s.server_heads IS NULL OR d.heads != s.server_heads \
                     ORDER BY d.created_at_ms, d.id",
                )
                .map_err(&e)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(&e)?;
            rows.collect::<Result<_, _>>().map_err(&e)?
        };
        let mut out = Vec::new();
        for id in candidates {
            let id = Uuid::parse_str(&id).map_err(|_| StoreError::CorruptDocument {
                id: Uuid::nil(),
                reason: format!("stored document id '{id}' is not a UUID"),
            })?;
            let server = self.server_heads(id)?;
            let doc = self.doc(id)?;
            let mut heads = doc.get_heads();
            let pending = !doc.get_changes(&server).is_empty();
            heads.sort();
            // Keep the stored heads current (a store written before they were recorded).
            record_heads(&self.conn, &self.path, id, &heads)?;
            if pending {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Folds the chunks of document `id` into its snapshot now. Returns false if there was
    /// nothing to do (or another connection compacted it at the same time).
    pub fn compact(&mut self, id: Uuid) -> Result<bool, StoreError> {
        if !self.has_doc(id)? {
            return Err(StoreError::UnknownDocument { id });
        }
        let done = compaction::compact_doc(&self.conn, &self.path, id, &self.actor, self.batch.is_some())?;
        if let Some((compacted_through, snapshot_len)) = done
            && let Some(cached) = self.docs.get_mut(&id)
        {
            cached.saw_compaction(compacted_through, snapshot_len);
        }
        Ok(done.is_some())
    }

    /// Compacts every document that has chunks. Returns how many were compacted.
    pub fn compact_all(&mut self) -> Result<usize, StoreError> {
        let mut n = 0;
        for info in self.list_docs(None)? {
            if self.compact(info.id)? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Waits until the background compactor has handled everything queued so far (tests and
    /// benches use this; the app never needs to).
    pub fn wait_for_background_compaction(&self) {
        if let Some(c) = &self.compactor {
            c.wait_idle();
        }
    }

    /// Size numbers of the whole store.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let e = sql_err(&self.path);
        let (docs, snapshot_bytes): (i64, i64) = self
            .conn
            .query_row("SELECT count(*), coalesce(sum(snapshot_len), 0) FROM docs", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&e)?;
        let (chunk_count, chunk_bytes): (i64, i64) = self
            .conn
            .query_row("SELECT count(*), coalesce(sum(length(bytes)), 0) FROM chunks", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(&e)?;
        let file_len = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal_bytes = file_len(PathBuf::from(wal));
        let file_bytes = file_len(self.path.clone()) + wal_bytes;
        let u = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(StoreStats {
            docs: u(docs),
            snapshot_bytes: u(snapshot_bytes),
            chunk_bytes: u(chunk_bytes),
            chunk_count: u(chunk_count),
            file_bytes,
            wal_bytes,
        })
    }

    /// Drops the in-memory copies of all documents (they are reloaded on next use).
    pub fn evict_cache(&mut self) {
        self.docs.clear();
    }

    /// Closes the store. Everything acknowledged is already on disk; a pending background
    /// compaction is skipped. The write-ahead log is folded into the file when no other
    /// connection is using it (best effort).
    pub fn close(mut self) -> Result<(), StoreError> {
        if let Some(c) = self.compactor.take() {
            c.stop();
        }
        self.checkpoint();
        Ok(())
    }

    /// Folds the write-ahead log into the database file and truncates it, if no other
    /// connection is reading or writing (best effort; needed by nothing but disk usage).
    pub fn checkpoint(&self) {
        // Never wait for other connections here.
        let _ = self.conn.busy_timeout(std::time::Duration::ZERO);
        let _ = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = self.conn.busy_timeout(schema::BUSY_TIMEOUT);
    }

    fn maybe_enqueue(&mut self, id: Uuid) {
        if let Some(later) = &mut self.batch {
            if !later.contains(&id) {
                later.push(id);
            }
            return;
        }
        let floor = self.options.compaction_floor_bytes;
        let Some(compactor) = &self.compactor else {
            return;
        };
        let Some(cached) = self.docs.get_mut(&id) else {
            return;
        };
        if cached.compaction_queued {
            return;
        }
        if cached.chunk_bytes() >= cached.snapshot_len.max(floor) && cached.chunk_lens.len() > 1 {
            cached.compaction_queued = true;
            compactor.enqueue(id);
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(c) = self.compactor.take() {
            c.stop();
        }
    }
}

fn insert_chunk(conn: &Connection, path: &Path, id: Uuid, bytes: &[u8]) -> Result<i64, StoreError> {
    let e = sql_err(path);
    conn.prepare_cached("INSERT INTO chunks (doc_id, bytes) VALUES (?1, ?2)")
        .map_err(&e)?
        .execute(params![id.to_string(), bytes])
        .map_err(&e)?;
    Ok(conn.last_insert_rowid())
}

fn sorted(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut v = heads.to_vec();
    v.sort();
    v
}

fn record_heads(conn: &Connection, path: &Path, id: Uuid, heads: &[ChangeHash]) -> Result<(), StoreError> {
    let e = sql_err(path);
    conn.prepare_cached("UPDATE docs SET heads = ?2 WHERE id = ?1")
        .map_err(&e)?
        .execute(params![id.to_string(), encode_heads(heads)])
        .map_err(&e)?;
    Ok(())
}

fn load_or_create_actor(conn: &Connection, path: &Path) -> Result<ActorId, StoreError> {
    let e = sql_err(path);
    let fresh = ActorId::random().to_hex_string();
    // INSERT OR IGNORE: if two processes create the store at once, both end up with the one
    // actor id that was written first.
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)", params![ACTOR_KEY, fresh]).map_err(&e)?;
    let value: String =
        conn.query_row("SELECT value FROM meta WHERE key = ?1", params![ACTOR_KEY], |r| r.get(0)).map_err(&e)?;
    match ActorId::try_from(value.as_str()) {
        Ok(a) if !a.to_bytes().is_empty() => Ok(a),
        _ => Err(StoreError::BadActorId { path: path.to_path_buf(), value }),
    }
}

/// The store is the native driver's [`kith_core::Repo`]: every mutation is one committed SQLite
/// transaction when it returns, or part of the one transaction of [`Store::atomically`].
impl kith_core::Repo for Store {
    type Error = StoreError;

    fn actor_id(&self) -> &ActorId {
        Store::actor_id(self)
    }
    fn list_docs(&self, kind: Option<&str>) -> Result<Vec<DocInfo>, StoreError> {
        Store::list_docs(self, kind)
    }
    fn has_doc(&self, id: Uuid) -> Result<bool, StoreError> {
        Store::has_doc(self, id)
    }
    fn doc(&mut self, id: Uuid) -> Result<&Automerge, StoreError> {
        Store::doc(self, id)
    }
    fn doc_kind(&mut self, id: Uuid) -> Result<String, StoreError> {
        Store::doc_kind(self, id)
    }
    fn create_doc<O, E, F>(&mut self, id: Uuid, kind: &str, f: F) -> Result<O, E>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<O, E>,
        E: From<StoreError>,
    {
        Store::create_doc(self, id, kind, f)
    }
    fn change_doc<O, E, F>(&mut self, id: Uuid, f: F) -> Result<O, E>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<O, E>,
        E: From<StoreError>,
    {
        Store::change_doc(self, id, f)
    }
    fn apply_remote(&mut self, id: Uuid, kind: &str, bytes: &[u8]) -> Result<RemoteApplied, StoreError> {
        Store::apply_remote(self, id, kind, bytes)
    }
    fn server_heads(&self, id: Uuid) -> Result<Vec<ChangeHash>, StoreError> {
        Store::server_heads(self, id)
    }
    fn set_server_heads(&mut self, id: Uuid, heads: &[ChangeHash]) -> Result<(), StoreError> {
        Store::set_server_heads(self, id, heads)
    }
    fn receipt(&self, id: Uuid) -> Result<Option<Receipt>, StoreError> {
        Store::receipt(self, id)
    }
    fn set_receipt(&mut self, id: Uuid, heads: &[ChangeHash], receipt: &[u8]) -> Result<(), StoreError> {
        Store::set_receipt(self, id, heads, receipt)
    }
    fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Store::meta_get(self, key)
    }
    fn meta_set(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        Store::meta_set(self, key, value)
    }
    fn pending_changes(&mut self, id: Uuid) -> Result<Vec<Change>, StoreError> {
        Store::pending_changes(self, id)
    }
    fn docs_with_pending_changes(&mut self) -> Result<Vec<Uuid>, StoreError> {
        Store::docs_with_pending_changes(self)
    }
    fn atomically<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<StoreError>,
    {
        Store::atomically(self, f)
    }
    fn atomically_refetchable<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<StoreError>,
    {
        Store::atomically_refetchable(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synchronous(store: &Store) -> i64 {
        store.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap_or(-1)
    }

    /// A sync answer's batch commits without waiting for the disk; every other write, before and
    /// after it (even after it failed or panicked), still waits (FULL = 2, NORMAL = 1).
    #[test]
    fn only_a_refetchable_batch_commits_without_waiting_for_the_disk() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut store = Store::open(dir.path().join("kith.db")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(synchronous(&store), 2);
        let inside: Result<i64, StoreError> = store.atomically_refetchable(|s| {
            s.meta_set("cursor", "1")?;
            Ok(synchronous(s))
        });
        assert_eq!(inside.ok(), Some(1));
        assert_eq!(synchronous(&store), 2, "back to FULL for the user's own writes");
        assert_eq!(store.meta_get("cursor").ok().flatten().as_deref(), Some("1"));

        let failed: Result<(), StoreError> = store.atomically_refetchable(|s| {
            s.meta_set("cursor", "2")?;
            Err(StoreError::UnknownDocument { id: Uuid::nil() })
        });
        assert!(failed.is_err());
        assert_eq!(synchronous(&store), 2);
        assert_eq!(store.meta_get("cursor").ok().flatten().as_deref(), Some("1"), "a failed batch keeps nothing");

        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: Result<(), StoreError> = store.atomically_refetchable(|_| panic!("a bug inside the batch"));
        }));
        assert!(panicked.is_err());
        assert_eq!(synchronous(&store), 2);
    }
}
