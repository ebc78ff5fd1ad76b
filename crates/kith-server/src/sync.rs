//! The sync service: validates, authorises, stores and answers pushed documents, and builds the
//! feed. See docs/protocol.md for the rules implemented here.
//!
//! It stores each document's new changes with what the server derives from them (a shift's
//! receipts and tracking row, a team's roles) in one transaction, and returns how far the store
//! went ([`Synced::stored_upto`]). It tells nobody else: the deadline engine and the live channel
//! follow the stored changes themselves, so what a request stored counts even if the request
//! dies right after (docs/architecture.md).

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use automerge::{Automerge, Change, ChangeHash, ReadDoc};
use kith_domain::authz::{Author, AuthzError, authorize, authorize_settled};
use kith_domain::change::Decoded;
use kith_domain::doc::{self, DocKind, Settled, ShiftAdditions, shift, team};
use kith_domain::{DeviceId, MemberId, Shift, TeamId};
use kith_proto::{Cursor, DocPush, DocReply, FeedDoc, Kind, Outcome, RejectCode, SyncRequest, SyncResponse};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use crate::config::Limits;
use crate::cursor::Position;
use crate::docs::{DocService, DocState, ensure_loaded};
use crate::live::visible;
use crate::receipts::{self, Arrival, ShiftFacts};
use crate::storage::{
    AppendChanges, Derived, DeviceAuth, DocMeta, FeedEntry, FeedScope, NewChange, ShiftNote, ShiftUpdate, Storage,
    StorageError,
};

pub use crate::docs::{EditError, UNKNOWN_DOC_MESSAGE};

/// Bytes of a receipt: HMAC-SHA256 truncated to 128 bits (RFC 2104 allows truncating to half).
pub const RECEIPT_BYTES: usize = 16;

/// Shared server state for syncing.
#[derive(Debug)]
pub struct SyncService {
    pub storage: Arc<dyn Storage>,
    pub docs: Arc<DocService>,
    pub limits: Limits,
    /// Secret for receipts (see [`SyncService::receipt`]).
    pub receipt_key: Vec<u8>,
    /// Seals the feed cursors devices hold (see [`crate::cursor`]).
    pub cursor_key: crate::cursor::CursorKey,
    /// Where heavy work runs, bounded (see [`crate::heavy`]): a feed page with many whole
    /// documents is built there.
    pub heavy: Arc<crate::heavy::HeavyPool>,
}

/// Why a sync exchange was not answered.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The device's `client_time` is no time at all: its clock cannot be used for anything.
    #[error(
        "The device's clock reads {0} ms since 1970, which is not a usable time: set the device's date and time, \
         then sync again."
    )]
    ClientTime(i64),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The answer is heavy (a large feed page) and the heavy pool and its queue are full; nothing
    /// was stored. Retryable (503 `server_busy` with Retry-After).
    #[error("the server is busy with other large syncs")]
    Busy,
}

/// How an answer's body travels, which decides the form of the whole documents in its feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transfer {
    /// As is: a whole document is Automerge's compact `save()` (its columns deflated one by one).
    #[default]
    Plain,
    /// Compressed by HTTP (zstd or gzip, whichever the client accepts): a whole document is saved
    /// with its columns left raw, so the body's compression also sees what the documents share
    /// (actor and member ids, keys, the layout of a shift): about a third fewer bytes as sent for
    /// a new device (docs/benchmarks.md). Any Automerge loader reads both forms, so devices of
    /// every version take it as they did the compact one.
    Compressed,
}

/// An answered exchange.
#[derive(Debug)]
pub struct Synced {
    pub response: SyncResponse,
    /// The greatest seq of the changes this exchange stored, if it stored any.
    pub stored_upto: Option<u64>,
}

fn rejected(id: Uuid, code: RejectCode, message: impl Into<String>) -> DocReply {
    metrics::counter!("kith_docs_rejected_total", "code" => format!("{code:?}")).increment(1);
    DocReply {
        id,
        outcome: Outcome::Rejected { code, message: message.into() },
        data: vec![],
        heads: vec![],
        receipt: None,
    }
}

/// The changes of `batch` that `heads` depend on (the heads themselves included).
fn ancestors_within(batch: &[Decoded], heads: &[ChangeHash]) -> HashSet<ChangeHash> {
    let by_hash: std::collections::HashMap<ChangeHash, &Decoded> = batch.iter().map(|c| (c.hash(), c)).collect();
    let mut out = HashSet::new();
    let mut stack: Vec<ChangeHash> = heads.to_vec();
    while let Some(h) = stack.pop() {
        if let Some(c) = by_hash.get(&h)
            && out.insert(h)
        {
            stack.extend(c.deps().iter().copied());
        }
    }
    out
}

fn to_hashes(hs: &[ByteBuf]) -> Option<Vec<ChangeHash>> {
    hs.iter().map(|h| ChangeHash::try_from(h.as_slice()).ok()).collect()
}

fn heads_of(doc: &Automerge) -> Vec<ByteBuf> {
    doc.get_heads().iter().map(|h| ByteBuf::from(h.0.to_vec())).collect()
}

/// Whether the document has (or has queued) the change with this hash.
fn has(doc: &Automerge, h: &ChangeHash) -> bool {
    doc.get_missing_deps(&[*h]).is_empty()
}

/// What the client lacks: changes after its heads if the server knows them all, else after its
/// `have`, else the whole document.
fn reply_data(doc: &Automerge, heads: &[ByteBuf], have: &[ByteBuf]) -> Vec<ByteBuf> {
    // The common case: the client has exactly what the server has.
    let server_heads = doc.get_heads();
    if !heads.is_empty()
        && heads.len() == server_heads.len()
        && heads.iter().all(|h| server_heads.iter().any(|s| s.0.as_slice() == h.as_slice()))
    {
        return vec![];
    }
    let known = |hs: &[ByteBuf]| to_hashes(hs).filter(|hs| hs.iter().all(|h| has(doc, h)));
    let bytes = match known(heads).or_else(|| known(have)) {
        Some(hs) if !hs.is_empty() => doc.save_after(&hs),
        _ => {
            if doc.get_heads().is_empty() {
                Vec::new()
            } else {
                doc.save()
            }
        }
    };
    if bytes.is_empty() { vec![] } else { vec![ByteBuf::from(bytes)] }
}

/// Whether any of `changes` writes at the document's root (`true` if one's operations cannot be
/// read).
fn writes_root(changes: &[Decoded]) -> bool {
    use automerge::legacy::ObjectId;
    changes.iter().any(|c| c.ops().is_none_or(|ops| ops.operations.iter().any(|op| op.obj == ObjectId::Root)))
}

