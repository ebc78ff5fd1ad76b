//! Webhooks and their delivery queue.

use deadpool_postgres::GenericClient;
use kith_domain::TeamId;

use super::*;
use crate::storage::*;

/// Queues a webhook delivery if the team has a webhook; the same key is never queued twice.
pub(super) async fn enqueue(c: &impl GenericClient, ev: Option<&WebhookEvent>, now: i64) -> StorageResult<()> {
    let Some(ev) = ev else { return Ok(()) };
    c.execute(
        "INSERT INTO webhook_deliveries (team_id, key, url, secret, body, created_at, next_attempt_at)
         SELECT team_id, $2, url, secret, $3, $4, $4 FROM webhooks WHERE team_id = $1
         ON CONFLICT (key) DO NOTHING",
        &[&ev.team.to_string(), &ev.key, &ev.body, &now],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

const DELIVERY_COLS: &str = "id, team_id, key, url, secret, body, attempts, next_attempt_at, delivered_at, last_error";

fn delivery(r: &tokio_postgres::Row) -> StorageResult<Delivery> {
    Ok(Delivery {
        id: g(r, 0)?,
        team: TeamId(parse_uuid(&g::<String>(r, 1)?)?),
        key: g(r, 2)?,
        url: g(r, 3)?,
        secret: g(r, 4)?,
        body: g(r, 5)?,
        attempts: u32::try_from(g::<i64>(r, 6)?).unwrap_or(0),
        next_attempt_at: g(r, 7)?,
        delivered_at: g(r, 8)?,
        last_error: g(r, 9)?,
    })
}

pub(super) async fn set_webhook(s: &PgStorage, team: TeamId, hook: Option<WebhookConfig>) -> StorageResult<()> {
    let c = s.conn().await?;
    match hook {
        Some(h) => c
            .execute(
                "INSERT INTO webhooks (team_id, url, secret) VALUES ($1, $2, $3)
                 ON CONFLICT (team_id) DO UPDATE SET url = excluded.url, secret = excluded.secret",
                &[&team.to_string(), &h.url, &h.secret],
            )
            .await
            .map_err(pg)?,
        None => c.execute("DELETE FROM webhooks WHERE team_id = $1", &[&team.to_string()]).await.map_err(pg)?,
    };
    Ok(())
}

pub(super) async fn webhook(s: &PgStorage, team: TeamId) -> StorageResult<Option<WebhookConfig>> {
    let c = s.conn().await?;
    let r =
        c.query_opt("SELECT url, secret FROM webhooks WHERE team_id = $1", &[&team.to_string()]).await.map_err(pg)?;
    r.map(|r| Ok(WebhookConfig { url: g(&r, 0)?, secret: g(&r, 1)? })).transpose()
}

pub(super) async fn due_deliveries(s: &PgStorage, now: i64, limit: usize) -> StorageResult<Vec<Delivery>> {
    let c = s.conn().await?;
    let rows = c
        .query(
            &format!(
                "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE delivered_at IS NULL AND next_attempt_at <= $1
                 ORDER BY next_attempt_at, id LIMIT $2"
            ),
            &[&now, &lim(limit)],
        )
        .await
        .map_err(pg)?;
    rows.iter().map(delivery).collect()
}

pub(super) async fn next_delivery_at(s: &PgStorage) -> StorageResult<Option<i64>> {
    let c = s.conn().await?;
    let r = c
        .query_one("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE delivered_at IS NULL", &[])
        .await
        .map_err(pg)?;
    g(&r, 0)
}

pub(super) async fn record_attempt(s: &PgStorage, id: i64, a: DeliveryAttempt) -> StorageResult<()> {
    let mut c = s.conn().await?;
    let t = c.transaction().await.map_err(pg)?;
    t.execute(
        "INSERT INTO webhook_attempts (delivery_id, at, status, error, delivered) VALUES ($1, $2, $3, $4, $5)",
        &[&id, &a.at, &a.status.map(i64::from), &a.error, &a.delivered],
    )
    .await
    .map_err(pg)?;
    t.execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $2,
            delivered_at = CASE WHEN $3 THEN $4::BIGINT ELSE NULL END, next_attempt_at = $5
         WHERE id = $1 AND delivered_at IS NULL",
        &[&id, &a.error, &a.delivered, &a.at, &a.next_attempt_at],
    )
    .await
    .map_err(pg)?;
    t.commit().await.map_err(pg)
}

pub(super) async fn deliveries(s: &PgStorage, team: TeamId) -> StorageResult<Vec<Delivery>> {
    let c = s.conn().await?;
    let rows = c
        .query(
            &format!("SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE team_id = $1 ORDER BY id"),
            &[&team.to_string()],
        )
        .await
        .map_err(pg)?;
    rows.iter().map(delivery).collect()
}
