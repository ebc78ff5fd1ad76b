//! The live channel: "these documents changed, sync now" pokes, presence and kudos, fanned out in
//! memory to connected devices. Presence (online, last seen) and kudos live here only, never in a
//! document.
//!
//! Pokes follow the stored changes ([`LiveHub::follow`]): every commit is announced to the devices
//! that may see its documents (not to the device that pushed them), whoever stored it and however
//! the request that did ended.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kith_domain::{DeviceId, MemberId, TeamId};
use kith_proto::Kind;
use tokio::sync::{broadcast, watch};

use crate::storage::{DocMeta, Storage, StoredRef};

/// An event on the hub, before per-device filtering.
#[derive(Clone, Debug)]
pub enum LiveEvent {
    /// Documents that changed, and the device that pushed them (it is not poked).
    Changed {
        team: TeamId,
        docs: Vec<DocMeta>,
        from_device: Option<DeviceId>,
    },
    Presence {
        team: TeamId,
        presence: PresenceEvent,
    },
    /// An alert step, claim or resolution, for the members it concerns.
    Alert {
        team: TeamId,
        members: Vec<MemberId>,
        event: Box<crate::alerts::AlertEvent>,
    },
    /// A wave from one teammate to another: for the connections of `kudos.to` only.
    Kudos {
        team: TeamId,
        kudos: Kudos,
    },
    /// A lead revoked this device: its live streams end now.
    Revoked {
        device: DeviceId,
    },
    /// Events of this team (every team: `None`) were lost on their way from another instance:
    /// its streams are told to refresh everything (`changed` with `all`), as a stream that fell
    /// behind is.
    Missed {
        team: Option<TeamId>,
    },
}

/// The `presence` SSE event's data.
pub type PresenceEvent = kith_api::PresenceView;

/// The `changed` SSE event's data: documents to sync. `all` means events were missed: sync everything.
pub use kith_api::ChangedEvent;

/// The `kudos` SSE event's data.
pub use kith_api::Kudos;

/// Events a team's channel holds for a stream that is behind; one further behind is told to sync
/// everything (`changed` with `all`).
const TEAM_CHANNEL: usize = 256;

/// Who is connected, and the fan-out channels: one per team with a stream open, so an event
/// wakes only its own team's streams, not every stream of the server.
#[derive(Debug)]
pub struct LiveHub {
    teams: Mutex<HashMap<TeamId, broadcast::Sender<Arc<LiveEvent>>>>,
    pub(crate) presence: crate::presence::Presence,
    shutdown: watch::Sender<bool>,
    /// The database's auth generation as last read ([`LiveHub::watch_auth`]): when it moves, every
    /// live stream checks its device again.
    auth: watch::Sender<i64>,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub::new()
    }
}

impl LiveHub {
    pub fn new() -> LiveHub {
        let (shutdown, _) = watch::channel(false);
        let (auth, _) = watch::channel(0);
        LiveHub { teams: Mutex::new(HashMap::new()), presence: crate::presence::Presence::default(), shutdown, auth }
    }

