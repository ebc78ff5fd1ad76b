//! What the page hands the engine wrongly (an event it does not know, a command without its
//! input, stored records of the wrong shape, an answer that is not the protocol's CBOR) comes
//! back as a clear error or a failed sync, never a trap that would take the page's engine down.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Phone, SERVER, T0, js, message};
use kith_core::Records;
use kith_web::Engine;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn an_unknown_event_or_a_missing_input_is_an_error_the_page_can_show() {
    let mut phone = Phone::open(Records::default(), T0, true);
    let e = phone.engine.handle(T0, js(r#"{"event":"explode"}"#)).unwrap_err();
    assert!(message(e).contains("explode"), "names what it did not know");
    let e = phone.engine.handle(T0, js(r#"{"event":"command","id":1,"command":"check_in"}"#)).unwrap_err();
    assert!(!message(e).is_empty());
    // The engine still works.
    let state = phone.ask("app_state", None);
    assert_eq!(state["Ok"]["joined"], false, "{state}");
}

#[wasm_bindgen_test]
fn stored_records_of_the_wrong_shape_are_refused_plainly() {
    let e = Engine::open(js(r#"{"docs":"not a list"}"#), T0, "Kith in a test".into(), 1.0).unwrap_err();
    assert!(!message(e).is_empty());
}

#[wasm_bindgen_test]
fn an_answer_that_is_not_the_protocol_fails_the_sync_and_keeps_the_checkin() {
    let mut phone = Phone::open(Records::default(), T0, false);
    let joined =
        phone.ask("join", Some(&format!(r#"{{"server":"{SERVER}","code":"ABCD-1234","name":"Alice Field"}}"#)));
    assert_eq!(joined["Ok"]["joined"], true, "{joined}");
    phone.offline = true;
    let planned_end = T0 + 8.0 * 3_600_000.0;
    phone.ask("start_shift", Some(&format!(r#"{{"purpose":"Visits","planned_end":{planned_end}}}"#)));
    phone.ask("check_in", Some(r#"{"status":"ok"}"#));

    // A proxy's page where the server's CBOR should be.
    phone.offline = false;
    phone.garbled = true;
    phone.statuses.clear();
    let sent = phone.sent.len();
    phone.event(r#"{"event":"poke"}"#);
    assert_eq!(phone.sent.len(), sent + 1, "the poke sent the check-in");
    let status = phone.statuses.last().expect("the sync state is shown").clone();
    let error = status["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("cannot read"), "{status}");
    assert!(status["pending_changes"].as_u64().unwrap() > 0, "still waiting to sync: {status}");
}
