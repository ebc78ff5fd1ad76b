//! Presence: who is connected to the live channel, and when each member was last seen. Never in a
//! document.
//!
//! One server process per database (SQLite): kept in memory, told on this server's live channel.
//! Several instances on one database (PostgreSQL, [`LiveHub::share_presence`]): each instance
//! also writes its members' stream counts to the database (`live_presence`, from one task: only
//! each member's latest count waits, so the writes waiting are bounded by the members, not by
//! the events) and renews its own row (`live_instances`) every third of `limits.presence_ttl_ms`; every
//! change is told to every instance (NOTIFY), which reads the member's team-wide presence and tells
//! its own streams when it changed. An instance that crashes stops renewing: after
//! `presence_ttl_ms` the next instance to renew forgets it and its members go offline for everyone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use kith_domain::{MemberId, TeamId, Timestamp};
use tokio::sync::{Notify, watch};

use crate::live::{LiveEvent, LiveHub, PresenceEvent};
use crate::storage::{Storage, StorageError};
use crate::table::Table;

#[derive(Debug, Default)]
struct MemberPresence {
    connections: usize,
    last_seen: Option<i64>,
}

/// The live connections of this server, by member, and (several instances) what the others hold.
#[derive(Debug)]
pub struct Presence {
    members: Mutex<Table<(TeamId, MemberId), MemberPresence>>,
    shared: OnceLock<Shared>,
    /// Most bytes the records take (`limits.presence_max_bytes`): past it, the offline members
    /// seen longest ago are forgotten (their "last seen" becomes unknown, as after a restart).
    max_bytes: AtomicUsize,
}

impl Default for Presence {
    fn default() -> Presence {
        Presence { members: Mutex::default(), shared: OnceLock::new(), max_bytes: AtomicUsize::new(DEFAULT_MAX_BYTES) }
    }
}

/// `limits.presence_max_bytes` unless set: up to 57,344 members' records (a table of 65,536 slots).
pub const DEFAULT_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Forgets the offline records seen longest ago when `map`'s table takes more than `max` bytes,
/// or (`room_for`) would take more once that key is inserted (a full table doubles): down to 7/8 of
/// what a table within `max` holds (so one pass serves many disconnects), then makes the table
/// again without them. Online records are never forgotten: they are bounded by the connections.
fn forget_offline<V>(
    map: &mut Table<(TeamId, MemberId), V>,
    max: usize,
    room_for: Option<&(TeamId, MemberId)>,
    offline_since: impl Fn(&V) -> Option<i64>,
) {
    let over = match room_for {
        Some(k) => map.bytes_after_insert() > max && !map.contains_key(k),
        None => map.bytes() > max,
    };
    if !over {
        return;
    }
    let most = Table::<(TeamId, MemberId), V>::most(max);
    let keep = (most - most / 8).min(most.saturating_sub(1));
    let mut offline: Vec<(i64, (TeamId, MemberId))> =
        map.iter().filter_map(|(k, v)| offline_since(v).map(|t| (t, *k))).collect();
    offline.sort_unstable();
    let drop = map.len().saturating_sub(keep).min(offline.len());
    for (_, k) in offline.into_iter().take(drop) {
        map.remove(&k);
    }
    // (With none to drop, the online members alone fill the table: it is not made again.)
    if drop > 0 {
        map.reset(most);
    }
    metrics::counter!("kith_presence_forgotten_total").increment(drop as u64);
}

/// When a member of this server went offline (`None`: online).
fn offline_since(e: &MemberPresence) -> Option<i64> {
    if e.connections == 0 { e.last_seen.or(Some(0)) } else { None }
}

impl Presence {
    /// The bytes the records of this server's members take: the map's table (at most
    /// `limits.presence_max_bytes`, beyond the online ones).
    pub fn bytes(&self) -> usize {
        lock(&self.members).bytes()
    }
}

