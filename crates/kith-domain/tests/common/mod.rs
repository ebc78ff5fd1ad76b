//! Named peers for deterministic merge tests: each peer is one device with its own actor id.
#![allow(dead_code)]

use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge};
use kith_domain::doc::{shift, team};
use kith_domain::*;

pub const T0: Timestamp = Timestamp(1_800_000_000_000);

pub fn at_min(m: i64) -> Timestamp {
    T0 + Secs::minutes(m)
}

/// One device: a name (used as its actor id) and its replica of one document.
#[derive(Clone)]
pub struct Peer {
    pub name: &'static str,
    pub member: MemberId,
    pub device: DeviceId,
    pub doc: Automerge,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Peer({})", self.name)
    }
}

impl Peer {
    pub fn new(name: &'static str, member: MemberId) -> Self {
        Peer { name, member, device: DeviceId::new(), doc: Automerge::new().with_actor(ActorId::from(name.as_bytes())) }
    }

    /// Makes one change; on error nothing is committed.
    pub fn edit<O>(
        &mut self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<O, DomainError>,
    ) -> Result<O, DomainError> {
        self.doc.transact(f).map(|ok| ok.result).map_err(|f| f.error)
    }

    /// Receives everything `other` has (as a sync would).
    pub fn merge_from(&mut self, other: &Peer) {
        let mut theirs = other.doc.clone();
        self.doc.merge(&mut theirs).expect("merge");
    }

    pub fn shift(&self) -> Shift {
        shift::read(&self.doc).expect("well-formed shift document")
    }

    pub fn checkin(&mut self, status: CheckInStatus, at: Timestamp) -> Result<CheckIn, DomainError> {
        let c = CheckIn {
            id: CheckInId::new(),
            status,
            mood: Some(Rating::new(4, "mood").expect("rating")),
            confidence: Some(Rating::new(3, "confidence").expect("rating")),
            note: Some(Note { text: format!("{} at {:?}", self.name, at), visibility: Visibility::Team }),
            location: None,
            device_time: at,
            by: self.member,
            device: self.device,
        };
        self.edit(|tx| shift::add_checkin(tx, &c))?;
        Ok(c)
    }

    pub fn ack(&mut self, checkin: CheckInId, at: Timestamp, reply: &str) -> Result<Ack, DomainError> {
        let a = Ack { id: AckId::new(), checkin, by: self.member, at, reply: Some(reply.to_string()) };
        self.edit(|tx| shift::add_ack(tx, &a))?;
        Ok(a)
    }
}

pub fn new_shift(worker: MemberId, team: TeamId) -> Shift {
    Shift::begin(team, worker, "Meter readings, north estate", T0, at_min(8 * 60), Secs::minutes(30))
}

/// A worker peer that has created the shift document, and the shift as created.
pub fn worker_with_shift(name: &'static str, team: TeamId) -> (Peer, Shift) {
    let mut p = Peer::new(name, MemberId::new());
    let s = new_shift(p.member, team);
    p.edit(|tx| shift::init(tx, &s)).expect("init shift");
    (p, s)
}

pub fn new_team(members: Vec<Member>) -> Team {
    Team {
        id: TeamId::new(),
        name: "North estate".into(),
        purpose: "Keep the lights on, together".into(),
        phone: Some("+44 20 7946 0000".into()),
        policy: Policy::default(),
        members,
    }
}

pub fn team_peer(name: &'static str, t: &Team) -> Peer {
    let mut p = Peer::new(name, t.members[0].id);
    p.edit(|tx| team::init(tx, t)).expect("init team");
    p
}
