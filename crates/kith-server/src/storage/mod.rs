//! Server storage behind one trait: teams, members, devices, invites, and documents as an
//! append-only log of Automerge changes with a global sequence number, plus periodic snapshots.
//!
//! The server logic only talks to [`Storage`]. Two backends honour it: [`sqlite::SqliteStorage`]
//! (the embedded default: one file, one server process) and [`postgres::PgStorage`] (one database
//! shared by several stateless server instances). [`open`] picks one from the configuration
//! (`database_url`). Every backend keeps the same contract:
//! - `append_changes_with` returns only after the changes are durable (committed and synced),
//!   and stores them and what the server derives from them ([`Derived`]: a shift's tracking row and
//!   receipts, a team's roles) in **one transaction**, so the derived rows exist if and only if the
//!   changes do, whatever happens to the request that brought them. There is no non-atomic way to
//!   append;
//! - every stored change gets a `seq` that is unique and never reused while the database lives (a
//!   restored backup may reuse numbers: clients detect it by hash), and **a reader that has seen
//!   seq N never later sees a new change with a seq below N**: seqs become visible in seq order,
//!   so a follower or a feed cursor that has passed N has missed nothing. SQLite has one writer,
//!   which gives it for free; PostgreSQL hands out sequence numbers before commit and commits out
//!   of order, so its backend takes the seqs from a counter row updated in the storing
//!   transaction, whose row lock orders the commits that append (storage/postgres);
//! - `(doc_id, hash)` is unique;
//! - after each commit, before the request that stored it hears so, the commit is announced in
//!   process ([`log::ChangeLog`]): [`Storage::committed`] moves to the greatest seq known stored,
//!   [`Storage::stored_since`] lists the stored changes after a seq, and the notes of this
//!   process's commits are handed to [`Storage::take_notes`]'s receiver. Commits of other
//!   processes join the log no later than this process's next commit (the writer reads what was
//!   stored since the window's greatest seq in its own transaction). The deadline engine and the
//!   live channel follow that log, not the requests (docs/architecture.md);
//! - caches (the window of recent changes, the auth cache) are never the truth: each has an
//!   invalidation source in the database (the greatest seq; the auth generation row bumped in the
//!   transaction of every revocation or role change), so correctness never depends on them.

pub mod log;
pub mod postgres;
pub mod recent;
pub mod sqlite;

use async_trait::async_trait;
use kith_domain::alerts::{AlertKind, Resolution};
use kith_domain::{CheckInId, DeviceId, EscalationStep, MemberId, Notify, Role, ShiftId, TeamId};
use kith_proto::Kind;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why storage failed. Cloneable so one failed batch commit can answer every request in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("the storage is shut down")]
    Closed,
    /// A fault that a retry can help: the database busy or locked, a full disk (space can be
    /// freed), a lost or refused connection, a pool that timed out, a serialization failure.
    /// Answered 503, retryable.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A fault that no retry can help: a corrupt database ("database disk image is malformed"),
    /// a broken constraint, SQL the database refuses, an I/O error reading it. Answered 500,
    /// not retryable: the operator must look.
    #[error("database error: {0}")]
    Db(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the database holds data this build cannot read: {0}")]
    Corrupt(String),
    /// The device that pushed the changes was revoked (checked in the transaction that would
    /// have stored them, so nothing of a revoked device is stored even if it was revoked while
    /// its request was in flight).
    #[error("the device was revoked")]
    Revoked,
}

