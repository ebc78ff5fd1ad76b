//! Alerts, their fired steps and their history. Every change of an alert locks its row first
//! (`FOR UPDATE`), so two instances acting on one alert take turns and the second sees the first.

use std::collections::HashMap;

use kith_domain::{MemberId, TeamId};

use uuid::Uuid;

use super::*;
use crate::storage::*;

fn json_err(e: serde_json::Error) -> StorageError {
    StorageError::Corrupt(format!("a stored alert is unreadable: {e}"))
}

fn alert_from_body(body: &str) -> Result<AlertRecord, StorageError> {
    serde_json::from_str(body).map_err(json_err)
}

fn parse_step(index: i64, notify: &str, fired_at: i64) -> StorageResult<FiredStep> {
    let notify = notify.parse().map_err(|_| StorageError::Corrupt(format!("unknown escalation target '{notify}'")))?;
    Ok(FiredStep { index: usize::try_from(index).unwrap_or(0), notify, fired_at })
}

pub(super) async fn insert_alert(
    s: &PgStorage,
    alert: AlertRecord,
    event: Option<WebhookEvent>,
) -> StorageResult<bool> {
    let mut c = s.conn().await?;
    let t = c.transaction().await.map_err(pg)?;
    let body = serde_json::to_string(&alert).map_err(json_err)?;
    let n = t
        .execute(
            "INSERT INTO alerts (id, key, team_id, shift_id, state, opened_at, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            &[
                &alert.id.to_string(),
                &alert.key,
                &alert.team.to_string(),
                &alert.shift.to_string(),
                &alert.state.as_str(),
                &alert.opened_at,
                &body,
            ],
        )
        .await
        .map_err(pg)?;
    if n > 0 {
        super::webhooks::enqueue(&t, event.as_ref(), alert.opened_at).await?;
    }
    t.commit().await.map_err(pg)?;
    Ok(n > 0)
}

pub(super) async fn fire_step(
    s: &PgStorage,
    alert: Uuid,
    step: FiredStep,
    event: Option<WebhookEvent>,
) -> StorageResult<bool> {
    let mut c = s.conn().await?;
    let t = c.transaction().await.map_err(pg)?;
    let id = alert.to_string();
    // A claimed or resolved alert climbs no further.
    let Some(row) = t.query_opt("SELECT state, body FROM alerts WHERE id = $1 FOR UPDATE", &[&id]).await.map_err(pg)?
    else {
        return Ok(false);
    };
    if g::<String>(&row, 0)? != "open" {
        return Ok(false);
    }
    let n = t
        .execute(
            "INSERT INTO alert_steps (alert_id, step, notify, fired_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&id, &i64::try_from(step.index).unwrap_or(i64::MAX), &step.notify.to_string(), &step.fired_at],
        )
        .await
        .map_err(pg)?;
    if n == 0 {
        return Ok(false);
    }
    let mut rec = alert_from_body(&g::<String>(&row, 1)?)?;
    rec.steps_fired = rec.steps_fired.max(step.index + 1);
    let body = serde_json::to_string(&rec).map_err(json_err)?;
    t.execute("UPDATE alerts SET body = $2 WHERE id = $1", &[&id, &body]).await.map_err(pg)?;
    super::webhooks::enqueue(&t, event.as_ref(), step.fired_at).await?;
    t.commit().await.map_err(pg)?;
    Ok(true)
}

