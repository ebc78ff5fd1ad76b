//! One notion of time everywhere: with a worker's device clock three hours slow or fast, the
//! board, the shift view (its deadlines and its badge) and the alerts agree on when she is due and whether she is overdue, on
//! the server's clock (the device times corrected by the measured offset, as the deadline engine
//! sees them). Before, a slow clock showed a worker who had just checked in as OVERDUE with no
//! alert, and a fast one showed FINE while her missed check-in alert was open.

use crate::common;
use common::*;
use kith_domain::{CheckInStatus, Role, Secs};
use kith_server::testing::{MANUAL_START_MS, TestServer};

const T: i64 = MANUAL_START_MS;
const MIN: i64 = 60_000;

/// What the lead's board, the shift view and the alerts say about Alice.
#[derive(Debug, PartialEq)]
struct Seen {
    board_status: String,
    board_next_due: Option<i64>,
    board_last_checkin: Option<i64>,
    shift_due: String,
    /// The shift's badge (`ShiftView::status`): its deadlines on the server clock too.
    shift_status: String,
    shift_next_due: Option<i64>,
    shift_overdue_at: Option<i64>,
    /// Open alerts: (kind, due).
    alerts: Vec<(String, Option<i64>)>,
    /// Connection health: her check-ins missed so far.
    health_missed: u64,
}

async fn seen(lead: &Dev, alice: &Dev, shift: kith_domain::ShiftId) -> Seen {
    let (_, board) = lead.get_json("/v1/board").await;
    let r = board["rows"].as_array().unwrap().iter().find(|r| r["member"] == alice.member.to_string()).unwrap();
    let (status, view) = lead.get_json(&format!("/v1/shifts/{shift}")).await;
    assert_eq!(status, 200);
    let (_, alerts) = lead.get_json("/v1/alerts").await;
    let (_, health) = lead.get_json("/v1/health").await;
    let mine = health["team"]["members"].as_array().unwrap().iter().find(|m| m["member"] == alice.member.to_string());
    Seen {
        board_status: r["status"].as_str().unwrap().into(),
        board_next_due: r["next_due"].as_i64(),
        board_last_checkin: r["last_checkin"].as_i64(),
        shift_due: view["due"].as_str().unwrap().into(),
        shift_status: view["status"].as_str().unwrap().into(),
        shift_next_due: view["next_due"].as_i64(),
        shift_overdue_at: view["overdue_at"].as_i64(),
        alerts: alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["kind"].as_str().unwrap().to_string(), a["due"].as_i64()))
            .collect(),
        health_missed: mine.unwrap()["missed_checkins"].as_u64().unwrap(),
    }
}

#[tokio::test]
async fn board_shift_view_and_alerts_agree_with_a_device_three_hours_slow_or_fast() {
    for skew_h in [-3i64, 3] {
        let server = TestServer::start_manual().await;
        let (team, lead_code) = server.create_team("North estate").await;
        let mut lead = Dev::join(&server, &lead_code, "Sam").await;
        let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
        lead.sync().await;
        alice.skew_ms = skew_h * 60 * MIN;
        let now = alice.device_now();
        let shift = alice.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(30), vec![]);
        alice.sync().await;
        server.clock().set(T + 10 * MIN);
        alice.checkin_at(shift, CheckInStatus::Ok, alice.device_now());
        alice.sync().await;

        // Checked in at +10 on the server clock: due +40, overdue from +50 (grace 10 min).
        server.clock().set(T + 45 * MIN);
        server.run_due().await;
        let expected = Seen {
            board_status: "due_soon".into(),
            board_next_due: Some(T + 40 * MIN),
            board_last_checkin: Some(T + 10 * MIN),
            shift_due: "due_soon".into(),
            shift_status: "due_soon".into(),
            shift_next_due: Some(T + 40 * MIN),
            shift_overdue_at: Some(T + 50 * MIN),
            alerts: vec![],
            health_missed: 0,
        };
        assert_eq!(seen(&lead, &alice, shift).await, expected, "skew {skew_h} h, at +45 min");

        server.clock().set(T + 50 * MIN);
        server.run_due().await;
        let expected = Seen {
            board_status: "overdue".into(),
            shift_due: "overdue".into(),
            shift_status: "overdue".into(),
            alerts: vec![("missed_checkin".into(), Some(T + 40 * MIN))],
            health_missed: 1,
            ..expected
        };
        assert_eq!(seen(&lead, &alice, shift).await, expected, "skew {skew_h} h, at +50 min");
    }
}

/// An alert's history puts a reply where it happened on the server's clock, among the alert's own
/// events: a lead whose device clock is three hours slow replies five minutes after the alert
/// opened, and the history says so (before, the reply's device time put it before the alert, so
/// the history left it out).
#[tokio::test]
async fn an_alerts_history_tells_a_reply_from_a_slow_clock_on_the_servers_clock() {
    let server = TestServer::start_manual().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    lead.skew_ms = -3 * 60 * MIN;
    lead.sync().await;
    let now = alice.device_now();
    let shift = alice.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(30), vec![]);
    let emergency = alice.checkin_at(shift, CheckInStatus::Emergency, now);
    alice.sync().await;
    server.run_due().await;

    server.clock().set(T + 5 * MIN);
    lead.sync().await;
    let ack = kith_domain::Ack {
        id: kith_domain::AckId::new(),
        checkin: emergency,
        by: lead.member,
        at: kith_domain::Timestamp(lead.device_now()),
        reply: Some("on my way".into()),
    };
    let doc = lead.docs.get_mut(&shift.uuid()).unwrap();
    doc.transact(|tx| kith_domain::doc::shift::add_ack(tx, &ack)).map_err(|f| f.error).unwrap();
    lead.sync().await;

    let (_, v) = lead.get_json("/v1/alerts").await;
    let a = &v["alerts"][0];
    assert_eq!(a["opened_at"].as_i64(), Some(T), "{a}");
    let history = a["history"].as_array().unwrap();
    let reply = history.iter().find(|h| h["action"] == "reply").unwrap_or_else(|| panic!("no reply: {a}"));
    assert_eq!((reply["at"].as_i64(), reply["text"].as_str()), (Some(T + 5 * MIN), Some("on my way")), "{a}");
    let times: Vec<i64> = history.iter().map(|h| h["at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order: {a}");
}
