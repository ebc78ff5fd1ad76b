//! The board and the alerts in the order of who needs a human now (unowned before owned, then
//! emergency > overdue > support > due soon > fine, people off shift and leads last), the same
//! for a lead and a member; statuses from the latest check-in and any open alert, on the board
//! and in a shift's view; and what the banner needs (what the worker said, their phone).

use crate::common;
use common::*;
use kith_domain::{CheckInStatus, Role, Secs};
use kith_server::testing::{MANUAL_START_MS, TestServer};
use serde_json::{Value, json};

const T: i64 = MANUAL_START_MS;
const MIN: i64 = 60_000;

fn names(rows: &Value) -> Vec<String> {
    rows.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
}

fn statuses(rows: &Value) -> Vec<(String, String, String)> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["attention"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn who_needs_a_human_comes_first_on_the_board_and_in_the_alerts_for_everyone() {
    let server = TestServer::start_manual().await;
    let (team, code) = server.create_team("North estate").await;
    let sam = Dev::join(&server, &code, "Sam").await;
    let join = |name: &'static str| {
        let server = &server;
        async move { Dev::join(server, &server.invite(team, Role::Member).await, name).await }
    };
    let mut claimed = join("Ann (claimed emergency)").await;
    let mut overdue = join("Ben (overdue)").await;
    let mut support = join("Cat (support, replied)").await;
    let mut fine = join("Dan (fine)").await;
    let eve = join("Eve (off shift)").await;

    // Ben started half an hour ago with a 15-minute rhythm and never checked in: overdue.
    let start = |d: &mut Dev, every: i64| {
        let now = d.device_now();
        d.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(every), vec![])
    };
    let ben = start(&mut overdue, 15);
    overdue.sync().await;
    let ann = start(&mut claimed, 60);
    let cat = start(&mut support, 60);
    let dan = start(&mut fine, 60);
    fine.sync().await;
    server.clock().set(T + 26 * MIN);
    server.run_due().await; // Ben's missed check-in opens now
    let now = claimed.device_now();
    claimed.checkin_at(ann, CheckInStatus::Emergency, now);
    claimed.sync().await;
    let cat_checkin = support.checkin_at(cat, CheckInStatus::Support, now);
    support.sync().await;
    fine.checkin_at(dan, CheckInStatus::Ok, now);
    fine.sync().await;
    let _ = ben;

    // Sam claims Ann's emergency (the newest alert) and replies to Cat, without resolving hers.
    let (_, v) = sam.get_json("/v1/alerts").await;
    let ann_alert = v["alerts"].as_array().unwrap().iter().find(|a| a["kind"] == "emergency").unwrap().clone();
    let r = sam.post_json(&format!("/v1/alerts/{}/claim", ann_alert["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(r.status(), 200);
    let r = sam
        .post_json(&format!("/v1/shifts/{cat}/checkins/{cat_checkin}/ack"), json!({"reply": "Will call at 3"}))
        .await;
    assert_eq!(r.status(), 200);

    let expected = vec![
        ("Ben (overdue)", "overdue", "unowned"),
        ("Cat (support, replied)", "support", "unowned"),
        ("Ann (claimed emergency)", "emergency", "owned"),
        ("Dan (fine)", "fine", "calm"),
        ("Eve (off shift)", "off_shift", "calm"),
        ("Sam", "off_shift", "calm"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.into_iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    // A lead's board and a member's board: the same people in the same order with the same statuses.
    for viewer in [&sam, &eve] {
        let (status, b) = viewer.get_json("/v1/board").await;
        assert_eq!(status, 200);
        assert_eq!(statuses(&b["rows"]), expected, "{}'s board", viewer.name);
        let ann_row = b["rows"].as_array().unwrap().iter().find(|r| r["name"] == "Ann (claimed emergency)").unwrap();
        assert_eq!(ann_row["alert_owner"], "Sam");
    }
    // The lead's alerts: unowned first (an overdue worker is not under a claimed emergency), then
    // emergency > overdue > support.
    let (_, v) = sam.get_json("/v1/alerts").await;
    let kinds: Vec<&str> = v["alerts"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["missed_checkin", "support", "emergency"]);
    let (_, b) = sam.get_json("/v1/board").await;
    let board_kinds: Vec<&str> = b["alerts"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(board_kinds, kinds, "the board's alerts in the same order");
    assert!(names(&b["rows"]).len() == 6);
}

#[tokio::test]
async fn a_shift_in_emergency_reads_emergency_not_on_track_in_its_view() {
    let server = TestServer::start().await;
    let (sam, mut alice) = team_of_two(&server).await;
    let now = alice.device_now();
    let shift = alice.start_shift_at(now, now + 4 * 3_600_000, Secs::minutes(60), vec![]);
    alice.checkin_at(shift, CheckInStatus::Emergency, now);
    alice.sync().await;
    for viewer in [&sam, &alice] {
        let (status, v) = viewer.get_json(&format!("/v1/shifts/{shift}")).await;
        assert_eq!(status, 200);
        assert_eq!(v["due"], "fine", "the next check-in is an hour away");
        assert_eq!(v["status"], "emergency");
    }
    let (_, h) = sam.get_json(&format!("/v1/members/{}/shifts", alice.member)).await;
    assert_eq!(h[0]["status"], "emergency");
}

#[tokio::test]
async fn the_banner_has_what_the_worker_said_and_where_to_call_them() {
    let server = TestServer::start().await;
    let (sam, mut alice) = team_of_two(&server).await;
    let r = alice.put_json(&format!("/v1/members/{}", alice.member), json!({"phone": "+44 7700 900123"})).await;
    assert_eq!(r.status(), 200);
    let now = alice.device_now();
    let shift = alice.start_shift_at(now, now + 4 * 3_600_000, Secs::minutes(60), vec![]);
    let c = kith_domain::CheckIn {
        note: Some(kith_domain::Note {
            text: "Fell on the stairs at no. 14".into(),
            visibility: kith_domain::Visibility::Leads,
        }),
        location: kith_domain::Location::shared(kith_domain::LocationPrecision::Coarse, 51.50735, -0.12776).unwrap(),
        ..kith_domain::CheckIn::new(CheckInStatus::Emergency, kith_domain::Timestamp(now), alice.member, alice.device)
    };
    let doc = alice.docs.get_mut(&shift.uuid()).unwrap();
    doc.transact(|tx| kith_domain::doc::shift::add_checkin(tx, &c)).map_err(|f| f.error).unwrap();
    alice.sync().await;

    let (_, b) = sam.get_json("/v1/board").await;
    let a = &b["alerts"][0];
    assert_eq!((a["urgent"].as_bool(), a["state"].as_str()), (Some(true), Some("open")));
    assert_eq!(a["worker_phone"], "+44 7700 900123");
    assert_eq!(a["said"]["note"], "Fell on the stairs at no. 14");
    assert_eq!(a["said"]["location"], json!({"precision": "coarse", "lat": 51.51, "lon": -0.13}));
    assert_eq!(a["said"]["device_time"], now);
    let row = b["rows"].as_array().unwrap().iter().find(|r| r["name"] == "Alice").unwrap();
    assert_eq!(row["phone"], "+44 7700 900123");
}
