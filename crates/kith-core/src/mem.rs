//! Documents held in memory, every mutation journaled as a [`Write`] for a driver to make durable:
//! the browser's store (IndexedDB, `ui/src/lib/backend/idb.ts`) and the core's tests. The layout
//! mirrors the native SQLite store: per document a snapshot plus numbered change chunks, compacted
//! when the chunks outgrow the snapshot; sync state per document; small meta values.
//!
//! The driver loads what it stored with [`MemRepo::load`] and, after each operation, takes the
//! journal ([`MemRepo::take_journal`]) and commits it in one storage transaction. Until then the
//! operation is not done: [`crate::Core`] holds its answer back.

use std::collections::BTreeMap;

use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::chunks;
use crate::repo::{DocInfo, ErrorKind, Receipt, RemoteApplied, Repo, RepoErrorKind};

/// The meta key of this device's actor id (never written by callers: `store.` is reserved).
pub const ACTOR_KEY: &str = "store.actor_id";
const RESERVED_PREFIX: &str = "store.";

/// A document is compacted when its chunk bytes reach `max(snapshot size, this floor)`, as in the
/// native store.
pub const COMPACTION_FLOOR_BYTES: u64 = 4 * 1024;

/// Why the in-memory repository refused an operation. Messages say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    #[error("there is no document {id} on this device: sync with the server to fetch it")]
    UnknownDocument { id: Uuid },
    #[error("a document {id} (kind '{kind}') already exists: use a new id")]
    DocumentExists { id: Uuid, kind: String },
    #[error("document {id} is a '{actual}' document, not a '{expected}': nothing was stored")]
    KindMismatch { id: Uuid, expected: String, actual: String },
    #[error(
        "the data received for document {id} is not valid Automerge data ({reason}). Nothing was stored. Sync again; if it keeps happening, the server or the network is corrupting data"
    )]
    InvalidRemoteData { id: Uuid, reason: String },
    #[error(
        "the changes received for document {id} were refused by Automerge ({source}). Nothing was stored. Sync again; if it keeps happening, report a bug"
    )]
    RemoteRejected {
        id: Uuid,
        #[source]
        source: Box<automerge::AutomergeError>,
    },
    #[error(
        "document {id} in this browser's storage could not be read ({reason}): sync it again from the server, or clear this site's data and join again"
    )]
    CorruptDocument { id: Uuid, reason: String },
    #[error("the key '{key}' is reserved for the store itself and was not changed")]
    ReservedKey { key: String },
    #[error(
        "this browser's stored data is damaged ({0}). Nothing was changed: clear this site's data and join again (check-ins not yet synced are lost then)"
    )]
    Damaged(String),
}

impl RepoErrorKind for RepoError {
    fn kind(&self) -> ErrorKind {
        match self {
            RepoError::UnknownDocument { .. } => ErrorKind::UnknownDocument,
            RepoError::CorruptDocument { .. } => ErrorKind::CorruptDocument,
            _ => ErrorKind::Other,
        }
    }
}

/// One durable write, as the driver performs it. A batch of them is one storage transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Write {
    /// A new document (no snapshot yet; its first chunk follows).
    CreateDoc { id: Uuid, kind: String, created_at_ms: i64 },
    /// Change chunk number `n` of document `id` (numbers only grow, per document).
    AppendChunk {
        id: Uuid,
        n: u32,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// Replace document `id`'s snapshot by `snapshot`, which holds every chunk up to and including
    /// number `through`: delete those chunks.
    Compact {
        id: Uuid,
        through: u32,
        #[serde(with = "serde_bytes")]
        snapshot: Vec<u8>,
    },
    /// Document `id`'s sync state, whole: the heads the server has (32 bytes each) and its last
    /// receipt with the heads it vouches for.
    SyncState {
        id: Uuid,
        #[serde(with = "serde_bytes")]
        server_heads: Vec<u8>,
        #[serde(with = "serde_bytes")]
        vouch_heads: Option<Vec<u8>>,
        #[serde(with = "serde_bytes")]
        receipt: Option<Vec<u8>>,
    },
    /// A meta value.
    Meta { key: String, value: String },
}

