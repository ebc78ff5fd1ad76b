//! Documents: the change log (seqs from the counter row, in commit order), snapshots, the feed,
//! and what is derived from shifts (tracking rows and receipts).

use deadpool_postgres::GenericClient;
use kith_domain::{CheckInId, DeviceId, MemberId, ShiftId, TeamId};
use uuid::Uuid;

use super::*;
use crate::storage::recent::RecentChange;
use crate::storage::*;

/// Stores a batch of changes in the caller's transaction; returns their seqs. Takes the seqs last
/// (the counter's row lock is held from here to the commit) and notifies the listeners (at commit).
pub(super) async fn insert_changes(
    t: &impl GenericClient,
    batch: &AppendChanges,
    _server_actor: &[u8],
) -> Result<Vec<u64>, StorageError> {
    let m = &batch.meta;
    // Nothing of a device revoked meanwhile (by any process) is stored.
    let mut devices: Vec<String> = batch.changes.iter().filter_map(|c| c.device.map(|d| d.to_string())).collect();
    devices.dedup();
    if !devices.is_empty() {
        let revoked = t
            .query_opt(
                &cached(t, "SELECT 1 FROM devices WHERE id = ANY($1) AND revoked_at IS NOT NULL").await?,
                &[&devices],
            )
            .await
            .map_err(pg)?;
        if revoked.is_some() {
            return Err(StorageError::Revoked);
        }
    }
    if batch.changes.is_empty() {
        return Ok(Vec::new());
    }
    let n = i64::try_from(batch.changes.len()).unwrap_or(i64::MAX);
    let r = t
        .query_one(&cached(t, "UPDATE seq_counter SET last = last + $1 WHERE id = 1 RETURNING last").await?, &[&n])
        .await
        .map_err(pg)?;
    let last: i64 = g(&r, 0)?;
    let first = last - n + 1;
    let owner = m.owner.map(|o| o.to_string());
    let (id, team) = (m.id.to_string(), m.team.to_string());
    let st = cached(
        t,
        "INSERT INTO changes (seq, doc_id, team_id, kind, owner, hash, bytes, actor, device_id, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .await?;
    let mut seqs = Vec::with_capacity(batch.changes.len());
    for (k, c) in batch.changes.iter().enumerate() {
        let seq = first + i64::try_from(k).unwrap_or(0);
        t.execute(
            &st,
            &[
                &seq,
                &id,
                &team,
                &m.kind.as_str(),
                &owner,
                &c.hash,
                &c.bytes,
                &c.actor,
                &c.device.map(|d| d.to_string()),
                &batch.received_at,
            ],
        )
        .await
        .map_err(|e| pg_conflict(e, "a change of this document is already stored"))?;
        seqs.push(u(seq));
    }
    if batch.create {
        t.execute(
            &cached(t, "INSERT INTO docs (id, team_id, kind, owner, first_seq) VALUES ($1, $2, $3, $4, $5)").await?,
            &[&id, &team, &m.kind.as_str(), &owner, &first],
        )
        .await
        .map_err(|e| pg_conflict(e, "this document already exists"))?;
    }
    t.batch_execute(&format!("NOTIFY {CHANNEL}")).await.map_err(pg)?;
    Ok(seqs)
}

/// The greatest seq stored and its hash.
pub(super) async fn last_change(c: &impl GenericClient) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
    let r = c
        .query_opt(&cached(c, "SELECT seq, hash FROM changes ORDER BY seq DESC LIMIT 1").await?, &[])
        .await
        .map_err(pg)?;
    r.map(|r| Ok((u(g(&r, 0)?), g(&r, 1)?))).transpose()
}

