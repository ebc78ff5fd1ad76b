//! A page's driver written in Rust over the real bindings, in the browser: what
//! `ui/src/lib/backend/wasm.ts` does with each effect, with the storage kept as the `Records`
//! IndexedDB would hold and the network decided by the test (no fetch: the server's side of the
//! protocol is tested against a real server in `crates/kith-core/tests` and `e2e/phone.test.mjs`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use automerge::AutoCommit;
use js_sys::{JSON, Reflect, Uint8Array};
use kith_core::{Records, Write};
use kith_domain::{Member, MemberId, Policy, Role, Team, TeamId};
use kith_proto::{Cursor, FeedDoc, Kind, SyncRequest, SyncResponse};
use kith_web::Engine;
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};

pub const T0: f64 = 1_800_000_000_000.0;
pub const SERVER: &str = "https://kith.test";
pub const TEAM: &str = "00000000-0000-4000-8000-000000000001";
pub const ME: &str = "00000000-0000-4000-8000-000000000002";

/// The team's document as the server would first send it (one whole saved document).
fn team_doc() -> FeedDoc {
    let team = Team {
        id: TeamId(TEAM.parse().unwrap()),
        name: "North estate".into(),
        purpose: String::new(),
        phone: Some("+44 20 7946 0000".into()),
        policy: Policy::default(),
        members: vec![Member::new(MemberId(ME.parse().unwrap()), "Alice Field", Role::Member)],
    };
    let mut doc = AutoCommit::new();
    kith_domain::doc::team::init(&mut doc, &team).unwrap();
    for m in &team.members {
        kith_domain::doc::team::upsert_member(&mut doc, m).unwrap();
    }
    FeedDoc { id: team.id.uuid(), kind: Kind::Team, data: vec![doc.save().into()], heads: vec![], receipt: None }
}

/// One phone: its engine, what it stored, and whether the network is down.
pub struct Phone {
    pub engine: Engine,
    pub stored: Records,
    pub offline: bool,
    /// The server's answers are not the protocol (a proxy's page where CBOR should be).
    pub garbled: bool,
    pub now: f64,
    /// Every sync state shown, in order.
    pub statuses: Vec<Value>,
    /// The replies so far, by command id, as the page got them (`{Ok: ...}` or `{Err: ...}`).
    pub replies: Vec<(u64, Value)>,
    /// Every sync request sent, decoded from the CBOR body the page would POST.
    pub sent: Vec<SyncRequest>,
    next_id: u64,
}

/// A JS object, as the page builds it.
pub fn js(json: &str) -> JsValue {
    JSON::parse(json).unwrap()
}

/// A JS value as JSON would show it (bytes as `{"0": .., "1": ..}`), to look at.
pub fn json(v: &JsValue) -> Value {
    serde_json::from_str(&String::from(JSON::stringify(v).unwrap())).unwrap()
}

/// A `JsError` thrown to the page: its message.
pub fn message(e: wasm_bindgen::JsError) -> String {
    let v = JsValue::from(e);
    Reflect::get(&v, &"message".into()).unwrap().as_string().unwrap()
}

fn records_to_js(r: &Records) -> JsValue {
    serde_wasm_bindgen::to_value(r).unwrap()
}

impl Phone {
    /// Opens the engine over `stored` (empty: a new device) at `now`.
    pub fn open(stored: Records, now: f64, offline: bool) -> Phone {
        let records = if stored == Records::default() { JsValue::UNDEFINED } else { records_to_js(&stored) };
        let mut engine = Engine::open(records, now, "Kith in a test".into(), 7.0).unwrap();
        let opening = engine.take_opening().unwrap();
        let mut p = Phone {
            engine,
            stored,
            offline,
            garbled: false,
            now,
            statuses: Vec::new(),
            replies: Vec::new(),
            sent: Vec::new(),
            next_id: 1,
        };
        p.run(opening);
        p
    }

