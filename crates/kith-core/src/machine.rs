//! [`Core`]: one device's engine as a state machine, for drivers whose storage and network are
//! asynchronous (the browser, `crates/kith-web`) and for deterministic tests. Events go in with
//! the time they happen at ([`Core::handle`]); effects come out, for the driver to carry out and
//! answer with more events:
//!
//! | effect | the driver | and then sends |
//! |---|---|---|
//! | [`Effect::Persist`] | commits the writes in one storage transaction | [`Event::Persisted`] or [`Event::PersistFailed`] |
//! | [`Effect::Sync`] | POSTs the request to `{server}/v1/sync` with the device's token | [`Event::SyncAnswered`] or [`Event::SyncFailed`] |
//! | [`Effect::Join`] | POSTs the request to `{server}/v1/join` | [`Event::Joined`] or [`Event::JoinFailed`] |
//! | [`Effect::WakeAt`] | sets a timer (one: the latest replaces it) | [`Event::Wake`] |
//! | [`Effect::Reply`], [`Effect::Status`], [`Effect::Changed`], [`Effect::Remind`] | shows them | |
//! | [`Effect::Reload`] | loads what is stored into a new core | |
//!
//! A local edit is saved when its storage transaction has committed: its reply waits for
//! [`Event::Persisted`], then (briefly, `share_wait_ms`) for a sync that shows whether the server
//! has it, as the desktop app's does. A change whose transaction has not committed is never sent
//! to the server (a change the server holds and the device lost would reuse its sequence number).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use kith_api::input::{
    AckInput, CheckInInput, EndInput, ExtendInput, HealthInput, HistoryInput, JoinInput, SaveSettingsInput, ShiftInput,
    StartShiftInput,
};
use kith_api::{AppState, BoardResponse, ReminderView, ShiftView, SyncState, WriteResult};
use kith_domain::rules::DueReason;
use kith_domain::{CheckInStatus, DeviceId, MemberId, Policy, Shift, ShiftId, TeamId, Timestamp};
use kith_proto::{ApiError, DEVICE_UNKNOWN, JoinRequest, JoinResponse, Rejoin, SyncRequest, SyncResponse};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::OpError;
use crate::mem::{MemRepo, Records, RepoError, Write};
use crate::profile::{self, Link, Profile};
use crate::repo::Repo;
use crate::schedule::{Ended, Schedule, ScheduleOptions};
use crate::sync::{self, SyncReport};
use crate::{commands, ops, reminders, views};

/// The meta key of this device's credential in the browser's storage (natively it lives in the
/// OS keychain, `kith_client::credential`).
pub const TOKEN_KEY: &str = "credential";

/// Identifies one effect that the driver answers (a persist, a request).
pub type TaskId = u64;

/// What the UI asks. The inputs are the app's (`kith-api`), so the same screens drive both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", content = "input", rename_all = "snake_case")]
pub enum Command {
    AppState,
    Join(JoinInput),
    StartShift(StartShiftInput),
    CheckIn(CheckInInput),
    ExtendShift(ExtendInput),
    EndShift(EndInput),
    Ack(AckInput),
    Shift(ShiftInput),
    History(HistoryInput),
    Health(HealthInput),
    SaveSettings(SaveSettingsInput),
    ExportData,
    /// The board from this device's documents (the UI asks the server first when online).
    LocalBoard,
    Reminders,
    /// Sync now; answered with the sync state once that sync has ended.
    SyncNow,
}

/// How a request to the server failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What went wrong, for people ("Offline: ...", the server's message).
    pub message: String,
    /// Trying again later can help (no connection, a timeout, a 5xx, 408, 429...).
    pub retryable: bool,
    /// The server's `Retry-After`, when it gave one.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// The server no longer accepts this device's credential (401).
    #[serde(default)]
    pub unauthorized: bool,
    /// The server's error code, when it answered with one.
    #[serde(default)]
    pub code: Option<String>,
}

/// What happens to the core. Every event comes with the device time it happens at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Command {
        id: u64,
        #[serde(flatten)]
        command: Command,
    },
    /// The storage transaction of this persist committed.
    Persisted {
        task: TaskId,
    },
    /// It failed: nothing of it is stored.
    PersistFailed {
        task: TaskId,
        error: String,
    },
    SyncAnswered {
        task: TaskId,
        response: SyncResponse,
    },
    SyncFailed {
        task: TaskId,
        failure: Failure,
    },
    Joined {
        task: TaskId,
        response: JoinResponse,
    },
    JoinFailed {
        task: TaskId,
        failure: Failure,
    },
    /// A timer the core asked for, or a reason to look again.
    Wake,
    /// Sync soon: the browser is back online, the page came to the front, the live channel said
    /// documents changed.
    Poke,
    /// The live channel connected or dropped (shown in the sync state).
    Live {
        up: bool,
    },
}