/// One stored document, as the driver reads it back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocRecord {
    pub id: Uuid,
    pub kind: String,
    pub created_at_ms: i64,
    /// Empty until the first compaction.
    #[serde(with = "serde_bytes", default)]
    pub snapshot: Vec<u8>,
    /// The last chunk number folded into the snapshot (0: none).
    #[serde(default)]
    pub through: u32,
    /// Chunks after `through`, by number.
    #[serde(default)]
    pub chunks: Vec<ChunkRecord>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub n: u32,
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// One document's stored sync state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRecord {
    pub id: Uuid,
    #[serde(with = "serde_bytes", default)]
    pub server_heads: Vec<u8>,
    #[serde(with = "serde_bytes", default)]
    pub vouch_heads: Option<Vec<u8>>,
    #[serde(with = "serde_bytes", default)]
    pub receipt: Option<Vec<u8>>,
}

/// Everything a driver stored, to load it back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Records {
    #[serde(default)]
    pub docs: Vec<DocRecord>,
    #[serde(default)]
    pub sync: Vec<SyncRecord>,
    #[serde(default)]
    pub meta: Vec<(String, String)>,
}

impl Records {
    /// Applies a batch of writes, as a driver does (the tests' storage, and a check of drivers).
    pub fn apply(&mut self, writes: &[Write]) {
        for w in writes {
            match w {
                Write::CreateDoc { id, kind, created_at_ms } => {
                    if !self.docs.iter().any(|d| d.id == *id) {
                        self.docs.push(DocRecord {
                            id: *id,
                            kind: kind.clone(),
                            created_at_ms: *created_at_ms,
                            ..DocRecord::default()
                        });
                    }
                }
                Write::AppendChunk { id, n, bytes } => {
                    if let Some(d) = self.docs.iter_mut().find(|d| d.id == *id) {
                        d.chunks.retain(|c| c.n != *n);
                        d.chunks.push(ChunkRecord { n: *n, bytes: bytes.clone() });
                    }
                }
                Write::Compact { id, through, snapshot } => {
                    if let Some(d) = self.docs.iter_mut().find(|d| d.id == *id) {
                        d.snapshot = snapshot.clone();
                        d.through = *through;
                        d.chunks.retain(|c| c.n > *through);
                    }
                }
                Write::SyncState { id, server_heads, vouch_heads, receipt } => {
                    self.sync.retain(|s| s.id != *id);
                    self.sync.push(SyncRecord {
                        id: *id,
                        server_heads: server_heads.clone(),
                        vouch_heads: vouch_heads.clone(),
                        receipt: receipt.clone(),
                    });
                }
                Write::Meta { key, value } => {
                    self.meta.retain(|(k, _)| k != key);
                    self.meta.push((key.clone(), value.clone()));
                }
            }
        }
    }
}

#[derive(Debug)]
struct MemDoc {
    kind: String,
    created_at_ms: i64,
    /// The document, or why its stored bytes could not be read.
    doc: Result<Automerge, String>,
    server_heads: Vec<ChangeHash>,
    receipt: Option<Receipt>,
    /// The last chunk number written.
    last_chunk: u32,
    /// The last chunk number folded into the snapshot.
    through: u32,
    snapshot_len: u64,
    /// Byte lengths of the chunks after `through`.
    chunk_lens: Vec<u64>,
    /// How many changes the server does not have, when known (a local change adds one; what the
    /// server says, or sends, makes it unknown until counted again).
    pending: Option<usize>,
}

impl MemDoc {
    fn chunk_bytes(&self) -> u64 {
        self.chunk_lens.iter().sum()
    }

