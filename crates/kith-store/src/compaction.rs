//! Folding a document's chunks into its snapshot, synchronously or on a background thread.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use automerge::{ActorId, ReadDoc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use uuid::Uuid;

use crate::{StoreError, len_u64, load_doc_full, sql_err};

/// Compacts document `id` using `conn`. Safe against concurrent appends and concurrent
/// compactions from other connections or processes:
///
/// 1. in one read transaction, load the snapshot and every chunk (up to `max_seq`);
/// 2. build the new snapshot outside any lock;
/// 3. in one `BEGIN IMMEDIATE` transaction, check nobody compacted meanwhile, write the
///    snapshot and delete exactly the chunks with `seq <= max_seq`.
///
/// Chunks appended meanwhile have a larger seq and are kept. A crash leaves the old or the new
/// state. Returns the new `(compacted_through, snapshot_len)`, or `None` if nothing was done.
///
/// `in_batch`: inside [`crate::Store::atomically`], whose transaction is already open (SQLite
/// refuses a second): the reads are consistent in it, and the write is a savepoint of it, so the
/// compaction commits, or rolls back, with the batch.
pub(crate) fn compact_doc(
    conn: &Connection,
    path: &Path,
    id: Uuid,
    actor: &ActorId,
    in_batch: bool,
) -> Result<Option<(i64, u64)>, StoreError> {
    let e = sql_err(path);
    let loaded = if in_batch {
        load_doc_full(conn, path, id, actor)?
    } else {
        let read = conn.unchecked_transaction().map_err(&e)?;
        let loaded = load_doc_full(&read, path, id, actor)?;
        read.commit().map_err(&e)?;
        loaded
    };
    let Some(loaded) = loaded else {
        return Ok(None);
    };
    if loaded.chunk_lens.is_empty() {
        return Ok(None);
    }
    if !loaded.doc.get_missing_deps(&[]).is_empty() {
        // A snapshot would drop changes still waiting for their dependencies: keep the chunks.
        return Ok(None);
    }
    let snapshot = loaded.doc.save();
    let max_seq = loaded.last_seq;
    let snapshot_len = len_u64(&snapshot);

    if in_batch {
        conn.execute_batch("SAVEPOINT kith_compact").map_err(&e)?;
        let written = write_snapshot(conn, path, id, loaded.compacted_through, &snapshot, snapshot_len, max_seq);
        let end = if matches!(written, Ok(Some(_))) {
            "RELEASE kith_compact"
        } else {
            "ROLLBACK TO kith_compact; RELEASE kith_compact"
        };
        conn.execute_batch(end).map_err(&e)?;
        return written;
    }
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(&e)?;
    let written = write_snapshot(&tx, path, id, loaded.compacted_through, &snapshot, snapshot_len, max_seq)?;
    if written.is_some() {
        tx.commit().map_err(&e)?;
    }
    Ok(written)
}

/// Step 3 of [`compact_doc`], in the caller's transaction or savepoint.
fn write_snapshot(
    tx: &Connection,
    path: &Path,
    id: Uuid,
    compacted_through: i64,
    snapshot: &[u8],
    snapshot_len: u64,
    max_seq: i64,
) -> Result<Option<(i64, u64)>, StoreError> {
    let e = sql_err(path);
    let current: Option<i64> = tx
        .prepare_cached("SELECT compacted_through FROM docs WHERE id = ?1")
        .map_err(&e)?
        .query_row(params![id.to_string()], |r| r.get(0))
        .optional()
        .map_err(&e)?;
    if current != Some(compacted_through) {
        return Ok(None);
    }
    tx.prepare_cached("UPDATE docs SET snapshot = ?2, snapshot_len = ?3, compacted_through = ?4 WHERE id = ?1")
        .map_err(&e)?
        .execute(params![id.to_string(), snapshot, i64::try_from(snapshot_len).unwrap_or(i64::MAX), max_seq])
        .map_err(&e)?;
    tx.prepare_cached("DELETE FROM chunks WHERE doc_id = ?1 AND seq <= ?2")
        .map_err(&e)?
        .execute(params![id.to_string(), max_seq])
        .map_err(&e)?;
    Ok(Some((max_seq, snapshot_len)))
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Uuid>,
    busy: bool,
    stop: bool,
    /// Compactions that failed (they are only an optimisation; the data is intact).
    failures: u64,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The background compaction thread, with its own connection.
#[derive(Debug)]
pub(crate) struct Compactor {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl Compactor {
    pub(crate) fn start(path: PathBuf, actor: ActorId) -> Self {
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("kith-store-compactor".into())
            .spawn(move || run(&thread_shared, &path, &actor))
            .ok();
        if handle.is_none() {
            shared.lock().stop = true;
        }
        Self { shared, handle }
    }

    pub(crate) fn enqueue(&self, id: Uuid) {
        let mut state = self.shared.lock();
        if !state.stop && !state.queue.contains(&id) {
            state.queue.push_back(id);
            self.shared.cv.notify_all();
        }
    }

    pub(crate) fn wait_idle(&self) {
        let mut state = self.shared.lock();
        while !state.stop && (state.busy || !state.queue.is_empty()) {
            state = self.shared.cv.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Stops the thread; queued work is skipped, a compaction in progress finishes or rolls back.
    pub(crate) fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        {
            let mut state = self.shared.lock();
            state.stop = true;
            state.queue.clear();
            self.shared.cv.notify_all();
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(shared: &Shared, path: &Path, actor: &ActorId) {
    let conn = match crate::schema::open_existing(path) {
        Ok(c) => c,
        Err(_) => {
            let mut state = shared.lock();
            state.stop = true;
            state.failures += 1;
            shared.cv.notify_all();
            return;
        }
    };
    loop {
        let id = {
            let mut state = shared.lock();
            loop {
                if state.stop {
                    return;
                }
                if let Some(id) = state.queue.pop_front() {
                    state.busy = true;
                    break id;
                }
                state = shared.cv.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        };
        let result = compact_doc(&conn, path, id, actor, false);
        let mut state = shared.lock();
        state.busy = false;
        if result.is_err() {
            state.failures += 1;
        }
        shared.cv.notify_all();
    }
}
