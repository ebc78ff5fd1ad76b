//! Helpers for the cross-crate stories in `tests/`: a [`Device`] is one install of Kith (its own
//! store and credential) driven through the real domain, store and sync engine against a real
//! in-process team server; [`proxy::FaultyProxy`] sits between them to cut connections.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod loadgen;
pub mod proxy;

use std::sync::atomic::{AtomicI64, Ordering};

use kith_domain::doc::{shift, team};
use kith_domain::*;
use kith_proto::JoinRequest;
use kith_store::Store;
use kith_sync::{ServerClient, SyncError, SyncReport};
use tempfile::TempDir;

/// A fixed start of the story's day; story clocks advance from here, never from the wall clock.
pub const T0: Timestamp = Timestamp(1_800_000_000_000);

/// An HTTP client for the server that lets an idle connection go before the server closes it
/// (`limits.idle_timeout_s`, 30 s), as a device's does (`SYNC_CONNECTION_IDLE`, 20 s): reqwest's
/// default keeps one 90 s, and a request sent just as the server closed it meets a reset.
pub fn http_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(kith_sync::client::SYNC_CONNECTION_IDLE)
}

static CLOCK: AtomicI64 = AtomicI64::new(0);

/// A story time, unique and increasing: T0 plus `minutes`, plus a tick so no two events tie.
pub fn at(minutes: i64) -> Timestamp {
    let tick = CLOCK.fetch_add(1, Ordering::Relaxed);
    T0 + Secs::minutes(minutes) + Secs(tick % 50)
}

/// One device: a named person's install of Kith.
#[derive(Debug)]
pub struct Device {
    pub name: &'static str,
    pub store: Store,
    pub client: ServerClient,
    pub member: MemberId,
    pub device: DeviceId,
    pub team: TeamId,
    pub role: String,
    _dir: TempDir,
}

impl Device {
    /// A new device joins `server_url` with an invite `code`.
    pub async fn join(name: &'static str, server_url: &str, code: &str) -> Device {
        let dir = tempfile::tempdir().expect("device dir");
        let store = Store::open(dir.path().join("kith.db")).expect("device store");
        let resp = ServerClient::new(server_url, None)
            .expect("client")
            .join(&JoinRequest {
                code: code.to_string(),
                name: name.to_string(),
                device_label: format!("{name}'s test device"),
                actor: store.actor_id().to_hex_string(),
                rejoin: None,
            })
            .await
            .expect("join");
        Device {
            name,
            store,
            client: ServerClient::new(server_url, Some(resp.token)).expect("client"),
            member: MemberId(resp.member_id),
            device: DeviceId(resp.device_id),
            team: TeamId(resp.team_id),
            role: resp.role,
            _dir: dir,
        }
    }

    /// Joins again with a new invite `code` after the server forgot this device (restored from a
    /// backup), asking to stay the same member and device; keeps the store. On success the device
    /// syncs with its new token.
    pub async fn rejoin(&mut self, server_url: &str, code: &str) -> Result<(), SyncError> {
        let resp = ServerClient::new(server_url, None)?
            .join(&JoinRequest {
                code: code.to_string(),
                name: self.name.to_string(),
                device_label: format!("{}'s test device", self.name),
                actor: self.store.actor_id().to_hex_string(),
                rejoin: Some(kith_proto::Rejoin {
                    team_id: self.team.uuid(),
                    member_id: self.member.uuid(),
                    device_id: self.device.uuid(),
                }),
            })
            .await?;
        assert_eq!(
            (MemberId(resp.member_id), DeviceId(resp.device_id), TeamId(resp.team_id)),
            (self.member, self.device, self.team),
            "a re-join keeps the identity"
        );
        self.client = ServerClient::new(server_url, Some(resp.token))?;
        self.role = resp.role;
        Ok(())
    }

    /// Points this device at another address (e.g. a proxy, or the server after a restart).
    pub fn use_server(&mut self, url: &str) {
        self.client = ServerClient::new(url, self.client.token().map(str::to_string)).expect("client");
    }

