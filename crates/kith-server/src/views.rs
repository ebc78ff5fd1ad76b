//! The JSON API of the browser dashboard (docs/app.md, "Server JSON API for the browser"): who am
//! I, shifts as [`ShiftView`]s, acknowledgements written by the server on a lead's behalf,
//! connection health and kudos. The browser is a device of its own with no Automerge document:
//! everything here reads the server's documents with the same visibility rules as the sync feed
//! ([`crate::live::visible`]), and the one write (an acknowledgement) goes through
//! [`DocService::edit_as`](crate::docs::DocService::edit_as), authorised as the lead.
//!
//! Every deadline, status and figure here is on the server's clock: each shift is turned into
//! server time with its stored receipts ([`server_shifts`], built on
//! [`kith_domain::alerts::on_server_clock`]), the very times the deadline engine decides on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kith_api::{AckRequest, HealthResponse, Kudos, KudosRequest, Me, MeResponse, MemberRef, PolicyView, ShiftView};
use kith_domain::alerts::on_server_clock;
use kith_domain::doc::{shift, team};
use kith_domain::health::{self, Window};
use kith_domain::{Ack, AckId, CheckInId, MemberId, Shift, ShiftId, Team, TeamId, Timestamp};
use kith_proto::Kind;
use serde::Deserialize;
use uuid::Uuid;

use crate::docs::{EditError, UNKNOWN_DOC_MESSAGE};
use crate::error::{ApiErr, ServerError};
use crate::http::{ApiErrorDoc, App, AuthDevice};
use crate::live::visible;
use crate::storage::DeviceAuth;

/// Shifts returned by `GET /v1/members/{id}/shifts` when no `limit` is given, and at most.
pub const DEFAULT_HISTORY: usize = 20;
pub const MAX_HISTORY: usize = 200;
/// Days of connection health when no `days` is given, and at most.
pub const DEFAULT_HEALTH_DAYS: i64 = 28;
pub const MAX_HEALTH_DAYS: i64 = 366;
/// Shifts read per member for connection health at most: those that started in the window (on
/// the server clock), the latest first. A member with more in the window (over 2.7 a day for a
/// year) is measured on the latest 1,000.
const HEALTH_SHIFTS_PER_MEMBER: usize = 1000;

fn doc_unknown() -> ApiErr {
    ApiErr::new(StatusCode::NOT_FOUND, "doc_unknown", UNKNOWN_DOC_MESSAGE, false)
}

fn member_unknown() -> ApiErr {
    ApiErr::new(
        StatusCode::NOT_FOUND,
        "member_unknown",
        "There is no such member in your team: pick someone from the team board.",
        false,
    )
}

fn bad_id(what: &str, raw: &str) -> ApiErr {
    ApiErr::bad_request("bad_id", format!("'{raw}' is not a {what} id (a UUID): reload the page."))
}

fn parse_id(what: &str, raw: &str) -> Result<Uuid, ApiErr> {
    Uuid::parse_str(raw.trim()).map_err(|_| bad_id(what, raw))
}

fn query_err(e: QueryRejection) -> ApiErr {
    ApiErr::bad_request("bad_query", format!("The query string could not be read: {}", e.body_text()))
}

/// The team document of the device's team. Its absence or an unreadable one is the server's
/// fault (the device authenticated into that team): 500.
pub(crate) async fn load_team(app: &App, team: TeamId) -> Result<Team, ApiErr> {
    match app.docs.with_doc(team.uuid(), |st| team::read(&st.doc)).await? {
        Some(Ok(t)) => Ok(t),
        Some(Err(e)) => Err(ServerError::Internal(format!("the team document of {team} is not readable: {e}")).into()),
        None => Err(ServerError::Internal(format!("the team document of {team} is missing")).into()),
    }
}

/// A shift document the device may see, read; `None` if there is none or it may not be seen.
/// A stored shift the server cannot read is its own fault: 500, not "no such shift".
async fn visible_shift(app: &App, dev: &DeviceAuth, id: Uuid) -> Result<Option<Shift>, ApiErr> {
    let d = &dev.device;
    let read = app
        .docs
        .with_doc(id, |st| {
            (st.meta.kind == Kind::Shift && visible(&st.meta, d.team, d.member, dev.role.is_lead()))
                .then(|| shift::read(&st.doc))
        })
        .await?;
    match read.flatten() {
        Some(Ok(s)) => Ok(Some(s)),
        Some(Err(e)) => Err(ServerError::Internal(format!("the stored shift {id} is not readable: {e}")).into()),
        None => Ok(None),
    }
}

