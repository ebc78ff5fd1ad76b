//! An emergency raises an alert on the server at once; the lead's device hears of it (an
//! event, for a notification), lists it, claims it and resolves it.

use crate::common;

use common::{Team, next_event};
use kith_api::AlertState;
use kith_client::{AlertIdInput, AlertsInput, CheckInInput, ClientEvent, ResolveInput};
use kith_domain::CheckInStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_claimed_and_resolved_from_the_app() {
    let t = Team::new().await;
    let mut lead_events = t.lead.client.subscribe();
    t.worker
        .client
        .check_in(CheckInInput {
            status: CheckInStatus::Emergency,
            mood: None,
            confidence: None,
            note: Some("Car crash on the A1".into()),
            note_visibility: None,
            lat: None,
            lon: None,
        })
        .await
        .unwrap();
    let event = next_event(&mut lead_events, |e| match e {
        ClientEvent::Alert(v) => Some(v.clone()),
        _ => None,
    })
    .await;
    assert_eq!(event.alert.kind, "emergency", "{event:?}");

    let list = t.lead.client.alerts(AlertsInput::default()).await.unwrap();
    let alert = list.alerts.iter().find(|a| a.kind == "emergency").expect("the emergency alert");
    assert_eq!(alert.worker_name, "Alice Field");
    let claimed = t.lead.client.claim_alert(AlertIdInput { id: alert.id }).await.unwrap();
    assert_eq!(claimed.state, AlertState::Claimed);
    assert_eq!(claimed.claimed_by_name.as_deref(), Some("Lee Lead"));
    let empty = t.lead.client.resolve_alert(ResolveInput { id: alert.id, note: " ".into() }).await.unwrap_err();
    assert_eq!(empty.code(), "invalid_input");
    let resolved = t
        .lead
        .client
        .resolve_alert(ResolveInput { id: alert.id, note: "Phoned her: safe, waiting for recovery".into() })
        .await
        .unwrap();
    assert_eq!(resolved.state, AlertState::Resolved);
}
