//! The deadline engine: on the server clock, watches every active shift, raises alerts, climbs
//! their escalation chains, resolves them, pushes them over the live channel and queues them for
//! the team's webhook. See docs/alerts.md.
//!
//! It follows the **stored changes**, not the requests that store them: the storage announces
//! each commit in process ([`Storage::committed`], [`Storage::stored_since`]), and the engine takes
//! every stored change of a shift or team document into account, in seq order, however the
//! request that brought it ended (answered, cancelled, its connection cut). A request only waits
//! for it to have done so before answering ([`AlertEngine::caught_up`]), so an emergency's alert
//! is raised before the device hears "accepted" in the normal case; whether it is raised never
//! depends on that request. With a stored shift change comes a note of what it did (what the push
//! already read), so the engine updates its copy of the shift without reading the document; without
//! one (another process, a full queue) it reads the document and the stored receipts.
//!
//! Everything it decides is re-derived from stored state (the documents, the receipts stored with
//! them, the alert table and its step log), never from in-memory timers alone: [`AlertEngine::load`]
//! rebuilds its index on start from the tracking rows written with the changes, and every alert
//! and every fired step is stored under a unique key before it is announced, so a restart never
//! loses a step and never fires one twice. Time moves only through [`AlertEngine::run_due`]
//! (`now` passed in), which the background ticker calls on the system clock and tests call on a
//! manual clock.
//!
//! Lock order: the engine's state lock is never held while waiting for a document's lock (documents
//! are read before it is taken), and nothing holding a document's lock waits for it. Storage is a
//! leaf. Only one catch-up with the stored changes runs at a time (`following`), taken before the
//! state lock.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use automerge::ChangeHash;
use kith_domain::alerts::{self, Resolution, ShiftReceipts, Summary};
use kith_domain::doc::{shift, team};
use kith_domain::{CheckInId, DeviceId, MemberId, Notify, Role, Shift, ShiftId, Team, TeamId, Timestamp};
use kith_proto::Kind;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::clock::Clock;
use crate::docs::DocService;
use crate::live::{LiveEvent, LiveHub};
use crate::receipts::{self, Arrival, ShiftFacts};
use crate::storage::{
    AlertLogEntry, AlertRecord, AlertState, Committed, DeviceAuth, FiredStep, ShiftUpdate, Storage, StorageError,
    StoredReceipts, StoredRef, WebhookEvent,
};
use crate::table::Table;

pub use kith_api::{AlertEvent, AlertView, CheckinTimes};

/// Stored changes taken into account at once, at most.
const BATCH: usize = 4096;

/// Why a claim or resolve was refused.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("There is no such alert for this team: list them with `kith alerts`.")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong (e.g. assigning to someone who may not own it).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The server cannot read what the alert is about (its team or shift document): its fault.
    #[error("{0}")]
    Internal(String),
}

impl From<AlertError> for crate::ApiErr {
    fn from(e: AlertError) -> Self {
        use axum::http::StatusCode;
        match e {
            AlertError::NotFound => crate::ApiErr::new(StatusCode::NOT_FOUND, "alert_unknown", e.to_string(), false),
            AlertError::Forbidden(m) => crate::ApiErr::forbidden(m),
            AlertError::Conflict(m) => crate::ApiErr::new(StatusCode::CONFLICT, "alert_conflict", m, false),
            AlertError::Invalid(m) => crate::ApiErr::bad_request("invalid", m),
            AlertError::Storage(s) => s.into(),
            AlertError::Internal(m) => crate::ServerError::Internal(m).into(),
        }
    }
}

/// A shift the engine watches: what its deadlines read of it (a [`Summary`], not the shift:
/// its check-ins are let go once taken into account), and the heads of the document it is of.
#[derive(Clone, Debug)]
struct Watched {
    summary: Summary,
    /// The heads of the document `summary` is of.
    heads: Vec<ChangeHash>,
    team: TeamId,
    worker: MemberId,
    /// The buddies the worker chose for the shift ([`Audience::of`]).
    buddies: Vec<MemberId>,
}

impl Watched {
    /// The engine's copy of `shift` at `heads`, with its receipts, read at `now`. `odd_keys`: see
    /// [`shift::odd_keys`].
    fn new(shift: &Shift, heads: Vec<ChangeHash>, receipts: &ShiftReceipts, now: i64, odd_keys: bool) -> Watched {
        Watched {
            summary: Summary::of(shift, receipts, Timestamp(now), odd_keys),
            heads,
            team: shift.team,
            worker: shift.worker,
            buddies: shift.buddies.clone(),
        }
    }

    /// Roughly the heap this copy takes, its box included (the map's table is counted on its own,
    /// [`State::shed`]): what `alerts.shifts_max_bytes` counts. Vectors by their capacity. The
    /// same however many check-ins the shift has (unless it is kept whole, [`Summary::is_whole`]).
    fn bytes(&self) -> usize {
        use std::mem::size_of;
        size_of::<Watched>()
            + self.summary.heap_bytes()
            + self.buddies.capacity() * size_of::<MemberId>()
            + self.heads.capacity() * size_of::<ChangeHash>()
    }

    /// The three times of check-in `c`, if the copy knows them (the latest check-in's).
    fn times(&self, c: CheckInId, now: Timestamp) -> Option<CheckinTimes> {
        self.summary.times(c, now).map(|t| CheckinTimes {
            checkin: c.uuid(),
            device_time: t.device_time.0,
            received_at: t.received_at.0,
            effective_at: t.effective_at.0,
        })
    }
}

/// A team document the engine holds, with its estimated bytes ([`team_bytes`]). Shared, so an
/// evaluation takes it without copying it.
#[derive(Debug)]
struct HeldTeam {
    team: Arc<Team>,
    bytes: usize,
}

/// Roughly the heap a held team document takes (the map's table is counted on its own,
/// [`State::shed_teams`]): what `alerts.teams_max_bytes` counts. Vectors and strings by their
/// capacity.
fn team_bytes(t: &Team) -> usize {
    use std::mem::size_of;
    let text = |t: &Option<String>| t.as_ref().map_or(0, String::capacity);
    // The Arc's allocation (two counts and the team).
    2 * size_of::<usize>()
        + size_of::<Team>()
        + t.name.capacity()
        + t.purpose.capacity()
        + text(&t.phone)
        + t.policy.escalation.capacity() * size_of::<kith_domain::EscalationStep>()
        + t.members.capacity() * size_of::<kith_domain::Member>()
        + t.members
            .iter()
            .map(|m| m.name.capacity() + m.buddies.capacity() * size_of::<MemberId>() + text(&m.phone))
            .sum::<usize>()
}

/// What the byte budgets cost: shifts and teams let go, and shed shifts read whole again (when
/// they come due or change). Reads that grow with nearly every sync mean the budget is too small
/// for the shifts worked on at once (docs/operations.md). Also in `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shedding {
    /// Shifts let go past `alerts.shifts_max_bytes` (`kith_deadline_shifts_shed_total`).
    pub shifts_shed: u64,
    /// Shed shifts read whole again (`kith_deadline_shifts_read_again_total`).
    pub shifts_read_again: u64,
    /// Team documents let go past `alerts.teams_max_bytes` (`kith_deadline_teams_shed_total`).
    pub teams_shed: u64,
}

#[derive(Debug, Default)]
struct State {
    /// The active shifts held in memory, within `max_bytes` with their table (see
    /// [`State::shed`]). Boxed: the map's table has up to 16/7 as many slots as entries (just
    /// after it doubled), each a pointer rather than ~460 bytes.
    shifts: Table<ShiftId, Box<Watched>>,
    /// The estimated bytes of the copies in `shifts` ([`Watched::bytes`]; its table apart).
    held_bytes: usize,
    /// Active shifts watched but not held (shed past `max_bytes`), with their team: only their
    /// wake time is kept. They are read again from the database when they come due, change, or
    /// their team's policy does ([`AlertEngine::evaluate_all`]).
    evicted: HashMap<ShiftId, TeamId>,
    /// Unresolved alerts by shift.
    open: HashMap<ShiftId, Vec<AlertRecord>>,
    /// Keys known to be stored already (open or resolved), by shift: not raised again. Forgotten
    /// with the shift when it is no longer watched; a key not here is still raised only once (the
    /// alert table's key is unique), at the cost of a database round trip, as after a restart.
    known: HashMap<ShiftId, HashSet<String>>,
    wake: BTreeSet<(i64, ShiftId)>,
    wake_of: HashMap<ShiftId, i64>,
    /// Team documents of watched shifts, kept up to date from the stored changes, within
    /// `teams_max_bytes` (see [`State::shed_teams`]). A team not held is read again (before the
    /// state lock) when a shift of it is evaluated ([`AlertEngine::evaluate_with`]).
    teams: Table<TeamId, HeldTeam>,
    /// The estimated bytes of the documents in `teams` ([`team_bytes`]; its table apart).
    teams_bytes: usize,
    /// How often the budgets made the engine let go and read again ([`Shedding`]).
    shedding: Shedding,
}

impl State {
    /// Holds `w` as the copy of shift `id` (no longer shed, if it was).
    fn hold(&mut self, id: ShiftId, w: Watched) {
        self.evicted.remove(&id);
        self.held_bytes += w.bytes();
        if let Some(old) = self.shifts.insert(id, Box::new(w)) {
            self.held_bytes = self.held_bytes.saturating_sub(old.bytes());
        }
    }

    /// Takes the copy of shift `id` out (it stays shed if it was).
    fn unhold(&mut self, id: ShiftId) -> Option<Watched> {
        let w = self.shifts.remove(&id)?;
        self.held_bytes = self.held_bytes.saturating_sub(w.bytes());
        Some(*w)
    }

    /// The team of a watched shift (held or shed).
    fn team_of(&self, id: &ShiftId) -> Option<TeamId> {
        self.shifts.get(id).map(|w| w.team).or_else(|| self.evicted.get(id).copied())
    }

    /// The team document `id`, if held.
    fn team(&self, id: TeamId) -> Option<Arc<Team>> {
        self.teams.get(&id).map(|t| t.team.clone())
    }