/// Shifts as written and on the server's clock: each read from its document and turned into
/// server time with its stored receipts (read after the documents: receipts are stored with the
/// changes, so every value read has its receipt). Shifts that cannot be read are left out (logged).
pub(crate) async fn server_shifts(app: &App, ids: Vec<ShiftId>, now: Timestamp) -> Result<Vec<(Shift, Shift)>, ApiErr> {
    let mut shifts = Vec::with_capacity(ids.len());
    for id in ids {
        match app.docs.with_doc(id.uuid(), |st| shift::read(&st.doc)).await? {
            Some(Ok(s)) => shifts.push(s),
            Some(Err(e)) => tracing::error!(shift = %id, error = %e, "a stored shift document is not readable"),
            None => {}
        }
    }
    let mut receipts: HashMap<ShiftId, kith_domain::alerts::ShiftReceipts> = HashMap::new();
    for r in app.storage().shift_receipts(shifts.iter().map(|s| s.id).collect()).await? {
        receipts.insert(r.tracked.shift, crate::receipts::to_domain(&r));
    }
    Ok(shifts
        .into_iter()
        .map(|s| {
            let on_server = on_server_clock(&s, &receipts.remove(&s.id).unwrap_or_default(), now);
            (s, on_server)
        })
        .collect())
}

/// Shifts of `member` the device may see, the latest start first, at most `limit` (only those
/// that started at or after `since`, on the server clock, if given): as written and on the
/// server's clock.
async fn member_shifts(
    app: &App,
    dev: &DeviceAuth,
    member: MemberId,
    since: Option<Timestamp>,
    limit: usize,
    now: Timestamp,
) -> Result<Vec<(Shift, Shift)>, ApiErr> {
    let ids = app.storage().member_shifts(dev.device.team, member, since.map(|t| t.0), limit).await?;
    let mut seen = Vec::with_capacity(ids.len());
    for id in ids {
        if visible_shift(app, dev, id).await?.is_some() {
            seen.push(ShiftId(id));
        }
    }
    server_shifts(app, seen, now).await
}

/// The address devices reach this server at: `public_url`, else the request's Host.
pub(crate) fn server_url(app: &App, headers: &HeaderMap) -> String {
    app.config.public_url.clone().unwrap_or_else(|| {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        format!("http://{host}")
    })
}

#[utoipa::path(get, path = "/v1/me",
    responses((status = 200, body = MeResponse, description = "This device's member, team, policy and teammates"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device")),
    security(("bearer" = [])))]
pub(crate) async fn me(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    headers: HeaderMap,
) -> Result<Json<MeResponse>, ApiErr> {
    let team = load_team(&app, dev.device.team).await?;
    let d = &dev.device;
    Ok(Json(MeResponse {
        me: Me {
            member_id: d.member,
            device_id: d.id,
            team_id: d.team,
            team_name: team.name.clone(),
            team_purpose: team.purpose.clone(),
            team_phone: team.phone.clone(),
            name: team.member(d.member).map_or_else(|| dev.member_name.clone(), |m| m.name.clone()),
            role: dev.role,
            phone: team.member(d.member).and_then(|m| m.phone.clone()),
            server: server_url(&app, &headers),
        },
        policy: PolicyView::from_team(&team),
        team: MemberRef::team(&team),
        server_time: Timestamp(app.clock.now_ms()),
    }))
}

#[utoipa::path(get, path = "/v1/shifts/{id}", params(("id" = Uuid, Path, description = "The shift (document) id")),
    responses((status = 200, body = ShiftView, description = "The shift as this member may see it (leads-only notes hidden from others)"),
        (status = 400, body = ApiErrorDoc, description = "Not a shift id (`bad_id`)"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device"),
        (status = 404, body = ApiErrorDoc, description = "`doc_unknown`: no such shift, or one this device may not see (the same answer)")),
    security(("bearer" = [])))]
