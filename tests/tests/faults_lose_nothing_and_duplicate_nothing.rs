//! Connections cut mid-request and mid-response, duplicated and reordered requests, and a server
//! restarted in the middle of it all: every check-in arrives exactly once.

use futures_util::future::join_all;
use kith_domain::CheckInStatus;
use kith_server::testing::TestServer;
use kith_stories::proxy::{Fault, FaultyProxy};
use kith_stories::*;
use kith_sync::{SyncError, absorb, prepare};

/// What the lead's device holds for a shift after syncing: check-in ids, each exactly once.
async fn lead_view(lead: &mut Device, shift: kith_domain::ShiftId) -> Vec<kith_domain::CheckInId> {
    lead.sync().await.expect("lead sync");
    ids(&lead.shift(shift).expect("lead has the shift")).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_mid_request_or_mid_response_loses_and_duplicates_nothing() {
    let server = TestServer::start().await;
    let (mut lead, mut members) = team_of(&server, &["alice"]).await;
    let mut alice = members.remove(0);
    let proxy = FaultyProxy::start(server.addr).await;
    alice.use_server(&proxy.url());
    alice.sync().await.unwrap();
    let shift = alice.start_shift("Rounds");
    let mut made = Vec::new();

    for (i, fault) in [
        Fault::CutRequestAfter(40),
        Fault::CutRequestAfter(400),
        Fault::CutResponseAfter(20),
        Fault::CutResponseAfter(300),
        Fault::Refuse,
    ]
    .into_iter()
    .enumerate()
    {
        made.push(alice.checkin(shift, CheckInStatus::Ok, at(i as i64 * 10)).id);
        proxy.set_fault(fault);
        // A new client: faults apply to new connections, and reqwest would reuse a pooled one.
        alice.use_server(&proxy.url());
        let err = alice.sync().await.expect_err("the cut connection fails the sync");
        assert!(err.retryable(), "{fault:?}: a cut connection is worth retrying: {err}");
        assert!(matches!(err, SyncError::Offline { .. } | SyncError::Timeout { .. }), "{fault:?}: {err}");
        proxy.set_fault(Fault::None);
        alice.sync().await.expect("the retry goes through");
        assert_eq!(alice.pending(), 0);
    }
    assert!(proxy.cuts() >= 5);

    let mut seen = lead_view(&mut lead, shift).await;
    let n = seen.len();
    seen.dedup();
    assert_eq!(seen.len(), n, "no check-in twice");
    made.sort();
    assert_eq!(seen, made, "every check-in once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_requests_are_harmless() {
    let server = TestServer::start().await;
    let (mut lead, mut members) = team_of(&server, &["alice"]).await;
    let mut alice = members.remove(0);
    alice.sync().await.unwrap();
    let shift = alice.start_shift("Rounds");

    // Two requests built from two successive states, as a flaky network might deliver them.
    let c1 = alice.checkin(shift, CheckInStatus::Ok, at(1));
    let first = prepare(&mut alice.store, 0).unwrap();
    let c2 = alice.checkin(shift, CheckInStatus::Support, at(2));
    let second = prepare(&mut alice.store, 0).unwrap();

    // The later one arrives first, then the earlier one, then both again.
    for req in [&second, &first, &second, &first] {
        let resp = alice.client.sync(req).await.expect("each delivery is answered");
        absorb(&mut alice.store, req, &resp, 0, 0).expect("absorb");
    }
    alice.sync().await.unwrap();
    assert_eq!(alice.pending(), 0);

    let mut expected = vec![c1.id, c2.id];
    expected.sort();
    assert_eq!(lead_view(&mut lead, shift).await, expected);
    assert_eq!(alice.heads(shift), lead.heads(shift));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restarted_while_devices_sync_loses_nothing() {
    let mut server = TestServer::start().await;
    let (mut lead, mut members) = team_of(&server, &["alice", "bo", "cy"]).await;
    let proxy = FaultyProxy::start(server.addr).await;
    let mut shifts = Vec::new();
    for m in members.iter_mut() {
        m.use_server(&proxy.url());
        m.sync().await.unwrap();
        shifts.push(m.start_shift("Rounds"));
    }
    let mut made = vec![Vec::new(); members.len()];
    for round in 0..4i64 {
        for (i, m) in members.iter_mut().enumerate() {
            made[i].push(m.checkin(shifts[i], CheckInStatus::Ok, at(round * 30)).id);
        }
        // Devices sync concurrently while the server shuts down and comes back on another port:
        // some syncs finish, some are cut, some find nobody listening. None may lose anything.
        let syncs = join_all(members.iter_mut().map(|m| m.sync()));
        let restart = async {
            server.restart().await;
            proxy.set_target(server.addr);
        };
        let (results, ()) = tokio::join!(syncs, restart);
        for r in results {
            if let Err(e) = r {
                assert!(e.retryable(), "a restart only ever causes retryable failures: {e}");
            }
        }
    }
    for m in members.iter_mut() {
        m.sync().await.expect("after the restarts, sync goes through");
        assert_eq!(m.pending(), 0, "{} has nothing left to send", m.name);
    }
    lead.use_server(&server.base_url);
    for (i, shift) in shifts.iter().enumerate() {
        let mut expected = made[i].clone();
        expected.sort();
        assert_eq!(lead_view(&mut lead, *shift).await, expected, "{}'s check-ins, each once", members[i].name);
    }
}
