//! Group commit: one writer thread takes every write queued by concurrent requests, runs each
//! inside its own savepoint of one transaction, commits once (one fsync per batch) and only then
//! answers each request. After the commit, before any request hears of it, the change log takes
//! in what the batch stored ([`crate::storage::log`]).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::*;
use crate::storage::log::ChangeLog;
use crate::storage::recent::{CAPACITY, RecentChange};
use crate::storage::*;

pub(super) type Done = Box<dyn FnOnce(Result<(), StorageError>) + Send>;
pub(super) type Job = Box<dyn FnOnce(&Connection) -> Done + Send>;

/// What a write job stored, for the change log.
#[derive(Debug, Default)]
pub(super) struct Logged {
    pub(super) changes: Vec<RecentChange>,
    pub(super) notes: Vec<Committed>,
}

/// Largest number of writes committed together.
const MAX_BATCH: usize = 1024;

impl SqliteStorage {
    /// Runs `f` in the next group-committed transaction; answers once it is durable.
    pub(super) async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StorageError> + Send + 'static,
    ) -> StorageResult<R> {
        self.write_changes(move |c| f(c).map(|r| (r, Logged::default()))).await
    }

    /// [`SqliteStorage::write`] for a job that stores changes: it returns them too, and they join
    /// the change log (the window of recent changes, the notes) once the transaction has committed.
    pub(super) async fn write_changes<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<(R, Logged), StorageError> + Send + 'static,
    ) -> StorageResult<R> {
        let (tx, rx) = tokio::sync::oneshot::channel::<StorageResult<R>>();
        let pending = self.pending.clone();
        let job: Job = Box::new(move |conn: &Connection| {
            let r = savepoint(conn, f).map(|(r, logged)| {
                let mut p = lock(&pending);
                p.changes.extend(logged.changes);
                p.notes.extend(logged.notes);
                r
            });
            // A job that failed says why, whatever became of the others' transaction.
            Box::new(move |commit: Result<(), StorageError>| {
                let _ = tx.send(r.and_then(|r| commit.map(|()| r)));
            })
        });
        {
            let guard = self.writer.lock().map_err(|_| StorageError::Closed)?;
            let sender = guard.as_ref().ok_or(StorageError::Closed)?;
            sender.send(job).map_err(|_| StorageError::Closed)?;
        }
        rx.await.map_err(|_| StorageError::Closed)?
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

/// What other processes stored after the window's greatest seq, read in the writer's
/// transaction: the range to publish before this batch's own changes.
struct Before {
    after: u64,
    changes: Vec<RecentChange>,
    base: Option<(u64, Vec<u8>)>,
}

fn stored_before(conn: &Connection, log: &ChangeLog) -> Result<Before, StorageError> {
    let from = log.upto();
    let last = docs::last_change(conn)?;
    let max = last.as_ref().map_or(0, |l| l.0);
    if max <= from {
        return Ok(Before { after: from, changes: Vec::new(), base: None });
    }
    tracing::debug!(from, to = max, "changes were stored by another process");
    if max - from > CAPACITY as u64 {
        // More than the window holds: it starts over after them.
        return Ok(Before { after: max, changes: Vec::new(), base: last });
    }
    let changes = docs::changes_since(conn, from, CAPACITY, &log.server_actor)?;
    Ok(Before { after: from, changes, base: None })
}

pub(super) fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>, log: &ChangeLog, pending: &Arc<Mutex<Logged>>) {
    // Jobs of a batch whose transaction the database rolled back before they ran.
    let mut carried: Vec<Job> = Vec::new();
    loop {
        let mut batch = std::mem::take(&mut carried);
        if batch.is_empty() {
            match rx.recv() {
                Ok(first) => batch.push(first),
                Err(_) => break,
            }
        }
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
        // Another process may have stored changes since the window's greatest seq: they join the
        // window first (read in this transaction, so nothing is stored in between).
        let before = match stored_before(&conn, log) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), "could not read the greatest seq");
                let _ = conn.execute_batch("ROLLBACK");
                continue;
            }
        };
        *lock(pending) = Logged::default();
        let mut jobs = batch.into_iter();
        let mut dones: Vec<Done> = Vec::new();
        let mut rolled_back = false;
        for job in jobs.by_ref() {
            dones.push(job(&conn));
            // A disk full, an I/O error or memory running out in the middle of a statement can
            // make SQLite roll back the whole transaction, not only that job's savepoint: the jobs
            // run so far are undone, and any run after it would commit on its own, outside it.
            if conn.is_autocommit() {
                rolled_back = true;
                break;
            }
        }
        if rolled_back {
            tracing::error!(
                jobs = dones.len(),
                "the database rolled back a write transaction: its jobs are told to retry"
            );
            *lock(pending) = Logged::default();
            let undone = StorageError::Unavailable(
                "the database rolled back the write this was part of (another write in it failed: its log says why); \
                 nothing of it was stored: retry"
                    .into(),
            );
            for d in dones {
                d(Err(undone.clone()));
            }
            // Those that did not run go in the next transaction.
            carried.extend(jobs);
            continue;
        }
        let commit = conn.execute_batch("COMMIT").map_err(db);
        let Logged { changes: stored, notes } = std::mem::take(&mut *lock(pending));
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        } else if !stored.is_empty() || !before.changes.is_empty() || before.base.is_some() {
            // Before anyone hears that these changes are stored: the window, the notes, then the
            // greatest seq, which wakes the followers (the deadline engine, the live channel).
            let mut changes = before.changes;
            changes.extend(stored);
            log.publish(before.after, changes, notes, before.base);
        }
        for d in dones {
            d(commit.clone());
        }
    }
}