/// Replaces an alert if its state is still `expect` (and, when given, its owner `owner_was`),
/// with the log entry `log` if given; false if it is not (see [`Storage::update_alert`]).
pub(super) async fn update_alert(
    s: &PgStorage,
    alert: AlertRecord,
    expect: AlertState,
    owner_was: Option<Option<MemberId>>,
    event: Option<WebhookEvent>,
    log: Option<AlertLogEntry>,
) -> StorageResult<bool> {
    let mut c = s.conn().await?;
    let t = c.transaction().await.map_err(pg)?;
    let id = alert.id.to_string();
    let Some(row) = t
        .query_opt("SELECT body FROM alerts WHERE id = $1 AND state = $2 FOR UPDATE", &[&id, &expect.as_str()])
        .await
        .map_err(pg)?
    else {
        return Ok(false);
    };
    let current = alert_from_body(&g::<String>(&row, 0)?)?;
    if owner_was.is_some_and(|o| o != current.claimed_by) {
        return Ok(false);
    }
    // Steps fired meanwhile are kept: the step log is the truth.
    let mut alert = alert;
    alert.steps_fired = alert.steps_fired.max(current.steps_fired);
    let body = serde_json::to_string(&alert).map_err(json_err)?;
    t.execute("UPDATE alerts SET state = $2, body = $3 WHERE id = $1", &[&id, &alert.state.as_str(), &body])
        .await
        .map_err(pg)?;
    let at = alert.resolved_at.or(alert.claimed_at).unwrap_or(alert.opened_at);
    super::webhooks::enqueue(&t, event.as_ref(), at).await?;
    if let Some(log) = log {
        t.execute(
            "INSERT INTO alert_log (alert_id, n, at, action, by_member, target, note)
             SELECT $1, COALESCE(MAX(n), 0) + 1, $2, $3, $4, $5, $6 FROM alert_log WHERE alert_id = $1",
            &[&id, &log.at, &log.action, &log.by.to_string(), &log.target.map(|t| t.to_string()), &log.note],
        )
        .await
        .map_err(pg)?;
    }
    t.commit().await.map_err(pg)?;
    Ok(true)
}

pub(super) async fn alert_histories(
    s: &PgStorage,
    alerts: Vec<Uuid>,
) -> StorageResult<HashMap<Uuid, (Vec<FiredStep>, Vec<AlertLogEntry>)>> {
    let c = s.conn().await?;
    let ids: Vec<String> = alerts.iter().map(Uuid::to_string).collect();
    let mut out: HashMap<Uuid, (Vec<FiredStep>, Vec<AlertLogEntry>)> = HashMap::new();
    let rows = c
        .query(
            "SELECT alert_id, step, notify, fired_at FROM alert_steps WHERE alert_id = ANY($1) ORDER BY alert_id, step",
            &[&ids],
        )
        .await
        .map_err(pg)?;
    for r in &rows {
        let step = parse_step(g(r, 1)?, &g::<String>(r, 2)?, g(r, 3)?)?;
        out.entry(parse_uuid(&g::<String>(r, 0)?)?).or_default().0.push(step);
    }
    let rows = c
        .query(
            "SELECT alert_id, at, action, by_member, target, note FROM alert_log WHERE alert_id = ANY($1) ORDER BY alert_id, n",
            &[&ids],
        )
        .await
        .map_err(pg)?;
    for r in &rows {
        let e = AlertLogEntry {
            at: g(r, 1)?,
            action: g(r, 2)?,
            by: MemberId(parse_uuid(&g::<String>(r, 3)?)?),
            target: g::<Option<String>>(r, 4)?.as_deref().map(parse_uuid).transpose()?.map(MemberId),
            note: g(r, 5)?,
        };
        out.entry(parse_uuid(&g::<String>(r, 0)?)?).or_default().1.push(e);
    }
    Ok(out)
}

pub(super) async fn alert(s: &PgStorage, id: Uuid) -> StorageResult<Option<AlertRecord>> {
    let c = s.conn().await?;
    let r = c.query_opt("SELECT body FROM alerts WHERE id = $1", &[&id.to_string()]).await.map_err(pg)?;
    r.map(|r| alert_from_body(&g::<String>(&r, 0)?)).transpose()
}

pub(super) async fn alerts(
    s: &PgStorage,
    team: Option<TeamId>,
    unresolved: bool,
    limit: usize,
) -> StorageResult<Vec<AlertRecord>> {
    let c = s.conn().await?;
    let rows = c
        .query(
            "SELECT body FROM alerts WHERE ($1::TEXT IS NULL OR team_id = $1) AND (NOT $2 OR state <> 'resolved')
             ORDER BY opened_at DESC, id DESC LIMIT $3",
            &[&team.map(|t| t.to_string()), &unresolved, &lim(limit)],
        )
        .await
        .map_err(pg)?;
    rows.iter().map(|r| alert_from_body(&g::<String>(r, 0)?)).collect()
}

pub(super) async fn alert_steps(s: &PgStorage, alert: Uuid) -> StorageResult<Vec<FiredStep>> {
    let c = s.conn().await?;
    let rows = c
        .query(
            "SELECT step, notify, fired_at FROM alert_steps WHERE alert_id = $1 ORDER BY step",
            &[&alert.to_string()],
        )
        .await
        .map_err(pg)?;
    rows.iter().map(|r| parse_step(g(r, 0)?, &g::<String>(r, 1)?, g(r, 2)?)).collect()
}
