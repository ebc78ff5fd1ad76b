//! The background engine syncs after a local change, and a lead's device syncs by itself when the
//! live channel pokes it: a check-in on one device shows on the other with nobody pressing "sync".

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kith_domain::doc::shift;
use kith_domain::*;
use kith_server::testing::TestServer;
use kith_stories::*;
use kith_sync::runner::{self, RunnerOptions, SyncStatus};
use tokio::sync::watch;

/// Waits (without polling on a timer) until the status satisfies `ok`; fails after a generous bound.
async fn until(rx: &mut watch::Receiver<SyncStatus>, what: &str, ok: impl Fn(&SyncStatus) -> bool) -> SyncStatus {
    let waited =
        tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|s| ok(s))).await.map(|r| r.map(|s| s.clone()));
    match waited {
        Ok(Ok(s)) => s,
        _ => panic!("timed out waiting for {what}: {:?}", rx.borrow()),
    }
}

fn quick() -> RunnerOptions {
    RunnerOptions { debounce: Duration::from_millis(10), period: Duration::from_secs(3600), ..RunnerOptions::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkin_reaches_the_leads_device_through_a_live_poke() {
    let server = TestServer::start().await;
    let (lead, mut members) = team_of(&server, &["alice"]).await;
    let alice = members.remove(0);
    let (alice_client, lead_client) = (alice.client.clone(), lead.client.clone());
    let (alice_member, alice_device, team) = (alice.member, alice.device, alice.team);
    let alice_store = Arc::new(Mutex::new(alice.store));
    let lead_store = Arc::new(Mutex::new(lead.store));

    let lead_sync = runner::spawn(lead_store.clone(), lead_client, quick());
    let mut lead_status = lead_sync.watch_status();
    until(&mut lead_status, "the lead's first sync and live channel", |s| s.syncs >= 1 && s.live).await;

    let alice_sync = runner::spawn(alice_store.clone(), alice_client, quick());
    let mut alice_status = alice_sync.watch_status();
    until(&mut alice_status, "alice's first sync", |s| s.syncs >= 1).await;

    // Alice starts a shift and checks in; the engine is told, and does the rest.
    let s = Shift::begin(team, alice_member, "Meter readings", T0, T0 + Secs::hours(8), Secs::minutes(30));
    let c = CheckIn::new(CheckInStatus::Support, T0 + Secs::minutes(5), alice_member, alice_device);
    {
        let mut st = alice_store.lock().unwrap();
        st.create_doc(s.id.uuid(), "shift", |tx| shift::init(tx, &s).map_err(StoryError::from)).unwrap();
        st.change_doc(s.id.uuid(), |tx| shift::add_checkin(tx, &c).map_err(StoryError::from)).unwrap();
    }
    let before = alice_status.borrow().syncs;
    alice_sync.local_change();
    // (A sync already under way may finish first, still showing the changes as waiting.)
    let st =
        until(&mut alice_status, "alice's sync after the change", |st| st.syncs > before && st.pending_changes == 0)
            .await;
    assert!(st.online && st.last_error.is_none(), "{st:?}");

    // The lead's device learns of it from the live channel and syncs by itself.
    let mut seen = false;
    for _ in 0..50 {
        let got = {
            let mut l = lead_store.lock().unwrap();
            l.has_doc(s.id.uuid()).unwrap()
                && shift::read(l.doc(s.id.uuid()).unwrap()).unwrap().checkin(c.id) == Some(&c)
        };
        if got {
            seen = true;
            break;
        }
        let n = lead_status.borrow().syncs;
        until(&mut lead_status, "a poke-driven sync on the lead's device", |st| st.syncs > n).await;
    }
    assert!(seen, "the lead's device received alice's support request without being asked");
    alice_sync.stop();
    lead_sync.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_shows_offline_then_recovers_after_backoff() {
    let server = TestServer::start().await;
    let (_lead, mut members) = team_of(&server, &["alice"]).await;
    let alice = members.remove(0);
    let proxy = kith_stories::proxy::FaultyProxy::start(server.addr).await;
    proxy.set_fault(kith_stories::proxy::Fault::Refuse);
    let client = kith_sync::ServerClient::new(&proxy.url(), alice.client.token().map(str::to_string)).unwrap();
    let store = Arc::new(Mutex::new(alice.store));
    let opts = RunnerOptions {
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        live: false,
        ..quick()
    };
    let handle = runner::spawn(store, client, opts);
    let mut status = handle.watch_status();
    let st = until(&mut status, "the first failure", |s| s.last_error.is_some()).await;
    assert!(!st.online && !st.needs_attention, "a refused connection is worth retrying: {st:?}");

    proxy.set_fault(kith_stories::proxy::Fault::None);
    let st = until(&mut status, "recovery after backoff", |s| s.online).await;
    assert!(st.last_error.is_none() && st.last_synced_ms.is_some(), "{st:?}");
    handle.stop();
}
