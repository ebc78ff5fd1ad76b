//! The native sync driver: the core's decisions (`kith_core::sync`: build a request from the
//! device's documents, absorb the server's answer, the feed cursor and the clock offset) over the
//! SQLite store, the HTTP side ([`client`], reqwest), the live channel ([`live`], server-sent
//! events) and (in [`runner`]) background sync after local changes, on live pokes, periodically,
//! with backoff on failure, whose delays the core's `schedule` decides.
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
/// The HTTP method of [`ServerClient::request`].
pub use reqwest::Method;
pub use runner::{SyncHandle, SyncStatus};

/// Milliseconds since the Unix epoch on this device's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
