//! The page sends events in [`Event`]'s serde form; the bindings read them field by field
//! (`kith_web::event_from_js`, smaller than serde's derived reading). Every event and command, as
//! JSON the derived reading takes (with fields in other orders, optional ones left out), reads
//! the same through the bindings; what the derived reading refuses, they refuse too. A sync's
//! answer comes as CBOR through `Engine::answered` only.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::js;
use kith_core::{Command, Event};
use kith_web::event_from_js;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const SHIFT: &str = "00000000-0000-4000-8000-0000000000a1";
const CHECKIN: &str = "00000000-0000-4000-8000-0000000000b2";

/// A command of every kind: adding one to [`Command`] fails to compile here until it has a sample.
fn sample(c: &Command) -> &'static str {
    match c {
        Command::AppState => r#"{"event":"command","id":1,"command":"app_state"}"#,
        Command::Join(_) => {
            r#"{"event":"command","id":2,"command":"join","input":{"server":"https://kith.test","code":"ABCD-1234","name":"Alice"}}"#
        }
        Command::StartShift(_) => {
            r#"{"event":"command","id":3,"command":"start_shift","input":{"planned_end":1800000000000,"purpose":"Visits","interval_s":3600,"buddies":[]}}"#
        }
        Command::CheckIn(_) => {
            r#"{"input":{"status":"ok","mood":4,"note":"fine","lat":51.5,"lon":-0.1},"command":"check_in","id":4,"event":"command"}"#
        }
        Command::ExtendShift(_) => {
            r#"{"event":"command","id":5,"command":"extend_shift","input":{"new_end":1800000360000,"reason":"late bus"}}"#
        }
        Command::EndShift(_) => r#"{"event":"command","id":6,"command":"end_shift","input":{}}"#,
        Command::Ack(_) => {
            r#"{"event":"command","id":7,"command":"ack","input":{"shift":"SHIFT","checkin":"CHECKIN","reply":"thanks"}}"#
        }
        Command::Shift(_) => r#"{"event":"command","id":8,"command":"shift","input":{"id":"SHIFT"}}"#,
        Command::History(_) => r#"{"event":"command","id":9,"command":"history","input":{}}"#,
        Command::Health(_) => r#"{"event":"command","id":10,"command":"health","input":{"days":7}}"#,
        Command::SaveSettings(_) => {
            r#"{"event":"command","id":11,"command":"save_settings","input":{"settings":{"location_precision":"none","note_visibility":"team","buddies":[],"last_purpose":null,"last_interval_s":null,"last_mood":3,"last_confidence":null}}}"#
        }
        Command::ExportData => r#"{"event":"command","id":12,"command":"export_data"}"#,
        Command::LocalBoard => r#"{"event":"command","id":13,"command":"local_board"}"#,
        Command::Reminders => r#"{"event":"command","id":14,"command":"reminders"}"#,
        Command::SyncNow => r#"{"event":"command","id":15,"command":"sync_now"}"#,
    }
}

/// One sample of every command, ready to send.
fn every_command() -> Vec<String> {
    use kith_api::input::*;
    let shift = SHIFT.parse().unwrap();
    let checkin = CHECKIN.parse().unwrap();
    [
        Command::AppState,
        Command::Join(JoinInput::default()),
        Command::StartShift(StartShiftInput {
            purpose: None,
            planned_end: kith_domain::Timestamp(0),
            interval_s: None,
            buddies: None,
        }),
        Command::CheckIn(CheckInInput {
            status: kith_domain::CheckInStatus::Ok,
            mood: None,
            confidence: None,
            note: None,
            note_visibility: None,
            lat: None,
            lon: None,
        }),
        Command::ExtendShift(ExtendInput { new_end: kith_domain::Timestamp(0), reason: String::new() }),
        Command::EndShift(EndInput::default()),
        Command::Ack(AckInput { shift, checkin, reply: None }),
        Command::Shift(ShiftInput { id: shift }),
        Command::History(HistoryInput::default()),
        Command::Health(HealthInput { days: 1 }),
        Command::SaveSettings(SaveSettingsInput { settings: kith_api::Settings::default() }),
        Command::ExportData,
        Command::LocalBoard,
        Command::Reminders,
        Command::SyncNow,
    ]
    .iter()
    .map(|c| sample(c).replace("SHIFT", SHIFT).replace("CHECKIN", CHECKIN))
    .collect()
}