/// Every stored change after `after`, at most `limit`, as the change log holds them.
pub(super) async fn changes_since(
    c: &impl GenericClient,
    after: u64,
    limit: usize,
    server_actor: &[u8],
) -> Result<Vec<RecentChange>, StorageError> {
    let rows = c
        .query(
            &cached(
                c,
                "SELECT c.seq, c.doc_id, c.team_id, c.kind, c.owner, c.hash, c.device_id, c.actor = $3,
                        COALESCE(d.first_seq = c.seq, false)
                 FROM changes c LEFT JOIN docs d ON d.id = c.doc_id
                 WHERE c.seq > $1 ORDER BY c.seq LIMIT $2",
            )
            .await?,
            &[&i(after), &lim(limit), &server_actor],
        )
        .await
        .map_err(pg)?;
    rows.iter()
        .map(|r| {
            Ok(RecentChange {
                seq: u(g(r, 0)?),
                doc: parse_uuid(&g::<String>(r, 1)?)?,
                team: TeamId(parse_uuid(&g::<String>(r, 2)?)?),
                kind: parse_kind(&g::<String>(r, 3)?)?,
                owner: g::<Option<String>>(r, 4)?.as_deref().map(parse_uuid).transpose()?.map(MemberId),
                hash: g(r, 5)?,
                device: g::<Option<String>>(r, 6)?.as_deref().map(parse_uuid).transpose()?.map(DeviceId),
                by_server: g(r, 7)?,
                created: g(r, 8)?,
            })
        })
        .collect()
}

pub(super) async fn checkin_receipts_of(c: &impl GenericClient, shift: ShiftId) -> StorageResult<Vec<CheckinReceipt>> {
    let rows = c
        .query(
            "SELECT checkin_id, device_id, device_time, received_at, offset_ms, effective_at
             FROM checkin_receipts WHERE shift_id = $1",
            &[&shift.to_string()],
        )
        .await
        .map_err(pg)?;
    rows.iter()
        .map(|r| {
            Ok(CheckinReceipt {
                checkin: CheckInId(parse_uuid(&g::<String>(r, 0)?)?),
                shift,
                device: DeviceId(parse_uuid(&g::<String>(r, 1)?)?),
                device_time: g(r, 2)?,
                received_at: g(r, 3)?,
                offset_ms: g(r, 4)?,
                effective_at: g(r, 5)?,
            })
        })
        .collect()
}

async fn entry_receipts(c: &impl GenericClient, shift: ShiftId) -> StorageResult<Vec<EntryReceipt>> {
    let rows = c
        .query(
            "SELECT entry_id, kind, received_at, offset_ms FROM entry_receipts WHERE shift_id = $1",
            &[&shift.to_string()],
        )
        .await
        .map_err(pg)?;
    rows.iter()
        .map(|r| {
            let kind: String = g(r, 1)?;
            let kind =
                EntryKind::parse(&kind).ok_or_else(|| StorageError::Corrupt(format!("unknown entry kind '{kind}'")))?;
            Ok(EntryReceipt {
                entry: parse_uuid(&g::<String>(r, 0)?)?,
                shift,
                kind,
                received_at: g(r, 2)?,
                offset_ms: g(r, 3)?,
            })
        })
        .collect()
}

const TRACKED_COLS: &str =
    "shift_id, team_id, worker_id, offset_ms, first_seen, ended_seen, started_at, ended_at, ended_offset_ms";

fn tracked(r: &tokio_postgres::Row) -> StorageResult<TrackedShift> {
    let first_seen: i64 = g(r, 4)?;
    let ended_seen: Option<i64> = g(r, 5)?;
    Ok(TrackedShift {
        shift: ShiftId(parse_uuid(&g::<String>(r, 0)?)?),
        team: TeamId(parse_uuid(&g::<String>(r, 1)?)?),
        worker: MemberId(parse_uuid(&g::<String>(r, 2)?)?),
        offset_ms: g(r, 3)?,
        first_seen,
        started_at: g::<Option<i64>>(r, 6)?.unwrap_or(first_seen),
        ended_seen,
        ended_at: g::<Option<i64>>(r, 7)?.or(ended_seen),
        ended_offset_ms: g(r, 8)?,
    })
}

