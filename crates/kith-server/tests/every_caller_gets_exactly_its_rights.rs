//! Every caller gets exactly its rights: one table of every endpoint, sync push and live event ×
//! every kind of caller (no token, a garbage token, a revoked device, the worker, her buddy, a
//! teammate who is not her buddy, the lead, the lead of another team), the expected answer written
//! in the table. The test plays every cell against a real server and prints the table it saw;
//! docs/security.md shows the same table ("Authorisation matrix"), checked here: regenerate it with
//! `KITH_UPDATE_DOCS=1 cargo test -p kith-server --test all every_caller_gets_exactly_its_rights`.
//!
//! Adding an endpoint is one line in [`MATRIX`]: `METHOD /path [json body] [=> needle]`, where
//! `{name}` placeholders (see [`World::fill`]) stand for the world's ids and `=> needle` also
//! reports whether the answer's body holds the needle (a list that must or must not show it).
//! Every route the server answers (the router in src/http.rs and the OpenAPI document) must be
//! played by at least one row: a new route without its row fails this test.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use automerge::Automerge;
use common::*;
use futures_util::StreamExt as _;
use kith_domain::doc::{shift, team};
use kith_domain::{Ack, AckId, CheckIn, CheckInStatus, Member, Role, Secs, Shift, ShiftId, Timestamp};
use kith_proto::{DocPush, Kind, Outcome, SyncRequest};
use kith_server::testing::TestServer;
use serde_bytes::ByteBuf;
use uuid::Uuid;

/// The columns, in order.
const CALLERS: [&str; 8] = [
    "no token",
    "garbage token",
    "revoked device",
    "worker (Alice)",
    "her buddy",
    "teammate, not her buddy",
    "lead",
    "lead of another team",
];

const U: &str = "401 unauthorized";
/// A token the server has no record of: told apart from a revoked one (docs/operations.md).
const D: &str = "401 device_unknown";

