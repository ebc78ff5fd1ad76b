//! A storage decorator for tests whose document appends can be made to fail like a full or
//! failing disk, a busy or a corrupt database ([`Fault`]), then recover: the real storage
//! underneath, the failure injected at the [`Storage`] trait boundary as the real SQLite error
//! put through the storage layer's own classification, so every layer above (sync, alerts, HTTP)
//! meets it as it would a real `SQLITE_FULL` or `SQLITE_CORRUPT`. Start a server on it with [`super::TestServer::start_with_storage_faults`].
//! Appends can also be held: the thread that makes one stops there, as long CPU work would hold it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use kith_domain::{DeviceId, MemberId, Role, ShiftId, TeamId};
use uuid::Uuid;

use crate::storage::*;

/// The switch of a [`FaultyStorage`]: cheap to clone, shared with the test.
#[derive(Clone, Debug)]
pub struct StorageFaults {
    fault: Arc<std::sync::Mutex<Option<Fault>>>,
    /// Whether the deadline engine's alert writes (`insert_alert`, `fire_step`) fail, and how.
    alert_fault: Arc<std::sync::Mutex<Option<Fault>>>,
    refused: Arc<AtomicU64>,
    hold: Arc<Hold>,
    /// Reads of a document's changes from the database (`changes_after`).
    change_reads: Arc<AtomicU64>,
    /// Whether what an instance tells the others (presence rows, alert events) waits.
    told_held: Arc<tokio::sync::watch::Sender<bool>>,
    /// Presence rows written, and alert events told, so far.
    presence_writes: Arc<AtomicU64>,
    tells: Arc<AtomicU64>,
}

/// Whether appends are held, and how many threads are held in one now.
#[derive(Debug)]
struct Hold {
    on: std::sync::Mutex<bool>,
    released: std::sync::Condvar,
    held: tokio::sync::watch::Sender<usize>,
}

impl Default for Hold {
    fn default() -> Hold {
        Hold {
            on: std::sync::Mutex::new(false),
            released: std::sync::Condvar::new(),
            held: tokio::sync::watch::channel(0).0,
        }
    }
}

/// What a full disk makes SQLite say.
pub const DISK_FULL: &str = "database or disk is full";

/// How appends fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `SQLITE_FULL`: transient (space can be freed).
    DiskFull,
    /// `SQLITE_BUSY`: transient.
    Busy,
    /// `SQLITE_LOCKED`: transient.
    Locked,
    /// `SQLITE_CORRUPT`, "database disk image is malformed": no retry helps.
    Malformed,
    /// `SQLITE_CONSTRAINT`: no retry helps.
    Constraint,
}

impl Fault {
    /// The error the storage layer makes of the real SQLite error.
    pub fn error(self) -> StorageError {
        use rusqlite::ffi;
        let (code, message) = match self {
            Fault::DiskFull => (ffi::SQLITE_FULL, DISK_FULL),
            Fault::Busy => (ffi::SQLITE_BUSY, "database is locked"),
            Fault::Locked => (ffi::SQLITE_LOCKED, "database table is locked"),
            Fault::Malformed => (ffi::SQLITE_CORRUPT, "database disk image is malformed"),
            Fault::Constraint => (ffi::SQLITE_CONSTRAINT, "CHECK constraint failed: changes"),
        };
        crate::storage::sqlite::db(rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message.into())))
    }
}

impl Default for StorageFaults {
    fn default() -> StorageFaults {
        StorageFaults {
            fault: Arc::default(),
            alert_fault: Arc::default(),
            refused: Arc::default(),
            hold: Arc::default(),
            change_reads: Arc::default(),
            told_held: Arc::new(tokio::sync::watch::channel(false).0),
            presence_writes: Arc::default(),
            tells: Arc::default(),
        }
    }
}

impl StorageFaults {
    pub fn new() -> StorageFaults {
        StorageFaults::default()
    }

    /// From now on what this instance tells the others (`set_presence`, `tell_instances`) waits,
    /// as on a stalled database, until [`StorageFaults::release_told`].
    pub fn hold_told(&self) {
        self.told_held.send_replace(true);
    }

    pub fn release_told(&self) {
        self.told_held.send_replace(false);
    }

    /// Presence rows written so far.
    pub fn presence_writes(&self) -> u64 {
        self.presence_writes.load(Ordering::SeqCst)
    }

    /// Alert events told to the other instances so far.
    pub fn tells(&self) -> u64 {
        self.tells.load(Ordering::SeqCst)
    }

