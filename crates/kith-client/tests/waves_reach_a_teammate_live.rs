//! A wave (kudos) goes through the server to the teammate's live channel and arrives as an
//! event; nothing is written into a document.

use crate::common;

use common::{PATIENCE, Team, next_event};
use kith_client::{ClientEvent, KudosInput};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waves_reach_a_teammate_live() {
    let t = Team::new().await;
    let worker_id = t.worker.client.state().await.unwrap().me.unwrap().member_id;
    // The wave is delivered only to a connected device: wait for the live channel.
    let mut status = t.worker.client.sync_handle().unwrap().watch_status();
    tokio::time::timeout(PATIENCE, status.wait_for(|s| s.live)).await.unwrap().unwrap();
    let mut events = t.worker.client.subscribe();

    t.lead.client.kudos(KudosInput { to: worker_id }).await.unwrap();
    let k = next_event(&mut events, |e| match e {
        ClientEvent::Kudos(k) => Some(k.clone()),
        _ => None,
    })
    .await;
    assert_eq!(k.from_name, "Lee Lead");
    assert_eq!(k.to, worker_id);

    let e = t.worker.client.kudos(KudosInput { to: worker_id }).await.unwrap_err();
    assert_eq!(e.code(), "invalid_input", "waving to yourself");
}
