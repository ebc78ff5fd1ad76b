//! A join stores the device, then adds its member to the team document's roster. When that second
//! write fails (the disk filled up in between), the member still joined: the roster is repaired
//! as soon as storage takes writes again — by the next join, by the background retry, or at the
//! next start — so nobody who joined is missing from their team for good.

use crate::common;
use common::*;
use kith_domain::{Role, TeamId};
use kith_server::testing::TestServer;

async fn roster(server: &TestServer, team: TeamId) -> Vec<String> {
    let doc = server_doc(server, team.uuid()).await.expect("the team document");
    let mut names: Vec<String> =
        kith_domain::doc::team::read(&doc).unwrap().members.into_iter().map(|m| m.name).collect();
    names.sort();
    names
}

/// Joins with the disk full: the join itself stands (the device is registered), the roster
/// write is refused.
async fn join_while_the_disk_is_full(server: &TestServer, team: TeamId, name: &str) -> Dev {
    let code = server.invite(team, Role::Member).await;
    let faults = server.storage_faults();
    faults.fill_disk();
    let dev = Dev::join(server, &code, name).await;
    assert!(faults.refused_appends() >= 1, "the roster write met the full disk");
    faults.free_disk();
    dev
}

#[tokio::test]
async fn the_next_join_puts_the_missing_member_on_the_roster() {
    let server = TestServer::start_with_storage_faults(|_| {}).await;
    let (team, lead_code) = server.create_team("North estate").await;
    Dev::join(&server, &lead_code, "Sam").await;
    join_while_the_disk_is_full(&server, team, "Alice").await;

    let code = server.invite(team, Role::Member).await;
    Dev::join(&server, &code, "Bob").await;
    assert_eq!(roster(&server, team).await, ["Alice", "Bob", "Sam"]);
}

#[tokio::test]
async fn a_restart_puts_the_missing_member_on_the_roster() {
    let mut server = TestServer::start_with_storage_faults(|_| {}).await;
    let (team, lead_code) = server.create_team("North estate").await;
    Dev::join(&server, &lead_code, "Sam").await;
    let code = server.invite(team, Role::Member).await;
    // Stopped before the background retry could run: only the start can repair it.
    server.storage_faults().fill_disk();
    Dev::join(&server, &code, "Alice").await;
    server.stop().await;
    server.storage_faults().free_disk();
    server.start_again().await;
    assert_eq!(roster(&server, team).await, ["Alice", "Sam"]);
}

#[tokio::test]
async fn the_background_retry_puts_the_missing_member_on_the_roster() {
    let server = TestServer::start_with_storage_faults(|_| {}).await;
    let (team, lead_code) = server.create_team("North estate").await;
    let sam = Dev::join(&server, &lead_code, "Sam").await;
    let mut sams = open_live(&sam).await;
    join_while_the_disk_is_full(&server, team, "Alice").await;
    // Nobody else joins and the server keeps running: the retry (0.5 s, then doubling) stores the
    // roster edit, and the lead's live channel is poked for the team document. The bound only
    // turns a repair that never comes (the defect) into a failure instead of a hang.
    let team_doc = team.uuid().to_string();
    let repaired = async {
        // A poke of Sam's own join may still be on its way: look again at each poke.
        while roster(&server, team).await != ["Alice", "Sam"] {
            let is_team_doc =
                |v: &serde_json::Value| v["docs"].as_array().is_some_and(|d| d.iter().any(|d| *d == *team_doc));
            next_live(&mut sams, "changed", is_team_doc).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), repaired)
        .await
        .expect("the roster was repaired in the background");
    assert_eq!(roster(&server, team).await, ["Alice", "Sam"]);
}
