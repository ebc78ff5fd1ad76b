//! One sync exchange over the native store: the decisions are the core's
//! ([`kith_core::sync::prepare`], [`kith_core::sync::absorb`]) with `kith_store::Store` as the
//! repository; [`sync_now`] joins them over HTTP (reqwest) and repeats while the server has more.

use std::collections::BTreeMap;
use std::sync::Mutex;

use kith_core::sync::SyncFault;
use kith_proto::{Cursor, SyncRequest, SyncResponse};
use kith_store::{Store, StoreError};
use uuid::Uuid;

use crate::client::ServerClient;
use crate::error::SyncError;

pub use kith_core::sync::{Absorbed, MAX_DOCS_PER_REQUEST, MAX_ROUNDS, Rejection, SyncReport};

impl From<SyncFault<StoreError>> for SyncError {
    fn from(e: SyncFault<StoreError>) -> Self {
        match e {
            SyncFault::Protocol(m) => SyncError::Protocol(m),
            SyncFault::Repo(s) => SyncError::Store(s),
        }
    }
}

/// The feed cursor this device last applied.
pub fn cursor(store: &Store) -> Result<Option<Cursor>, SyncError> {
    Ok(kith_core::sync::cursor(store)?)
}

/// When this device last completed a sync (its own clock, ms), if ever.
pub fn last_synced_ms(store: &Store) -> Result<Option<i64>, SyncError> {
    Ok(kith_core::sync::last_synced_ms(store)?)
}

/// The last measured offset of the server's clock from this device's (server minus device, ms).
pub fn clock_offset_ms(store: &Store) -> Result<Option<i64>, SyncError> {
    Ok(kith_core::sync::clock_offset_ms(store)?)
}

/// Documents the server refused, and why.
pub fn rejected_docs(store: &Store) -> Result<BTreeMap<Uuid, Rejection>, SyncError> {
    Ok(kith_core::sync::rejected_docs(store)?)
}

/// Local changes the server does not have yet, over all documents.
pub fn pending_change_count(store: &mut Store) -> Result<usize, SyncError> {
    Ok(kith_core::sync::pending_change_count(store)?)
}

/// Builds the next request (the core's [`kith_core::sync::prepare`] over this store).
pub fn prepare(store: &mut Store, now_ms: i64) -> Result<SyncRequest, SyncError> {
    Ok(kith_core::sync::prepare(store, now_ms)?)
}

/// Applies the server's answer (the core's [`kith_core::sync::absorb`] over this store), in one
/// SQLite transaction ([`Store::atomically`]): one commit per answer, and a crash keeps all of it
/// or none of it (then the same answer comes again).
pub fn absorb(
    store: &mut Store,
    req: &SyncRequest,
    resp: &SyncResponse,
    sent_ms: i64,
    received_ms: i64,
) -> Result<Absorbed, SyncError> {
    Ok(kith_core::sync::absorb(store, req, resp, sent_ms, received_ms)?)
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
    loop {
        let sent = crate::now_ms();
        let req = store.with(|s| prepare(s, sent))?;
        let resp = client.sync(&req).await?;
        let received = crate::now_ms();
        let absorbed = store.with(|s| absorb(s, &req, &resp, sent, received))?;
        let again = absorbed.again;
        report.add_round(&req, absorbed, received);
        if !report.go_again(again) {
            break;
        }
    }
    Ok(report)
}