    /// Sends a command as the page does (`{event: 'command', id, command, input}`), runs what
    /// follows and returns its reply.
    pub fn ask(&mut self, command: &str, input: Option<&str>) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let ev = match input {
            Some(i) => format!(r#"{{"event":"command","id":{id},"command":"{command}","input":{i}}}"#),
            None => format!(r#"{{"event":"command","id":{id},"command":"{command}"}}"#),
        };
        self.event(&ev);
        // A reply held for the server (up to `share_wait_ms`) is let go by the timer.
        for _ in 0..4 {
            if let Some((_, r)) = self.replies.iter().find(|(i, _)| *i == id) {
                return r.clone();
            }
            self.now += 2_500.0;
            self.event(r#"{"event":"wake"}"#);
        }
        panic!("no reply to {command}");
    }

    pub fn event(&mut self, ev: &str) {
        let effects = self.engine.handle(self.now, js(ev)).unwrap();
        self.run(effects);
    }

    /// Carries out effects as the page's driver does.
    pub fn run(&mut self, effects: JsValue) {
        let mut queue: Vec<JsValue> = js_sys::Array::from(&effects).iter().collect();
        while !queue.is_empty() {
            let e = queue.remove(0);
            let kind = Reflect::get(&e, &"effect".into()).unwrap().as_string().unwrap();
            let task = Reflect::get(&e, &"task".into()).unwrap().as_f64();
            let more = match kind.as_str() {
                "persist" => {
                    // The writes as the page hands them to IndexedDB, bytes as Uint8Array (never
                    // JSON number arrays: the stored records are read back as Uint8Array).
                    let js_writes = Reflect::get(&e, &"writes".into()).unwrap();
                    for w in js_sys::Array::from(&js_writes).iter() {
                        for f in ["bytes", "snapshot", "server_heads", "vouch_heads", "receipt"] {
                            let v = Reflect::get(&w, &f.into()).unwrap();
                            assert!(
                                v.is_undefined() || v.is_null() || v.is_instance_of::<Uint8Array>(),
                                "`{f}` of a write is a Uint8Array: {}",
                                json(&w)
                            );
                        }
                    }
                    let writes: Vec<Write> = serde_wasm_bindgen::from_value(js_writes).unwrap();
                    self.stored.apply(&writes);
                    Some(format!(r#"{{"event":"persisted","task":{}}}"#, task.unwrap()))
                }
                "sync" => {
                    let body = Reflect::get(&e, &"body".into()).unwrap();
                    let body = body.dyn_into::<Uint8Array>().expect("the request's body is a Uint8Array").to_vec();
                    let request: SyncRequest = kith_proto::decode(&body).expect("the body is the protocol's CBOR");
                    self.sent.push(request);
                    if self.offline {
                        Some(format!(
                            r#"{{"event":"sync_failed","task":{},"failure":{{"message":"Offline: no connection to the team server.","retryable":true}}}}"#,
                            task.unwrap()
                        ))
                    } else {
                        // An answer that takes nothing: the server's side is not this test's.
                        let answer = SyncResponse {
                            protocol: kith_proto::PROTOCOL_VERSION,
                            server_time: self.now as i64,
                            docs: vec![],
                            // The team arrives with the first sync after joining.
                            feed: if self.sent.len() == 1 { vec![team_doc()] } else { vec![] },
                            cursor: Cursor { seq: 0, hash: None },
                            more: false,
                            reset: false,
                        };
                        let bytes = if self.garbled {
                            b"<html>Sign in to the hotel wifi</html>".to_vec()
                        } else {
                            kith_proto::encode(&answer).unwrap()
                        };
                        let effects = self.engine.answered(self.now, task.unwrap(), &bytes).unwrap();
                        queue.extend(js_sys::Array::from(&effects).iter());
                        None
                    }
                }
                "join" => {
                    let request = json(&Reflect::get(&e, &"request".into()).unwrap());
                    assert_eq!(request["name"], "Alice Field", "{request}");
                    Some(format!(
                        r#"{{"event":"joined","task":{},"response":{{"team_id":"00000000-0000-4000-8000-000000000001","team_name":"North estate","member_id":"00000000-0000-4000-8000-000000000002","device_id":"00000000-0000-4000-8000-000000000003","role":"member","token":"kith_secret","server_time":{}}}}}"#,
                        task.unwrap(),
                        self.now
                    ))
                }
                "reply" => {
                    let id = Reflect::get(&e, &"id".into()).unwrap().as_f64().unwrap() as u64;
                    self.replies.push((id, json(&Reflect::get(&e, &"result".into()).unwrap())));
                    None
                }
                "status" => {
                    self.statuses.push(json(&Reflect::get(&e, &"sync".into()).unwrap()));
                    None
                }
                "changed" | "remind" | "wake_at" => None,
                other => panic!("unexpected effect {other}: {}", json(&e)),
            };
            if let Some(ev) = more {
                let effects = self.engine.handle(self.now, js(&ev)).unwrap();
                queue.extend(js_sys::Array::from(&effects).iter());
            }
        }
    }
}
