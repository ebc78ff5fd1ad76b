//! The document service: the server's documents, loaded, read and changed in one place.
//!
//! Documents are cached in memory within a byte budget ([`DocCache`]): live as `Automerge` while
//! worked on and for a while after, then in their compact saved form, loaded on a miss from the
//! latest snapshot plus the changes after it. Each document sits behind its own async lock (its
//! slot), so applies to one document are serialised while different documents proceed in parallel. Outside a push, the cached state only ever holds committed changes: a push applies
//! its changes to the cached document itself while it holds the slot's lock (no copy per push),
//! and if anything then refuses the push, or storing fails, the sync service empties the slot so
//! the document is reloaded from storage (see `SyncService::refuse` in `sync.rs`).
//!
//! Every change is stored with what the server derives from it ([`crate::storage::Derived`]), in
//! one transaction: pushed ones by the sync service, the server's own here ([`DocService::server_edit`],
//! [`DocService::edit_as`]). Nothing else needs telling: the deadline engine and the live channel
//! follow the stored changes (docs/architecture.md).
//!
//! Lock order: a slot's lock is held only for the document's own work and storage (a leaf); it is
//! never held while waiting for the deadline engine's lock, and the engine never waits for a slot
//! while holding its own. At most one slot is held at a time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use automerge::{ActorId, Automerge, Change, ReadDoc};
use kith_domain::authz::{Author, AuthzError, authorize, check_fields};
use kith_domain::change::Decoded;
use kith_domain::doc::{self, Settled, shift, team};
use kith_proto::Kind;
use uuid::Uuid;

use crate::config::{CacheConfig, Limits};
use crate::live::visible;
use crate::receipts::{self, Arrival, DeviceClocks, ShiftFacts};
use crate::storage::{
    AppendChanges, Derived, DeviceAuth, DocMeta, NewChange, ShiftNote, ShiftUpdate, Storage, StorageError,
};
use crate::table::Table;

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
    /// What the document's root holds for good (schema, team, worker, a shift's collections),
    /// read at the first push after loading and given to authorisation and validation instead of
    /// reading it for every change. It must be `Settled::read(&doc)`: whatever changes `doc` in
    /// place drops it when a change writes at the root (`Settled::kept_by`), as a push does;
    /// `None`: not read yet.
    pub settled: Option<Settled>,
}

/// One cache slot: `None` until loaded (a document that does not exist stays `None`).
pub type Slot = Arc<tokio::sync::Mutex<Option<DocState>>>;

/// A document kept live (an `Automerge`), by id: in use, or used lately.
#[derive(Debug)]
struct Live {
    slot: Slot,
    used: u64,
    /// What its document was estimated to take when last released ([`live_estimate`]).
    est: usize,
    /// Forgotten while someone held it: emptied when released, so the next use loads it.
    stale: bool,
}

/// An idle document in its compact saved form (`Automerge::save`), brought back live on demand.
#[derive(Debug)]
struct Saved {
    meta: DocMeta,
    saved: Vec<u8>,
    last_seq: u64,
    since_snapshot: usize,
    bytes: usize,
    used: u64,
    /// The saved document's heads: a change just stored and found among them is in it.
    heads: Vec<automerge::ChangeHash>,
}

impl Saved {
    /// What it takes in memory besides its entry in the map (counted with the map's table,
    /// [`Tiers::saved`]): its bytes and heads.
    fn size(&self) -> usize {
        self.saved.capacity() + self.heads.capacity() * std::mem::size_of::<automerge::ChangeHash>()
    }
}

/// What a live document takes in memory, estimated from its operations and changes:
/// `benches/doc_memory.rs` measures it against shift and team documents of every size
/// (docs/benchmarks.md, "Memory per connected device"), within 5% above. The stored size would
/// not do: a shift of one check-in takes 25 times its stored bytes live, one of 400 twice, and a
/// snapshot shrinks the stored size further.
pub fn live_estimate(st: &DocState) -> usize {
    let s = st.doc.stats();
    live_estimate_of(s.num_ops, s.num_changes) + SLOT_BYTES + st.settled.as_ref().map_or(0, Settled::heap_bytes)
}

/// A live slot's own cost, empty or not, besides its entry in the map (counted with the map's
/// table, [`Tiers::live`]): the `Arc`'s allocation (two counts and the lock). Ids of documents
/// that do not exist count too, so asking for many cannot grow the cache unbounded.
const SLOT_BYTES: usize =
    2 * std::mem::size_of::<usize>() + std::mem::size_of::<tokio::sync::Mutex<Option<DocState>>>();

