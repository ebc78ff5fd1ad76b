//! Documents: the change log, snapshots, the feed, and what is derived from shifts (tracking
//! rows and receipts).

use kith_domain::{CheckInId, DeviceId, MemberId, ShiftId, TeamId};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::*;
use crate::storage::recent::RecentChange;
use crate::storage::*;

pub(super) fn insert_changes(
    conn: &Connection,
    batch: &AppendChanges,
    server_actor: &[u8],
) -> Result<(Vec<u64>, Vec<RecentChange>), StorageError> {
    let m = &batch.meta;
    // Nothing of a device revoked meanwhile (by any process) is stored.
    let mut checked: Option<DeviceId> = None;
    for d in batch.changes.iter().filter_map(|c| c.device) {
        if checked == Some(d) {
            continue;
        }
        let revoked: Option<bool> = conn
            .prepare_cached("SELECT revoked_at IS NOT NULL FROM devices WHERE id = ?1")
            .map_err(db)?
            .query_row(params![d.to_string()], |r| r.get(0))
            .optional()
            .map_err(db)?;
        if revoked == Some(true) {
            return Err(StorageError::Revoked);
        }
        checked = Some(d);
    }
    let owner = m.owner.map(|o| o.to_string());
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO changes (doc_id, team_id, kind, owner, hash, bytes, actor, device_id, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(db)?;
    let mut seqs = Vec::with_capacity(batch.changes.len());
    let mut stored = Vec::with_capacity(batch.changes.len());
    for (i, c) in batch.changes.iter().enumerate() {
        stmt.execute(params![
            m.id.to_string(),
            m.team.to_string(),
            m.kind.as_str(),
            owner,
            c.hash,
            c.bytes,
            c.actor,
            c.device.map(|d| d.to_string()),
            batch.received_at
        ])
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                StorageError::Conflict("a change of this document is already stored".into())
            }
            e => db(e),
        })?;
        let seq = u(conn.last_insert_rowid());
        seqs.push(seq);
        stored.push(RecentChange {
            seq,
            doc: m.id,
            team: m.team,
            kind: m.kind,
            owner: m.owner,
            hash: c.hash.clone(),
            created: batch.create && i == 0,
            device: c.device,
            by_server: c.actor == server_actor,
        });
    }
    if batch.create {
        let first = seqs.first().copied().unwrap_or(0);
        conn.execute(
            "INSERT INTO docs (id, team_id, kind, owner, first_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![m.id.to_string(), m.team.to_string(), m.kind.as_str(), owner, i(first)],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                StorageError::Conflict("this document already exists".into())
            }
            e => db(e),
        })?;
    }
    Ok((seqs, stored))
}

/// The greatest seq stored and its hash.
pub(super) fn last_change(c: &Connection) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
    c.prepare_cached("SELECT seq, hash FROM changes ORDER BY seq DESC LIMIT 1")
        .map_err(db)?
        .query_row([], |r| Ok((u(r.get(0)?), r.get(1)?)))
        .optional()
        .map_err(db)
}

