//! A storage failure while the deadline engine raises an alert or fires its next step loses
//! neither: the engine looks again a second later and the alert is raised, or the step fired,
//! then. Before, the failed alert's key was already marked "stored", and the shift's open alerts
//! had been taken out of the engine's watch, so after a transient failure (a busy database, a
//! full disk) a missed check-in was never raised, or an open alarm never climbed its chain, until
//! the server restarted. On a manual clock; no sleeps.

use crate::common;
use common::*;
use kith_domain::{Role, Secs};
use kith_server::testing::faults::Fault;
use kith_server::testing::{MANUAL_START_MS, TestServer};
use serde_json::Value;

const T: i64 = MANUAL_START_MS;
const MIN: i64 = 60_000;

/// Sam (lead) and Alice, on shift from T with Bob her buddy: check in every 30 min (due T+30,
/// alert at T+40 after the grace, then buddies at T+45 and leads at T+55).
async fn alice_on_shift(server: &TestServer) -> Dev {
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(server, &lead_code, "Sam").await;
    let mut alice = Dev::join(server, &server.invite(team, Role::Member).await, "Alice").await;
    let mut bob = Dev::join(server, &server.invite(team, Role::Member).await, "Bob").await;
    lead.sync().await;
    bob.sync().await;
    let now = alice.device_now();
    alice.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(30), vec![bob.member]);
    alice.sync().await;
    lead
}

async fn open_alerts(dev: &Dev) -> Vec<Value> {
    let resp = dev.get("/v1/alerts").await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["alerts"].as_array().unwrap().clone()
}

fn notified(a: &Value) -> Vec<String> {
    a["notified"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// Moves the server clock to `at` and runs the engine: whether it stored everything it meant to.
async fn run_at(server: &TestServer, at: i64) -> bool {
    server.clock().set(at);
    server.app().run_due(at).await.is_ok()
}

#[tokio::test]
async fn an_alert_whose_insert_failed_is_raised_when_storage_is_back() {
    let server = TestServer::start_manual_with_storage_faults().await;
    let lead = alice_on_shift(&server).await;
    let faults = server.storage_faults();

    faults.fail_alert_writes(Fault::Busy);
    assert!(!run_at(&server, T + 40 * MIN).await, "the alert's insert failed");
    assert!(open_alerts(&lead).await.is_empty());
    faults.heal();
    // Looked at again a second later.
    assert!(run_at(&server, T + 40 * MIN + 1000).await);
    let alerts = open_alerts(&lead).await;
    assert_eq!(alerts.len(), 1, "the missed check-in is raised once storage is back");
    assert_eq!(alerts[0]["kind"], "missed_checkin");
    assert_eq!(notified(&alerts[0]), vec!["worker"]);
}

#[tokio::test]
async fn an_open_alert_whose_step_failed_climbs_its_chain_when_storage_is_back() {
    let server = TestServer::start_manual_with_storage_faults().await;
    let lead = alice_on_shift(&server).await;
    let faults = server.storage_faults();
    assert!(run_at(&server, T + 40 * MIN).await);
    assert_eq!(notified(&open_alerts(&lead).await[0]), vec!["worker"]);

    faults.fail_alert_writes(Fault::DiskFull);
    assert!(!run_at(&server, T + 45 * MIN).await, "the buddies' step failed");
    faults.heal();
    assert!(run_at(&server, T + 45 * MIN + 1000).await);
    assert_eq!(
        notified(&open_alerts(&lead).await[0]),
        vec!["worker", "buddies"],
        "the step is fired once storage is back"
    );
    // And the chain goes on at its time.
    assert!(run_at(&server, T + 55 * MIN).await);
    assert_eq!(notified(&open_alerts(&lead).await[0]), vec!["worker", "buddies", "leads"]);
}