/// What the derived reading makes of `json`, and what the bindings make of it, agree.
fn same(json: &str) {
    let derived = serde_json::from_str::<Event>(json).ok();
    let bound = event_from_js(&js(json)).ok();
    assert_eq!(bound, derived, "{json}");
}

#[wasm_bindgen_test]
fn every_command_reads_as_the_derived_form_reads_it() {
    let commands = every_command();
    for json in &commands {
        assert!(serde_json::from_str::<Event>(json).is_ok(), "the sample is the serde form: {json}");
        same(json);
    }
    // What the derived form writes reads back the same.
    for json in &commands {
        let event = serde_json::from_str::<Event>(json).unwrap();
        let written = serde_json::to_string(&event).unwrap();
        assert_eq!(event_from_js(&js(&written)).ok(), Some(event), "{written}");
    }
}

#[wasm_bindgen_test]
fn every_other_event_reads_as_the_derived_form_reads_it() {
    for json in [
        r#"{"event":"persisted","task":3}"#,
        r#"{"task":3,"event":"persisted"}"#,
        r#"{"event":"persist_failed","task":4,"error":"QuotaExceededError"}"#,
        r#"{"event":"sync_failed","task":5,"failure":{"message":"Offline","retryable":true}}"#,
        r#"{"event":"sync_failed","task":5,"failure":{"message":"Busy","retryable":true,"retry_after_ms":2000,"unauthorized":false,"code":"busy"}}"#,
        r#"{"event":"join_failed","task":6,"failure":{"message":"Offline","retryable":true,"code":"offline"}}"#,
        r#"{"event":"joined","task":7,"response":{"team_id":"00000000-0000-4000-8000-000000000001","team_name":"North","member_id":"00000000-0000-4000-8000-000000000002","device_id":"00000000-0000-4000-8000-000000000003","role":"member","token":"t","server_time":1800000000000}}"#,
        r#"{"event":"wake"}"#,
        r#"{"event":"poke"}"#,
        r#"{"event":"live","up":true}"#,
        r#"{"event":"live","up":false}"#,
    ] {
        same(json);
        assert!(event_from_js(&js(json)).is_ok(), "{json}");
    }
}

#[wasm_bindgen_test]
fn what_the_derived_form_refuses_the_bindings_refuse() {
    for json in [
        r#"{"event":"explode"}"#,
        r#"{}"#,
        r#"[1,2]"#,
        r#""poke""#,
        r#"{"event":3}"#,
        r#"{"event":"persisted"}"#,
        r#"{"event":"persisted","task":"three"}"#,
        r#"{"event":"live"}"#,
        r#"{"event":"command","id":1}"#,
        r#"{"event":"command","command":"app_state"}"#,
        r#"{"event":"command","id":1,"command":"check_in"}"#,
        r#"{"event":"command","id":1,"command":"check_in","input":{"status":"fine"}}"#,
        r#"{"event":"command","id":1,"command":"fly"}"#,
        r#"{"event":"sync_failed","task":5}"#,
    ] {
        assert!(serde_json::from_str::<Event>(json).is_err(), "the derived form refuses {json}");
        assert!(event_from_js(&js(json)).is_err(), "the bindings refuse {json}");
    }
}

/// The one difference, by design: a sync's answer reaches the engine as the server's CBOR body
/// (`Engine::answered`, as `ui/src/lib/backend/wasm.ts` sends it); as a JS object it is refused
/// with a message saying so (reading the protocol from JS values would cost the module ~17 KB).
#[wasm_bindgen_test]
fn a_sync_answer_as_an_object_is_refused_with_where_it_goes() {
    let json = r#"{"event":"sync_answered","task":8,"response":{"protocol":2,"server_time":1800000000000,"docs":[],"feed":[],"cursor":{"seq":7,"hash":null},"more":false,"reset":false}}"#;
    assert!(serde_json::from_str::<Event>(json).is_ok());
    let e = event_from_js(&js(json)).unwrap_err();
    assert!(common::message(e).contains("Engine.answered"));
}