impl StorageError {
    /// Whether the same operation may succeed if tried again later, without anyone fixing
    /// anything (the storage layer classifies each database error, see its variants).
    pub fn retryable(&self) -> bool {
        match self {
            StorageError::Closed | StorageError::Unavailable(_) | StorageError::Conflict(_) => true,
            StorageError::Db(_) | StorageError::Corrupt(_) | StorageError::Revoked => false,
        }
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamRecord {
    pub id: TeamId,
    pub name: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    pub id: MemberId,
    pub team: TeamId,
    pub name: String,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub member: MemberId,
    pub team: TeamId,
    pub label: String,
    /// The Automerge actor id this device writes with (raw bytes).
    pub actor: Vec<u8>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// The default bound of the device-lookup cache (`cache.auth_max_bytes`): 46,000 to 57,000 devices
/// (a table of 65,536 slots and each device's token hash, label and name).
pub const DEFAULT_AUTH_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// A device as the sync path needs it: the device and its member's name and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceAuth {
    pub device: DeviceRecord,
    pub member_name: String,
    pub role: Role,
    /// The feed position when the member's role last changed (what they may see changed then).
    pub role_seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteRecord {
    /// SHA-256 of the normalised code.
    pub code_hash: Vec<u8>,
    pub team: TeamId,
    pub role: Role,
    pub expires_at: i64,
    pub uses_left: u32,
    pub created_at: i64,
}

/// What redeeming an invite creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDevice {
    pub member_id: MemberId,
    pub member_name: String,
    pub device_id: DeviceId,
    pub label: String,
    pub actor: Vec<u8>,
    /// SHA-256 of the bearer token.
    pub token_hash: Vec<u8>,
    pub created_at: i64,
    /// A re-join: the member and device ids are the ones the device had in this team before this
    /// server forgot it (restored from a backup); granted only if the invite is for this team
    /// ([`Redeem::OtherTeam`]) and this server knows neither id ([`Redeem::IdTaken`]).
    pub rejoin: Option<TeamId>,
}

/// The result of redeeming an invite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redeem {
    Joined {
        team: TeamRecord,
        role: Role,
    },
    Unknown,
    Expired,
    UsedUp,
    /// The actor id is already bound to another device.
    ActorTaken,
    /// A re-join asked for a member or device id this server knows: it is someone's (or a
    /// revoked device's), and an invite never hands over an existing identity.
    IdTaken,
    /// A re-join with an invite of another team than the device's.
    OtherTeam,
}

/// What a document is and whose it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocMeta {
    pub id: Uuid,
    pub team: TeamId,
    pub kind: Kind,
    /// The worker, for shift documents.
    pub owner: Option<MemberId>,
}

/// A stored change as the in-process change log gives it: which document changed, and by whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRef {
    pub seq: u64,
    pub meta: DocMeta,
    /// The device that pushed it, or on whose behalf the server wrote it.
    pub device: Option<DeviceId>,
    /// Written by the server with its own actor (an edit of its own or on a browser's behalf).
    pub by_server: bool,
    /// The change's hash: whether a cached document holds it (another instance's change does not).
    pub hash: Vec<u8>,
}

/// One stored change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChange {
    pub seq: u64,
    pub hash: Vec<u8>,
    pub bytes: Vec<u8>,
}

/// A document as stored: its latest snapshot (with the seq it covers) and the changes after it.
#[derive(Clone, Debug)]
pub struct LoadedDoc {
    pub meta: DocMeta,
    pub snapshot: Option<(u64, Vec<u8>)>,
    pub changes: Vec<StoredChange>,
}

/// A change to append.
#[derive(Clone, Debug)]
pub struct NewChange {
    pub hash: Vec<u8>,
    pub bytes: Vec<u8>,
    pub actor: Vec<u8>,
    /// The device that pushed it (None: written by the server itself).
    pub device: Option<DeviceId>,
}

/// Changes of one document to store in one transaction.
#[derive(Clone, Debug)]
pub struct AppendChanges {
    pub meta: DocMeta,
    /// The document is new: record it.
    pub create: bool,
    pub changes: Vec<NewChange>,
    pub received_at: i64,
}

/// See [`Storage::feed_position`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedPosition {
    pub max_seq: u64,
    pub max_hash: Option<Vec<u8>>,
    pub hash_at_cursor: Option<Vec<u8>>,
}

