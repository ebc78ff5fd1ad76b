//! The typed core of the Kith app: one device's profile, store and background sync, and the
//! operations the app's commands call, each returning the `kith-api` view the UI shows.
//!
//! Every write goes to the local store first (durable before the call returns), then pokes the
//! background sync; [`kith_api::WriteResult::shared`] says honestly whether the server already has
//! it (the client waits briefly, never failing the write). Reads come from the local documents, so
//! the app works offline; the team board comes from the server when it answers, else from the
//! local documents with when they last synced. [`Client::subscribe`] delivers what the UI must
//! refresh on ([`ClientEvent`]).
//!
//! The store-only operations shared with the `kith` command line are in [`local`].

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod credential;
pub mod error;
pub mod input;
pub mod local;
pub mod profile;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use kith_api::{
    AlertEvent, AlertList, AlertView, AppState, AssignRequest, BoardResponse, BoardSource, ChangedEvent, DeviceList,
    HealthResponse, InviteRequest, InviteResponse, Kudos, KudosRequest, PresenceView, ReminderView, ResolveRequest,
    ShiftView, SyncState, TeamView, WriteResult,
};
use kith_domain::{CheckInStatus, MemberId, Shift, Timestamp};
use kith_proto::JoinRequest;
use kith_store::Store;
use kith_sync::Method;
use kith_sync::live::LiveEvent;
use kith_sync::runner::RunnerOptions;
use kith_sync::{ServerClient, SyncHandle, SyncStatus};
use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

pub use error::{ClientError, OpError};
pub use input::*;
pub use profile::{Profile, ServerLink};

/// The current time, as the client sees it.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// How the client behaves; the defaults are the app's.
#[derive(Clone)]
pub struct ClientOptions {
    /// Timing of the background sync.
    pub runner: RunnerOptions,
    /// How long a write waits for the server before answering `shared: false`.
    pub share_wait: Duration,
    /// How long `join` and `sync_now` wait for a sync to finish.
    pub sync_wait: Duration,
    /// How long the board waits for the server before showing the local board.
    pub board_wait: Duration,
    /// This device's name for the server's device list (default: from the host name).
    pub device_label: Option<String>,
    /// The clock (the system clock by default; tests may fix it).
    pub clock: Clock,
    /// Where a new credential is kept (default: [`credential::Keep::from_env`]).
    pub keep: credential::Keep,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            runner: RunnerOptions::default(),
            share_wait: Duration::from_secs(2),
            sync_wait: Duration::from_secs(15),
            board_wait: Duration::from_secs(5),
            device_label: None,
            clock: Arc::new(|| Timestamp(kith_sync::now_ms())),
            keep: credential::Keep::from_env(),
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("runner", &self.runner)
            .field("share_wait", &self.share_wait)
            .field("sync_wait", &self.sync_wait)
            .field("board_wait", &self.board_wait)
            .field("device_label", &self.device_label)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

/// What the UI refreshes on. Serialised with the event name as tag (`{"sync": {...}}`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientEvent {
    /// The sync state changed (online, pending count, last error...).
    Sync(SyncState),
    /// Teammates' presence (everyone known so far).
    Presence(Vec<PresenceView>),
    /// Documents changed: received from the server, or written here.
    Changed(ChangedEvent),
    /// The server's alert event, for a notification.
    Alert(Box<AlertEvent>),
    /// A teammate waved.
    Kudos(Kudos),
}

/// How many events a slow subscriber may fall behind before it misses some (it is then told
/// to refresh everything with `Changed { all: true }` on its next receive error).
pub const EVENT_CAPACITY: usize = 256;

/// Who this device is, once it has a profile.
#[derive(Debug, Default)]
struct Session {
    profile: Option<Profile>,
    link: Option<ServerLink>,
    server: Option<ServerClient>,
    runner: Option<SyncHandle>,
    forwarder: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    store: Arc<Mutex<Store>>,
    opts: ClientOptions,
    session: Mutex<Session>,
    events: broadcast::Sender<ClientEvent>,
    /// Serialises joins, so two at once cannot both redeem an invite for one store.
    joining: tokio::sync::Mutex<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let s = self.session.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = s.runner.take() {
            r.stop();
        }
        if let Some(f) = s.forwarder.take() {
            f.abort();
        }
    }
}