/// What a command answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    State(Box<AppState>),
    Write(Box<WriteResult>),
    Shift(Box<ShiftView>),
    Shifts(Vec<ShiftView>),
    Health(Box<kith_api::HealthResponse>),
    Board(Box<BoardResponse>),
    Reminders(Vec<ReminderView>),
    Sync(SyncState),
    Text(String),
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Commit these writes in one storage transaction, in the order given, after every earlier
    /// persist (IndexedDB orders read-write transactions over the same stores).
    Persist { task: TaskId, writes: Vec<Write> },
    /// Send this request to `{server}/v1/sync`.
    Sync { task: TaskId, server: String, request: SyncRequest },
    /// Send this request to `{server}/v1/join`.
    Join { task: TaskId, server: String, request: JoinRequest },
    /// Answer command `id`.
    Reply { id: u64, result: Result<Reply, ApiError> },
    /// The sync state changed.
    Status { sync: SyncState },
    /// These documents changed (a sync brought them, or a local edit was saved): refresh.
    Changed { docs: Vec<Uuid> },
    /// A reminder's time has come: notify the worker.
    Remind { reminder: ReminderView },
    /// Send [`Event::Wake`] at this device time (replaces the previous timer).
    WakeAt { at_ms: i64 },
    /// A persist failed and memory is ahead of storage: load what is stored into a new core.
    Reload { reason: String },
}

/// Timing of a core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CoreOptions {
    pub schedule: ScheduleOptions,
    /// How long a write's answer waits for the server before answering "saved, not shared yet".
    pub share_wait_ms: u64,
    /// How long joining waits for the first sync (which brings the team).
    pub join_wait_ms: u64,
    /// A device label for the server's device list ("Kith in Chromium on Android").
    pub device_label: String,
}

impl Default for CoreOptions {
    fn default() -> Self {
        CoreOptions {
            schedule: ScheduleOptions::default(),
            share_wait_ms: 2_000,
            join_wait_ms: 15_000,
            device_label: "Kith in a browser".into(),
        }
    }
}

/// A persist in flight, and what its commit completes.
#[derive(Debug)]
enum Pending {
    /// A command's local edit to shift `shift` (None: settings only).
    Edit { id: u64, shift: Option<ShiftId>, emergency: bool, settings: bool },
    /// The profile and link of a join.
    Join { id: u64 },
    /// An absorbed sync answer.
    Absorb { absorbed: Box<sync::Absorbed>, request: Box<SyncRequest> },
    /// Bookkeeping no command waits for (the actor id, a compaction).
    Housekeeping,
}

/// A reply held until a sync shows whether the server has the edit.
#[derive(Debug)]
struct Waiting {
    id: u64,
    what: WaitFor,
    /// A sync that starts after this cycle number answers it.
    after_cycle: u64,
    deadline: i64,
}

#[derive(Debug)]
enum WaitFor {
    Shared(ShiftId),
    SyncNow,
    Joined,
}

#[derive(Debug, Default)]
enum Phase {
    #[default]
    Idle,
    /// A request is out.
    Sending { task: TaskId, request: Box<SyncRequest>, sent_ms: i64 },
    /// Its answer is absorbed and being persisted.
    Absorbing,
}

/// One device's engine (see the module documentation).
#[derive(Debug)]
pub struct Core {
    repo: MemRepo,
    profile: Option<Profile>,
    link: Option<Link>,
    token: Option<String>,
    opts: CoreOptions,
    next_task: TaskId,
    pending: BTreeMap<TaskId, Pending>,
    /// Documents with a local change whose persist has not committed, and how many.
    unpersisted: BTreeMap<Uuid, usize>,
    waiting: Vec<Waiting>,
    phase: Phase,
    /// The rounds of the sync cycle in progress.
    report: SyncReport,
    /// Cycles started so far.
    cycles: u64,
    /// Another sync is wanted once this one ends.
    again: bool,
    next_sync_at: Option<i64>,
    schedule: Schedule,
    status: SyncState,
    rng: u64,
    fired: BTreeSet<(ShiftId, bool, i64)>,
    /// My running shifts, as the documents have them (kept current after every edit and sync),
    /// and the team's policy: a check-in and the reminder timer never read a whole shift document.
    active: BTreeMap<ShiftId, Shift>,
    policy: Policy,
    /// The join request out: its task, the command waiting for it, the server.
    pending_join: Option<(TaskId, u64, String)>,
    now: i64,
    out: Vec<Effect>,
}

fn api<E: std::fmt::Display>(e: &OpError<E>) -> ApiError {
    ApiError { code: e.code().to_string(), message: e.to_string(), retryable: e.retryable() }
}

