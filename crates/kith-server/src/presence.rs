//! Presence: who is connected to the live channel, and when each member was last seen. Kept in
//! memory, never in a document.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kith_domain::{MemberId, TeamId, Timestamp};

use crate::live::{LiveEvent, LiveHub, PresenceEvent};

#[derive(Debug, Default)]
struct MemberPresence {
    connections: usize,
    last_seen: Option<i64>,
}

/// The live connections of this server, by member.
#[derive(Debug, Default)]
pub struct Presence {
    members: Mutex<HashMap<(TeamId, MemberId), MemberPresence>>,
}

impl LiveHub {
    /// Records a new connection; publishes `online` on the member's first.
    pub fn connect(self: &Arc<Self>, team: TeamId, member: MemberId, now: i64) -> PresenceGuard {
        let first = {
            let mut p = self.presence.members.lock().unwrap_or_else(|e| e.into_inner());
            let e = p.entry((team, member)).or_default();
            e.connections += 1;
            e.last_seen = Some(now);
            e.connections == 1
        };
        metrics::gauge!("kith_live_connections").increment(1.0);
        if first {
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
            let mut p = self.presence.members.lock().unwrap_or_else(|e| e.into_inner());
            let e = p.entry((team, member)).or_default();
            e.connections = e.connections.saturating_sub(1);
            e.last_seen = Some(now);
            e.connections == 0
        };
        metrics::gauge!("kith_live_connections").decrement(1.0);
        if last {
            self.publish(LiveEvent::Presence {
                team,
                presence: PresenceEvent { member_id: member, online: false, last_seen: Some(Timestamp(now)) },
            });
        }
    }

    /// Presence of the members of a team that were ever seen since the server started.
    pub fn team_presence(&self, team: TeamId) -> Vec<PresenceEvent> {
        let p = self.presence.members.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<PresenceEvent> = p
            .iter()
            .filter(|((t, _), _)| *t == team)
            .map(|((_, m), e)| PresenceEvent {
                member_id: *m,
                online: e.connections > 0,
                last_seen: e.last_seen.map(Timestamp),
            })
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
