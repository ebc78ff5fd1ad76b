//! Alerts, their fired steps and their history.

use std::collections::HashMap;

use kith_domain::{MemberId, Notify, TeamId};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::*;
use crate::storage::*;

/// Replaces an alert if its state is still `expect` (and, when given, its owner `owner_was`);
/// false if it is not (see [`Storage::update_alert`]).
pub(super) fn update_alert_in(
    c: &Connection,
    alert: AlertRecord,
    expect: AlertState,
    owner_was: Option<Option<MemberId>>,
    event: Option<&WebhookEvent>,
) -> Result<bool, StorageError> {
    let current: Option<String> = c
        .query_row(
            "SELECT body FROM alerts WHERE id = ?1 AND state = ?2",
            params![alert.id.to_string(), expect.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    let Some(current) = current else { return Ok(false) };
    let current = alert_from_body(current)?;
    if owner_was.is_some_and(|o| o != current.claimed_by) {
        return Ok(false);
    }
    // Steps fired meanwhile are kept: the step log is the truth.
    let mut alert = alert;
    alert.steps_fired = alert.steps_fired.max(current.steps_fired);
    let body = serde_json::to_string(&alert).map_err(json_err)?;
    c.execute(
        "UPDATE alerts SET state = ?2, body = ?3 WHERE id = ?1",
        params![alert.id.to_string(), alert.state.as_str(), body],
    )
    .map_err(db)?;
    let at = alert.resolved_at.or(alert.claimed_at).unwrap_or(alert.opened_at);
    super::webhooks::enqueue(c, event, at)?;
    Ok(true)
}

pub(super) fn json_err(e: serde_json::Error) -> StorageError {
    StorageError::Corrupt(format!("a stored alert is unreadable: {e}"))
}

pub(super) fn alert_from_body(body: String) -> Result<AlertRecord, StorageError> {
    serde_json::from_str(&body).map_err(json_err)
}

pub(super) fn notify_str(n: Notify) -> String {
    n.to_string()
}

pub(super) async fn insert_alert(
    s: &SqliteStorage,
    alert: AlertRecord,
    event: Option<WebhookEvent>,
) -> StorageResult<bool> {
    s.write(move |c| {
        let body = serde_json::to_string(&alert).map_err(json_err)?;
        let n = c
            .prepare_cached(
                "INSERT OR IGNORE INTO alerts (id, key, team_id, shift_id, state, opened_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(db)?
            .execute(params![
                alert.id.to_string(),
                alert.key,
                alert.team.to_string(),
                alert.shift.to_string(),
                alert.state.as_str(),
                alert.opened_at,
                body
            ])
            .map_err(db)?;
        if n > 0 {
            super::webhooks::enqueue(c, event.as_ref(), alert.opened_at)?;
        }
        Ok(n > 0)
    })
    .await
}

pub(super) async fn fire_step(
    s: &SqliteStorage,
    alert: Uuid,
    step: FiredStep,
    event: Option<WebhookEvent>,
) -> StorageResult<bool> {
    s.write(move |c| {
        // A claimed or resolved alert climbs no further.
        let open: bool = c
            .query_row("SELECT state = 'open' FROM alerts WHERE id = ?1", params![alert.to_string()], |r| r.get(0))
            .optional()
            .map_err(db)?
            .unwrap_or(false);
        if !open {
            return Ok(false);
        }
        let n = c
            .prepare_cached(
                "INSERT OR IGNORE INTO alert_steps (alert_id, step, notify, fired_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(db)?
            .execute(params![
                alert.to_string(),
                i64::try_from(step.index).unwrap_or(i64::MAX),
                notify_str(step.notify),
                step.fired_at
            ])
            .map_err(db)?;
        if n == 0 {
            return Ok(false);
        }
        let body: String = c
            .query_row("SELECT body FROM alerts WHERE id = ?1", params![alert.to_string()], |r| r.get(0))
            .map_err(db)?;
        let mut rec = alert_from_body(body)?;
        rec.steps_fired = rec.steps_fired.max(step.index + 1);
        let body = serde_json::to_string(&rec).map_err(json_err)?;
        c.execute("UPDATE alerts SET body = ?2 WHERE id = ?1", params![alert.to_string(), body]).map_err(db)?;
        super::webhooks::enqueue(c, event.as_ref(), step.fired_at)?;
        Ok(true)
    })
    .await
}

pub(super) async fn update_alert(
    s: &SqliteStorage,
    alert: AlertRecord,
    expect: AlertState,
    event: Option<WebhookEvent>,
) -> StorageResult<bool> {
    s.write(move |c| update_alert_in(c, alert, expect, None, event.as_ref())).await
}

pub(super) async fn update_alert_logged(
    s: &SqliteStorage,
    alert: AlertRecord,
    expect: AlertState,
    owner_was: Option<MemberId>,
    event: Option<WebhookEvent>,
    log: AlertLogEntry,
) -> StorageResult<bool> {
    s.write(move |c| {
        let id = alert.id;
        if !update_alert_in(c, alert, expect, Some(owner_was), event.as_ref())? {
            return Ok(false);
        }
        c.prepare_cached(
            "INSERT INTO alert_log (alert_id, n, at, action, by_member, target, note)
             SELECT ?1, COALESCE(MAX(n), 0) + 1, ?2, ?3, ?4, ?5, ?6 FROM alert_log WHERE alert_id = ?1",
        )
        .map_err(db)?
        .execute(params![
            id.to_string(),
            log.at,
            log.action,
            log.by.to_string(),
            log.target.map(|t| t.to_string()),
            log.note
        ])
        .map_err(db)?;
        Ok(true)
    })
    .await
}

pub(super) async fn alert_histories(
    s: &SqliteStorage,
    alerts: Vec<Uuid>,
) -> StorageResult<HashMap<Uuid, (Vec<FiredStep>, Vec<AlertLogEntry>)>> {
    s.read(move |c| {
        let mut out: HashMap<Uuid, (Vec<FiredStep>, Vec<AlertLogEntry>)> = HashMap::new();
        // SQLite allows a few hundred parameters per statement at least; ask in chunks.
        for chunk in alerts.chunks(200) {
            let marks = vec!["?"; chunk.len()].join(",");
            let ids: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
            let mut st = c
                .prepare(&format!(
                    "SELECT alert_id, step, notify, fired_at FROM alert_steps WHERE alert_id IN ({marks}) ORDER BY alert_id, step"
                ))
                .map_err(db)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(ids.iter()), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
                })
                .map_err(db)?;
            for r in rows {
                let (id, index, notify, fired_at) = r.map_err(db)?;
                let notify = notify
                    .parse()
                    .map_err(|_| StorageError::Corrupt(format!("unknown escalation target '{notify}'")))?;
                let step = FiredStep { index: usize::try_from(index).unwrap_or(0), notify, fired_at };
                out.entry(parse_uuid(&id)?).or_default().0.push(step);
            }
            let mut st = c
                .prepare(&format!(
                    "SELECT alert_id, at, action, by_member, target, note FROM alert_log WHERE alert_id IN ({marks}) ORDER BY alert_id, n"
                ))
                .map_err(db)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(ids.iter()), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                })
                .map_err(db)?;
            for r in rows {
                let (id, at, action, by, target, note) = r.map_err(db)?;
                let e = AlertLogEntry {
                    at,
                    action,
                    by: MemberId(parse_uuid(&by)?),
                    target: target.as_deref().map(parse_uuid).transpose()?.map(MemberId),
                    note,
                };
                out.entry(parse_uuid(&id)?).or_default().1.push(e);
            }
        }
        Ok(out)
    })
    .await
}