    /// Holds `t` as the engine's copy of its team document (replacing the one held).
    fn hold_team(&mut self, t: Team) {
        let bytes = team_bytes(&t);
        self.teams_bytes += bytes;
        if let Some(old) = self.teams.insert(t.id, HeldTeam { team: Arc::new(t), bytes }) {
            self.teams_bytes = self.teams_bytes.saturating_sub(old.bytes);
        }
    }

    /// Keeps the held team documents and their table within `max` bytes: past it, drops them down
    /// to 7/8 of it, those with no watched shift due first, then those whose soonest wake is
    /// furthest away, and makes the table as small as those left need. A dropped team is read
    /// again when a shift of it is evaluated, so nothing is decided without it.
    fn shed_teams(&mut self, max: usize) {
        if self.teams_bytes + self.teams.bytes() <= max {
            return;
        }
        let target = max - max / 8;
        // The teams with a shift due, soonest first.
        let mut due: Vec<TeamId> = Vec::new();
        let mut seen: HashSet<TeamId> = HashSet::new();
        for (_, id) in &self.wake {
            if let Some(t) = self.team_of(id)
                && self.teams.contains_key(&t)
                && seen.insert(t)
            {
                due.push(t);
            }
        }
        let idle = self.teams.keys().filter(|t| !seen.contains(t)).copied().collect::<Vec<_>>();
        for t in idle.into_iter().chain(due.into_iter().rev()) {
            if self.teams_bytes + Table::<TeamId, HeldTeam>::bytes_for(self.teams.len()) <= target {
                break;
            }
            if let Some(old) = self.teams.remove(&t) {
                self.teams_bytes = self.teams_bytes.saturating_sub(old.bytes);
                self.shedding.teams_shed += 1;
                metrics::counter!("kith_deadline_teams_shed_total").increment(1);
            }
        }
        self.teams.shrink_to(self.teams.len());
    }

    /// Keeps the held copies and their table within `max` bytes: past it, sheds down to 7/8 of
    /// it (so one pass serves many additions), the shifts whose next wake is furthest away first
    /// (those with none before any), keeping their wake time, and makes the table as small as
    /// those left need.
    fn shed(&mut self, max: usize) {
        if self.held_bytes + self.shifts.bytes() <= max {
            return;
        }
        let target = max - max / 8;
        let mut out: Vec<ShiftId> = Vec::new();
        let mut freed = 0usize;
        let len = self.shifts.len();
        let done = |out: &Vec<ShiftId>, freed: usize| {
            self.held_bytes.saturating_sub(freed) + Table::<ShiftId, Box<Watched>>::bytes_for(len - out.len()) <= target
        };
        for (id, w) in self.shifts.iter() {
            if done(&out, freed) {
                break;
            }
            if !self.wake_of.contains_key(id) {
                out.push(*id);
                freed += w.bytes();
            }
        }
        for (_, id) in self.wake.iter().rev() {
            if done(&out, freed) {
                break;
            }
            if let Some(w) = self.shifts.get(id) {
                out.push(*id);
                freed += w.bytes();
            }
        }
        let n = out.len() as u64;
        for id in out {
            if let Some(w) = self.unhold(id) {
                self.evicted.insert(id, w.team);
            }
        }
        self.shifts.shrink_to(self.shifts.len());
        // Each shift, not each pass: a pass lets go an eighth of the budget at once.
        self.shedding.shifts_shed += n;
        metrics::counter!("kith_deadline_shifts_shed_total").increment(n);
    }

    fn schedule(&mut self, id: ShiftId, t: i64) {
        if let Some(old) = self.wake_of.insert(id, t) {
            self.wake.remove(&(old, id));
        }
        self.wake.insert((t, id));
    }
}

/// Notes received ahead of the changes being taken into account.
#[derive(Debug, Default)]
struct Inbox {
    rx: Option<mpsc::Receiver<Committed>>,
    ahead: VecDeque<Committed>,
}

/// How a changed shift is brought up to date.
enum Refresh {
    /// From the notes of its commits: the copy they make of the one held at `before` (none: the
    /// shift is new to the engine).
    Notes { before: Option<Vec<ChangeHash>>, after: Box<Watched> },
    /// From the document and the stored receipts.
    Read,
}

/// A shift read from its document and storage, as the engine holds it.
struct Read {
    id: ShiftId,
    w: Watched,
}

/// The deadline engine.
#[derive(Debug)]
pub struct AlertEngine {
    storage: Arc<dyn Storage>,
    docs: Arc<DocService>,
    live: Arc<LiveHub>,
    clock: Arc<dyn Clock>,
    state: tokio::sync::Mutex<State>,
    /// Most bytes the held copies of shifts take (`alerts.shifts_max_bytes`).
    max_bytes: usize,
    /// Most bytes the held team documents take (`alerts.teams_max_bytes`).
    teams_max_bytes: usize,
    /// The greatest seq whose changes have been taken into account.
    processed: watch::Sender<u64>,
    /// One catch-up at a time (shared so a start can take it before its load runs in the
    /// background: [`AlertEngine::load_in_background`]).
    following: Arc<tokio::sync::Mutex<()>>,
    /// Whether the last load has re-evaluated every active shift (see [`AlertEngine::ready`]).
    ready: watch::Sender<bool>,
    inbox: std::sync::Mutex<Inbox>,
    /// Woken when a deadline earlier than the ticker's next wake appears.
    pub wake: tokio::sync::Notify,
    /// Several instances: alert events to tell the other instances' live streams, in order.
    relay: std::sync::OnceLock<Arc<Relay>>,
    /// This instance, in what it tells the others.
    instance: Uuid,
}

/// An alert event told to the other instances ([`AlertEngine::relay`]).
#[derive(serde::Serialize, serde::Deserialize)]
struct Relayed {
    from: Uuid,
    team: TeamId,
    members: Vec<MemberId>,
    event: AlertEvent,
}

/// Told to the other instances after alert events of these teams were dropped (`all`: of more
/// teams than one message holds): their streams refresh everything.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MissedEvents {
    from: Uuid,
    missed_teams: Vec<TeamId>,
    all: bool,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Told {
    Event(Box<Relayed>),
    Missed(MissedEvents),
}

/// Teams whose dropped events are told in one message (a NOTIFY carries under 8,000 bytes; a
/// team id takes 39 in JSON); past this many, every team's streams refresh.
const MISSED_TEAMS: usize = 150;

/// The alert events waiting to be told to the other instances, bounded by bytes
/// (`alerts.relay_max_bytes`), and the teams of those that did not fit.
///
/// When it is full the event is dropped, never waited for: the deadline engine publishes and must
/// not stall on a slow database. A dropped event is not lost for the people it concerns: an alert
/// is stored before its event is published, and the dashboard and the app re-read the alert list
/// (`GET /v1/alerts`) on every alert event, on every `changed` event and on each reconnect of
/// their live stream (ui/src/lib/app.svelte.ts `onAlert`, `refreshAll`; the board alone is polled
/// every 30 s). So once there is room again, the other instances are told which teams missed
/// events ([`MissedEvents`]), and those teams' streams get `changed` with `all` ([`LiveEvent::Missed`]),
/// exactly what a stream that fell behind on its own instance gets: each client re-reads its alerts
/// then. Without that a lead on another instance would not hear of the alert until the next event.
#[derive(Debug)]
struct Relay {
    queue: mpsc::UnboundedSender<String>,
    /// Bytes queued or being told: the bound of `queue`.
    queued: AtomicUsize,
    max_bytes: usize,
    missed: std::sync::Mutex<(HashSet<TeamId>, bool)>,
    /// Wakes the relay task to tell what was missed.
    nudge: tokio::sync::Notify,
    /// Set by the first event dropped, cleared by the next that fits: one warning per burst.
    dropping: AtomicBool,
}

impl Relay {
    /// Queues an event of `team` unless the queue is full (one event always fits in an empty
    /// queue); never waits.
    fn offer(&self, team: TeamId, m: String) {
        let len = m.len();
        let before = self.queued.fetch_add(len, Ordering::SeqCst);
        if before > 0 && before + len > self.max_bytes {
            self.queued.fetch_sub(len, Ordering::SeqCst);
            metrics::counter!("kith_alert_relay_dropped_total").increment(1);
            {
                let mut missed = self.missed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let (teams, all) = &mut *missed;
                if !*all {
                    teams.insert(team);
                    if teams.len() > MISSED_TEAMS {
                        *all = true;
                        *teams = HashSet::new();
                    }
                }
            }
            self.nudge.notify_one();
            if !self.dropping.swap(true, Ordering::SeqCst) {
                tracing::warn!(
                    max_bytes = self.max_bytes,
                    "alert events for the other instances wait past alerts.relay_max_bytes (the database is slow): \
                     further ones are dropped, and the other instances' streams of their teams will be told to refresh"
                );
            }
            return;
        }
        self.dropping.store(false, Ordering::SeqCst);
        if self.queue.send(m).is_err() {
            self.queued.fetch_sub(len, Ordering::SeqCst);
        }
    }

    /// What to tell the other instances of the events dropped since last asked, if any.
    fn take_missed(&self, from: Uuid) -> Option<String> {
        let (teams, all) = std::mem::take(&mut *self.missed.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if teams.is_empty() && !all {
            return None;
        }
        serde_json::to_string(&MissedEvents { from, missed_teams: teams.into_iter().collect(), all }).ok()
    }
}

fn resolution_name(r: &Resolution) -> &'static str {
    match r {
        Resolution::CheckIn { .. } => "check_in",
        Resolution::End => "end",
        Resolution::Extension => "extension",
        Resolution::Claimer => "claimer",
    }
}

