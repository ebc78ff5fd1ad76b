//! The lead's console over the JSON API (docs/app.md): the team as a lead edits it (policy, roles,
//! buddies, phones), the team's devices and revoking one, taking over and assigning alerts, and
//! what an alert shows (what the worker said, their phone, its history).
//!
//! The browser has no Automerge document of its own: team edits are written by the server as its
//! own actor on the member's behalf through [`DocService::edit_as`](crate::docs::DocService::edit_as),
//! authorised exactly as the member's own change would be (a member may change only their own
//! phone and buddies). Rules are the domain's; handlers only check input and call them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kith_api::{
    AlertAction, AlertHistoryItem, AlertView, AssignRequest, CheckInView, DeviceList, DeviceView, MemberEdit,
    PolicyEdit, TeamView,
};
use kith_domain::doc::team;
use kith_domain::rules::AlertFact;
use kith_domain::{CheckInId, DeviceId, MemberId, Shift, ShiftId, Team, TeamId, Timestamp};
use kith_proto::Kind;
use uuid::Uuid;

use crate::alerts::Audience;
use crate::error::{ApiErr, ServerError};
use crate::http::{ApiErrorDoc, App, AuthDevice, alert_err, alert_id};
use crate::live::LiveEvent;
use crate::storage::{AlertRecord, AlertState, DeviceAuth};
use crate::sync::EditError;
use crate::table::Table;
use crate::views::load_team;

/// Alerts of a team the board's rules look at: the newest this many (resolved ones too, so a
/// support request whose alert was resolved no longer reads "support").
const FACT_ALERTS: usize = 500;

/// When each device last reached the server (server clock), since the server started: in memory,
/// like presence, within `limits.seen_max_bytes`: past it, the devices seen longest ago are
/// forgotten (their "last seen" is unknown until they reach the server again, as after a restart).
#[derive(Debug)]
pub struct Seen {
    times: Mutex<Table<DeviceId, i64>>,
    max_bytes: usize,
    /// The most devices a table within `max_bytes` holds.
    most: usize,
}

