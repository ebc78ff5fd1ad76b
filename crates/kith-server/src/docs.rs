//! Hot documents in memory: a bounded cache of `Automerge` documents by id, loaded on a miss from
//! the latest snapshot plus the changes after it. Each document sits behind its own async lock, so
//! applies to one document are serialised while different documents proceed in parallel. Outside
//! a push, the cached state only ever holds committed changes: a push applies its changes to the
//! cached document itself while it holds the slot's lock (no copy per push), and if anything then
//! refuses the push, or storing fails, the sync service empties the slot so the document is
//! reloaded from storage (see `SyncService::refuse` in `sync.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use automerge::{Automerge, Change};
use uuid::Uuid;

use crate::storage::{DocMeta, Storage, StorageError};

/// A document as the server holds it.
#[derive(Debug)]
pub struct DocState {
    pub meta: DocMeta,
    pub doc: Automerge,
    /// The seq of the last stored change of this document.
    pub last_seq: u64,
    /// Changes stored since the last snapshot.
    pub since_snapshot: usize,
    /// The document's stored size: its last snapshot plus the changes after it (bytes), about
    /// what a device downloads to get it whole. Bounded per kind (`limits.max_*_doc_bytes`).
    pub bytes: usize,
}

/// One cache slot: `None` until loaded (a document that does not exist stays `None`).
pub type Slot = Arc<tokio::sync::Mutex<Option<DocState>>>;

/// The bounded document cache.
#[derive(Debug)]
pub struct DocCache {
    slots: Mutex<HashMap<Uuid, (Slot, u64)>>,
    tick: AtomicU64,
    capacity: usize,
}

impl DocCache {
    pub fn new(capacity: usize) -> DocCache {
        DocCache { slots: Mutex::new(HashMap::new()), tick: AtomicU64::new(0), capacity: capacity.max(16) }
    }

    /// The slot of a document (lock it, then [`ensure_loaded`]).
    pub fn slot(&self, id: Uuid) -> Slot {
        let t = self.tick.fetch_add(1, Ordering::Relaxed);
        let mut slots = match self.slots.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if let Some((slot, used)) = slots.get_mut(&id) {
            *used = t;
            return slot.clone();
        }
        if slots.len() >= self.capacity {
            evict(&mut slots, self.capacity);
        }
        let slot: Slot = Arc::new(tokio::sync::Mutex::new(None));
        slots.insert(id, (slot.clone(), t));
        metrics::gauge!("kith_documents_cached").set(slots.len() as f64);
        slot
    }

    /// Forgets every cached document (e.g. after the database was replaced under a running server).
    pub fn clear(&self) {
        if let Ok(mut s) = self.slots.lock() {
            s.clear();
        }
    }
}

/// Drops the least recently used tenth of the slots that nobody holds.
fn evict(slots: &mut HashMap<Uuid, (Slot, u64)>, capacity: usize) {
    let mut idle: Vec<(u64, Uuid)> =
        slots.iter().filter(|(_, (s, _))| Arc::strong_count(s) == 1).map(|(id, (_, t))| (*t, *id)).collect();
    idle.sort_unstable();
    for (_, id) in idle.into_iter().take(capacity / 10 + 1) {
        slots.remove(&id);
    }
}

/// Loads the document into its locked slot if it is not there yet. Ok(false): no such document.
pub async fn ensure_loaded(storage: &dyn Storage, id: Uuid, slot: &mut Option<DocState>) -> Result<bool, StorageError> {
    if slot.is_some() {
        return Ok(true);
    }
    let Some(loaded) = storage.load_doc(id).await? else { return Ok(false) };
    let mut since_snapshot = loaded.changes.len();
    let mut size = loaded.snapshot.as_ref().map_or(0, |s| s.1.len());
    let mut last_seq = loaded.snapshot.as_ref().map_or(0, |s| s.0);
    let mut changes = loaded.changes;
    let mut doc = match &loaded.snapshot {
        Some((_, bytes)) => match Automerge::load(bytes) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(doc = %id, error = %e, "snapshot unreadable: replaying every change");
                changes = storage.changes_after(id, 0).await?;
                since_snapshot = changes.len();
                size = 0;
                last_seq = 0;
                Automerge::new()
            }
        },
        None => Automerge::new(),
    };
    let mut decoded = Vec::with_capacity(changes.len());
    for c in &changes {
        last_seq = last_seq.max(c.seq);
        size += c.bytes.len();
        let ch = Change::from_bytes(c.bytes.clone())
            .map_err(|e| StorageError::Corrupt(format!("stored change {} of {id} is unreadable: {e}", c.seq)))?;
        decoded.push(ch);
    }
    doc.apply_changes(decoded)
        .map_err(|e| StorageError::Corrupt(format!("stored changes of {id} do not apply: {e}")))?;
    *slot = Some(DocState { meta: loaded.meta, doc, last_seq, since_snapshot, bytes: size });
    Ok(true)
}
