//! The Kith team server: batched sync of Automerge shift and team documents over HTTP (axum),
//! device credentials, per-change authorisation, a live channel (SSE) with presence, the team
//! board, and the deadline engine ([`alerts`]): alerts that climb an escalation chain on the
//! server clock ([`clock`]), pushed live and to webhooks ([`webhooks`]). Storage sits behind
//! [`storage::Storage`] (SQLite by default, or PostgreSQL).
//!
//! Documents have their own service ([`docs`]); the sync service ([`sync`]) stores what devices
//! push, with the receipts of every value ([`receipts`]) in the same transaction; the deadline
//! engine and the live channel follow the stored changes, never the requests (docs/architecture.md).
//!
//! The browser dashboard is served from the built UI ([`ui`]), with its JSON API in [`views`].
//!
//! Start one with [`serve`] (what the `kith-server` binary does), or in tests with
//! `testing::TestServer` (cargo feature `testing`). The sync protocol is described in docs/protocol.md.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
pub mod alerts;
pub mod auth;
pub mod clock;
pub mod coherence;
pub mod config;
pub mod conn;
pub mod console;
pub mod cursor;
pub mod docs;
pub mod error;
pub mod heavy;
pub mod http;
pub mod live;
pub mod presence;
pub mod receipts;
pub mod status;
pub mod storage;
pub mod sync;
pub mod table;
#[cfg(feature = "testing")]
pub mod testing;
pub mod ui;
pub mod views;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;

pub use config::Config;
pub use error::{ApiErr, ServerError};
pub use http::{App, router, run};
pub use storage::Storage;
pub use storage::sqlite::SqliteStorage;

/// The server clock: milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Opens the storage the configuration names: PostgreSQL for a `database_url`, else the SQLite
/// file in the data directory.
pub async fn open_storage(config: &Config) -> Result<Arc<dyn Storage>, ServerError> {
    Ok(storage::open(config).await?)
}

/// Binds `config.listen` and serves until `shutdown` resolves.
pub async fn serve(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
    let storage = open_storage(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, db = %config.database_label(), "kith-server listening");
    let app = App::new(config, storage).await?;
    run(app, listener, shutdown).await
}