/// Which documents a device may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedScope {
    pub team: TeamId,
    pub member: MemberId,
    /// Leads see every shift of their team.
    pub all_shifts: bool,
}

/// A document with changes after a feed position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEntry {
    pub meta: DocMeta,
    /// The seq of the document's first change ever; an implementation may give any value not
    /// greater than the position asked for when the document existed then (the feed only
    /// compares the two).
    pub first_seq: u64,
    /// The seq of its first change after the position asked for.
    pub min_seq_after: u64,
}

/// Where an alert is in its life (the shared view type, stored as is).
pub use kith_api::AlertState;

/// A role as both backends store it.
pub(crate) fn role_str(r: Role) -> &'static str {
    match r {
        Role::Member => "member",
        Role::Lead => "lead",
        Role::Admin => "admin",
    }
}

/// A stored role; anything else means the database was changed by hand or is damaged.
pub(crate) fn parse_role(s: &str) -> Result<Role, StorageError> {
    match s {
        "member" => Ok(Role::Member),
        "lead" => Ok(Role::Lead),
        "admin" => Ok(Role::Admin),
        other => Err(StorageError::Corrupt(format!("unknown role '{other}'"))),
    }
}

/// A stored alert (see docs/alerts.md). Kept as one JSON body plus the columns queries need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub id: uuid::Uuid,
    /// The situation it is about ([`kith_domain::alerts::WantedAlert::key`]): unique, so an alert
    /// is raised once even across restarts, and never again once resolved.
    pub key: String,
    pub team: TeamId,
    pub shift: ShiftId,
    pub worker: MemberId,
    pub kind: AlertKind,
    pub urgent: bool,
    /// Server clock: when it started (the overdue moment, or the check-in's effective time).
    pub opened_at: i64,
    /// The deadline missed (overdue alerts).
    pub due: Option<i64>,
    /// The check-in that raised it (support, emergency).
    pub checkin: Option<CheckInId>,
    /// The chain as it was when the alert opened (a later policy edit does not reshuffle it).
    pub chain: Vec<EscalationStep>,
    /// Extensions the shift had when it opened.
    pub extensions_then: usize,
    /// Steps fired so far (each also recorded in the step log).
    pub steps_fired: usize,
    pub state: AlertState,
    pub claimed_by: Option<MemberId>,
    pub claimed_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub resolution: Option<Resolution>,
    pub resolved_by: Option<MemberId>,
    pub note: Option<String>,
}

/// One fired escalation step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredStep {
    pub index: usize,
    pub notify: Notify,
    pub fired_at: i64,
}

/// A person's action on an alert, kept in the alert's log (its history): claims, take-overs,
/// assignments and resolutions by a person. Steps have their own log (`alert_steps`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertLogEntry {
    /// Server clock.
    pub at: i64,
    /// `claimed`, `taken_over`, `assigned` or `resolved`.
    pub action: String,
    /// Who did it.
    pub by: MemberId,
    /// The new owner (assigned), or the owner it was taken from (taken over).
    pub target: Option<MemberId>,
    pub note: Option<String>,
}

/// A webhook delivery to queue in the same transaction as the alert change it reports, if the
/// team has a webhook. `key` is the idempotency key: the same event always has the same key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    pub team: TeamId,
    pub key: String,
    pub body: String,
}

/// A check-in as the server first received it: history keeps all three times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinReceipt {
    pub checkin: CheckInId,
    pub shift: ShiftId,
    pub device: DeviceId,
    pub device_time: i64,
    pub received_at: i64,
    /// The offset (server minus device, ms) of the device that made it, when received.
    pub offset_ms: i64,
    pub effective_at: i64,
}

