//! The Kith client sync engine: builds sync requests from the local store, applies the server's
//! answers, keeps the feed cursor and the clock offset, and (in [`runner`]) syncs in the
//! background after local changes, on live pokes, periodically, with backoff on failure.
//!
//! The exchange logic in [`engine`] takes the store and a response and returns what happened, with
//! no network and no clock of its own, so it is tested deterministically; [`client`] is the HTTP
//! side (reqwest) and [`live`] the live channel (server-sent events).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod client;
pub mod engine;
pub mod error;
pub mod live;
pub mod reminders;
pub mod runner;

pub use client::ServerClient;
pub use engine::{Absorbed, StoreAccess, SyncReport, absorb, prepare, sync_now, sync_with};
pub use error::SyncError;
pub use reminders::{LocalReminder, next_reminder, reminders};
pub use runner::{SyncHandle, SyncStatus};

/// Milliseconds since the Unix epoch on this device's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
