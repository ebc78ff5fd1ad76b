//! Webhooks and their delivery queue.

use kith_domain::TeamId;
use rusqlite::{Connection, OptionalExtension, params};

use super::*;
use crate::storage::*;

/// Queues a webhook delivery if the team has a webhook; the same key is never queued twice.
pub(super) fn enqueue(c: &Connection, ev: Option<&WebhookEvent>, now: i64) -> Result<(), StorageError> {
    let Some(ev) = ev else { return Ok(()) };
    c.prepare_cached(
        "INSERT OR IGNORE INTO webhook_deliveries (team_id, key, url, secret, body, created_at, next_attempt_at)
         SELECT team_id, ?2, url, secret, ?3, ?4, ?4 FROM webhooks WHERE team_id = ?1",
    )
    .map_err(db)?
    .execute(params![ev.team.to_string(), ev.key, ev.body, now])
    .map_err(db)?;
    Ok(())
}

pub(super) fn delivery(row: DeliveryRow) -> Result<Delivery, StorageError> {
    let (id, team, key, url, secret, body, attempts, next, delivered_at, last_error) = row;
    Ok(Delivery {
        id,
        team: TeamId(parse_uuid(&team)?),
        key,
        url,
        secret,
        body,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt_at: next,
        delivered_at,
        last_error,
    })
}

pub(super) type DeliveryRow = (i64, String, String, String, String, String, i64, i64, Option<i64>, Option<String>);

pub(super) const DELIVERY_COLS: &str =
    "id, team_id, key, url, secret, body, attempts, next_attempt_at, delivered_at, last_error";

pub(super) fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?))
}

pub(super) async fn set_webhook(s: &SqliteStorage, team: TeamId, hook: Option<WebhookConfig>) -> StorageResult<()> {
    s.write(move |c| {
        match hook {
            Some(h) => c
                .execute(
                    "INSERT INTO webhooks (team_id, url, secret) VALUES (?1, ?2, ?3)
                     ON CONFLICT (team_id) DO UPDATE SET url = excluded.url, secret = excluded.secret",
                    params![team.to_string(), h.url, h.secret],
                )
                .map_err(db)?,
            None => c.execute("DELETE FROM webhooks WHERE team_id = ?1", params![team.to_string()]).map_err(db)?,
        };
        Ok(())
    })
    .await
}

pub(super) async fn webhook(s: &SqliteStorage, team: TeamId) -> StorageResult<Option<WebhookConfig>> {
    s.read(move |c| {
        c.query_row("SELECT url, secret FROM webhooks WHERE team_id = ?1", params![team.to_string()], |r| {
            Ok(WebhookConfig { url: r.get(0)?, secret: r.get(1)? })
        })
        .optional()
        .map_err(db)
    })
    .await
}

pub(super) async fn due_deliveries(s: &SqliteStorage, now: i64, limit: usize) -> StorageResult<Vec<Delivery>> {
    s.read(move |c| {
        let mut st = c
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE delivered_at IS NULL AND next_attempt_at <= ?1
                 ORDER BY next_attempt_at, id LIMIT ?2"
            ))
            .map_err(db)?;
        let rows = st.query_map(params![now, i64::try_from(limit).unwrap_or(i64::MAX)], delivery_row).map_err(db)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(delivery(r.map_err(db)?)?);
        }
        Ok(out)
    })
    .await
}

pub(super) async fn next_delivery_at(s: &SqliteStorage) -> StorageResult<Option<i64>> {
    s.read(|c| {
        c.query_row("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE delivered_at IS NULL", [], |r| r.get(0))
            .map_err(db)
    })
    .await
}

pub(super) async fn record_attempt(s: &SqliteStorage, id: i64, a: DeliveryAttempt) -> StorageResult<()> {
    s.write(move |c| {
        c.execute(
            "INSERT INTO webhook_attempts (delivery_id, at, status, error, delivered) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, a.at, a.status, a.error, a.delivered],
        )
        .map_err(db)?;
        c.execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = ?2,
                delivered_at = CASE WHEN ?3 THEN ?4 ELSE NULL END, next_attempt_at = ?5
             WHERE id = ?1 AND delivered_at IS NULL",
            params![id, a.error, a.delivered, a.at, a.next_attempt_at],
        )
        .map_err(db)?;
        Ok(())
    })
    .await
}

pub(super) async fn deliveries(s: &SqliteStorage, team: TeamId) -> StorageResult<Vec<Delivery>> {
    s.read(move |c| {
        let mut st = c
            .prepare(&format!("SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE team_id = ?1 ORDER BY id"))
            .map_err(db)?;
        let rows = st.query_map(params![team.to_string()], delivery_row).map_err(db)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(delivery(r.map_err(db)?)?);
        }
        Ok(out)
    })
    .await
}