pub(super) fn checkin_receipts_of(c: &Connection, shift: ShiftId) -> Result<Vec<CheckinReceipt>, StorageError> {
    let mut st = c
        .prepare_cached(
            "SELECT checkin_id, device_id, device_time, received_at, offset_ms, effective_at
             FROM checkin_receipts WHERE shift_id = ?1",
        )
        .map_err(db)?;
    let rows = st
        .query_map(params![shift.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .map_err(db)?;
    let mut out = Vec::new();
    for r in rows {
        let (id, dev, device_time, received_at, offset_ms, effective_at) = r.map_err(db)?;
        out.push(CheckinReceipt {
            checkin: CheckInId(parse_uuid(&id)?),
            shift,
            device: DeviceId(parse_uuid(&dev)?),
            device_time,
            received_at,
            offset_ms,
            effective_at,
        });
    }
    Ok(out)
}

pub(super) fn entry_receipts(c: &Connection, shift: ShiftId) -> Result<Vec<EntryReceipt>, StorageError> {
    let mut st = c
        .prepare_cached("SELECT entry_id, kind, received_at, offset_ms FROM entry_receipts WHERE shift_id = ?1")
        .map_err(db)?;
    let rows = st
        .query_map(params![shift.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })
        .map_err(db)?;
    let mut out = Vec::new();
    for r in rows {
        let (id, kind, received_at, offset_ms) = r.map_err(db)?;
        let kind =
            EntryKind::parse(&kind).ok_or_else(|| StorageError::Corrupt(format!("unknown entry kind '{kind}'")))?;
        out.push(EntryReceipt { entry: parse_uuid(&id)?, shift, kind, received_at, offset_ms });
    }
    Ok(out)
}

pub(super) const TRACKED_COLS: &str =
    "shift_id, team_id, worker_id, offset_ms, first_seen, ended_seen, started_at, ended_at, ended_offset_ms";

pub(super) type TrackedRow = (String, String, String, i64, i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>);

pub(super) fn tracked_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TrackedRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
}

pub(super) fn tracked(row: TrackedRow) -> Result<TrackedShift, StorageError> {
    let (s, t, w, offset_ms, first_seen, ended_seen, started_at, ended_at, ended_offset_ms) = row;
    Ok(TrackedShift {
        shift: ShiftId(parse_uuid(&s)?),
        team: TeamId(parse_uuid(&t)?),
        worker: MemberId(parse_uuid(&w)?),
        offset_ms,
        first_seen,
        started_at: started_at.unwrap_or(first_seen),
        ended_seen,
        ended_at: ended_at.or(ended_seen),
        ended_offset_ms,
    })
}

pub(super) fn tracked_row(c: &Connection, id: ShiftId) -> Result<Option<TrackedShift>, StorageError> {
    let row = c
        .prepare_cached(&format!("SELECT {TRACKED_COLS} FROM tracked_shifts WHERE shift_id = ?1"))
        .map_err(db)?
        .query_row(params![id.to_string()], tracked_from_row)
        .optional()
        .map_err(db)?;
    row.map(tracked).transpose()
}

/// Stores a shift's tracking row and receipts: a new row as given; of an existing one the end
/// once, and the header's offset when its times were written again. Receipts: the first is kept.
pub(super) fn track_one(c: &Connection, t: &Tracking) -> Result<(), StorageError> {
    let s = &t.shift;
    let id = s.shift.to_string();
    c.prepare_cached(&format!(
        "INSERT OR IGNORE INTO tracked_shifts ({TRACKED_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))
    .map_err(db)?
    .execute(params![
        id,
        s.team.to_string(),
        s.worker.to_string(),
        s.offset_ms,
        s.first_seen,
        s.ended_seen,
        s.started_at,
        s.ended_at,
        s.ended_offset_ms
    ])
    .map_err(db)?;
    if let Some(ended) = s.ended_seen {
        c.prepare_cached(
            "UPDATE tracked_shifts SET ended_seen = ?2, ended_at = ?3, ended_offset_ms = ?4
             WHERE shift_id = ?1 AND ended_seen IS NULL",
        )
        .map_err(db)?
        .execute(params![id, ended, s.ended_at, s.ended_offset_ms])
        .map_err(db)?;
    }
    if t.header_written {
        c.prepare_cached("UPDATE tracked_shifts SET offset_ms = ?2, started_at = ?3 WHERE shift_id = ?1")
            .map_err(db)?
            .execute(params![id, s.offset_ms, s.started_at])
            .map_err(db)?;
    }
    let mut st = c
        .prepare_cached(
            "INSERT OR IGNORE INTO checkin_receipts
                 (checkin_id, shift_id, device_id, device_time, received_at, offset_ms, effective_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(db)?;
    for r in &t.receipts {
        st.execute(params![
            r.checkin.to_string(),
            r.shift.to_string(),
            r.device.to_string(),
            r.device_time,
            r.received_at,
            r.offset_ms,
            r.effective_at
        ])
        .map_err(db)?;
    }
    let mut st = c
        .prepare_cached(
            "INSERT OR IGNORE INTO entry_receipts (entry_id, shift_id, kind, received_at, offset_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(db)?;
    for r in &t.entries {
        st.execute(params![r.entry.to_string(), r.shift.to_string(), r.kind.as_str(), r.received_at, r.offset_ms])
            .map_err(db)?;
    }
    Ok(())
}

pub(super) fn doc_meta_of(c: &Connection, id: Uuid) -> Result<Option<DocMeta>, StorageError> {
    let row: Option<(String, String, Option<String>)> = c
        .prepare_cached("SELECT team_id, kind, owner FROM docs WHERE id = ?1")
        .map_err(db)?
        .query_row(params![id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(db)?;
    let Some((team, kind, owner)) = row else { return Ok(None) };
    Ok(Some(DocMeta {
        id,
        team: TeamId(parse_uuid(&team)?),
        kind: parse_kind(&kind)?,
        owner: owner.as_deref().map(parse_uuid).transpose()?.map(MemberId),
    }))
}

pub(super) fn changes_after_of(c: &Connection, doc: Uuid, after: u64) -> Result<Vec<StoredChange>, StorageError> {
    let mut st = c
        .prepare_cached("SELECT seq, hash, bytes FROM changes WHERE doc_id = ?1 AND seq > ?2 ORDER BY seq")
        .map_err(db)?;
    let rows = st
        .query_map(params![doc.to_string(), i(after)], |r| {
            Ok(StoredChange { seq: u(r.get(0)?), hash: r.get(1)?, bytes: r.get(2)? })
        })
        .map_err(db)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db)
}

pub(super) async fn doc_meta(s: &SqliteStorage, id: Uuid) -> StorageResult<Option<DocMeta>> {
    s.read(move |c| doc_meta_of(c, id)).await
}

pub(super) async fn load_doc(s: &SqliteStorage, id: Uuid) -> StorageResult<Option<LoadedDoc>> {
    s.read(move |c| {
        let Some(meta) = doc_meta_of(c, id)? else { return Ok(None) };
        let snapshot: Option<(i64, Vec<u8>)> = c
            .query_row("SELECT upto_seq, bytes FROM snapshots WHERE doc_id = ?1", params![id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(db)?;
        let after = snapshot.as_ref().map_or(0, |s| u(s.0));
        let changes = changes_after_of(c, id, after)?;
        Ok(Some(LoadedDoc { meta, snapshot: snapshot.map(|(s, b)| (u(s), b)), changes }))
    })
    .await
}

pub(super) async fn append_changes_with(
    s: &SqliteStorage,
    batch: AppendChanges,
    derived: Derived,
) -> StorageResult<Vec<u64>> {
    let log = s.log.clone();
    s.write_changes(move |c| {
        let (seqs, stored) = insert_changes(c, &batch, &log.server_actor)?;
        if let Some(t) = &derived.tracking {
            track_one(c, t)?;
        }
        if let Some((team, roles)) = &derived.roles {
            super::auth::set_roles(c, *team, roles)?;
        }
        let notes = match (derived.note, seqs.first(), seqs.last()) {
            (Some(note), Some(first), Some(last)) => vec![Committed {
                doc: batch.meta.id,
                first_seq: *first,
                last_seq: *last,
                tracking: derived.tracking,
                note,
            }],
            _ => Vec::new(),
        };
        Ok((seqs, Logged { changes: stored, notes }))
    })
    .await
}

/// Every stored change after `after`, at most `limit`, as the change log holds them.
pub(super) fn changes_since(
    c: &Connection,
    after: u64,
    limit: usize,
    server_actor: &[u8],
) -> Result<Vec<RecentChange>, StorageError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut st = c
        .prepare_cached(
            "SELECT c.seq, c.doc_id, c.team_id, c.kind, c.owner, c.hash, c.device_id, c.actor = ?3,
                    COALESCE(d.first_seq = c.seq, 0)
             FROM changes c LEFT JOIN docs d ON d.id = c.doc_id
             WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2",
        )
        .map_err(db)?;
    let rows = st
        .query_map(params![i(after), limit, server_actor], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Vec<u8>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, bool>(7)?,
                r.get::<_, bool>(8)?,
            ))
        })
        .map_err(db)?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, doc, team, kind, owner, hash, device, by_server, created) = row.map_err(db)?;
        out.push(RecentChange {
            seq: u(seq),
            doc: parse_uuid(&doc)?,
            team: TeamId(parse_uuid(&team)?),
            kind: parse_kind(&kind)?,
            owner: owner.as_deref().map(parse_uuid).transpose()?.map(MemberId),
            hash,
            created,
            device: device.as_deref().map(parse_uuid).transpose()?.map(DeviceId),
            by_server,
        });
    }
    Ok(out)
}

pub(super) async fn stored_since(s: &SqliteStorage, after: u64, limit: usize) -> StorageResult<Vec<StoredRef>> {
    s.check_open()?;
    if let Some(found) = s.log.since(after, limit) {
        return Ok(found);
    }
    let server_actor = s.log.server_actor.clone();
    let changes = s.read(move |c| changes_since(c, after, limit, &server_actor)).await?;
    Ok(changes.into_iter().map(RecentChange::into_ref).collect())
}

pub(super) async fn put_snapshot(s: &SqliteStorage, doc: Uuid, upto_seq: u64, bytes: Vec<u8>) -> StorageResult<()> {
    s.write(move |c| {
        c.execute(
            "INSERT INTO snapshots (doc_id, upto_seq, bytes) VALUES (?1, ?2, ?3)
             ON CONFLICT (doc_id) DO UPDATE SET upto_seq = excluded.upto_seq, bytes = excluded.bytes
             WHERE excluded.upto_seq > snapshots.upto_seq",
            params![doc.to_string(), i(upto_seq), bytes],
        )
        .map_err(db)?;
        Ok(())
    })
    .await
}

pub(super) async fn count_docs(s: &SqliteStorage) -> StorageResult<u64> {
    s.read(|c| c.query_row("SELECT COUNT(*) FROM docs", [], |r| r.get::<_, i64>(0)).map(u).map_err(db)).await
}

pub(super) async fn feed_docs(
    s: &SqliteStorage,
    scope: FeedScope,
    after: u64,
    limit: usize,
) -> StorageResult<Vec<FeedEntry>> {
    s.check_open()?;
    if let Some(docs) = s.log.recent().feed_docs(&scope, after, limit) {
        return Ok(docs);
    }
    s.read(move |c| {
        // The limit is part of the SQL text: SQLite re-prepares a statement on every run when a
        // bound parameter is used by the planner, as `LIMIT ?` is.
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut st = c
            .prepare_cached(&format!(
                "SELECT c.doc_id, MIN(c.seq), d.kind, d.owner, d.first_seq
                 FROM changes c JOIN docs d ON d.id = c.doc_id
                 WHERE c.team_id = ?1 AND c.seq > ?2 AND (c.kind = 'team' OR ?3 OR c.owner = ?4)
                 GROUP BY c.doc_id ORDER BY MIN(c.seq) LIMIT {limit}"
            ))
            .map_err(db)?;
        let rows = st
            .query_map(params![scope.team.to_string(), i(after), scope.all_shifts, scope.member.to_string()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, min_after, kind, owner, first) = row.map_err(db)?;
            out.push(FeedEntry {
                meta: DocMeta {
                    id: parse_uuid(&id)?,
                    team: scope.team,
                    kind: parse_kind(&kind)?,
                    owner: owner.as_deref().map(parse_uuid).transpose()?.map(MemberId),
                },
                first_seq: u(first),
                min_seq_after: u(min_after),
            });
        }
        Ok(out)
    })
    .await
}

pub(super) async fn changes_after(s: &SqliteStorage, doc: Uuid, after: u64) -> StorageResult<Vec<StoredChange>> {
    s.read(move |c| changes_after_of(c, doc, after)).await
}

pub(super) async fn change_at_or_before(s: &SqliteStorage, seq: u64) -> StorageResult<Option<(u64, Vec<u8>)>> {
    s.check_open()?;
    if let Some(found) = s.log.recent().at_or_before(seq) {
        return Ok(found);
    }
    s.read(move |c| {
        c.query_row("SELECT seq, hash FROM changes WHERE seq <= ?1 ORDER BY seq DESC LIMIT 1", params![i(seq)], |r| {
            Ok((u(r.get(0)?), r.get(1)?))
        })
        .optional()
        .map_err(db)
    })
    .await
}

pub(super) async fn max_seq(s: &SqliteStorage) -> StorageResult<u64> {
    s.read(|c| c.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| r.get::<_, i64>(0)).map(u).map_err(db))
        .await
}

pub(super) async fn feed_position(s: &SqliteStorage, cursor_seq: u64) -> StorageResult<FeedPosition> {
    s.check_open()?;
    if let Some(p) = s.log.recent().position(cursor_seq) {
        return Ok(p);
    }
    let pos = feed_position_stored(s, cursor_seq).await?;
    // Changes the window does not hold yet (stored by another process): it answers nothing
    // more until it does, so no feed mixes the two.
    s.log.saw(pos.max_seq);
    Ok(pos)
}

pub(super) async fn member_shifts(
    s: &SqliteStorage,
    team: TeamId,
    member: MemberId,
    since: Option<i64>,
    limit: usize,
) -> StorageResult<Vec<Uuid>> {
    s.read(move |c| {
        let mut st = c
            .prepare_cached(
                "SELECT shift_id FROM tracked_shifts WHERE team_id = ?1 AND worker_id = ?2
                    AND (?3 IS NULL OR started_at >= ?3)
                 ORDER BY started_at DESC, shift_id DESC LIMIT ?4",
            )
            .map_err(db)?;
        let rows = st
            .query_map(
                params![team.to_string(), member.to_string(), since, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| r.get::<_, String>(0),
            )
            .map_err(db)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(parse_uuid(&r.map_err(db)?)?);
        }
        Ok(out)
    })
    .await
}

pub(super) async fn board_shifts(s: &SqliteStorage, team: TeamId) -> StorageResult<Vec<ShiftId>> {
    s.read(move |c| {
        // Every active shift; and per member the shift that ended last (SQLite takes the bare
        // column from the row holding the maximum).
        let mut st = c
            .prepare_cached(
                "SELECT shift_id FROM tracked_shifts WHERE team_id = ?1 AND ended_seen IS NULL
                 UNION ALL
                 SELECT shift_id FROM (
                    SELECT shift_id, MAX(COALESCE(ended_at, ended_seen)) FROM tracked_shifts
                    WHERE team_id = ?1 AND ended_seen IS NOT NULL GROUP BY worker_id)",
            )
            .map_err(db)?;
        let rows = st.query_map(params![team.to_string()], |r| r.get::<_, String>(0)).map_err(db)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(ShiftId(parse_uuid(&r.map_err(db)?)?));
        }
        Ok(out)
    })
    .await
}

pub(super) async fn checkin_receipts(s: &SqliteStorage, shift: ShiftId) -> StorageResult<Vec<CheckinReceipt>> {
    s.read(move |c| checkin_receipts_of(c, shift)).await
}

pub(super) async fn shift_receipts(s: &SqliteStorage, shifts: Vec<ShiftId>) -> StorageResult<Vec<StoredReceipts>> {
    if shifts.is_empty() {
        return Ok(Vec::new());
    }
    s.read(move |c| {
        let mut out = Vec::with_capacity(shifts.len());
        for id in shifts {
            let Some(tracked) = tracked_row(c, id)? else { continue };
            out.push(StoredReceipts {
                tracked,
                checkins: checkin_receipts_of(c, id)?,
                entries: entry_receipts(c, id)?,
            });
        }
        Ok(out)
    })
    .await
}

pub(super) async fn track_shifts(s: &SqliteStorage, shifts: Vec<Tracking>) -> StorageResult<()> {
    s.write(move |c| {
        for t in &shifts {
            track_one(c, t)?;
        }
        Ok(())
    })
    .await
}

pub(super) async fn active_shifts(s: &SqliteStorage) -> StorageResult<Vec<TrackedShift>> {
    s.read(|c| {
        let mut st = c
            .prepare(&format!(
                "SELECT {TRACKED_COLS} FROM tracked_shifts
                 WHERE ended_seen IS NULL OR shift_id IN (SELECT shift_id FROM alerts WHERE state <> 'resolved')"
            ))
            .map_err(db)?;
        let rows = st.query_map([], tracked_from_row).map_err(db)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(tracked(r.map_err(db)?)?);
        }
        Ok(out)
    })
    .await
}

