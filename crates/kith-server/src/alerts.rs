//! The deadline engine: on the server clock, watches every active shift, raises alerts, climbs
//! their escalation chains, resolves them, pushes them over the live channel and queues them for
//! the team's webhook. See docs/alerts.md.
//!
//! Everything it decides is re-derived from stored state (the documents, the check-in receipts,
//! the alert table and its step log), never from in-memory timers alone: [`AlertEngine::load`]
//! rebuilds its index on start, and every alert and every fired step is stored under a unique key
//! before it is announced, so a restart never loses a step and never fires one twice. Time moves
//! only through [`AlertEngine::run_due`] (`now` passed in), which the background ticker calls on
//! the system clock and tests call on a manual clock.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use automerge::ChangeHash;
use kith_domain::alerts::{self, Resolution, Timeline};
use kith_domain::doc::{shift, team};
use kith_domain::{CheckIn, CheckInId, DeviceId, MemberId, Notify, Role, Shift, ShiftId, Team, TeamId, Timestamp};
use kith_proto::Kind;
use uuid::Uuid;

use crate::live::{LiveEvent, LiveHub};
use crate::storage::{
    AlertLogEntry, AlertRecord, AlertState, CheckinReceipt, DeviceAuth, FiredStep, Storage, StorageError, TrackedShift,
    WebhookEvent,
};
use crate::sync::{Changed, ShiftUpdate, SyncService};

/// Device clock offsets are stored again only when they move by more than this (ms): a sync is
/// not worth a write for network jitter.
const OFFSET_WRITE_THRESHOLD_MS: i64 = 1000;

pub use kith_api::{AlertEvent, AlertView, CheckinTimes};

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
}

#[derive(Debug)]
struct Watched {
    meta: TrackedShift,
    shift: Shift,
    /// The heads of the document `shift` was read from.
    heads: Vec<ChangeHash>,
    receipts: HashMap<CheckInId, CheckinReceipt>,
}

#[derive(Debug, Default)]
struct State {
    shifts: HashMap<ShiftId, Watched>,
    /// Unresolved alerts by shift.
    open: HashMap<ShiftId, Vec<AlertRecord>>,
    /// Keys known to be stored already (open or resolved): not raised again.
    known: HashSet<String>,
    wake: BTreeSet<(i64, ShiftId)>,
    wake_of: HashMap<ShiftId, i64>,
    teams: HashMap<TeamId, Team>,
}