/// What each caller must get, one line per request. `{alice}`: the worker's member id;
/// `{alice_shift}`: her running shift (Bob is its buddy); `{alice_checkin}`: a check-in in it;
/// `{me}`, `{my_shift}`: the caller's own member id and shift; `{open_alert}`: a new open
/// emergency alert of Alice's; `{lead_claimed_alert}`: one the lead claimed; `{bob}`: her buddy's
/// member id; `{alice_device}`, `{my_device}`: her device and the caller's own; `{spare_device}`:
/// a device that joins the worker's team for this cell alone (it may be revoked). `SYNC ...` lines push
/// through `POST /v1/sync` (answer: the document's outcome); `LIVE ...` lines tell whether the
/// caller's open `/v1/live` stream carried the event when Alice raised an emergency.
#[rustfmt::skip]
const MATRIX: &[(&str, [&str; 8])] = &[
    ("GET /v1/me", [U, D, U, "200", "200", "200", "200", "200"]),
    ("GET /v1/board => {alice}", [U, D, U, "200, shown", "200, shown", "200, shown", "200, shown", "200, not shown"]),
    ("GET /v1/shifts/{my_shift}", [U, D, U, "200", "200", "200", "200", "200"]),
    ("GET /v1/shifts/{alice_shift}", [U, D, U, "200", "404 doc_unknown", "404 doc_unknown", "200", "404 doc_unknown"]),
    ("GET /v1/members/{me}/shifts", [U, D, U, "200", "200", "200", "200", "200"]),
    ("GET /v1/members/{alice}/shifts => {alice_shift}", [U, D, U, "200, shown", "403 forbidden", "403 forbidden", "200, shown", "404 member_unknown"]),
    ("POST /v1/shifts/{alice_shift}/checkins/{alice_checkin}/ack {\"reply\":\"seen\"}", [U, D, U, "403 forbidden", "403 forbidden", "403 forbidden", "200", "404 doc_unknown"]),
    ("GET /v1/health => \"team\":{", [U, D, U, "200, not shown", "200, not shown", "200, not shown", "200, shown", "200, shown"]),
    ("POST /v1/kudos {\"to\":\"{alice}\"}", [U, D, U, "400 kudos_to_self", "204", "204", "204", "404 member_unknown"]),
    ("POST /v1/invites {\"role\":\"member\",\"expires_in_s\":3600,\"uses\":1}", [U, D, U, "403 forbidden", "403 forbidden", "403 forbidden", "200", "200"]),
    ("PUT /v1/webhook {\"url\":\"https://127.0.0.1:9/kith\",\"secret\":\"0123456789abcdef0123\"}", [U, D, U, "403 forbidden", "403 forbidden", "403 forbidden", "204", "204"]),
    ("GET /v1/alerts?all=true => {alice_shift}", [U, D, U, "200, shown", "200, shown", "200, not shown", "200, shown", "200, not shown"]),
    ("POST /v1/alerts/{open_alert}/claim", [U, D, U, "403 forbidden", "200", "404 alert_unknown", "200", "404 alert_unknown"]),
    ("POST /v1/alerts/{lead_claimed_alert}/resolve {\"note\":\"all fine\"}", [U, D, U, "403 forbidden", "403 forbidden", "404 alert_unknown", "200", "404 alert_unknown"]),
    ("POST /v1/alerts/{open_alert}/takeover", [U, D, U, "403 forbidden", "403 forbidden", "403 forbidden", "200", "404 alert_unknown"]),
    ("POST /v1/alerts/{open_alert}/assign {\"member\":\"{bob}\"}", [U, D, U, "403 forbidden", "403 forbidden", "403 forbidden", "200", "404 alert_unknown"]),
    ("GET /v1/team => {alice}", [U, D, U, "200, shown", "200, shown", "200, shown", "200, shown", "200, not shown"]),
    ("PUT /v1/members/{alice} {\"phone\":\"+44 7700 900123\"}", [U, D, U, "200", "403 forbidden", "403 forbidden", "200", "404 member_unknown"]),
    ("PUT /v1/members/{me} {\"phone\":\"+44 7700 900456\"}", [U, D, U, "200", "200", "200", "200", "200"]),
    ("PUT /v1/members/{alice} {\"role\":\"member\"}", [U, D, U, "403 forbidden", "403 forbidden", "403 forbidden", "200", "404 member_unknown"]),
    ("GET /v1/devices => {alice_device}", [U, D, U, "403 forbidden", "403 forbidden", "403 forbidden", "200, shown", "200, not shown"]),
    ("POST /v1/devices/{spare_device}/revoke", [U, D, U, "403 forbidden", "403 forbidden", "403 forbidden", "200", "404 device_unknown"]),
    ("POST /v1/devices/{my_device}/revoke", [U, D, U, "403 forbidden", "403 forbidden", "403 forbidden", "400 revoke_self", "400 revoke_self"]),
    ("PUT /v1/team/policy {\"min_interval_s\":600,\"max_interval_s\":7200,\"default_interval_s\":1800,\"grace_s\":300,\"reminder_lead_s\":300,\"escalation\":[{\"after_s\":0,\"notify\":\"buddies\"},{\"after_s\":120,\"notify\":\"leads\"}]}", [U, D, U, "403 forbidden", "403 forbidden", "403 forbidden", "200", "200"]),
    ("GET /healthz", ["200", "200", "200", "200", "200", "200", "200", "200"]),
    ("GET /openapi.json", ["200", "200", "200", "200", "200", "200", "200", "200"]),
    ("GET /metrics", ["401 unauthorized", "403 metrics_off", "403 metrics_off", "403 metrics_off", "403 metrics_off", "403 metrics_off", "403 metrics_off", "403 metrics_off"]),
    ("POST /v1/join {\"code\":\"AAAA-AAAA-AAAA-AAAA\",\"name\":\"Mallory\",\"device_label\":\"phone\",\"actor\":\"00ff\"}", ["403 invite_unknown", "403 invite_unknown", "403 invite_unknown", "403 invite_unknown", "403 invite_unknown", "403 invite_unknown", "403 invite_unknown", "403 invite_unknown"]),
    // A change into a document the caller may not see is answered exactly as one into a document
    // that does not exist: "send me everything" (its dependencies are unknown here), and the full
    // resend is then refused and stores nothing (nobody_learns_whether_a_document_they_may_not_see_exists.rs).
    ("SYNC check-in into {my_shift}", [U, D, U, "accepted", "accepted", "accepted", "accepted", "accepted"]),
    ("SYNC check-in into {alice_shift}", [U, D, U, "accepted", "resend_all", "resend_all", "rejected forbidden", "resend_all"]),
    ("SYNC ack into {alice_shift}", [U, D, U, "rejected forbidden", "resend_all", "resend_all", "accepted", "resend_all"]),
    ("SYNC new shift owned by {alice}", [U, D, U, "accepted", "rejected forbidden", "rejected forbidden", "rejected forbidden", "rejected forbidden"]),
    ("SYNC roster: rename {alice}", [U, D, U, "accepted", "rejected forbidden", "rejected forbidden", "accepted", "resend_all"]),
    ("SYNC roster: make {me} a lead", [U, D, U, "rejected forbidden", "rejected forbidden", "rejected forbidden", "accepted", "resend_all"]),
    ("SYNC pull => {alice_shift}", [U, D, U, "in feed", "not in feed", "not in feed", "in feed", "not in feed"]),
    ("LIVE changed {live_shift}", [U, D, U, "none", "none", "none", "event", "none"]),
    ("LIVE alert {live_shift}", [U, D, U, "none", "event", "none", "event", "none"]),
];