/// [`live_estimate`] from a document's counts of operations and changes.
pub fn live_estimate_of(ops: u64, changes: u64) -> usize {
    let est = LIVE_BASE_BYTES + LIVE_PER_OP * ops + LIVE_PER_CHANGE * changes;
    usize::try_from(est).unwrap_or(usize::MAX)
}
const LIVE_BASE_BYTES: u64 = 13 * 1024;
const LIVE_PER_OP: u64 = 34;
const LIVE_PER_CHANGE: u64 = 270;

#[derive(Debug, Default)]
struct Tiers {
    /// Each tier's map is counted by its table's buckets ([`Table::bytes`]): a table doubles when
    /// it fills and keeps its size as entries go, so counting its entries (twice, as it was)
    /// missed up to 16/7 of them just after it grew, and all of a table emptied.
    live: Table<Uuid, Live>,
    saved: Table<Uuid, Saved>,
    /// The estimates of the live documents ([`live_estimate`]), their table apart.
    live_bytes: usize,
    /// The sizes of the saved ones ([`Saved::size`]), their table apart.
    saved_bytes: usize,
}

impl Tiers {
    /// What the live documents take, with their table.
    fn live_total(&self) -> usize {
        self.live_bytes + self.live.bytes()
    }

    /// What the saved documents take, with their table.
    fn saved_total(&self) -> usize {
        self.saved_bytes + self.saved.bytes()
    }
}

/// The document cache, bounded by bytes (`cache.max_bytes`, of which live documents take at most
/// `cache.live_max_bytes`). A document is a live `Automerge` while it is worked on and for a
/// while after (the most recently used, within the live budget); then it is kept in its compact
/// saved form (tens of times smaller), and past the whole budget not at all: it is loaded from
/// storage on demand. Nothing depends on the cache for correctness: a slot left empty is loaded
/// from storage, which holds every accepted change.
///
/// A document is in at most one tier at a time. Moving one from live to saved holds its slot's
/// lock while it is saved, and happens only when nobody else holds its slot, so nobody can see
/// or change it half-way.
#[derive(Debug)]
pub struct DocCache {
    tiers: Mutex<Tiers>,
    tick: AtomicU64,
    max_bytes: usize,
    live_max_bytes: usize,
    /// Documents moved to their saved form, and brought back live from it, since the start: when
    /// both grow with nearly every sync, more documents are worked on at once than the live
    /// budget holds, and each sync pays an `Automerge::save` and a load (docs/operations.md).
    saved_total: AtomicU64,
    revived_total: AtomicU64,
}

/// A document's slot, as [`DocCache::slot`] hands it out: lock it, then [`ensure_loaded`]. When it
/// is dropped, the cache measures the document again and compacts idle ones over the budget.
#[derive(Debug)]
pub struct SlotRef<'a> {
    cache: &'a DocCache,
    id: Uuid,
    slot: Option<Slot>,
}

impl std::ops::Deref for SlotRef<'_> {
    type Target = tokio::sync::Mutex<Option<DocState>>;
    fn deref(&self) -> &Self::Target {
        // Taken only in `drop`.
        self.slot.as_deref().unwrap_or(&EMPTY_SLOT)
    }
}

static EMPTY_SLOT: tokio::sync::Mutex<Option<DocState>> = tokio::sync::Mutex::const_new(None);

impl Drop for SlotRef<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.cache.release(self.id, slot);
        }
    }
}

/// What the cache holds, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheUsage {
    pub live_docs: usize,
    pub live_bytes: usize,
    pub saved_docs: usize,
    pub saved_bytes: usize,
    /// Since the start: live documents moved to their saved form, and saved ones brought back.
    pub saved_total: u64,
    pub revived_total: u64,
}

impl DocCache {
    pub fn new(config: &CacheConfig) -> DocCache {
        let max_bytes = config.max_bytes.max(1);
        DocCache {
            tiers: Mutex::new(Tiers::default()),
            tick: AtomicU64::new(0),
            max_bytes,
            live_max_bytes: config.live_max_bytes.min(max_bytes),
            saved_total: AtomicU64::new(0),
            revived_total: AtomicU64::new(0),
        }
    }