impl Core {
    /// A core over what the driver stored (nothing, the first time). The effects to carry out at
    /// once come with it (persisting a new device's actor id, the first timer).
    pub fn load(records: Records, now_ms: i64, opts: CoreOptions, seed: u64) -> Result<(Core, Vec<Effect>), RepoError> {
        let mut repo = MemRepo::load(records)?;
        repo.set_now(now_ms);
        let profile = profile::read_profile(&repo).ok().flatten();
        let link = repo.meta_get(profile::SERVER_KEY)?.and_then(|s| serde_json::from_str::<Link>(&s).ok());
        let token = repo.meta_get(TOKEN_KEY)?;
        let mut core = Core {
            repo,
            profile,
            link,
            token,
            schedule: Schedule::new(opts.schedule.clone()),
            opts,
            next_task: 1,
            pending: BTreeMap::new(),
            unpersisted: BTreeMap::new(),
            waiting: Vec::new(),
            phase: Phase::Idle,
            report: SyncReport::default(),
            cycles: 0,
            again: false,
            next_sync_at: None,
            status: SyncState {
                online: false,
                live: false,
                last_synced_ms: None,
                pending_changes: 0,
                last_error: None,
                needs_attention: false,
                device_unknown: false,
                retrying: None,
                clock_offset_ms: None,
            },
            rng: seed | 1,
            fired: BTreeSet::new(),
            active: BTreeMap::new(),
            policy: Policy::default(),
            pending_join: None,
            now: now_ms,
            out: Vec::new(),
        };
        core.status.last_synced_ms = sync::last_synced_ms(&core.repo)?.map(Timestamp);
        core.status.clock_offset_ms = sync::clock_offset_ms(&core.repo)?;
        core.persist(Pending::Housekeeping);
        core.scan();
        if core.syncing() {
            core.next_sync_at = Some(now_ms);
        }
        core.tick();
        core.emit_status();
        let effects = std::mem::take(&mut core.out);
        Ok((core, effects))
    }

    /// The device's documents (read-only use by drivers and tests).
    pub fn repo(&mut self) -> &mut MemRepo {
        &mut self.repo
    }

    /// This device's credential, for the driver's requests (`Authorization: Bearer`).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The team server this device syncs with.
    pub fn server(&self) -> Option<&str> {
        self.link.as_ref().map(|l| l.url.as_str())
    }

    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// The sync state as last emitted.
    pub fn sync_state(&self) -> &SyncState {
        &self.status
    }

    /// Handles one event at device time `now_ms`; returns what the driver must do, in order.
    pub fn handle(&mut self, now_ms: i64, event: Event) -> Vec<Effect> {
        if now_ms < self.now {
            self.clock_put_back(self.now - now_ms);
        }
        self.now = now_ms;
        self.repo.set_now(self.now);
        match event {
            Event::Command { id, command } => self.command(id, command),
            Event::Persisted { task } => self.persisted(task),
            Event::PersistFailed { task, error } => self.persist_failed(task, &error),
            Event::SyncAnswered { task, response } => self.answered(task, &response),
            Event::SyncFailed { task, failure } => self.sync_failed(task, &failure),
            Event::Joined { task, response } => self.joined(task, response),
            Event::JoinFailed { task, failure } => self.join_failed(task, &failure),
            Event::Wake => {}
            Event::Poke => self.want_sync(),
            Event::Live { up } => {
                if self.status.live != up {
                    self.status.live = up;
                    self.emit_status();
                }
            }
        }
        self.tick();
        std::mem::take(&mut self.out)
    }

    fn syncing(&self) -> bool {
        self.profile.is_some() && self.link.is_some() && self.token.is_some()
    }

    fn task(&mut self) -> TaskId {
        let t = self.next_task;
        self.next_task += 1;
        t
    }

    /// Turns the repository's journal into one persist (none if nothing was written).
    fn persist(&mut self, what: Pending) -> Option<TaskId> {
        let writes = self.repo.take_journal();
        if writes.is_empty() {
            return None;
        }
        let task = self.task();
        self.pending.insert(task, what);
        self.out.push(Effect::Persist { task, writes });
        Some(task)
    }

    fn reply(&mut self, id: u64, result: Result<Reply, ApiError>) {
        self.out.push(Effect::Reply { id, result });
    }

    fn random_unit(&mut self) -> f64 {
        // xorshift64: jitter only, seeded by the driver.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        #[allow(clippy::cast_precision_loss)]
        let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }

    // -----------------------------------------------------------------------------------------
    // commands