pub(super) async fn untracked_shifts(s: &SqliteStorage, limit: usize) -> StorageResult<Vec<(ShiftId, i64)>> {
    s.read(move |c| {
        let mut st = c
            .prepare(
                "SELECT d.id, (SELECT received_at FROM changes WHERE seq = d.first_seq) FROM docs d
                 WHERE d.kind = 'shift' AND NOT EXISTS (SELECT 1 FROM tracked_shifts t WHERE t.shift_id = d.id)
                 LIMIT ?1",
            )
            .map_err(db)?;
        let rows = st
            .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
            })
            .map_err(db)?;
        let mut out = Vec::new();
        for r in rows {
            let (id, first) = r.map_err(db)?;
            out.push((ShiftId(parse_uuid(&id)?), first.unwrap_or(0)));
        }
        Ok(out)
    })
    .await
}

/// [`Storage::feed_position`] from the database.
async fn feed_position_stored(s: &SqliteStorage, cursor_seq: u64) -> StorageResult<FeedPosition> {
    s.read(move |c| {
        let max = last_change(c)?;
        let at: Option<Vec<u8>> = if cursor_seq == 0 {
            None
        } else {
            c.prepare_cached("SELECT hash FROM changes WHERE seq = ?1")
                .map_err(db)?
                .query_row(params![i(cursor_seq)], |r| r.get(0))
                .optional()
                .map_err(db)?
        };
        Ok(FeedPosition { max_seq: max.as_ref().map_or(0, |m| m.0), max_hash: max.map(|m| m.1), hash_at_cursor: at })
    })
    .await
}
