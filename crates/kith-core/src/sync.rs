//! One sync exchange, decided without a network or a clock: [`prepare`] builds the request from
//! the device's documents, [`absorb`] applies the server's answer to them. Drivers send the
//! request (reqwest natively, fetch in the browser) and pass the answer back, with the device
//! times at which they sent it and received the answer.

use std::collections::{BTreeMap, HashSet};

use automerge::{ChangeHash, ReadDoc};
use kith_proto::{Cursor, DocPush, Kind, Outcome, PROTOCOL_VERSION, RejectCode, SyncRequest, SyncResponse, Vouch};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use crate::repo::Repo;

pub const CURSOR_KEY: &str = "sync.cursor";
pub const OFFSET_KEY: &str = "sync.clock_offset_ms";
pub const LAST_SYNCED_KEY: &str = "sync.last_synced_ms";
pub const REJECTED_KEY: &str = "sync.rejected";

/// At most this many documents are pushed in one request; the rest go in the next round.
pub const MAX_DOCS_PER_REQUEST: usize = 200;
/// A safety bound on rounds in one sync (each round makes progress or stops).
pub const MAX_ROUNDS: usize = 64;

/// Why an exchange could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SyncFault<E> {
    /// The server answered something this version cannot read.
    #[error("{0}")]
    Protocol(String),
    /// The device's documents refused or failed.
    #[error(transparent)]
    Repo(E),
}

type Res<T, E> = Result<T, SyncFault<E>>;

impl<E> From<E> for SyncFault<E> {
    fn from(e: E) -> Self {
        SyncFault::Repo(e)
    }
}

fn repo<E>(e: E) -> SyncFault<E> {
    SyncFault::Repo(e)
}

/// A document the server refused for good (a permanent [`RejectCode`]), remembered with the heads
/// it had then so the same changes are not pushed again and again; a new local change makes it
/// eligible again. A retryable refusal ([`RejectCode::retryable`], e.g. `Busy`: the server's
/// storage is full or failing) is never parked: the document stays queued and is pushed again
/// at the next sync, which the driver schedules with backoff ([`crate::schedule`]).
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
    /// The server reset us (it does not know our cursor): counted to stop after a few.
    pub reset: bool,
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

/// What a whole sync (one or more exchanges) did.
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
    /// How many rounds the server answered with a reset.
    pub resets: usize,
}

impl SyncReport {
    /// Adds one round: `req` was sent, `absorbed` is what its answer did, received at `at_ms`.
    pub fn add_round(&mut self, req: &SyncRequest, absorbed: Absorbed, at_ms: i64) {
        self.rounds += 1;
        self.pushed_docs += req.docs.len();
        self.received.extend(absorbed.received);
        self.received.sort();
        self.received.dedup();
        self.rejected.extend(absorbed.rejected);
        // A document refused for now in one round and taken in a later one was delivered.
        self.retrying
            .retain(|(id, _, _)| !absorbed.accepted.contains(id) && !absorbed.retrying.iter().any(|r| r.0 == *id));
        self.retrying.extend(absorbed.retrying);
        self.clock_offset_ms = absorbed.clock_offset_ms;
        self.synced_at_ms = at_ms;
        if absorbed.reset {
            self.resets += 1;
        }
    }

    /// Whether another round should follow one that answered `again`: at most [`MAX_ROUNDS`],
    /// and no more than two resets (a server that keeps resetting is not helped by a third).
    pub fn go_again(&self, again: bool) -> bool {
        again && self.resets <= 2 && self.rounds < MAX_ROUNDS
    }

    /// Why documents are still queued although the server answered, if any were refused for
    /// now: "the team server could not store 1 document now: <its message>".
    pub fn retrying_text(&self) -> Option<String> {
        retrying_text(&self.retrying)
    }
}

/// "the team server could not store N documents now: <the first message>", if any.
pub fn retrying_text(retrying: &[(Uuid, RejectCode, String)]) -> Option<String> {
    let (_, _, message) = retrying.first()?;
    let n = retrying.len();
    Some(format!(
        "the team server could not store {n} document{} now: {}",
        if n == 1 { "" } else { "s" },
        message.trim().trim_end_matches('.')
    ))
}

