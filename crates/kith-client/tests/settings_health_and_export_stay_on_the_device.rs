//! Settings persist across restarts and shape check-ins; health and the export come from this
//! device's documents; the export never contains the device's credential.

use crate::common;

use common::{Team, in_hours};
use kith_api::Settings;
use kith_client::{CheckInInput, Client, EndInput, HealthInput, SaveSettingsInput, StartShiftInput};
use kith_domain::{CheckInStatus, LocationPrecision, Visibility};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_health_and_export_stay_on_the_device() {
    let t = Team::new().await;
    let w = &t.worker.client;
    let settings = Settings {
        location_precision: LocationPrecision::Coarse,
        note_visibility: Visibility::Leads,
        ..Settings::default()
    };
    let state = w.save_settings(SaveSettingsInput { settings: settings.clone() }).await.unwrap();
    assert_eq!(state.settings, settings);

    w.start_shift(StartShiftInput {
        purpose: Some("Visits".into()),
        planned_end: in_hours(2),
        interval_s: None,
        buddies: None,
    })
    .await
    .unwrap();
    let r = w
        .check_in(CheckInInput {
            status: CheckInStatus::Ok,
            mood: None,
            confidence: Some(4),
            note: Some("Private to leads".into()),
            note_visibility: None,
            lat: Some(51.507_351),
            lon: Some(-0.127_758),
        })
        .await
        .unwrap();
    let c = &r.shift.checkins[0];
    assert_eq!(c.note_visibility, Some(Visibility::Leads), "the settings' default visibility");
    let loc = c.location.as_ref().expect("shared at the chosen precision");
    assert_eq!(loc.precision, LocationPrecision::Coarse);
    assert_eq!((loc.lat, loc.lon), (51.51, -0.13), "coarse: about a kilometre");
    let ended = w.end_shift(EndInput { note: Some("Home".into()) }).await.unwrap();
    assert!(!ended.shift.active);

    let h = w.health(HealthInput { days: 28 }).await.unwrap();
    assert_eq!(h.worker.shifts, 1);
    assert_eq!(h.worker.checkins, 1);
    assert!(h.team.is_none(), "a member sees only their own figures");
    t.lead.client.sync_now().await.unwrap();
    let lead_h = t.lead.client.health(HealthInput { days: 28 }).await.unwrap();
    assert!(lead_h.team.is_some(), "a lead sees the team's");

    let export = w.export_data().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&export).unwrap();
    assert_eq!(v["shifts"].as_array().unwrap().len(), 1);
    assert_eq!(v["settings"]["note_visibility"], "leads");
    let token = {
        let store = kith_store::Store::open(w.data_dir().join("kith.db")).unwrap();
        kith_client::profile::read_link(&store).unwrap().unwrap().token().unwrap().to_string()
    };
    assert!(!export.contains(&token), "the export never holds the device's credential");

    let dir = w.data_dir().to_path_buf();
    let reopened = Client::open(&dir).await.unwrap();
    let s = reopened.state().await.unwrap();
    assert_eq!(s.settings.location_precision, LocationPrecision::Coarse);
    assert_eq!(s.settings.last_purpose.as_deref(), Some("Visits"));
    assert_eq!(s.last_shift.map(|l| l.purpose), Some("Visits".to_string()));
}