/// One device's Kith: cheap to clone, usable from any thread (`Send + Sync`, methods on `&self`).
/// Must be opened inside a tokio runtime (the background sync runs on it).
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ts_opt(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp)
}

impl Client {
    /// Opens (creating if needed) the device's store in `data_dir`, with the app's defaults.
    pub async fn open(data_dir: impl AsRef<Path>) -> Result<Client, ClientError> {
        Client::open_with(data_dir, ClientOptions::default()).await
    }

    /// Opens the device's store in `data_dir`. If the device has joined a team server, background
    /// sync starts at once.
    pub async fn open_with(data_dir: impl AsRef<Path>, opts: ClientOptions) -> Result<Client, ClientError> {
        let dir = data_dir.as_ref().to_path_buf();
        let d = dir.clone();
        let keep = opts.keep;
        let (store, prof, link) = tokio::task::spawn_blocking(move || -> Result<_, ClientError> {
            std::fs::create_dir_all(&d).map_err(|e| {
                ClientError::invalid(format!(
                    "could not create the data directory {}: {e}. Check the path and its permissions",
                    d.display()
                ))
            })?;
            let mut store = Store::open(profile::db_path(&d))?;
            // A store written by an older Kith holds the credential: move it out first.
            if let Err(e) = profile::secure_credential(&mut store, keep) {
                tracing::warn!("this device's credential stays in the store for now: {e}");
            }
            let prof = profile::read_profile(&store)?;
            let link = profile::read_link(&store)?;
            Ok((store, prof, link))
        })
        .await
        .map_err(|e| ClientError::Internal(format!("opening the store failed: {e}")))??;
        let client = Client {
            inner: Arc::new(Inner {
                dir,
                store: Arc::new(Mutex::new(store)),
                opts,
                session: Mutex::new(Session { profile: prof, ..Session::default() }),
                events: broadcast::channel(EVENT_CAPACITY).0,
                joining: tokio::sync::Mutex::new(()),
            }),
        };
        if let Some(link) = link
            && let Err(e) = client.connect(link.clone())
        {
            // Joined, but this link cannot be used (its credential is not on this computer, or
            // it is plain HTTP to another computer): the data stays usable here, and everything
            // that needs the server says why and what to do.
            tracing::warn!("not syncing: {e}");
            lock(&client.inner.session).link = Some(link);
        }
        Ok(client)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Events from now on: sync state, presence, changed documents, alerts, waves.
    pub fn subscribe(&self) -> broadcast::Receiver<ClientEvent> {
        self.inner.events.subscribe()
    }

    /// The background sync, when this device has joined a team server.
    pub fn sync_handle(&self) -> Option<SyncHandle> {
        lock(&self.inner.session).runner.clone()
    }

    fn now(&self) -> Timestamp {
        (self.inner.opts.clock)()
    }

    fn emit(&self, e: ClientEvent) {
        // No subscriber is fine: nobody needs telling.
        let _ = self.inner.events.send(e);
    }

    /// Runs `f` on the store on a blocking thread (SQLite writes wait for the disk).
    async fn with_store<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<R, ClientError> + Send + 'static,
    ) -> Result<R, ClientError> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&store)))
            .await
            .map_err(|e| ClientError::Internal(format!("a store operation failed: {e}")))?
    }

    fn profile(&self) -> Result<Profile, ClientError> {
        lock(&self.inner.session).profile.clone().ok_or(ClientError::op(OpError::NotJoined))
    }

    fn link(&self) -> Option<ServerLink> {
        lock(&self.inner.session).link.clone()
    }

    fn server(&self) -> Result<ServerClient, ClientError> {
        let s = lock(&self.inner.session);
        match (&s.profile, &s.server) {
            (_, Some(c)) => Ok(c.clone()),
            (Some(_), None) if s.link.is_some() => {
                s.link.as_ref().map_or(Err(ClientError::op(OpError::NotJoined)), ServerLink::client)
            }
            (Some(_), None) => Err(ClientError::invalid(
                "this device keeps its shifts for itself and has not joined a team server, so it cannot do this",
            )),
            (None, None) => Err(ClientError::op(OpError::NotJoined)),
        }
    }

    /// Starts the background sync for `link` and forwards its channels as [`ClientEvent`]s.
    fn connect(&self, link: ServerLink) -> Result<(), ClientError> {
        let server = link.client()?;
        let handle = kith_sync::runner::spawn(self.inner.store.clone(), server.clone(), self.inner.opts.runner.clone());
        let forwarder = tokio::spawn(forward(handle.clone(), self.inner.events.clone()));
        let mut s = lock(&self.inner.session);
        if let Some(old) = s.runner.replace(handle) {
            old.stop();
        }
        if let Some(old) = s.forwarder.replace(forwarder) {
            old.abort();
        }
        s.link = Some(link);
        s.server = Some(server);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // state

    /// The sync state: the background sync's, with the pending count and last sync read from
    /// the store (so a change made a moment ago is counted before the next sync runs).
    pub async fn sync_state(&self) -> Result<SyncState, ClientError> {
        let status = self.sync_handle().map(|h| h.status()).or_else(|| {
            // Joined, but the link cannot be used (no credential here, plain HTTP): nothing syncs.
            let why = self.link().and_then(|l| l.client().err())?;
            Some(SyncStatus { last_error: Some(why.to_string()), needs_attention: true, ..SyncStatus::default() })
        });
        let (pending, last, offset) = self
            .with_store(|s| {
                Ok((
                    local::pending_changes(s)?,
                    kith_sync::engine::last_synced_ms(s)?,
                    kith_sync::engine::clock_offset_ms(s)?,
                ))
            })
            .await?;
        Ok(sync_view(status.as_ref(), pending, last, offset))
    }

    /// Everything the main screens need (the core's view, [`kith_core::views::app_state`]).
    pub async fn state(&self) -> Result<AppState, ClientError> {
        let sync = self.sync_state().await?;
        let now = self.now();
        let prof = self.profile().ok();
        let link = self.link().map(|l| l.info());
        self.with_store(move |s| {
            let path = s.path().to_path_buf();
            kith_core::views::app_state(s, prof.as_ref(), link.as_ref(), sync, now)
                .map_err(|e| ClientError::from_op(e, &path))
        })
        .await
    }

    /// Every reminder of my running shifts (device clock), earliest first, including those
    /// whose time has passed: the app's offline timer fires each once.
    pub async fn reminders(&self) -> Result<Vec<ReminderView>, ClientError> {
        let Ok(prof) = self.profile() else { return Ok(Vec::new()) };
        let all = self.with_store(move |s| Ok(kith_sync::reminders(s, prof.member_id)?)).await?;
        Ok(all.into_iter().map(reminder_view).collect())
    }

    /// The next local reminder still to come (device clock), for the app's offline timer.
    pub async fn next_reminder(&self) -> Result<Option<ReminderView>, ClientError> {
        let Ok(prof) = self.profile() else { return Ok(None) };
        let now = self.now();
        let r = self.with_store(move |s| Ok(kith_sync::next_reminder(s, prof.member_id, now)?)).await?;
        Ok(r.map(reminder_view))
    }

    // -----------------------------------------------------------------------------------------
    // join

    /// Joins a team with an invite (server and code, or a `kith://join` link), then syncs (waiting
    /// a little for the team to arrive) and keeps syncing in the background.
    pub async fn join(&self, input: JoinInput) -> Result<AppState, ClientError> {
        let _one_at_a_time = self.inner.joining.lock().await;
        let (server, code) = match (&input.link, &input.server, &input.code) {
            (Some(link), _, _) if !link.trim().is_empty() => local::parse_join_link(link)?,
            (_, Some(server), Some(code)) if !server.trim().is_empty() && !code.trim().is_empty() => {
                (server.trim().to_string(), code.trim().to_string())
            }
            _ => {
                return Err(ClientError::invalid(
                    "give your team server's address and the invite code, or the kith://join link your lead sent you",
                ));
            }
        };
        let name = local::join_name(&input.name)?;
        let http = ServerClient::new(&server, None)?;
        let base = http.base().to_string();
        // Joined already: only a re-join to the same server (which forgot this device) goes on.
        let (rejoin, actor) =
            self.with_store(move |s| Ok((local::rejoin_identity(s, &base)?, s.actor_id().to_hex_string()))).await?;
        let label = self.inner.opts.device_label.clone().unwrap_or_else(|| device_label(&name));
        let req = JoinRequest { code, name: name.clone(), device_label: label, actor, rejoin };
        let joined = match http.join(&req).await {
            Ok(r) => Ok(r),
            // A refused re-join: the server still knows this device, so it stays as it is.
            Err(e) => Err(self.with_store(move |s| local::rejoin_refused(e, s)).await?),
        };
        let resp = joined.map_err(|e| match e {
            // The server's message says what is wrong with the invite and what to do.
            kith_sync::SyncError::Unauthorized { message, .. } => ClientError::Refused {
                code: "invite_refused".into(),
                message: format!("could not join: {message}"),
                retryable: false,
            },
            kith_sync::SyncError::Server { code, message, retryable: false, .. } => {
                ClientError::Refused { code, message: format!("could not join: {message}"), retryable: false }
            }
            other => other.into(),
        })?;
        let url = http.base().to_string();
        let now = self.now();
        let keep = self.inner.opts.keep;
        let (prof, link) = self.with_store(move |s| local::save_join(s, &url, &resp, &name, now, keep)).await?;
        lock(&self.inner.session).profile = Some(prof);
        let mut status = None;
        self.connect(link)?;
        if let Some(h) = self.sync_handle() {
            let mut rx = h.watch_status();
            // The first sync brings the team; answer without it when offline.
            let _ = tokio::time::timeout(self.inner.opts.sync_wait, rx.wait_for(|s| s.cycles > 0)).await;
            status = Some(h.status());
        }
        let state = self.state().await?;
        tracing::info!(synced = status.is_some_and(|s| s.syncs > 0), "joined a team");
        Ok(state)
    }

    // -----------------------------------------------------------------------------------------
    // writes

    /// After a durable local change to `doc`: tell the UI, poke the background sync and wait
    /// (at most `share_wait`) until the server has it. Never fails: the change is saved. When it
    /// is not shared, says why if that is known (offline; the server could not store it now),
    /// and answers as soon as a sync shows the server cannot take it now.
    async fn shared(&self, doc: Uuid) -> (bool, Option<String>) {
        self.emit(ClientEvent::Changed(ChangedEvent { docs: vec![doc], all: false }));
        let Some(h) = self.sync_handle() else {
            self.emit_sync().await;
            return (false, self.server().err().map(|e| e.to_string()));
        };
        let mut rx = h.watch_status();
        let before = rx.borrow_and_update().syncs;
        // The person is waiting to see it shared: sync now rather than after the debounce.
        h.sync_now();
        let deadline = tokio::time::Instant::now() + self.inner.opts.share_wait;
        let shared = loop {
            let pending = self.with_store(move |s| Ok(!s.pending_changes(doc)?.is_empty())).await;
            match pending {
                Ok(false) => break true,
                Ok(true) => {}
                Err(_) => break false,
            }
            {
                // A sync after the change ended with it refused for now: no point waiting.
                let st = rx.borrow();
                if st.syncs > before && st.retrying.is_some() {
                    break false;
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => break false,
            }
        };
        self.emit_sync().await;
        let why = if shared {
            None
        } else {
            let st = h.status();
            let offline = if st.online { None } else { st.last_error };
            st.retrying.or(offline)
        };
        (shared, why)
    }

    /// Sends the current sync state (a local change alters the pending count at once).
    async fn emit_sync(&self) {
        if let Ok(st) = self.sync_state().await {
            self.emit(ClientEvent::Sync(st));
        }
    }

    async fn write_result(&self, shift: Shift) -> Result<WriteResult, ClientError> {
        let (shared, queued) = self.shared(shift.id.uuid()).await;
        let view = self.shift_view(shift).await?;
        Ok(WriteResult { shift: view, shared, queued })
    }

    /// The shift as I see it now, with the team's names (an empty roster before the team arrives).
    async fn shift_view(&self, shift: Shift) -> Result<ShiftView, ClientError> {
        let prof = self.profile()?;
        let now = self.now();
        self.with_store(move |s| {
            let path = s.path().to_path_buf();
            kith_core::views::shift_view(s, &prof, &shift, now).map_err(|e| ClientError::from_op(e, &path))
        })
        .await
    }

    /// Starts a shift; what is left out comes from the last shift, then the policy.
    pub async fn start_shift(&self, input: StartShiftInput) -> Result<WriteResult, ClientError> {
        let prof = self.profile()?;
        let now = self.now();
        let shift = self
            .with_store(move |s| {
                let path = s.path().to_path_buf();
                kith_core::commands::start_shift(s, &prof, input, now, &mut warn_log)
                    .map_err(|e| ClientError::from_op(e, &path))
            })
            .await?;
        self.write_result(shift).await
    }

    /// Checks in to the running shift ("I'm OK", "I'd like support", emergency). A call for help
    /// without a shift starts one for it.
    pub async fn check_in(&self, input: CheckInInput) -> Result<WriteResult, ClientError> {
        let prof = self.profile()?;
        let now = self.now();
        let emergency = input.status == CheckInStatus::Emergency;
        let checked = self
            .with_store(move |s| {
                let path = s.path().to_path_buf();
                kith_core::commands::check_in(s, &prof, input, now, &mut warn_log)
                    .map_err(|e| ClientError::from_op(e, &path))
            })
            .await;
        let (_, shift) = match checked {
            Ok(c) => c,
            // Never let a failed emergency look like a routine error.
            Err(e) if emergency => return Err(ClientError::EmergencyNotSaved(Box::new(e))),
            Err(e) => return Err(e),
        };
        self.write_result(shift).await
    }

    /// Moves the running shift's planned end, with a reason.
    pub async fn extend_shift(&self, input: ExtendInput) -> Result<WriteResult, ClientError> {
        let prof = self.profile()?;
        let now = self.now();
        let shift = self
            .with_store(move |s| {
                let path = s.path().to_path_buf();
                kith_core::commands::extend_shift(s, &prof, input, now, &mut warn_log)
                    .map_err(|e| ClientError::from_op(e, &path))
            })
            .await?;
        self.write_result(shift).await
    }

    /// Ends the running shift ("I'm done, all fine").
    pub async fn end_shift(&self, input: EndInput) -> Result<WriteResult, ClientError> {
        let prof = self.profile()?;
        let now = self.now();
        let shift = self
            .with_store(move |s| {
                let path = s.path().to_path_buf();
                kith_core::commands::end_shift(s, &prof, input, now, &mut warn_log)
                    .map_err(|e| ClientError::from_op(e, &path))
            })
            .await?;
        self.write_result(shift).await
    }

    /// A lead's "seen", with an optional reply, on a teammate's check-in.
    pub async fn ack(&self, input: AckInput) -> Result<WriteResult, ClientError> {
        let prof = self.profile()?;
        let link = self.link();
        let now = self.now();
        let p = prof.clone();
        let found = self
            .with_store(move |s| {
                local::check_may_ack(s, &p, link.as_ref())?;
                let sh = local::shift(s, input.shift).ok().filter(|sh| sh.checkin(input.checkin).is_some());
                Ok(sh.is_some())
            })
            .await?;
        if !found {
            // Perhaps it has not arrived yet: sync once, briefly, then look again.
            let _ = self.sync_now().await;
        }
        let shift = self
            .with_store(move |s| {
                let sh = local::shift(s, input.shift)
                    .ok()
                    .filter(|sh| sh.checkin(input.checkin).is_some())
                    .ok_or(ClientError::op(OpError::CheckInNotFound(input.checkin)))?;
                local::ack(s, &prof, sh.id, input.checkin, input.reply.as_deref(), now)?;
                local::shift(s, sh.id)
            })
            .await?;
        self.write_result(shift).await
    }

    /// Saves the settings and returns the new state.
    pub async fn save_settings(&self, input: SaveSettingsInput) -> Result<AppState, ClientError> {
        kith_core::commands::check_settings(self.profile().ok().as_ref(), &input)
            .map_err(ClientError::from_op_no_path)?;
        let settings = input.settings;
        self.with_store(move |s| profile::write_settings(s, &settings)).await?;
        self.state().await
    }

    // -----------------------------------------------------------------------------------------
    // reads

    /// The team board: the server's when it answers (presence, alerts and their owners), else
    /// the one from this device's documents, with when they last synced.
    pub async fn board(&self) -> Result<BoardResponse, ClientError> {
        let prof = self.profile()?;
        if let Ok(server) = self.server() {
            match tokio::time::timeout(self.inner.opts.board_wait, server.board()).await {
                Ok(Ok(mut b)) => {
                    b.source = BoardSource::Server;
                    b.synced_at = Some(self.now());
                    return Ok(b);
                }
                Ok(Err(e @ kith_sync::SyncError::Protocol(_))) => {
                    tracing::warn!("the server's board could not be read ({e}); showing the local one")
                }
                Ok(Err(e)) => tracing::debug!("board from the server failed ({e}); showing the local one"),
                Err(_) => tracing::debug!("board from the server timed out; showing the local one"),
            }
        }
        let presence: kith_core::views::PresenceMap = self
            .sync_handle()
            .map(|h| h.watch_presence().borrow().iter().map(|(id, p)| (*id, (p.online, p.last_seen))).collect())
            .unwrap_or_default();
        let now = self.now();
        self.with_store(move |s| {
            let path = s.path().to_path_buf();
            kith_core::views::local_board(s, &prof, &presence, now, &mut warn_log)
                .map_err(|e| ClientError::from_op(e, &path))
        })
        .await
    }

    /// One shift on this device, as I may see it.
    pub async fn shift(&self, input: ShiftInput) -> Result<ShiftView, ClientError> {
        self.profile()?;
        let shift = self.with_store(move |s| local::shift(s, input.id)).await?;
        self.shift_view(shift).await
    }

    /// A member's shifts on this device (mine by default), newest first.
    pub async fn history(&self, input: HistoryInput) -> Result<Vec<ShiftView>, ClientError> {
        let prof = self.profile()?;
        let now = self.now();
        self.with_store(move |s| {
            let path = s.path().to_path_buf();
            kith_core::views::history(s, &prof, input.member, now, &mut warn_log)
                .map_err(|e| ClientError::from_op(e, &path))
        })
        .await
    }

    /// Connection health over the last `days` days: mine, and the team's for leads.
    pub async fn health(&self, input: HealthInput) -> Result<HealthResponse, ClientError> {
        if !(1..=366).contains(&input.days) {
            return Err(ClientError::invalid(format!(
                "health covers 1 to 366 days, not {}: pick a number in that range (e.g. 28)",
                input.days
            )));
        }
        let prof = self.profile()?;
        let link = self.link().map(|l| l.info());
        let now = self.now();
        self.with_store(move |s| {
            let path = s.path().to_path_buf();
            kith_core::views::health(s, &prof, link.as_ref(), input.days, now, &mut warn_log)
                .map_err(|e| ClientError::from_op(e, &path))
        })
        .await
    }

    /// Everything this device holds about me, as pretty JSON: profile (without the credential),
    /// settings, my shifts in full, and the sync state.
    pub async fn export_data(&self) -> Result<String, ClientError> {
        let prof = self.profile()?;
        let link = self.link().map(|l| l.info());
        let sync = self.sync_state().await?;
        let now = self.now();
        self.with_store(move |s| {
            let path = s.path().to_path_buf();
            let v = kith_core::views::export(s, &prof, link.as_ref(), &sync, now, &mut warn_log)
                .map_err(|e| ClientError::from_op(e, &path))?;
            serde_json::to_string_pretty(&v)
                .map_err(|e| ClientError::Internal(format!("could not write the export: {e}")))
        })
        .await
    }

    // -----------------------------------------------------------------------------------------
    // server only

    /// Syncs now and waits (bounded) for that sync to finish; returns the sync state either way.
    pub async fn sync_now(&self) -> Result<SyncState, ClientError> {
        self.server()?;
        let Some(h) = self.sync_handle() else { return Err(ClientError::op(OpError::NotJoined)) };
        let mut rx = h.watch_status();
        let before = rx.borrow_and_update().clone();
        h.sync_now();
        // The cycle this asked for, however it ends: an error the live channel reports meanwhile
        // is not its answer.
        let _ = tokio::time::timeout(self.inner.opts.sync_wait, rx.wait_for(|s| s.cycles > before.cycles)).await;
        let st = self.sync_state().await?;
        self.emit(ClientEvent::Sync(st.clone()));
        Ok(st)
    }

    /// The alerts I may see (unresolved only unless `all`).
    pub async fn alerts(&self, input: AlertsInput) -> Result<AlertList, ClientError> {
        Ok(self.server()?.alerts(input.all.unwrap_or(false)).await?)
    }

    /// Claims an alert: everyone sees I own it, and it escalates no further.
    pub async fn claim_alert(&self, input: AlertIdInput) -> Result<AlertView, ClientError> {
        Ok(self.server()?.claim_alert(input.id).await?)
    }

    /// Resolves an alert I claimed, saying what happened.
    pub async fn resolve_alert(&self, input: ResolveInput) -> Result<AlertView, ClientError> {
        let note = local::line("note", &input.note)?;
        if note.is_empty() {
            return Err(ClientError::invalid(
                "say what happened, so the team knows (e.g. \"Phoned her: fine, battery died\")",
            ));
        }
        Ok(self.server()?.resolve_alert(input.id, &ResolveRequest { note }).await?)
    }

    /// A lead takes over an alert someone else claimed (or claims an open one).
    pub async fn take_over_alert(&self, input: AlertIdInput) -> Result<AlertView, ClientError> {
        let path = format!("v1/alerts/{}/takeover", input.id);
        Ok(self.server()?.request(Method::POST, &path, None::<&()>).await?)
    }

    /// A lead gives an alert to a lead or a buddy of the worker.
    pub async fn assign_alert(&self, input: AssignInput) -> Result<AlertView, ClientError> {
        let path = format!("v1/alerts/{}/assign", input.id);
        Ok(self.server()?.request(Method::POST, &path, Some(&AssignRequest { member: input.member })).await?)
    }

    /// A new invite to the team (leads): code, `kith://join` link and its QR code.
    pub async fn invite(&self, input: InviteInput) -> Result<InviteResponse, ClientError> {
        let req = InviteRequest {
            role: input.role,
            expires_in_s: input.expires_in_s.unwrap_or(InviteRequest::DEFAULT_EXPIRY_S),
            uses: input.uses.unwrap_or(InviteRequest::DEFAULT_USES),
        };
        Ok(self.server()?.request(Method::POST, "v1/invites", Some(&req)).await?)
    }

    /// The team's devices (leads).
    pub async fn devices(&self) -> Result<DeviceList, ClientError> {
        Ok(self.server()?.request(Method::GET, "v1/devices", None::<&()>).await?)
    }

    /// Revokes a device of the team (leads): it is cut off at once.
    pub async fn revoke_device(&self, input: RevokeInput) -> Result<DeviceList, ClientError> {
        let path = format!("v1/devices/{}/revoke", input.device);
        Ok(self.server()?.request(Method::POST, &path, None::<&()>).await?)
    }

    // -----------------------------------------------------------------------------------------
    // the team, as a lead edits it (in this device's copy of the team document, then shared)

    /// The roster (roles, buddies, phones) and the whole policy, from this device's documents.
    pub async fn team_view(&self) -> Result<TeamView, ClientError> {
        let prof = self.profile()?;
        let link = self.link();
        self.with_store(move |s| {
            let team = local::team(s, &prof)?;
            let lead = local::is_lead(&team, prof.member_id, link.as_ref());
            Ok(TeamView::of(&team, lead))
        })
        .await
    }

    /// Sets the team's policy (leads); shared with the next sync.
    pub async fn edit_policy(&self, input: EditPolicyInput) -> Result<TeamView, ClientError> {
        let prof = self.profile()?;
        let link = self.link();
        let team = self.with_store(move |s| local::edit_policy(s, &prof, link.as_ref(), &input.policy)).await?;
        self.shared(team.id.uuid()).await;
        self.team_view().await
    }

    /// Changes a member's role (leads), buddies or phone (leads, or the member themself).
    pub async fn edit_member(&self, input: EditMemberInput) -> Result<TeamView, ClientError> {
        let prof = self.profile()?;
        let link = self.link();
        let team =
            self.with_store(move |s| local::edit_member(s, &prof, link.as_ref(), input.member, &input.edit)).await?;
        self.shared(team.id.uuid()).await;
        self.team_view().await
    }

    /// Waves to a teammate (ephemeral: never stored in a document).
    pub async fn kudos(&self, input: KudosInput) -> Result<(), ClientError> {
        let prof = self.profile()?;
        if input.to == prof.member_id {
            return Err(ClientError::invalid("waving to yourself reaches nobody: pick a teammate"));
        }
        Ok(self.server()?.kudos(&KudosRequest { to: input.to }).await?)
    }
}

/// Warnings from operations that must not fail because of them.
fn warn_log(msg: String) {
    tracing::warn!("{msg}");
}

/// A label for this device in the server's device list: "Kith on <host>".
fn device_label(name: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    match host {
        Some(h) => format!("Kith on {h}"),
        None => format!("{name}'s Kith"),
    }
}

fn reminder_view(r: kith_sync::LocalReminder) -> ReminderView {
    kith_core::views::reminder_view(r)
}

fn sync_view(status: Option<&SyncStatus>, pending: usize, last: Option<i64>, offset: Option<i64>) -> SyncState {
    let pending = u32::try_from(pending).unwrap_or(u32::MAX);
    match status {
        Some(st) => SyncState {
            online: st.online,
            live: st.live,
            last_synced_ms: ts_opt(st.last_synced_ms.or(last)),
            pending_changes: pending,
            last_error: st.last_error.clone(),
            needs_attention: st.needs_attention,
            device_unknown: st.device_unknown,
            retrying: st.retrying.clone(),
            clock_offset_ms: st.clock_offset_ms.or(offset),
        },
        None => SyncState {
            online: false,
            live: false,
            last_synced_ms: ts_opt(last),
            pending_changes: pending,
            last_error: None,
            needs_attention: false,
            device_unknown: false,
            retrying: None,
            clock_offset_ms: offset,
        },
    }
}

/// Forwards the background sync's channels as [`ClientEvent`]s until the sync stops.
async fn forward(h: SyncHandle, events: broadcast::Sender<ClientEvent>) {
    let mut status = h.watch_status();
    let mut presence = h.watch_presence();
    let mut live = h.subscribe_live();
    let mut received = h.subscribe_received();
    let send = |e: ClientEvent| {
        let _ = events.send(e);
    };
    loop {
        tokio::select! {
            r = status.changed() => {
                if r.is_err() { return }
                let st = status.borrow_and_update().clone();
                send(ClientEvent::Sync(sync_view(Some(&st), st.pending_changes, None, None)));
            }
            r = presence.changed() => {
                if r.is_err() { return }
                let list = presence
                    .borrow_and_update()
                    .values()
                    .map(|p| PresenceView { member_id: MemberId(p.member_id), online: p.online, last_seen: ts_opt(p.last_seen) })
                    .collect();
                send(ClientEvent::Presence(list));
            }
            ev = live.recv() => match ev {
                Ok(LiveEvent::Alert(a)) => send(ClientEvent::Alert(a)),
                Ok(LiveEvent::Kudos(k)) => send(ClientEvent::Kudos(k)),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => send(ClientEvent::Changed(ChangedEvent { docs: Vec::new(), all: true })),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            r = received.recv() => match r {
                Ok(docs) => send(ClientEvent::Changed(ChangedEvent { docs, all: false })),
                Err(broadcast::error::RecvError::Lagged(_)) => send(ClientEvent::Changed(ChangedEvent { docs: Vec::new(), all: true })),
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_client_can_be_shared_between_threads() {
        fn is<T: Send + Sync + Clone>() {}
        is::<super::Client>();
    }
}