    fn doc(&self, id: Uuid) -> Result<&Automerge, RepoError> {
        self.doc.as_ref().map_err(|reason| RepoError::CorruptDocument { id, reason: reason.clone() })
    }

    fn doc_mut(&mut self, id: Uuid) -> Result<&mut Automerge, RepoError> {
        self.doc.as_mut().map_err(|reason| RepoError::CorruptDocument { id, reason: reason.clone() })
    }
}

/// The documents of one device, in memory, with a journal of writes to persist.
#[derive(Debug)]
pub struct MemRepo {
    actor: ActorId,
    docs: BTreeMap<Uuid, MemDoc>,
    meta: BTreeMap<String, String>,
    journal: Vec<Write>,
    /// The clock for `created_at_ms` of new documents: the time of the operation in progress.
    now_ms: i64,
}

fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    let mut v = heads.to_vec();
    v.sort();
    v.iter().flat_map(|h| h.0).collect()
}

fn decode_heads(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    bytes.chunks_exact(32).map(|c| ChangeHash::try_from(c).ok()).collect()
}

fn len_u64(b: &[u8]) -> u64 {
    u64::try_from(b.len()).unwrap_or(u64::MAX)
}

fn sorted(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut v = heads.to_vec();
    v.sort();
    v
}

impl MemRepo {
    /// A new, empty device with a new random actor id (journaled: persist it).
    pub fn new() -> MemRepo {
        let mut repo = MemRepo {
            actor: ActorId::random(),
            docs: BTreeMap::new(),
            meta: BTreeMap::new(),
            journal: Vec::new(),
            now_ms: 0,
        };
        let hex = repo.actor.to_hex_string();
        repo.meta.insert(ACTOR_KEY.into(), hex.clone());
        repo.journal.push(Write::Meta { key: ACTOR_KEY.into(), value: hex });
        repo
    }

    /// Loads what a driver stored. A device with no actor id yet gets one (journaled). A document
    /// whose bytes cannot be read is kept as such: listing it works, reading it says why.
    pub fn load(records: Records) -> Result<MemRepo, RepoError> {
        let mut repo = MemRepo::new();
        repo.journal.clear();
        repo.meta.clear();
        for (k, v) in records.meta {
            repo.meta.insert(k, v);
        }
        match repo.meta.get(ACTOR_KEY) {
            Some(hex) => {
                repo.actor = ActorId::try_from(hex.as_str())
                    .ok()
                    .filter(|a| !a.to_bytes().is_empty())
                    .ok_or_else(|| RepoError::Damaged(format!("the device identity '{hex}' is not an actor id")))?;
            }
            None => {
                let hex = repo.actor.to_hex_string();
                repo.meta.insert(ACTOR_KEY.into(), hex.clone());
                repo.journal.push(Write::Meta { key: ACTOR_KEY.into(), value: hex });
            }
        }
        for mut d in records.docs {
            d.chunks.sort_by_key(|c| c.n);
            d.chunks.retain(|c| c.n > d.through);
            let doc = load_doc(&d.snapshot, &d.chunks, &repo.actor);
            repo.docs.insert(
                d.id,
                MemDoc {
                    kind: d.kind,
                    created_at_ms: d.created_at_ms,
                    doc,
                    server_heads: Vec::new(),
                    receipt: None,
                    last_chunk: d.chunks.last().map_or(d.through, |c| c.n),
                    through: d.through,
                    snapshot_len: len_u64(&d.snapshot),
                    chunk_lens: d.chunks.iter().map(|c| len_u64(&c.bytes)).collect(),
                    pending: None,
                },
            );
        }
        for s in records.sync {
            let Some(d) = repo.docs.get_mut(&s.id) else { continue };
            // Damaged sync state only means "the server's heads are unknown": everything is
            // pushed again, which is harmless.
            d.server_heads = decode_heads(&s.server_heads).unwrap_or_default();
            d.receipt = match (s.vouch_heads.as_deref().and_then(decode_heads), s.receipt) {
                (Some(heads), Some(receipt)) => Some(Receipt { heads, receipt }),
                _ => None,
            };
        }
        Ok(repo)
    }

