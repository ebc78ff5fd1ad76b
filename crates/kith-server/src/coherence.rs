//! Keeps the document cache true to the database when other processes write to it (several
//! server instances on one PostgreSQL database, docs/operations.md).
//!
//! Every stored change, by any process, reaches this instance's change log
//! ([`crate::storage::Storage::committed`], [`crate::storage::Storage::stored_since`]). A follower
//! takes each one in and drops a cached document that lacks it ([`DocService::invalidate`]), so the
//! next use loads it from storage; this instance's own changes are in the cached state already and
//! keep it. That alone leaves a window between another instance's commit and its announcement here
//! (LISTEN/NOTIFY, usually milliseconds), so on a shared database every authenticated request first
//! waits until every change stored before it arrived has been taken in ([`Coherence::fresh`]): a
//! policy edit, a role change or any document change made through one instance applies on the
//! others at the next request.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::docs::DocService;
use crate::storage::StorageError;

/// Stored changes taken in at once, at most.
const BATCH: usize = 4096;

/// How long a request waits for another instance's newest change to be announced before the
/// whole cache is dropped instead (a lost notification must not serve a stale document).
const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);

/// The cache's follower of the stored changes.
#[derive(Debug)]
pub struct Coherence {
    docs: Arc<DocService>,
    /// The greatest seq taken in.
    processed: watch::Sender<u64>,
    /// One catch-up at a time.
    one: tokio::sync::Mutex<()>,
}

impl Coherence {
    /// Starts from the greatest seq announced now: nothing is cached yet.
    pub fn new(docs: Arc<DocService>) -> Arc<Coherence> {
        let start = *docs.storage.committed().borrow();
        Arc::new(Coherence { docs, processed: watch::channel(start).0, one: tokio::sync::Mutex::new(()) })
    }

    /// Takes in every announced change until `stop`.
    pub fn follow(self: &Arc<Self>, mut stop: watch::Receiver<bool>) {
        let me = self.clone();
        let mut committed = self.docs.storage.committed();
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.catch_up().await {
                    tracing::warn!(error = %e, "could not read the stored changes to keep the document cache true; dropping it");
                    me.docs.cache.clear();
                }
                tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    changed = committed.changed() => if changed.is_err() { return },
                }
            }
        });
    }

    async fn catch_up(&self) -> Result<(), StorageError> {
        let _one = self.one.lock().await;
        loop {
            let after = *self.processed.borrow();
            let refs = self.docs.storage.stored_since(after, BATCH).await?;
            let Some(last) = refs.last().map(|r| r.seq) else { return Ok(()) };
            for r in &refs {
                self.docs.invalidate(r.meta.id, &r.hash).await;
            }
            self.processed.send_replace(last);
            if refs.len() < BATCH {
                return Ok(());
            }
        }
    }

    /// Returns once every change stored (by any process) before it was called has been taken in,
    /// so no cached document older than the database is used after it. One read of the greatest
    /// seq; waits only while another instance's newest commit is still being announced here.
    pub async fn fresh(&self) -> Result<(), StorageError> {
        let stored = self.docs.storage.max_seq().await?;
        if *self.processed.borrow() >= stored {
            return Ok(());
        }
        self.catch_up().await?;
        let mut rx = self.processed.subscribe();
        if tokio::time::timeout(ANNOUNCE_WAIT, rx.wait_for(|p| *p >= stored)).await.is_err() {
            tracing::warn!(stored, "a change stored elsewhere was not announced in time: dropping the document cache");
            self.docs.cache.clear();
        }
        Ok(())
    }
}
