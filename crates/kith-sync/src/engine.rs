//! One sync exchange, split so the logic needs no network: [`prepare`] builds the request from the
//! store, [`absorb`] applies the server's answer to it. [`sync_now`] joins them over HTTP and
//! repeats while the server has more.

use std::collections::BTreeMap;
use std::sync::Mutex;

use automerge::ChangeHash;
use kith_proto::{Cursor, DocPush, Kind, Outcome, PROTOCOL_VERSION, RejectCode, SyncRequest, SyncResponse, Vouch};
use kith_store::Store;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use crate::client::ServerClient;
use crate::error::SyncError;

const CURSOR_KEY: &str = "sync.cursor";
const OFFSET_KEY: &str = "sync.clock_offset_ms";
const LAST_SYNCED_KEY: &str = "sync.last_synced_ms";
const REJECTED_KEY: &str = "sync.rejected";

/// At most this many documents are pushed in one request; the rest go in the next round.
pub const MAX_DOCS_PER_REQUEST: usize = 200;
/// A safety bound on rounds in one [`sync_now`] (each round makes progress or stops).
pub const MAX_ROUNDS: usize = 64;

/// A document the server refused for good (a permanent [`RejectCode`]), remembered with the heads
/// it had then so the same changes are not pushed again and again; a new local change makes it
/// eligible again. A retryable refusal ([`RejectCode::retryable`], e.g. `Busy`: the server's
/// storage is full or failing) is never parked: the document stays queued and is pushed again
/// at the next sync, which the background runner schedules with backoff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub heads: Vec<String>,
    pub code: RejectCode,
    pub message: String,
}

/// What one exchange did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Absorbed {
    /// The server has more for us, or asked for a re-send: run another round.
    pub again: bool,
    /// Documents that received something from the server.
    pub received: Vec<Uuid>,
    /// Documents refused for good (parked until a new local change), with the server's code and
    /// message.
    pub rejected: Vec<(Uuid, RejectCode, String)>,
    /// Documents refused for now (a retryable code): still queued, to be pushed again.
    pub retrying: Vec<(Uuid, RejectCode, String)>,
    /// Documents accepted.
    pub accepted: Vec<Uuid>,
    /// The estimated offset of the server clock from this device's clock (server minus device).
    pub clock_offset_ms: i64,
}

/// What a whole [`sync_now`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub rounds: usize,
    pub pushed_docs: usize,
    pub received: Vec<Uuid>,
    /// Refused for good: parked until a new local change (see [`Rejection`]).
    pub rejected: Vec<(Uuid, RejectCode, String)>,
    /// Refused for now (the server could not store them): still queued on this device, to be
    /// pushed again by the next sync. Not delivered.
    pub retrying: Vec<(Uuid, RejectCode, String)>,
    pub clock_offset_ms: i64,
    pub synced_at_ms: i64,
}

impl SyncReport {
    /// Why documents are still queued although the server answered, if any were refused for
    /// now: "the team server could not store 1 document now: <its message>".
    pub fn retrying_text(&self) -> Option<String> {
        let (_, _, message) = self.retrying.first()?;
        let n = self.retrying.len();
        Some(format!(
            "the team server could not store {n} document{} now: {}",
            if n == 1 { "" } else { "s" },
            message.trim().trim_end_matches('.')
        ))
    }
}

fn hash_bytes(h: &ChangeHash) -> ByteBuf {
    ByteBuf::from(h.0.to_vec())
}

fn to_hashes(v: &[ByteBuf]) -> Result<Vec<ChangeHash>, SyncError> {
    v.iter()
        .map(|b| ChangeHash::try_from(b.as_slice()).map_err(|_| SyncError::Protocol("a head is not 32 bytes".into())))
        .collect()
}

fn kind_of(s: &str) -> Result<Kind, SyncError> {
    Kind::parse(s).ok_or_else(|| SyncError::Protocol(format!("unknown document kind '{s}' in the local store")))
}