impl Seen {
    pub fn new(max_bytes: usize) -> Seen {
        Seen { times: Mutex::default(), max_bytes, most: Table::<DeviceId, i64>::most(max_bytes) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table<DeviceId, i64>> {
        self.times.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn touch(&self, device: DeviceId, now: i64) {
        if self.most == 0 {
            return;
        }
        let mut times = self.lock();
        // A new device in a full table would double it past the budget: the devices seen longest
        // ago go first, down to 7/8 of what the table holds (so one pass serves many devices),
        // and the table is made again without them.
        if times.bytes_after_insert() > self.max_bytes && !times.contains_key(&device) {
            let keep = (self.most - self.most / 8).min(self.most - 1);
            let mut by_time: Vec<(i64, DeviceId)> = times.iter().map(|(d, t)| (*t, *d)).collect();
            by_time.sort_unstable();
            let drop = times.len().saturating_sub(keep);
            for (_, d) in by_time.into_iter().take(drop) {
                times.remove(&d);
            }
            times.reset(self.most);
        }
        times.insert(device, now);
    }

    pub fn get(&self, device: DeviceId) -> Option<i64> {
        self.lock().get(&device).copied()
    }

    /// The bytes the records take: the map's table (at most `limits.seen_max_bytes`).
    pub fn bytes(&self) -> usize {
        self.lock().bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_devices_last_seen_keep_to_their_byte_budget_forgetting_the_longest_ago() {
        let max = 4096;
        let seen = Seen::new(max);
        let devices: Vec<DeviceId> = (0..1000).map(|_| DeviceId::new()).collect();
        for (i, d) in devices.iter().enumerate() {
            seen.touch(*d, i as i64);
            assert!(seen.bytes() <= max, "{} bytes after {i} devices, over {max}", seen.bytes());
        }
        assert_eq!(seen.get(devices[999]), Some(999), "the latest is kept");
        assert_eq!(seen.get(devices[0]), None, "the longest ago is forgotten");
        // Seen again: known again.
        seen.touch(devices[0], 1000);
        assert_eq!(seen.get(devices[0]), Some(1000));
    }

    /// A map's table doubles when it fills: counting its records, not its buckets, the map held up
    /// to twice its budget just past a power of two.
    #[test]
    fn the_devices_last_seen_hold_no_more_than_their_budget_as_the_table_grows() {
        // What docs/operations.md quotes of the default.
        assert_eq!(Table::<DeviceId, i64>::most(2 * 1024 * 1024), 57_344);
        // Budgets whose records end just past a full table (1,792 or 3,584 records), and the default.
        for max in [1800 * 28, 3600 * 28, 2 * 1024 * 1024] {
            let seen = Seen::new(max);
            for i in 0..max / 10 {
                seen.touch(DeviceId::new(), i as i64);
                let held = crate::table::measured(&seen.lock());
                assert!(held <= max, "{held} bytes held after {i} devices, budget {max}");
                assert!(seen.bytes() >= held, "{} bytes counted, {held} held", seen.bytes());
            }
            let kept = seen.lock().len();
            assert!(kept * 70 >= max, "budget {max}: only {kept} devices kept");
        }
    }
}

fn fact(a: &AlertRecord) -> AlertFact {
    AlertFact {
        shift: a.shift,
        worker: a.worker,
        kind: a.kind,
        checkin: a.checkin,
        owner: a.claimed_by,
        opened_at: Timestamp(a.opened_at),
        resolved: a.state == AlertState::Resolved,
    }
}

/// The team's alerts as the board's rules see them (every member's board shows the same statuses,
/// whatever alerts the viewer may list).
pub(crate) async fn team_facts(app: &App, team: TeamId) -> Result<Vec<AlertFact>, ApiErr> {
    Ok(app.storage().alerts(Some(team), false, FACT_ALERTS).await?.iter().map(fact).collect())
}

/// Fills in what the console shows of each alert (what the worker said, as `dev` may see it, and
/// with `history` its history) and puts them in the board's order. The history is told on the
/// server's clock: replies at their effective times ([`kith_domain::alerts::on_server_clock`]),
/// among the alert's own events.
pub(crate) async fn complete_alerts(
    app: &App,
    dev: &DeviceAuth,
    team: &Team,
    alerts: &mut [AlertView],
    history: bool,
) -> Result<(), ApiErr> {
    let mut ids: Vec<ShiftId> = alerts.iter().map(|a| ShiftId(a.shift)).collect();
    ids.sort();
    ids.dedup();
    let now = Timestamp(app.clock.now_ms());
    // Each shift as written (what was said, as the shift view shows it) and on the server clock.
    let shifts: HashMap<Uuid, (Shift, Shift)> = crate::views::server_shifts(app, ids, now)
        .await?
        .into_iter()
        .map(|(s, on_server)| (s.id.uuid(), (s, on_server)))
        .collect();
    // Every alert's logs in one read, not two per alert.
    let mut logs = if history {
        app.storage().alert_histories(alerts.iter().map(|a| a.id).collect()).await?
    } else {
        HashMap::new()
    };
    for a in alerts.iter_mut() {
        let Some((s, on_server)) = shifts.get(&a.shift) else { continue };
        // The alert's check-in, else the latest on the server clock.
        let c = a.checkin.map(CheckInId).or_else(|| on_server.last_checkin().map(|c| c.id));
        a.said = c.and_then(|c| s.checkin(c)).map(|c| CheckInView::from_checkin(s, c, team, dev.device.member));
        if a.worker_phone.is_none() {
            a.worker_phone = team.member(MemberId(a.worker)).and_then(|m| m.phone.clone());
        }
        if history {
            let (steps, log) = logs.remove(&a.id).unwrap_or_default();
            a.history = alert_history(team, on_server, a, steps, log);
        }
    }
    kith_api::sort_alerts(alerts);
    Ok(())
}

/// An alert's history from what is stored: its opening, the step log (and whom each step told),
/// the replies in the shift document (`s`, on the server clock) since it opened, the log of claims, take-overs and
/// assignments, and how it was resolved.
fn alert_history(
    team: &Team,
    s: &Shift,
    a: &AlertView,
    steps: Vec<crate::storage::FiredStep>,
    log: Vec<crate::storage::AlertLogEntry>,
) -> Vec<AlertHistoryItem> {
    let name = |m: MemberId| team.member(m).map_or_else(|| "a former member".to_string(), |x| x.name.clone());
    let item = |at: i64, action: AlertAction| AlertHistoryItem {
        at,
        action,
        by_name: None,
        to_name: None,
        told: Vec::new(),
        text: None,
    };
    let mut out = vec![item(a.opened_at, AlertAction::Opened)];
    let audience = Audience::of(team, s.worker, &s.buddies);
    for step in steps {
        out.push(AlertHistoryItem {
            told: audience.for_step(step.notify).into_iter().map(name).collect(),
            text: Some(step.notify.to_string()),
            ..item(step.fired_at, AlertAction::Step)
        });
    }
    let until = a.resolved_at.unwrap_or(i64::MAX);
    for ack in s.acks.iter().filter(|k| k.at.0 >= a.opened_at && k.at.0 <= until) {
        out.push(AlertHistoryItem {
            by_name: Some(name(ack.by)),
            text: ack.reply.clone(),
            ..item(ack.at.0, AlertAction::Reply)
        });
    }
    if log.is_empty()
        && let (Some(by), Some(at)) = (a.claimed_by, a.claimed_at)
    {
        // Claimed before alerts had a log.
        out.push(AlertHistoryItem { by_name: Some(name(MemberId(by))), ..item(at, AlertAction::Claimed) });
    }
    let mut resolved_logged = false;
    for e in &log {
        let action = match e.action.as_str() {
            "claimed" => AlertAction::Claimed,
            "taken_over" => AlertAction::TakenOver,
            "assigned" => AlertAction::Assigned,
            "resolved" => {
                resolved_logged = true;
                AlertAction::Resolved
            }
            _ => continue,
        };
        out.push(AlertHistoryItem {
            by_name: Some(name(e.by)),
            to_name: e.target.map(name),
            text: e.note.clone(),
            ..item(e.at, action)
        });
    }
    if let (Some(at), false) = (a.resolved_at, resolved_logged) {
        let how = match a.resolved_by.as_deref() {
            Some("check_in") if a.late_checkin => "a check-in made earlier arrived late",
            Some("check_in") => "a new check-in",
            Some("end") => "the shift ended",
            Some("extension") => "the planned end was extended",
            _ => "resolved",
        };
        out.push(AlertHistoryItem { text: Some(how.into()), ..item(at, AlertAction::Resolved) });
    }
    out.sort_by_key(|i| i.at);
    out
}

/// One alert as the console shows it after an action on it.
pub(crate) async fn complete_one(app: &App, dev: &DeviceAuth, a: AlertView) -> Result<AlertView, ApiErr> {
    let team = load_team(app, dev.device.team).await?;
    let mut one = [a];
    complete_alerts(app, dev, &team, &mut one, true).await?;
    let [a] = one;
    Ok(a)
}

fn lead_only(dev: &DeviceAuth, what: &str) -> Result<(), ApiErr> {
    if dev.role.is_lead() {
        Ok(())
    } else {
        Err(ApiErr::forbidden(format!("Only a lead can {what}: ask a lead of your team.")))
    }
}

fn json<T: serde::de::DeserializeOwned>(body: &Bytes, expected: &str) -> Result<T, ApiErr> {
    crate::http::json_object(body)
        .map_err(|e| ApiErr::bad_request("malformed_json", format!("Expected {expected} ({e}).")))
}

fn member_unknown() -> ApiErr {
    ApiErr::new(
        StatusCode::NOT_FOUND,
        "member_unknown",
        "There is no such member in your team: pick someone from the team board.",
        false,
    )
}

fn edit_err(e: EditError) -> ApiErr {
    match e {
        EditError::Unknown => ApiErr::for_status(StatusCode::NOT_FOUND),
        EditError::Forbidden(m) => ApiErr::forbidden(m),
        EditError::Domain(d) => ApiErr::bad_request("invalid", d.to_string()),
        EditError::Storage(s) => s.into(),
    }
}

/// Writes `edit` into the team document on `dev`'s behalf and answers the team as it is now.
async fn edit_team<F>(app: &App, dev: &DeviceAuth, edit: F) -> Result<Json<TeamView>, ApiErr>
where
    F: FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), kith_domain::DomainError>,
{
    let now = app.clock.now_ms();
    let team_id = dev.device.team;
    let read = app.docs.edit_as(dev, team_id.uuid(), Kind::Team, edit, |st| team::read(&st.doc), now).await;
    // Stored, but the server cannot read its own document back: its fault.
    let team = read
        .map_err(edit_err)?
        .map_err(|e| ServerError::Internal(format!("the team document is not readable: {e}")))?;
    metrics::counter!("kith_team_edits_total").increment(1);
    Ok(Json(TeamView::of(&team, dev.role.is_lead())))
}

#[utoipa::path(get, path = "/v1/team",
    responses((status = 200, body = TeamView, description = "The roster (roles, buddies, phones) and the whole policy"),
        (status = 401, body = ApiErrorDoc, description = "Unknown or revoked device")),
    security(("bearer" = [])))]
pub(crate) async fn get_team(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
) -> Result<Json<TeamView>, ApiErr> {
    let team = load_team(&app, dev.device.team).await?;
    Ok(Json(TeamView::of(&team, dev.role.is_lead())))
}

#[utoipa::path(put, path = "/v1/team/policy", request_body = PolicyEdit,
    responses((status = 200, body = TeamView, description = "Saved: written into the team document on the lead's behalf; devices get it with their next sync, and deadlines follow it from now on (an alert under way keeps its chain)"),
        (status = 400, body = ApiErrorDoc, description = "`malformed_json`, or `invalid`: the policy breaks a rule (e.g. its chain does not reach the leads)"),
        (status = 401, body = ApiErrorDoc, description = "Unknown or revoked device"),
        (status = 403, body = ApiErrorDoc, description = "Only leads edit the policy")),
    security(("bearer" = [])))]