    fn command(&mut self, id: u64, command: Command) {
        let now = Timestamp(self.now);
        let mut warn = |_: String| {};
        let result: Result<Option<Reply>, ApiError> = match command {
            Command::AppState => self.app_state().map(|s| Some(Reply::State(Box::new(s)))),
            Command::Join(input) => self.join(id, input).map(|()| None),
            Command::StartShift(input) => {
                self.edit(id, false, |repo, p| commands::start_shift(repo, p, input, now, &mut warn).map(Some))
            }
            Command::CheckIn(input) => {
                let emergency = input.status == CheckInStatus::Emergency;
                let active = self.my_active_shift();
                self.edit(id, emergency, |repo, p| {
                    commands::check_in_to(repo, p, input, active, now, &mut warn).map(|(_, s)| Some(s))
                })
            }
            Command::ExtendShift(input) => {
                self.edit(id, false, |repo, p| commands::extend_shift(repo, p, input, now, &mut warn).map(Some))
            }
            Command::EndShift(input) => {
                self.edit(id, false, |repo, p| commands::end_shift(repo, p, input, now, &mut warn).map(Some))
            }
            Command::Ack(input) => {
                let link = self.link.clone();
                self.edit(id, false, |repo, p| {
                    commands::ack(repo, p, link.as_ref(), input.shift, input.checkin, input.reply.as_deref(), now)
                        .map(|(_, s)| Some(s))
                })
            }
            Command::SaveSettings(input) => match commands::check_settings(self.profile.as_ref(), &input) {
                Err(e) => Err(api::<RepoError>(&e)),
                Ok(()) => self.edit(id, false, |repo, _| profile::write_settings(repo, &input.settings).map(|()| None)),
            },
            Command::Shift(input) => self.read(|repo, p, now| {
                let sh = ops::shift(repo, input.id)?;
                views::shift_view(repo, p, &sh, now).map(|v| Reply::Shift(Box::new(v)))
            }),
            Command::History(input) => {
                self.read(|repo, p, now| views::history(repo, p, input.member, now, &mut |_| {}).map(Reply::Shifts))
            }
            Command::Health(input) => {
                let link = self.link.clone();
                self.read(|repo, p, now| {
                    views::health(repo, p, link.as_ref(), input.days, now, &mut |_| {})
                        .map(|h| Reply::Health(Box::new(h)))
                })
            }
            Command::LocalBoard => self.read(|repo, p, now| {
                views::local_board(repo, p, &BTreeMap::new(), now, &mut |_| {}).map(|b| Reply::Board(Box::new(b)))
            }),
            Command::Reminders => self.read(|repo, p, _| {
                Ok(Reply::Reminders(
                    reminders::reminders(repo, p.member_id)?.into_iter().map(views::reminder_view).collect(),
                ))
            }),
            Command::ExportData => {
                let link = self.link.clone();
                let sync = self.current_sync();
                self.read(|repo, p, now| {
                    let v = views::export(repo, p, link.as_ref(), &sync, now, &mut |_| {})?;
                    Ok(Reply::Text(serde_json::to_string_pretty(&v).unwrap_or_default()))
                })
            }
            Command::SyncNow => {
                if self.syncing() {
                    self.waiting.push(Waiting {
                        id,
                        what: WaitFor::SyncNow,
                        after_cycle: self.cycles,
                        deadline: self.now.saturating_add(i64::try_from(self.opts.join_wait_ms).unwrap_or(i64::MAX)),
                    });
                    self.want_sync();
                    Ok(None)
                } else {
                    Err(api::<RepoError>(&OpError::NotJoined))
                }
            }
        };
        match result {
            Ok(Some(r)) => self.reply(id, Ok(r)),
            Ok(None) => {}
            Err(e) => self.reply(id, Err(e)),
        }
    }

    fn app_state(&mut self) -> Result<AppState, ApiError> {
        let sync = self.current_sync();
        let (profile, link) = (self.profile.clone(), self.link.clone());
        views::app_state(&mut self.repo, profile.as_ref(), link.as_ref(), sync, Timestamp(self.now))
            .map_err(|e| api(&e))
    }

    /// The sync state with the pending count as it is now (a change made a moment ago counts).
    fn current_sync(&mut self) -> SyncState {
        let mut s = self.status.clone();
        s.pending_changes = u32::try_from(sync::pending_change_count(&mut self.repo).unwrap_or(0)).unwrap_or(u32::MAX);
        s
    }

    fn read(
        &mut self,
        f: impl FnOnce(&mut MemRepo, &Profile, Timestamp) -> Result<Reply, OpError<RepoError>>,
    ) -> Result<Option<Reply>, ApiError> {
        let Some(p) = self.profile.clone() else { return Err(api::<RepoError>(&OpError::NotJoined)) };
        f(&mut self.repo, &p, Timestamp(self.now)).map(Some).map_err(|e| api(&e))
    }

    /// Runs a local edit; its reply waits for the persist (and briefly for the server).
    fn edit(
        &mut self,
        id: u64,
        emergency: bool,
        f: impl FnOnce(&mut MemRepo, &Profile) -> Result<Option<Shift>, OpError<RepoError>>,
    ) -> Result<Option<Reply>, ApiError> {
        let Some(p) = self.profile.clone() else { return Err(api::<RepoError>(&OpError::NotJoined)) };
        let shift = match f(&mut self.repo, &p) {
            Ok(Some(s)) => {
                self.keep_shift(s.clone());
                Some(s.id)
            }
            Ok(None) => None,
            Err(e) => {
                // Nothing of a refused edit is kept (the repository rolls back its transaction),
                // but a half-written journal must not be persisted with the next edit.
                let _ = self.repo.take_journal();
                let mut err = api(&e);
                if emergency {
                    err.message = not_saved(&err.message);
                }
                return Err(err);
            }
        };
        let settings = shift.is_none();
        if let Some(s) = shift {
            *self.unpersisted.entry(s.uuid()).or_default() += 1;
        }
        if self.persist(Pending::Edit { id, shift, emergency, settings }).is_none() {
            // Nothing changed (e.g. the same settings again): done at once.
            self.finish_edit(id, shift, settings);
        }
        Ok(None)
    }

    /// My running shift (the latest started, if several), as cached.
    fn my_active_shift(&self) -> Option<Shift> {
        self.active.values().max_by_key(|s| (s.started_at, s.id)).cloned()
    }