/// The deadline engine.
#[derive(Debug)]
pub struct AlertEngine {
    storage: Arc<dyn Storage>,
    live: Arc<LiveHub>,
    state: tokio::sync::Mutex<State>,
    offsets: std::sync::Mutex<HashMap<DeviceId, i64>>,
    /// Woken when a deadline earlier than the ticker's next wake appears.
    pub wake: tokio::sync::Notify,
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
    pub fn new(storage: Arc<dyn Storage>, live: Arc<LiveHub>) -> AlertEngine {
        AlertEngine {
            storage,
            live,
            state: tokio::sync::Mutex::new(State::default()),
            offsets: std::sync::Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Rebuilds the index from storage and evaluates every active shift at `now` (firing anything
    /// that came due while the server was down, once).
    pub async fn load(&self, sync: &SyncService, now: i64) -> Result<(), StorageError> {
        let stored = self.storage.device_offsets().await?;
        self.offsets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(stored);
        let mut st = self.state.lock().await;
        for a in self.storage.alerts(None, true, usize::MAX >> 1).await? {
            st.known.insert(a.key.clone());
            st.open.entry(a.shift).or_default().push(a);
        }
        let tracked = self.storage.active_shifts().await?;
        let mut ids = Vec::with_capacity(tracked.len());
        for t in tracked {
            let Some((shift, heads)) = read_shift(sync, t.shift).await? else { continue };
            let receipts = self.storage.checkin_receipts(t.shift).await?.into_iter().map(|r| (r.checkin, r)).collect();
            ids.push(t.shift);
            st.shifts.insert(t.shift, Watched { meta: t, shift, heads, receipts });
        }
        for id in ids {
            self.evaluate(&mut st, sync, id, now).await?;
        }
        Ok(())
    }

    /// The measured clock offset of a device (server minus device, ms), if any.
    pub fn offset(&self, device: DeviceId) -> Option<i64> {
        self.offsets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&device).copied()
    }

    /// The first receipt of check-in `c` of `shift`, received `now` from device `from` whose clock
    /// offset is `offset`; a check-in made on another device (relayed after a restore) counts
    /// with that device's measured offset.
    pub fn receipt(&self, from: DeviceId, offset: i64, shift: ShiftId, c: &CheckIn, now: i64) -> CheckinReceipt {
        let off = if c.device == from { offset } else { self.offset(c.device).unwrap_or(offset) };
        CheckinReceipt {
            checkin: c.id,
            shift,
            device: c.device,
            device_time: c.device_time.0,
            received_at: now,
            offset_ms: off,
            effective_at: alerts::effective_time(c.device_time, off, Timestamp(now)).0,
        }
    }

    /// After a sync exchange: records the device's clock offset, the receipt of every new
    /// check-in (unless the push stored them with its changes), and re-evaluates the shifts that
    /// changed (an emergency raises its alert here, before the sync is answered).
    pub async fn synced(
        &self,
        sync: &SyncService,
        dev: &DeviceAuth,
        client_time: i64,
        now: i64,
        changed: &[Changed],
    ) -> Result<(), StorageError> {
        let offset = now - client_time;
        let d = dev.device.id;
        let write = {
            let mut o = self.offsets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let old = o.insert(d, offset);
            old.is_none_or(|old| (old - offset).abs() > OFFSET_WRITE_THRESHOLD_MS)
        };
        if write {
            self.storage.set_device_offset(d, offset, now).await?;
        }
        // Every changed shift's receipts in one write, then the evaluations.
        let mut writes = Vec::new();
        let mut shifts = Vec::new();
        for c in changed.iter().filter(|c| c.meta.kind == Kind::Shift) {
            if let Some((id, write)) = self.shift_changed(sync, dev, offset, c, now).await? {
                writes.extend(write);
                shifts.push(id);
            }
        }
        if !writes.is_empty() {
            self.storage.track_shifts(writes).await?;
        }
        if !shifts.is_empty() {
            let mut st = self.state.lock().await;
            for id in shifts {
                self.evaluate(&mut st, sync, id, now).await?;
            }
        }
        for meta in changed.iter().map(|c| &c.meta) {
            match meta.kind {
                Kind::Team => {
                    let mut st = self.state.lock().await;
                    st.teams.remove(&meta.team);
                    let ids: Vec<ShiftId> =
                        st.shifts.iter().filter(|(_, w)| w.meta.team == meta.team).map(|(id, _)| *id).collect();
                    for id in ids {
                        self.evaluate(&mut st, sync, id, now).await?;
                    }
                }
                Kind::Shift => {}
            }
        }
        Ok(())
    }

    /// Takes a changed shift into account in memory; returns what is left to store (the push
    /// stored the tracking row and the receipts of its new check-ins with its changes, when it
    /// could read them). The shift after the push is the push's own reading of it: the whole
    /// shift for a new document, or the entries it added, applied to the shift as last seen here
    /// if nothing else changed the document since (same heads); otherwise the document is read
    /// again. The engine's lock is held only for in-memory work and the evaluation (which writes
    /// only when an alert changes), never across a write, so concurrent check-in syncs are not
    /// serialised behind one another's fsync.
    async fn shift_changed(
        &self,
        sync: &SyncService,
        dev: &DeviceAuth,
        offset: i64,
        changed: &Changed,
        now: i64,
    ) -> Result<Option<(ShiftId, Option<(TrackedShift, Vec<CheckinReceipt>)>)>, StorageError> {
        let id = ShiftId(changed.meta.id);
        let applies = |w: Option<&Watched>| match (&changed.shift, w) {
            (Some(ShiftUpdate::Added { before, .. }), Some(w)) => &w.heads == before,
            _ => false,
        };
        let known = {
            let st = self.state.lock().await;
            let w = st.shifts.get(&id);
            (w.is_some(), applies(w))
        };
        let mut whole = match &changed.shift {
            Some(ShiftUpdate::Whole(s, heads)) => Some((s.clone(), heads.clone())),
            _ if known.1 => None,
            _ => match read_shift(sync, id).await? {
                Some(x) => Some(x),
                None => return Ok(None),
            },
        };
        let stored: Option<HashMap<CheckInId, CheckinReceipt>> = if known.0 {
            None
        } else {
            Some(self.storage.checkin_receipts(id).await?.into_iter().map(|r| (r.checkin, r)).collect())
        };
        let mut st = self.state.lock().await;
        if whole.is_none() && !applies(st.shifts.get(&id)) {
            // Another sync of this shift got in between: read it again.
            drop(st);
            whole = match read_shift(sync, id).await? {
                Some(x) => Some(x),
                None => return Ok(None),
            };
            st = self.state.lock().await;
        }
        let first = !st.shifts.contains_key(&id);
        let w = match (st.shifts.entry(id), whole) {
            (std::collections::hash_map::Entry::Occupied(e), whole) => {
                let w = e.into_mut();
                match (whole, &changed.shift) {
                    (Some((shift, heads)), _) => {
                        w.shift = shift;
                        w.heads = heads;
                    }
                    (None, Some(ShiftUpdate::Added { after, added, .. })) => {
                        added.clone().apply_to(&mut w.shift);
                        w.heads = after.clone();
                    }
                    (None, _) => {}
                }
                w
            }
            (std::collections::hash_map::Entry::Vacant(e), Some((shift, heads))) => e.insert(Watched {
                meta: TrackedShift {
                    shift: id,
                    team: shift.team,
                    worker: shift.worker,
                    offset_ms: offset,
                    first_seen: now,
                    ended_seen: None,
                },
                shift,
                heads,
                receipts: stored.unwrap_or_default(),
            }),
            (std::collections::hash_map::Entry::Vacant(_), None) => return Ok(None),
        };
        for r in &changed.receipts {
            w.receipts.entry(r.checkin).or_insert_with(|| r.clone());
        }
        let mut fresh = Vec::new();
        for c in &w.shift.checkins {
            if w.receipts.contains_key(&c.id) {
                continue;
            }
            let r = self.receipt(dev.device.id, offset, id, c, now);
            w.receipts.insert(c.id, r.clone());
            fresh.push(r);
        }
        // The push stored the row if the shift was new to it, and the end if it wrote it.
        let pushed_end = changed.tracked
            && match &changed.shift {
                Some(ShiftUpdate::Whole(s, _)) => s.ended.is_some(),
                Some(ShiftUpdate::Added { added, .. }) => matches!(added.ended, Some(Some(_))),
                None => false,
            };
        let mut moved = first && !changed.tracked;
        if dev.device.member == w.shift.worker && (w.meta.offset_ms - offset).abs() > OFFSET_WRITE_THRESHOLD_MS {
            w.meta.offset_ms = offset;
            moved = true;
        }
        if w.shift.ended.is_some() && w.meta.ended_seen.is_none() {
            w.meta.ended_seen = Some(now);
            moved |= !pushed_end;
        }
        let tracked = (moved || !fresh.is_empty()).then(|| w.meta.clone());
        Ok(Some((id, tracked.map(|t| (t, fresh)))))
    }

    /// Evaluates every shift whose next deadline or escalation step is due at `now`. Returns how
    /// many shifts were looked at.
    pub async fn run_due(&self, sync: &SyncService, now: i64) -> Result<usize, StorageError> {
        let mut st = self.state.lock().await;
        let due: Vec<ShiftId> = st.wake.iter().take_while(|(t, _)| *t <= now).map(|(_, id)| *id).collect();
        for id in &due {
            self.evaluate(&mut st, sync, *id, now).await?;
        }
        Ok(due.len())
    }

    /// Forgets the cached team document (its roster or policy changed).
    pub async fn forget_team(&self, team: TeamId) {
        self.state.lock().await.teams.remove(&team);
    }

    /// Re-evaluates every watched shift at `now` (what a start does after loading; benchmarks).
    pub async fn rescan(&self, sync: &SyncService, now: i64) -> Result<usize, StorageError> {
        let mut st = self.state.lock().await;
        let ids: Vec<ShiftId> = st.shifts.keys().copied().collect();
        for id in &ids {
            self.evaluate(&mut st, sync, *id, now).await?;
        }
        Ok(ids.len())
    }

    /// The earliest moment something is due (for the ticker).
    pub async fn next_wake(&self) -> Option<i64> {
        self.state.lock().await.wake.iter().next().map(|(t, _)| *t)
    }

    /// How many shifts are watched.
    pub async fn watched(&self) -> usize {
        self.state.lock().await.shifts.len()
    }

    async fn team(&self, st: &mut State, sync: &SyncService, id: TeamId) -> Result<Option<Team>, StorageError> {
        if let Some(t) = st.teams.get(&id) {
            return Ok(Some(t.clone()));
        }
        let Some(Ok(t)) = sync.with_doc(id.uuid(), |d| team::read(&d.doc)).await? else { return Ok(None) };
        st.teams.insert(id, t.clone());
        Ok(Some(t))
    }

    /// Brings one shift's alerts in line with the rules at `now`.
    async fn evaluate(&self, st: &mut State, sync: &SyncService, id: ShiftId, now: i64) -> Result<(), StorageError> {
        if let Some(t) = st.wake_of.remove(&id) {
            st.wake.remove(&(t, id));
        }
        let Some(w) = st.shifts.get(&id) else { return Ok(()) };
        let team_id = w.meta.team;
        let Some(team) = self.team(st, sync, team_id).await? else { return Ok(()) };
        let Some(w) = st.shifts.get(&id) else { return Ok(()) };
        let policy = &team.policy;
        let tnow = Timestamp(now);
        let tl = Timeline::of(
            &w.shift,
            w.meta.offset_ms,
            Timestamp(w.meta.first_seen),
            w.meta.ended_seen.map(Timestamp),
            |c| w.receipts.get(&c).map(|r| (Timestamp(r.received_at), r.offset_ms)),
            tnow,
        );
        let mut wanted = alerts::wanted(&tl, policy, tnow);
        // Domain keys are unique within a shift; the table's are unique across all shifts.
        for w in &mut wanted {
            w.key = format!("{id}:{}", w.key);
        }
        let audience = Audience::of(&team, &w.shift);
        let receipts = w.receipts.clone();
        let (worker, shift_id, team_of) = (w.shift.worker, w.shift.id, w.shift.team);
        let extensions = tl.extensions;
        let ended = tl.ended_at.is_some();

        // Resolve what no longer applies.
        let open = st.open.remove(&id).unwrap_or_default();
        let mut keep = Vec::new();
        for mut a in open {
            let still = wanted.iter().any(|x| x.key == a.key);
            let Some(res) =
                alerts::resolution(a.kind, Timestamp(a.opened_at), a.checkin, a.extensions_then, &tl, still)
            else {
                keep.push(a);
                continue;
            };
            let expect = a.state;
            a.state = AlertState::Resolved;
            a.resolved_at = Some(now);
            a.resolution = Some(res);
            let view = self.view(&team, &a, &receipts);
            let ev = webhook_event(&a, "resolved", None, &view, now);
            if self.storage.update_alert(a.clone(), expect, Some(ev)).await? {
                self.publish(team_of, audience.everyone(), "resolved", None, view);
            } else if let Some(cur) = self.storage.alert(a.id).await?
                && cur.state != AlertState::Resolved
            {
                // Changed elsewhere meanwhile: keep what is stored.
                keep.push(cur);
            }
        }
        // Raise what is new.
        for wa in wanted {
            if st.known.contains(&wa.key) || keep.iter().any(|a| a.key == wa.key) {
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
            st.known.insert(wa.key);
            if self.storage.insert_alert(rec.clone(), None).await? {
                metrics::counter!("kith_alerts_raised_total", "kind" => rec.kind.as_str()).increment(1);
                keep.push(rec);
            }
        }
        // Fire the steps that are due, in order, once each.
        let mut next: Option<i64> = alerts::next_wake(&tl, policy, tnow).map(|t| t.0);
        for a in keep.iter_mut().filter(|a| a.state == AlertState::Open) {
            let opened = Timestamp(a.opened_at);
            for i in alerts::steps_due(opened, &a.chain, a.steps_fired, tnow) {
                let notify = a.chain[i].notify;
                a.steps_fired = i + 1;
                let view = self.view(&team, a, &receipts);
                let ev = webhook_event(a, "step", Some((i, notify)), &view, now);
                let step = FiredStep { index: i, notify, fired_at: now };
                if self.storage.fire_step(a.id, step, Some(ev)).await? {
                    metrics::counter!("kith_alert_steps_total", "notify" => notify.to_string()).increment(1);
                    self.publish(team_of, audience.for_step(notify), "step", Some((i, notify)), view);
                }
            }
            if let Some(t) = alerts::step_at(opened, &a.chain, a.steps_fired) {
                next = Some(next.map_or(t.0, |n| n.min(t.0)));
            }
        }
        if !keep.is_empty() {
            st.open.insert(id, keep);
        }
        if ended && !st.open.contains_key(&id) {
            st.shifts.remove(&id);
        } else if let Some(t) = next {
            st.wake.insert((t, id));
            st.wake_of.insert(id, t);
            self.wake.notify_one();
        }
        Ok(())
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
        self.live.publish(LiveEvent::Alert { team, members, event: Box::new(event) });
    }

    /// An alert as shown to people, with names from the team document.
    fn view(&self, team: &Team, a: &AlertRecord, receipts: &HashMap<CheckInId, CheckinReceipt>) -> AlertView {
        let name = |m: MemberId| team.member(m).map(|x| x.name.clone()).unwrap_or_else(|| "someone".into());
        let resolving = match a.resolution {
            Some(Resolution::CheckIn { checkin, .. }) => receipts.get(&checkin).map(|r| CheckinTimes {
                checkin: checkin.uuid(),
                device_time: r.device_time,
                received_at: r.received_at,
                effective_at: r.effective_at,
            }),
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

    /// Alerts a device may see, newest first (unresolved only unless `all`).
    pub async fn list(&self, sync: &SyncService, dev: &DeviceAuth, all: bool) -> Result<Vec<AlertView>, StorageError> {
        let team_id = dev.device.team;
        let records = self.storage.alerts(Some(team_id), !all, 500).await?;
        let mut st = self.state.lock().await;
        let Some(team) = self.team(&mut st, sync, team_id).await? else { return Ok(vec![]) };
        let mut out = Vec::new();
        for a in records {
            let (receipts, buddies) = match st.shifts.get(&a.shift) {
                Some(w) => (w.receipts.clone(), Audience::of(&team, &w.shift).buddies),
                None => {
                    (self.storage.checkin_receipts(a.shift).await?.into_iter().map(|r| (r.checkin, r)).collect(), {
                        match sync.with_doc(a.shift.uuid(), |d| shift::read(&d.doc)).await? {
                            Some(Ok(s)) => Audience::of(&team, &s).buddies,
                            _ => vec![],
                        }
                    })
                }
            };
            if may_see(dev, &a, &buddies) {
                out.push(self.view(&team, &a, &receipts));
            }
        }
        Ok(out)
    }

    /// `who` takes the alert: everyone sees who owns it, and its chain stops.
    pub async fn claim(
        &self,
        sync: &SyncService,
        dev: &DeviceAuth,
        id: Uuid,
        now: i64,
    ) -> Result<AlertView, AlertError> {
        let (team, a, receipts, audience) = self.for_action(sync, dev, id).await?;
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
            AlertState::Claimed if a.claimed_by == Some(me) => return Ok(self.view(&team, &a, &receipts)),
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
        let view = self.view(&team, &rec, &receipts);
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
    pub async fn take_over(
        &self,
        sync: &SyncService,
        dev: &DeviceAuth,
        id: Uuid,
        now: i64,
    ) -> Result<AlertView, AlertError> {
        if !dev.role.is_lead() {
            return Err(AlertError::Forbidden(
                "Only a lead can take over an alert: ask the person who owns it, or a lead.".into(),
            ));
        }
        self.give(sync, dev, id, dev.device.member, now).await
    }

    /// A lead gives an alert to a lead or a buddy of the worker, who owns it from now on.
    pub async fn assign(
        &self,
        sync: &SyncService,
        dev: &DeviceAuth,
        id: Uuid,
        to: MemberId,
        now: i64,
    ) -> Result<AlertView, AlertError> {
        if !dev.role.is_lead() {
            return Err(AlertError::Forbidden("Only a lead can give an alert to someone else.".into()));
        }
        self.give(sync, dev, id, to, now).await
    }

    /// Makes `to` the owner of alert `id`, on behalf of the lead `dev`.
    async fn give(
        &self,
        sync: &SyncService,
        dev: &DeviceAuth,
        id: Uuid,
        to: MemberId,
        now: i64,
    ) -> Result<AlertView, AlertError> {
        let (team, a, receipts, audience) = self.for_action(sync, dev, id).await?;
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
            return Ok(self.view(&team, &a, &receipts));
        }
        let (action, target) = if to == me { ("taken_over", a.claimed_by) } else { ("assigned", Some(to)) };
        let action = if to == me && a.claimed_by.is_none() { "claimed" } else { action };
        let mut rec = a.clone();
        rec.state = AlertState::Claimed;
        rec.claimed_by = Some(to);
        rec.claimed_at = Some(now);
        let view = self.view(&team, &rec, &receipts);
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
    pub async fn resolve(
        &self,
        sync: &SyncService,
        dev: &DeviceAuth,
        id: Uuid,
        note: &str,
        now: i64,
    ) -> Result<AlertView, AlertError> {
        let (team, a, receipts, audience) = self.for_action(sync, dev, id).await?;
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
        let view = self.view(&team, &rec, &receipts);
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
        sync: &SyncService,
        dev: &DeviceAuth,
        id: Uuid,
    ) -> Result<(Team, AlertRecord, HashMap<CheckInId, CheckinReceipt>, Audience), AlertError> {
        let a = self.storage.alert(id).await?.filter(|a| a.team == dev.device.team).ok_or(AlertError::NotFound)?;
        let mut st = self.state.lock().await;
        let team = self.team(&mut st, sync, a.team).await?.ok_or(AlertError::NotFound)?;
        drop(st);
        let shift = match sync.with_doc(a.shift.uuid(), |d| shift::read(&d.doc)).await? {
            Some(Ok(s)) => s,
            _ => return Err(AlertError::NotFound),
        };
        let audience = Audience::of(&team, &shift);
        if !may_see(dev, &a, &audience.buddies) {
            return Err(AlertError::NotFound);
        }
        let receipts = self.storage.checkin_receipts(a.shift).await?.into_iter().map(|r| (r.checkin, r)).collect();
        Ok((team, a, receipts, audience))
    }
}

/// A shift as stored now, with the heads of the document it was read from.
async fn read_shift(sync: &SyncService, id: ShiftId) -> Result<Option<(Shift, Vec<ChangeHash>)>, StorageError> {
    Ok(match sync.with_doc(id.uuid(), |d| (shift::read(&d.doc), d.doc.get_heads())).await? {
        Some((Ok(s), heads)) => Some((s, heads)),
        _ => None,
    })
}

fn replace_open(st: &mut State, rec: AlertRecord) {
    let list = st.open.entry(rec.shift).or_default();
    list.retain(|a| a.id != rec.id);
    if rec.state != AlertState::Resolved {
        list.push(rec);
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
    pub(crate) fn of(team: &Team, shift: &Shift) -> Audience {
        let mut buddies: Vec<MemberId> = shift.buddies.clone();
        if let Some(m) = team.member(shift.worker) {
            buddies.extend(m.buddies.iter().copied());
        }
        buddies.retain(|b| *b != shift.worker);
        buddies.sort();
        buddies.dedup();
        let leads = team.members.iter().filter(|m| matches!(m.role, Role::Lead | Role::Admin)).map(|m| m.id).collect();
        Audience { worker: shift.worker, buddies, leads }
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
