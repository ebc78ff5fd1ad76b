//! The WebAssembly bindings as the page uses them, in Chromium (wasm-bindgen-test): a new phone
//! opens with nothing stored, joins, starts a shift and checks in three times with no network.
//! Every value crosses as the page gives and gets it (commands and events as plain objects,
//! writes and request bodies as Uint8Array, replies as `{Ok}`/`{Err}`), each write is answered
//! only once its persist is reported committed, and a new engine opened from what was stored (a
//! reload, a browser restart) has the shift, the three check-ins and the credential.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Phone, SERVER, T0};
use kith_core::Records;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn offline_checkins_cross_the_bindings_and_survive_reopening() {
    let mut phone = Phone::open(Records::default(), T0, false);
    assert!(phone.engine.token().is_none(), "a new device has no credential");
    assert!(!phone.stored.meta.is_empty(), "a new device stores its identity when it opens");

    let joined =
        phone.ask("join", Some(&format!(r#"{{"server":"{SERVER}","code":"ABCD-1234","name":"Alice Field"}}"#)));
    assert_eq!(joined["Ok"]["joined"], true, "{joined}");
    assert_eq!(phone.engine.token().as_deref(), Some("kith_secret"));
    assert_eq!(phone.engine.server().as_deref(), Some(SERVER));
    assert!(!phone.sent.is_empty(), "joining syncs (the body decoded as the protocol's CBOR)");

    phone.offline = true;
    let planned_end = T0 + 8.0 * 3_600_000.0;
    let started =
        phone.ask("start_shift", Some(&format!(r#"{{"purpose":"Meter readings","planned_end":{planned_end}}}"#)));
    assert_eq!(started["Ok"]["shared"], false, "{started}");
    for i in 1..=3 {
        phone.now += 60_000.0;
        let w = phone.ask("check_in", Some(r#"{"status":"ok","note":"block done"}"#));
        assert_eq!(w["Ok"]["shared"], false, "offline: saved here, not shared: {w}");
        assert!(w["Ok"]["queued"].as_str().is_some_and(|q| q.starts_with("Offline")), "says why: {w}");
        assert_eq!(w["Ok"]["shift"]["checkins"].as_array().map(Vec::len), Some(i), "{w}");
    }
    let state = phone.ask("app_state", None);
    let waiting = state["Ok"]["sync"]["pending_changes"].as_u64().unwrap();
    assert_eq!(waiting, 4, "the start and the three check-ins wait to sync: {state}");
    assert_eq!(state["Ok"]["sync"]["online"], false);

    // A reload: a new engine over what was stored, and nothing else.
    let stored = phone.stored.clone();
    let now = phone.now + 1_000.0;
    drop(phone);
    let mut again = Phone::open(stored, now, true);
    assert_eq!(again.engine.token().as_deref(), Some("kith_secret"), "the credential was stored");
    assert_eq!(again.engine.server().as_deref(), Some(SERVER));
    let state = again.ask("app_state", None);
    assert_eq!(state["Ok"]["joined"], true, "{state}");
    assert_eq!(state["Ok"]["me"]["name"], "Alice Field", "{state}");
    let checkins = state["Ok"]["shift"]["checkins"].as_array().expect("the running shift");
    assert_eq!(checkins.len(), 3, "{state}");
    assert_eq!(state["Ok"]["sync"]["pending_changes"].as_u64(), Some(waiting), "{state}");
    assert!(again.engine.stored_bytes() > 0.0);
}