/// What the server records about a stored shift, in the same transaction as its changes (see
/// [`Derived`]): the shift's tracking row and the first receipt of each value the changes add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracking {
    /// Inserted if the shift is not tracked yet. Of an existing row, the end is filled in once,
    /// and the header's offset and effective start are replaced when `header_written`.
    pub shift: TrackedShift,
    /// The changes wrote the header's times (start, planned end): they count with this offset now.
    pub header_written: bool,
    /// First receipts of new check-ins (an existing receipt is kept).
    pub receipts: Vec<CheckinReceipt>,
    /// First receipts of new extensions and acknowledgements.
    pub entries: Vec<EntryReceipt>,
}

/// A shift the deadline engine watches, and the index of shifts per member the views read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedShift {
    pub shift: ShiftId,
    pub team: TeamId,
    pub worker: MemberId,
    /// The clock offset (server minus device, ms) the header's times count with, fixed when they
    /// were written: a device clock put right later does not move the start or the planned end.
    pub offset_ms: i64,
    pub first_seen: i64,
    /// The start on the server clock (the header's effective start).
    pub started_at: i64,
    /// When the end reached the server.
    pub ended_seen: Option<i64>,
    /// The end on the server clock, and the offset it counts with.
    pub ended_at: Option<i64>,
    pub ended_offset_ms: Option<i64>,
}

/// Which kind of shift entry an [`EntryReceipt`] is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Extension,
    Ack,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Extension => "extension",
            EntryKind::Ack => "ack",
        }
    }

    pub fn parse(s: &str) -> Option<EntryKind> {
        match s {
            "extension" => Some(EntryKind::Extension),
            "ack" => Some(EntryKind::Ack),
            _ => None,
        }
    }
}

/// The first receipt of an extension or an acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryReceipt {
    pub entry: Uuid,
    pub shift: ShiftId,
    pub kind: EntryKind,
    pub received_at: i64,
    pub offset_ms: i64,
}

/// A shift's stored receipts (see [`Storage::shift_receipts`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReceipts {
    pub tracked: TrackedShift,
    pub checkins: Vec<CheckinReceipt>,
    pub entries: Vec<EntryReceipt>,
}

/// What a change did to a shift document, as the domain read it when it was stored.
#[derive(Clone, Debug)]
pub enum ShiftUpdate {
    /// The whole shift after the change.
    Whole(kith_domain::Shift),
    /// The change only added entries (and possibly the end): applied to the shift read at the
    /// heads before, these give the shift at the heads after.
    Added(kith_domain::doc::ShiftAdditions),
}

impl ShiftUpdate {
    /// The check-ins the update stores.
    pub fn checkins(&self) -> &[kith_domain::CheckIn] {
        match self {
            ShiftUpdate::Whole(s) => &s.checkins,
            ShiftUpdate::Added(a) => &a.checkins,
        }
    }
}

/// Handed to the deadline engine with the commit that stored a shift's changes, so it brings its
/// copy of the shift up to date without reading the document again. Not stored: an engine that
/// misses it (a full queue, a restart) reads the document and the stored receipts instead.
#[derive(Clone, Debug)]
pub struct ShiftNote {
    pub update: ShiftUpdate,
    pub before: Vec<automerge::ChangeHash>,
    pub after: Vec<automerge::ChangeHash>,
    /// A whole shift's document has an entry under a key that is not its id's own spelling
    /// ([`kith_domain::doc::shift::odd_keys`]; additions say it of theirs themselves).
    pub odd_keys: bool,
}

/// What the server derives from a batch of changes and stores with them, in the same transaction.
#[derive(Clone, Debug, Default)]
pub struct Derived {
    pub tracking: Option<Tracking>,
    /// A team document's roster: the roles to copy to the member records (as
    /// [`Storage::set_member_roles`] does).
    pub roles: Option<(TeamId, Vec<(MemberId, Role)>)>,
    /// For the deadline engine, after the commit.
    pub note: Option<ShiftNote>,
}