    /// Sets the time that new documents are stamped with (the core passes each event's time).
    pub fn set_now(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
    }

    /// The writes made since the last call, in order: one storage transaction.
    pub fn take_journal(&mut self) -> Vec<Write> {
        std::mem::take(&mut self.journal)
    }

    /// Whether writes are waiting to be taken.
    pub fn has_journal(&self) -> bool {
        !self.journal.is_empty()
    }

    /// Compacts every document whose chunks have outgrown its snapshot (journaled: a separate
    /// batch, so an edit never waits for it). A document waiting for missing changes is left
    /// alone: its snapshot would drop them.
    pub fn compact_due(&mut self) -> usize {
        let mut n = 0;
        for (id, d) in &mut self.docs {
            let due = d.chunk_lens.len() > 1 && d.chunk_bytes() >= d.snapshot_len.max(COMPACTION_FLOOR_BYTES);
            let Ok(doc) = &d.doc else { continue };
            if !due || !doc.get_missing_deps(&[]).is_empty() {
                continue;
            }
            let snapshot = doc.save();
            d.snapshot_len = len_u64(&snapshot);
            d.through = d.last_chunk;
            d.chunk_lens.clear();
            self.journal.push(Write::Compact { id: *id, through: d.through, snapshot });
            n += 1;
        }
        n
    }

    /// Total bytes of snapshots and chunks (for the storage view in Settings).
    pub fn stored_bytes(&self) -> u64 {
        self.docs.values().map(|d| d.snapshot_len + d.chunk_bytes()).sum()
    }

    fn append_chunk(&mut self, id: Uuid, bytes: Vec<u8>) {
        if let Some(d) = self.docs.get_mut(&id) {
            d.last_chunk += 1;
            d.chunk_lens.push(len_u64(&bytes));
            self.journal.push(Write::AppendChunk { id, n: d.last_chunk, bytes });
        }
    }

    fn journal_sync(&mut self, id: Uuid) {
        if let Some(d) = self.docs.get(&id) {
            self.journal.push(Write::SyncState {
                id,
                server_heads: encode_heads(&d.server_heads),
                vouch_heads: d.receipt.as_ref().map(|r| encode_heads(&r.heads)),
                receipt: d.receipt.as_ref().map(|r| r.receipt.clone()),
            });
        }
    }

    fn get(&self, id: Uuid) -> Result<&MemDoc, RepoError> {
        self.docs.get(&id).ok_or(RepoError::UnknownDocument { id })
    }

    fn get_mut(&mut self, id: Uuid) -> Result<&mut MemDoc, RepoError> {
        self.docs.get_mut(&id).ok_or(RepoError::UnknownDocument { id })
    }
}

impl Default for MemRepo {
    fn default() -> Self {
        MemRepo::new()
    }
}

fn load_doc(snapshot: &[u8], chunks: &[ChunkRecord], actor: &ActorId) -> Result<Automerge, String> {
    let mut doc = if snapshot.is_empty() {
        Automerge::new()
    } else {
        Automerge::load(snapshot).map_err(|e| format!("snapshot: {e}"))?
    };
    let mut bytes = Vec::new();
    for c in chunks {
        bytes.extend_from_slice(&c.bytes);
    }
    if !bytes.is_empty() {
        doc.load_incremental(&bytes).map_err(|e| format!("chunks: {e}"))?;
    }
    doc.set_actor(actor.clone());
    Ok(doc)
}

impl Repo for MemRepo {
    type Error = RepoError;

    fn actor_id(&self) -> &ActorId {
        &self.actor
    }