    fn tiers(&self) -> std::sync::MutexGuard<'_, Tiers> {
        match self.tiers.lock() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        }
    }

    /// The slot of a document (lock it, then [`ensure_loaded`]). A document kept in its saved
    /// form is live again when the slot's lock is first given.
    pub fn slot(&self, id: Uuid) -> SlotRef<'_> {
        let t = self.tick.fetch_add(1, Ordering::Relaxed);
        let mut tiers = self.tiers();
        if let Some(l) = tiers.live.get_mut(&id) {
            l.used = t;
            return SlotRef { cache: self, id, slot: Some(l.slot.clone()) };
        }
        let slot: Slot = Arc::new(tokio::sync::Mutex::new(None));
        let saved = tiers.saved.remove(&id);
        if let Some(s) = &saved {
            tiers.saved_bytes = tiers.saved_bytes.saturating_sub(s.size());
        }
        // Locked before anyone else can see it, so nobody reads it before it is loaded.
        let loading = saved.and_then(|s| slot.clone().try_lock_owned().ok().map(|g| (s, g)));
        tiers.live.insert(id, Live { slot: slot.clone(), used: t, est: 0, stale: false });
        drop(tiers);
        if let Some((s, mut guard)) = loading {
            // Unreadable (it cannot be: the server saved it): the slot stays empty and the
            // document is loaded from storage.
            self.revived_total.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("kith_documents_revived_total").increment(1);
            match Automerge::load(&s.saved) {
                Ok(doc) => {
                    *guard = Some(DocState {
                        meta: s.meta,
                        doc,
                        last_seq: s.last_seq,
                        since_snapshot: s.since_snapshot,
                        bytes: s.bytes,
                        settled: None,
                    })
                }
                Err(e) => {
                    tracing::warn!(doc = %id, error = %e, "a cached document did not load: reading it from storage")
                }
            }
        }
        SlotRef { cache: self, id, slot: Some(slot) }
    }

    /// A slot handed out is back: measure its document (if nobody else holds it) and compact
    /// the least recently used idle documents if live ones are over their budget.
    fn release(&self, id: Uuid, slot: Slot) {
        let over = {
            let mut tiers = self.tiers();
            let tiers = &mut *tiers;
            // Measured whenever nobody has it locked, even if others hold the slot: a holder
            // that never locks it again (the coherence follower, done checking a change) would
            // otherwise leave a loaded document counted as empty, and the cache over its budget.
            if let Some(l) = tiers.live.get_mut(&id)
                && Arc::ptr_eq(&l.slot, &slot)
                && let Ok(mut g) = slot.try_lock()
            {
                if l.stale && Arc::strong_count(&slot) == 2 {
                    *g = None;
                    l.stale = false;
                }
                let est = g.as_ref().map_or(SLOT_BYTES, live_estimate);
                tiers.live_bytes = tiers.live_bytes.saturating_sub(l.est) + est;
                l.est = est;
            }
            metrics::gauge!("kith_documents_cached").set((tiers.live.len() + tiers.saved.len()) as f64);
            let (live, saved) = (tiers.live_total(), tiers.saved_total());
            metrics::gauge!("kith_document_cache_bytes").set((live + saved) as f64);
            live > self.live_max_bytes || live + saved > self.max_bytes
        };
        drop(slot);
        if over {
            self.compact();
        }
    }

    /// Moves the least recently used idle live documents to their saved form until live ones fit
    /// their budget (with a little room, so this does not run on every release), then drops the
    /// least recently used saved ones until everything fits the whole budget.
    fn compact(&self) {
        let victims: Vec<(Uuid, Slot)> = {
            let tiers = self.tiers();
            let room = self.live_max_bytes - self.live_max_bytes / 16;
            let mut idle: Vec<(u64, Uuid)> = tiers
                .live
                .iter()
                .filter(|(_, l)| Arc::strong_count(&l.slot) == 1)
                .map(|(id, l)| (l.used, *id))
                .collect();
            idle.sort_unstable();
            let mut live = tiers.live_bytes;
            let mut out = Vec::new();
            for (_, id) in idle {
                // The table made as small as the documents left need (below).
                if live + Table::<Uuid, Live>::bytes_for(tiers.live.len() - out.len()) <= room {
                    break;
                }
                if let Some(l) = tiers.live.get(&id) {
                    live = live.saturating_sub(l.est);
                    out.push((id, l.slot.clone()));
                }
            }
            out
        };
        for (id, slot) in victims {
            // Held by someone since: still in use, it stays live.
            let Ok(mut guard) = slot.try_lock() else { continue };
            // Saved while the slot's lock is held (nobody can change it meanwhile), outside the
            // cache's own lock.
            let saved = guard.as_ref().map(|st| Saved {
                meta: st.meta.clone(),
                saved: st.doc.save(),
                last_seq: st.last_seq,
                since_snapshot: st.since_snapshot,
                bytes: st.bytes,
                used: 0,
                heads: st.doc.get_heads(),
            });
            let mut tiers = self.tiers();
            let tiers = &mut *tiers;
            match tiers.live.get(&id) {
                // Nobody but the cache and this took the slot since.
                Some(l) if Arc::ptr_eq(&l.slot, &slot) && Arc::strong_count(&slot) == 2 => {}
                _ => continue,
            }
            let Some(l) = tiers.live.remove(&id) else { continue };
            tiers.live_bytes = tiers.live_bytes.saturating_sub(l.est);
            if let Some(mut s) = saved {
                self.saved_total.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("kith_documents_saved_total").increment(1);
                s.used = l.used;
                tiers.saved_bytes += s.size();
                tiers.saved.insert(id, s);
            }
            *guard = None;
        }
        let mut tiers = self.tiers();
        let tiers = &mut *tiers;
        let len = tiers.live.len();
        tiers.live.shrink_to(len);
        let budget = self.max_bytes.saturating_sub(tiers.live_total());
        if tiers.saved_total() > budget {
            let room = budget - budget / 16;
            let mut by_age: Vec<(u64, Uuid)> = tiers.saved.iter().map(|(id, s)| (s.used, *id)).collect();
            by_age.sort_unstable();
            for (_, id) in by_age {
                if tiers.saved_bytes + Table::<Uuid, Saved>::bytes_for(tiers.saved.len()) <= room {
                    break;
                }
                if let Some(s) = tiers.saved.remove(&id) {
                    tiers.saved_bytes = tiers.saved_bytes.saturating_sub(s.size());
                }
            }
        }
        let len = tiers.saved.len();
        tiers.saved.shrink_to(len);
    }

    /// What the cache holds now.
    /// Whether the cache holds document `id` (live or saved): reading it through the cache
    /// loads nothing from storage.
    pub fn holds(&self, id: Uuid) -> bool {
        let tiers = self.tiers();
        tiers.live.contains_key(&id) || tiers.saved.contains_key(&id)
    }

    pub fn usage(&self) -> CacheUsage {
        let t = self.tiers();
        CacheUsage {
            live_docs: t.live.len(),
            live_bytes: t.live_total(),
            saved_docs: t.saved.len(),
            saved_bytes: t.saved_total(),
            saved_total: self.saved_total.load(Ordering::Relaxed),
            revived_total: self.revived_total.load(Ordering::Relaxed),
        }
    }

    /// Forgets one document, in whichever form it is kept: the next use loads it from storage.
    /// One in use stays in its slot (applies to it stay serialised) until its holders are done.
    pub fn forget(&self, id: Uuid) {
        let mut tiers = self.tiers();
        let tiers = &mut *tiers;
        if let Some(l) = tiers.live.get_mut(&id) {
            if Arc::strong_count(&l.slot) == 1 {
                let est = l.est;
                tiers.live.remove(&id);
                tiers.live_bytes = tiers.live_bytes.saturating_sub(est);
            } else {
                l.stale = true;
            }
        }
        if let Some(s) = tiers.saved.remove(&id) {
            tiers.saved_bytes = tiers.saved_bytes.saturating_sub(s.size());
        }
    }

    /// For a change just stored (by any process): drops the document's saved form unless the
    /// change is one of its heads (a saved form cannot be searched without loading it; a change
    /// is usually taken in while its document is still live, or is the newest in it, so dropping
    /// costs at most a load), and hands back its live slot if it is live (none is made), for the
    /// caller to check against the change. One look under the cache's lock, so a document moving
    /// between the two forms is seen in one of them; a slot handed back stays live while held.
    pub fn take_in(&self, id: Uuid, hash: Option<automerge::ChangeHash>) -> Option<SlotRef<'_>> {
        let mut tiers = self.tiers();
        let tiers = &mut *tiers;
        if tiers.saved.get(&id).is_some_and(|s| !hash.is_some_and(|h| s.heads.contains(&h)))
            && let Some(s) = tiers.saved.remove(&id)
        {
            tiers.saved_bytes = tiers.saved_bytes.saturating_sub(s.size());
            metrics::counter!("kith_documents_invalidated_total").increment(1);
        }
        // Handed back as a `SlotRef`, so giving it back measures the document like any use.
        tiers.live.get(&id).map(|l| SlotRef { cache: self, id, slot: Some(l.slot.clone()) })
    }

    /// What the idle live documents take by a fresh estimate (the held ones as last measured),
    /// with their table, for tests: the cache's own count of its live bytes must not fall behind it.
    pub fn live_bytes_recounted(&self) -> usize {
        let t = self.tiers();
        t.live.bytes()
            + t.live
                .values()
                .map(|l| l.slot.try_lock().map_or(l.est, |g| g.as_ref().map_or(SLOT_BYTES, live_estimate)))
                .sum::<usize>()
    }

    /// Forgets every cached document (e.g. after the database was replaced under a running server).
    pub fn clear(&self) {
        *self.tiers() = Tiers::default();
    }
}