pub(crate) async fn put_policy(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    body: Bytes,
) -> Result<Json<TeamView>, ApiErr> {
    lead_only(&dev, "change the team's policy")?;
    let edit: PolicyEdit =
        json(&body, "the whole policy: min/max/default interval, grace, reminder lead and escalation")?;
    let policy = edit.to_policy().map_err(|e| ApiErr::bad_request("invalid", e.to_string()))?;
    edit_team(&app, &dev, |tx| team::set_policy(tx, &policy)).await
}

#[utoipa::path(put, path = "/v1/members/{id}", params(("id" = Uuid, Path, description = "A member of this device's team")),
    request_body = MemberEdit,
    responses((status = 200, body = TeamView, description = "Saved into the team document on the member's behalf"),
        (status = 400, body = ApiErrorDoc, description = "`malformed_json`, `bad_id`, or `invalid` (the team's only lead demoted, a buddy not in the team, a phone that is not a number)"),
        (status = 401, body = ApiErrorDoc, description = "Unknown or revoked device"),
        (status = 403, body = ApiErrorDoc, description = "A member changing a role, or someone else's entry"),
        (status = 404, body = ApiErrorDoc, description = "`member_unknown`")),
    security(("bearer" = [])))]
pub(crate) async fn put_member(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<TeamView>, ApiErr> {
    let member = MemberId(parse_id("member", &id)?);
    let edit: MemberEdit = json(&body, r#"{"role"?: "member"|"lead", "buddies"?: [ids], "phone"?: "..."}"#)?;
    let me = dev.device.member;
    if edit.needs_lead() {
        lead_only(&dev, "change someone's role")?;
    }
    if member != me && !dev.role.is_lead() {
        return Err(ApiErr::forbidden(
            "You can change your own phone number and buddies; a lead changes other people's.",
        ));
    }
    let current = load_team(&app, dev.device.team).await?;
    if current.member(member).is_none() {
        return Err(member_unknown());
    }
    edit.check(&current, member).map_err(|e| ApiErr::bad_request("invalid", e.to_string()))?;
    edit_team(&app, &dev, |tx| {
        if let Some(role) = edit.role {
            team::set_role(tx, member, role)?;
        }
        if let Some(b) = &edit.buddies {
            team::set_buddies(tx, member, b)?;
        }
        if let Some(p) = edit.phone() {
            team::set_phone(tx, member, p)?;
        }
        Ok(())
    })
    .await
}

fn parse_id(what: &str, raw: &str) -> Result<Uuid, ApiErr> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| ApiErr::bad_request("bad_id", format!("'{raw}' is not a {what} id (a UUID): reload the page.")))
}