/// A caller: a device (none for the first two columns) and the token it sends.
struct Caller {
    dev: Option<Dev>,
    token: Option<String>,
}

struct World {
    server: TestServer,
    http: reqwest::Client,
    /// In [`CALLERS`] order; the worker, her buddy, the teammate and the lead are of one team.
    callers: Vec<Caller>,
    /// Eve's teammate (sends her the marker of the live phase).
    finn: Dev,
    alice_shift: ShiftId,
    alice_checkin: Uuid,
    my_shift: HashMap<usize, ShiftId>,
    /// The shift whose emergency the live phase raised, and what each caller's stream carried.
    live_shift: Option<ShiftId>,
    live_seen: HashMap<usize, Vec<(String, String)>>,
}

const ALICE: usize = 3;
const BOB: usize = 4;
const LEAD: usize = 6;
const EVE: usize = 7;

impl World {
    async fn new() -> World {
        // Webhooks to this computer are allowed (an operator's opt-in): the webhook row's target is
        // a closed local port, so no alert ever leaves the machine. Private targets refused by
        // default: webhooks_never_reach_private_networks.rs.
        let server = TestServer::start_manual_with(|c| c.alerts.webhook_allow_private = true).await;
        let (north, lead_code) = server.create_team("North estate").await;
        let (south, south_code) = server.create_team("South estate").await;
        let mut lead = Dev::join(&server, &lead_code, "Sam").await;
        let mut alice = Dev::join(&server, &server.invite(north, Role::Member).await, "Alice").await;
        let mut bob = Dev::join(&server, &server.invite(north, Role::Member).await, "Bob").await;
        let mut carol = Dev::join(&server, &server.invite(north, Role::Member).await, "Carol").await;
        let mut rex = Dev::join(&server, &server.invite(north, Role::Member).await, "Rex").await;
        let mut eve = Dev::join(&server, &south_code, "Eve").await;
        let finn = Dev::join(&server, &server.invite(south, Role::Member).await, "Finn").await;

        let mut my_shift = HashMap::new();
        let bob_id = bob.member;
        for (i, dev) in
            [(2, &mut rex), (ALICE, &mut alice), (BOB, &mut bob), (5, &mut carol), (LEAD, &mut lead), (EVE, &mut eve)]
        {
            let buddies = if i == ALICE { vec![bob_id] } else { vec![] };
            let id = new_shift(dev, buddies);
            dev.sync_docs(&[id.uuid()]).await;
            my_shift.insert(i, id);
        }
        let alice_shift = new_shift(&mut alice, vec![bob_id]);
        let now = alice.device_now();
        let alice_checkin = alice.checkin_at(alice_shift, CheckInStatus::Support, now).uuid();
        alice.sync_docs(&[alice_shift.uuid()]).await;
        server.run_due().await;
        assert!(server.revoke(rex.device).await);

        let token = |d: &Dev| Some(d.token.clone());
        let callers = vec![
            Caller { dev: None, token: None },
            Caller { dev: None, token: Some("not-a-token-at-all".into()) },
            Caller { token: token(&rex), dev: Some(rex) },
            Caller { token: token(&alice), dev: Some(alice) },
            Caller { token: token(&bob), dev: Some(bob) },
            Caller { token: token(&carol), dev: Some(carol) },
            Caller { token: token(&lead), dev: Some(lead) },
            Caller { token: token(&eve), dev: Some(eve) },
        ];
        World {
            http: common::http(),
            server,
            callers,
            finn,
            alice_shift,
            alice_checkin,
            my_shift,
            live_shift: None,
            live_seen: HashMap::new(),
        }
    }

