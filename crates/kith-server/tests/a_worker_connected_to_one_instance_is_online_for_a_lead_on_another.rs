//! Several server instances on one PostgreSQL database: presence is team-wide. A worker whose live
//! stream is on instance A is online for a lead whose stream is on instance B (told live, and in the
//! presence a new stream on B starts with, which B's board reads too), goes offline for the lead when the stream
//! ends, and, when the instance holding it crashes (a real process, SIGKILLed), goes offline
//! within `limits.presence_ttl_ms` (short here). Every wait is for an event, bounded only to fail
//! instead of hanging.

use crate::common;
use std::time::Duration;

use common::*;
use kith_domain::Role;
use kith_server::testing::{Backend, TestServer};

async fn presence_of(events: &mut LiveEvents, dev: &Dev, online: bool, what: &str) {
    let m = dev.member.to_string();
    tokio::time::timeout(
        Duration::from_secs(30),
        next_live(events, "presence", |v| v["member_id"] == m.as_str() && v["online"] == online),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("{what}: the lead never heard {} {}", dev.name, if online { "online" } else { "offline" })
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_a_is_online_then_offline_for_a_lead_on_b() {
    let Some((a, b, team, lead_code)) = two_instances().await else { return };
    let mut lead = Dev::join(&a, &lead_code, "Sam").await;
    let alice = Dev::join(&a, &a.invite(team, Role::Member).await, "Alice").await;
    lead.base = b.base_url.clone();
    let mut leads = open_live(&lead).await;

    let alices = open_live(&alice).await;
    presence_of(&mut leads, &alice, true, "Alice connected to A").await;
    // A stream opened on B now starts with Alice online; B's board says so.
    let mut again = open_live(&lead).await;
    presence_of(&mut again, &alice, true, "a new stream on B").await;
    drop(again);

    drop(alices);
    presence_of(&mut leads, &alice, false, "Alice's stream on A ended").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_of_a_crashed_instance_go_offline_in_bounded_time() {
    let Backend::Postgres { .. } = Backend::from_env() else {
        eprintln!("several instances share a PostgreSQL database: run with KITH_TEST_BACKEND=postgres");
        return;
    };
    let a = TestServer::start_with(|c| c.limits.presence_ttl_ms = 600).await;
    let (team, lead_code) = a.create_team("Night shift").await;
    let lead = Dev::join(&a, &lead_code, "Sam").await;
    let mut alice = Dev::join(&a, &a.invite(team, Role::Member).await, "Alice").await;
    let mut leads = open_live(&lead).await;

    // Another instance, a real process, holds Alice's stream.
    let url = a.admin_args()[1].clone();
    let mut other = Instance::start_with(&[("KITH_LIMITS__PRESENCE_TTL_MS", "600")], "other", &url).await;
    alice.base = other.url.clone();
    let alices = open_live(&alice).await;
    presence_of(&mut leads, &alice, true, "Alice connected to the other instance").await;

    other.kill();
    presence_of(&mut leads, &alice, false, "the other instance crashed").await;
    drop(alices);
}