/// Presence shared with other instances through the database.
#[derive(Debug)]
struct Shared {
    /// This instance's stream counts still to store: each member's latest (connections, when).
    /// Only it matters (a write replaces the member's row), and one task stores them, so a
    /// reconnect's "1" never lands before the "0" before it: a count set while an older one is
    /// being written waits here and is written after it.
    writes: Mutex<HashMap<(TeamId, MemberId), (usize, i64)>>,
    /// Wakes the writer (at most one wake-up held).
    wake: Notify,
    /// Members whose count waits or is being written (see [`LiveHub::presence_pending_writes`]).
    pending: watch::Sender<usize>,
    /// Team-wide presence as last read from the database: online, last seen.
    team_wide: Mutex<Table<(TeamId, MemberId), (bool, i64)>>,
    /// Whether each member was last told online or offline on this instance's streams.
    told: Mutex<Table<(TeamId, MemberId), bool>>,
}

impl Shared {
    /// Sets the member's count to store (replacing one still waiting) and wakes the writer.
    fn write(&self, team: TeamId, member: MemberId, connections: usize, now: i64) {
        if lock(&self.writes).insert((team, member), (connections, now)).is_none() {
            self.pending.send_modify(|p| *p += 1);
        }
        self.wake.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LiveHub {
    /// Makes presence team-wide across the instances on `storage`'s database, if it is shared
    /// ([`Storage::presence_changes`]), until shutdown.
    pub fn share_presence(self: &Arc<Self>, storage: Arc<dyn Storage>, ttl: Duration) {
        let Some(mut changes) = storage.presence_changes() else { return };
        let shared = Shared {
            writes: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            pending: watch::channel(0).0,
            team_wide: Mutex::default(),
            told: Mutex::default(),
        };
        if self.presence.shared.set(shared).is_err() {
            return;
        }
        let instance = uuid::Uuid::new_v4().to_string();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(300);
        let beat = Duration::from_millis(u64::try_from(ttl_ms / 3).unwrap_or(100));
        // This instance's latest counts, from one task (a reconnect's "1" never lands before the
        // "0" before it).
        let (s, id, hub, mut stop) = (storage.clone(), instance.clone(), self.clone(), self.shutdown_signal());
        tokio::spawn(async move {
            let Some(sh) = hub.presence.shared.get() else { return };
            loop {
                tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    () = sh.wake.notified() => {}
                }
                let batch: Vec<_> = lock(&sh.writes).drain().collect();
                for ((team, member), (n, at)) in batch {
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    if let Err(e) = s.set_presence(&id, team, member, n, at, ttl_ms).await {
                        tracing::warn!(error = %e, "could not store a member's presence for the other instances");
                    }
                    sh.pending.send_modify(|p| *p = p.saturating_sub(1));
                }
            }
        });
        // Alive, and forgetting instances that are not.
        let (s, mut stop) = (storage.clone(), self.shutdown_signal());
        tokio::spawn(async move {
            loop {
                match s.presence_beat(&instance, crate::now_ms(), ttl_ms).await {
                    Err(StorageError::Closed) => return,
                    Err(e) => tracing::warn!(error = %e, "could not renew this instance's presence"),
                    Ok(()) => {}
                }
                tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    _ = tokio::time::sleep(beat) => {}
                }
            }
        });
        // What every instance holds, then each change any instance tells.
        let (hub, mut stop) = (self.clone(), self.shutdown_signal());
        tokio::spawn(async move {
            match storage.presence(None, crate::now_ms()).await {
                Ok(rows) => {
                    if let Some(sh) = hub.presence.shared.get() {
                        let max = hub.presence.max_bytes.load(Ordering::Relaxed);
                        let mut tw = lock(&sh.team_wide);
                        for r in rows {
                            let key = (r.team, r.member);
                            forget_offline(&mut tw, max, Some(&key), |(online, seen)| (!online).then_some(*seen));
                            tw.insert(key, (r.online, r.last_seen));
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read who is online on the other instances"),
            }
            loop {
                let changed = tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    changed = changes.recv() => changed,
                };
                match changed {
                    Ok((team, member)) => hub.refresh_presence(storage.as_ref(), team, member).await,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Some changes were missed: read everyone again.
                        if let Ok(rows) = storage.presence(None, crate::now_ms()).await {
                            for r in rows {
                                hub.refresh_presence(storage.as_ref(), r.team, r.member).await;
                            }
                        }
                    }
                    Err(_) => return,
                }
            }
        });
    }

    /// Reads a member's team-wide presence and tells this instance's streams if it changed.
    async fn refresh_presence(&self, storage: &dyn Storage, team: TeamId, member: MemberId) {
        let Some(sh) = self.presence.shared.get() else { return };
        let rows = match storage.presence(Some((team, member)), crate::now_ms()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "could not read a member's presence on the other instances");
                return;
            }
        };
        let (online, last_seen) = rows.first().map_or((false, crate::now_ms()), |r| (r.online, r.last_seen));
        let here = lock(&self.presence.members).get(&(team, member)).is_some_and(|p| p.connections > 0);
        let max = self.presence.max_bytes.load(Ordering::Relaxed);
        {
            // A copy of what the database holds: an offline member forgotten is read again.
            let mut tw = lock(&sh.team_wide);
            forget_offline(&mut tw, max, Some(&(team, member)), |(online, seen)| (!online).then_some(*seen));
            tw.insert((team, member), (online, last_seen));
        }
        let now_online = here || online;
        let told = {
            let mut t = lock(&sh.told);
            // Not told online is what a missing record means.
            forget_offline(&mut t, max, Some(&(team, member)), |online| (!online).then_some(0));
            t.insert((team, member), now_online)
        };
        if told.unwrap_or(false) != now_online {
            self.publish(LiveEvent::Presence {
                team,
                presence: PresenceEvent {
                    member_id: member,
                    online: here || online,
                    last_seen: Some(Timestamp(last_seen)),
                },
            });
        }
    }

    /// Records a new connection; publishes `online` on the member's first.
    pub fn connect(self: &Arc<Self>, team: TeamId, member: MemberId, now: i64) -> PresenceGuard {
        let (first, n) = {
            let mut p = lock(&self.presence.members);
            let max = self.presence.max_bytes.load(Ordering::Relaxed);
            forget_offline(&mut p, max, Some(&(team, member)), offline_since);
            let e = p.get_or_insert_with((team, member), MemberPresence::default);
            e.connections += 1;
            e.last_seen = Some(now);
            (e.connections == 1, e.connections)
        };
        metrics::gauge!("kith_live_connections").increment(1.0);
        if first {
            if let Some(sh) = self.presence.shared.get() {
                let max = self.presence.max_bytes.load(Ordering::Relaxed);
                let mut t = lock(&sh.told);
                forget_offline(&mut t, max, Some(&(team, member)), |online| (!online).then_some(0));
                t.insert((team, member), true);
                drop(t);
                sh.write(team, member, n, now);
            }
            self.publish(LiveEvent::Presence {
                team,
                presence: PresenceEvent { member_id: member, online: true, last_seen: Some(Timestamp(now)) },
            });
        }
        PresenceGuard { hub: self.clone(), team, member }
    }

    fn disconnect(&self, team: TeamId, member: MemberId) {
        let now = crate::now_ms();
        let last = {
            let mut p = lock(&self.presence.members);
            let max = self.presence.max_bytes.load(Ordering::Relaxed);
            forget_offline(&mut p, max, Some(&(team, member)), offline_since);
            let e = p.get_or_insert_with((team, member), MemberPresence::default);
            e.connections = e.connections.saturating_sub(1);
            e.last_seen = Some(now);
            let last = e.connections == 0;
            if last {
                // A table grown past the budget (the online members, or a lowered budget).
                forget_offline(&mut p, max, None, offline_since);
            }
            last
        };
        metrics::gauge!("kith_live_connections").decrement(1.0);
        if !last {
            return;
        }
        match self.presence.shared.get() {
            // Offline only if no other instance holds a stream of theirs: told once the database
            // says so (refresh_presence).
            Some(sh) => sh.write(team, member, 0, now),
            None => self.publish(LiveEvent::Presence {
                team,
                presence: PresenceEvent { member_id: member, online: false, last_seen: Some(Timestamp(now)) },
            }),
        }
    }

    /// How many members' counts wait to be stored or are being stored (several instances; always
    /// 0 otherwise): at most twice the members whose presence changed meanwhile, whatever the
    /// number of connects and disconnects.
    pub fn presence_pending_writes(&self) -> watch::Receiver<usize> {
        match self.presence.shared.get() {
            Some(sh) => sh.pending.subscribe(),
            None => watch::channel(0).1,
        }
    }

    /// Bounds presence's records to `bytes` (`limits.presence_max_bytes`).
    pub fn set_presence_max_bytes(&self, bytes: usize) {
        self.presence.max_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The bytes presence's records of this server's members take.
    pub fn presence_bytes(&self) -> usize {
        self.presence.bytes()
    }

    /// Presence of the members of a team that were ever seen since the server started (on any
    /// instance, when presence is shared), unless forgotten past `limits.presence_max_bytes`.
    pub fn team_presence(&self, team: TeamId) -> Vec<PresenceEvent> {
        let mut all: HashMap<MemberId, (bool, Option<i64>)> = HashMap::new();
        if let Some(sh) = self.presence.shared.get() {
            for ((t, m), (online, seen)) in lock(&sh.team_wide).iter() {
                if *t == team {
                    all.insert(*m, (*online, Some(*seen)));
                }
            }
        }
        for ((t, m), e) in lock(&self.presence.members).iter() {
            if *t == team {
                let x = all.entry(*m).or_insert((false, None));
                x.0 |= e.connections > 0;
                x.1 = x.1.max(e.last_seen);
            }
        }
        let mut out: Vec<PresenceEvent> = all
            .into_iter()
            .map(|(m, (online, seen))| PresenceEvent { member_id: m, online, last_seen: seen.map(Timestamp) })
            .collect();
        out.sort_by_key(|e| e.member_id);
        out
    }
}

