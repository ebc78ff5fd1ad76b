//! PostgreSQL storage: one database that several stateless server instances can share, reached
//! through a connection pool (deadpool-postgres over tokio-postgres, no TLS: loopback or a
//! private network). Chosen by `database_url` (docs/operations.md).
//!
//! **Seqs in commit order.** A PostgreSQL sequence hands out numbers before commit, and
//! transactions commit out of order: a reader that passed seq 12 would never see seq 11 committed
//! later. So seqs come from one counter row (`seq_counter`), incremented inside the storing
//! transaction: its row lock is held until commit, so a second append waits for the first to
//! commit (or roll back) before it takes its seqs, and every reader that sees a seq sees every
//! lower one. Appends are serialised on the counter only; everything before (reading documents,
//! checking changes) runs in parallel, and the lock is held for one insert round.
//!
//! **Invalidation.** Every append sends `NOTIFY kith_changes` in its transaction (delivered at
//! commit). A listener connection per instance reads the new range of changes and extends the
//! change log ([`crate::storage::log`]), so commits of other processes (another instance,
//! `kith-server admin`) reach the followers at once, not at this instance's next commit. Device
//! lookups are not cached: every request reads its device and role from the database, so a
//! revocation or role change made anywhere applies at the next request.

mod alerts;
mod auth;
mod docs;
pub mod schema;
mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use kith_domain::{DeviceId, MemberId, Role, ShiftId, TeamId};
use kith_proto::Kind;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::log::ChangeLog;
use super::recent::CAPACITY;
use super::*;

/// The channel every append notifies.
const CHANNEL: &str = "kith_changes";

/// The channel presence changes are told on (payload: `<team id> <member id>`).
const PRESENCE_CHANNEL: &str = "kith_presence";

/// The channel instances tell each other live events on ([`Storage::tell_instances`]).
const MESSAGE_CHANNEL: &str = "kith_live";

/// Taken while migrating, so two instances starting at once take turns.
const MIGRATION_LOCK: i64 = 0x6b69_7468_6d69_6772;

/// PostgreSQL storage.
pub struct PgStorage {
    pool: Pool,
    pub(super) shared: Arc<Shared>,
    closed: AtomicBool,
    listener: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the requests and the listener share: the pool, the change log, and the lock that makes
/// publishing ranges to the log one at a time.
pub(super) struct Shared {
    pool: Pool,
    pub(super) log: Arc<ChangeLog>,
    publishing: tokio::sync::Mutex<()>,
    /// Members whose presence changed on some instance ([`PRESENCE_CHANNEL`]).
    presence: tokio::sync::broadcast::Sender<(TeamId, MemberId)>,
    /// What instances told each other ([`MESSAGE_CHANNEL`]).
    messages: tokio::sync::broadcast::Sender<String>,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage").finish_non_exhaustive()
    }
}

/// `sql` prepared once per pooled connection: a statement given as text is prepared on every run
/// (a round trip of its own before the one that runs it), which the statements of every sync
/// would pay each time.
pub(super) async fn cached(
    c: &impl deadpool_postgres::GenericClient,
    sql: &str,
) -> Result<tokio_postgres::Statement, StorageError> {
    c.prepare_cached(sql).await.map_err(pg)
}

/// A PostgreSQL error as a [`StorageError`]: without a database error (the connection lost or
/// closed, an I/O error on the socket) or with a code a retry can help ([`pg_transient`]):
/// [`StorageError::Unavailable`]; any other code (a broken constraint, corrupt data, SQL the
/// database refuses): [`StorageError::Db`].
pub(super) fn pg(e: tokio_postgres::Error) -> StorageError {
    match e.as_db_error() {
        Some(d) if pg_transient(d.code()) => StorageError::Unavailable(format!("PostgreSQL: {}", d.message())),
        Some(d) => StorageError::Db(format!("PostgreSQL: {}", d.message())),
        None => StorageError::Unavailable(format!("PostgreSQL: {e}")),
    }
}

/// Whether a PostgreSQL error code may pass on a retry: connection exceptions (class 08), a
/// serialization failure or deadlock (40), insufficient resources such as a full disk or too many
/// connections (53), the server shutting down or a cancelled statement (57), a system I/O error
/// (58), a lock not available (55P03).
pub(super) fn pg_transient(code: &SqlState) -> bool {
    let c = code.code();
    ["08", "40", "53", "57", "58"].iter().any(|class| c.starts_with(class)) || *code == SqlState::LOCK_NOT_AVAILABLE
}