/// Loads the document into its locked slot if it is not there yet. Ok(false): no such document.
pub async fn ensure_loaded(storage: &dyn Storage, id: Uuid, slot: &mut Option<DocState>) -> Result<bool, StorageError> {
    if slot.is_some() {
        return Ok(true);
    }
    let Some(loaded) = storage.load_doc(id).await? else { return Ok(false) };
    metrics::counter!("kith_documents_loaded_total").increment(1);
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
    apply_stored(&mut doc, id, &changes, &mut last_seq, &mut size)?;
    *slot = Some(DocState { meta: loaded.meta, doc, last_seq, since_snapshot, bytes: size, settled: None });
    Ok(true)
}

/// Applies a document's stored changes after its snapshot, moving `last_seq` and `size` on.
fn apply_stored(
    doc: &mut Automerge,
    id: Uuid,
    changes: &[crate::storage::StoredChange],
    last_seq: &mut u64,
    size: &mut usize,
) -> Result<(), StorageError> {
    let mut decoded = Vec::with_capacity(changes.len());
    for c in changes {
        *last_seq = (*last_seq).max(c.seq);
        *size += c.bytes.len();
        let ch = Change::try_from(c.bytes.as_slice())
            .map_err(|e| StorageError::Corrupt(format!("stored change {} of {id} is unreadable: {e}", c.seq)))?;
        decoded.push(ch);
    }
    doc.apply_changes(decoded).map_err(|e| StorageError::Corrupt(format!("stored changes of {id} do not apply: {e}")))
}