    /// Keeps `s` in the cache of my running shifts if it is one, drops it otherwise.
    fn keep_shift(&mut self, s: Shift) {
        let mine = self.profile.as_ref().is_some_and(|p| p.member_id == s.worker);
        if mine && s.is_active() {
            self.active.insert(s.id, s);
        } else {
            self.active.remove(&s.id);
        }
    }

    /// Reads my running shifts and the policy from the documents (at start).
    fn scan(&mut self) {
        self.active.clear();
        let Some(p) = self.profile.clone() else { return };
        self.policy = ops::team(&mut self.repo, &p).map(|t| t.policy).unwrap_or_default();
        if let Ok(mine) = ops::my_shifts(&mut self.repo, p.member_id, &mut |_| {}) {
            for s in mine.into_iter().filter(Shift::is_active) {
                self.active.insert(s.id, s);
            }
        }
    }

    /// After documents changed by a sync: what they now say of my shifts and the policy.
    fn refresh(&mut self, docs: &[Uuid]) {
        let Some(p) = self.profile.clone() else { return };
        for id in docs {
            if *id == p.team_id.uuid() {
                self.policy = ops::team(&mut self.repo, &p).map(|t| t.policy).unwrap_or_default();
            } else if let Ok(s) = ops::shift(&mut self.repo, ShiftId(*id)) {
                self.keep_shift(s);
            }
        }
    }

    fn finish_edit(&mut self, id: u64, shift: Option<ShiftId>, settings: bool) {
        if settings {
            let r = self.app_state().map(|s| Reply::State(Box::new(s)));
            self.reply(id, r);
            return;
        }
        let Some(shift) = shift else { return };
        self.out.push(Effect::Changed { docs: vec![shift.uuid()] });
        self.emit_status();
        if self.syncing() {
            self.waiting.push(Waiting {
                id,
                what: WaitFor::Shared(shift),
                after_cycle: self.cycles,
                deadline: self.now.saturating_add(i64::try_from(self.opts.share_wait_ms).unwrap_or(i64::MAX)),
            });
            self.want_sync();
        } else {
            self.reply_write(id, shift, false, None);
        }
    }

    fn reply_write(&mut self, id: u64, shift: ShiftId, shared: bool, queued: Option<String>) {
        let result =
            self.shift_now(shift).map(|view| Reply::Write(Box::new(WriteResult { shift: view, shared, queued })));
        self.reply(id, result);
    }

    fn shift_now(&mut self, id: ShiftId) -> Result<ShiftView, ApiError> {
        let Some(p) = self.profile.clone() else { return Err(api::<RepoError>(&OpError::NotJoined)) };
        // My running shift is cached (kept current); any other is read.
        let sh: Shift = match self.active.get(&id) {
            Some(s) => s.clone(),
            None => ops::shift(&mut self.repo, id).map_err(|e| api(&e))?,
        };
        views::shift_view(&mut self.repo, &p, &sh, Timestamp(self.now)).map_err(|e| api(&e))
    }

    // -----------------------------------------------------------------------------------------
    // join

    fn join(&mut self, id: u64, input: JoinInput) -> Result<(), ApiError> {
        let name = ops::join_name::<RepoError>(&input.name).map_err(|e| api(&e))?;
        let (Some(server), Some(code)) = (
            input.server.as_deref().map(str::trim).filter(|s| !s.is_empty()),
            input.code.as_deref().map(str::trim).filter(|s| !s.is_empty()),
        ) else {
            return Err(ApiError {
                code: "invalid_input".into(),
                message: "give the invite code your lead sent you, or open the invite link".into(),
                retryable: false,
            });
        };
        if !(server.starts_with("https://") || server.starts_with("http://")) {
            return Err(ApiError {
                code: "bad_server_address".into(),
                message: format!(
                    "'{server}' is not a valid server address: use something like https://kith.example.org"
                ),
                retryable: false,
            });
        }
        let server = server.trim_end_matches('/');
        // Joined already: only a re-join to the same server, which forgot this device (restored
        // from a backup taken before it joined), goes on, as the same member and device so its
        // documents stay its own (docs/operations.md). The server grants that only with an invite
        // of the same team and only if it knows neither id.
        let rejoin = match &self.profile {
            None => None,
            Some(p) if self.link.as_ref().is_some_and(|l| l.url.trim_end_matches('/') == server) => {
                Some(Rejoin { team_id: p.team_id.uuid(), member_id: p.member_id.uuid(), device_id: p.device_id.uuid() })
            }
            Some(p) => {
                return Err(ApiError {
                    code: "already_joined".into(),
                    message: format!(
                        "this browser already has a Kith profile ({}); to join as someone else, use another browser profile",
                        p.name
                    ),
                    retryable: false,
                });
            }
        };
        let request = JoinRequest {
            code: code.to_string(),
            name,
            device_label: self.opts.device_label.clone(),
            actor: self.repo.actor_id().to_hex_string(),
            rejoin,
        };
        let task = self.task();
        self.pending_join = Some((task, id, server.to_string()));
        self.out.push(Effect::Join { task, server: server.to_string(), request });
        Ok(())
    }