/// A unique violation becomes `Conflict(what)`.
pub(super) fn pg_conflict(e: tokio_postgres::Error, what: &str) -> StorageError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) { StorageError::Conflict(what.into()) } else { pg(e) }
}

fn pool_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(format!("PostgreSQL: no connection: {e}"))
}

/// Leaves the password out of a URL shown in an error.
fn redact(url: &str) -> String {
    url.rsplit_once('@').map_or_else(|| url.to_string(), |(_, host)| format!("postgres://…@{host}"))
}

pub(super) fn parse_uuid(s: &str) -> Result<Uuid, StorageError> {
    Uuid::parse_str(s).map_err(|_| StorageError::Corrupt(format!("'{s}' is not a UUID")))
}

pub(super) fn parse_kind(s: &str) -> Result<Kind, StorageError> {
    Kind::parse(s).ok_or_else(|| StorageError::Corrupt(format!("unknown document kind '{s}'")))
}

pub(super) fn u(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

pub(super) fn i(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

pub(super) fn lim(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Column `i` of a row.
pub(super) fn g<'a, T: tokio_postgres::types::FromSql<'a>>(r: &'a tokio_postgres::Row, i: usize) -> StorageResult<T> {
    r.try_get(i).map_err(pg)
}

impl PgStorage {
    /// Connects to `url` (`postgres://user:password@host:port/database`), migrates the schema
    /// and starts listening for other processes' commits. `pool_size` connections at most.
    pub async fn open(url: &str, pool_size: usize) -> StorageResult<PgStorage> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StorageError::Db(format!("database_url {} is not a PostgreSQL URL: {e}", redact(url))))?;
        let connect_err = |e: tokio_postgres::Error| {
            StorageError::Unavailable(format!("cannot connect to the database {}: {}", redact(url), pg(e)))
        };
        // Migrations and the listener each use a connection of their own.
        let (mut setup, conn) = config.connect(NoTls).await.map_err(connect_err)?;
        let setup_task = tokio::spawn(conn);
        setup.query("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg)?;
        let migrated = schema::runner()?.run_async(&mut setup).await;
        setup.query("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await.map_err(pg)?;
        migrated.map_err(|e| StorageError::Db(format!("the database {} could not be migrated: {e}", redact(url))))?;
        let actor: [u8; 16] = rand::random();
        let key: [u8; 32] = rand::random();
        setup
            .execute(
                "INSERT INTO meta (key, value) VALUES ('server_actor', $1), ('receipt_key', $2) ON CONFLICT (key) DO NOTHING",
                &[&actor.as_slice(), &key.as_slice()],
            )
            .await
            .map_err(pg)?;
        let server_actor: Vec<u8> = {
            let r = setup.query_one("SELECT value FROM meta WHERE key = 'server_actor'", &[]).await.map_err(pg)?;
            g(&r, 0)?
        };
        drop(setup);
        let _ = setup_task.await;

        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(2))
            .build()
            .map_err(|e| StorageError::Db(format!("cannot build the connection pool: {e}")))?;
        let last = docs::last_change(&pool.get().await.map_err(pool_err)?).await?;
        let shared = Arc::new(Shared {
            pool: pool.clone(),
            log: Arc::new(ChangeLog::new(last, server_actor)),
            publishing: tokio::sync::Mutex::new(()),
            presence: tokio::sync::broadcast::channel(4096).0,
            messages: tokio::sync::broadcast::channel(4096).0,
        });
        let listener = listen(&config, shared.clone()).await.map_err(connect_err)?;
        Ok(PgStorage { pool, shared, closed: AtomicBool::new(false), listener: std::sync::Mutex::new(Some(listener)) })
    }

    pub(super) fn log(&self) -> &ChangeLog {
        &self.shared.log
    }

    pub(super) fn check_open(&self) -> StorageResult<()> {
        if self.closed.load(Ordering::SeqCst) { Err(StorageError::Closed) } else { Ok(()) }
    }

    /// A pooled connection.
    pub(super) async fn conn(&self) -> StorageResult<deadpool_postgres::Object> {
        self.check_open()?;
        self.pool.get().await.map_err(pool_err)
    }
}

impl Shared {
    /// Reads every change after the window's greatest seq (a complete range: the seq rule) and
    /// publishes it with `notes`, one publisher at a time.
    pub(super) async fn publish(&self, notes: Vec<Committed>) -> StorageResult<()> {
        let _one = self.publishing.lock().await;
        let c = self.pool.get().await.map_err(pool_err)?;
        let from = self.log.upto();
        let last = docs::last_change(&c).await?;
        let max = last.as_ref().map_or(0, |l| l.0);
        if max <= from {
            self.log.publish(from, Vec::new(), notes, None);
        } else if max - from > CAPACITY as u64 {
            // More than the window holds: it starts over after them.
            self.log.publish(max, Vec::new(), notes, last);
        } else {
            let changes = docs::changes_since(&c, from, CAPACITY, &self.log.server_actor).await?;
            self.log.publish(from, changes, notes, None);
        }
        Ok(())
    }
}

/// Connects the listener: on every notification of [`CHANNEL`], the new range joins the log.
async fn listen(
    config: &tokio_postgres::Config,
    shared: Arc<Shared>,
) -> Result<tokio::task::JoinHandle<()>, tokio_postgres::Error> {
    let (client, mut conn) = config.connect(NoTls).await?;
    // Only "read again" is signalled, so a `Notify` (at most one wake-up held, never a queue):
    // notifications while no read runs give one read, and one arriving during a read is held and
    // gives one more read after it (the read might have started before its change was visible).
    let wake = Arc::new(tokio::sync::Notify::new());
    let tx = wake.clone();
    let presence = shared.presence.clone();
    let told = shared.messages.clone();
    // The connection delivers notifications only while polled.
    let mut driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = futures_util::StreamExt::next(&mut messages).await {
            match m {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) if n.channel() == PRESENCE_CHANNEL => {
                    let mut ids = n.payload().split(' ').map(Uuid::parse_str);
                    if let (Some(Ok(team)), Some(Ok(member))) = (ids.next(), ids.next()) {
                        let _ = presence.send((TeamId(team), MemberId(member)));
                    }
                }
                Ok(tokio_postgres::AsyncMessage::Notification(n)) if n.channel() == MESSAGE_CHANNEL => {
                    let _ = told.send(n.payload().to_string());
                }
                Ok(tokio_postgres::AsyncMessage::Notification(_)) => tx.notify_one(),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the PostgreSQL listener lost its connection");
                    break;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {PRESENCE_CHANNEL}; LISTEN {MESSAGE_CHANNEL}")).await?;
    Ok(tokio::spawn(async move {
        // Keeps the listening connection open as long as this task runs.
        let _client = client;
        loop {
            tokio::select! {
                // The connection is gone: nothing more will be told.
                _ = &mut driver => return,
                () = wake.notified() => {}
            }
            if let Err(e) = shared.publish(Vec::new()).await {
                tracing::warn!(error = %e, "could not read the changes another process stored");
            }
        }
    }))
}

#[async_trait]
impl Storage for PgStorage {
    async fn server_actor(&self) -> StorageResult<Vec<u8>> {
        auth::server_actor(self).await
    }
    async fn receipt_key(&self) -> StorageResult<Vec<u8>> {
        auth::receipt_key(self).await
    }
    async fn create_team(&self, team: TeamRecord, team_doc: AppendChanges) -> StorageResult<()> {
        auth::create_team(self, team, team_doc).await
    }
    async fn team(&self, id: TeamId) -> StorageResult<Option<TeamRecord>> {
        auth::team(self, id).await
    }
    async fn teams(&self) -> StorageResult<Vec<TeamRecord>> {
        auth::teams(self).await
    }
    async fn members(&self, team: TeamId) -> StorageResult<Vec<MemberRecord>> {
        auth::members(self, team).await
    }
    async fn set_member_roles(&self, team: TeamId, roles: Vec<(MemberId, Role)>) -> StorageResult<usize> {
        auth::set_member_roles(self, team, roles).await
    }
    async fn create_invite(&self, invite: InviteRecord) -> StorageResult<()> {
        auth::create_invite(self, invite).await
    }
    async fn redeem_invite(&self, code_hash: Vec<u8>, now: i64, join: NewDevice) -> StorageResult<Redeem> {
        auth::redeem_invite(self, code_hash, now, join).await
    }
    async fn device_by_token(&self, token_hash: Vec<u8>) -> StorageResult<Option<DeviceAuth>> {
        auth::device_by_token(self, token_hash).await
    }
    async fn devices(&self, team: Option<TeamId>) -> StorageResult<Vec<DeviceRecord>> {
        auth::devices(self, team).await
    }
    async fn revoke_device(&self, id: DeviceId, at: i64) -> StorageResult<bool> {
        auth::revoke_device(self, id, at).await
    }
    async fn read_auth_generation(&self) -> StorageResult<i64> {
        auth::read_auth_generation(self).await
    }
    async fn doc_meta(&self, id: Uuid) -> StorageResult<Option<DocMeta>> {
        docs::doc_meta(self, id).await
    }
    async fn load_doc(&self, id: Uuid) -> StorageResult<Option<LoadedDoc>> {
        docs::load_doc(self, id).await
    }
    async fn append_changes_with(&self, batch: AppendChanges, derived: Derived) -> StorageResult<Vec<u64>> {
        docs::append_changes_with(self, batch, derived).await
    }
    async fn flush(&self) -> StorageResult<()> {
        // Every write is its own transaction, awaited by its caller: nothing is queued.
        self.check_open()
    }
    fn committed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.log().committed()
    }
    fn shared(&self) -> bool {
        true
    }
    async fn stored_since(&self, after: u64, limit: usize) -> StorageResult<Vec<StoredRef>> {
        docs::stored_since(self, after, limit).await
    }
    fn take_notes(&self) -> Option<tokio::sync::mpsc::Receiver<Committed>> {
        self.log().take_notes()
    }
    fn set_feed_window_bytes(&self, bytes: usize) {
        self.log().set_window_bytes(bytes);
    }
    async fn put_snapshot(&self, doc: Uuid, upto_seq: u64, bytes: Vec<u8>) -> StorageResult<()> {
        docs::put_snapshot(self, doc, upto_seq, bytes).await
    }
    async fn count_docs(&self) -> StorageResult<u64> {
        docs::count_docs(self).await
    }
    async fn feed_docs(&self, scope: FeedScope, after: u64, limit: usize) -> StorageResult<Vec<FeedEntry>> {
        docs::feed_docs(self, scope, after, limit).await
    }
    async fn changes_after(&self, doc: Uuid, after: u64) -> StorageResult<Vec<StoredChange>> {
        docs::changes_after(self, doc, after).await
    }
    fn recent_hashes(&self, doc: Uuid, after: u64) -> Option<Vec<Vec<u8>>> {
        self.check_open().ok()?;
        self.log().recent().hashes_after(doc, after)
    }
    async fn change_at_or_before(&self, seq: u64) -> StorageResult<Option<(u64, Vec<u8>)>> {
        docs::change_at_or_before(self, seq).await
    }
    async fn max_seq(&self) -> StorageResult<u64> {
        docs::max_seq(self).await
    }
    async fn feed_position(&self, cursor_seq: u64) -> StorageResult<FeedPosition> {
        docs::feed_position(self, cursor_seq).await
    }
    async fn member_shifts(
        &self,
        team: TeamId,
        member: MemberId,
        since: Option<i64>,
        limit: usize,
    ) -> StorageResult<Vec<Uuid>> {
        docs::member_shifts(self, team, member, since, limit).await
    }
    async fn board_shifts(&self, team: TeamId) -> StorageResult<Vec<ShiftId>> {
        docs::board_shifts(self, team).await
    }
    async fn insert_alert(&self, alert: AlertRecord, event: Option<WebhookEvent>) -> StorageResult<bool> {
        alerts::insert_alert(self, alert, event).await
    }
    async fn fire_step(&self, alert: Uuid, step: FiredStep, event: Option<WebhookEvent>) -> StorageResult<bool> {
        alerts::fire_step(self, alert, step, event).await
    }
    async fn update_alert(
        &self,
        alert: AlertRecord,
        expect: AlertState,
        event: Option<WebhookEvent>,
    ) -> StorageResult<bool> {
        alerts::update_alert(self, alert, expect, None, event, None).await
    }
    async fn update_alert_logged(
        &self,
        alert: AlertRecord,
        expect: AlertState,
        owner_was: Option<MemberId>,
        event: Option<WebhookEvent>,
        log: AlertLogEntry,
    ) -> StorageResult<bool> {
        alerts::update_alert(self, alert, expect, Some(owner_was), event, Some(log)).await
    }
    async fn alert_histories(
        &self,
        alerts: Vec<Uuid>,
    ) -> StorageResult<std::collections::HashMap<Uuid, (Vec<FiredStep>, Vec<AlertLogEntry>)>> {
        alerts::alert_histories(self, alerts).await
    }
    async fn alert(&self, id: Uuid) -> StorageResult<Option<AlertRecord>> {
        alerts::alert(self, id).await
    }
    async fn alerts(&self, team: Option<TeamId>, unresolved: bool, limit: usize) -> StorageResult<Vec<AlertRecord>> {
        alerts::alerts(self, team, unresolved, limit).await
    }
    async fn alert_steps(&self, alert: Uuid) -> StorageResult<Vec<FiredStep>> {
        alerts::alert_steps(self, alert).await
    }
    async fn checkin_receipts(&self, shift: ShiftId) -> StorageResult<Vec<CheckinReceipt>> {
        let c = self.conn().await?;
        docs::checkin_receipts_of(&c, shift).await
    }
    async fn shift_receipts(&self, shifts: Vec<ShiftId>) -> StorageResult<Vec<StoredReceipts>> {
        docs::shift_receipts(self, shifts).await
    }
    async fn set_device_offset(&self, device: DeviceId, offset_ms: i64, at: i64) -> StorageResult<()> {
        auth::set_device_offset(self, device, offset_ms, at).await
    }
    async fn device_offset(&self, device: DeviceId) -> StorageResult<Option<(i64, i64)>> {
        auth::device_offset(self, device).await
    }
    async fn track_shifts(&self, shifts: Vec<Tracking>) -> StorageResult<()> {
        docs::track_shifts(self, shifts).await
    }
    async fn active_shifts(&self) -> StorageResult<Vec<TrackedShift>> {
        docs::active_shifts(self).await
    }
    async fn untracked_shifts(&self, limit: usize) -> StorageResult<Vec<(ShiftId, i64)>> {
        docs::untracked_shifts(self, limit).await
    }
    async fn set_webhook(&self, team: TeamId, hook: Option<WebhookConfig>) -> StorageResult<()> {
        webhooks::set_webhook(self, team, hook).await
    }
    async fn webhook(&self, team: TeamId) -> StorageResult<Option<WebhookConfig>> {
        webhooks::webhook(self, team).await
    }
    async fn due_deliveries(&self, now: i64, limit: usize) -> StorageResult<Vec<Delivery>> {
        webhooks::due_deliveries(self, now, limit).await
    }
    async fn next_delivery_at(&self) -> StorageResult<Option<i64>> {
        webhooks::next_delivery_at(self).await
    }
    async fn record_attempt(&self, delivery: i64, attempt: DeliveryAttempt) -> StorageResult<()> {
        webhooks::record_attempt(self, delivery, attempt).await
    }
    async fn deliveries(&self, team: TeamId) -> StorageResult<Vec<Delivery>> {
        webhooks::deliveries(self, team).await
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
        let mut c = self.conn().await?;
        let t = c.transaction().await.map_err(pg)?;
        beat(&t, instance, now, ttl_ms).await?;
        t.execute(
            "INSERT INTO live_presence (instance, team_id, member_id, connections, last_seen) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (instance, team_id, member_id)
             DO UPDATE SET connections = excluded.connections, last_seen = excluded.last_seen",
            &[&instance, &team.to_string(), &member.to_string(), &i64::from(connections), &now],
        )
        .await
        .map_err(pg)?;
        t.execute("SELECT pg_notify($1, $2)", &[&PRESENCE_CHANNEL, &format!("{team} {member}")]).await.map_err(pg)?;
        t.commit().await.map_err(pg)
    }

    async fn presence_beat(&self, instance: &str, now: i64, ttl_ms: i64) -> StorageResult<()> {
        let mut c = self.conn().await?;
        let t = c.transaction().await.map_err(pg)?;
        beat(&t, instance, now, ttl_ms).await?;
        // Instances that stopped beating: their streams are gone, and everyone is told.
        let gone = t
            .query(
                "WITH gone AS (DELETE FROM live_instances WHERE expires_at <= $1 RETURNING id)
                 DELETE FROM live_presence p USING gone WHERE p.instance = gone.id AND p.connections > 0
                 RETURNING p.team_id, p.member_id",
                &[&now],
            )
            .await
            .map_err(pg)?;
        t.execute(
            "DELETE FROM live_presence p WHERE NOT EXISTS (SELECT 1 FROM live_instances i WHERE i.id = p.instance)
             AND p.connections = 0 AND p.last_seen <= $1",
            &[&now.saturating_sub(ttl_ms)],
        )
        .await
        .map_err(pg)?;
        for r in &gone {
            let payload = format!("{} {}", g::<String>(r, 0)?, g::<String>(r, 1)?);
            t.execute("SELECT pg_notify($1, $2)", &[&PRESENCE_CHANNEL, &payload]).await.map_err(pg)?;
        }
        t.commit().await.map_err(pg)
    }

    async fn presence(&self, of: Option<(TeamId, MemberId)>, now: i64) -> StorageResult<Vec<PresenceRow>> {
        let c = self.conn().await?;
        let (team, member) = of.map_or((None, None), |(t, m)| (Some(t.to_string()), Some(m.to_string())));
        let rows = c
            .query(
                "SELECT p.team_id, p.member_id,
                        COALESCE(SUM(p.connections) FILTER (WHERE i.expires_at > $1), 0) > 0, MAX(p.last_seen)
                 FROM live_presence p LEFT JOIN live_instances i ON i.id = p.instance
                 WHERE $2::TEXT IS NULL OR (p.team_id = $2 AND p.member_id = $3)
                 GROUP BY p.team_id, p.member_id",
                &[&now, &team, &member],
            )
            .await
            .map_err(pg)?;
        rows.iter()
            .map(|r| {
                Ok(PresenceRow {
                    team: TeamId(parse_uuid(&g::<String>(r, 0)?)?),
                    member: MemberId(parse_uuid(&g::<String>(r, 1)?)?),
                    online: g(r, 2)?,
                    last_seen: g(r, 3)?,
                })
            })
            .collect()
    }

    fn presence_changes(&self) -> Option<tokio::sync::broadcast::Receiver<(TeamId, MemberId)>> {
        Some(self.shared.presence.subscribe())
    }

    async fn tell_instances(&self, message: String) -> StorageResult<()> {
        let c = self.conn().await?;
        c.execute("SELECT pg_notify($1, $2)", &[&MESSAGE_CHANNEL, &message]).await.map_err(pg)?;
        Ok(())
    }

    fn instance_messages(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        Some(self.shared.messages.subscribe())
    }

    async fn hold_lease(&self, name: &str, holder: &str, now: i64, ttl_ms: i64) -> StorageResult<bool> {
        let c = self.conn().await?;
        // Inserted, or taken over from an expired holder, or renewed by its own: a row comes back.
        let row = c
            .query_opt(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= $4
                 RETURNING holder",
                &[&name, &holder, &now.saturating_add(ttl_ms), &now],
            )
            .await
            .map_err(pg)?;
        Ok(row.is_some())
    }

    async fn probe(&self, now: i64) -> StorageResult<()> {
        let c = self.conn().await?;
        c.execute(
            "INSERT INTO meta (key, value) VALUES ('health_probe', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&now.to_be_bytes().as_slice()],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.shared.log.close();
        if let Some(t) = self.listener.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            t.abort();
        }
        self.pool.close();
    }
}

impl Drop for PgStorage {
    fn drop(&mut self) {
        if let Some(t) = self.listener.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            t.abort();
        }
    }
}

/// Marks `instance` alive until `now + ttl_ms` (its members' presence counts until then).
async fn beat(c: &impl deadpool_postgres::GenericClient, instance: &str, now: i64, ttl_ms: i64) -> StorageResult<()> {
    c.execute(
        "INSERT INTO live_instances (id, expires_at) VALUES ($1, $2)
         ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at",
        &[&instance, &now.saturating_add(ttl_ms)],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_postgresql_faults_are_told_from_lasting_ones() {
        for code in [
            SqlState::CONNECTION_FAILURE,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::DISK_FULL,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::QUERY_CANCELED,
            SqlState::IO_ERROR,
            SqlState::LOCK_NOT_AVAILABLE,
        ] {
            assert!(pg_transient(&code), "{code:?}");
        }
        for code in [
            SqlState::DATA_CORRUPTED,
            SqlState::INDEX_CORRUPTED,
            SqlState::UNIQUE_VIOLATION,
            SqlState::CHECK_VIOLATION,
            SqlState::FOREIGN_KEY_VIOLATION,
            SqlState::NOT_NULL_VIOLATION,
            SqlState::UNDEFINED_TABLE,
            SqlState::DIVISION_BY_ZERO,
        ] {
            assert!(!pg_transient(&code), "{code:?}");
        }
    }
}
