//! Offline, the board comes from this device's documents and says when they last synced.

use crate::common;

use common::{Team, in_hours};
use kith_api::BoardSource;
use kith_client::StartShiftInput;
use kith_domain::rules::BoardStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_falls_back_to_this_devices_documents() {
    let mut t = Team::new().await;
    t.worker
        .client
        .start_shift(StartShiftInput {
            purpose: Some("Surveying".into()),
            planned_end: in_hours(2),
            interval_s: Some(1800),
            buddies: None,
        })
        .await
        .unwrap();
    t.lead.client.sync_now().await.unwrap();
    let live = t.lead.client.board().await.unwrap();
    assert_eq!(live.source, BoardSource::Server);
    assert_eq!(live.team_name, "North estate");

    t.server.stop().await;
    let local = t.lead.client.board().await.unwrap();
    assert_eq!(local.source, BoardSource::Local);
    assert!(local.synced_at.is_some(), "an offline board says when it last synced");
    assert_eq!(local.rows.len(), 2);
    let alice = local.rows.iter().find(|r| r.name == "Alice Field").unwrap();
    assert_eq!(alice.status, BoardStatus::Fine);
    assert_eq!(alice.purpose.as_deref(), Some("Surveying"));
    assert_eq!(local.rows[0].name, "Alice Field", "on shift sorts before off shift");
}