async fn device_list(app: &App, dev: &DeviceAuth) -> Result<DeviceList, ApiErr> {
    let team = load_team(app, dev.device.team).await?;
    let members = app.storage().members(dev.device.team).await?;
    let name = |m: MemberId| {
        team.member(m)
            .map(|x| x.name.clone())
            .or_else(|| members.iter().find(|r| r.id == m).map(|r| r.name.clone()))
            .unwrap_or_else(|| "a former member".into())
    };
    let mut devices: Vec<DeviceView> = app
        .storage()
        .devices(Some(dev.device.team))
        .await?
        .into_iter()
        .map(|d| DeviceView {
            id: d.id,
            member: d.member,
            member_name: name(d.member),
            label: d.label,
            joined_at: Timestamp(d.created_at),
            last_seen: app.seen.get(d.id).map(Timestamp),
            revoked_at: d.revoked_at.map(Timestamp),
            this_device: d.id == dev.device.id,
        })
        .collect();
    devices.sort_by(|a, b| {
        (a.revoked_at.is_some(), &a.member_name, a.joined_at).cmp(&(
            b.revoked_at.is_some(),
            &b.member_name,
            b.joined_at,
        ))
    });
    Ok(DeviceList { server_time: Timestamp(app.clock.now_ms()), devices })
}