    pub async fn sync(&mut self) -> Result<SyncReport, SyncError> {
        kith_sync::sync_with(&mut self.store, &self.client).await
    }

    pub fn team_doc(&mut self) -> Team {
        team::read(self.store.doc(self.team.uuid()).expect("team document on the device")).expect("team")
    }

    /// Starts a shift document owned by this device's member.
    pub fn start_shift(&mut self, purpose: &str) -> ShiftId {
        let s = Shift::begin(self.team, self.member, purpose, T0, T0 + Secs::hours(8), Secs::minutes(30));
        self.store
            .create_doc(s.id.uuid(), "shift", |tx| shift::init(tx, &s).map_err(StoryError::from))
            .expect("start shift");
        s.id
    }

    pub fn checkin(&mut self, shift_id: ShiftId, status: CheckInStatus, time: Timestamp) -> CheckIn {
        let c = CheckIn {
            mood: Some(Rating::new(4, "mood").unwrap()),
            note: Some(Note { text: format!("{} at {time:?}", self.name), visibility: Visibility::Team }),
            ..CheckIn::new(status, time, self.member, self.device)
        };
        self.store
            .change_doc(shift_id.uuid(), |tx| shift::add_checkin(tx, &c).map_err(StoryError::from))
            .expect("check in");
        c
    }

    pub fn ack(&mut self, shift_id: ShiftId, checkin: CheckInId, reply: &str, time: Timestamp) -> Ack {
        let a = Ack { id: AckId::new(), checkin, by: self.member, at: time, reply: Some(reply.to_string()) };
        self.store.change_doc(shift_id.uuid(), |tx| shift::add_ack(tx, &a).map_err(StoryError::from)).expect("ack");
        a
    }

    /// The shift as this device sees it, if it has the document.
    pub fn shift(&mut self, id: ShiftId) -> Option<Shift> {
        if !self.store.has_doc(id.uuid()).unwrap() {
            return None;
        }
        Some(shift::read(self.store.doc(id.uuid()).unwrap()).expect("well-formed shift"))
    }

    pub fn heads(&mut self, id: ShiftId) -> Vec<automerge::ChangeHash> {
        self.store.doc(id.uuid()).unwrap().get_heads()
    }

    /// Changes of this device that the server does not have yet.
    pub fn pending(&mut self) -> usize {
        kith_sync::engine::pending_change_count(&mut self.store).unwrap()
    }
}

/// Errors from edits in stories (domain or store).
#[derive(Debug)]
pub enum StoryError {
    Domain(DomainError),
    Store(kith_store::StoreError),
}

impl From<DomainError> for StoryError {
    fn from(e: DomainError) -> Self {
        StoryError::Domain(e)
    }
}

impl From<kith_store::StoreError> for StoryError {
    fn from(e: kith_store::StoreError) -> Self {
        StoryError::Store(e)
    }
}

/// Keeps only `keep` of the document's read, to compare shifts across devices regardless of
/// order of arrival: (check-in ids, ack ids), sorted.
pub fn ids(s: &Shift) -> (Vec<CheckInId>, Vec<AckId>) {
    let mut c: Vec<_> = s.checkins.iter().map(|c| c.id).collect();
    let mut a: Vec<_> = s.acks.iter().map(|a| a.id).collect();
    c.sort();
    a.sort();
    (c, a)
}

/// Makes the whole team quickly: a server, a lead and `n` members joined with invites.
pub async fn team_of(server: &kith_server::testing::TestServer, members: &[&'static str]) -> (Device, Vec<Device>) {
    let (team_id, lead_code) = server.create_team("North estate").await;
    let lead = Device::join("lead", &server.base_url, &lead_code).await;
    let mut out = Vec::new();
    for name in members {
        let code = server.invite(team_id, Role::Member).await;
        out.push(Device::join(name, &server.base_url, &code).await);
    }
    (lead, out)
}