    async fn wait_if_told_held(&self) {
        let mut rx = self.told_held.subscribe();
        let _ = rx.wait_for(|held| !held).await;
    }

    /// From now on every document append fails as on a full disk (nothing is stored).
    pub fn fill_disk(&self) {
        self.fail_appends(Fault::DiskFull);
    }

    /// The disk has room again: appends go through to the real storage.
    pub fn free_disk(&self) {
        self.heal();
    }

    /// From now on every document append fails with `fault` (nothing is stored).
    pub fn fail_appends(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(fault);
    }

    /// From now on every alert the deadline engine raises, and every step it fires, fails with
    /// `fault` (nothing is stored).
    pub fn fail_alert_writes(&self, fault: Fault) {
        *self.alert_fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(fault);
    }

    /// Appends and alert writes go through to the real storage again.
    pub fn heal(&self) {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.alert_fault.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn check_alert_write(&self) -> StorageResult<()> {
        match *self.alert_fault.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(fault) => Err(fault.error()),
            None => Ok(()),
        }
    }

    fn current(&self) -> Option<Fault> {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many times a document's changes were read from the database (`changes_after`).
    pub fn change_reads(&self) -> u64 {
        self.change_reads.load(Ordering::SeqCst)
    }

    /// How many appends were refused so far.
    pub fn refused_appends(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    /// From now on every document append blocks the thread that makes it (not just its task:
    /// as seconds of Automerge work would) until [`StorageFaults::release_appends`].
    pub fn hold_appends(&self) {
        *self.hold.on.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }

    /// Lets held appends (and later ones) go on.
    pub fn release_appends(&self) {
        *self.hold.on.lock().unwrap_or_else(|e| e.into_inner()) = false;
        self.hold.released.notify_all();
    }

    /// How many appends are held now (wait on it instead of sleeping).
    pub fn held_appends(&self) -> tokio::sync::watch::Receiver<usize> {
        self.hold.held.subscribe()
    }

    fn wait_if_held(&self) {
        let mut on = self.hold.on.lock().unwrap_or_else(|e| e.into_inner());
        if !*on {
            return;
        }
        self.hold.held.send_modify(|n| *n += 1);
        while *on {
            on = self.hold.released.wait(on).unwrap_or_else(|e| e.into_inner());
        }
        self.hold.held.send_modify(|n| *n -= 1);
    }

    fn check_append(&self) -> StorageResult<()> {
        self.wait_if_held();
        if let Some(fault) = self.current() {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(fault.error());
        }
        Ok(())
    }
}

/// Real storage whose document appends fail while [`StorageFaults::fill_disk`] is on.
#[derive(Debug)]
pub struct FaultyStorage {
    inner: Arc<dyn Storage>,
    faults: StorageFaults,
}

impl FaultyStorage {
    pub fn new(inner: Arc<dyn Storage>, faults: StorageFaults) -> FaultyStorage {
        FaultyStorage { inner, faults }
    }
}

// Every method delegates; only the appends of document changes and the alert writes consult the switch.
#[async_trait]
impl Storage for FaultyStorage {
    async fn server_actor(&self) -> StorageResult<Vec<u8>> {
        self.inner.server_actor().await
    }

    async fn receipt_key(&self) -> StorageResult<Vec<u8>> {
        self.inner.receipt_key().await
    }

    async fn create_team(&self, team: TeamRecord, team_doc: AppendChanges) -> StorageResult<()> {
        self.inner.create_team(team, team_doc).await
    }

    async fn team(&self, id: TeamId) -> StorageResult<Option<TeamRecord>> {
        self.inner.team(id).await
    }

    async fn teams(&self) -> StorageResult<Vec<TeamRecord>> {
        self.inner.teams().await
    }

    async fn members(&self, team: TeamId) -> StorageResult<Vec<MemberRecord>> {
        self.inner.members(team).await
    }

    async fn set_member_roles(&self, team: TeamId, roles: Vec<(MemberId, Role)>) -> StorageResult<usize> {
        self.inner.set_member_roles(team, roles).await
    }

    async fn create_invite(&self, invite: InviteRecord) -> StorageResult<()> {
        self.inner.create_invite(invite).await
    }

    async fn redeem_invite(&self, code_hash: Vec<u8>, now: i64, join: NewDevice) -> StorageResult<Redeem> {
        self.inner.redeem_invite(code_hash, now, join).await
    }

    async fn device_by_token(&self, token_hash: Vec<u8>) -> StorageResult<Option<DeviceAuth>> {
        self.inner.device_by_token(token_hash).await
    }

    async fn devices(&self, team: Option<TeamId>) -> StorageResult<Vec<DeviceRecord>> {
        self.inner.devices(team).await
    }

    async fn revoke_device(&self, id: DeviceId, at: i64) -> StorageResult<bool> {
        self.inner.revoke_device(id, at).await
    }

    async fn read_auth_generation(&self) -> StorageResult<i64> {
        self.inner.read_auth_generation().await
    }

    async fn doc_meta(&self, id: Uuid) -> StorageResult<Option<DocMeta>> {
        self.inner.doc_meta(id).await
    }

    async fn load_doc(&self, id: Uuid) -> StorageResult<Option<LoadedDoc>> {
        self.inner.load_doc(id).await
    }

    async fn append_changes_with(&self, batch: AppendChanges, derived: Derived) -> StorageResult<Vec<u64>> {
        self.faults.check_append()?;
        self.inner.append_changes_with(batch, derived).await
    }

    async fn flush(&self) -> StorageResult<()> {
        self.inner.flush().await
    }

    fn committed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.committed()
    }
    fn shared(&self) -> bool {
        self.inner.shared()
    }

    async fn stored_since(&self, after: u64, limit: usize) -> StorageResult<Vec<StoredRef>> {
        self.inner.stored_since(after, limit).await
    }

    fn take_notes(&self) -> Option<tokio::sync::mpsc::Receiver<Committed>> {
        self.inner.take_notes()
    }

    fn set_feed_window_bytes(&self, bytes: usize) {
        self.inner.set_feed_window_bytes(bytes);
    }

    fn set_auth_cache_bytes(&self, bytes: usize) {
        self.inner.set_auth_cache_bytes(bytes);
    }

    async fn put_snapshot(&self, doc: Uuid, upto_seq: u64, bytes: Vec<u8>) -> StorageResult<()> {
        self.inner.put_snapshot(doc, upto_seq, bytes).await
    }

    async fn count_docs(&self) -> StorageResult<u64> {
        self.inner.count_docs().await
    }

    async fn feed_docs(&self, scope: FeedScope, after: u64, limit: usize) -> StorageResult<Vec<FeedEntry>> {
        self.inner.feed_docs(scope, after, limit).await
    }

    async fn changes_after(&self, doc: Uuid, after: u64) -> StorageResult<Vec<StoredChange>> {
        self.faults.change_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.changes_after(doc, after).await
    }
    fn recent_hashes(&self, doc: Uuid, after: u64) -> Option<Vec<Vec<u8>>> {
        self.inner.recent_hashes(doc, after)
    }

    async fn change_at_or_before(&self, seq: u64) -> StorageResult<Option<(u64, Vec<u8>)>> {
        self.inner.change_at_or_before(seq).await
    }

    async fn max_seq(&self) -> StorageResult<u64> {
        self.inner.max_seq().await
    }

    async fn feed_position(&self, cursor_seq: u64) -> StorageResult<FeedPosition> {
        self.inner.feed_position(cursor_seq).await
    }

    async fn member_shifts(
        &self,
        team: TeamId,
        member: MemberId,
        since: Option<i64>,
        limit: usize,
    ) -> StorageResult<Vec<Uuid>> {
        self.inner.member_shifts(team, member, since, limit).await
    }

    async fn board_shifts(&self, team: TeamId) -> StorageResult<Vec<ShiftId>> {
        self.inner.board_shifts(team).await
    }

    async fn insert_alert(&self, alert: AlertRecord, event: Option<WebhookEvent>) -> StorageResult<bool> {
        self.faults.check_alert_write()?;
        self.inner.insert_alert(alert, event).await
    }

    async fn fire_step(&self, alert: uuid::Uuid, step: FiredStep, event: Option<WebhookEvent>) -> StorageResult<bool> {
        self.faults.check_alert_write()?;
        self.inner.fire_step(alert, step, event).await
    }

    async fn update_alert(
        &self,
        alert: AlertRecord,
        expect: AlertState,
        event: Option<WebhookEvent>,
    ) -> StorageResult<bool> {
        self.inner.update_alert(alert, expect, event).await
    }

    async fn update_alert_logged(
        &self,
        alert: AlertRecord,
        expect: AlertState,
        owner_was: Option<MemberId>,
        event: Option<WebhookEvent>,
        log: AlertLogEntry,
    ) -> StorageResult<bool> {
        self.inner.update_alert_logged(alert, expect, owner_was, event, log).await
    }

    async fn alert_histories(
        &self,
        alerts: Vec<Uuid>,
    ) -> StorageResult<std::collections::HashMap<Uuid, (Vec<FiredStep>, Vec<AlertLogEntry>)>> {
        self.inner.alert_histories(alerts).await
    }

    async fn alert(&self, id: uuid::Uuid) -> StorageResult<Option<AlertRecord>> {
        self.inner.alert(id).await
    }

    async fn alerts(&self, team: Option<TeamId>, unresolved: bool, limit: usize) -> StorageResult<Vec<AlertRecord>> {
        self.inner.alerts(team, unresolved, limit).await
    }

    async fn alert_steps(&self, alert: uuid::Uuid) -> StorageResult<Vec<FiredStep>> {
        self.inner.alert_steps(alert).await
    }

    async fn checkin_receipts(&self, shift: ShiftId) -> StorageResult<Vec<CheckinReceipt>> {
        self.inner.checkin_receipts(shift).await
    }

    async fn set_device_offset(&self, device: DeviceId, offset_ms: i64, at: i64) -> StorageResult<()> {
        self.inner.set_device_offset(device, offset_ms, at).await
    }

    async fn shift_receipts(&self, shifts: Vec<ShiftId>) -> StorageResult<Vec<StoredReceipts>> {
        self.inner.shift_receipts(shifts).await
    }

    async fn device_offset(&self, device: DeviceId) -> StorageResult<Option<(i64, i64)>> {
        self.inner.device_offset(device).await
    }

    async fn track_shifts(&self, shifts: Vec<Tracking>) -> StorageResult<()> {
        self.inner.track_shifts(shifts).await
    }

    async fn active_shifts(&self) -> StorageResult<Vec<TrackedShift>> {
        self.inner.active_shifts().await
    }

    async fn untracked_shifts(&self, limit: usize) -> StorageResult<Vec<(ShiftId, i64)>> {
        self.inner.untracked_shifts(limit).await
    }

    async fn set_webhook(&self, team: TeamId, hook: Option<WebhookConfig>) -> StorageResult<()> {
        self.inner.set_webhook(team, hook).await
    }

    async fn webhook(&self, team: TeamId) -> StorageResult<Option<WebhookConfig>> {
        self.inner.webhook(team).await
    }

    async fn due_deliveries(&self, now: i64, limit: usize) -> StorageResult<Vec<Delivery>> {
        self.inner.due_deliveries(now, limit).await
    }

    async fn next_delivery_at(&self) -> StorageResult<Option<i64>> {
        self.inner.next_delivery_at().await
    }

    async fn record_attempt(&self, delivery: i64, attempt: DeliveryAttempt) -> StorageResult<()> {
        self.inner.record_attempt(delivery, attempt).await
    }

    async fn deliveries(&self, team: TeamId) -> StorageResult<Vec<Delivery>> {
        self.inner.deliveries(team).await
    }

    async fn hold_lease(&self, name: &str, holder: &str, now: i64, ttl_ms: i64) -> StorageResult<bool> {
        self.inner.hold_lease(name, holder, now, ttl_ms).await
    }

    async fn set_presence(
        &self,
        instance: &str,
        team: TeamId,
        member: MemberId,
        connections: u32,
        now: i64,
        ttl_ms: i64,
    ) -> StorageResult<()> {
        self.faults.wait_if_told_held().await;
        let r = self.inner.set_presence(instance, team, member, connections, now, ttl_ms).await;
        self.faults.presence_writes.fetch_add(1, Ordering::SeqCst);
        r
    }

    async fn presence_beat(&self, instance: &str, now: i64, ttl_ms: i64) -> StorageResult<()> {
        self.inner.presence_beat(instance, now, ttl_ms).await
    }

    async fn presence(&self, of: Option<(TeamId, MemberId)>, now: i64) -> StorageResult<Vec<PresenceRow>> {
        self.inner.presence(of, now).await
    }

    fn presence_changes(&self) -> Option<tokio::sync::broadcast::Receiver<(TeamId, MemberId)>> {
        self.inner.presence_changes()
    }

    async fn tell_instances(&self, message: String) -> StorageResult<()> {
        self.faults.wait_if_told_held().await;
        let r = self.inner.tell_instances(message).await;
        self.faults.tells.fetch_add(1, Ordering::SeqCst);
        r
    }

    fn instance_messages(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        self.inner.instance_messages()
    }

    // A full disk fails the health probe too, as it would fail any other write.
    async fn probe(&self, now: i64) -> StorageResult<()> {
        if let Some(fault) = self.faults.current() {
            return Err(fault.error());
        }
        self.inner.probe(now).await
    }

    async fn close(&self) {
        self.inner.close().await
    }
}