#[utoipa::path(get, path = "/v1/devices",
    responses((status = 200, body = DeviceList, description = "The team's devices: who, label, joined, last seen, revoked"),
        (status = 401, body = ApiErrorDoc, description = "Unknown or revoked device"),
        (status = 403, body = ApiErrorDoc, description = "Only leads see the team's devices")),
    security(("bearer" = [])))]
pub(crate) async fn list_devices(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
) -> Result<Json<DeviceList>, ApiErr> {
    lead_only(&dev, "see the team's devices")?;
    Ok(Json(device_list(&app, &dev).await?))
}

#[utoipa::path(post, path = "/v1/devices/{id}/revoke", params(("id" = Uuid, Path, description = "A device of this team")),
    responses((status = 200, body = DeviceList, description = "Revoked (or already was): its next request gets 401, its live channel closes now, nothing it sends is stored"),
        (status = 400, body = ApiErrorDoc, description = "`bad_id`, or `revoke_self`: this is the device asking (sign out instead)"),
        (status = 401, body = ApiErrorDoc, description = "Unknown or revoked device"),
        (status = 403, body = ApiErrorDoc, description = "Only leads revoke devices"),
        (status = 404, body = ApiErrorDoc, description = "`device_unknown`: no such device in this team")),
    security(("bearer" = [])))]