/// Orders changes so that each comes after the changes of the same batch it depends on.
fn causal_order(changes: Vec<Decoded>) -> Vec<Decoded> {
    let mut pending = changes;
    let mut out: Vec<Decoded> = Vec::with_capacity(pending.len());
    let mut placed: HashSet<ChangeHash> = HashSet::new();
    let in_batch: HashSet<ChangeHash> = pending.iter().map(|c| c.hash()).collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for c in pending {
            if c.deps().iter().all(|d| !in_batch.contains(d) || placed.contains(d)) {
                placed.insert(c.hash());
                out.push(c);
            } else {
                rest.push(c);
            }
        }
        if rest.len() == before {
            // A cycle cannot happen with real hashes; keep what is left in the order given.
            out.extend(rest);
            break;
        }
        pending = rest;
    }
    out
}

/// HMAC-SHA256 under `key` of `"kith-receipt-v1"`, the document id and its sorted heads.
fn receipt_mac(key: &[u8], id: Uuid, heads: &[ChangeHash]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut heads = heads.to_vec();
    heads.sort();
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key) else { return Vec::new() };
    mac.update(b"kith-receipt-v1");
    mac.update(id.as_bytes());
    for h in &heads {
        mac.update(&h.0);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The receipt for a document's current heads (none for an empty document).
fn receipt_of(key: &[u8], id: Uuid, doc: &Automerge) -> Option<ByteBuf> {
    let heads = doc.get_heads();
    (!heads.is_empty()).then(|| {
        let mut r = receipt_mac(key, id, &heads);
        r.truncate(RECEIPT_BYTES);
        ByteBuf::from(r)
    })
}

/// Whether `given` is a receipt made under `key` for `heads` of document `id`: the HMAC's first
/// [`RECEIPT_BYTES`] bytes, or all of it (receipts handed out before version 2 of the protocol).
/// Compared in constant time: a receipt is a credential for relaying changes.
fn vouches(key: &[u8], id: Uuid, heads: &[ChangeHash], given: &[u8]) -> bool {
    let expected = receipt_mac(key, id, heads);
    let n = given.len();
    (n == RECEIPT_BYTES || n == expected.len())
        && (1..=expected.len()).contains(&n)
        && expected[..n].iter().zip(given).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Automerge chunk types: a document, a change, a compressed change (and 3, a bundle).
const CHUNK_DOCUMENT: u8 = 0;
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED: u8 = 2;

/// Refuses any Automerge chunk in `bytes` whose type is not in `allowed`, before Automerge parses
/// them. Automerge 0.12 also parses "bundle" chunks, and expands their columns without a bound: 261
/// bytes made it allocate more than 8 GB (found by fuzzing: fuzz/seeds/push_change/
/// automerge-bundle-bomb). Kith devices send only changes, and documents in `save`. Chunks are
/// `magic(4) checksum(4) type(1) length(uLEB128) body`; what does not parse is left to Automerge,
/// which refuses it too.
fn only_chunks(bytes: &[u8], allowed: &[u8]) -> Result<(), String> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut rest = bytes;
    while rest.len() > 9 && rest[..4] == MAGIC {
        let kind = rest[8];
        if !allowed.contains(&kind) {
            return Err(format!("an Automerge chunk of type {kind}, which Kith devices never send"));
        }
        let mut len: u64 = 0;
        let mut i = 9;
        loop {
            let Some(&b) = rest.get(i) else { return Ok(()) };
            if i - 9 >= 10 {
                return Ok(());
            }
            len |= u64::from(b & 0x7f) << (7 * (i - 9));
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let end = usize::try_from(len).ok().and_then(|l| l.checked_add(i));
        match end {
            Some(end) if end <= rest.len() => rest = &rest[end..],
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// The changes of a saved document (as `Automerge::load` rebuilds them, hashes checked).
fn changes_of_save(bytes: &[u8]) -> Result<Vec<Change>, String> {
    only_chunks(bytes, &[CHUNK_DOCUMENT, CHUNK_CHANGE, CHUNK_COMPRESSED])?;
    match std::panic::catch_unwind(|| Automerge::load(bytes).map(|doc| doc.get_changes(&[]))) {
        Ok(Ok(changes)) => Ok(changes),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("undecodable document".into()),
    }
}

/// One pushed change, parsed (its operations are decoded later, once, by the first check that
/// reads them: [`Decoded`]).
fn decode_change(bytes: &[u8]) -> Result<Change, String> {
    only_chunks(bytes, &[CHUNK_CHANGE, CHUNK_COMPRESSED])?;
    // `Change::from_bytes` would take a copy only to parse it from a slice.
    match std::panic::catch_unwind(|| Change::try_from(bytes)) {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("undecodable change".into()),
    }
}

/// Puts one pushed document through the checks `POST /v1/sync` makes before storing anything —
/// decoding its changes and `save`, skipping what `doc` holds, causal order, the actor, missing
/// dependencies, per-change authorisation and validation — against `doc` held in memory (`None`:
/// a document the server does not have), with the same functions the server runs. Stores nothing
/// and changes nothing: for the fuzzers (`fuzz/`) and for tests. `Ok` is how many new changes would
/// be stored.
pub fn check_push(
    doc: Option<&Automerge>,
    kind: Option<Kind>,
    author: &Author,
    actor: &[u8],
    push: &DocPush,
) -> Result<usize, (RejectCode, String)> {
    let mut decoded = Vec::with_capacity(push.changes.len());
    for bytes in &push.changes {
        decoded.push(decode_change(bytes).map_err(|e| (RejectCode::Malformed, e))?);
    }
    if let Some(bytes) = &push.save {
        decoded.extend(changes_of_save(bytes).map_err(|e| (RejectCode::Malformed, e))?);
    }
    let stored = |h: &ChangeHash| doc.is_some_and(|d| has(d, h));
    let mut seen = HashSet::new();
    let new: Vec<Decoded> =
        decoded.into_iter().filter(|c| !stored(&c.hash()) && seen.insert(c.hash())).map(Decoded::new).collect();
    let new = causal_order(new);
    if new.iter().any(|c| c.actor_id().to_bytes() != actor) {
        return Err((RejectCode::ActorNotYours, "a change of another actor".into()));
    }
    if new.iter().any(|c| c.deps().iter().any(|dep| !stored(dep) && !seen.contains(dep))) {
        return Err((RejectCode::MissingDeps, "a change depends on one the server lacks".into()));
    }
    if new.is_empty() {
        return Ok(0);
    }
    let client_heads = to_hashes(&push.heads).unwrap_or_default();
    let mut scratch = doc.cloned().unwrap_or_default();
    let checked = SyncService::apply_checked(
        &mut scratch,
        &mut None,
        &new,
        &HashSet::new(),
        author,
        &client_heads,
        push,
        kind,
        push.id,
    );
    match checked {
        Ok(_) => Ok(new.len()),
        Err(Refusal::Reject(code, msg)) => Err((code, msg)),
        Err(Refusal::MissingDeps) => Err((RejectCode::MissingDeps, "missing dependencies after applying".into())),
    }
}

/// Empties a document's cache slot when dropped while armed: the slot's document holds applied
/// changes that are not known to be stored.
struct Unstored<'a, 'b> {
    guard: &'a mut tokio::sync::MutexGuard<'b, Option<DocState>>,
    armed: bool,
}

impl Drop for Unstored<'_, '_> {
    fn drop(&mut self) {
        if self.armed {
            **self.guard = None;
        }
    }
}

/// Why a push is refused after its changes were applied.
enum Refusal {
    Reject(RejectCode, String),
    MissingDeps,
}

/// What the checks of a push found out.
struct Checked {
    /// The record of a document the server did not have.
    created: Option<DocMeta>,
    shift: Option<CheckedShift>,
}

enum CheckedShift {
    Whole(Shift),
    Added(ShiftAdditions),
}

/// The outcome of pushing one document.
struct Pushed {
    reply: DocReply,
    /// The greatest seq of the changes stored.
    stored: Option<u64>,
    /// Storing failed in a way that fails the whole request: the device was revoked meanwhile,
    /// or a storage fault no retry can help (a 500, so the operator looks).
    fatal: Option<StorageError>,
}

impl SyncService {
    /// The server's receipt for a document's heads: HMAC-SHA256 under the server's secret of
    /// the document id and its sorted heads, its first [`RECEIPT_BYTES`] bytes. Devices keep the
    /// last one and send it back; it proves this server once held every change under those heads
    /// (see docs/protocol.md).
    pub fn receipt(&self, id: Uuid, heads: &[ChangeHash]) -> ByteBuf {
        let mut r = receipt_mac(&self.receipt_key, id, heads);
        r.truncate(RECEIPT_BYTES);
        ByteBuf::from(r)
    }

    fn receipt_of(&self, id: Uuid, doc: &Automerge) -> Option<ByteBuf> {
        receipt_of(&self.receipt_key, id, doc)
    }

    /// Whether `vouch` is a receipt this server made for document `id`.
    fn verify(&self, id: Uuid, vouch: &kith_proto::Vouch) -> Option<Vec<ChangeHash>> {
        let heads = to_hashes(&vouch.heads)?;
        (vouches(&self.receipt_key, id, &heads, &vouch.receipt) && !heads.is_empty()).then_some(heads)
    }

    /// One sync exchange for an authenticated device, at `now` on the server clock, its answer
    /// sent as is.
    pub async fn sync(&self, dev: &DeviceAuth, req: SyncRequest, now: i64) -> Result<Synced, SyncError> {
        self.sync_with(dev, req, now, Transfer::Plain).await
    }

    /// [`SyncService::sync`], for an answer that travels as `transfer` says.
    pub async fn sync_with(
        &self,
        dev: &DeviceAuth,
        req: SyncRequest,
        now: i64,
        transfer: Transfer,
    ) -> Result<Synced, SyncError> {
        let offset =
            kith_domain::time::clock_offset(now, req.client_time).ok_or(SyncError::ClientTime(req.client_time))?;
        let device = dev.device.id;
        // A device the bounded cache does not hold is read from storage first: the exchange
        // counts with exactly what it would have held.
        let known = self.docs.clocks.known(self.storage.as_ref(), device).await?;
        let exchange = self.docs.clocks.exchange(device, offset, now, known);
        if exchange.store
            && let Err(e) = self.storage.set_device_offset(device, offset, now).await
        {
            tracing::warn!(device = %device, error = %e, "could not store a device's clock offset");
        }
        self.forget_clocks(exchange.forget);
        let none = receipts::OtherClocks::new();
        let arrival =
            Arrival { now, offset_ms: offset, previous: exchange.previous, device: Some(device), others: &none };
        let ids: HashSet<Uuid> = req.docs.iter().map(|d| d.id).collect();
        let pushes = req.docs.into_iter().map(|p| self.push_doc(dev, p, &arrival));
        let results = futures_util::future::join_all(pushes).await;
        let mut docs = Vec::with_capacity(results.len());
        let mut stored_upto = None;
        let mut fatal = None;
        for r in results {
            stored_upto = stored_upto.max(r.stored);
            fatal = fatal.or(r.fatal);
            docs.push(r.reply);
        }
        // Revoked while this request was in flight (or storage broken for good): what was stored
        // before stays (and counts), the rest was refused; the device hears it is revoked (or the
        // server's fault, 500).
        if let Some(e) = fatal {
            return Err(e.into());
        }
        // Version 2 leaves out the heads of a feed document sent whole: they are its own.
        let compact = req.protocol >= 2;
        let given = req.cursor.clone();
        let (feed, cursor, more, reset) =
            match self.feed(dev, req.cursor, &ids, compact, transfer, stored_upto.is_some()).await {
                Ok(f) => f,
                // The page is heavy and the pool full, but this request stored something: its
                // replies are answered with no page, the cursor where it was and `more`, so the
                // device asks again at once (and then hears 503 and retries later).
                Err(SyncError::Busy) if stored_upto.is_some() => {
                    (Vec::new(), given.unwrap_or(Cursor { seq: 0, hash: None }), true, false)
                }
                Err(e) => return Err(e),
            };
        let response = SyncResponse { protocol: req.protocol, server_time: now, docs, feed, cursor, more, reset };
        Ok(Synced { response, stored_upto })
    }

    /// Stores the latest exchange of the devices the clock cache lets go, then lets them go: in a
    /// task of its own, so a request that goes away leaves none held for ever.
    fn forget_clocks(&self, forget: Vec<(DeviceId, receipts::DeviceClock)>) {
        if forget.is_empty() {
            return;
        }
        let (storage, docs) = (self.storage.clone(), self.docs.clone());
        tokio::spawn(async move {
            for (d, c) in forget {
                let stored = match storage.set_device_offset(d, c.offset_ms, c.at).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(device = %d, error = %e, "could not store a device's clock offset; it stays in memory");
                        false
                    }
                };
                docs.clocks.forgotten(d, c.at, stored);
            }
        });
    }

    async fn push_doc(&self, dev: &DeviceAuth, push: DocPush, arrival: &Arrival<'_>) -> Pushed {
        let id = push.id;
        let now = arrival.now;
        let plain = |reply| Pushed { reply, stored: None, fatal: None };
        if push.changes.len() > self.limits.max_changes_per_doc {
            return plain(rejected(
                id,
                RejectCode::TooLarge,
                format!(
                    "{} changes in one document; the server takes at most {} per request: send them in several syncs",
                    push.changes.len(),
                    self.limits.max_changes_per_doc
                ),
            ));
        }
        let save_len = push.save.as_ref().map_or(0, |s| s.len());
        if save_len > kith_proto::MAX_SAVE_BYTES {
            return plain(rejected(
                id,
                RejectCode::TooLarge,
                format!(
                    "a saved document of {save_len} bytes; the server takes at most {} in `save`: send its changes instead",
                    kith_proto::MAX_SAVE_BYTES
                ),
            ));
        }
        let total: usize = push.changes.iter().map(|c| c.len()).sum::<usize>() + save_len;
        if total > self.limits.max_doc_bytes {
            return plain(rejected(
                id,
                RejectCode::TooLarge,
                format!(
                    "{total} bytes of changes in one document; the server takes at most {} per request: send them in several syncs",
                    self.limits.max_doc_bytes
                ),
            ));
        }
        let slot = self.docs.cache.slot(id);
        let mut guard = slot.lock().await;
        let exists = match ensure_loaded(self.storage.as_ref(), id, &mut guard).await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(doc = %id, error = %e, "could not load a document");
                return plain(rejected(
                    id,
                    RejectCode::Busy,
                    "The server could not read this document now: sync again later.",
                ));
            }
        };
        let d = &dev.device;
        let is_lead = dev.role.is_lead();
        // A document the device may not see is handled from here on exactly as one that does not
        // exist (every check below runs against an empty document, and nothing of the stored one
        // is read or touched), so no answer tells the two apart (docs/protocol.md, Visibility).
        let hidden = guard.as_ref().is_some_and(|st| !visible(&st.meta, d.team, d.member, is_lead));
        if (!exists || hidden) && push.changes.is_empty() && push.save.is_none() {
            if !push.have.is_empty() {
                // The client saw this document here before: the server lost it (restored backup).
                return self.missing_deps(id, &push, None);
            }
            return plain(rejected(id, RejectCode::UnknownDocument, UNKNOWN_DOC_MESSAGE));
        }
        let state = if hidden { None } else { guard.as_ref() };
        // From here on, rejections of an existing document still tell the client what it lacks.
        let reject = |code: RejectCode, msg: String| {
            let mut r = rejected(id, code, msg);
            if let Some(st) = state {
                r.data = reply_data(&st.doc, &push.heads, &push.have);
                r.heads = heads_of(&st.doc);
                r.receipt = self.receipt_of(id, &st.doc);
            }
            Pushed { reply: r, stored: None, fatal: None }
        };

        let mut decoded = Vec::with_capacity(push.changes.len());
        for (i, bytes) in push.changes.iter().enumerate() {
            match decode_change(bytes) {
                Ok(c) => decoded.push(c),
                Err(e) => {
                    return reject(
                        RejectCode::Malformed,
                        format!("change {i} is not an Automerge change ({e}): this client has a bug, report it"),
                    );
                }
            }
        }
        // A whole saved document stands for all its changes: each goes through every check
        // below exactly as if it had been sent on its own.
        if let Some(bytes) = &push.save {
            match changes_of_save(bytes) {
                Ok(changes) => decoded.extend(changes),
                Err(e) => {
                    return reject(
                        RejectCode::Malformed,
                        format!("`save` is not an Automerge document ({e}): this client has a bug, report it"),
                    );
                }
            }
            if decoded.len() > self.limits.max_changes_per_doc {
                return reject(
                    RejectCode::TooLarge,
                    format!(
                        "{} changes in one document; the server takes at most {} per request: send them in several syncs",
                        decoded.len(),
                        self.limits.max_changes_per_doc
                    ),
                );
            }
        }
        // Whether the server has a change (a document it does not have has none).
        let stored = |h: &ChangeHash| state.is_some_and(|s| has(&s.doc, h));
        let mut seen = HashSet::new();
        let new: Vec<Decoded> =
            decoded.into_iter().filter(|c| !stored(&c.hash()) && seen.insert(c.hash())).map(Decoded::new).collect();
        let new = causal_order(new);
        // Changes under heads this server vouched for were accepted here once (it was restored
        // from an older backup since): they may come back from any device, as they were.
        let vouched = match push.vouch.as_ref().and_then(|v| self.verify(id, v)) {
            Some(heads) => ancestors_within(&new, &heads),
            None => HashSet::new(),
        };

        for c in &new {
            if !vouched.contains(&c.hash()) && c.actor_id().to_bytes() != d.actor.as_slice() {
                return reject(
                    RejectCode::ActorNotYours,
                    format!(
                        "a change is written by actor {} which is not this device's ({}): devices only send their own \
                         new changes, and never share an actor id",
                        c.actor_id(),
                        hex::encode(&d.actor)
                    ),
                );
            }
        }
        let missing = new.iter().any(|c| c.deps().iter().any(|dep| !stored(dep) && !seen.contains(dep)));
        if missing {
            return self.missing_deps(id, &push, state);
        }
        let client_heads = to_hashes(&push.heads).unwrap_or_default();
        if new.is_empty() {
            // Nothing new: the client may still have changes the server lacks and did not send.
            if client_heads.iter().any(|h| !stored(h)) {
                return self.missing_deps(id, &push, state);
            }
            return self.accepted(id, &push, state);
        }

        let new_bytes: usize = new.iter().map(|c| c.raw_bytes().len()).sum();
        let kind = state.map_or(push.kind, |s| s.meta.kind);
        if let Err(msg) = self.limits.check_doc_size(kind, state.map_or(0, |s| s.bytes), new_bytes) {
            return reject(RejectCode::TooLarge, msg);
        }

        // Apply, authorise and validate. An existing document is changed in the cache itself (no
        // copy of it per push); if anything below refuses the push, the cache entry is dropped
        // and reloaded from storage, which only ever holds accepted changes.
        let existing_kind = state.map(|s| s.meta.kind);
        let heads_before = state.map(|s| s.doc.get_heads()).unwrap_or_default();
        // A shift's header times are values at its root: read them before only if a change writes
        // there (reading them costs a few percent of a check-in).
        let header_before =
            state.filter(|s| s.meta.kind == Kind::Shift && writes_root(&new)).map(|s| shift::header_times(&s.doc));
        // A document the server does not have yet is built here (not in the cache) until stored.
        let mut scratch = if state.is_none() { Some(Automerge::new()) } else { None };
        let mut scratch_settled = None;
        let author = Author { team: d.team, member: d.member, device: d.id, role: dev.role };
        let checked: Result<Checked, Refusal> = {
            let (doc, settled) = match guard.as_mut() {
                Some(st) if !hidden => (&mut st.doc, &mut st.settled),
                _ => (scratch.get_or_insert_with(Automerge::new), &mut scratch_settled),
            };
            Self::apply_checked(doc, settled, &new, &vouched, &author, &client_heads, &push, existing_kind, id)
        };
        let checked = match checked {
            Ok(c) => c,
            // The cached document was not touched: answer as for a document that does not exist.
            Err(refusal) if hidden => return self.answer_refusal(id, &push, None, refusal),
            Err(refusal) => return self.refuse(id, &push, &mut guard, refusal).await,
        };
        if hidden {
            // It would have created a new document of the caller's own under an id that is taken.
            // Ids are random UUIDs that only those who may see a document ever receive.
            return plain(rejected(id, RejectCode::UnknownDocument, UNKNOWN_DOC_MESSAGE));
        }
        let meta = match (guard.as_ref(), checked.created) {
            (Some(st), _) => st.meta.clone(),
            (None, Some(m)) => m,
            (None, None) => return plain(rejected(id, RejectCode::UnknownDocument, UNKNOWN_DOC_MESSAGE)),
        };
        let create = guard.is_none();
        let heads_after = match (guard.as_ref(), scratch.as_ref()) {
            (Some(st), _) => st.doc.get_heads(),
            (None, Some(doc)) => doc.get_heads(),
            (None, None) => Vec::new(),
        };
        // A shift's update as the deadline engine takes it: what validating it read, or (edits
        // the cheap reading does not model: a header field, the buddies) the whole shift, read once.
        let update = match meta.kind {
            Kind::Team => Ok(None),
            Kind::Shift => match (checked.shift, guard.as_ref(), scratch.as_ref()) {
                (Some(CheckedShift::Whole(s)), ..) => Ok(Some(ShiftUpdate::Whole(s))),
                (Some(CheckedShift::Added(a)), ..) => Ok(Some(ShiftUpdate::Added(a))),
                (None, Some(st), _) => shift::read(&st.doc).map(|s| Some(ShiftUpdate::Whole(s))),
                (None, None, Some(doc)) => shift::read(doc).map(|s| Some(ShiftUpdate::Whole(s))),
                (None, None, None) => Ok(None),
            },
        };
        let update = match update {
            Ok(u) => u,
            Err(e) => {
                let refusal = Refusal::Reject(RejectCode::Invalid, format!("the document would not be valid: {e}"));
                return self.refuse(id, &push, &mut guard, refusal).await;
            }
        };
        // Check-ins another device made (relayed after a restore) count with that device's offset.
        let others = match &update {
            Some(u) => {
                let devices = u.checkins().iter().map(|c| c.device).filter(|x| *x != d.id).collect();
                match self.docs.clocks.others(self.storage.as_ref(), devices).await {
                    Ok(o) => o,
                    Err(e) => {
                        tracing::error!(doc = %id, error = %e, "could not read devices' clock offsets");
                        let msg = "The server could not store this document now: sync again later.".to_string();
                        return self.refuse(id, &push, &mut guard, Refusal::Reject(RejectCode::Busy, msg)).await;
                    }
                }
            }
            None => receipts::OtherClocks::new(),
        };
        let arrival = Arrival { others: &others, ..*arrival };
        let derived = {
            let doc = match (guard.as_ref(), scratch.as_ref()) {
                (Some(st), _) => Some(&st.doc),
                (None, doc) => doc,
            };
            match doc {
                Some(doc) => self.derive(&meta, doc, update, header_before, heads_before, heads_after, &arrival),
                None => Ok(Derived::default()),
            }
        };
        let derived = match derived {
            Ok(d) => d,
            Err(e) => {
                let refusal = Refusal::Reject(RejectCode::Invalid, format!("the document would not be valid: {e}"));
                return self.refuse(id, &push, &mut guard, refusal).await;
            }
        };
        let batch = AppendChanges {
            meta: meta.clone(),
            create,
            changes: new
                .iter()
                .map(|c| NewChange {
                    hash: c.hash().0.to_vec(),
                    bytes: c.raw_bytes().to_vec(),
                    actor: c.actor_id().to_bytes().to_vec(),
                    device: Some(d.id),
                })
                .collect(),
            received_at: now,
        };
        // If this future is dropped while storing (the client went away, a timeout), the cached
        // document must not keep changes that may not be stored: `Unstored` empties the slot then.
        let mut unstored = Unstored { guard: &mut guard, armed: true };
        let stored = self.storage.append_changes_with(batch, derived).await;
        unstored.armed = false;
        drop(unstored);
        let seqs = match stored {
            Ok(s) => s,
            Err(e) => {
                let revoked = e == StorageError::Revoked;
                if !revoked {
                    tracing::error!(doc = %id, error = %e, "could not store changes");
                }
                let msg = "The server could not store this document now: sync again later.".to_string();
                let mut p = self.refuse(id, &push, &mut guard, Refusal::Reject(RejectCode::Busy, msg)).await;
                p.fatal = (revoked || !e.retryable()).then_some(e);
                return p;
            }
        };
        metrics::counter!("kith_changes_stored_total").increment(seqs.len() as u64);
        let last_seq = seqs.iter().copied().max().unwrap_or(0);
        match guard.as_mut() {
            Some(st) => {
                st.last_seq = st.last_seq.max(last_seq);
                st.since_snapshot += seqs.len();
                st.bytes += new_bytes;
            }
            None => {
                metrics::gauge!("kith_documents").increment(1.0);
                let doc = scratch.take().unwrap_or_else(Automerge::new);
                let since_snapshot = seqs.len();
                let settled = scratch_settled.take();
                *guard =
                    Some(DocState { meta: meta.clone(), doc, last_seq, since_snapshot, bytes: new_bytes, settled });
            }
        }
        self.docs.maybe_snapshot(&mut guard);
        let mut pushed = self.accepted(id, &push, guard.as_ref());
        pushed.stored = Some(last_seq);
        pushed
    }

    /// What the server stores with a push's changes: for a shift, its tracking row and the first
    /// receipt of each value the push adds, and a note for the deadline engine; for the team
    /// document, the roster's roles (authorisation and visibility follow them). `doc` is the
    /// document with the changes applied; `update` the shift's update.
    #[allow(clippy::too_many_arguments)]
    fn derive(
        &self,
        meta: &DocMeta,
        doc: &Automerge,
        update: Option<ShiftUpdate>,
        header_before: Option<(Option<i64>, Option<i64>)>,
        before: Vec<ChangeHash>,
        after: Vec<ChangeHash>,
        arrival: &Arrival<'_>,
    ) -> Result<Derived, kith_domain::DomainError> {
        match meta.kind {
            Kind::Team => {
                let t = team::read(doc)?;
                let roles = t.members.iter().map(|m| (m.id, m.role)).collect();
                Ok(Derived { roles: Some((t.id, roles)), ..Derived::default() })
            }
            Kind::Shift => {
                let update = match update {
                    Some(u) => u,
                    None => ShiftUpdate::Whole(shift::read(doc)?),
                };
                let facts = match &update {
                    ShiftUpdate::Added(a) => ShiftFacts::Added(a),
                    ShiftUpdate::Whole(s) => ShiftFacts::Whole {
                        shift: s,
                        header_written: header_before.is_some_and(|h| h != shift::header_times(doc)),
                    },
                };
                let tracking = receipts::tracking(meta, facts, arrival);
                let odd_keys = matches!(update, ShiftUpdate::Whole(_)) && shift::odd_keys(doc)?;
                Ok(Derived { tracking, roles: None, note: Some(ShiftNote { update, before, after, odd_keys }) })
            }
        }
    }

    /// The answer to an accepted push: what the client lacks and the server's heads.
    fn accepted(&self, id: Uuid, push: &DocPush, state: Option<&DocState>) -> Pushed {
        let Some(st) = state else {
            return Pushed {
                reply: rejected(id, RejectCode::UnknownDocument, UNKNOWN_DOC_MESSAGE),
                stored: None,
                fatal: None,
            };
        };
        Pushed {
            reply: DocReply {
                id,
                outcome: Outcome::Accepted,
                data: reply_data(&st.doc, &push.heads, &push.have),
                heads: heads_of(&st.doc),
                receipt: self.receipt_of(id, &st.doc),
            },
            stored: None,
            fatal: None,
        }
    }

    /// Applies `new` (in causal order) to `doc`, authorising each change against the document just
    /// before it, then checks dependencies and validates the result. For a document the server
    /// does not have yet (`existing` is `None`), returns the record to create; for a shift, what
    /// the validation read of it. `settled` is `doc`'s settled facts if known (`None`: not read
    /// yet), kept true of `doc` as the changes are applied.
    #[allow(clippy::too_many_arguments)]
    fn apply_checked(
        doc: &mut Automerge,
        settled: &mut Option<Settled>,
        new: &[Decoded],
        vouched: &HashSet<ChangeHash>,
        author: &Author,
        client_heads: &[ChangeHash],
        push: &DocPush,
        existing: Option<Kind>,
        id: Uuid,
    ) -> Result<Checked, Refusal> {
        // A lead device's team edit is held to what the console holds it to (`Team::check_edit_from`):
        // the team as it was, to compare. Not for changes this server vouched for (accepted once).
        let team_before = match existing {
            Some(Kind::Team) if vouched.is_empty() => team::read(&*doc).ok(),
            _ => None,
        };
        for c in new {
            let verdict = if vouched.contains(&c.hash()) {
                // Authorised when it was first accepted; its author may not be this device.
                Ok(())
            } else {
                // What the root holds for good is read once per cached document, not per change.
                if settled.is_none() {
                    *settled = Settled::read(&*doc);
                }
                match settled {
                    Some(s) => authorize_settled(doc, s, c, author),
                    None => authorize(doc, c, author),
                }
            };
            if let Err(e) = verdict {
                let (code, msg) = match e {
                    AuthzError::Malformed(m) => (RejectCode::Malformed, format!("a change could not be read: {m}")),
                    AuthzError::Forbidden(m) => (RejectCode::Forbidden, m),
                    AuthzError::UnknownObject | AuthzError::Invalid(_) => (RejectCode::Invalid, e.to_string()),
                };
                return Err(Refusal::Reject(code, msg));
            }
            let applied = std::panic::catch_unwind(AssertUnwindSafe(|| doc.apply_changes([c.change().clone()])));
            match applied {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    return Err(Refusal::Reject(RejectCode::Invalid, format!("a change does not apply: {e}")));
                }
                Err(_) => return Err(Refusal::Reject(RejectCode::Malformed, "a change could not be applied".into())),
            }
            // A change that writes at the root may have changed what was settled: read it again.
            if !Settled::kept_by(c) {
                *settled = None;
            }
        }
        // The client has changes the server lacks and did not send (e.g. the server was restored
        // from an older backup), or some are still waiting for dependencies.
        if !doc.get_missing_deps(&[]).is_empty() || client_heads.iter().any(|h| !has(doc, h)) {
            return Err(Refusal::MissingDeps);
        }
        let valid = match existing {
            // The stored state was valid: check what the new changes add (falls back to reading
            // the whole document for edits it does not model).
            Some(Kind::Shift) => {
                if settled.is_none() {
                    *settled = Settled::read(&*doc);
                }
                match settled {
                    Some(s) => doc::validate_shift_additions_settled(&*doc, new, s),
                    None => doc::validate_shift_additions(&*doc, new),
                }
                .map(|(k, a)| (k, a.map(CheckedShift::Added)))
            }
            Some(Kind::Team) => doc::validate(&*doc).map(|k| (k, None)),
            // A new document: read it whole (a shift), which validates it.
            None => match doc::shift::read(&*doc) {
                Ok(s) => Ok((DocKind::Shift, Some(CheckedShift::Whole(s)))),
                Err(_) => doc::validate(&*doc).map(|k| (k, None)),
            },
        };
        let (kind, shift) = match valid {
            Ok((DocKind::Shift, shift)) => (Kind::Shift, shift),
            Ok((DocKind::Team, _)) => (Kind::Team, None),
            Err(e) => {
                return Err(Refusal::Reject(RejectCode::Invalid, format!("the document would not be valid: {e}")));
            }
        };
        if kind != push.kind {
            return Err(Refusal::Reject(
                RejectCode::Invalid,
                format!("the document is a {} document but was sent as a {}", kind.as_str(), push.kind.as_str()),
            ));
        }
        if let Some(before) = &team_before {
            let kept = team::read(&*doc).and_then(|after| after.check_edit_from(before));
            if let Err(e) = kept {
                return Err(Refusal::Reject(RejectCode::Invalid, format!("the team edit is not allowed: {e}")));
            }
        }
        // What a device asks of a shift and its extensions before writing them. Not of changes this
        // server vouched for: those were accepted once, and a restore must not lose them.
        if vouched.is_empty() {
            let rules = match &shift {
                Some(CheckedShift::Whole(s)) => doc::shift::check_new(s),
                Some(CheckedShift::Added(a)) => doc::shift::check_added(&*doc, a),
                None => Ok(()),
            };
            if let Err(e) = rules {
                return Err(Refusal::Reject(RejectCode::Invalid, format!("a device would not write this: {e}")));
            }
        }
        if existing.is_some() {
            return Ok(Checked { created: None, shift });
        }
        let d = author;
        let whole = match &shift {
            Some(CheckedShift::Whole(s)) => Some(s),
            _ => None,
        };
        match new_doc_meta(whole, id, kind, d.team, d.member, !vouched.is_empty()) {
            Ok(m) => Ok(Checked { created: Some(m), shift }),
            Err(msg) => Err(Refusal::Reject(RejectCode::Forbidden, msg)),
        }
    }

    /// Refuses a push after it was (partly) applied to the cached document: drops the cache
    /// entry, reloads the document from storage, and answers from the stored state.
    async fn refuse(
        &self,
        id: Uuid,
        push: &DocPush,
        guard: &mut tokio::sync::MutexGuard<'_, Option<DocState>>,
        refusal: Refusal,
    ) -> Pushed {
        let had = guard.is_some();
        **guard = None;
        if had && let Err(e) = ensure_loaded(self.storage.as_ref(), id, guard).await {
            tracing::error!(doc = %id, error = %e, "could not reload a document");
        }
        self.answer_refusal(id, push, guard.as_ref(), refusal)
    }

    /// The answer to a refused push, from the stored state of the document (`None`: there is
    /// none, or the device may not see it).
    fn answer_refusal(&self, id: Uuid, push: &DocPush, state: Option<&DocState>, refusal: Refusal) -> Pushed {
        match refusal {
            Refusal::MissingDeps => self.missing_deps(id, push, state),
            Refusal::Reject(code, msg) => {
                let mut r = rejected(id, code, msg);
                if let Some(st) = state {
                    r.data = reply_data(&st.doc, &push.heads, &push.have);
                    r.heads = heads_of(&st.doc);
                    r.receipt = self.receipt_of(id, &st.doc);
                }
                Pushed { reply: r, stored: None, fatal: None }
            }
        }
    }

    fn missing_deps(&self, id: Uuid, push: &DocPush, state: Option<&DocState>) -> Pushed {
        let mut reply = if push.have.is_empty() {
            rejected(
                id,
                RejectCode::MissingDeps,
                "some changes depend on changes neither the server nor this request has: send every change of the \
                 document (empty `have`)",
            )
        } else {
            metrics::counter!("kith_docs_resend_all_total").increment(1);
            DocReply { id, outcome: Outcome::ResendAll, data: vec![], heads: vec![], receipt: None }
        };
        if let Some(st) = state {
            reply.heads = heads_of(&st.doc);
        }
        Pushed { reply, stored: None, fatal: None }
    }

    /// The feed after `cursor`: documents visible to the device, not in this request.
    async fn feed(
        &self,
        dev: &DeviceAuth,
        cursor: Option<Cursor>,
        exclude: &HashSet<Uuid>,
        compact: bool,
        transfer: Transfer,
        stored: bool,
    ) -> Result<(Vec<FeedDoc>, Cursor, bool, bool), SyncError> {
        let d = &dev.device;
        // The cursor is sealed for the device's team; one that does not open is unknown here,
        // and answered alike whatever it holds (crate::cursor).
        let (at, hash) = match self.cursor_key.open(d.team, cursor.as_ref()) {
            Position::Start => (0, None),
            Position::At { seq, hash } => (seq, Some(hash)),
            Position::Plain { seq, hash } => {
                // Handed out before cursors were sealed: checked only where the change at its seq
                // is the device's own team's; any other starts the feed over without a reset,
                // whatever it holds, so it tells nothing about other teams (nor how many changes
                // the server holds).
                let own = self.storage.stored_since(seq - 1, 1).await?;
                match own.first() {
                    Some(r) if r.seq == seq && r.meta.team == d.team => (seq, Some(Some(hash))),
                    _ => (0, None),
                }
            }
            Position::Unknown => (u64::MAX, None),
        };
        let pos = self.storage.feed_position(if at == u64::MAX { 0 } else { at }).await?;
        let max = pos.max_seq;
        let (after, reset) = match (at, hash) {
            (0, _) => (0, false),
            (s, _) if s > max => (0, true),
            (s, Some(h)) if h.as_deref() == pos.hash_at_cursor.as_deref() && h.is_some() => (s, false),
            _ => (0, true),
        };
        if reset {
            metrics::counter!("kith_cursor_resets_total").increment(1);
        }
        // The member's role changed after the cursor: what they may see changed, so the feed
        // starts over (documents they already hold come again, harmlessly; no reset needed).
        let after = if after > 0 && after < dev.role_seq { 0 } else { after };
        let scope = FeedScope { team: d.team, member: d.member, all_shifts: dev.role.is_lead() };
        let limit = self.limits.feed_max_docs.max(1);
        // Documents in the request are answered in their replies: skip them, without counting them.
        let entries = self.storage.feed_docs(scope, after, limit + 1 + exclude.len()).await?;
        let page: Vec<FeedEntry> = entries.iter().filter(|e| !exclude.contains(&e.meta.id)).cloned().collect();
        // Documents sent whole, each decoded (or loaded) and saved: a new device's catch-up is
        // thousands of them, seconds of Automerge work, so from a few dozen on it is built on the
        // heavy pool like a big push (refused with 503 when the pool is full).
        let whole = page.iter().take(limit).filter(|e| e.first_seq > after).count();
        let build = PageBuild {
            storage: self.storage.clone(),
            docs: self.docs.clone(),
            receipt_key: self.receipt_key.clone(),
            after,
            limit,
            budget: self.limits.feed_budget_bytes,
            compact,
            transfer,
        };
        let (out, cut) = if whole >= self.limits.heavy_feed_docs.max(1) {
            self.heavy.run(build.run(page)).await.map_err(|_| SyncError::Busy)??
        } else {
            build.run(page).await?
        };
        let upto = match cut {
            Some(next) => next.saturating_sub(1),
            None => max,
        };
        let last = match (cut, pos.max_hash) {
            (None, Some(h)) => Some((max, h)),
            (None, None) => None,
            (Some(_), _) => self.storage.change_at_or_before(upto).await?,
        };
        // Nothing new for this device and nothing stored by it: the very same cursor, whatever
        // other teams stored meanwhile (a cursor that moved would tell they did). A document of
        // its own that changed counts as news even when it is answered in its reply rather than
        // the feed (`exclude`): else the cursor would stay behind it for good.
        let stay = entries.is_empty() && !stored && !reset && cut.is_none() && after > 0;
        let cursor = match (stay, pos.hash_at_cursor, last) {
            (true, Some(h), _) => self.cursor_key.seal(d.team, after, &h),
            (_, _, Some((seq, hash))) if seq >= after || reset => self.cursor_key.seal(d.team, seq, &hash),
            _ => Cursor { seq: 0, hash: None },
        };
        Ok((out, cursor, cut.is_some(), reset))
    }
}