/// A document decoded from what storage returned, outside the cache; None if its snapshot is
/// unreadable (then it is loaded through the cache, which replays every change).
pub(crate) fn decode_loaded(id: Uuid, loaded: crate::storage::LoadedDoc) -> Result<Option<DocState>, StorageError> {
    let mut doc = match &loaded.snapshot {
        Some((_, bytes)) => match Automerge::load(bytes) {
            Ok(d) => d,
            Err(_) => return Ok(None),
        },
        None => Automerge::new(),
    };
    let mut last_seq = loaded.snapshot.as_ref().map_or(0, |s| s.0);
    let mut size = loaded.snapshot.as_ref().map_or(0, |s| s.1.len());
    apply_stored(&mut doc, id, &loaded.changes, &mut last_seq, &mut size)?;
    let since_snapshot = loaded.changes.len();
    Ok(Some(DocState { meta: loaded.meta, doc, last_seq, since_snapshot, bytes: size, settled: None }))
}

/// Documents read at once, at most, by [`DocService::read_many`].
const READ_AHEAD: usize = 8;

/// The server's documents: the cache, loading, and the server's own edits.
#[derive(Debug)]
pub struct DocService {
    pub storage: Arc<dyn Storage>,
    pub cache: DocCache,
    pub cache_config: CacheConfig,
    /// Document size caps (`max_shift_doc_bytes`, `max_team_doc_bytes`), for the server's edits
    /// as for pushed changes.
    pub limits: Limits,
    /// The server's own Automerge actor (its edits, and a browser's on a member's behalf).
    pub server_actor: ActorId,
    /// Devices' clock offsets, for the receipts of what is stored.
    pub clocks: DeviceClocks,
}

/// The message for a document that does not exist or may not be seen: the same either way.
pub const UNKNOWN_DOC_MESSAGE: &str = "The server has no such document for this device. If it belongs to another \
     team or member, drop it from this device; otherwise create it again.";