    fn joined(&mut self, task: TaskId, resp: JoinResponse) {
        let Some((t, id, server)) = self.pending_join.take() else { return };
        if t != task {
            self.pending_join = Some((t, id, server));
            return;
        }
        let name = self.profile.as_ref().map(|p| p.name.clone());
        let created_at = self.profile.as_ref().map_or(Timestamp(self.now), |p| p.created_at);
        let profile = Profile {
            version: 1,
            member_id: MemberId(resp.member_id),
            device_id: DeviceId(resp.device_id),
            team_id: TeamId(resp.team_id),
            name: name.unwrap_or_default(),
            created_at,
        };
        let link = Link { url: server, role: resp.role.clone() };
        let written = (|| -> Result<(), OpError<RepoError>> {
            // The link first: a profile without its link would look like one for offline use.
            self.repo.meta_set(profile::SERVER_KEY, &profile::to_json("server link", &link)?)?;
            self.repo.meta_set(TOKEN_KEY, &resp.token)?;
            profile::write_profile(&mut self.repo, &profile)?;
            Ok(())
        })();
        if let Err(e) = written {
            let _ = self.repo.take_journal();
            self.reply(id, Err(api(&e)));
            return;
        }
        self.profile = Some(profile);
        self.link = Some(link);
        self.token = Some(resp.token);
        self.persist(Pending::Join { id });
    }

    fn join_failed(&mut self, task: TaskId, f: &Failure) {
        let Some((t, id, server)) = self.pending_join.take() else { return };
        if t != task {
            self.pending_join = Some((t, id, server));
            return;
        }
        let code =
            f.code.clone().unwrap_or_else(|| if f.retryable { "offline".into() } else { "invite_refused".into() });
        let message = if f.retryable { f.message.clone() } else { format!("could not join: {}", f.message) };
        self.reply(id, Err(ApiError { code, message, retryable: f.retryable }));
    }

    // -----------------------------------------------------------------------------------------
    // storage

    fn persisted(&mut self, task: TaskId) {
        let Some(what) = self.pending.remove(&task) else { return };
        match what {
            Pending::Edit { id, shift, emergency: _, settings } => {
                if let Some(s) = shift
                    && let Some(n) = self.unpersisted.get_mut(&s.uuid())
                {
                    *n -= 1;
                    if *n == 0 {
                        self.unpersisted.remove(&s.uuid());
                    }
                }
                self.finish_edit(id, shift, settings);
            }
            Pending::Join { id } => {
                // The first sync brings the team: answer once it ended, or after join_wait.
                self.waiting.push(Waiting {
                    id,
                    what: WaitFor::Joined,
                    after_cycle: self.cycles,
                    deadline: self.now.saturating_add(i64::try_from(self.opts.join_wait_ms).unwrap_or(i64::MAX)),
                });
                self.want_sync();
            }
            Pending::Absorb { absorbed, request } => self.absorbed(*absorbed, &request),
            Pending::Housekeeping => {}
        }
        if self.pending.is_empty() && self.repo.compact_due() > 0 {
            self.persist(Pending::Housekeeping);
        }
    }

    fn persist_failed(&mut self, task: TaskId, error: &str) {
        let what = self.pending.remove(&task);
        let why = format!(
            "this browser could not save it ({error}). Free some space (or allow Kith to store data) and try again"
        );
        match what {
            Some(Pending::Edit { id, emergency, .. }) => {
                let message = if emergency { not_saved(&why) } else { format!("Not saved: {why}") };
                self.reply(id, Err(ApiError { code: "storage".into(), message, retryable: true }));
            }
            Some(Pending::Join { id }) => {
                self.reply(
                    id,
                    Err(ApiError { code: "storage".into(), message: format!("Not joined: {why}"), retryable: true }),
                );
            }
            _ => {}
        }
        // Memory is ahead of storage now: every other answer is void, and the driver starts over
        // from what is stored.
        for (_, p) in std::mem::take(&mut self.pending) {
            if let Pending::Edit { id, .. } | Pending::Join { id } = p {
                self.reply(
                    id,
                    Err(ApiError { code: "storage".into(), message: format!("Not saved: {why}"), retryable: true }),
                );
            }
        }
        for w in std::mem::take(&mut self.waiting) {
            self.reply(
                w.id,
                Err(ApiError { code: "storage".into(), message: format!("Interrupted: {why}"), retryable: true }),
            );
        }
        self.phase = Phase::Idle;
        self.out.push(Effect::Reload { reason: why });
    }

    // -----------------------------------------------------------------------------------------
    // sync

    /// Sync as soon as possible (now, or when the one in flight ends).
    fn want_sync(&mut self) {
        if !self.syncing() {
            return;
        }
        match self.phase {
            Phase::Idle => self.next_sync_at = Some(self.now),
            _ => self.again = true,
        }
    }