/// Held by a live stream; marks the member offline when the last of their streams ends.
#[derive(Debug)]
pub struct PresenceGuard {
    hub: Arc<LiveHub>,
    team: TeamId,
    member: MemberId,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        self.hub.disconnect(self.team, self.member);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_keeps_to_its_bytes_and_forgets_only_offline_members() {
        let hub = Arc::new(LiveHub::new());
        let max = 200 * 65;
        hub.set_presence_max_bytes(max);
        let team = TeamId::new();
        // 100 members stay connected; 2,000 more come and go.
        let online: Vec<MemberId> = (0..100).map(|_| MemberId::new()).collect();
        let guards: Vec<PresenceGuard> = online.iter().map(|m| hub.connect(team, *m, 1)).collect();
        for i in 0..2000 {
            drop(hub.connect(team, MemberId::new(), i));
            assert!(hub.presence_bytes() <= max, "{} bytes, over {max}", hub.presence_bytes());
        }
        let seen = hub.team_presence(team);
        for m in &online {
            assert!(seen.iter().any(|p| p.member_id == *m && p.online), "a connected member is never forgotten");
        }
        assert!(seen.len() > 100 && seen.len() < 2100, "offline members past the bound were forgotten: {}", seen.len());
        drop(guards);
    }

    /// A map's table doubles when it fills: counting its records, not its buckets, presence held
    /// up to twice its budget just past a power of two.
    #[test]
    fn presence_holds_no_more_than_its_budget_as_the_table_grows() {
        // What docs/operations.md quotes of the default.
        assert_eq!(Table::<(TeamId, MemberId), MemberPresence>::most(DEFAULT_MAX_BYTES), 57_344);
        let per = (std::mem::size_of::<((TeamId, MemberId), MemberPresence)>() + 1) * 8 / 7;
        // Budgets whose records end just past a full table (1,792 or 3,584 records), and the default.
        for max in [1800 * per, 3600 * per, DEFAULT_MAX_BYTES] {
            let hub = Arc::new(LiveHub::new());
            hub.set_presence_max_bytes(max);
            let team = TeamId::new();
            for i in 0..(2 * max / per) as i64 {
                drop(hub.connect(team, MemberId::new(), i));
                let held = crate::table::measured(&lock(&hub.presence.members));
                assert!(held <= max, "{held} bytes held after {i} members, budget {max}");
                assert!(hub.presence_bytes() >= held, "{} bytes counted, {held} held", hub.presence_bytes());
            }
        }
    }
}