pub(crate) async fn revoke_device(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    Path(id): Path<String>,
) -> Result<Json<DeviceList>, ApiErr> {
    lead_only(&dev, "remove a device")?;
    let id = DeviceId(parse_id("device", &id)?);
    let known = app.storage().devices(Some(dev.device.team)).await?.into_iter().any(|d| d.id == id);
    if !known {
        return Err(ApiErr::new(
            StatusCode::NOT_FOUND,
            "device_unknown",
            "There is no such device in your team: reload the list of devices.",
            false,
        ));
    }
    if id == dev.device.id {
        return Err(ApiErr::bad_request(
            "revoke_self",
            "This is the device you are using: sign out here instead, or revoke it from another lead's device.",
        ));
    }
    if crate::admin::revoke(app.storage().as_ref(), id, app.clock.now_ms()).await? {
        tracing::info!(device = %id, by = %dev.device.member, "device revoked by a lead");
        metrics::counter!("kith_devices_revoked_total").increment(1);
        // Its live stream ends now, not at its next request.
        app.live.publish(LiveEvent::Revoked { device: id });
    }
    Ok(Json(device_list(&app, &dev).await?))
}

#[utoipa::path(post, path = "/v1/alerts/{id}/takeover", params(("id" = Uuid, Path, description = "The alert")),
    responses((status = 200, body = AlertView, description = "This lead owns it now (it was claimed by someone else, or open); everyone concerned hears it (`alert` event `taken_over`) and it is in the alert's history"),
        (status = 400, body = ApiErrorDoc, description = "`bad_id`"),
        (status = 401, body = ApiErrorDoc, description = "Unknown or revoked device"),
        (status = 403, body = ApiErrorDoc, description = "Only leads take over alerts"),
        (status = 404, body = ApiErrorDoc, description = "No such alert for this member"),
        (status = 409, body = ApiErrorDoc, description = "Resolved, or it changed hands meanwhile")),
    security(("bearer" = [])))]
pub(crate) async fn takeover_alert(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    Path(id): Path<String>,
) -> Result<Json<AlertView>, ApiErr> {
    let id = alert_id(&id)?;
    let v = app.alerts.take_over(&dev, id, app.clock.now_ms()).await.map_err(alert_err)?;
    Ok(Json(complete_one(&app, &dev, v).await?))
}

#[utoipa::path(post, path = "/v1/alerts/{id}/assign", params(("id" = Uuid, Path, description = "The alert")),
    request_body = AssignRequest,
    responses((status = 200, body = AlertView, description = "The member owns it now; everyone concerned and the new owner hear it (`alert` event `assigned`), and it is in the alert's history"),
        (status = 400, body = ApiErrorDoc, description = "`malformed_json`, `bad_id`, or `invalid`: the member is the worker, not in the team, or neither a lead nor the worker's buddy"),
        (status = 401, body = ApiErrorDoc, description = "Unknown or revoked device"),
        (status = 403, body = ApiErrorDoc, description = "Only leads assign alerts"),
        (status = 404, body = ApiErrorDoc, description = "No such alert for this member"),
        (status = 409, body = ApiErrorDoc, description = "Resolved, or it changed hands meanwhile")),
    security(("bearer" = [])))]
pub(crate) async fn assign_alert(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<AlertView>, ApiErr> {
    let id = alert_id(&id)?;
    lead_only(&dev, "give an alert to someone else")?;
    let req: AssignRequest = json(&body, r#"{"member": "<member id>"}"#)?;
    let v = app.alerts.assign(&dev, id, req.member, app.clock.now_ms()).await.map_err(alert_err)?;
    Ok(Json(complete_one(&app, &dev, v).await?))
}

/// A `kith://join` link as a QR code: a standalone SVG (no image crates, no network).
pub fn qr_svg(link: &str) -> Result<String, ServerError> {
    let code = qrcode::QrCode::new(link.as_bytes())
        .map_err(|e| ServerError::Internal(format!("the invite link cannot be made into a QR code: {e}")))?;
    Ok(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).quiet_zone(true).build())
}