/// Most changes of one document a feed takes from the cached document rather than from storage:
/// Automerge rebuilds each change from the document's operations, one lookup per change (its
/// batched lookup is not public), so for a device far behind one database read is cheaper.
const FROM_MEMORY_MAX: usize = 16;

/// The changes `hashes` of `doc`, their bytes one after the other; None if the document lacks
/// one (another process stored it and this one has not loaded it yet).
fn changes_in(doc: &Automerge, hashes: &[Vec<u8>]) -> Option<Vec<u8>> {
    let mut chunk = Vec::new();
    for h in hashes {
        let h = ChangeHash::try_from(h.as_slice()).ok()?;
        chunk.extend_from_slice(doc.get_change_by_hash(&h)?.raw_bytes());
    }
    Some(chunk)
}

/// What building one feed page needs, owned, so it can run on the heavy pool.
struct PageBuild {
    storage: Arc<dyn Storage>,
    docs: Arc<DocService>,
    receipt_key: Vec<u8>,
    after: u64,
    limit: usize,
    budget: usize,
    compact: bool,
    transfer: Transfer,
}

impl PageBuild {
    /// The page's documents, in order, until `limit` documents or `budget` bytes; and the seq the
    /// page was cut at, if it was.
    async fn run(self, page: Vec<FeedEntry>) -> Result<(Vec<FeedDoc>, Option<u64>), StorageError> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for e in &page {
            if out.len() >= self.limit || (bytes >= self.budget && !out.is_empty()) {
                return Ok((out, Some(e.min_seq_after)));
            }
            let whole = e.first_seq > self.after;
            // A document the cache does not hold, sent whole, is read straight from storage and
            // saved once for the answer, without filling the cache with it (which would push out
            // the documents being worked on, and save each again when it goes).
            if whole
                && !self.docs.cache.holds(e.meta.id)
                && let Some(loaded) = self.storage.load_doc(e.meta.id).await?
                && let Some(st) = crate::docs::decode_loaded(e.meta.id, loaded)?
            {
                let doc = self.whole(&st.doc, e.meta.id, e.meta.kind);
                bytes += doc.data.iter().map(|b| b.len()).sum::<usize>();
                out.push(doc);
                continue;
            }
            let slot = self.docs.cache.slot(e.meta.id);
            let mut guard = slot.lock().await;
            if !ensure_loaded(self.storage.as_ref(), e.meta.id, &mut guard).await? {
                continue;
            }
            let Some(st) = guard.as_ref() else { continue };
            let doc = if whole {
                self.whole(&st.doc, e.meta.id, e.meta.kind)
            } else {
                // The changes after the cursor, from the cached document when the window of
                // recent changes names them (a lead fetching what it was just poked about), else
                // from storage.
                let recent = self.storage.recent_hashes(e.meta.id, self.after).filter(|hs| hs.len() <= FROM_MEMORY_MAX);
                let chunk = match recent.and_then(|hs| changes_in(&st.doc, &hs)) {
                    Some(chunk) => chunk,
                    None => {
                        let changes = self.storage.changes_after(e.meta.id, self.after).await?;
                        let mut chunk = Vec::with_capacity(changes.iter().map(|c| c.bytes.len()).sum());
                        for c in changes {
                            chunk.extend_from_slice(&c.bytes);
                        }
                        chunk
                    }
                };
                FeedDoc {
                    id: e.meta.id,
                    kind: e.meta.kind,
                    data: vec![ByteBuf::from(chunk)],
                    heads: heads_of(&st.doc),
                    receipt: receipt_of(&self.receipt_key, e.meta.id, &st.doc),
                }
            };
            bytes += doc.data.iter().map(|b| b.len()).sum::<usize>();
            out.push(doc);
        }
        Ok((out, None))
    }

    /// A document sent whole, in the form its transfer calls for.
    fn whole(&self, doc: &Automerge, id: Uuid, kind: Kind) -> FeedDoc {
        FeedDoc {
            id,
            kind,
            data: vec![ByteBuf::from(match self.transfer {
                Transfer::Plain => doc.save(),
                Transfer::Compressed => doc.save_nocompress(),
            })],
            // Version 2 leaves out the heads of a feed document sent whole: they are its own.
            heads: if self.compact { vec![] } else { heads_of(doc) },
            receipt: receipt_of(&self.receipt_key, id, doc),
        }
    }
}