/// Why [`DocService::edit_as`] (or [`DocService::server_edit`]) wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// No such document, or one the device may not see (the same answer either way).
    #[error("{UNKNOWN_DOC_MESSAGE}")]
    Unknown,
    /// The member may not make this change.
    #[error("{0}")]
    Forbidden(String),
    /// The edit itself refused (e.g. an unknown check-in), or the result would not be valid.
    #[error(transparent)]
    Domain(#[from] kith_domain::DomainError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A change the schema refuses ([`AuthzError::Invalid`]) is bad input, like an edit the domain
/// refuses; anything else the member may not do.
fn invalid_write(e: AuthzError) -> EditError {
    match e {
        AuthzError::Invalid(m) => EditError::Domain(kith_domain::DomainError::Invalid(m)),
        e => EditError::Forbidden(e.to_string()),
    }
}

impl DocService {
    pub fn new(
        storage: Arc<dyn Storage>,
        cache_config: CacheConfig,
        limits: Limits,
        server_actor: ActorId,
        clocks: DeviceClocks,
    ) -> DocService {
        DocService { storage, cache: DocCache::new(&cache_config), cache_config, limits, server_actor, clocks }
    }

    /// Reads a document (loading it if needed) with `f`; None if there is no such document.
    pub async fn with_doc<R>(&self, id: Uuid, f: impl FnOnce(&DocState) -> R) -> Result<Option<R>, StorageError> {
        let slot = self.cache.slot(id);
        let mut guard = slot.lock().await;
        if !ensure_loaded(self.storage.as_ref(), id, &mut guard).await? {
            return Ok(None);
        }
        Ok(guard.as_ref().map(f))
    }

    /// Reads many documents once with `f` (the deadline engine's load at start: thousands of
    /// shifts nobody may be working on): those the cache holds through it, the others straight
    /// from storage, several at a time, decoded and read on blocking threads (so every core helps
    /// and requests are served meanwhile), without filling the cache with them (which would also
    /// cost a save of each into its compact form). In the order of `ids`; None for a document
    /// that does not exist.
    pub async fn read_many<R: Send + 'static>(
        &self,
        ids: Vec<Uuid>,
        f: fn(&DocState) -> R,
    ) -> Result<Vec<Option<R>>, StorageError> {
        use futures_util::StreamExt as _;
        futures_util::stream::iter(ids)
            .map(|id| self.read_once(id, f))
            .buffered(READ_AHEAD)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    async fn read_once<R: Send + 'static>(&self, id: Uuid, f: fn(&DocState) -> R) -> Result<Option<R>, StorageError> {
        if self.cache.holds(id) {
            return self.with_doc(id, f).await;
        }
        let Some(loaded) = self.storage.load_doc(id).await? else { return Ok(None) };
        let decoded = tokio::task::spawn_blocking(move || decode_loaded(id, loaded).map(|st| st.map(|st| f(&st))))
            .await
            .map_err(|e| StorageError::Db(format!("decoding document {id} failed: {e}")))??;
        match decoded {
            Some(r) => Ok(Some(r)),
            None => self.with_doc(id, f).await,
        }
    }

    /// Drops the cached state of document `id` if it lacks the stored change `hash` (one another
    /// process stored: another server instance on the same database), so its next use loads it
    /// from storage (see [`crate::coherence`]). This process's own changes are in the cached state
    /// before their slot's lock is released, so they keep it.
    pub async fn invalidate(&self, id: Uuid, hash: &[u8]) {
        if !self.storage.shared() {
            // Every change was stored through this process's cache.
            return;
        }
        let hash = automerge::ChangeHash::try_from(hash).ok();
        let Some(slot) = self.cache.take_in(id, hash) else { return };
        let mut guard = slot.lock().await;
        let stale = guard.as_ref().is_some_and(|st| hash.is_none_or(|h| st.doc.get_change_by_hash(&h).is_none()));
        if stale {
            *guard = None;
            metrics::counter!("kith_documents_invalidated_total").increment(1);
        }
    }

    /// Writes a snapshot in the background once enough changes were stored since the last.
    pub(crate) fn maybe_snapshot(&self, guard: &mut Option<DocState>) {
        let Some(st) = guard.as_mut() else { return };
        if st.since_snapshot < self.cache_config.snapshot_every {
            return;
        }
        st.since_snapshot = 0;
        let bytes = st.doc.save();
        st.bytes = bytes.len();
        let (id, upto) = (st.meta.id, st.last_seq);
        let storage = self.storage.clone();
        tokio::spawn(async move {
            if let Err(e) = storage.put_snapshot(id, upto, bytes).await {
                tracing::warn!(doc = %id, error = %e, "could not write a snapshot");
            }
        });
    }

    /// Makes a change as the server itself (e.g. adding a member to the team document), checks it
    /// against the write schema and the document's size cap and the result as a pushed change's
    /// would be, and stores it durably. Returns the document's meta, or None if the edit changed
    /// nothing.
    pub async fn server_edit<F>(&self, doc_id: Uuid, edit: F, now: i64) -> Result<Option<DocMeta>, EditError>
    where
        F: FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), kith_domain::DomainError>,
    {
        let slot = self.cache.slot(doc_id);
        let mut guard = slot.lock().await;
        if !ensure_loaded(self.storage.as_ref(), doc_id, &mut guard).await? {
            return Err(EditError::Unknown);
        }
        let Some(st) = guard.as_ref() else { return Err(EditError::Unknown) };
        let mut fork = st.doc.clone();
        fork.set_actor(self.server_actor.clone());
        fork.transact(edit).map_err(|f| EditError::Domain(f.error))?;
        let Some(change) = fork.get_last_local_change().map(Decoded::new) else { return Ok(None) };
        if st.doc.get_change_by_hash(&change.hash()).is_some() {
            return Ok(None);
        }
        check_fields(&st.doc, &change).map_err(invalid_write)?;
        let meta = self.store_server_change(&mut guard, fork, &change, None, now).await?;
        Ok(Some(meta))
    }

    /// Puts every member the server has registered for `team` (each joined through an invite) on
    /// the team document's roster, and returns how many were missing. A join stores the device
    /// and then adds its member to the roster; if that second write fails (a full disk), this
    /// repairs it: the join retries it in the background, and every later join and every start
    /// runs it, so a member who joined is never left off the roster for good.
    pub async fn ensure_roster(&self, team_id: kith_domain::TeamId, now: i64) -> Result<usize, EditError> {
        let registered = self.storage.members(team_id).await?;
        let on_roster = match self.with_doc(team_id.uuid(), |st| team::read(&st.doc)).await? {
            Some(t) => t?.members.into_iter().map(|m| m.id).collect::<std::collections::HashSet<_>>(),
            None => return Err(EditError::Unknown),
        };
        let missing: Vec<kith_domain::Member> = registered
            .into_iter()
            .filter(|m| !on_roster.contains(&m.id))
            .map(|m| kith_domain::Member::new(m.id, m.name, m.role))
            .collect();
        if missing.is_empty() {
            return Ok(0);
        }
        let edit = |tx: &mut automerge::transaction::Transaction<'_>| {
            missing.iter().try_for_each(|m| team::upsert_member(tx, m))
        };
        self.server_edit(team_id.uuid(), edit, now).await?;
        Ok(missing.len())
    }

    /// Writes into a document on behalf of an authenticated device, as the server's own actor
    /// (the browser dashboard has no Automerge document of its own): only a document the device
    /// may see, of the expected `kind` ([`EditError::Unknown`] otherwise, the same as a document
    /// that does not exist), and only what the device's member could write from their own device:
    /// the change is authorised with [`authorize`] as that member and the result validated,
    /// exactly as a pushed change would be. It is stored durably before this returns and reaches
    /// the live channel and devices' feeds like any stored change. Returns `read` of the new state.
    pub async fn edit_as<F, R>(
        &self,
        dev: &DeviceAuth,
        doc_id: Uuid,
        kind: Kind,
        edit: F,
        read: impl FnOnce(&DocState) -> R,
        now: i64,
    ) -> Result<R, EditError>
    where
        F: FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), kith_domain::DomainError>,
    {
        let d = &dev.device;
        let slot = self.cache.slot(doc_id);
        let mut guard = slot.lock().await;
        if !ensure_loaded(self.storage.as_ref(), doc_id, &mut guard).await? {
            return Err(EditError::Unknown);
        }
        let Some(st) = guard.as_ref() else { return Err(EditError::Unknown) };
        if st.meta.kind != kind || !visible(&st.meta, d.team, d.member, dev.role.is_lead()) {
            return Err(EditError::Unknown);
        }
        let mut fork = st.doc.clone();
        fork.set_actor(self.server_actor.clone());
        fork.transact(edit).map_err(|f| EditError::Domain(f.error))?;
        let Some(change) = fork.get_last_local_change().map(Decoded::new) else { return Ok(read(st)) };
        // An edit that changed nothing made no change: the last local one is then an earlier,
        // stored edit of the server's (storing it again would fail as a storage fault).
        if st.doc.get_change_by_hash(&change.hash()).is_some() {
            return Ok(read(st));
        }
        let author = Author { team: d.team, member: d.member, device: d.id, role: dev.role };
        authorize(&st.doc, &change, &author).map_err(invalid_write)?;
        self.store_server_change(&mut guard, fork, &change, Some(d.id), now).await?;
        let Some(st) = guard.as_ref() else { return Err(EditError::Unknown) };
        Ok(read(st))
    }

    /// Checks the document's size cap and validates `fork` (the document with one change made by
    /// the server's actor, on `device`'s behalf if any), stores the change with what it derives,
    /// then makes `fork` the cached state.
    async fn store_server_change(
        &self,
        guard: &mut tokio::sync::MutexGuard<'_, Option<DocState>>,
        fork: Automerge,
        change: &Decoded,
        device: Option<kith_domain::DeviceId>,
        now: i64,
    ) -> Result<DocMeta, EditError> {
        let Some(st) = guard.as_ref() else { return Err(EditError::Unknown) };
        let meta = st.meta.clone();
        let size = st.bytes.saturating_add(change.raw_bytes().len());
        self.limits
            .check_doc_size(meta.kind, st.bytes, change.raw_bytes().len())
            .map_err(|m| EditError::Domain(kith_domain::DomainError::Invalid(m)))?;
        let derived = match meta.kind {
            Kind::Shift => {
                let before = st.doc.get_heads();
                let header_before = shift::header_times(&st.doc);
                let (_, added) = doc::validate_shift_additions(&fork, std::slice::from_ref(change))?;
                let update = match added {
                    Some(a) => ShiftUpdate::Added(a),
                    None => ShiftUpdate::Whole(shift::read(&fork)?),
                };
                // Check-ins of other devices count with their offsets.
                let devices = update.checkins().iter().map(|c| c.device).filter(|d| Some(*d) != device).collect();
                let others = self.clocks.others(self.storage.as_ref(), devices).await?;
                // The server's clock is its own: offset 0.
                let arrival = Arrival { now, offset_ms: 0, previous: None, device, others: &others };
                let facts = match &update {
                    ShiftUpdate::Added(a) => ShiftFacts::Added(a),
                    ShiftUpdate::Whole(s) => {
                        ShiftFacts::Whole { shift: s, header_written: shift::header_times(&fork) != header_before }
                    }
                };
                let tracking = receipts::tracking(&meta, facts, &arrival);
                let odd_keys = matches!(update, ShiftUpdate::Whole(_)) && shift::odd_keys(&fork)?;
                let note = ShiftNote { update, before, after: fork.get_heads(), odd_keys };
                Derived { tracking, roles: None, note: Some(note) }
            }
            Kind::Team => {
                let t = team::read(&fork)?;
                Derived {
                    roles: Some((t.id, t.members.iter().map(|m| (m.id, m.role)).collect())),
                    ..Derived::default()
                }
            }
        };
        let since = st.since_snapshot + 1;
        let seqs = self
            .storage
            .append_changes_with(
                AppendChanges {
                    meta: meta.clone(),
                    create: false,
                    changes: vec![NewChange {
                        hash: change.hash().0.to_vec(),
                        bytes: change.raw_bytes().to_vec(),
                        actor: self.server_actor.to_bytes().to_vec(),
                        device,
                    }],
                    received_at: now,
                },
                derived,
            )
            .await?;
        metrics::counter!("kith_changes_stored_total").increment(1);
        **guard = Some(DocState {
            meta: meta.clone(),
            doc: fork,
            last_seq: seqs.first().copied().unwrap_or(0),
            since_snapshot: since,
            bytes: size,
            settled: None,
        });
        self.maybe_snapshot(guard);
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CacheConfig;
    use crate::table::measured;

    /// What the live tier holds for empty slots: its map's table, measured, and each slot's
    /// allocation (the `Arc`'s two counts and the lock).
    fn live_held(cache: &DocCache) -> usize {
        let t = cache.tiers();
        let arc = 2 * std::mem::size_of::<usize>() + std::mem::size_of::<tokio::sync::Mutex<Option<DocState>>>();
        measured(&t.live) + t.live.len() * arc
    }

    /// A map's table doubles when it fills (and keeps its size when entries go): counting twice
    /// its entries, the live tier held more than its budget just past a power of two of slots.
    #[test]
    fn the_live_documents_hold_no_more_than_their_budget_as_the_table_grows() {
        // Budgets whose slots end just past a full table (1,792 or 3,584 slots).
        for n in [1800usize, 3600] {
            let live_max_bytes = n * SLOT_BYTES;
            let cache =
                DocCache::new(&CacheConfig { live_max_bytes, max_bytes: 2 * live_max_bytes, ..CacheConfig::default() });
            // Slots of documents not loaded (ids asked for that exist nowhere), each given back at once.
            for i in 0..2 * n {
                drop(cache.slot(Uuid::now_v7()));
                let held = live_held(&cache);
                assert!(held <= live_max_bytes, "{held} bytes held after {i} slots, budget {live_max_bytes}");
            }
        }
    }
}
