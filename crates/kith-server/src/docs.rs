//! The document service: the server's documents, loaded, read and changed in one place.
//!
//! Hot documents live in memory: a bounded cache of `Automerge` documents by id, loaded on a miss
//! from the latest snapshot plus the changes after it. Each document sits behind its own async
//! lock (its slot), so applies to one document are serialised while different documents proceed
//! in parallel. Outside a push, the cached state only ever holds committed changes: a push applies
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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use automerge::{ActorId, Automerge, Change, ReadDoc};
use kith_domain::authz::{Author, AuthzError, authorize, check_fields};
use kith_domain::doc::{self, shift, team};
use kith_proto::Kind;
use uuid::Uuid;

use crate::config::{CacheConfig, Limits};
use crate::live::visible;
use crate::receipts::{self, Arrival, DeviceClocks, ShiftFacts};
use crate::storage::{
    AppendChanges, Derived, DeviceAuth, DocMeta, NewChange, ShiftNote, ShiftUpdate, Storage, StorageError,
};

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

    /// The slot of a document if it is cached (none is made).
    pub fn cached(&self, id: Uuid) -> Option<Slot> {
        let slots = match self.slots.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        slots.get(&id).map(|(slot, _)| slot.clone())
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
        DocService { storage, cache: DocCache::new(cache_config.max_docs), cache_config, limits, server_actor, clocks }
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

    /// Drops the cached state of document `id` if it lacks the stored change `hash` (one another
    /// process stored: another server instance on the same database), so its next use loads it
    /// from storage (see [`crate::coherence`]). This process's own changes are in the cached state
    /// before their slot's lock is released, so they keep it.
    pub async fn invalidate(&self, id: Uuid, hash: &[u8]) {
        let Some(slot) = self.cache.cached(id) else { return };
        let mut guard = slot.lock().await;
        let stale = guard.as_ref().is_some_and(|st| {
            automerge::ChangeHash::try_from(hash).map_or(true, |h| st.doc.get_change_by_hash(&h).is_none())
        });
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
        let Some(change) = fork.get_last_local_change() else { return Ok(None) };
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
        let Some(change) = fork.get_last_local_change() else { return Ok(read(st)) };
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
        change: &Change,
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
                // The server's clock is its own: offset 0.
                let arrival = Arrival { now, offset_ms: 0, previous: None, device, clocks: &self.clocks };
                let facts = match &update {
                    ShiftUpdate::Added(a) => ShiftFacts::Added(a),
                    ShiftUpdate::Whole(s) => {
                        ShiftFacts::Whole { shift: s, header_written: shift::header_times(&fork) != header_before }
                    }
                };
                let tracking = receipts::tracking(&meta, facts, &arrival);
                let note = ShiftNote { update, before, after: fork.get_heads() };
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
        });
        self.maybe_snapshot(guard);
        Ok(meta)
    }
}