    fn list_docs(&self, kind: Option<&str>) -> Result<Vec<DocInfo>, RepoError> {
        let mut out: Vec<DocInfo> = self
            .docs
            .iter()
            .filter(|(_, d)| kind.is_none_or(|k| d.kind == k))
            .map(|(id, d)| DocInfo { id: *id, kind: d.kind.clone(), created_at_ms: d.created_at_ms })
            .collect();
        out.sort_by_key(|d| (d.created_at_ms, d.id));
        Ok(out)
    }

    fn has_doc(&self, id: Uuid) -> Result<bool, RepoError> {
        Ok(self.docs.contains_key(&id))
    }

    fn doc(&mut self, id: Uuid) -> Result<&Automerge, RepoError> {
        self.get(id)?.doc(id)
    }

    fn doc_kind(&mut self, id: Uuid) -> Result<String, RepoError> {
        Ok(self.get(id)?.kind.clone())
    }

    fn create_doc<O, E, F>(&mut self, id: Uuid, kind: &str, f: F) -> Result<O, E>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<O, E>,
        E: From<RepoError>,
    {
        if let Some(d) = self.docs.get(&id) {
            return Err(RepoError::DocumentExists { id, kind: d.kind.clone() }.into());
        }
        let mut doc = Automerge::new().with_actor(self.actor.clone());
        let mut t = doc.transaction();
        let out = f(&mut t)?;
        let (hash, _) = t.commit();
        let created_at_ms = self.now_ms;
        self.docs.insert(
            id,
            MemDoc {
                kind: kind.to_string(),
                created_at_ms,
                doc: Ok(Automerge::new()),
                server_heads: Vec::new(),
                receipt: None,
                last_chunk: 0,
                through: 0,
                snapshot_len: 0,
                chunk_lens: Vec::new(),
                pending: Some(usize::from(hash.is_some())),
            },
        );
        self.journal.push(Write::CreateDoc { id, kind: kind.to_string(), created_at_ms });
        let bytes = hash.map(|_| doc.save_after(&[]));
        if let Some(d) = self.docs.get_mut(&id) {
            d.doc = Ok(doc);
        }
        if let Some(bytes) = bytes {
            self.append_chunk(id, bytes);
        }
        Ok(out)
    }

    fn change_doc<O, E, F>(&mut self, id: Uuid, f: F) -> Result<O, E>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<O, E>,
        E: From<RepoError>,
    {
        let d = self.get_mut(id)?;
        let counted = d.pending;
        let doc = d.doc_mut(id)?;
        let before = doc.get_heads();
        let mut t = doc.transaction();
        let out = match f(&mut t) {
            Ok(out) => out,
            Err(e) => {
                t.rollback();
                return Err(e);
            }
        };
        let (hash, _) = t.commit();
        if hash.is_some() {
            let bytes = doc.save_after(&before);
            if let Some(d) = self.docs.get_mut(&id) {
                d.pending = counted.map(|n| n + 1);
            }
            self.append_chunk(id, bytes);
        }
        Ok(out)
    }