/// A note handed over after its commit (see [`Storage::take_notes`]).
#[derive(Clone, Debug)]
pub struct Committed {
    pub doc: Uuid,
    /// The seqs of the changes it is about.
    pub first_seq: u64,
    pub last_seq: u64,
    pub tracking: Option<Tracking>,
    pub note: ShiftNote,
}

/// A team's webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
}

/// A queued webhook delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub team: TeamId,
    pub key: String,
    pub url: String,
    pub secret: String,
    pub body: String,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub last_error: Option<String>,
}

/// The outcome of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub at: i64,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub delivered: bool,
    /// When to try again (not delivered).
    pub next_attempt_at: i64,
}

/// A member's presence on the live channel, team-wide across server instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceRow {
    pub team: TeamId,
    pub member: MemberId,
    /// A live instance holds a live stream of theirs.
    pub online: bool,
    /// When a stream of theirs last opened or closed (server clock).
    pub last_seen: i64,
}

/// The storage the server runs on.
#[async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug + 'static {
    /// The server's own Automerge actor id (created once, kept forever).
    async fn server_actor(&self) -> StorageResult<Vec<u8>>;

    /// The server's secret for receipts (created once with the database, kept forever): a
    /// receipt proves the server once held a document's heads, even after a restore.
    async fn receipt_key(&self) -> StorageResult<Vec<u8>>;

    /// Creates a team and its team document's first change, atomically.
    async fn create_team(&self, team: TeamRecord, team_doc: AppendChanges) -> StorageResult<()>;
    async fn team(&self, id: TeamId) -> StorageResult<Option<TeamRecord>>;
    async fn teams(&self) -> StorageResult<Vec<TeamRecord>>;
    async fn members(&self, team: TeamId) -> StorageResult<Vec<MemberRecord>>;
    /// Sets the roles of a team's existing members (from the team document's roster); returns how
    /// many changed. Unknown members are ignored. A changed role records the current greatest seq
    /// as the member's `role_seq`.
    async fn set_member_roles(&self, team: TeamId, roles: Vec<(MemberId, Role)>) -> StorageResult<usize>;

    async fn create_invite(&self, invite: InviteRecord) -> StorageResult<()>;
    /// Atomically checks the invite (known, not expired, uses left), uses it once, and creates
    /// the member and the device.
    async fn redeem_invite(&self, code_hash: Vec<u8>, now: i64, join: NewDevice) -> StorageResult<Redeem>;

    async fn device_by_token(&self, token_hash: Vec<u8>) -> StorageResult<Option<DeviceAuth>>;
    async fn devices(&self, team: Option<TeamId>) -> StorageResult<Vec<DeviceRecord>>;
    /// Revokes a device; false if there is no such device or it was already revoked.
    async fn revoke_device(&self, id: DeviceId, at: i64) -> StorageResult<bool>;
    /// A number that moves whenever any process revokes a device or changes a role in this
    /// database (cheap: open live streams are checked again when it moves).
    async fn read_auth_generation(&self) -> StorageResult<i64>;

    async fn doc_meta(&self, id: Uuid) -> StorageResult<Option<DocMeta>>;
    async fn load_doc(&self, id: Uuid) -> StorageResult<Option<LoadedDoc>>;
    /// [`Storage::append_changes_with`] with nothing derived (shorthand; as atomic).
    async fn append_changes(&self, batch: AppendChanges) -> StorageResult<Vec<u64>> {
        self.append_changes_with(batch, Derived::default()).await
    }
    /// Stores changes durably, and what the server derives from them, in one transaction: a
    /// check-in's receipt is stored if and only if the check-in is, and the note reaches
    /// [`Storage::take_notes`] only once they are committed. Returns their seqs in order. Fails
    /// with [`StorageError::Revoked`], storing nothing, if a change's device is revoked. Required
    /// of every backend: there is no non-atomic default.
    async fn append_changes_with(&self, batch: AppendChanges, derived: Derived) -> StorageResult<Vec<u64>>;
    /// Waits until every write queued before it is committed (or failed).
    async fn flush(&self) -> StorageResult<()>;

    /// The greatest seq known stored, moving after each commit of this process (before the
    /// requests that stored the changes hear so); another process's commits are known at this
    /// process's next commit at the latest. Never moves past a seq below which a change could
    /// still appear (the seq rule above). Closed when the storage is.
    fn committed(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Whether other processes (other server instances) store changes in this database too, so a
    /// document cached here may lack one (`coherence.rs`). PostgreSQL: yes. SQLite: one server per
    /// file, no.
    fn shared(&self) -> bool {
        false
    }
    /// The stored changes after `seq`, in seq order, at most `limit` (by any process).
    async fn stored_since(&self, after: u64, limit: usize) -> StorageResult<Vec<StoredRef>>;
    /// The notes attached to stored changes ([`Derived::note`]), in commit order, each after its
    /// commit; once (the deadline engine takes it). A note the receiver has no room for is dropped.
    fn take_notes(&self) -> Option<tokio::sync::mpsc::Receiver<Committed>>;
    /// Bounds the in-memory window of recent changes to `bytes` (`cache.feed_window_bytes`,
    /// [`recent::Recent`]); past it the oldest are forgotten, and read from the database when
    /// asked for.
    fn set_feed_window_bytes(&self, bytes: usize);
    /// Bounds the cache of device lookups by token to about `bytes` (`cache.auth_max_bytes`);
    /// past it the cache starts over. A backend without such a cache has nothing to bound.
    fn set_auth_cache_bytes(&self, _bytes: usize) {}
    async fn put_snapshot(&self, doc: Uuid, upto_seq: u64, bytes: Vec<u8>) -> StorageResult<()>;
    async fn count_docs(&self) -> StorageResult<u64>;

    /// Documents visible in `scope` with changes after `after`, by their first such change, at most `limit`.
    async fn feed_docs(&self, scope: FeedScope, after: u64, limit: usize) -> StorageResult<Vec<FeedEntry>>;
    /// A document's changes with seq > `after`, in seq order.
    async fn changes_after(&self, doc: Uuid, after: u64) -> StorageResult<Vec<StoredChange>>;
    /// The hashes of [`Storage::changes_after`], in seq order, if the window of recent changes in
    /// memory holds them all (no database read; None: ask `changes_after`). The feed takes the
    /// changes themselves from the cached document, so a lead poked about a change fetches it
    /// without a disk read.
    fn recent_hashes(&self, _doc: Uuid, _after: u64) -> Option<Vec<Vec<u8>>> {
        None
    }
    /// The change with the greatest seq <= `seq` (any document): its seq and hash.
    async fn change_at_or_before(&self, seq: u64) -> StorageResult<Option<(u64, Vec<u8>)>>;
    /// The greatest seq stored (0 if none).
    async fn max_seq(&self) -> StorageResult<u64>;
    /// Where the feed stands, in one read: the greatest seq stored with its hash, and the hash
    /// of the change at `cursor_seq` (if there is one).
    async fn feed_position(&self, cursor_seq: u64) -> StorageResult<FeedPosition>;
    /// A member's shifts, the latest start (on the server clock) first, at most `limit`; only
    /// those that started at or after `since` if given.
    async fn member_shifts(
        &self,
        team: TeamId,
        member: MemberId,
        since: Option<i64>,
        limit: usize,
    ) -> StorageResult<Vec<Uuid>>;
    /// The shifts a team's board is made of: every active shift, and for each member with a
    /// shift that ended, the one that ended last (on the server clock).
    async fn board_shifts(&self, team: TeamId) -> StorageResult<Vec<ShiftId>>;

    // --- alerts (docs/alerts.md) ---

    /// Stores a new alert unless one with the same key exists; true if stored.
    async fn insert_alert(&self, alert: AlertRecord, event: Option<WebhookEvent>) -> StorageResult<bool>;
    /// Records that step `index` fired (once: false if it had already) and counts it on the alert.
    async fn fire_step(&self, alert: uuid::Uuid, step: FiredStep, event: Option<WebhookEvent>) -> StorageResult<bool>;
    /// Replaces an alert if its state is still `expect` (claim and resolve race safely); true if replaced.
    async fn update_alert(
        &self,
        alert: AlertRecord,
        expect: AlertState,
        event: Option<WebhookEvent>,
    ) -> StorageResult<bool>;
    /// [`Storage::update_alert`] if the alert is also still owned by `owner_was` (two leads taking
    /// it over at once: one wins), and `log` appended to the alert's log in the same transaction
    /// (a claim, take-over, assignment or resolution is in the history if and only if it happened).
    async fn update_alert_logged(
        &self,
        alert: AlertRecord,
        expect: AlertState,
        owner_was: Option<MemberId>,
        event: Option<WebhookEvent>,
        log: AlertLogEntry,
    ) -> StorageResult<bool>;
    /// The step logs and action logs of many alerts in one read (the console lists every
    /// alert with its history): by alert, each oldest first.
    async fn alert_histories(
        &self,
        alerts: Vec<uuid::Uuid>,
    ) -> StorageResult<std::collections::HashMap<uuid::Uuid, (Vec<FiredStep>, Vec<AlertLogEntry>)>>;
    async fn alert(&self, id: uuid::Uuid) -> StorageResult<Option<AlertRecord>>;
    /// Alerts of a team (or of every team), newest first; only open and claimed ones if `unresolved`.
    async fn alerts(&self, team: Option<TeamId>, unresolved: bool, limit: usize) -> StorageResult<Vec<AlertRecord>>;
    async fn alert_steps(&self, alert: uuid::Uuid) -> StorageResult<Vec<FiredStep>>;

    async fn checkin_receipts(&self, shift: ShiftId) -> StorageResult<Vec<CheckinReceipt>>;
    /// The tracking rows and receipts of these shifts (those that are tracked), in one read.
    async fn shift_receipts(&self, shifts: Vec<ShiftId>) -> StorageResult<Vec<StoredReceipts>>;
    async fn set_device_offset(&self, device: DeviceId, offset_ms: i64, at: i64) -> StorageResult<()>;
    /// A device's last stored clock offset and when it was measured, if any (read on a miss of
    /// the bounded cache of clock offsets, [`crate::receipts::DeviceClocks`]).
    async fn device_offset(&self, device: DeviceId) -> StorageResult<Option<(i64, i64)>>;
    /// Stores tracking rows and receipts as [`Derived::tracking`] does, for shifts stored
    /// without them (by an older version of the server, or another process), in one transaction.
    async fn track_shifts(&self, shifts: Vec<Tracking>) -> StorageResult<()>;
    /// Shifts not seen ended, and ended ones that still have an unresolved alert (a crash
    /// between storing the end and resolving its alerts must not leave them open forever).
    async fn active_shifts(&self) -> StorageResult<Vec<TrackedShift>>;
    /// Shift documents with no tracking row, and when their first change arrived, at most `limit`.
    async fn untracked_shifts(&self, limit: usize) -> StorageResult<Vec<(ShiftId, i64)>>;

    /// Sets (or with None removes) a team's webhook.
    async fn set_webhook(&self, team: TeamId, hook: Option<WebhookConfig>) -> StorageResult<()>;
    async fn webhook(&self, team: TeamId) -> StorageResult<Option<WebhookConfig>>;
    /// Undelivered deliveries due at `now`, oldest first.
    async fn due_deliveries(&self, now: i64, limit: usize) -> StorageResult<Vec<Delivery>>;
    /// The earliest next attempt of an undelivered delivery.
    async fn next_delivery_at(&self) -> StorageResult<Option<i64>>;
    /// Logs an attempt and updates the delivery.
    async fn record_attempt(&self, delivery: i64, attempt: DeliveryAttempt) -> StorageResult<()>;
    /// A team's deliveries, oldest first (the delivery log).
    async fn deliveries(&self, team: TeamId) -> StorageResult<Vec<Delivery>>;

    /// Takes or renews the lease `name` for `holder` until `now + ttl_ms`; true if `holder` holds
    /// it now (it was free, had expired, or was already its own). Several server instances on one
    /// database run the deadline ticker and the webhook deliverer only while they hold the `duty`
    /// lease, so each step and each delivery is done by one of them; when the holder dies its
    /// lease expires and another takes it over. A backend that serves one server process per
    /// database (SQLite) grants it always.
    async fn hold_lease(&self, name: &str, holder: &str, now: i64, ttl_ms: i64) -> StorageResult<bool>;

    /// Several instances: records that server instance `instance` holds `connections` live
    /// streams of `member` now, keeps the instance alive for `ttl_ms`, and tells every instance
    /// ([`Storage::presence_changes`]).
    async fn set_presence(
        &self,
        instance: &str,
        team: TeamId,
        member: MemberId,
        connections: u32,
        now: i64,
        ttl_ms: i64,
    ) -> StorageResult<()>;
    /// Keeps `instance` alive for `ttl_ms`, and forgets the instances that stopped doing so (they
    /// crashed): the presence of their members is told to every instance as changed.
    async fn presence_beat(&self, instance: &str, now: i64, ttl_ms: i64) -> StorageResult<()>;
    /// Team-wide presence of one member, or of every member seen: online while an instance still
    /// alive at `now` holds a live stream of theirs.
    async fn presence(&self, of: Option<(TeamId, MemberId)>, now: i64) -> StorageResult<Vec<PresenceRow>>;
    /// The members whose presence changed on any instance, as the database tells them. None: the
    /// backend serves one server process per database (SQLite), whose presence lives in memory;
    /// the other presence methods then store nothing.
    fn presence_changes(&self) -> Option<tokio::sync::broadcast::Receiver<(TeamId, MemberId)>>;

    /// Several instances: tells every instance on the database `message` (a live event of this
    /// one, JSON, at most 7900 bytes), delivered after this returns to
    /// [`Storage::instance_messages`] everywhere, this instance included. A backend that serves one
    /// server process per database (SQLite) has nobody to tell and does nothing.
    async fn tell_instances(&self, message: String) -> StorageResult<()>;
    /// What instances told ([`Storage::tell_instances`]); None: one process per database (SQLite).
    fn instance_messages(&self) -> Option<tokio::sync::broadcast::Receiver<String>>;

    /// A cheap write that goes all the way to durable storage (a transaction committed like any
    /// other): fails when nothing can be stored, e.g. a full disk or a database locked elsewhere.
    /// `/healthz` calls it, at most every `limits.health_probe_interval_ms`.
    async fn probe(&self, now: i64) -> StorageResult<()>;

    /// Finishes pending writes and closes the database. Later calls fail with `Closed`.
    async fn close(&self);
}

/// Opens the storage the configuration names: PostgreSQL for a `database_url`
/// (`postgres://...`), else the SQLite file in the data directory.
pub async fn open(config: &crate::Config) -> StorageResult<std::sync::Arc<dyn Storage>> {
    match config.postgres_url() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(std::sync::Arc::new(postgres::PgStorage::open(url, config.database_pool_size).await?))
        }
        Some(_) => Err(StorageError::Db(format!(
            "database_url {} is not a postgres:// URL: set one, or leave it unset for the SQLite file in the data directory",
            config.database_label()
        ))),
        None => {
            let path = config.database_path();
            tokio::task::spawn_blocking(move || sqlite::SqliteStorage::open(&path))
                .await
                .map_err(|e| StorageError::Db(format!("opening the database failed: {e}")))?
                .map(|s| std::sync::Arc::new(s) as std::sync::Arc<dyn Storage>)
        }
    }
}