fn rejections(store: &Store) -> Result<BTreeMap<Uuid, Rejection>, SyncError> {
    Ok(store.meta_get(REJECTED_KEY)?.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default())
}

/// The feed cursor this device last applied.
pub fn cursor(store: &Store) -> Result<Option<Cursor>, SyncError> {
    Ok(store.meta_get(CURSOR_KEY)?.and_then(|s| serde_json::from_str(&s).ok()))
}

/// When this device last completed a sync (its own clock, ms), if ever.
pub fn last_synced_ms(store: &Store) -> Result<Option<i64>, SyncError> {
    Ok(store.meta_get(LAST_SYNCED_KEY)?.and_then(|s| s.parse().ok()))
}

/// The last measured offset of the server's clock from this device's (server minus device, ms).
pub fn clock_offset_ms(store: &Store) -> Result<Option<i64>, SyncError> {
    Ok(store.meta_get(OFFSET_KEY)?.and_then(|s| s.parse().ok()))
}

/// Documents the server refused, and why.
pub fn rejected_docs(store: &Store) -> Result<BTreeMap<Uuid, Rejection>, SyncError> {
    rejections(store)
}

/// Local changes the server does not have yet, over all documents.
pub fn pending_change_count(store: &mut Store) -> Result<usize, SyncError> {
    let mut n = 0;
    for id in store.docs_with_pending_changes()? {
        n += store.pending_changes(id)?.len();
    }
    Ok(n)
}

/// Builds the next request: every document with changes the server lacks (up to
/// [`MAX_DOCS_PER_REQUEST`]), except those refused for good at their current heads, plus the
/// feed cursor. A document refused with a retryable code is always pushed again (stores written
/// before retryable refusals were retried may still hold one parked: it is ignored).
pub fn prepare(store: &mut Store, now_ms: i64) -> Result<SyncRequest, SyncError> {
    let rejected = rejections(store)?;
    let mut docs = Vec::new();
    for id in store.docs_with_pending_changes()? {
        if docs.len() >= MAX_DOCS_PER_REQUEST {
            break;
        }
        let heads = store.doc(id)?.get_heads();
        if let Some(r) = rejected.get(&id)
            && !r.code.retryable()
            && r.heads == heads.iter().map(ToString::to_string).collect::<Vec<_>>()
        {
            continue;
        }
        let kind = kind_of(&store.doc_kind(id)?)?;
        let have = store.server_heads(id)?;
        // A document the server has not seen goes as one compact save() (it takes every change
        // in it as if sent one by one); otherwise, or if that is too big, as its changes.
        let save = if have.is_empty() {
            Some(store.doc(id)?.save()).filter(|s| s.len() <= kith_proto::MAX_SAVE_BYTES)
        } else {
            None
        };
        let changes = match save {
            Some(_) => Vec::new(),
            None => store.pending_changes(id)?.iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
        };
        let vouch = store
            .receipt(id)?
            .map(|r| Vouch { heads: r.heads.iter().map(hash_bytes).collect(), receipt: r.receipt.into() });
        docs.push(DocPush {
            id,
            kind,
            have: have.iter().map(hash_bytes).collect(),
            changes,
            heads: heads.iter().map(hash_bytes).collect(),
            vouch,
            save: save.map(ByteBuf::from),
        });
    }
    Ok(SyncRequest { protocol: PROTOCOL_VERSION, client_time: now_ms, cursor: cursor(store)?, docs })
}