    fn apply_remote(&mut self, id: Uuid, kind: &str, bytes: &[u8]) -> Result<RemoteApplied, RepoError> {
        let changes = chunks::parse_changes(bytes).map_err(|reason| RepoError::InvalidRemoteData { id, reason })?;
        let received_heads = chunks::heads_of(&changes);
        let created = !self.docs.contains_key(&id);
        if let Some(d) = self.docs.get(&id)
            && d.kind != kind
        {
            return Err(RepoError::KindMismatch { id, expected: kind.to_string(), actual: d.kind.clone() });
        }
        let mut fresh = if created { Some(Automerge::new().with_actor(self.actor.clone())) } else { None };
        let doc = match &mut fresh {
            Some(doc) => doc,
            None => self.get_mut(id)?.doc_mut(id)?,
        };
        let new: Vec<Change> = changes.into_iter().filter(|c| doc.get_change_by_hash(&c.hash()).is_none()).collect();
        let mut stored = Vec::new();
        for c in &new {
            stored.extend_from_slice(c.raw_bytes());
        }
        if !new.is_empty() {
            doc.apply_changes(new.clone())
                .map_err(|source| RepoError::RemoteRejected { id, source: Box::new(source) })?;
        }
        let missing_deps = doc.get_missing_deps(&[]);
        let heads = doc.get_heads();
        if let Some(doc) = fresh {
            let created_at_ms = self.now_ms;
            self.docs.insert(
                id,
                MemDoc {
                    kind: kind.to_string(),
                    created_at_ms,
                    doc: Ok(doc),
                    server_heads: Vec::new(),
                    receipt: None,
                    last_chunk: 0,
                    through: 0,
                    snapshot_len: 0,
                    chunk_lens: Vec::new(),
                    pending: None,
                },
            );
            self.journal.push(Write::CreateDoc { id, kind: kind.to_string(), created_at_ms });
        }
        if !new.is_empty() {
            if let Some(d) = self.docs.get_mut(&id) {
                d.pending = None;
            }
            self.append_chunk(id, stored);
        }
        Ok(RemoteApplied { created, new_changes: new.len(), missing_deps, heads, received_heads })
    }

    fn server_heads(&self, id: Uuid) -> Result<Vec<ChangeHash>, RepoError> {
        Ok(self.get(id)?.server_heads.clone())
    }

    fn set_server_heads(&mut self, id: Uuid, heads: &[ChangeHash]) -> Result<(), RepoError> {
        let d = self.get_mut(id)?;
        let heads = sorted(heads);
        if d.server_heads != heads {
            d.pending = None;
        }
        d.server_heads = heads;
        self.journal_sync(id);
        Ok(())
    }

    fn receipt(&self, id: Uuid) -> Result<Option<Receipt>, RepoError> {
        Ok(self.get(id)?.receipt.clone())
    }

    fn set_receipt(&mut self, id: Uuid, heads: &[ChangeHash], receipt: &[u8]) -> Result<(), RepoError> {
        self.get_mut(id)?.receipt = Some(Receipt { heads: sorted(heads), receipt: receipt.to_vec() });
        self.journal_sync(id);
        Ok(())
    }

    fn meta_get(&self, key: &str) -> Result<Option<String>, RepoError> {
        Ok(self.meta.get(key).cloned())
    }

    fn meta_set(&mut self, key: &str, value: &str) -> Result<(), RepoError> {
        if key.starts_with(RESERVED_PREFIX) {
            return Err(RepoError::ReservedKey { key: key.to_string() });
        }
        if self.meta.get(key).map(String::as_str) != Some(value) {
            self.meta.insert(key.to_string(), value.to_string());
            self.journal.push(Write::Meta { key: key.to_string(), value: value.to_string() });
        }
        Ok(())
    }

    fn pending_changes(&mut self, id: Uuid) -> Result<Vec<Change>, RepoError> {
        let d = self.get(id)?;
        Ok(d.doc(id)?.get_changes(&d.server_heads))
    }

    fn docs_with_pending_changes(&mut self) -> Result<Vec<Uuid>, RepoError> {
        let mut out = Vec::new();
        for info in self.list_docs(None)? {
            let d = self.get(info.id)?;
            let Ok(doc) = &d.doc else { continue };
            // The usual case, cheaply: the server has exactly our heads.
            if sorted(&doc.get_heads()) == d.server_heads {
                continue;
            }
            if self.pending_count(info.id)? > 0 {
                out.push(info.id);
            }
        }
        Ok(out)
    }

    fn pending_count(&mut self, id: Uuid) -> Result<usize, RepoError> {
        let d = self.get_mut(id)?;
        if let Some(n) = d.pending {
            return Ok(n);
        }
        let n = d.doc(id)?.get_changes(&d.server_heads).len();
        d.pending = Some(n);
        Ok(n)
    }
}