impl AlertEngine {
    pub fn new(
        storage: Arc<dyn Storage>,
        docs: Arc<DocService>,
        live: Arc<LiveHub>,
        clock: Arc<dyn Clock>,
        max_bytes: usize,
        teams_max_bytes: usize,
    ) -> AlertEngine {
        let (processed, _) = watch::channel(0);
        let inbox = Inbox { rx: storage.take_notes(), ahead: VecDeque::new() };
        AlertEngine {
            storage,
            docs,
            live,
            clock,
            state: tokio::sync::Mutex::new(State::default()),
            max_bytes,
            teams_max_bytes,
            processed,
            following: Arc::new(tokio::sync::Mutex::new(())),
            ready: watch::channel(false).0,
            inbox: std::sync::Mutex::new(inbox),
            wake: tokio::sync::Notify::new(),
            relay: std::sync::OnceLock::new(),
            instance: Uuid::new_v4(),
        }
    }

    /// Several instances on one database: tells the other instances' live streams every alert
    /// event of this one, and this one's the events of the others, until `stop`. Nothing to do
    /// when the storage has one process per database.
    /// The events waiting take at most `max_bytes` ([`Relay`] says what happens past it).
    pub fn relay(self: &Arc<Self>, mut stop: watch::Receiver<bool>, max_bytes: usize) {
        let Some(mut told) = self.storage.instance_messages() else { return };
        let (tx, mut queued) = mpsc::unbounded_channel::<String>();
        let relay = Arc::new(Relay {
            queue: tx,
            queued: AtomicUsize::new(0),
            max_bytes,
            missed: std::sync::Mutex::default(),
            nudge: tokio::sync::Notify::new(),
            dropping: AtomicBool::new(false),
        });
        if self.relay.set(relay.clone()).is_err() {
            return;
        }
        let storage = self.storage.clone();
        let mut stop_out = stop.clone();
        let instance = self.instance;
        tokio::spawn(async move {
            loop {
                // `None`: woken to tell what was missed.
                let next = tokio::select! {
                    _ = stop_out.wait_for(|v| *v) => return,
                    next = queued.recv() => match next {
                        Some(m) => Some(m),
                        None => return,
                    },
                    () = relay.nudge.notified() => None,
                };
                if let Some(m) = next {
                    let len = m.len();
                    if let Err(e) = storage.tell_instances(m).await {
                        tracing::warn!(error = %e, "could not tell the other instances an alert event");
                    }
                    relay.queued.fetch_sub(len, Ordering::SeqCst);
                }
                if let Some(m) = relay.take_missed(instance)
                    && let Err(e) = storage.tell_instances(m).await
                {
                    tracing::warn!(error = %e, "could not tell the other instances which alert events they missed");
                }
            }
        });
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                let m = tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    m = told.recv() => m,
                };
                match m {
                    Ok(m) => match serde_json::from_str::<Told>(&m) {
                        Ok(Told::Event(r)) if r.from != engine.instance => {
                            let Relayed { team, members, event, .. } = *r;
                            engine.live.publish(LiveEvent::Alert { team, members, event: Box::new(event) });
                        }
                        Ok(Told::Missed(r)) if r.from != engine.instance => {
                            if r.all {
                                engine.live.publish(LiveEvent::Missed { team: None });
                            }
                            for team in r.missed_teams {
                                engine.live.publish(LiveEvent::Missed { team: Some(team) });
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "an instance told an alert event this build cannot read"),
                    },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "missed alert events of other instances");
                    }
                    Err(_) => return,
                }
            }
        });
    }

    /// Rebuilds the index from storage and evaluates every active shift (firing anything that
    /// came due while the server was down, once). The stored changes are followed from the
    /// greatest seq stored when it starts: everything before is read here. `now` is when the
    /// load began: values stored with no receipt are received then; each shift is evaluated at
    /// the clock's time when its turn comes, so a long load makes no step late.
    pub async fn load(&self, now: i64) -> Result<(), StorageError> {
        self.load_from(now, false).await
    }

    /// Starts [`AlertEngine::load`] in the background once `hold` resolves (a test holds it to
    /// look at a server whose engine is still loading; the server passes a ready future),
    /// retrying with backoff if storage fails, and returns at once: the server serves meanwhile.
    /// The catch-up lock is taken before this returns, so no stored change is taken in before
    /// the load has set where following starts. [`AlertEngine::ready`] says when it is done.
    pub fn load_in_background(
        self: &Arc<Self>,
        hold: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let early = self.following.clone().try_lock_owned().ok();
        let engine = self.clone();
        tokio::spawn(async move {
            let _one = match early {
                Some(g) => g,
                None => engine.following.clone().lock_owned().await,
            };
            hold.await;
            let mut backoff = Duration::from_millis(100);
            loop {
                match engine.load_locked(engine.clock.now_ms(), false).await {
                    Ok(()) => return,
                    // The server is stopping: nothing left to load for.
                    Err(StorageError::Closed) => return,
                    Err(e) => {
                        tracing::error!(error = %e, "the deadline engine could not load the active shifts; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
            }
        })
    }

    /// Whether the engine has re-evaluated every active shift since its last (re)load: until
    /// then, alerts that came due while the server was down may not be raised yet (`/healthz`
    /// says `"deadlines": "loading"`).
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits until [`AlertEngine::is_ready`].
    pub async fn ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    async fn load_from(&self, now: i64, forget: bool) -> Result<(), StorageError> {
        let _one = self.following.lock().await;
        self.load_locked(now, forget).await
    }

    /// [`AlertEngine::load_from`] with the catch-up lock held.
    async fn load_locked(&self, now: i64, forget: bool) -> Result<(), StorageError> {
        let began = std::time::Instant::now();
        self.ready.send_replace(false);
        metrics::gauge!("kith_deadlines_ready").set(0.0);
        if forget {
            *self.state.lock().await = State::default();
        }
        self.processed.send_replace(*self.storage.committed().borrow());
        self.track_untracked().await?;
        let tracked = self.storage.active_shifts().await?;
        let mut read = Vec::with_capacity(tracked.len());
        for chunk in tracked.chunks(1000) {
            read.extend(self.read_shifts(chunk.iter().map(|t| t.shift).collect(), now).await?);
        }
        let shifts = read.len();
        {
            let mut st = self.state.lock().await;
            // Read under the lock: a claim or resolve meanwhile (they update storage under it)
            // is either in what is read here or applied after, never lost under a stale copy.
            let open = self.storage.alerts(None, true, usize::MAX >> 1).await?;
            for a in open {
                st.known.entry(a.shift).or_default().insert(a.key.clone());
                let list = st.open.entry(a.shift).or_default();
                list.retain(|x| x.id != a.id);
                list.push(a);
            }
        }
        // In slices, so requests that need the engine's state (the board, alerts) are served
        // between them; a shift is watched (and so seen by the ticker) once it is evaluated. By
        // team, so each slice reads few team documents and a team is read once, whatever
        // `alerts.teams_max_bytes` holds.
        read.sort_by_key(|r| r.w.team.uuid());
        let mut read = read.into_iter().peekable();
        while read.peek().is_some() {
            let slice: Vec<Read> = read.by_ref().take(256).collect();
            let ids = slice.iter().map(|r| r.id).collect();
            self.evaluate_with(ids, slice, self.clock.now_ms()).await?;
        }
        self.ready.send_replace(true);
        metrics::gauge!("kith_deadlines_ready").set(1.0);
        let watched = self.watched().await;
        tracing::info!(
            shifts,
            watched,
            ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
            "the deadline engine has re-evaluated every active shift"
        );
        Ok(())
    }

    /// Forgets everything held and loads it again from storage as [`AlertEngine::load`] does: an
    /// instance that takes over the `duty` lease (its holder died) starts from what every
    /// instance stored, including alerts raised and steps fired by the one before it.
    pub async fn reload(&self, now: i64) -> Result<(), StorageError> {
        self.load_from(now, true).await
    }

    /// The unresolved alert stored under `key`, if any.
    async fn stored_unresolved(&self, team: TeamId, key: &str) -> Result<Option<AlertRecord>, StorageError> {
        Ok(self.storage.alerts(Some(team), true, 10_000).await?.into_iter().find(|a| a.key == key))
    }

    /// Follows the stored changes until `stop` (or the storage closes): every commit is taken into
    /// account as soon as it is announced, whatever became of the request that made it.
    pub fn follow(self: &Arc<Self>, mut stop: watch::Receiver<bool>) {
        let engine = self.clone();
        let mut committed = self.storage.committed();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(10);
            loop {
                match engine.catch_up().await {
                    Ok(()) => backoff = Duration::from_millis(10),
                    Err(e) => {
                        tracing::error!(error = %e, "the deadline engine could not take stored changes into account; retrying");
                        tokio::select! {
                            _ = stop.wait_for(|v| *v) => return,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
                tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    changed = committed.changed() => if changed.is_err() { return },
                }
            }
        });
    }

    /// Waits until every change up to `seq` has been taken into account.
    pub async fn caught_up(&self, seq: u64) {
        let mut rx = self.processed.subscribe();
        let _ = rx.wait_for(|p| *p >= seq).await;
    }

    /// The greatest seq taken into account.
    pub fn processed(&self) -> u64 {
        *self.processed.borrow()
    }

    /// Waits for every write queued so far to finish, then takes every stored change into account
    /// (tests and benchmarks: "the store has settled").
    pub async fn settle(&self) -> Result<(), StorageError> {
        self.storage.flush().await?;
        self.catch_up().await
    }

    /// Takes every stored change after the last one taken into account.
    async fn catch_up(&self) -> Result<(), StorageError> {
        let _one = self.following.lock().await;
        loop {
            let cursor = *self.processed.borrow();
            let refs = self.storage.stored_since(cursor, BATCH).await?;
            let Some(last) = refs.last().map(|r| r.seq) else { return Ok(()) };
            self.take_in(&refs, cursor, last).await?;
            self.processed.send_replace(last);
            if refs.len() < BATCH {
                return Ok(());
            }
        }
    }

    /// The notes of the commits in `(after, upto]`, by document.
    fn notes_upto(&self, after: u64, upto: u64) -> HashMap<Uuid, Vec<Committed>> {
        let mut inbox = self.inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Inbox { rx, ahead } = &mut *inbox;
        if let Some(rx) = rx.as_mut() {
            while let Ok(c) = rx.try_recv() {
                ahead.push_back(c);
            }
        }
        let mut out: HashMap<Uuid, Vec<Committed>> = HashMap::new();
        while ahead.front().is_some_and(|c| c.last_seq <= upto) {
            if let Some(c) = ahead.pop_front()
                && c.first_seq > after
            {
                out.entry(c.doc).or_default().push(c);
            }
        }
        out
    }

    /// Takes the stored changes `refs` (the changes in `(after, upto]`) into account.
    async fn take_in(&self, refs: &[StoredRef], after: u64, upto: u64) -> Result<(), StorageError> {
        // Documents another instance changed are read from storage, not from a stale cache.
        for r in refs {
            self.docs.invalidate(r.meta.id, &r.hash).await;
        }
        let now = self.clock.now_ms();
        let mut notes = self.notes_upto(after, upto);
        let mut teams_changed: Vec<TeamId> = Vec::new();
        // In order of their first change, each with the seqs of its changes.
        let mut shifts: Vec<(ShiftId, Vec<u64>)> = Vec::new();
        let mut at: HashMap<Uuid, usize> = HashMap::new();
        for r in refs {
            match r.meta.kind {
                Kind::Team => {
                    if !teams_changed.contains(&r.meta.team) {
                        teams_changed.push(r.meta.team);
                    }
                }
                Kind::Shift => match at.get(&r.meta.id) {
                    Some(&i) => shifts[i].1.push(r.seq),
                    None => {
                        at.insert(r.meta.id, shifts.len());
                        shifts.push((ShiftId(r.meta.id), vec![r.seq]));
                    }
                },
            }
        }
        // Decide from what each shift is brought up to date: its notes, if they cover every one
        // of its changes and apply to the copy held; else reading it.
        let mut refresh: Vec<(ShiftId, Refresh)> = Vec::with_capacity(shifts.len());
        {
            let mut st = self.state.lock().await;
            let mut again = 0u64;
            for (id, seqs) in shifts {
                let ns = notes.remove(&id.uuid()).unwrap_or_default();
                let covered = seqs.iter().all(|s| ns.iter().any(|n| n.first_seq <= *s && *s <= n.last_seq));
                let held = st.shifts.get(&id).map(|w| &**w);
                let applied = if covered { notes_apply(held, &ns, now) } else { None };
                let r = if let Some(after) = applied {
                    Refresh::Notes { before: held.map(|w| w.heads.clone()), after: Box::new(after) }
                } else {
                    // A shed shift has no copy for its notes to apply to: read whole again.
                    again += u64::from(st.evicted.contains_key(&id));
                    Refresh::Read
                };
                refresh.push((id, r));
            }
            if again > 0 {
                st.shedding.shifts_read_again += again;
                metrics::counter!("kith_deadline_shifts_read_again_total").increment(again);
            }
        }
        let mut read: HashMap<ShiftId, Read> = HashMap::new();
        let to_read: Vec<ShiftId> =
            refresh.iter().filter(|(_, r)| matches!(r, Refresh::Read)).map(|(id, _)| *id).collect();
        if !to_read.is_empty() {
            read.extend(self.read_shifts(to_read, now).await?.into_iter().map(|r| (r.id, r)));
        }
        // A changed team document is read again if it is held; one not held is read when a
        // shift of it is evaluated.
        let held_changed: Vec<TeamId> = {
            let st = self.state.lock().await;
            teams_changed.iter().filter(|t| st.teams.contains_key(t)).copied().collect()
        };
        let mut teams = Vec::new();
        for t in held_changed {
            teams.extend(self.read_team(t).await?);
        }

        let mut st = self.state.lock().await;
        let mut evaluate: Vec<ShiftId> = Vec::new();
        for t in &teams_changed {
            // A new member (lead or buddy) must be reached by the next step; a new policy applies.
            evaluate.extend(st.shifts.iter().filter(|(_, w)| w.team == *t).map(|(id, _)| *id));
            // The shed ones are read again to be evaluated ([`AlertEngine::evaluate_with`]).
            evaluate.extend(st.evicted.iter().filter(|(_, team)| *team == t).map(|(id, _)| *id));
        }
        for t in teams {
            st.hold_team(t);
        }
        let mut fresh = Vec::new();
        for (id, r) in refresh {
            match r {
                Refresh::Notes { before, after } => {
                    // Unless the copy changed meanwhile (a run of the ticker shed it, or ended and
                    // dropped it): a shed shift is read when it is evaluated, below.
                    let now_held = st.shifts.get(&id).map(|w| &w.heads);
                    if now_held == before.as_ref() && (before.is_some() || !st.evicted.contains_key(&id)) {
                        st.hold(id, *after);
                    } else {
                        tracing::debug!(shift = %id, "notes for a shift no longer held as they found it");
                    }
                }
                Refresh::Read => {
                    let Some(x) = read.remove(&id) else { continue };
                    fresh.push(x);
                }
            }
            evaluate.push(id);
        }
        drop(st);
        let mut seen = HashSet::new();
        evaluate.retain(|id| seen.insert(*id));
        self.evaluate_with(evaluate, fresh, now).await?;
        Ok(())
    }

    /// Reads shifts: their documents first, then their receipts (stored with the changes, so every
    /// value in a document read has its receipt by then). A shift stored with no tracking row or
    /// receipts (by an older server or another process) is tracked from now on.
    async fn read_shifts(&self, ids: Vec<ShiftId>, now: i64) -> Result<Vec<Read>, StorageError> {
        let mut docs = Vec::with_capacity(ids.len());
        let read = self
            .docs
            .read_many(ids.iter().map(|id| id.uuid()).collect(), |d| {
                // Unreadable keys count as odd: the shift is then kept whole, as before.
                (d.meta.clone(), shift::read(&d.doc), d.doc.get_heads(), shift::odd_keys(&d.doc).unwrap_or(true))
            })
            .await?;
        for (id, r) in ids.into_iter().zip(read) {
            match r {
                Some((meta, Ok(shift), heads, odd)) => docs.push((meta, shift, heads, odd)),
                Some((_, Err(e), _, _)) => {
                    tracing::error!(shift = %id, error = %e, "a stored shift document is not readable: it is not watched");
                }
                None => {}
            }
        }
        let ids = docs.iter().map(|(_, s, _, _)| s.id).collect();
        let mut stored: HashMap<ShiftId, StoredReceipts> =
            self.storage.shift_receipts(ids).await?.into_iter().map(|r| (r.tracked.shift, r)).collect();
        // The check-ins with no receipt yet count with their devices' offsets: read those first.
        let receipted: HashSet<CheckInId> =
            stored.values().flat_map(|r| r.checkins.iter().map(|c| c.checkin)).collect();
        let devices: HashSet<DeviceId> = docs
            .iter()
            .flat_map(|(_, s, _, _)| s.checkins.iter().filter(|c| !receipted.contains(&c.id)).map(|c| c.device))
            .collect();
        let others = self.docs.clocks.others(self.storage.as_ref(), devices).await?;
        let arrival = Arrival { now, offset_ms: 0, previous: None, device: None, others: &others };
        let mut out = Vec::with_capacity(docs.len());
        let mut writes = Vec::new();
        for (meta, shift, heads, odd) in docs {
            let stored = stored.remove(&shift.id);
            let whole = ShiftFacts::Whole { shift: &shift, header_written: false };
            // Values with no receipt yet (stored before receipts existed) are received now.
            let missing = receipts::tracking(&meta, whole, &arrival).and_then(|mut t| match &stored {
                None => Some(t),
                Some(r) => {
                    let have: HashSet<Uuid> =
                        r.checkins.iter().map(|c| c.checkin.uuid()).chain(r.entries.iter().map(|e| e.entry)).collect();
                    t.receipts.retain(|c| !have.contains(&c.checkin.uuid()));
                    t.entries.retain(|e| !have.contains(&e.entry));
                    t.shift = r.tracked.clone();
                    (!t.receipts.is_empty() || !t.entries.is_empty()).then_some(t)
                }
            });
            let mut receipts = match &stored {
                Some(r) => receipts::to_domain(r),
                None => ShiftReceipts::default(),
            };
            if let Some(t) = missing {
                if stored.is_none() {
                    receipts.header =
                        alerts::Receipt { received_at: Timestamp(t.shift.first_seen), offset_ms: t.shift.offset_ms };
                }
                receipts::apply_tracking(&mut receipts, &t);
                writes.push(t);
            }
            out.push(Read { id: shift.id, w: Watched::new(&shift, heads, &receipts, now, odd) });
        }
        if !writes.is_empty() {
            self.storage.track_shifts(writes).await?;
        }
        Ok(out)
    }

    /// Tracks the shift documents stored with no tracking row (by a server from before tracking).
    async fn track_untracked(&self) -> Result<(), StorageError> {
        loop {
            let untracked = self.storage.untracked_shifts(500).await?;
            if untracked.is_empty() {
                return Ok(());
            }
            let mut rows = Vec::new();
            for (id, first) in untracked {
                let read = self.docs.with_doc(id.uuid(), |d| (d.meta.clone(), shift::read(&d.doc))).await?;
                let Some((meta, Ok(s))) = read else {
                    tracing::warn!(shift = %id, "a stored shift document is not readable: it is not watched");
                    continue;
                };
                let others = self
                    .docs
                    .clocks
                    .others(self.storage.as_ref(), s.checkins.iter().map(|c| c.device).collect())
                    .await?;
                let arrival = Arrival { now: first, offset_ms: 0, previous: None, device: None, others: &others };
                rows.extend(receipts::tracking(
                    &meta,
                    ShiftFacts::Whole { shift: &s, header_written: false },
                    &arrival,
                ));
            }
            if rows.is_empty() {
                return Ok(());
            }
            self.storage.track_shifts(rows).await?;
        }
    }

    async fn read_team(&self, id: TeamId) -> Result<Option<Team>, StorageError> {
        match self.docs.with_doc(id.uuid(), |d| team::read(&d.doc)).await? {
            Some(Ok(t)) => Ok(Some(t)),
            Some(Err(e)) => {
                tracing::error!(team = %id, error = %e, "a team document is not readable: the engine keeps the last readable one");
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// A team document: the engine's copy if it holds one, else read (and not kept: the engine
    /// holds the teams of the shifts it evaluates, within `alerts.teams_max_bytes`).
    async fn team(&self, id: TeamId) -> Result<Option<Arc<Team>>, StorageError> {
        if let Some(t) = self.state.lock().await.team(id) {
            return Ok(Some(t));
        }
        Ok(self.read_team(id).await?.map(Arc::new))
    }

    /// Evaluates every shift whose next deadline or escalation step is due at `now`. Returns how
    /// many shifts were looked at.
    pub async fn run_due(&self, now: i64) -> Result<usize, StorageError> {
        let due: Vec<ShiftId> = {
            let st = self.state.lock().await;
            st.wake.iter().take_while(|(t, _)| *t <= now).map(|(_, id)| *id).collect()
        };
        self.evaluate_all(due, now).await
    }

    /// Re-evaluates every watched shift at `now` (what a start does after loading; benchmarks).
    pub async fn rescan(&self, now: i64) -> Result<usize, StorageError> {
        let ids: Vec<ShiftId> = {
            let st = self.state.lock().await;
            st.shifts.keys().chain(st.evicted.keys()).copied().collect()
        };
        self.evaluate_all(ids, now).await
    }

    /// Evaluates shifts `ids` at `now` (see [`AlertEngine::evaluate_with`]). Returns how many.
    async fn evaluate_all(&self, ids: Vec<ShiftId>, now: i64) -> Result<usize, StorageError> {
        self.evaluate_with(ids, Vec::new(), now).await
    }

    /// Holds the shifts `fresh` (just read) and evaluates shifts `ids` at `now`, first reading
    /// what that needs and the engine does not hold: the shed shifts among them and the team
    /// documents of all of them (before the state lock is taken, as every document read). Then
    /// keeps the held shifts and teams within their budgets. Returns how many were evaluated.
    async fn evaluate_with(&self, ids: Vec<ShiftId>, fresh: Vec<Read>, now: i64) -> Result<usize, StorageError> {
        let (shed, teams): (Vec<ShiftId>, Vec<TeamId>) = {
            let st = self.state.lock().await;
            let fresh_ids: HashSet<ShiftId> = fresh.iter().map(|r| r.id).collect();
            let shed =
                ids.iter().filter(|id| st.evicted.contains_key(id) && !fresh_ids.contains(id)).copied().collect();
            let mut teams: Vec<TeamId> = ids
                .iter()
                .filter_map(|id| st.team_of(id))
                .chain(fresh.iter().map(|r| r.w.team))
                .filter(|t| !st.teams.contains_key(t))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            teams.sort_unstable_by_key(|t| t.uuid());
            (shed, teams)
        };
        let read = if shed.is_empty() { Vec::new() } else { self.read_shifts(shed.clone(), now).await? };
        // The teams of shed shifts are known without reading them (`State::evicted`); a shift
        // read here that moved to another team is evaluated later with its new team read then.
        let got = if teams.is_empty() {
            Vec::new()
        } else {
            self.docs.read_many(teams.iter().map(|t| t.uuid()).collect(), |d| team::read(&d.doc)).await?
        };
        let mut st = self.state.lock().await;
        let mut unreadable: HashSet<TeamId> = HashSet::new();
        for (id, t) in teams.into_iter().zip(got) {
            match t {
                // Unless a newer copy came meanwhile (a change to it was taken in).
                Some(Ok(t)) if !st.teams.contains_key(&id) => st.hold_team(t),
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::error!(team = %id, error = %e, "a team document is not readable");
                    unreadable.insert(id);
                }
                None => {
                    unreadable.insert(id);
                }
            }
        }
        for r in fresh {
            st.hold(r.id, r.w);
        }
        if !read.is_empty() {
            st.shedding.shifts_read_again += read.len() as u64;
            metrics::counter!("kith_deadline_shifts_read_again_total").increment(read.len() as u64);
        }
        let mut found = HashSet::new();
        for r in read {
            let id = r.id;
            found.insert(id);
            // Unless something brought it back meanwhile (a change read it: that copy is as new).
            if st.evicted.contains_key(&id) && !st.shifts.contains_key(&id) {
                st.hold(id, r.w);
            }
        }
        for id in shed.iter().filter(|id| !found.contains(id)) {
            // Gone or unreadable (logged by the read): not watched, as a load would leave it.
            if st.evicted.remove(id).is_some() {
                if let Some(t) = st.wake_of.remove(id) {
                    st.wake.remove(&(t, *id));
                }
                st.known.remove(id);
                tracing::error!(shift = %id, "a shift shed from memory could not be read again: it is not watched");
            }
        }
        for id in &ids {
            self.evaluate(&mut st, *id, now, &unreadable).await?;
        }
        st.shed(self.max_bytes);
        st.shed_teams(self.teams_max_bytes);
        Ok(ids.len())
    }

    /// The earliest moment something is due (for the ticker).
    pub async fn next_wake(&self) -> Option<i64> {
        self.state.lock().await.wake.iter().next().map(|(t, _)| *t)
    }

    /// How many shifts are watched (held in memory or shed).
    pub async fn watched(&self) -> usize {
        let st = self.state.lock().await;
        st.shifts.len() + st.evicted.len()
    }

    /// How many watched shifts are held in memory, and their estimated bytes with their map's
    /// table (`alerts.shifts_max_bytes` bounds them).
    pub async fn held(&self) -> (usize, usize) {
        let st = self.state.lock().await;
        (st.shifts.len(), st.held_bytes + st.shifts.bytes())
    }

    /// How many alert keys the engine knows are stored (of the shifts it watches).
    pub async fn known_alert_keys(&self) -> usize {
        self.state.lock().await.known.values().map(HashSet::len).sum()
    }

    /// How many team documents the engine holds, and their estimated bytes
    /// (`alerts.teams_max_bytes` bounds them).
    pub async fn held_teams(&self) -> (usize, usize) {
        let st = self.state.lock().await;
        (st.teams.len(), st.teams_bytes + st.teams.bytes())
    }

    /// What the byte budgets have cost so far: shifts and teams let go, shed shifts read again.
    pub async fn shedding(&self) -> Shedding {
        self.state.lock().await.shedding
    }

    /// Whether the engine holds shift `id` in memory (watched and not shed).
    pub async fn holds(&self, id: ShiftId) -> bool {
        self.state.lock().await.shifts.contains_key(&id)
    }

    /// Whether the engine holds team `id`'s document.
    pub async fn holds_team(&self, id: TeamId) -> bool {
        self.state.lock().await.teams.contains_key(&id)
    }

    /// Brings one shift's alerts in line with the rules at `now`.
    /// `unreadable`: team documents just found missing or unreadable (not to be read again at once).
    async fn evaluate(
        &self,
        st: &mut State,
        id: ShiftId,
        now: i64,
        unreadable: &HashSet<TeamId>,
    ) -> Result<(), StorageError> {
        if st.evicted.contains_key(&id) && !st.shifts.contains_key(&id) {
            // Shed from memory: due at once, read again by the next run of the ticker
            // ([`AlertEngine::evaluate_all`]). Its wake time is all that is kept of it.
            st.schedule(id, now);
            self.wake.notify_one();
            return Ok(());
        }
        if let Some(t) = st.wake_of.remove(&id) {
            st.wake.remove(&(t, id));
        }
        // Taken out while it is evaluated (so the state can change meanwhile), put back unless it
        // ended with nothing left open.
        let Some(mut w) = st.unhold(id) else { return Ok(()) };
        match self.evaluate_watched(st, id, &w, now, unreadable).await {
            Ok(keep) => {
                if keep {
                    // The alerts of its support and emergency check-ins are stored now: the copy
                    // need not keep them to raise them (the domain keys are those `known` holds).
                    if let Some(known) = st.known.get(&id) {
                        w.summary.forget_raised(|key| known.contains(&format!("{id}:{key}")));
                    }
                    st.hold(id, w);
                } else {
                    st.known.remove(&id);
                }
                Ok(())
            }
            Err(e) => {
                // Storage failed half way: look again shortly (what was stored is kept; the rest
                // is decided again from it). The keys known stored are forgotten: one whose insert
                // failed is not stored, and one inserted just before the failure is not among the
                // open alerts watched; either is raised, or found stored, again by its key, as
                // after a restart.
                st.known.remove(&id);
                st.hold(id, w);
                st.schedule(id, now.saturating_add(1000));
                Err(e)
            }
        }
    }

    /// [`AlertEngine::evaluate`] of a shift taken out of the state; whether to keep watching it.
    async fn evaluate_watched(
        &self,
        st: &mut State,
        id: ShiftId,
        w: &Watched,
        now: i64,
        unreadable: &HashSet<TeamId>,
    ) -> Result<bool, StorageError> {
        let Some(team) = st.team(w.team) else {
            let t = if unreadable.contains(&w.team) {
                // Its team document is not readable: look again shortly rather than never.
                tracing::error!(shift = %id, "the shift's team document is not readable: evaluating it later");
                now.saturating_add(60_000)
            } else {
                // Not held (its team moved, or was dropped meanwhile): due at once, and the next
                // run of the ticker reads it first ([`AlertEngine::evaluate_with`]).
                self.wake.notify_one();
                now
            };
            st.wake.insert((t, id));
            st.wake_of.insert(id, t);
            return Ok(true);
        };
        let policy = &team.policy;
        let tnow = Timestamp(now);
        let tl = w.summary.timeline(tnow);
        let mut wanted = alerts::wanted(&tl, policy, tnow);
        // Domain keys are unique within a shift; the table's are unique across all shifts.
        for w in &mut wanted {
            w.key = format!("{id}:{}", w.key);
        }
        let audience = Audience::of(&team, w.worker, &w.buddies);
        // Only a check-in resolution names a check-in: the latest, which the copy knows.
        let times = |c: CheckInId| w.times(c, tnow);
        let (worker, shift_id, team_of) = (w.worker, id, w.team);
        let extensions = tl.extensions;
        let ended = tl.ended_at.is_some();
        // A copy: if storage fails half way, what the engine knew stays as it was, and the retry
        // decides again from it and from what was stored (an alert raised or resolved meanwhile
        // is found by its key, a step fired by its index).
        let mut open = st.open.get(&id).cloned().unwrap_or_default();

        // Resolve what no longer applies.
        let mut keep = Vec::new();
        for a in open.drain(..) {
            let still = wanted.iter().any(|x| x.key == a.key);
            match alerts::resolution(a.kind, Timestamp(a.opened_at), a.checkin, a.extensions_then, &tl, still) {
                None => keep.push(a),
                Some(res) => keep.extend(self.resolve_with(&team, &audience, a, res, &times, now).await?),
            }
        }
        // Raise what is new.
        let mut raised = Vec::new();
        for wa in wanted {
            if st.known.get(&id).is_some_and(|k| k.contains(&wa.key)) || keep.iter().any(|a| a.key == wa.key) {
                continue;
            }
            let rec = AlertRecord {
                id: Uuid::now_v7(),
                key: wa.key.clone(),
                team: team_of,
                shift: shift_id,
                worker,
                kind: wa.kind,
                urgent: wa.kind.urgent(),
                opened_at: wa.opened_at.0,
                due: wa.due.map(|d| d.0),
                checkin: wa.checkin,
                chain: wa.chain,
                extensions_then: extensions,
                steps_fired: 0,
                state: AlertState::Open,
                claimed_by: None,
                claimed_at: None,
                resolved_at: None,
                resolution: None,
                resolved_by: None,
                note: None,
            };
            st.known.entry(id).or_default().insert(wa.key);
            if self.storage.insert_alert(rec.clone(), None).await? {
                metrics::counter!("kith_alerts_raised_total", "kind" => rec.kind.as_str()).increment(1);
                raised.push(rec.id);
                keep.push(rec);
            } else if let Some(stored) = self.stored_unresolved(team_of, &rec.key).await? {
                // Raised meanwhile by another instance on the same database: watched here too,
                // so its later steps fire even if that instance is gone by then.
                keep.push(stored);
            }
        }
        // Fire the steps that are due, in order, once each.
        let mut next: Option<i64> = alerts::next_wake(&tl, policy, tnow).map(|t| t.0);
        for a in keep.iter_mut().filter(|a| a.state == AlertState::Open) {
            let opened = Timestamp(a.opened_at);
            for i in alerts::steps_due(opened, &a.chain, a.steps_fired, tnow) {
                let notify = a.chain[i].notify;
                a.steps_fired = i + 1;
                let view = self.view(&team, a, &times);
                let ev = webhook_event(a, "step", Some((i, notify)), &view, now);
                let step = FiredStep { index: i, notify, fired_at: now };
                if self.storage.fire_step(a.id, step, Some(ev)).await? {
                    metrics::counter!("kith_alert_steps_total", "notify" => notify.to_string()).increment(1);
                    self.publish(team_of, audience.for_step(notify), "step", Some((i, notify)), view);
                } else if let Some(stored) = self.storage.alert(a.id).await? {
                    // Fired, claimed or resolved by another instance: go on from what is stored.
                    *a = stored;
                    break;
                }
            }
        }
        // An alert just raised for a check-in replaced since (it was the latest when it arrived,
        // the engine looked later): everyone was told above; it is resolved at once.
        let mut still_open = Vec::with_capacity(keep.len());
        for a in keep {
            let res = raised
                .contains(&a.id)
                .then(|| alerts::resolution(a.kind, Timestamp(a.opened_at), a.checkin, a.extensions_then, &tl, true))
                .flatten();
            match res {
                Some(res) => still_open.extend(self.resolve_with(&team, &audience, a, res, &times, now).await?),
                None => still_open.push(a),
            }
        }
        for a in still_open.iter().filter(|a| a.state == AlertState::Open) {
            if let Some(t) = alerts::step_at(Timestamp(a.opened_at), &a.chain, a.steps_fired) {
                next = Some(next.map_or(t.0, |n| n.min(t.0)));
            }
        }
        if still_open.is_empty() {
            st.open.remove(&id);
        } else {
            st.open.insert(id, still_open);
        }
        if ended && !st.open.contains_key(&id) {
            return Ok(false);
        }
        if let Some(t) = next {
            st.wake.insert((t, id));
            st.wake_of.insert(id, t);
            self.wake.notify_one();
        }
        Ok(true)
    }

    /// Stores an alert's resolution and tells everyone concerned; returns the alert if it is still
    /// unresolved (someone changed it meanwhile).
    async fn resolve_with(
        &self,
        team: &Team,
        audience: &Audience,
        mut a: AlertRecord,
        res: Resolution,
        times: &(dyn Fn(CheckInId) -> Option<CheckinTimes> + Sync),
        now: i64,
    ) -> Result<Option<AlertRecord>, StorageError> {
        let expect = a.state;
        a.state = AlertState::Resolved;
        a.resolved_at = Some(now);
        a.resolution = Some(res);
        let view = self.view(team, &a, times);
        let ev = webhook_event(&a, "resolved", None, &view, now);
        if self.storage.update_alert(a.clone(), expect, Some(ev)).await? {
            self.publish(a.team, audience.everyone(), "resolved", None, view);
            return Ok(None);
        }
        // Changed elsewhere meanwhile: keep what is stored.
        Ok(self.storage.alert(a.id).await?.filter(|cur| cur.state != AlertState::Resolved))
    }

    fn publish(
        &self,
        team: TeamId,
        members: Vec<MemberId>,
        action: &str,
        step: Option<(usize, Notify)>,
        alert: AlertView,
    ) {
        let event = AlertEvent {
            action: action.into(),
            notify: step.map(|s| s.1.to_string()),
            step: step.map(|s| u32::try_from(s.0).unwrap_or(u32::MAX)),
            alert,
        };
        if let Some(relay) = self.relay.get() {
            let told = Relayed { from: self.instance, team, members: members.clone(), event: event.clone() };
            match serde_json::to_string(&told) {
                // NOTIFY carries less than 8000 bytes.
                Ok(m) if m.len() < 7900 => relay.offer(team, m),
                Ok(_) => tracing::warn!("an alert event is too large to tell the other instances"),
                Err(e) => tracing::warn!(error = %e, "could not write an alert event for the other instances"),
            }
        }
        self.live.publish(LiveEvent::Alert { team, members, event: Box::new(event) });
    }

    /// An alert as shown to people, with names from the team document and the three times of
    /// the check-in that resolved it.
    fn view(
        &self,
        team: &Team,
        a: &AlertRecord,
        times: &(dyn Fn(CheckInId) -> Option<CheckinTimes> + Sync),
    ) -> AlertView {
        let name = |m: MemberId| team.member(m).map(|x| x.name.clone()).unwrap_or_else(|| "someone".into());
        let resolving = match a.resolution {
            Some(Resolution::CheckIn { checkin, .. }) => times(checkin),
            _ => None,
        };
        let next_step_at = (a.state == AlertState::Open)
            .then(|| alerts::step_at(Timestamp(a.opened_at), &a.chain, a.steps_fired).map(|t| t.0))
            .flatten();
        AlertView {
            id: a.id,
            kind: a.kind.as_str().into(),
            urgent: a.urgent,
            state: a.state,
            team: a.team.uuid(),
            shift: a.shift.uuid(),
            worker: a.worker.uuid(),
            worker_name: name(a.worker),
            opened_at: a.opened_at,
            due: a.due,
            checkin: a.checkin.map(|c| c.uuid()),
            steps_fired: u32::try_from(a.steps_fired).unwrap_or(u32::MAX),
            notified: a.chain.iter().take(a.steps_fired).map(|s| s.notify.to_string()).collect(),
            next_step_at,
            claimed_by: a.claimed_by.map(|m| m.uuid()),
            claimed_by_name: a.claimed_by.map(name),
            claimed_at: a.claimed_at,
            resolved_at: a.resolved_at,
            resolved_by: a.resolution.as_ref().map(|r| resolution_name(r).to_string()),
            resolving_checkin: resolving,
            late_checkin: matches!(a.resolution, Some(Resolution::CheckIn { prevented: true, .. })),
            note: a.note.clone(),
            worker_phone: team.member(a.worker).and_then(|m| m.phone.clone()),
            said: None,
            history: Vec::new(),
        }
    }

    /// Who a shift's alerts concern, and the three times of the check-ins `names` (those their
    /// resolutions name): from the engine's copy if it watches the shift and knows them (the
    /// latest check-in's), else read from the document and the stored receipts.
    async fn shift_info(&self, id: ShiftId, names: &[CheckInId], now: i64) -> Result<Option<ShiftInfo>, StorageError> {
        let now = Timestamp(now);
        if let Some(w) = self.state.lock().await.shifts.get(&id)
            && let Some(times) = names.iter().map(|c| w.times(*c, now).map(|t| (*c, t))).collect::<Option<_>>()
        {
            return Ok(Some(ShiftInfo { worker: w.worker, buddies: w.buddies.clone(), times }));
        }
        let Some(Ok(s)) = self.docs.with_doc(id.uuid(), |d| shift::read(&d.doc)).await? else { return Ok(None) };
        let stored = self.storage.shift_receipts(vec![id]).await?;
        let receipts = stored.first().map(receipts::to_domain).unwrap_or_default();
        let times =
            names.iter().filter_map(|c| receipts::checkin_times(&s, &receipts, *c, now).map(|t| (*c, t))).collect();
        Ok(Some(ShiftInfo { worker: s.worker, buddies: s.buddies, times }))
    }

    /// Alerts a device may see, newest first (unresolved only unless `all`).
    pub async fn list(&self, dev: &DeviceAuth, all: bool) -> Result<Vec<AlertView>, AlertError> {
        let team_id = dev.device.team;
        let records = self.storage.alerts(Some(team_id), !all, 500).await?;
        let Some(team) = self.team(team_id).await? else { return Err(unreadable_team(team_id)) };
        let now = self.clock.now_ms();
        let mut names: HashMap<ShiftId, Vec<CheckInId>> = HashMap::new();
        for a in &records {
            if let Some(Resolution::CheckIn { checkin, .. }) = a.resolution {
                names.entry(a.shift).or_default().push(checkin);
            }
        }
        let mut shifts: HashMap<ShiftId, Option<ShiftInfo>> = HashMap::new();
        let mut out = Vec::new();
        for a in records {
            if let std::collections::hash_map::Entry::Vacant(e) = shifts.entry(a.shift) {
                let names = names.get(&a.shift).map_or(&[][..], Vec::as_slice);
                e.insert(self.shift_info(a.shift, names, now).await?);
            }
            let info = shifts.get(&a.shift).and_then(Option::as_ref);
            let buddies = info.map(|i| Audience::of(&team, i.worker, &i.buddies).buddies).unwrap_or_default();
            if may_see(dev, &a, &buddies) {
                let times = |c: CheckInId| info.and_then(|i| i.times.get(&c).cloned());
                out.push(self.view(&team, &a, &times));
            }
        }
        Ok(out)
    }

    /// `who` takes the alert: everyone sees who owns it, and its chain stops.
    pub async fn claim(&self, dev: &DeviceAuth, id: Uuid, now: i64) -> Result<AlertView, AlertError> {
        let (team, a, info, audience) = self.for_action(dev, id, now).await?;
        let times = |c: CheckInId| info.times.get(&c).cloned();
        let me = dev.device.member;
        if a.worker == me {
            return Err(AlertError::Forbidden(
                "You cannot claim an alert about yourself: check in or end your shift to resolve it.".into(),
            ));
        }
        if !dev.role.is_lead() && !audience.buddies.contains(&me) {
            return Err(AlertError::Forbidden(
                "Only a lead or one of the worker's buddies can claim this alert.".into(),
            ));
        }
        match a.state {
            AlertState::Resolved => return Err(AlertError::Conflict("This alert is already resolved.".into())),
            AlertState::Claimed if a.claimed_by == Some(me) => return Ok(self.view(&team, &a, &times)),
            AlertState::Claimed => {
                let who = a.claimed_by.and_then(|m| team.member(m)).map_or("someone", |m| m.name.as_str());
                return Err(AlertError::Conflict(format!("{who} has already claimed this alert: talk to them.")));
            }
            AlertState::Open => {}
        }
        let mut rec = a.clone();
        rec.state = AlertState::Claimed;
        rec.claimed_by = Some(me);
        rec.claimed_at = Some(now);
        let view = self.view(&team, &rec, &times);
        let ev = webhook_event(&rec, "claimed", None, &view, now);
        // Under the engine's lock, so no step of this alert fires while it is being claimed.
        let log = AlertLogEntry { at: now, action: "claimed".into(), by: me, target: None, note: None };
        let mut st = self.state.lock().await;
        if !self.storage.update_alert_logged(rec.clone(), AlertState::Open, None, Some(ev), log).await? {
            return Err(AlertError::Conflict("The alert changed meanwhile: list alerts again and retry.".into()));
        }
        replace_open(&mut st, rec);
        drop(st);
        self.publish(team.id, audience.everyone(), "claimed", None, view.clone());
        Ok(view)
    }

    /// A lead takes over an alert someone else claimed (or claims an open one): they own it from
    /// now on, everyone concerned sees it, and it is in the alert's history.
    pub async fn take_over(&self, dev: &DeviceAuth, id: Uuid, now: i64) -> Result<AlertView, AlertError> {
        if !dev.role.is_lead() {
            return Err(AlertError::Forbidden(
                "Only a lead can take over an alert: ask the person who owns it, or a lead.".into(),
            ));
        }
        self.give(dev, id, dev.device.member, now).await
    }

    /// A lead gives an alert to a lead or a buddy of the worker, who owns it from now on.
    pub async fn assign(&self, dev: &DeviceAuth, id: Uuid, to: MemberId, now: i64) -> Result<AlertView, AlertError> {
        if !dev.role.is_lead() {
            return Err(AlertError::Forbidden("Only a lead can give an alert to someone else.".into()));
        }
        self.give(dev, id, to, now).await
    }

    /// Makes `to` the owner of alert `id`, on behalf of the lead `dev`.
    async fn give(&self, dev: &DeviceAuth, id: Uuid, to: MemberId, now: i64) -> Result<AlertView, AlertError> {
        let (team, a, info, audience) = self.for_action(dev, id, now).await?;
        let times = |c: CheckInId| info.times.get(&c).cloned();
        let me = dev.device.member;
        let Some(owner) = team.member(to) else {
            return Err(AlertError::Invalid(
                "There is no such member in your team: pick a lead or one of the worker's buddies.".into(),
            ));
        };
        if to == a.worker {
            return Err(AlertError::Invalid(format!(
                "{} is the person this alert is about: give it to a lead or one of their buddies.",
                owner.name
            )));
        }
        if !owner.role.is_lead() && !audience.buddies.contains(&to) {
            return Err(AlertError::Invalid(format!(
                "{} is neither a lead nor one of {}'s buddies, so they would not be told about it: pick someone who is.",
                owner.name,
                team.member(a.worker).map_or("the worker", |w| w.name.as_str())
            )));
        }
        if a.state == AlertState::Resolved {
            return Err(AlertError::Conflict("This alert is already resolved.".into()));
        }
        if a.claimed_by == Some(to) {
            return Ok(self.view(&team, &a, &times));
        }
        let (action, target) = if to == me { ("taken_over", a.claimed_by) } else { ("assigned", Some(to)) };
        let action = if to == me && a.claimed_by.is_none() { "claimed" } else { action };
        let mut rec = a.clone();
        rec.state = AlertState::Claimed;
        rec.claimed_by = Some(to);
        rec.claimed_at = Some(now);
        let view = self.view(&team, &rec, &times);
        let ev = webhook_event(&rec, action, None, &view, now);
        let log = AlertLogEntry { at: now, action: action.into(), by: me, target, note: None };
        let mut st = self.state.lock().await;
        if !self.storage.update_alert_logged(rec.clone(), a.state, a.claimed_by, Some(ev), log).await? {
            return Err(AlertError::Conflict("The alert changed meanwhile: list alerts again and retry.".into()));
        }
        replace_open(&mut st, rec);
        drop(st);
        let mut told = audience.everyone();
        if !told.contains(&to) {
            told.push(to);
        }
        self.publish(team.id, told, action, None, view.clone());
        Ok(view)
    }

    /// The person who claimed the alert resolves it, with a note.
    pub async fn resolve(&self, dev: &DeviceAuth, id: Uuid, note: &str, now: i64) -> Result<AlertView, AlertError> {
        let (team, a, info, audience) = self.for_action(dev, id, now).await?;
        let times = |c: CheckInId| info.times.get(&c).cloned();
        let me = dev.device.member;
        match a.state {
            AlertState::Resolved => return Err(AlertError::Conflict("This alert is already resolved.".into())),
            AlertState::Open => {
                return Err(AlertError::Conflict(format!(
                    "Claim the alert before resolving it, so everyone knows who owns it: kith alerts claim {id}"
                )));
            }
            AlertState::Claimed if a.claimed_by != Some(me) => {
                return Err(AlertError::Forbidden("Only the person who claimed this alert can resolve it.".into()));
            }
            AlertState::Claimed => {}
        }
        let mut rec = a.clone();
        rec.state = AlertState::Resolved;
        rec.resolved_at = Some(now);
        rec.resolution = Some(Resolution::Claimer);
        rec.resolved_by = Some(me);
        rec.note = Some(note.to_string());
        let view = self.view(&team, &rec, &times);
        let ev = webhook_event(&rec, "resolved", None, &view, now);
        let log = AlertLogEntry { at: now, action: "resolved".into(), by: me, target: None, note: Some(note.into()) };
        let mut st = self.state.lock().await;
        if !self.storage.update_alert_logged(rec.clone(), AlertState::Claimed, Some(me), Some(ev), log).await? {
            return Err(AlertError::Conflict("The alert changed meanwhile: list alerts again and retry.".into()));
        }
        replace_open(&mut st, rec);
        drop(st);
        self.publish(team.id, audience.everyone(), "resolved", None, view.clone());
        Ok(view)
    }

    async fn for_action(
        &self,
        dev: &DeviceAuth,
        id: Uuid,
        now: i64,
    ) -> Result<(Arc<Team>, AlertRecord, ShiftInfo, Audience), AlertError> {
        let a = self.storage.alert(id).await?.filter(|a| a.team == dev.device.team).ok_or(AlertError::NotFound)?;
        let team = self.team(a.team).await?.ok_or_else(|| unreadable_team(a.team))?;
        let names: Vec<CheckInId> = match a.resolution {
            Some(Resolution::CheckIn { checkin, .. }) => vec![checkin],
            _ => Vec::new(),
        };
        let info = self.shift_info(a.shift, &names, now).await?.ok_or_else(|| {
            AlertError::Internal(format!("the shift {} of alert {} is missing or not readable", a.shift, a.id))
        })?;
        let audience = Audience::of(&team, info.worker, &info.buddies);
        if !may_see(dev, &a, &audience.buddies) {
            return Err(AlertError::NotFound);
        }
        Ok((team, a, info, audience))
    }
}

/// Who a shift's alerts concern, and the times of the check-ins their views name
/// ([`AlertEngine::shift_info`]).
struct ShiftInfo {
    worker: MemberId,
    buddies: Vec<MemberId>,
    times: HashMap<CheckInId, CheckinTimes>,
}

fn unreadable_team(team: TeamId) -> AlertError {
    AlertError::Internal(format!("the team document of {team} is missing or not readable"))
}

/// The copy `notes`, in order, make of `w` (None: not held), or None if they cannot make it: they
/// do not follow on from it, or what they did needs the whole shift read (a whole shift of one
/// held, whose earlier receipts the copy does not keep; see also [`Summary::add`]). `now`: when
/// they are taken in. O(the notes): `w` is copied, not changed, so a refusal leaves it as it was.
fn notes_apply(w: Option<&Watched>, notes: &[Committed], now: i64) -> Option<Watched> {
    let mut cur: Option<Watched> = None;
    for n in notes {
        let Committed { note, tracking, .. } = n;
        let heads = cur.as_ref().or(w).map(|w| &w.heads);
        let next = match (&note.update, heads) {
            // A document new to the server: every receipt is in the note.
            (ShiftUpdate::Whole(s), None) if note.before.is_empty() => {
                let mut r = ShiftReceipts::default();
                if let Some(t) = tracking {
                    r.header =
                        alerts::Receipt { received_at: Timestamp(t.shift.first_seen), offset_ms: t.shift.offset_ms };
                    receipts::apply_tracking(&mut r, t);
                }
                Watched::new(s, note.after.clone(), &r, now, note.odd_keys)
            }
            (ShiftUpdate::Whole(_), _) => return None,
            (ShiftUpdate::Added(a), Some(h)) if *h == note.before => {
                let mut next = match cur.take() {
                    Some(c) => c,
                    None => w?.clone(),
                };
                let mut r = ShiftReceipts::default();
                if let Some(t) = tracking {
                    receipts::apply_tracking(&mut r, t);
                }
                next.summary.add(a, &r).ok()?;
                next.heads = note.after.clone();
                next
            }
            (ShiftUpdate::Added(_), _) => return None,
        };
        cur = Some(next);
    }
    cur
}

/// Puts a person's action on an alert into the engine's state (a shift with none left open has
/// no entry).
fn replace_open(st: &mut State, rec: AlertRecord) {
    let shift = rec.shift;
    let list = st.open.entry(shift).or_default();
    list.retain(|a| a.id != rec.id);
    if rec.state != AlertState::Resolved {
        list.push(rec);
    } else if list.is_empty() {
        st.open.remove(&shift);
    }
}

/// Leads see every alert of their team; a member sees alerts about themselves and the workers
/// they are a buddy of.
fn may_see(dev: &DeviceAuth, a: &AlertRecord, buddies: &[MemberId]) -> bool {
    dev.role.is_lead() || a.worker == dev.device.member || buddies.contains(&dev.device.member)
}

/// Who an alert concerns.
#[derive(Debug, Clone)]
pub(crate) struct Audience {
    worker: MemberId,
    pub(crate) buddies: Vec<MemberId>,
    leads: Vec<MemberId>,
}

impl Audience {
    /// Who the alerts of `worker`'s shift concern; `buddies`: those the worker chose for it.
    pub(crate) fn of(team: &Team, worker: MemberId, buddies: &[MemberId]) -> Audience {
        let mut buddies: Vec<MemberId> = buddies.to_vec();
        if let Some(m) = team.member(worker) {
            buddies.extend(m.buddies.iter().copied());
        }
        buddies.retain(|b| *b != worker);
        buddies.sort();
        buddies.dedup();
        let leads = team.members.iter().filter(|m| matches!(m.role, Role::Lead | Role::Admin)).map(|m| m.id).collect();
        Audience { worker, buddies, leads }
    }

    pub(crate) fn for_step(&self, n: Notify) -> Vec<MemberId> {
        match n {
            Notify::Worker => vec![self.worker],
            Notify::Buddies => self.buddies.clone(),
            Notify::Leads => self.leads.clone(),
        }
    }

    fn everyone(&self) -> Vec<MemberId> {
        let mut v = vec![self.worker];
        v.extend(self.buddies.iter().copied());
        v.extend(self.leads.iter().copied());
        v.sort();
        v.dedup();
        v
    }
}

/// The webhook body of an alert event; its idempotency key is the same however often it is built.
fn webhook_event(
    a: &AlertRecord,
    action: &str,
    step: Option<(usize, Notify)>,
    view: &AlertView,
    now: i64,
) -> WebhookEvent {
    let key = match (step, a.claimed_by) {
        (Some((i, _)), _) => format!("alert:{}:step:{i}", a.id),
        // An alert may change hands more than once: each change of owner is its own event.
        (None, Some(owner)) if matches!(action, "taken_over" | "assigned") => {
            format!("alert:{}:{action}:{now}:{owner}", a.id)
        }
        (None, _) => format!("alert:{}:{action}", a.id),
    };
    let body = serde_json::json!({
        "id": key,
        "event": format!("alert.{action}"),
        "at": now,
        "step": step.map(|s| s.0),
        "notify": step.map(|s| s.1.to_string()),
        "alert": view,
    });
    WebhookEvent { team: a.team, key, body: body.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_domain::{CheckIn, CheckInStatus, DeviceId, Member, Note, Policy, Secs, Visibility};

    fn team(members: usize) -> Team {
        Team {
            id: TeamId::new(),
            name: "North estate".into(),
            purpose: String::new(),
            phone: None,
            policy: Policy::default(),
            members: (0..members).map(|i| Member::new(MemberId::new(), format!("Member {i}"), Role::Member)).collect(),
        }
    }

    #[test]
    fn the_held_teams_keep_to_their_byte_budget_and_the_soonest_due_stay() {
        let one = team_bytes(&team(5));
        let max = 10 * one;
        let mut st = State::default();
        let mut teams = Vec::new();
        for i in 0..100i64 {
            let t = team(5);
            let id = t.id;
            // Team i has a shed shift due at minute 100 - i: the later added, the sooner due.
            let shift = ShiftId::new();
            st.evicted.insert(shift, id);
            st.schedule(shift, (100 - i) * 60_000);
            st.hold_team(t);
            st.shed_teams(max);
            assert!(st.teams_bytes + st.teams.bytes() <= max, "{} bytes held, over {max}", st.teams_bytes);
            assert_eq!(st.teams_bytes, st.teams.values().map(|t| team_bytes(&t.team)).sum::<usize>());
            teams.push(id);
        }
        assert!(st.teams.len() >= 7, "sheds to 7/8 of the budget, no further: {} held", st.teams.len());
        for id in &teams[100 - st.teams.len()..] {
            assert!(st.teams.contains_key(id), "the teams due soonest are held");
        }
        // A team with no shift due goes before any that has one.
        let idle = team(5);
        let idle_id = idle.id;
        let soonest = *teams.last().unwrap();
        st.hold_team(idle);
        st.shed_teams(2 * one);
        assert!(!st.teams.contains_key(&idle_id) && st.teams.contains_key(&soonest));
        assert!(st.teams_bytes + st.teams.bytes() <= 2 * one);
    }

    /// What a held shift's box holds on the heap (the map's slot not included).
    fn heap(w: &Watched) -> usize {
        use std::mem::size_of;
        size_of::<Watched>()
            + w.summary.heap_bytes()
            + w.buddies.capacity() * size_of::<MemberId>()
            + w.heads.capacity() * size_of::<ChangeHash>()
    }

    /// A map's table doubles when it fills: counting its entries at 8/7, not its buckets, the
    /// engine held more than its budgets just past a power of two of shifts or teams.
    #[test]
    fn the_held_shifts_and_teams_hold_no_more_than_their_budgets_as_their_tables_grow() {
        use crate::table::measured;
        let shift = || {
            let s =
                Shift::begin(TeamId::new(), MemberId::new(), "Meter readings", Timestamp(0), Timestamp(1), Secs(60));
            Watched::new(&s, Vec::new(), &ShiftReceipts::default(), 0, false)
        };
        let one = heap(&shift()) + 28;
        // Budgets whose shifts end just past a full table (1,792 or 3,584 shifts).
        for n in [1800usize, 3600] {
            let max = n * one;
            let mut st = State::default();
            for i in 0..2 * n {
                st.hold(ShiftId::new(), shift());
                st.shed(max);
                let held = measured(&st.shifts) + st.shifts.values().map(|w| heap(w)).sum::<usize>();
                assert!(held <= max, "{held} bytes held after {i} shifts, budget {max}");
            }
            assert!(st.shifts.len() * 3 >= n, "only {} shifts held", st.shifts.len());
        }
        // The same of the teams (a team's Arc: two counts and the team).
        let heap = |t: &Team| {
            2 * std::mem::size_of::<usize>()
                + std::mem::size_of::<Team>()
                + t.name.capacity()
                + t.policy.escalation.capacity() * std::mem::size_of::<kith_domain::EscalationStep>()
                + t.members.capacity() * std::mem::size_of::<Member>()
                + t.members
                    .iter()
                    .map(|m| m.name.capacity() + m.buddies.capacity() * std::mem::size_of::<MemberId>())
                    .sum::<usize>()
        };
        let one = heap(&team(1)) + 37;
        for n in [1800usize, 3600] {
            let max = n * one;
            let mut st = State::default();
            for i in 0..2 * n {
                st.hold_team(team(1));
                st.shed_teams(max);
                let held = measured(&st.teams) + st.teams.values().map(|t| heap(&t.team)).sum::<usize>();
                assert!(held <= max, "{held} bytes held after {i} teams, budget {max}");
            }
            assert!(st.teams.len() * 3 >= n, "only {} teams held", st.teams.len());
        }
    }

    #[test]
    fn a_held_shift_takes_the_same_bytes_however_many_checkins_it_has() {
        let member = MemberId::new();
        let shift = Shift::begin(TeamId::new(), member, "Meter readings", Timestamp(0), Timestamp(1), Secs(60));
        let note =
            Some(Note { text: "a note of some length, as workers write them".into(), visibility: Visibility::Team });
        let mut w = Watched::new(&shift, Vec::new(), &ShiftReceipts::default(), 0, false);
        let first = w.bytes();
        for t in 1..=500i64 {
            let c = CheckIn {
                note: note.clone(),
                ..CheckIn::new(CheckInStatus::Ok, Timestamp(t), member, DeviceId::new())
            };
            let r = ShiftReceipts {
                checkins: [(c.id, alerts::Receipt { received_at: Timestamp(t), offset_ms: 0 })].into(),
                ..ShiftReceipts::default()
            };
            w.summary.add(&kith_domain::doc::ShiftAdditions { checkins: vec![c], ..Default::default() }, &r).unwrap();
            assert_eq!(w.bytes(), first, "check-in {t}");
        }
        assert_eq!(w.summary.timeline(Timestamp(600)).last.map(|c| c.device_time), Some(Timestamp(500)));
    }
}