/// Stores a shift's tracking row and receipts: a new row as given; of an existing one the end
/// once, and the header's offset when its times were written again. Receipts: the first is kept.
async fn track_one(c: &impl GenericClient, t: &Tracking) -> StorageResult<()> {
    let s = &t.shift;
    let id = s.shift.to_string();
    c.execute(
        &cached(
            c,
            &format!(
                "INSERT INTO tracked_shifts ({TRACKED_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (shift_id) DO NOTHING"
            ),
        )
        .await?,
        &[
            &id,
            &s.team.to_string(),
            &s.worker.to_string(),
            &s.offset_ms,
            &s.first_seen,
            &s.ended_seen,
            &s.started_at,
            &s.ended_at,
            &s.ended_offset_ms,
        ],
    )
    .await
    .map_err(pg)?;
    if let Some(ended) = s.ended_seen {
        c.execute(
            &cached(
                c,
                "UPDATE tracked_shifts SET ended_seen = $2, ended_at = $3, ended_offset_ms = $4
                 WHERE shift_id = $1 AND ended_seen IS NULL",
            )
            .await?,
            &[&id, &ended, &s.ended_at, &s.ended_offset_ms],
        )
        .await
        .map_err(pg)?;
    }
    if t.header_written {
        c.execute(
            &cached(c, "UPDATE tracked_shifts SET offset_ms = $2, started_at = $3 WHERE shift_id = $1").await?,
            &[&id, &s.offset_ms, &s.started_at],
        )
        .await
        .map_err(pg)?;
    }
    for r in &t.receipts {
        c.execute(
            &cached(
                c,
                "INSERT INTO checkin_receipts
                     (checkin_id, shift_id, device_id, device_time, received_at, offset_ms, effective_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (checkin_id) DO NOTHING",
            )
            .await?,
            &[
                &r.checkin.to_string(),
                &r.shift.to_string(),
                &r.device.to_string(),
                &r.device_time,
                &r.received_at,
                &r.offset_ms,
                &r.effective_at,
            ],
        )
        .await
        .map_err(pg)?;
    }
    for r in &t.entries {
        c.execute(
            &cached(
                c,
                "INSERT INTO entry_receipts (entry_id, shift_id, kind, received_at, offset_ms)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (entry_id) DO NOTHING",
            )
            .await?,
            &[&r.entry.to_string(), &r.shift.to_string(), &r.kind.as_str(), &r.received_at, &r.offset_ms],
        )
        .await
        .map_err(pg)?;
    }
    Ok(())
}

async fn doc_meta_of(c: &impl GenericClient, id: Uuid) -> StorageResult<Option<DocMeta>> {
    let r = c.query_opt("SELECT team_id, kind, owner FROM docs WHERE id = $1", &[&id.to_string()]).await.map_err(pg)?;
    r.map(|r| {
        Ok(DocMeta {
            id,
            team: TeamId(parse_uuid(&g::<String>(&r, 0)?)?),
            kind: parse_kind(&g::<String>(&r, 1)?)?,
            owner: g::<Option<String>>(&r, 2)?.as_deref().map(parse_uuid).transpose()?.map(MemberId),
        })
    })
    .transpose()
}

async fn changes_after_of(c: &impl GenericClient, doc: Uuid, after: u64) -> StorageResult<Vec<StoredChange>> {
    let rows = c
        .query(
            "SELECT seq, hash, bytes FROM changes WHERE doc_id = $1 AND seq > $2 ORDER BY seq",
            &[&doc.to_string(), &i(after)],
        )
        .await
        .map_err(pg)?;
    rows.iter().map(|r| Ok(StoredChange { seq: u(g(r, 0)?), hash: g(r, 1)?, bytes: g(r, 2)? })).collect()
}

pub(super) async fn doc_meta(s: &PgStorage, id: Uuid) -> StorageResult<Option<DocMeta>> {
    let c = s.conn().await?;
    doc_meta_of(&c, id).await
}

pub(super) async fn load_doc(s: &PgStorage, id: Uuid) -> StorageResult<Option<LoadedDoc>> {
    let mut c = s.conn().await?;
    // One snapshot of the database for the three reads.
    let t = c
        .build_transaction()
        .read_only(true)
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await
        .map_err(pg)?;
    let Some(meta) = doc_meta_of(&t, id).await? else { return Ok(None) };
    let snapshot = t
        .query_opt("SELECT upto_seq, bytes FROM snapshots WHERE doc_id = $1", &[&id.to_string()])
        .await
        .map_err(pg)?
        .map(|r| Ok::<_, StorageError>((u(g(&r, 0)?), g::<Vec<u8>>(&r, 1)?)))
        .transpose()?;
    let after = snapshot.as_ref().map_or(0, |s| s.0);
    let changes = changes_after_of(&t, id, after).await?;
    t.commit().await.map_err(pg)?;
    Ok(Some(LoadedDoc { meta, snapshot, changes }))
}

/// In a task of its own: a request dropped half way (its client gone) neither rolls back a commit
/// that happened nor keeps its note from the deadline engine.
pub(super) async fn append_changes_with(
    s: &PgStorage,
    batch: AppendChanges,
    derived: Derived,
) -> StorageResult<Vec<u64>> {
    let c = s.conn().await?;
    let shared = s.shared.clone();
    tokio::spawn(async move { append_in(c, &shared, batch, derived).await })
        .await
        .map_err(|e| StorageError::Db(format!("the append task failed: {e}")))?
}

async fn append_in(
    mut c: deadpool_postgres::Object,
    shared: &Shared,
    batch: AppendChanges,
    derived: Derived,
) -> StorageResult<Vec<u64>> {
    let t = c.transaction().await.map_err(pg)?;
    let seqs = insert_changes(&t, &batch, &shared.log.server_actor).await?;
    // After the changes, as in every backend: a role change records the seq it came with.
    if let Some(tr) = &derived.tracking {
        track_one(&t, tr).await?;
    }
    if let Some((team, roles)) = &derived.roles {
        super::auth::set_roles(&t, *team, roles).await?;
    }
    t.commit().await.map_err(pg)?;
    drop(c);
    let notes = match (derived.note, seqs.first(), seqs.last()) {
        (Some(note), Some(first), Some(last)) => {
            vec![Committed { doc: batch.meta.id, first_seq: *first, last_seq: *last, tracking: derived.tracking, note }]
        }
        _ => Vec::new(),
    };
    shared.publish(notes).await?;
    Ok(seqs)
}

pub(super) async fn stored_since(s: &PgStorage, after: u64, limit: usize) -> StorageResult<Vec<StoredRef>> {
    s.check_open()?;
    if let Some(found) = s.log().since(after, limit) {
        return Ok(found);
    }
    let c = s.conn().await?;
    let changes = changes_since(&c, after, limit, &s.log().server_actor).await?;
    Ok(changes.into_iter().map(RecentChange::into_ref).collect())
}

pub(super) async fn put_snapshot(s: &PgStorage, doc: Uuid, upto_seq: u64, bytes: Vec<u8>) -> StorageResult<()> {
    let c = s.conn().await?;
    c.execute(
        &cached(
            &c,
            "INSERT INTO snapshots (doc_id, upto_seq, bytes) VALUES ($1, $2, $3)
             ON CONFLICT (doc_id) DO UPDATE SET upto_seq = excluded.upto_seq, bytes = excluded.bytes
             WHERE excluded.upto_seq > snapshots.upto_seq",
        )
        .await?,
        &[&doc.to_string(), &i(upto_seq), &bytes],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

pub(super) async fn count_docs(s: &PgStorage) -> StorageResult<u64> {
    let c = s.conn().await?;
    let r = c.query_one("SELECT COUNT(*) FROM docs", &[]).await.map_err(pg)?;
    Ok(u(g(&r, 0)?))
}

pub(super) async fn feed_docs(
    s: &PgStorage,
    scope: FeedScope,
    after: u64,
    limit: usize,
) -> StorageResult<Vec<FeedEntry>> {
    s.check_open()?;
    if let Some(docs) = s.log().recent().feed_docs(&scope, after, limit) {
        return Ok(docs);
    }
    let c = s.conn().await?;
    let rows = c
        .query(
            "SELECT c.doc_id, MIN(c.seq), d.kind, d.owner, d.first_seq
             FROM changes c JOIN docs d ON d.id = c.doc_id
             WHERE c.team_id = $1 AND c.seq > $2 AND (c.kind = 'team' OR $3 OR c.owner = $4)
             GROUP BY c.doc_id, d.kind, d.owner, d.first_seq ORDER BY MIN(c.seq) LIMIT $5",
            &[&scope.team.to_string(), &i(after), &scope.all_shifts, &scope.member.to_string(), &lim(limit)],
        )
        .await
        .map_err(pg)?;
    rows.iter()
        .map(|r| {
            Ok(FeedEntry {
                meta: DocMeta {
                    id: parse_uuid(&g::<String>(r, 0)?)?,
                    team: scope.team,
                    kind: parse_kind(&g::<String>(r, 2)?)?,
                    owner: g::<Option<String>>(r, 3)?.as_deref().map(parse_uuid).transpose()?.map(MemberId),
                },
                first_seq: u(g(r, 4)?),
                min_seq_after: u(g(r, 1)?),
            })
        })
        .collect()
}

pub(super) async fn changes_after(s: &PgStorage, doc: Uuid, after: u64) -> StorageResult<Vec<StoredChange>> {
    let c = s.conn().await?;
    changes_after_of(&c, doc, after).await
}

pub(super) async fn change_at_or_before(s: &PgStorage, seq: u64) -> StorageResult<Option<(u64, Vec<u8>)>> {
    s.check_open()?;
    if let Some(found) = s.log().recent().at_or_before(seq) {
        return Ok(found);
    }
    let c = s.conn().await?;
    let r = c
        .query_opt("SELECT seq, hash FROM changes WHERE seq <= $1 ORDER BY seq DESC LIMIT 1", &[&i(seq)])
        .await
        .map_err(pg)?;
    r.map(|r| Ok((u(g(&r, 0)?), g(&r, 1)?))).transpose()
}

pub(super) async fn max_seq(s: &PgStorage) -> StorageResult<u64> {
    let c = s.conn().await?;
    Ok(last_change(&c).await?.map_or(0, |l| l.0))
}

pub(super) async fn feed_position(s: &PgStorage, cursor_seq: u64) -> StorageResult<FeedPosition> {
    s.check_open()?;
    if let Some(p) = s.log().recent().position(cursor_seq) {
        return Ok(p);
    }
    let mut c = s.conn().await?;
    let t = c
        .build_transaction()
        .read_only(true)
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await
        .map_err(pg)?;
    let max = last_change(&t).await?;
    let at: Option<Vec<u8>> = if cursor_seq == 0 {
        None
    } else {
        t.query_opt("SELECT hash FROM changes WHERE seq = $1", &[&i(cursor_seq)])
            .await
            .map_err(pg)?
            .map(|r| g(&r, 0))
            .transpose()?
    };
    t.commit().await.map_err(pg)?;
    let pos = FeedPosition { max_seq: max.as_ref().map_or(0, |m| m.0), max_hash: max.map(|m| m.1), hash_at_cursor: at };
    // Changes the window does not hold yet (stored by another process): it answers nothing
    // more until it does, so no feed mixes the two.
    s.log().saw(pos.max_seq);
    Ok(pos)
}

pub(super) async fn member_shifts(
    s: &PgStorage,
    team: TeamId,
    member: MemberId,
    since: Option<i64>,
    limit: usize,
) -> StorageResult<Vec<Uuid>> {
    let c = s.conn().await?;
    let rows = c
        .query(
            "SELECT shift_id FROM tracked_shifts WHERE team_id = $1 AND worker_id = $2
                AND ($3::BIGINT IS NULL OR started_at >= $3)
             ORDER BY started_at DESC, shift_id DESC LIMIT $4",
            &[&team.to_string(), &member.to_string(), &since, &lim(limit)],
        )
        .await
        .map_err(pg)?;
    rows.iter().map(|r| parse_uuid(&g::<String>(r, 0)?)).collect()
}

pub(super) async fn board_shifts(s: &PgStorage, team: TeamId) -> StorageResult<Vec<ShiftId>> {
    let c = s.conn().await?;
    // Every active shift; and per member the shift that ended last.
    let rows = c
        .query(
            "SELECT shift_id FROM tracked_shifts WHERE team_id = $1 AND ended_seen IS NULL
             UNION ALL
             SELECT shift_id FROM (
                SELECT DISTINCT ON (worker_id) shift_id FROM tracked_shifts
                WHERE team_id = $1 AND ended_seen IS NOT NULL
                ORDER BY worker_id, COALESCE(ended_at, ended_seen) DESC) last_ended",
            &[&team.to_string()],
        )
        .await
        .map_err(pg)?;
    rows.iter().map(|r| Ok(ShiftId(parse_uuid(&g::<String>(r, 0)?)?))).collect()
}

pub(super) async fn shift_receipts(s: &PgStorage, shifts: Vec<ShiftId>) -> StorageResult<Vec<StoredReceipts>> {
    if shifts.is_empty() {
        return Ok(Vec::new());
    }
    let c = s.conn().await?;
    let mut out = Vec::with_capacity(shifts.len());
    for id in shifts {
        let Some(r) = c
            .query_opt(&format!("SELECT {TRACKED_COLS} FROM tracked_shifts WHERE shift_id = $1"), &[&id.to_string()])
            .await
            .map_err(pg)?
        else {
            continue;
        };
        out.push(StoredReceipts {
            tracked: tracked(&r)?,
            checkins: checkin_receipts_of(&c, id).await?,
            entries: entry_receipts(&c, id).await?,
        });
    }
    Ok(out)
}

pub(super) async fn track_shifts(s: &PgStorage, shifts: Vec<Tracking>) -> StorageResult<()> {
    let mut c = s.conn().await?;
    let t = c.transaction().await.map_err(pg)?;
    for tr in &shifts {
        track_one(&t, tr).await?;
    }
    t.commit().await.map_err(pg)
}

pub(super) async fn active_shifts(s: &PgStorage) -> StorageResult<Vec<TrackedShift>> {
    let c = s.conn().await?;
    let rows = c
        .query(
            &format!(
                "SELECT {TRACKED_COLS} FROM tracked_shifts
                 WHERE ended_seen IS NULL OR shift_id IN (SELECT shift_id FROM alerts WHERE state <> 'resolved')"
            ),
            &[],
        )
        .await
        .map_err(pg)?;
    rows.iter().map(tracked).collect()
}

pub(super) async fn untracked_shifts(s: &PgStorage, limit: usize) -> StorageResult<Vec<(ShiftId, i64)>> {
    let c = s.conn().await?;
    let rows = c
        .query(
            "SELECT d.id, (SELECT received_at FROM changes WHERE seq = d.first_seq) FROM docs d
             WHERE d.kind = 'shift' AND NOT EXISTS (SELECT 1 FROM tracked_shifts t WHERE t.shift_id = d.id)
             LIMIT $1",
            &[&lim(limit)],
        )
        .await
        .map_err(pg)?;
    rows.iter().map(|r| Ok((ShiftId(parse_uuid(&g::<String>(r, 0)?)?), g::<Option<i64>>(r, 1)?.unwrap_or(0)))).collect()
}