/// Applies the server's answer: its changes, the new server heads, refusals, the cursor and the
/// clock offset (from the request's send time and the answer's receive time, device clock).
/// Everything received is durable before the cursor moves, so a crash in between only means
/// receiving some changes twice, which is harmless.
pub fn absorb(
    store: &mut Store,
    req: &SyncRequest,
    resp: &SyncResponse,
    sent_ms: i64,
    received_ms: i64,
) -> Result<Absorbed, SyncError> {
    if resp.protocol != PROTOCOL_VERSION {
        return Err(SyncError::Protocol(format!(
            "server speaks protocol {}, this device {PROTOCOL_VERSION}",
            resp.protocol
        )));
    }
    let mut out = Absorbed {
        // Saturating: a server (or a proxy) answering a nonsense time must not make this panic.
        clock_offset_ms: resp.server_time.saturating_sub(sent_ms.midpoint(received_ms)),
        again: resp.more,
        ..Absorbed::default()
    };
    let mut rejected = rejections(store)?;
    let mut gap = false;

    for reply in &resp.docs {
        let Some(push) = req.docs.iter().find(|d| d.id == reply.id) else {
            return Err(SyncError::Protocol(format!("server answered for document {} that was not sent", reply.id)));
        };
        match &reply.outcome {
            Outcome::Accepted => {
                for chunk in &reply.data {
                    let applied = store.apply_remote(reply.id, push.kind.as_str(), chunk)?;
                    gap |= !applied.missing_deps.is_empty();
                }
                if !reply.data.is_empty() {
                    out.received.push(reply.id);
                }
                let heads = to_hashes(&reply.heads)?;
                store.set_server_heads(reply.id, &heads)?;
                if let Some(r) = &reply.receipt {
                    keep_receipt(store, reply.id, &heads, r)?;
                }
                rejected.remove(&reply.id);
                out.accepted.push(reply.id);
            }
            Outcome::ResendAll => {
                // The server lost changes it once had (restored from a backup): push everything.
                store.set_server_heads(reply.id, &[])?;
                out.again = true;
            }
            Outcome::Rejected { code, message } => {
                // A refusal of a document the server has still carries the server's side of it
                // (a lead's reply): take it, or it would wait for the refusal to be lifted.
                for chunk in &reply.data {
                    let applied = store.apply_remote(reply.id, push.kind.as_str(), chunk)?;
                    gap |= !applied.missing_deps.is_empty();
                }
                if !reply.data.is_empty() {
                    out.received.push(reply.id);
                }
                let heads = to_hashes(&reply.heads)?;
                if !heads.is_empty() && holds_all(store, reply.id, &heads)? {
                    // What is pending stays exactly the refused local changes.
                    store.set_server_heads(reply.id, &heads)?;
                    if let Some(r) = &reply.receipt {
                        keep_receipt(store, reply.id, &heads, r)?;
                    }
                }
                if code.retryable() {
                    // Not delivered, and not parked: it stays queued and goes out again.
                    rejected.remove(&reply.id);
                    out.retrying.push((reply.id, *code, message.clone()));
                } else {
                    let heads = store.doc(reply.id)?.get_heads().iter().map(ToString::to_string).collect();
                    rejected.insert(reply.id, Rejection { heads, code: *code, message: message.clone() });
                    out.rejected.push((reply.id, *code, message.clone()));
                }
            }
        }
    }

    for feed in &resp.feed {
        let mut received = Vec::new();
        for chunk in &feed.data {
            let applied = store.apply_remote(feed.id, feed.kind.as_str(), chunk)?;
            gap |= !applied.missing_deps.is_empty();
            received = applied.received_heads;
        }
        // No heads with one whole saved document: the server's heads are that document's.
        let heads = if feed.heads.is_empty() && feed.data.len() == 1 { received } else { to_hashes(&feed.heads)? };
        store.set_server_heads(feed.id, &heads)?;
        if let Some(r) = &feed.receipt {
            keep_receipt(store, feed.id, &heads, r)?;
        }
        out.received.push(feed.id);
    }

    store.meta_set(REJECTED_KEY, &serde_json::to_string(&rejected).unwrap_or_default())?;
    if resp.reset || gap {
        // The server does not know our cursor (restored from an older backup), or we missed
        // something: start the feed over and push everything it may have lost.
        store.meta_set(CURSOR_KEY, "null")?;
        for info in store.list_docs(None)? {
            store.set_server_heads(info.id, &[])?;
        }
        out.again = true;
    } else {
        store.meta_set(CURSOR_KEY, &serde_json::to_string(&resp.cursor).unwrap_or_default())?;
    }
    store.meta_set(OFFSET_KEY, &out.clock_offset_ms.to_string())?;
    store.meta_set(LAST_SYNCED_KEY, &received_ms.to_string())?;
    Ok(out)
}