pub(crate) async fn get_shift(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    Path(id): Path<String>,
) -> Result<Json<ShiftView>, ApiErr> {
    let id = parse_id("shift", &id)?;
    visible_shift(&app, &dev, id).await?.ok_or_else(doc_unknown)?;
    let team = load_team(&app, dev.device.team).await?;
    let facts = crate::console::team_facts(&app, dev.device.team).await?;
    let now = Timestamp(app.clock.now_ms());
    let (shift, on_server) = server_shifts(&app, vec![ShiftId(id)], now).await?.pop().ok_or_else(doc_unknown)?;
    Ok(Json(ShiftView::on_server(&shift, &on_server, &team, now, dev.device.member, Some(&facts))))
}

/// `GET /v1/members/{id}/shifts` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// How many shifts, newest first (default 20, at most 200).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/v1/members/{id}/shifts",
    params(("id" = Uuid, Path, description = "A member of this device's team"), HistoryQuery),
    responses((status = 200, body = Vec<ShiftView>, description = "The member's shifts, newest first: any teammate's for a lead, a member's own"),
        (status = 400, body = ApiErrorDoc, description = "`bad_id` (not a member id), `bad_limit` (not 1 to 200), `bad_query`"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device"),
        (status = 403, body = ApiErrorDoc, description = "A member asked for a teammate's history (only leads see it)"),
        (status = 404, body = ApiErrorDoc, description = "`member_unknown`: not a member of this team")),
    security(("bearer" = [])))]
pub(crate) async fn member_history(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    Path(id): Path<String>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Vec<ShiftView>>, ApiErr> {
    let Query(q) = query.map_err(query_err)?;
    let member = MemberId(parse_id("member", &id)?);
    let limit = match q.limit {
        None => DEFAULT_HISTORY,
        Some(n @ 1..=MAX_HISTORY) => n,
        Some(_) => {
            return Err(ApiErr::bad_request("bad_limit", format!("limit must be from 1 to {MAX_HISTORY}.")));
        }
    };
    let team = load_team(&app, dev.device.team).await?;
    if team.member(member).is_none() {
        return Err(member_unknown());
    }
    if member != dev.device.member && !dev.role.is_lead() {
        return Err(ApiErr::forbidden("Only leads see a teammate's history; you can see your own."));
    }
    let now = Timestamp(app.clock.now_ms());
    // The latest start on the server clock first (as stored, whatever order they arrived in).
    let shifts = member_shifts(&app, &dev, member, None, limit, now).await?;
    let facts = crate::console::team_facts(&app, dev.device.team).await?;
    let views = shifts
        .iter()
        .map(|(s, on_server)| ShiftView::on_server(s, on_server, &team, now, dev.device.member, Some(&facts)))
        .collect();
    Ok(Json(views))
}

#[utoipa::path(post, path = "/v1/shifts/{id}/checkins/{checkin}/ack",
    params(("id" = Uuid, Path, description = "The shift"), ("checkin" = Uuid, Path, description = "The check-in to acknowledge")),
    request_body(content = AckRequest, description = "An optional reply (at most 2,000 characters, no control characters but line breaks and tabs); an empty body is no reply"),
    responses((status = 200, body = ShiftView, description = "Acknowledged: the shift with the new acknowledgement. The server wrote it into the shift document as its own actor on the lead's behalf (`by` is the lead), checked by the rules of a lead's own change; devices receive it with their next sync"),
        (status = 400, body = ApiErrorDoc, description = "`malformed_json`, `bad_id`, `reply_too_long`, `bad_reply`"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device"),
        (status = 403, body = ApiErrorDoc, description = "Only leads acknowledge check-ins"),
        (status = 404, body = ApiErrorDoc, description = "`doc_unknown` (no such shift for this device) or `checkin_unknown`")),
    security(("bearer" = [])))]
