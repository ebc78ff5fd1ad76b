//! The CLI reads the same documents other writers change (later: changes synced from the server).
//! Here a lead's reply and roster entry are written straight into the store, as sync will.

use crate::common;

use common::Kith;
use kith_domain::doc::{shift, team};
use kith_domain::{Ack, AckId, CheckInId, Member, MemberId, Role, Timestamp};

const T0: &str = "2026-11-27T09:00:00Z";

fn id<T: std::str::FromStr>(v: &serde_json::Value) -> T {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not an id: {v}"))
}

fn at(s: &str) -> Timestamp {
    Timestamp(chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{e}")).timestamp_millis())
}

#[test]
fn a_leads_reply_shows_in_the_log_and_settles_a_support_request() {
    let k = Kith::with_profile(T0);
    k.ok(T0, &["shift", "start", "--purpose", "Home visits", "--until", "17:00"]);
    let ci = k.json("2026-11-27T10:00:00Z", &["checkin", "support", "--note", "difficult visit"]);
    assert_eq!(k.json("2026-11-27T10:01:00Z", &["status"])["board_status"], "support");

    let status = k.json("2026-11-27T10:01:00Z", &["status"]);
    let team_id: uuid::Uuid = id(&status["team_id"]);
    let shift_id: uuid::Uuid = id(&ci["shift_id"]);
    let checkin: CheckInId = id(&ci["checkin"]["id"]);
    let lee = Member { id: MemberId::new(), name: "Lee".into(), role: Role::Lead, buddies: Vec::new(), phone: None };
    {
        let mut store = kith_store::Store::open(k.db()).unwrap_or_else(|e| panic!("{e}"));
        store
            .change_doc(team_id, |tx| team::upsert_member(tx, &lee).map_err(Failed::from))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let ack = Ack {
            id: AckId::new(),
            checkin,
            by: lee.id,
            at: at("2026-11-27T10:07:00Z"),
            reply: Some("calling you in 5".into()),
        };
        store
            .change_doc(shift_id, |tx| shift::add_ack(tx, &ack).map_err(Failed::from))
            .unwrap_or_else(|e| panic!("{e:?}"));
    }

    let log = k.ok("2026-11-27T10:10:00Z", &["log"]);
    assert!(log.contains("10:07  seen by Lee: \"calling you in 5\""), "{log}");
    let json = k.json("2026-11-27T10:10:00Z", &["log"]);
    assert_eq!(json["shifts"][0]["acks"][0]["reply"], "calling you in 5");
    assert_eq!(json["shifts"][0]["acks"][0]["checkin_id"], ci["checkin"]["id"]);
    assert_eq!(k.json("2026-11-27T10:10:00Z", &["status"])["board_status"], "fine");
}

/// Any error, for the store's closures (which need `From<StoreError>`).
#[derive(Debug)]
struct Failed(#[allow(dead_code)] String);

impl From<kith_store::StoreError> for Failed {
    fn from(e: kith_store::StoreError) -> Self {
        Failed(e.to_string())
    }
}

impl From<kith_domain::DomainError> for Failed {
    fn from(e: kith_domain::DomainError) -> Self {
        Failed(e.to_string())
    }
}
