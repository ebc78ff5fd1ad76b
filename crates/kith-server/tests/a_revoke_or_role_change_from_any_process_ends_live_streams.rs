//! A device's live stream (`/v1/live`) carries alert events about people (names, shifts,
//! check-ins), and what it may see was decided when it connected. So a revocation, or a change of
//! the member's role, ends that device's open streams at once, whichever process made it: this
//! server, the `kith-server admin revoke` command on the same data directory while the server runs,
//! or another server on the same database (SQLite file or PostgreSQL). The server follows the database's auth
//! generation for that (docs/architecture.md, *Live channel*). Other devices' streams go on.
//!
//! Each wait below is for an event (the stream's end); the bound only turns a stream that never
//! ends (the defect) into a failure instead of a hang.

use crate::common;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use kith_domain::Role;
use kith_server::testing::TestServer;
use serde_json::json;

/// Waits for `events` to end, skipping what comes before; fails if it never does.
async fn ends(events: &mut LiveEvents, what: &str) {
    let drained = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(e) = events.next().await {
            // Anything still delivered must not be news about people after the revocation.
            assert_ne!(e.event, "alert", "{what}: an alert event reached the stream");
        }
    })
    .await;
    assert!(drained.is_ok(), "{what}: the live stream is still open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_by_the_admin_command_ends_the_devices_open_stream() {
    let server = TestServer::start().await;
    let (lead, alice) = team_of_two(&server).await;
    let mut alices = open_live(&alice).await;
    let mut leads = open_live(&lead).await;

    // A separate process, on the same database, while the server holds the stream.
    let mut args = server.admin_args();
    args.extend(["admin".into(), "revoke".into(), alice.device.to_string()]);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kith-server"))
            .args(&args)
            .env_remove("KITH_DATA_DIR")
            .env_remove("KITH_DATABASE_URL")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    ends(&mut alices, "revoked by `kith-server admin revoke`").await;
    // The lead's stream goes on, and hears Alice went offline.
    let me = alice.member.to_string();
    next_live(&mut leads, "presence", |v| v["member_id"] == me.as_str() && v["online"] == false).await;
    assert_eq!(alice.get("/v1/live").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_changed_by_another_server_on_the_same_database_ends_the_stream() {
    let server = TestServer::start().await;
    let (lead, alice) = team_of_two(&server).await;
    let mut alices = open_live(&alice).await;
    let mut leads = open_live(&lead).await;

    // Another server on the same database makes Alice a lead (as its team document would).
    let other = server.open_another().await;
    assert_eq!(other.set_member_roles(alice.team, vec![(alice.member, Role::Lead)]).await.unwrap(), 1);
    other.close().await;

    ends(&mut alices, "a role changed by another server").await;
    // She reconnects, authorised afresh as a lead; the lead's stream went on.
    let me = alice.member.to_string();
    next_live(&mut leads, "presence", |v| v["member_id"] == me.as_str() && v["online"] == false).await;
    drop(open_live(&alice).await);
    assert_eq!(alice.get("/v1/devices").await.status(), 200, "a lead now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_changed_by_a_lead_on_this_server_ends_the_stream() {
    let server = TestServer::start().await;
    let (lead, alice) = team_of_two(&server).await;
    let mut alices = open_live(&alice).await;
    let r = lead.put_json(&format!("/v1/members/{}", alice.member), json!({"role": "lead"})).await;
    assert_eq!(r.status(), 200);
    ends(&mut alices, "a role changed from the console").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_from_the_console_ends_only_that_devices_stream() {
    let server = TestServer::start().await;
    let (lead, alice) = team_of_two(&server).await;
    let mut alices = open_live(&alice).await;
    let mut leads = open_live(&lead).await;
    let r = lead.post_json(&format!("/v1/devices/{}/revoke", alice.device), json!({})).await;
    assert_eq!(r.status(), 200);
    ends(&mut alices, "revoked from the console").await;
    let me = alice.member.to_string();
    next_live(&mut leads, "presence", |v| v["member_id"] == me.as_str() && v["online"] == false).await;
}