pub(crate) async fn ack(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    Path((id, checkin)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<ShiftView>, ApiErr> {
    // Refused on the role alone, before looking at the document: says nothing about it.
    if !dev.role.is_lead() {
        return Err(ApiErr::forbidden("Only a lead can acknowledge check-ins: ask a lead of your team."));
    }
    let shift_id = ShiftId(parse_id("shift", &id)?);
    let checkin = CheckInId(parse_id("check-in", &checkin)?);
    let req: AckRequest = if body.iter().all(u8::is_ascii_whitespace) {
        AckRequest::default()
    } else {
        crate::http::json_object(&body).map_err(|e| {
            ApiErr::bad_request("malformed_json", format!("Expected {{\"reply\": \"...\"}} or an empty body ({e})."))
        })?
    };
    let reply = req.reply.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    // The same limit as a reply written on a device (the domain's table).
    if let Some(r) = &reply
        && let Err(e) = kith_domain::limits::ACK_REPLY.check(r)
    {
        let code = if kith_domain::limits::char_count(r) > kith_domain::limits::ACK_REPLY.max_chars {
            "reply_too_long"
        } else {
            "bad_reply"
        };
        return Err(ApiErr::bad_request(code, format!("{e}.")));
    }
    let now = app.clock.now_ms();
    let a = Ack { id: AckId::new(), checkin, by: dev.device.member, at: Timestamp(now), reply };
    let written = app
        .docs
        .edit_as(&dev, shift_id.uuid(), Kind::Shift, |tx| shift::add_ack(tx, &a), |st| shift::read(&st.doc), now)
        .await;
    match written {
        Ok(Ok(_)) => {}
        // Stored, but the server cannot read its own document back: its fault.
        Ok(Err(e)) => return Err(ServerError::Internal(format!("the shift {shift_id} is not readable: {e}")).into()),
        Err(EditError::Unknown) => return Err(doc_unknown()),
        Err(EditError::Domain(kith_domain::DomainError::UnknownCheckIn(_))) => {
            return Err(ApiErr::new(
                StatusCode::NOT_FOUND,
                "checkin_unknown",
                "This shift has no such check-in: reload the shift.",
                false,
            ));
        }
        Err(EditError::Domain(e)) => return Err(ApiErr::bad_request("invalid", e.to_string())),
        Err(EditError::Forbidden(m)) => return Err(ApiErr::forbidden(m)),
        Err(EditError::Storage(e)) => return Err(e.into()),
    }
    metrics::counter!("kith_browser_acks_total").increment(1);
    let team = load_team(&app, dev.device.team).await?;
    let now = Timestamp(now);
    let facts = crate::console::team_facts(&app, dev.device.team).await?;
    let (shift, on_server) = server_shifts(&app, vec![shift_id], now).await?.pop().ok_or_else(doc_unknown)?;
    Ok(Json(ShiftView::on_server(&shift, &on_server, &team, now, dev.device.member, Some(&facts))))
}

/// `GET /v1/health` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HealthQuery {
    /// The window: this many days up to now (default 28, at most 366).
    #[param(minimum = 1, maximum = 366)]
    days: Option<i64>,
}

#[utoipa::path(get, path = "/v1/health", params(HealthQuery),
    responses((status = 200, body = HealthResponse, description = "Connection health over the window, on the server's clock: this member's own, and the team's for a lead (never notes). Counts the shifts that started in the window, at most the latest 1,000 per member"),
        (status = 400, body = ApiErrorDoc, description = "`bad_days` (not 1 to 366), `bad_query`"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device")),
    security(("bearer" = [])))]
pub(crate) async fn health(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    query: Result<Query<HealthQuery>, QueryRejection>,
) -> Result<Json<HealthResponse>, ApiErr> {
    let Query(q) = query.map_err(query_err)?;
    let days = match q.days {
        None => DEFAULT_HEALTH_DAYS,
        Some(d @ 1..=MAX_HEALTH_DAYS) => d,
        Some(_) => return Err(ApiErr::bad_request("bad_days", format!("days must be from 1 to {MAX_HEALTH_DAYS}."))),
    };
    let team = load_team(&app, dev.device.team).await?;
    let now = Timestamp(app.clock.now_ms());
    let window = Window::last_days(now, days);
    let me = dev.device.member;
    // On the server's clock: "on time" and "missed" as the deadline engine decided them.
    let on_server = |shifts: Vec<(Shift, Shift)>| shifts.into_iter().map(|(_, s)| s).collect::<Vec<_>>();
    let since = Some(window.from);
    let (worker, team_part) = if dev.role.is_lead() {
        let mut all = Vec::new();
        for m in &team.members {
            all.extend(on_server(member_shifts(&app, &dev, m.id, since, HEALTH_SHIFTS_PER_MEMBER, now).await?));
        }
        (health::worker_health(me, &team, &all, window, now), Some(health::team_health(&team, &all, window, now)))
    } else {
        let mine = on_server(member_shifts(&app, &dev, me, since, HEALTH_SHIFTS_PER_MEMBER, now).await?);
        (health::worker_health(me, &team, &mine, window, now), None)
    };
    Ok(Json(HealthResponse { days, worker, team: team_part, members: MemberRef::team(&team) }))
}

#[utoipa::path(post, path = "/v1/kudos", request_body = KudosRequest,
    responses((status = 204, description = "Sent: the teammate's live streams get a `kudos` event (Kudos); nothing is stored"),
        (status = 400, body = ApiErrorDoc, description = "`malformed_json`, or kudos to yourself (`kudos_to_self`)"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device"),
        (status = 404, body = ApiErrorDoc, description = "`member_unknown`: not a member of this team"),
        (status = 429, body = ApiErrorDoc, description = "`rate_limited`: too many kudos",
            headers(("Retry-After" = u64, description = "Seconds to wait before sending more")))),
    security(("bearer" = [])))]
