//! The network side of the client: joining a team, syncing, the team board, and the honest
//! "shared / not yet shared" line after every change. Sync itself is the kith-sync engine.

use std::time::Duration;

use kith_domain::Timestamp;
use kith_sync::{SyncError, SyncReport};
use uuid::Uuid;

use crate::error::CliError;
use crate::session::Session;

/// How long a command waits for the server after a change before saying "not yet shared".
pub const SHARE_TIMEOUT: Duration = Duration::from_secs(5);

pub use kith_client::profile::{SERVER_KEY, ServerLink};

/// Reads the server link, if this device has joined a team.
pub fn server_link(s: &Session) -> Result<Option<ServerLink>, CliError> {
    Ok(kith_client::profile::read_link(&s.store)?)
}

/// Runs a future on a small runtime of its own (the CLI is otherwise synchronous).
pub fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Data(format!("could not start the network runtime: {e}")))?;
    Ok(rt.block_on(f))
}

pub fn sync_err(e: SyncError) -> CliError {
    match e {
        SyncError::Store(s) => CliError::Store(s),
        SyncError::BadServerAddress(_) | SyncError::PlainHttp(_) => CliError::Usage(e.to_string()),
        SyncError::NotJoined => CliError::State(e.to_string()),
        SyncError::Unauthorized { .. } if e.device_unknown() => CliError::Remote(format!(
            "{e} (Nothing on this device is lost. With a new invite from your lead, run kith join <server> <invite \
             code> with this same data directory: it re-joins as the same member and sends its shifts and check-ins.)"
        )),
        SyncError::Unauthorized { .. } => CliError::Remote(format!(
            "{e} (The check-ins on this device stay here. The server binds this device's identity to the old \
             credential, so join again from a fresh data directory: kith --data-dir <new dir> join <server> <invite \
             code>.)"
        )),
        other if other.retryable() => CliError::Offline(other.to_string()),
        other => CliError::Remote(other.to_string()),
    }
}

/// Syncs now, waiting at most `timeout`.
pub fn sync(s: &mut Session, link: &ServerLink, timeout: Duration) -> Result<SyncReport, CliError> {
    let client = link.client()?;
    let server = link.url.clone();
    let store = &mut s.store;
    block_on(async move {
        match tokio::time::timeout(timeout, kith_sync::sync_with(store, &client)).await {
            Ok(r) => r.map_err(sync_err),
            Err(_) => Err(sync_err(SyncError::Timeout { server })),
        }
    })?
}

/// Whether the change just saved reached the team server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// No server: this device works alone.
    NoServer,
    /// The server has it.
    Shared { at: Timestamp },
    /// Saved here, queued for the server; why it did not go now.
    Queued { why: String },
    /// The server refused it (a per-document rejection, or this device's access was revoked);
    /// the message says why.
    Refused { why: String },
}

impl Sharing {
    pub fn shared(&self) -> bool {
        matches!(self, Sharing::Shared { .. })
    }

    /// The line to print after "Saved on this device at HH:MM."
    pub fn line(&self, clock: impl Fn(Timestamp) -> String) -> String {
        match self {
            Sharing::NoServer => {
                "Not yet shared with your team: this device has not joined a team server (kith join).".into()
            }
            Sharing::Shared { at } => format!("Shared with your team at {}.", clock(*at)),
            Sharing::Queued { why } => format!(
                "Not yet shared with your team: {why}. It is queued on this device and goes out with the next sync \
                 (kith sync)."
            ),
            Sharing::Refused { why } => {
                let end = if why.ends_with(['.', ')']) { "" } else { "." };
                format!("Not shared with your team: {why}{end}")
            }
        }
    }

    pub fn json(&self) -> serde_json::Value {
        match self {
            Sharing::NoServer => serde_json::json!({"shared": false, "queued": true, "reason": "no_server"}),
            Sharing::Shared { at } => serde_json::json!({"shared": true, "at": crate::clock::rfc3339(*at)}),
            Sharing::Queued { why } => serde_json::json!({"shared": false, "queued": true, "reason": why}),
            Sharing::Refused { why } => serde_json::json!({"shared": false, "queued": false, "reason": why}),
        }
    }
}

/// After a local change to document `doc`: try to get it to the server now, briefly; never fails
/// the command (the change is already durable on this device). Shared only once the server holds
/// every change of `doc` made here.
pub fn share(s: &mut Session, doc: Uuid, now: Timestamp) -> Sharing {
    let link = match server_link(s) {
        Ok(Some(l)) => l,
        Ok(None) => return Sharing::NoServer,
        Err(e) => return Sharing::Queued { why: e.to_string() },
    };
    let report = match sync(s, &link, SHARE_TIMEOUT) {
        Ok(report) => report,
        Err(CliError::Offline(why)) => return Sharing::Queued { why: short(&why) },
        // Revoked, another refusal, an unusable address: waiting will not help, so do not
        // promise the next sync.
        Err(CliError::Remote(why) | CliError::Usage(why)) => return Sharing::Refused { why },
        Err(e) => return Sharing::Queued { why: short(&e.to_string()) },
    };
    if let Some((_, _, m)) = report.rejected.iter().find(|(id, _, _)| *id == doc) {
        return Sharing::Refused { why: format!("the team server refused it: {m}") };
    }
    if report.retrying.iter().any(|(id, _, _)| *id == doc) {
        // Refused for now (the server's storage is full or failing): still queued, and the
        // next sync sends it again.
        let why = match report.retrying.iter().find(|r| r.0 == doc) {
            Some((_, _, m)) => format!("the team server could not store it now ({})", m.trim().trim_end_matches('.')),
            None => String::new(),
        };
        return Sharing::Queued { why };
    }
    match s.store.pending_changes(doc) {
        Ok(p) if p.is_empty() => Sharing::Shared { at: now },
        Ok(_) => Sharing::Queued { why: "it has not reached the team server yet".into() },
        Err(e) => Sharing::Queued { why: e.to_string() },
    }
}

pub fn short(why: &str) -> String {
    // The engine's offline message already says the data is safe; keep the reason only.
    why.split(". Your check-ins").next().unwrap_or(why).to_string()
}