    fn dev(&self, i: usize) -> &Dev {
        self.callers[i].dev.as_ref().expect("a caller with a device")
    }

    fn alice(&mut self) -> &mut Dev {
        self.callers[ALICE].dev.as_mut().expect("Alice")
    }

    /// Alice starts a new shift (Bob its buddy) and raises an emergency in it; returns the alert.
    async fn new_alert(&mut self) -> (ShiftId, Uuid) {
        let bob = self.dev(BOB).member;
        let alice = self.alice();
        let id = new_shift(alice, vec![bob]);
        let now = alice.device_now();
        alice.checkin_at(id, CheckInStatus::Emergency, now);
        alice.sync_docs(&[id.uuid()]).await;
        self.server.run_due().await;
        let (_, list) = self.dev(LEAD).get_json("/v1/alerts").await;
        let alert = list["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .find(|a| a["shift"] == id.to_string())
            .expect("the emergency raised an alert");
        (id, Uuid::parse_str(alert["id"].as_str().expect("an id")).expect("a uuid"))
    }

    /// Replaces the placeholders of `text` for caller `i` (making fresh alerts when asked).
    async fn fill(&mut self, text: &str, i: usize) -> String {
        let mut out = text.to_string();
        let me = self.callers[i].dev.as_ref().unwrap_or(self.dev(ALICE));
        let my_shift = self.my_shift.get(&i).copied().unwrap_or(self.alice_shift);
        out = out.replace("{me}", &me.member.to_string()).replace("{my_shift}", &my_shift.to_string());
        out = out
            .replace("{alice}", &self.dev(ALICE).member.to_string())
            .replace("{alice_shift}", &self.alice_shift.to_string())
            .replace("{alice_checkin}", &self.alice_checkin.to_string());
        out = out
            .replace("{bob}", &self.dev(BOB).member.to_string())
            .replace("{alice_device}", &self.dev(ALICE).device.to_string())
            .replace("{my_device}", &me.device.to_string());
        if out.contains("{spare_device}") {
            let team = self.dev(ALICE).team;
            let code = self.server.invite(team, Role::Member).await;
            let spare = Dev::join(&self.server, &code, "Spare").await;
            out = out.replace("{spare_device}", &spare.device.to_string());
        }
        if let Some(s) = self.live_shift {
            out = out.replace("{live_shift}", &s.to_string());
        }
        if out.contains("{open_alert}") {
            let (_, alert) = self.new_alert().await;
            out = out.replace("{open_alert}", &alert.to_string());
        }
        if out.contains("{lead_claimed_alert}") {
            let (_, alert) = self.new_alert().await;
            let r = self.dev(LEAD).post_raw(&format!("/v1/alerts/{alert}/claim"), "").await;
            assert_eq!(r.status(), 200, "the lead claims");
            out = out.replace("{lead_claimed_alert}", &alert.to_string());
        }
        out
    }

    /// Plays one cell: the answer caller `i` gets to `request`, in the table's words.
    async fn play(&mut self, request: &str, i: usize) -> String {
        let filled = self.fill(request, i).await;
        let (action, needle) = match filled.split_once(" => ") {
            Some((a, n)) => (a.to_string(), Some(n.to_string())),
            None => (filled, None),
        };
        if let Some(rest) = action.strip_prefix("SYNC ") {
            return self.sync_cell(rest, needle.as_deref(), i).await;
        }
        if let Some(rest) = action.strip_prefix("LIVE ") {
            return self.live_cell(rest, i);
        }
        let mut parts = action.splitn(3, ' ');
        let method = parts.next().expect("a method");
        let path = parts.next().expect("a path");
        let body = parts.next();
        let mut rb = self.http.request(method.parse().expect("an HTTP method"), self.server.url(path));
        if let Some(t) = &self.callers[i].token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b.to_string());
        }
        let resp = rb.send().await.expect("an answer");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("a body");
        if status >= 400 {
            let v: serde_json::Value = serde_json::from_str(&text).expect("every error is JSON");
            return format!("{status} {}", v["code"].as_str().unwrap_or("?"));
        }
        match needle {
            Some(n) if text.contains(&n) => format!("{status}, shown"),
            Some(_) => format!("{status}, not shown"),
            None => status.to_string(),
        }
    }

    /// Builds the push `what` names with the caller's own actor, sends it, and reads the outcome.
    async fn sync_cell(&mut self, what: &str, needle: Option<&str>, i: usize) -> String {
        let token = self.callers[i].token.clone();
        let (author, actor) = match &self.callers[i].dev {
            Some(d) => ((d.member, d.device), d.actor.clone()),
            None => ((self.dev(ALICE).member, self.dev(ALICE).device), self.dev(ALICE).actor.clone()),
        };
        let team_id = self.dev(ALICE).team;
        let now = self.dev(ALICE).device_now();
        // The server's copy of a document, forked for the caller's actor, and the change they make.
        let forked = |doc: Option<Automerge>| doc.expect("the server holds it").fork().with_actor(actor.clone());
        let push_of = |id: Uuid, kind: Kind, before: Vec<automerge::ChangeHash>, doc: &Automerge| DocPush {
            id,
            kind,
            have: hashes(&before),
            changes: doc.get_changes(&before).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
            heads: hashes(&doc.get_heads()),
            vouch: None,
            save: None,
        };
        let push = if let Some(id) = what.strip_prefix("check-in into ") {
            let id = Uuid::parse_str(id).expect("a shift id");
            let mut doc = forked(server_doc(&self.server, id).await);
            let before = doc.get_heads();
            let c = CheckIn::new(CheckInStatus::Ok, Timestamp(now), author.0, author.1);
            doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error).expect("a check-in");
            Some(push_of(id, Kind::Shift, before, &doc))
        } else if let Some(id) = what.strip_prefix("ack into ") {
            let id = Uuid::parse_str(id).expect("a shift id");
            let mut doc = forked(server_doc(&self.server, id).await);
            let before = doc.get_heads();
            let a = Ack {
                id: AckId::new(),
                checkin: kith_domain::CheckInId(self.alice_checkin),
                by: author.0,
                at: Timestamp(now),
                reply: Some("forged?".into()),
            };
            doc.transact(|tx| shift::add_ack(tx, &a)).map_err(|f| f.error).expect("an ack");
            Some(push_of(id, Kind::Shift, before, &doc))
        } else if what.starts_with("new shift owned by ") {
            let s = Shift::begin(
                team_id,
                self.dev(ALICE).member,
                "rounds",
                Timestamp(now),
                Timestamp(now + 3_600_000),
                Secs::minutes(30),
            );
            let mut doc = Automerge::new().with_actor(actor.clone());
            doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).expect("a shift");
            Some(push_of(s.id.uuid(), Kind::Shift, vec![], &doc))
        } else if let Some(rest) = what.strip_prefix("roster: ") {
            let mut doc = forked(server_doc(&self.server, team_id.uuid()).await);
            let before = doc.get_heads();
            let t = team::read(&doc).expect("a team");
            let m = if rest.starts_with("rename ") {
                let alice = t.member(self.dev(ALICE).member).expect("Alice on the roster");
                Member { name: format!("{} (renamed)", alice.name), ..alice.clone() }
            } else {
                let me = Uuid::parse_str(rest.trim_start_matches("make ").trim_end_matches(" a lead")).expect("an id");
                let m = t.members.iter().find(|m| m.id.uuid() == me).cloned();
                // Another team's lead is not on this roster: they add themselves.
                let m = m.unwrap_or(Member {
                    id: kith_domain::MemberId(me),
                    name: "Intruder".into(),
                    role: Role::Member,
                    buddies: vec![],
                    phone: None,
                });
                Member { role: Role::Lead, ..m }
            };
            doc.transact(|tx| team::upsert_member(tx, &m)).map_err(|f| f.error).expect("a roster edit");
            Some(push_of(team_id.uuid(), Kind::Team, before, &doc))
        } else {
            assert_eq!(what, "pull", "an unknown SYNC action");
            None
        };
        let id = push.as_ref().map(|p| p.id);
        let req = SyncRequest {
            protocol: kith_proto::PROTOCOL_VERSION,
            client_time: now,
            cursor: None,
            docs: push.into_iter().collect(),
        };
        let mut rb = self
            .http
            .post(self.server.url("/v1/sync"))
            .header("content-type", kith_proto::CONTENT_TYPE)
            .body(kith_proto::encode(&req).expect("encode"));
        if let Some(t) = &token {
            rb = rb.bearer_auth(t);
        }
        let resp = rb.send().await.expect("an answer");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("a body");
        if status != 200 {
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("every error is JSON");
            return format!("{status} {}", v["code"].as_str().unwrap_or("?"));
        }
        let resp: kith_proto::SyncResponse = kith_proto::decode(&bytes).expect("a sync response");
        if let Some(n) = needle {
            let n = Uuid::parse_str(n).expect("a document id");
            return if resp.feed.iter().any(|f| f.id == n) { "in feed" } else { "not in feed" }.to_string();
        }
        let reply = resp.docs.iter().find(|d| Some(d.id) == id).expect("a reply for the document");
        match &reply.outcome {
            Outcome::Accepted => "accepted".into(),
            Outcome::ResendAll => "resend_all".into(),
            Outcome::Rejected { code, .. } => {
                format!("rejected {}", serde_json::to_value(code).expect("a code").as_str().unwrap_or("?"))
            }
        }
    }

    /// Every caller opens `/v1/live`; Alice raises an emergency in a new shift; then each caller
    /// gets a kudos, the marker that everything before it on their stream has been read (one
    /// broadcast feeds every stream in order): what came before it is what the stream carried.
    async fn live_phase(&mut self) {
        let mut streams = Vec::new();
        for i in 0..CALLERS.len() {
            let mut rb = self.http.get(self.server.url("/v1/live"));
            if let Some(t) = &self.callers[i].token {
                rb = rb.bearer_auth(t);
            }
            let resp = rb.send().await.expect("an answer");
            if resp.status() != 200 {
                let status = resp.status().as_u16();
                let v: serde_json::Value = resp.json().await.expect("every error is JSON");
                self.live_seen
                    .insert(i, vec![("status".into(), format!("{status} {}", v["code"].as_str().unwrap_or("?")))]);
                continue;
            }
            use eventsource_stream::Eventsource;
            let mut events: LiveEvents =
                Box::pin(resp.bytes_stream().eventsource().map(|e| e.expect("a well-formed event")));
            let me = self.dev(i).member.to_string();
            next_live(&mut events, "presence", |v| v["member_id"] == me.as_str() && v["online"] == true).await;
            streams.push((i, events));
        }
        let (shift, _) = self.new_alert().await;
        self.live_shift = Some(shift);
        for (i, mut events) in streams {
            let sender = match i {
                EVE => &self.finn,
                LEAD => self.dev(ALICE),
                _ => self.dev(LEAD),
            };
            let r = sender.post_json("/v1/kudos", serde_json::json!({"to": self.dev(i).member})).await;
            assert_eq!(r.status(), 204, "the marker kudos is sent");
            let mut seen = Vec::new();
            loop {
                let e = tokio::time::timeout(Duration::from_secs(60), events.next())
                    .await
                    .expect("the marker arrives")
                    .expect("the stream is open");
                if e.event == "kudos" {
                    break;
                }
                seen.push((e.event, e.data));
            }
            self.live_seen.insert(i, seen);
        }
    }

    fn live_cell(&self, what: &str, i: usize) -> String {
        let seen = &self.live_seen[&i];
        if let [(k, status)] = seen.as_slice()
            && k == "status"
        {
            return status.clone();
        }
        let (event, id) = what.split_once(' ').expect("LIVE <event> <document id>");
        if seen.iter().any(|(e, data)| e == event && data.contains(id)) { "event" } else { "none" }.to_string()
    }
}

