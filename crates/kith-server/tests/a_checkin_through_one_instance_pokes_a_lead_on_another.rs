//! Several server instances on one PostgreSQL database: a check-in synced through instance A pokes
//! a lead whose live stream is on instance B (the fan-out goes through the database: every
//! append notifies `kith_changes`, and each instance's live channel follows the stored changes of
//! every process). The lead then syncs through B and gets the check-in.

mod common;
use common::*;
use kith_domain::{CheckInStatus, Role};
use kith_server::testing::{Backend, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkin_synced_through_a_pokes_the_lead_on_b() {
    let Backend::Postgres { .. } = Backend::from_env() else {
        eprintln!("several instances share a PostgreSQL database: run with KITH_TEST_BACKEND=postgres");
        return;
    };
    let a = TestServer::start().await;
    let b = a.start_another_instance().await;
    let (team, lead_code) = a.create_team("Night shift").await;
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
