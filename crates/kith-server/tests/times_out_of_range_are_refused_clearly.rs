//! A device time the server cannot use is refused with a clear 400 and changes nothing: a sync
//! whose `client_time` is out of range (before, `now - client_time` overflowed: a panic in a debug
//! build, an offset of ±9.2e18 and an alert opened at −9.2e18 in a release one, and the emergency
//! in that request raised no alert), and a document holding such a time. The same emergency sent
//! again with a sane clock raises its alert at once.

use crate::common;
use automerge::ReadDoc;
use automerge::transaction::Transactable;
use common::*;
use kith_domain::{CheckIn, CheckInStatus, Role, Secs, Timestamp};
use kith_proto::{ApiError, Kind, Outcome, RejectCode};
use kith_server::testing::{MANUAL_START_MS, TestServer};

const MIN: i64 = 60_000;

#[tokio::test]
async fn a_sync_with_a_client_time_out_of_range_is_refused_and_stores_nothing() {
    let server = TestServer::start_manual().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    lead.sync().await;
    let now = alice.device_now();
    let s = alice.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(30), vec![]);
    alice.sync().await;
    alice.checkin_at(s, CheckInStatus::Emergency, now + MIN);
    let seq = max_seq(&server).await;
    for bad in [i64::MIN, i64::MAX, -1, 300_000_000_000_000] {
        let mut req = alice.request(vec![alice.push_for(s.uuid())]);
        req.client_time = bad;
        let resp = alice.post_sync(kith_proto::encode(&req).unwrap()).await;
        assert_eq!(resp.status(), 400, "client_time {bad}");
        let e: ApiError = resp.json().await.unwrap();
        assert_eq!(e.code, "bad_client_time", "client_time {bad}");
        assert!(e.message.contains("clock"), "{}", e.message);
        assert!(!e.retryable);
        assert_eq!(max_seq(&server).await, seq, "client_time {bad}: nothing stored");
    }
    let (_, alerts) = lead.get_json("/v1/alerts?all=true").await;
    assert!(alerts["alerts"].as_array().unwrap().is_empty(), "{alerts}");

    // With the clock right, the emergency goes through and raises its alert, dated when it was made.
    server.clock().set(MANUAL_START_MS + MIN);
    alice.sync().await;
    let (_, alerts) = lead.get_json("/v1/alerts").await;
    let a = &alerts["alerts"][0];
    assert_eq!(a["kind"], "emergency");
    assert_eq!(a["opened_at"], MANUAL_START_MS + MIN);
}

#[tokio::test]
async fn a_document_holding_a_time_out_of_range_is_refused() {
    let server = TestServer::start_manual().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    lead.sync().await;
    let now = alice.device_now();
    let s = alice.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(30), vec![]);
    alice.sync().await;
    let seq = max_seq(&server).await;
    // Written with raw operations: the device's own write functions refuse such a time too.
    let c = CheckIn::new(CheckInStatus::Ok, Timestamp(now), alice.member, alice.device);
    let doc = alice.docs.get_mut(&s.uuid()).unwrap();
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        let checkins = tx.get(automerge::ROOT, "checkins")?.unwrap().1;
        let o = tx.put_object(&checkins, c.id.to_string(), automerge::ObjType::Map)?;
        tx.put(&o, "status", "ok")?;
        tx.put(&o, "device_time", i64::MAX)?;
        tx.put(&o, "by", c.by.to_string())?;
        tx.put(&o, "device", c.device.to_string())?;
        Ok(())
    })
    .unwrap();
    let resp = alice.send(&alice.request(vec![alice.push_for(s.uuid())])).await;
    match &resp.docs[0].outcome {
        Outcome::Rejected { code, message } => {
            assert_eq!(*code, RejectCode::Invalid);
            assert!(message.contains("device_time"), "{message}");
        }
        other => panic!("accepted a check-in dated {}: {other:?}", i64::MAX),
    }
    assert_eq!(max_seq(&server).await, seq);
    // A new shift dated beyond any sane clock is refused too.
    let far =
        kith_domain::Shift::begin(alice.team, alice.member, "far", Timestamp(now), Timestamp(now + MIN), Secs(60));
    let mut doc = automerge::Automerge::new().with_actor(alice.actor.clone());
    doc.transact::<_, _, kith_domain::DomainError>(|tx| {
        kith_domain::doc::shift::init(tx, &far)?;
        tx.put(automerge::ROOT, "started_at", i64::MAX - 10)?;
        tx.put(automerge::ROOT, "planned_end", i64::MAX - 5)?;
        Ok(())
    })
    .unwrap();
    alice.docs.insert(far.id.uuid(), doc);
    alice.kinds.insert(far.id.uuid(), Kind::Shift);
    let far = far.id;
    let resp = alice.send(&alice.request(vec![alice.push_for(far.uuid())])).await;
    assert!(matches!(resp.docs[0].outcome, Outcome::Rejected { code: RejectCode::Invalid, .. }), "{:?}", resp.docs[0]);
    assert_eq!(max_seq(&server).await, seq);
}