fn new_shift(dev: &mut Dev, buddies: Vec<kith_domain::MemberId>) -> ShiftId {
    let now = dev.device_now();
    dev.start_shift_at(now - 3_600_000, now + 7 * 3_600_000, Secs::minutes(30), buddies)
}

/// The route (`METHOD /template`) a row of [`MATRIX`] plays: `SYNC` rows `POST /v1/sync`, `LIVE`
/// rows `GET /v1/live`; a path matches a template when its `{...}` segments stand where the
/// template has parameters.
fn row_route(row: &str, routes: &[(String, String)]) -> Option<(String, String)> {
    if row.starts_with("SYNC ") {
        return Some(("POST".into(), "/v1/sync".into()));
    }
    if row.starts_with("LIVE ") {
        return Some(("GET".into(), "/v1/live".into()));
    }
    let mut parts = row.split(' ');
    let method = parts.next()?;
    let path = parts.next()?.split('?').next()?;
    let segs: Vec<&str> = path.split('/').collect();
    routes
        .iter()
        .find(|(m, template)| {
            let t: Vec<&str> = template.split('/').collect();
            m == method
                && t.len() == segs.len()
                && t.iter().zip(&segs).all(|(t, s)| t == s || (t.starts_with('{') && s.starts_with('{')))
        })
        .cloned()
}

