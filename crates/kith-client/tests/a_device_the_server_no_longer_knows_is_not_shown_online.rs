//! The server is restored from a backup taken before a worker's device joined. The live channel
//! reconnects first and is refused (the device is unknown); no sync can succeed either, so the
//! app must not go on showing the device online with that error. It did: only a failed sync set
//! `online` to false, and a `sync_now` that the live channel's error woke returned that state.

use crate::common;

use common::{Device, PATIENCE, Server, team_backed_up_with_its_lead};
use kith_domain::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_refused_on_its_live_channel_is_not_shown_online() {
    let mut server = Server::start().await;
    let (team, _lead, backup) = team_backed_up_with_its_lead(&mut server).await;

    let alice = Device::joined(&server, team, Role::Member, "Alice Field").await;
    let mut status = alice.client.sync_handle().expect("joined, so syncing").watch_status();
    tokio::time::timeout(PATIENCE, status.wait_for(|s| s.live && s.online)).await.expect("live").expect("runner");

    server.stop().await;
    server.server.restore(&backup).await;
    server.start_again().await;

    // Nothing here asks for a sync: the live channel's reconnection is what hears the refusal.
    let refused = tokio::time::timeout(PATIENCE, status.wait_for(|s| s.device_unknown))
        .await
        .expect("the refusal is heard")
        .expect("runner")
        .clone();
    assert!(!refused.online && refused.needs_attention && !refused.live, "{refused:?}");
    let shown = alice.client.sync_state().await.unwrap();
    assert!(!shown.online && shown.device_unknown, "the app shows: {shown:?}");
}