pub(crate) async fn kudos(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    body: Bytes,
) -> Result<Response, ApiErr> {
    let req: KudosRequest = crate::http::json_object(&body)
        .map_err(|e| ApiErr::bad_request("malformed_json", format!("Expected {{\"to\": \"<member id>\"}} ({e}).")))?;
    let me = dev.device.member;
    if req.to == me {
        return Err(ApiErr::bad_request("kudos_to_self", "Kudos are for a teammate, not yourself."));
    }
    let team = load_team(&app, dev.device.team).await?;
    if team.member(req.to).is_none() {
        return Err(member_unknown());
    }
    let now = app.clock.now_ms();
    if let Err(wait_ms) = app.kudos_limiter.take(me, now) {
        let mut r = ApiErr::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "That is a lot of kudos at once: wait a moment and send more.",
            true,
        )
        .into_response();
        let secs = wait_ms.div_ceil(1000).max(1);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(r);
    }
    let from_name = team.member(me).map_or_else(|| dev.member_name.clone(), |m| m.name.clone());
    app.live.kudos(dev.device.team, Kudos { from: me, from_name, to: req.to, at: Timestamp(now) });
    metrics::counter!("kith_kudos_total").increment(1);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A per-member rate limit on the server clock (a generic cell rate: `burst` at once, then one
/// every `replenish_ms`). In memory: a restart forgets it, which is harmless for kudos.
#[derive(Debug)]
pub struct RateLimiter {
    burst: i64,
    period_ms: i64,
    /// Per member: the theoretical arrival time of the next request.
    next: Mutex<HashMap<MemberId, i64>>,
}

impl RateLimiter {
    pub fn new(burst: u32, replenish_ms: u64) -> RateLimiter {
        RateLimiter {
            burst: i64::from(burst.max(1)),
            period_ms: i64::try_from(replenish_ms.max(1)).unwrap_or(i64::MAX),
            next: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request for `key` at `now` (ms); `Err(ms to wait)` when over the limit.
    pub fn take(&self, key: MemberId, now: i64) -> Result<(), u64> {
        let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if next.len() > 10_000 {
            next.retain(|_, t| *t > now);
        }
        let tat = next.get(&key).copied().unwrap_or(now).max(now);
        let tolerance = self.period_ms.saturating_mul(self.burst - 1);
        let ahead = tat - now;
        if ahead > tolerance {
            return Err(u64::try_from(ahead - tolerance).unwrap_or(u64::MAX));
        }
        next.insert(key, tat.saturating_add(self.period_ms));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limiter_allows_a_burst_then_one_per_period() {
        let l = RateLimiter::new(3, 1000);
        let (a, b) = (MemberId::new(), MemberId::new());
        for _ in 0..3 {
            assert!(l.take(a, 0).is_ok());
        }
        assert_eq!(l.take(a, 0), Err(1000));
        assert!(l.take(b, 0).is_ok(), "each member has their own budget");
        assert_eq!(l.take(a, 400), Err(600));
        assert!(l.take(a, 1000).is_ok());
        assert!(l.take(a, 1000).is_err());
        // A long pause refills the burst, never more.
        for _ in 0..3 {
            assert!(l.take(a, 60_000).is_ok());
        }
        assert!(l.take(a, 60_000).is_err());
    }
}
