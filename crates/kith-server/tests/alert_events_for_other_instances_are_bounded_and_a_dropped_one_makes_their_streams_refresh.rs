//! Several instances (PostgreSQL): each alert event of one instance is told to the others, which
//! publish it on their live streams. What waits to be told is bounded (`alerts.relay_max_bytes`):
//! while the database is stalled, the events past it are dropped, never waited for (the deadline
//! engine and the requests that publish go on), and counted (`kith_alert_relay_dropped_total`).
//! Once there is room, the other instances are told which teams missed events, and those teams'
//! streams get `changed` with `all`, on which the dashboard and the app re-read their alerts.
//! Before, the queue had no bound at all.

mod common;
use std::time::Duration;

use common::*;
use kith_domain::{CheckInStatus, Role};
use kith_server::testing::{Backend, TestServer};

fn dropped() -> u64 {
    process_counter("kith_alert_relay_dropped_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_past_the_bound_are_dropped_and_the_other_instances_streams_refresh() {
    let Backend::Postgres { .. } = Backend::from_env() else {
        eprintln!("several instances share a PostgreSQL database: run with KITH_TEST_BACKEND=postgres");
        return;
    };
    // Room for a few events (each takes 1–2 KB).
    let a = TestServer::start_with_storage_faults(|c| c.alerts.relay_max_bytes = 16 * 1024).await;
    let b = a.start_another_instance().await;
    let (team, lead_code) = a.create_team("Night shift").await;
    let mut sam = Dev::join(&a, &lead_code, "Sam").await;
    let lee = Dev::join(&a, &a.invite(team, Role::Lead).await, "Lee").await;
    let mut alice = Dev::join(&a, &a.invite(team, Role::Member).await, "Alice").await;
    sam.base = b.base_url.clone();
    let mut sams = open_live(&sam).await;
    let wait = Duration::from_secs(30);

    let shift = alice.start_shift();
    alice.checkin(shift, CheckInStatus::Emergency, 3);
    alice.sync().await;
    let raised = tokio::time::timeout(wait, next_live(&mut sams, "alert", |v| v["alert"]["kind"] == "emergency"))
        .await
        .expect("the lead on B hears the emergency");
    let id = raised["alert"]["id"].as_str().unwrap().to_string();

    // The database stalls for what A tells the others. Lee gives the alert to Sam and back, through
    // A, 41 times: the requests are answered all the same.
    let faults = a.storage_faults();
    let before = dropped();
    faults.hold_told();
    for i in 0..41 {
        let to = if i % 2 == 0 { sam.member } else { lee.member };
        let r = lee.post_json(&format!("/v1/alerts/{id}/assign"), serde_json::json!({ "member": to })).await;
        assert_eq!(r.status(), 200, "assignment {i}");
    }
    let lost = dropped() - before;
    assert!(lost >= 20, "{lost} events dropped: those past 16 KiB do not fit");

    // Room again: what waited reaches B, then the team's streams on B are told to refresh.
    faults.release_told();
    tokio::time::timeout(wait, next_live(&mut sams, "changed", |v| v["all"] == true))
        .await
        .expect("the lead on B is told to refresh everything");
    // Refreshing, the lead reads the alert as it is now: assigned to Sam (the last assignment).
    let open = sam.open_alerts().await;
    let alert = open.iter().find(|x| x["id"] == id.as_str()).expect("the alert is open");
    assert_eq!(alert["claimed_by"], sam.member.to_string(), "{alert}");
}