    /// Starts a sync round: the request leaves out documents whose last edit is not stored yet.
    fn send_round(&mut self) {
        let (Some(server), true) = (self.server().map(str::to_string), self.syncing()) else { return };
        let skip: HashSet<Uuid> = self.unpersisted.keys().copied().collect();
        match sync::prepare_skipping(&mut self.repo, self.now, &skip) {
            Ok(request) => {
                let task = self.task();
                self.phase = Phase::Sending { task, request: Box::new(request.clone()), sent_ms: self.now };
                self.out.push(Effect::Sync { task, server, request });
            }
            Err(e) => {
                let failure = Failure { message: e.to_string(), retryable: false, ..Failure::default() };
                self.end_cycle(&Ended::Failed { retryable: false, retry_after_ms: None }, Some(&failure));
            }
        }
    }

    fn answered(&mut self, task: TaskId, resp: &SyncResponse) {
        let Phase::Sending { task: t, request, sent_ms } = std::mem::take(&mut self.phase) else { return };
        if t != task {
            return;
        }
        match sync::absorb(&mut self.repo, &request, resp, sent_ms, self.now) {
            Ok(absorbed) => {
                let received = absorbed.received.clone();
                self.refresh(&received);
                match self.persist(Pending::Absorb { absorbed: Box::new(absorbed.clone()), request: request.clone() }) {
                    Some(t) => {
                        let _ = t;
                        self.phase = Phase::Absorbing;
                        // Shown now; stored before the next round or the answer to anyone.
                        if !received.is_empty() {
                            self.out.push(Effect::Changed { docs: received });
                        }
                    }
                    None => self.absorbed(absorbed, &request),
                }
            }
            Err(e) => {
                let _ = self.repo.take_journal();
                let failure = Failure { message: e.to_string(), retryable: false, ..Failure::default() };
                self.end_cycle(&Ended::Failed { retryable: false, retry_after_ms: None }, Some(&failure));
            }
        }
    }

    /// An absorbed answer is stored: another round, or the end of this sync.
    fn absorbed(&mut self, absorbed: sync::Absorbed, request: &SyncRequest) {
        self.phase = Phase::Idle;
        let again = absorbed.again;
        self.report.add_round(request, absorbed, self.now);
        if self.report.go_again(again) {
            self.send_round();
            return;
        }
        let ended = if self.report.retrying.is_empty() { Ended::Done } else { Ended::RefusedForNow };
        self.end_cycle(&ended, None);
    }

    fn sync_failed(&mut self, task: TaskId, f: &Failure) {
        let Phase::Sending { task: t, .. } = &self.phase else { return };
        if *t != task {
            return;
        }
        self.phase = Phase::Idle;
        let ended = Ended::Failed { retryable: f.retryable && !f.unauthorized, retry_after_ms: f.retry_after_ms };
        self.end_cycle(&ended, Some(f));
    }