pub(super) async fn alert(s: &SqliteStorage, id: Uuid) -> StorageResult<Option<AlertRecord>> {
    s.read(move |c| {
        let body: Option<String> = c
            .query_row("SELECT body FROM alerts WHERE id = ?1", params![id.to_string()], |r| r.get(0))
            .optional()
            .map_err(db)?;
        body.map(alert_from_body).transpose()
    })
    .await
}

pub(super) async fn alerts(
    s: &SqliteStorage,
    team: Option<TeamId>,
    unresolved: bool,
    limit: usize,
) -> StorageResult<Vec<AlertRecord>> {
    s.read(move |c| {
        let mut st = c
            .prepare_cached(
                "SELECT body FROM alerts WHERE (?1 IS NULL OR team_id = ?1) AND (NOT ?2 OR state <> 'resolved')
                 ORDER BY opened_at DESC, id DESC LIMIT ?3",
            )
            .map_err(db)?;
        let rows = st
            .query_map(
                params![team.map(|t| t.to_string()), unresolved, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| r.get::<_, String>(0),
            )
            .map_err(db)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(alert_from_body(r.map_err(db)?)?);
        }
        Ok(out)
    })
    .await
}

pub(super) async fn alert_steps(s: &SqliteStorage, alert: Uuid) -> StorageResult<Vec<FiredStep>> {
    s.read(move |c| {
        let mut st = c
            .prepare_cached("SELECT step, notify, fired_at FROM alert_steps WHERE alert_id = ?1 ORDER BY step")
            .map_err(db)?;
        let rows = st
            .query_map(params![alert.to_string()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
            })
            .map_err(db)?;
        let mut out = Vec::new();
        for r in rows {
            let (index, notify, fired_at) = r.map_err(db)?;
            let notify =
                notify.parse().map_err(|_| StorageError::Corrupt(format!("unknown escalation target '{notify}'")))?;
            out.push(FiredStep { index: usize::try_from(index).unwrap_or(0), notify, fired_at });
        }
        Ok(out)
    })
    .await
}
