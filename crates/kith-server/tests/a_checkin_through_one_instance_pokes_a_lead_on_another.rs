//! Several server instances on one PostgreSQL database: a check-in synced through instance A pokes
//! a lead whose live stream is on instance B (the fan-out goes through the database: every
//! append notifies `kith_changes`, and each instance's live channel follows the stored changes of
//! every process). The lead then syncs through B and gets the check-in. Alert events (an
//! emergency, and a claim made through A) reach the lead on B live too.

use crate::common;
use common::*;
use kith_domain::{CheckInStatus, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkin_synced_through_a_pokes_the_lead_on_b() {
    let Some((a, b, team, lead_code)) = two_instances().await else { return };
    let mut lead = Dev::join(&a, &lead_code, "Sam").await;
    let mut alice = Dev::join(&a, &a.invite(team, Role::Member).await, "Alice").await;
    lead.base = b.base_url.clone();
    lead.sync().await;
    let mut lead_events = open_live(&lead).await;

    let shift = alice.start_shift();
    alice.sync().await;
    let id = shift.uuid().to_string();
    next_live(&mut lead_events, "changed", |v| v["docs"].as_array().is_some_and(|d| d.iter().any(|x| *x == *id))).await;

    alice.checkin(shift, CheckInStatus::Ok, 3);
    alice.sync().await;
    next_live(&mut lead_events, "changed", |v| v["docs"].as_array().is_some_and(|d| d.iter().any(|x| *x == *id))).await;
    lead.sync().await;
    assert_eq!(lead.shift(shift).checkins.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_and_its_claim_through_a_reach_the_lead_on_b_live() {
    let Some((a, b, team, lead_code)) = two_instances().await else { return };
    let mut sam = Dev::join(&a, &lead_code, "Sam").await;
    let lee = Dev::join(&a, &a.invite(team, Role::Lead).await, "Lee").await;
    let mut alice = Dev::join(&a, &a.invite(team, Role::Member).await, "Alice").await;
    sam.base = b.base_url.clone();
    let mut sams = open_live(&sam).await;
    let wait = std::time::Duration::from_secs(30);

    let shift = alice.start_shift();
    alice.checkin(shift, CheckInStatus::Emergency, 3);
    alice.sync().await;
    // Raised and escalated by whichever instance stored it first: Sam's stream on B hears it.
    let raised = tokio::time::timeout(
        wait,
        next_live(&mut sams, "alert", |v| v["alert"]["kind"] == "emergency" && v["notify"] == "leads"),
    )
    .await
    .expect("the lead on B hears the emergency");
    assert_eq!(raised["alert"]["worker_name"], "Alice");

    // Lee claims it through A: only A knows, and Sam's stream on B hears it at once.
    let id = raised["alert"]["id"].as_str().unwrap().to_string();
    let r = lee.post_json(&format!("/v1/alerts/{id}/claim"), serde_json::json!({})).await;
    assert_eq!(r.status(), 200);
    let claimed = tokio::time::timeout(wait, next_live(&mut sams, "alert", |v| v["action"] == "claimed"))
        .await
        .expect("the lead on B hears the claim made through A");
    assert_eq!(claimed["alert"]["claimed_by_name"], "Lee");
}