fn hash_bytes(h: &ChangeHash) -> ByteBuf {
    ByteBuf::from(h.0.to_vec())
}

fn to_hashes<E>(v: &[ByteBuf]) -> Res<Vec<ChangeHash>, E> {
    v.iter()
        .map(|b| ChangeHash::try_from(b.as_slice()).map_err(|_| SyncFault::Protocol("a head is not 32 bytes".into())))
        .collect()
}

fn kind_of<E>(s: &str) -> Res<Kind, E> {
    Kind::parse(s).ok_or_else(|| SyncFault::Protocol(format!("unknown document kind '{s}' on this device")))
}

/// Documents the server refused, and why.
pub fn rejected_docs<R: Repo>(repo: &R) -> Result<BTreeMap<Uuid, Rejection>, R::Error> {
    Ok(repo.meta_get(REJECTED_KEY)?.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default())
}

/// The feed cursor this device last applied.
pub fn cursor<R: Repo>(repo: &R) -> Result<Option<Cursor>, R::Error> {
    Ok(repo.meta_get(CURSOR_KEY)?.and_then(|s| serde_json::from_str(&s).ok()))
}

/// When this device last completed a sync (its own clock, ms), if ever.
pub fn last_synced_ms<R: Repo>(repo: &R) -> Result<Option<i64>, R::Error> {
    Ok(repo.meta_get(LAST_SYNCED_KEY)?.and_then(|s| s.parse().ok()))
}

/// The last measured offset of the server's clock from this device's (server minus device, ms).
pub fn clock_offset_ms<R: Repo>(repo: &R) -> Result<Option<i64>, R::Error> {
    Ok(repo.meta_get(OFFSET_KEY)?.and_then(|s| s.parse().ok()))
}

/// Local changes the server does not have yet, over all documents.
pub fn pending_change_count<R: Repo>(repo: &mut R) -> Result<usize, R::Error> {
    let mut n = 0;
    for id in repo.docs_with_pending_changes()? {
        n += repo.pending_count(id)?;
    }
    Ok(n)
}

/// Builds the next request: every document with changes the server lacks (up to
/// [`MAX_DOCS_PER_REQUEST`]), except those refused for good at their current heads and those in
/// `skip` (the browser's driver skips documents whose last change is not durable yet), plus the
/// feed cursor. A document refused with a retryable code is always pushed again (stores written
/// before retryable refusals were retried may still hold one parked: it is ignored).
pub fn prepare<R: Repo>(repo: &mut R, now_ms: i64) -> Res<SyncRequest, R::Error> {
    prepare_skipping(repo, now_ms, &HashSet::new())
}