/// The team and owner of a document a device creates, from the validated document.
/// The record of a document the server sees for the first time. `relayed`: it comes back under
/// this server's receipt (after a restore), possibly from a lead's device rather than the owner's.
fn new_doc_meta(
    shift: Option<&Shift>,
    id: Uuid,
    kind: Kind,
    team: TeamId,
    member: MemberId,
    relayed: bool,
) -> Result<DocMeta, String> {
    match kind {
        Kind::Team => Err("team documents are created on the server: ask an admin".into()),
        Kind::Shift => {
            let Some(s) = shift else { return Err("the shift document could not be read".into()) };
            if s.id.uuid() != id {
                return Err(format!("the shift's id {} is not the document id {id}", s.id));
            }
            if s.team != team || (s.worker != member && !relayed) {
                return Err("a shift document must be your own, in your own team".into());
            }
            Ok(DocMeta { id, team, kind, owner: Some(s.worker) })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn receipts_are_128_bit_macs_and_full_length_ones_made_before_still_vouch() {
        let (key, id) = (b"a secret made with the database".to_vec(), Uuid::now_v7());
        let heads = vec![ChangeHash([7; 32]), ChangeHash([3; 32])];
        let full = receipt_mac(&key, id, &heads);
        assert_eq!(full.len(), 32);
        let short = &full[..RECEIPT_BYTES];
        assert!(vouches(&key, id, &heads, short));
        assert!(vouches(&key, id, &heads, &full), "a receipt handed out before version 2");
        let reversed: Vec<ChangeHash> = heads.iter().rev().copied().collect();
        assert!(vouches(&key, id, &reversed, short), "heads in any order");
        // Anything else does not vouch: another document, other heads, another key, a shorter
        // prefix, a flipped bit.
        assert!(!vouches(&key, Uuid::now_v7(), &heads, short));
        assert!(!vouches(&key, id, &heads[..1], short));
        assert!(!vouches(b"another secret", id, &heads, short));
        assert!(!vouches(&key, id, &heads, &full[..8]));
        assert!(!vouches(&key, id, &heads, &[]));
        let mut flipped = short.to_vec();
        flipped[5] ^= 1;
        assert!(!vouches(&key, id, &heads, &flipped));
    }
}