/// Request bodies larger than this are sent gzip-compressed (`Content-Encoding: gzip`).
pub const GZIP_ABOVE_BYTES: usize = 1024;

/// `body` gzip-compressed (default level), if it is worth it: over [`GZIP_ABOVE_BYTES`] and
/// smaller compressed.
pub fn gzip_body(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    if body.len() <= GZIP_ABOVE_BYTES {
        return None;
    }
    let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 2), flate2::Compression::default());
    e.write_all(body).ok()?;
    e.finish().ok().filter(|gz| gz.len() < body.len())
}

/// Keeps the server's receipt for `heads` unless the receipt already kept vouches for changes
/// these heads do not cover: a server restored from an older backup hands out receipts for its
/// older state, and the newer receipt is what lets devices give it back what it lost.
fn keep_receipt(store: &mut Store, id: Uuid, heads: &[ChangeHash], receipt: &[u8]) -> Result<(), SyncError> {
    if let Some(old) = store.receipt(id)?.map(|r| r.heads) {
        let uncovered: std::collections::HashSet<ChangeHash> =
            store.doc(id)?.get_changes(heads).iter().map(|c| c.hash()).collect();
        if old.iter().any(|h| uncovered.contains(h)) {
            return Ok(());
        }
    }
    store.set_receipt(id, heads, receipt)?;
    Ok(())
}

/// Whether the local copy of `id` holds every change in `heads`.
fn holds_all(store: &mut Store, id: Uuid, heads: &[ChangeHash]) -> Result<bool, SyncError> {
    let doc = store.doc(id)?;
    Ok(heads.iter().all(|h| automerge::ReadDoc::get_change_by_hash(doc, h).is_some()))
}

/// Access to the store for the duration of one step, never across the network.
pub trait StoreAccess {
    fn with<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R;
}

impl StoreAccess for &Mutex<Store> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut self.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl StoreAccess for &mut Store {
    fn with<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(self)
    }
}

/// Syncs until the server has nothing more: pushes local changes, pulls the feed.
/// The store lock is never held across the network.
pub async fn sync_now(store: &Mutex<Store>, client: &ServerClient) -> Result<SyncReport, SyncError> {
    sync_with(store, client).await
}

/// [`sync_now`] for any way of reaching the store (a shared mutex, or a store owned by a
/// one-shot command).
pub async fn sync_with(mut store: impl StoreAccess, client: &ServerClient) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let mut resets = 0;
    for round in 1..=MAX_ROUNDS {
        let sent = crate::now_ms();
        let req = store.with(|s| prepare(s, sent))?;
        let resp = client.sync(&req).await?;
        let received = crate::now_ms();
        let absorbed = store.with(|s| absorb(s, &req, &resp, sent, received))?;
        report.rounds = round;
        report.pushed_docs += req.docs.len();
        report.received.extend(absorbed.received);
        report.rejected.extend(absorbed.rejected);
        // A document refused for now in one round and taken in a later one was delivered.
        report
            .retrying
            .retain(|(id, _, _)| !absorbed.accepted.contains(id) && !absorbed.retrying.iter().any(|r| r.0 == *id));
        report.retrying.extend(absorbed.retrying);
        report.clock_offset_ms = absorbed.clock_offset_ms;
        report.synced_at_ms = received;
        if resp.reset {
            resets += 1;
        }
        if !absorbed.again || resets > 2 {
            break;
        }
    }
    report.received.sort();
    report.received.dedup();
    Ok(report)
}