/// [`prepare`], leaving out the documents in `skip`.
pub fn prepare_skipping<R: Repo>(repo: &mut R, now_ms: i64, skip: &HashSet<Uuid>) -> Res<SyncRequest, R::Error> {
    let rejected = rejected_docs(repo).map_err(repo_fault)?;
    let mut docs = Vec::new();
    for id in repo.docs_with_pending_changes().map_err(repo_fault)? {
        if docs.len() >= MAX_DOCS_PER_REQUEST {
            break;
        }
        if skip.contains(&id) {
            continue;
        }
        let heads = repo.doc(id).map_err(repo_fault)?.get_heads();
        if let Some(r) = rejected.get(&id)
            && !r.code.retryable()
            && r.heads == heads.iter().map(ToString::to_string).collect::<Vec<_>>()
        {
            continue;
        }
        let kind = kind_of(&repo.doc_kind(id).map_err(repo_fault)?)?;
        let have = repo.server_heads(id).map_err(repo_fault)?;
        // A document the server has not seen goes as one compact save() (it takes every change
        // in it as if sent one by one); otherwise, or if that is too big, as its changes.
        let save = if have.is_empty() {
            Some(repo.doc(id).map_err(repo_fault)?.save()).filter(|s| s.len() <= kith_proto::MAX_SAVE_BYTES)
        } else {
            None
        };
        let changes = match save {
            Some(_) => Vec::new(),
            None => repo
                .pending_changes(id)
                .map_err(repo_fault)?
                .iter()
                .map(|c| ByteBuf::from(c.raw_bytes().to_vec()))
                .collect(),
        };
        let vouch = repo
            .receipt(id)
            .map_err(repo_fault)?
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
    Ok(SyncRequest { protocol: PROTOCOL_VERSION, client_time: now_ms, cursor: cursor(repo).map_err(repo_fault)?, docs })
}

fn repo_fault<E>(e: E) -> SyncFault<E> {
    repo(e)
}

/// Applies the server's answer: its changes, the new server heads, refusals, the cursor and the
/// clock offset (from the request's send time and the answer's receive time, device clock).
/// All of it is one [`Repo::atomically_refetchable`] unit (natively one SQLite commit that does
/// not wait for the disk, in the browser one storage transaction): the answer is applied whole or
/// not at all, and the lead's device pays no fsync for it (what it holds is the server's, fetched
/// again if a power loss takes it).
pub fn absorb<R: Repo>(
    repo: &mut R,
    req: &SyncRequest,
    resp: &SyncResponse,
    sent_ms: i64,
    received_ms: i64,
) -> Res<Absorbed, R::Error> {
    // Everything an answer brings is the server's and can be fetched again: committed without
    // waiting for the disk (the device's own writes still wait).
    repo.atomically_refetchable(|repo| absorb_whole(repo, req, resp, sent_ms, received_ms))
}

fn absorb_whole<R: Repo>(
    repo: &mut R,
    req: &SyncRequest,
    resp: &SyncResponse,
    sent_ms: i64,
    received_ms: i64,
) -> Res<Absorbed, R::Error> {
    if resp.protocol != PROTOCOL_VERSION {
        return Err(SyncFault::Protocol(format!(
            "server speaks protocol {}, this device {PROTOCOL_VERSION}",
            resp.protocol
        )));
    }
    let mut out = Absorbed {
        // Saturating: a server (or a proxy) answering a nonsense time must not make this panic.
        clock_offset_ms: resp.server_time.saturating_sub(sent_ms.midpoint(received_ms)),
        again: resp.more,
        reset: resp.reset,
        ..Absorbed::default()
    };
    let mut rejected = rejected_docs(repo).map_err(repo_fault)?;
    let mut gap = false;

    for reply in &resp.docs {
        let Some(push) = req.docs.iter().find(|d| d.id == reply.id) else {
            return Err(SyncFault::Protocol(format!("server answered for document {} that was not sent", reply.id)));
        };
        match &reply.outcome {
            Outcome::Accepted => {
                for chunk in &reply.data {
                    let applied = repo.apply_remote(reply.id, push.kind.as_str(), chunk).map_err(repo_fault)?;
                    gap |= !applied.missing_deps.is_empty();
                }
                if !reply.data.is_empty() {
                    out.received.push(reply.id);
                }
                let heads = to_hashes(&reply.heads)?;
                repo.set_server_heads(reply.id, &heads).map_err(repo_fault)?;
                if let Some(r) = &reply.receipt {
                    keep_receipt(repo, reply.id, &heads, r).map_err(repo_fault)?;
                }
                rejected.remove(&reply.id);
                out.accepted.push(reply.id);
            }
            Outcome::ResendAll => {
                // The server lost changes it once had (restored from a backup): push everything.
                repo.set_server_heads(reply.id, &[]).map_err(repo_fault)?;
                out.again = true;
            }
            Outcome::Rejected { code, message } => {
                // A refusal of a document the server has still carries the server's side of it
                // (a lead's reply): take it, or it would wait for the refusal to be lifted.
                for chunk in &reply.data {
                    let applied = repo.apply_remote(reply.id, push.kind.as_str(), chunk).map_err(repo_fault)?;
                    gap |= !applied.missing_deps.is_empty();
                }
                if !reply.data.is_empty() {
                    out.received.push(reply.id);
                }
                let heads = to_hashes(&reply.heads)?;
                if !heads.is_empty() && holds_all(repo, reply.id, &heads).map_err(repo_fault)? {
                    // What is pending stays exactly the refused local changes.
                    repo.set_server_heads(reply.id, &heads).map_err(repo_fault)?;
                    if let Some(r) = &reply.receipt {
                        keep_receipt(repo, reply.id, &heads, r).map_err(repo_fault)?;
                    }
                }
                if code.retryable() {
                    // Not delivered, and not parked: it stays queued and goes out again.
                    rejected.remove(&reply.id);
                    out.retrying.push((reply.id, *code, message.clone()));
                } else {
                    let heads =
                        repo.doc(reply.id).map_err(repo_fault)?.get_heads().iter().map(ToString::to_string).collect();
                    rejected.insert(reply.id, Rejection { heads, code: *code, message: message.clone() });
                    out.rejected.push((reply.id, *code, message.clone()));
                }
            }
        }
    }

    for feed in &resp.feed {
        let mut received = Vec::new();
        for chunk in &feed.data {
            let applied = repo.apply_remote(feed.id, feed.kind.as_str(), chunk).map_err(repo_fault)?;
            gap |= !applied.missing_deps.is_empty();
            received = applied.received_heads;
        }
        // No heads with one whole saved document: the server's heads are that document's.
        let heads = if feed.heads.is_empty() && feed.data.len() == 1 { received } else { to_hashes(&feed.heads)? };
        repo.set_server_heads(feed.id, &heads).map_err(repo_fault)?;
        if let Some(r) = &feed.receipt {
            keep_receipt(repo, feed.id, &heads, r).map_err(repo_fault)?;
        }
        out.received.push(feed.id);
    }

    repo.meta_set(REJECTED_KEY, &serde_json::to_string(&rejected).unwrap_or_default()).map_err(repo_fault)?;
    if resp.reset || gap {
        // The server does not know our cursor (restored from an older backup), or we missed
        // something: start the feed over and push everything it may have lost.
        repo.meta_set(CURSOR_KEY, "null").map_err(repo_fault)?;
        for info in repo.list_docs(None).map_err(repo_fault)? {
            repo.set_server_heads(info.id, &[]).map_err(repo_fault)?;
        }
        out.again = true;
    } else {
        repo.meta_set(CURSOR_KEY, &serde_json::to_string(&resp.cursor).unwrap_or_default()).map_err(repo_fault)?;
    }
    repo.meta_set(OFFSET_KEY, &out.clock_offset_ms.to_string()).map_err(repo_fault)?;
    repo.meta_set(LAST_SYNCED_KEY, &received_ms.to_string()).map_err(repo_fault)?;
    Ok(out)
}

/// Keeps the server's receipt for `heads` unless the receipt already kept vouches for changes
/// these heads do not cover: a server restored from an older backup hands out receipts for its
/// older state, and the newer receipt is what lets devices give it back what it lost.
fn keep_receipt<R: Repo>(repo: &mut R, id: Uuid, heads: &[ChangeHash], receipt: &[u8]) -> Result<(), R::Error> {
    if let Some(old) = repo.receipt(id)?.map(|r| r.heads) {
        let uncovered: HashSet<ChangeHash> = repo.doc(id)?.get_changes(heads).iter().map(|c| c.hash()).collect();
        if old.iter().any(|h| uncovered.contains(h)) {
            return Ok(());
        }
    }
    repo.set_receipt(id, heads, receipt)
}

/// Whether the local copy of `id` holds every change in `heads`.
fn holds_all<R: Repo>(repo: &mut R, id: Uuid, heads: &[ChangeHash]) -> Result<bool, R::Error> {
    let doc = repo.doc(id)?;
    Ok(heads.iter().all(|h| doc.get_change_by_hash(h).is_some()))
}
