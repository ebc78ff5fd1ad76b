//! The Kith app: a thin Tauri 2 shell over [`kith_client::Client`] (store, background sync,
//! operations), which the UI in `ui/` drives through the commands in [`commands`] and hears from
//! through events (`kith://sync`, `kith://presence`, `kith://changed`, `kith://alert`,
//! `kith://kudos`, `kith://join-link`).
//!
//! The shell adds what only an app can do: it keeps syncing with the window hidden (closing the
//! window hides it to a tray icon whose menu shows on shift / due soon / overdue / offline), it
//! reminds the worker before a check-in or the planned end is due with a notification fired by a
//! timer in this process (so reminders work offline), it notifies on live alerts and waves, and it
//! opens `kith://join?...` links.
//!
//! Environment: `KITH_DATA_DIR` overrides the data directory (default: the platform's app data
//! directory); `KITH_JOIN_LINK` (a `kith://join?...` link) joins on first start, with `KITH_NAME`
//! as the name, or else pre-fills the join screen.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod commands;
mod desktop;
pub mod notify;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kith_api::{ChangedEvent, events};
use kith_client::{Client, ClientEvent, JoinInput};
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::Notify;

pub use commands::PendingJoinLink;

/// Overrides where the app keeps its data (the end-to-end tests and the demo use it).
pub const DATA_DIR_ENV: &str = "KITH_DATA_DIR";
/// A `kith://join?...` link to join on first start (the demo uses it).
pub const JOIN_LINK_ENV: &str = "KITH_JOIN_LINK";
/// The name to join with when `KITH_JOIN_LINK` is set; without it the join screen is pre-filled.
pub const NAME_ENV: &str = "KITH_NAME";

/// How long the first start waits to join with `KITH_JOIN_LINK` before showing the join screen.
const ENV_JOIN_WAIT: Duration = Duration::from_secs(15);

/// Wakes the reminder timer and the tray after anything that may move a deadline.
#[derive(Debug, Default)]
pub struct Reschedule(pub Notify);

/// Where this app keeps its data: `KITH_DATA_DIR`, else the platform's app data directory.
fn data_dir<R: Runtime>(app: &AppHandle<R>) -> Result<PathBuf, String> {
    match std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        Some(d) => Ok(PathBuf::from(d)),
        None => app.path().app_data_dir().map_err(|e| {
            format!("could not find a folder to keep Kith's data in ({e}); set {DATA_DIR_ENV} to a writable folder")
        }),
    }
}

/// Registers the commands and state every build of the app has (the tests use it too, with
/// Tauri's mock runtime).
pub fn with_client<R: Runtime>(builder: tauri::Builder<R>, client: Client) -> tauri::Builder<R> {
    builder
        .manage(client)
        .manage(PendingJoinLink::default())
        .manage(Arc::new(Reschedule::default()))
        .invoke_handler(commands::handler())
}

/// Passes the client's events on to the UI, and wakes the reminder timer and the tray on every
/// change. Runs until the client's events end.
pub fn forward_events<R: Runtime>(app: AppHandle<R>, client: &Client) {
    let mut rx = client.subscribe();
    let reschedule = app.state::<Arc<Reschedule>>().inner().clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let ev = match rx.recv().await {
                Ok(ev) => ev,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Missed some: the UI refreshes everything.
                    ClientEvent::Changed(ChangedEvent { docs: Vec::new(), all: true })
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let sent = match &ev {
                ClientEvent::Sync(s) => app.emit(events::SYNC, s),
                ClientEvent::Presence(p) => app.emit(events::PRESENCE, p),
                ClientEvent::Changed(c) => app.emit(events::CHANGED, c),
                ClientEvent::Alert(a) => app.emit(events::ALERT, a),
                ClientEvent::Kudos(k) => app.emit(events::KUDOS, k),
            };
            if let Err(e) = sent {
                tracing::warn!("could not pass an event to the UI: {e}");
            }
            match &ev {
                ClientEvent::Sync(_) | ClientEvent::Changed(_) => reschedule.0.notify_one(),
                ClientEvent::Alert(a) => notify::alert(&app, a),
                ClientEvent::Kudos(k) => notify::kudos(&app, k),
                ClientEvent::Presence(_) => {}
            }
        }
    });
}

/// Handles a `kith://` link the app was opened with: remembered until joined, passed to the UI,
/// and the window shown so the worker sees the join screen.
pub fn open_link<R: Runtime>(app: &AppHandle<R>, link: &str) {
    if !link.starts_with("kith://join") {
        tracing::warn!("ignoring a link Kith does not handle: {link}");
        return;
    }
    app.state::<PendingJoinLink>().set(Some(link.to_string()));
    if let Err(e) = app.emit(events::JOIN_LINK, link) {
        tracing::warn!("could not pass the join link to the UI: {e}");
    }
    desktop::show_main_window(app);
}

/// First start with `KITH_JOIN_LINK`: join with `KITH_NAME` (bounded wait, so a dead server
/// never keeps the window from opening), else leave the link for the join screen.
fn join_from_env<R: Runtime>(app: &AppHandle<R>, client: &Client) {
    let Some(link) = std::env::var(JOIN_LINK_ENV).ok().filter(|l| !l.trim().is_empty()) else { return };
    let joined = tauri::async_runtime::block_on(client.state()).is_ok_and(|s| s.joined);
    if joined {
        return;
    }
    app.state::<PendingJoinLink>().set(Some(link.clone()));
    let Some(name) = std::env::var(NAME_ENV).ok().filter(|n| !n.trim().is_empty()) else { return };
    let input = JoinInput { server: None, code: None, link: Some(link), name };
    // The timer is made inside the runtime (block_on's future), where tokio's time driver is.
    match tauri::async_runtime::block_on(async { tokio::time::timeout(ENV_JOIN_WAIT, client.join(input)).await }) {
        Ok(Ok(_)) => app.state::<PendingJoinLink>().set(None),
        Ok(Err(e)) => tracing::warn!("could not join with {JOIN_LINK_ENV}: {e}"),
        Err(_) => tracing::warn!("joining with {JOIN_LINK_ENV} took too long; the join screen has the link"),
    }
}

fn setup<R: Runtime>(app: &mut tauri::App<R>) -> Result<(), Box<dyn std::error::Error>> {
    let handle = app.handle().clone();
    let dir = data_dir(&handle)?;
    let client = tauri::async_runtime::block_on(Client::open(&dir))?;
    app.manage(client.clone());
    forward_events(handle.clone(), &client);
    join_from_env(&handle, &client);
    desktop::setup_deep_links(&handle);
    desktop::setup_tray(&handle)?;
    desktop::spawn_reminders(handle.clone(), client);
    Ok(())
}

/// Runs the app (desktop `main`, and the mobile entry point).
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    init_logging();
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .manage(PendingJoinLink::default())
        .manage(Arc::new(Reschedule::default()))
        .invoke_handler(commands::handler())
        .on_window_event(desktop::on_window_event)
        .setup(|app| setup(app));
    if let Err(e) = builder.run(tauri::generate_context!()) {
        eprintln!("Kith could not start: {e}");
        std::process::exit(1);
    }
}

/// Logs to stderr, `RUST_LOG` deciding how much (warnings by default).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