/// Every route the server answers: each `.route("path", method(handler))` of the router's source
/// (crates/kith-server/src/http.rs), and every operation of its OpenAPI document.
fn server_routes(api: &serde_json::Value) -> Vec<(String, String)> {
    let src = include_str!("../src/http.rs");
    let mut routes = Vec::new();
    for (i, _) in src.match_indices(".route(\"") {
        let rest = &src[i + ".route(\"".len()..];
        let Some((path, after)) = rest.split_once('"') else { continue };
        let call = after.trim_start_matches([',', ' ', '\n']).trim_start_matches("axum::routing::");
        // The method router: `get(h)`, or chained `get(h).post(h2)`.
        for m in ["get", "post", "put", "delete", "patch"] {
            let chained = format!(").{m}(");
            if call.starts_with(&format!("{m}(")) || call.split_once(")\n").map_or(call, |c| c.0).contains(&chained) {
                routes.push((m.to_uppercase(), path.to_string()));
            }
        }
    }
    for (path, item) in api["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("an operation").keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    routes.sort();
    routes.dedup();
    routes
}

/// The matrix as a markdown table, between markers docs/security.md keeps it in.
fn markdown(rows: &[(String, Vec<String>)]) -> String {
    let mut md = String::from(
        "<!-- authorisation-matrix: generated by crates/kith-server/tests/every_caller_gets_exactly_its_rights.rs -->\n",
    );
    md.push_str(&format!("| request | {} |\n", CALLERS.join(" | ")));
    md.push_str(&format!("|---|{}\n", "---|".repeat(CALLERS.len())));
    for (req, cells) in rows {
        md.push_str(&format!("| `{}` | {} |\n", req.replace('|', "\\|"), cells.join(" | ")));
    }
    md.push_str("<!-- authorisation-matrix: end -->\n");
    md
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_caller_gets_exactly_its_rights() {
    let mut world = World::new().await;
    world.live_phase().await;
    let mut seen_rows = Vec::new();
    let mut wrong = Vec::new();
    for (request, expected) in MATRIX {
        let mut cells = Vec::new();
        for (i, want) in expected.iter().enumerate() {
            let got = world.play(request, i).await;
            if got != *want {
                wrong.push(format!("{request} as {}: expected {want}, got {got}", CALLERS[i]));
            }
            cells.push(got);
        }
        seen_rows.push((request.to_string(), cells));
    }
    let seen = markdown(&seen_rows);
    println!("{seen}");
    assert!(wrong.is_empty(), "{} cells differ from the table:\n{}", wrong.len(), wrong.join("\n"));

    // A new route must come with its row: every route the server answers is played above.
    let api: serde_json::Value =
        reqwest::get(world.server.url("/openapi.json")).await.expect("an answer").json().await.expect("OpenAPI");
    let routes = server_routes(&api);
    assert!(routes.len() >= 20, "the router's routes were not found in src/http.rs: {routes:?}");
    let played: Vec<(String, String)> = MATRIX.iter().filter_map(|(r, _)| row_route(r, &routes)).collect();
    let unplayed: Vec<String> =
        routes.iter().filter(|r| !played.contains(r)).map(|(m, p)| format!("{m} {p}")).collect();
    assert!(
        unplayed.is_empty(),
        "routes without a row in the authorisation matrix (add one to MATRIX for each):\n{}",
        unplayed.join("\n")
    );
    let stray: Vec<&str> = MATRIX.iter().map(|(r, _)| *r).filter(|r| row_route(r, &routes).is_none()).collect();
    assert!(stray.is_empty(), "rows that play no route of the server: {stray:?}");

    let expected: Vec<(String, Vec<String>)> =
        MATRIX.iter().map(|(r, c)| (r.to_string(), c.iter().map(|s| s.to_string()).collect())).collect();
    let table = markdown(&expected);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/security.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let start = doc.find("<!-- authorisation-matrix: generated");
    let end = doc.find("<!-- authorisation-matrix: end -->").map(|e| e + "<!-- authorisation-matrix: end -->\n".len());
    let current = match (start, end) {
        (Some(s), Some(e)) if e <= doc.len() => &doc[s..e],
        _ => "",
    };
    if current == table {
        return;
    }
    if std::env::var_os("KITH_UPDATE_DOCS").is_some() {
        let updated = match (start, end) {
            (Some(s), Some(e)) if e <= doc.len() => format!("{}{table}{}", &doc[..s], &doc[e..]),
            _ => format!("{doc}{}## Authorisation matrix\n\n{table}", if doc.is_empty() { "" } else { "\n" }),
        };
        std::fs::write(&path, updated).expect("write docs/security.md");
        return;
    }
    panic!(
        "docs/security.md does not show this test's authorisation matrix: run \
         KITH_UPDATE_DOCS=1 cargo test -p kith-server --test all every_caller_gets_exactly_its_rights"
    );
}