    /// One sync ended: the state shown, the next time, and the answers that waited for it.
    fn end_cycle(&mut self, ended: &Ended, failure: Option<&Failure>) {
        self.phase = Phase::Idle;
        let report = std::mem::take(&mut self.report);
        let unit = self.random_unit();
        let delay = self.schedule.after(ended, unit);
        self.next_sync_at = Some(self.now.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX)));
        match failure {
            None => {
                self.status.online = true;
                self.status.last_synced_ms = Some(Timestamp(report.synced_at_ms));
                self.status.last_error = None;
                self.status.needs_attention = false;
                self.status.device_unknown = false;
                self.status.retrying = report
                    .retrying_text()
                    .map(|why| format!("Not delivered yet: {why}. Kept on this device and sent again automatically."));
                self.status.clock_offset_ms = Some(report.clock_offset_ms);
            }
            Some(f) => {
                self.status.online = false;
                self.status.last_error = Some(f.message.clone());
                self.status.needs_attention = !f.retryable || f.unauthorized;
                // Restored from a backup taken before this device joined: it can re-join as itself.
                self.status.device_unknown = f.unauthorized && f.code.as_deref() == Some(DEVICE_UNKNOWN);
            }
        }
        self.emit_status();
        let cycle = self.cycles;
        let waiting = std::mem::take(&mut self.waiting);
        for w in waiting {
            if w.after_cycle >= cycle {
                self.waiting.push(w);
                continue;
            }
            self.answer_waiting(w, failure.is_none());
        }
        if std::mem::take(&mut self.again) {
            self.next_sync_at = Some(self.now);
        }
    }

    /// Answers a held reply: now, with what is known.
    fn answer_waiting(&mut self, w: Waiting, _synced: bool) {
        match w.what {
            WaitFor::Shared(shift) => {
                let pending = self.repo.pending_changes(shift.uuid()).map(|c| !c.is_empty()).unwrap_or(true)
                    || self.unpersisted.contains_key(&shift.uuid());
                let why = if pending {
                    let offline = if self.status.online { None } else { self.status.last_error.clone() };
                    self.status.retrying.clone().or(offline)
                } else {
                    None
                };
                self.reply_write(w.id, shift, !pending, why);
            }
            WaitFor::SyncNow => {
                let s = self.current_sync();
                self.reply(w.id, Ok(Reply::Sync(s)));
            }
            WaitFor::Joined => {
                let r = self.app_state().map(|s| Reply::State(Box::new(s)));
                self.reply(w.id, r);
            }
        }
    }

    fn emit_status(&mut self) {
        let sync = self.current_sync();
        self.status.pending_changes = sync.pending_changes;
        self.out.push(Effect::Status { sync });
    }

    /// The device's clock went back by `by` ms (put right after running fast). What the device
    /// writes from now on carries its clock as it is, and its syncs report that clock: the server
    /// gives each value the offset it was received with, and one written before on the old clock
    /// the previous offset (`kith_domain::alerts::offset_written`), so every time lands where it
    /// happened. Never holding the old time (as a `max(previous, now)` did) matters: until the
    /// clock caught up, every check-in carried one and the same stale time, so the server put one
    /// made offline at the moment it arrived, its deadline that much later. What was scheduled on
    /// the old clock (the next sync, answers waiting for the server, the request out) moves back
    /// with it, so nothing waits for the old clock.
    fn clock_put_back(&mut self, by: i64) {
        if let Some(at) = &mut self.next_sync_at {
            *at = at.saturating_sub(by);
        }
        for w in &mut self.waiting {
            w.deadline = w.deadline.saturating_sub(by);
        }
        if let Phase::Sending { sent_ms, .. } = &mut self.phase {
            *sent_ms = sent_ms.saturating_sub(by);
        }
    }

    /// After every event: start a sync that is due, answer what waited too long, fire reminders
    /// whose time came, and ask for the next wake-up.
    fn tick(&mut self) {
        if matches!(self.phase, Phase::Idle)
            && self.syncing()
            && self.next_sync_at.is_some_and(|at| at <= self.now)
            && !self.pending.values().any(|p| matches!(p, Pending::Absorb { .. }))
        {
            self.next_sync_at = None;
            self.cycles += 1;
            self.report = SyncReport::default();
            self.send_round();
        }
        let now = self.now;
        let (late, keep): (Vec<Waiting>, Vec<Waiting>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|w| w.deadline <= now);
        self.waiting = keep;
        for w in late {
            self.answer_waiting(w, false);
        }
        let mut next = self.next_sync_at;
        let mut earliest = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
        for w in &self.waiting {
            earliest(w.deadline);
        }
        if self.profile.is_some() {
            let all = reminders::of_shifts(self.active.values(), &self.policy);
            for r in &all {
                if r.at_ms <= now && now < r.deadline_ms {
                    let key = (r.shift, r.reason == DueReason::CheckIn, r.deadline_ms);
                    if self.fired.insert(key) {
                        self.out.push(Effect::Remind { reminder: views::reminder_view(r.clone()) });
                    }
                } else if r.at_ms > now {
                    earliest(r.at_ms);
                }
            }
        }
        if let Some(at) = next {
            self.out.push(Effect::WakeAt { at_ms: at.max(now) });
        }
    }
}

fn not_saved(why: &str) -> String {
    format!(
        "YOUR EMERGENCY WAS NOT SAVED ({why}). Phone your team or the emergency services (112 / 999 / 911) now if you can"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_the_browser_driver_writes_them() {
        let e: Event = serde_json::from_str(r#"{"event":"command","id":7,"command":"app_state"}"#).unwrap();
        assert_eq!(e, Event::Command { id: 7, command: Command::AppState });
        let e: Event =
            serde_json::from_str(r#"{"event":"command","id":8,"command":"check_in","input":{"status":"ok","mood":4}}"#)
                .unwrap();
        let Event::Command { id: 8, command: Command::CheckIn(c) } = e else { panic!("{e:?}") };
        assert_eq!((c.status, c.mood, c.note), (CheckInStatus::Ok, Some(4), None));
        let e: Event = serde_json::from_str(r#"{"event":"persisted","task":3}"#).unwrap();
        assert_eq!(e, Event::Persisted { task: 3 });
        let e: Event = serde_json::from_str(
            r#"{"event":"sync_failed","task":4,"failure":{"message":"Offline","retryable":true}}"#,
        )
        .unwrap();
        assert!(matches!(e, Event::SyncFailed { task: 4, failure: Failure { retryable: true, .. } }));
        let e: Event = serde_json::from_str(r#"{"event":"wake"}"#).unwrap();
        assert_eq!(e, Event::Wake);
    }

    #[test]
    fn effects_are_written_as_the_browser_driver_reads_them() {
        let v = serde_json::to_value(Effect::WakeAt { at_ms: 5 }).unwrap();
        assert_eq!(v, serde_json::json!({"effect": "wake_at", "at_ms": 5}));
        let v = serde_json::to_value(Effect::Persist {
            task: 1,
            writes: vec![Write::Meta { key: "k".into(), value: "v".into() }],
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"effect": "persist", "task": 1, "writes": [{"op": "meta", "key": "k", "value": "v"}]})
        );
        let v = serde_json::to_value(Effect::Reply {
            id: 2,
            result: Err(ApiError { code: "x".into(), message: "m".into(), retryable: false }),
        })
        .unwrap();
        assert_eq!(v["result"]["Err"]["code"], "x");
    }
}