    fn teams(&self) -> std::sync::MutexGuard<'_, HashMap<TeamId, broadcast::Sender<Arc<LiveEvent>>>> {
        match self.teams.lock() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        }
    }

    /// The events of one team (and a revocation of any device).
    pub fn subscribe(&self, team: TeamId) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.teams().entry(team).or_insert_with(|| broadcast::channel(TEAM_CHANNEL).0).subscribe()
    }

    pub fn publish(&self, ev: LiveEvent) {
        let team = match &ev {
            LiveEvent::Changed { team, .. }
            | LiveEvent::Presence { team, .. }
            | LiveEvent::Alert { team, .. }
            | LiveEvent::Kudos { team, .. } => Some(*team),
            LiveEvent::Revoked { .. } => None,
            LiveEvent::Missed { team } => *team,
        };
        let ev = Arc::new(ev);
        let mut teams = self.teams();
        // A channel nobody listens to any more goes (sending fails only then).
        match team {
            Some(team) => {
                if teams.get(&team).is_some_and(|tx| tx.send(ev).is_err()) {
                    teams.remove(&team);
                }
            }
            // Rare, and the device's team is not at hand: every team's streams look at it.
            None => teams.retain(|_, tx| tx.send(ev.clone()).is_ok()),
        }
    }

    /// Sends a kudos to the live connections of its target.
    pub fn kudos(&self, team: TeamId, kudos: Kudos) {
        self.publish(LiveEvent::Kudos { team, kudos });
    }

    /// Tells documents changed.
    pub fn changed(&self, team: TeamId, docs: Vec<DocMeta>, from_device: Option<DeviceId>) {
        if !docs.is_empty() {
            self.publish(LiveEvent::Changed { team, docs, from_device });
        }
    }

    /// Pokes devices about every change stored from now on, as the storage announces its commits,
    /// until shutdown (or the storage closes).
    pub fn follow(self: &Arc<Self>, storage: Arc<dyn Storage>) {
        const BATCH: usize = 4096;
        let hub = self.clone();
        let mut committed = storage.committed();
        let mut stop = self.shutdown_signal();
        let mut cursor = *committed.borrow_and_update();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    c = committed.changed() => if c.is_err() { return },
                }
                loop {
                    match storage.stored_since(cursor, BATCH).await {
                        Ok(refs) => {
                            let Some(last) = refs.last().map(|r| r.seq) else { break };
                            cursor = last;
                            hub.announce(&refs);
                            if refs.len() < BATCH {
                                break;
                            }
                        }
                        Err(e) => {
                            // The next commit tries again from the same place.
                            tracing::warn!(error = %e, "could not read the stored changes to poke devices");
                            break;
                        }
                    }
                }
            }
        });
    }

    /// Follows the database's auth generation, which every revocation and role change moves in
    /// the same transaction, whichever process makes it (`kith-server admin revoke` on the same
    /// file, another server): read after each commit of this process (a role changed by a team
    /// document) and every `every` (other processes), until shutdown. When it moves, each live
    /// stream looks its device up again and ends if it was revoked or its role changed
    /// ([`LiveHub::auth_changes`]).
    pub fn watch_auth(self: &Arc<Self>, storage: Arc<dyn Storage>, every: std::time::Duration) {
        let hub = self.clone();
        let mut committed = storage.committed();
        let mut stop = self.shutdown_signal();
        let mut tick = tokio::time::interval(every.max(std::time::Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::spawn(async move {
            let mut last = storage.read_auth_generation().await.unwrap_or(0);
            hub.auth.send_replace(last);
            let mut open = true;
            loop {
                tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    c = committed.changed(), if open => open = c.is_ok(),
                    _ = tick.tick() => {}
                }
                match storage.read_auth_generation().await {
                    Ok(g) if g != last => {
                        last = g;
                        hub.auth.send_replace(g);
                    }
                    Ok(_) => {}
                    Err(crate::storage::StorageError::Closed) => return,
                    Err(e) => tracing::warn!(error = %e, "could not read whether devices were revoked"),
                }
            }
        });
    }

    /// Moves whenever a device may have been revoked or a role changed, in any process.
    pub fn auth_changes(&self) -> watch::Receiver<i64> {
        self.auth.subscribe()
    }

    /// One poke per team and pushing device, with each document once, in order.
    fn announce(&self, refs: &[StoredRef]) {
        let mut groups: Vec<(TeamId, Option<DeviceId>, Vec<DocMeta>)> = Vec::new();
        let mut at: HashMap<(TeamId, Option<DeviceId>), usize> = HashMap::new();
        let mut seen: std::collections::HashSet<(usize, uuid::Uuid)> = std::collections::HashSet::new();
        for r in refs {
            // The device that pushed a change holds it; one the server wrote on a browser's
            // behalf is news to that browser's other tabs too.
            let from = if r.by_server { None } else { r.device };
            let i = *at.entry((r.meta.team, from)).or_insert_with(|| {
                groups.push((r.meta.team, from, Vec::new()));
                groups.len() - 1
            });
            if seen.insert((i, r.meta.id))
                && let Some(g) = groups.get_mut(i)
            {
                g.2.push(r.meta.clone());
            }
        }
        for (team, from, docs) in groups {
            self.changed(team, docs, from);
        }
    }

    /// Resolves when the server starts shutting down (live streams end then).
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Ends every live stream.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

/// Whether a device of `member` (a lead or not) in `team` may see a document.
pub fn visible(meta: &DocMeta, team: TeamId, member: MemberId, is_lead: bool) -> bool {
    meta.team == team && (meta.kind == Kind::Team || is_lead || meta.owner == Some(member))
}
