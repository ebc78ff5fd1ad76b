//! The app's commands through Tauri's IPC (the mock runtime: no display needed) against a real
//! kith-client on a temporary directory and an in-process team server: join, start a shift,
//! check in, and the state shows it; errors come back as the one ApiError shape.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kith_api::{ApiError, AppState, WriteResult};
use kith_app_lib::commands::NAMES;
use kith_client::Client;
use kith_server::testing::TestServer;
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;

/// The app's own origin (where the UI is served from): requests from elsewhere are refused.
#[cfg(any(windows, target_os = "android"))]
const APP_URL: &str = "http://tauri.localhost";
#[cfg(not(any(windows, target_os = "android")))]
const APP_URL: &str = "tauri://localhost";

fn invoke(webview: &tauri::WebviewWindow<tauri::test::MockRuntime>, cmd: &str, body: Value) -> Result<Value, Value> {
    get_ipc_response(
        webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: APP_URL.parse().unwrap(),
            body: InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().unwrap())
}

fn ok<T: serde::de::DeserializeOwned>(r: Result<Value, Value>) -> T {
    serde_json::from_value(r.unwrap_or_else(|e| panic!("command failed: {e}"))).unwrap()
}

#[test]
fn commands_drive_a_real_client() {
    let rt = tauri::async_runtime::handle();
    let server = rt.block_on(TestServer::start());
    let (_, code) = rt.block_on(server.create_team("North estate"));
    let dir = tempfile::tempdir().unwrap();
    let client = rt.block_on(Client::open(dir.path().join("kith"))).unwrap();
    let app = kith_app_lib::with_client(mock_builder(), client).build(mock_context(noop_assets())).unwrap();
    let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();

    let state: AppState = ok(invoke(&webview, "app_state", json!({})));
    assert!(!state.joined);

    let state: AppState =
        ok(invoke(&webview, "join", json!({"input": {"server": server.base_url, "code": code, "name": "Lee Lead"}})));
    assert!(state.joined);
    assert_eq!(state.me.unwrap().team_name, "North estate");

    let planned_end = kith_sync::now_ms() + 3 * 3_600_000;
    let started: WriteResult = ok(invoke(
        &webview,
        "start_shift",
        json!({"input": {"purpose": "Meter readings", "planned_end": planned_end, "interval_s": 3600, "buddies": []}}),
    ));
    assert!(started.shared);
    let checked: WriteResult =
        ok(invoke(&webview, "check_in", json!({"input": {"status": "ok", "mood": 4, "note": "All fine"}})));
    assert_eq!(checked.shift.checkins.len(), 1);

    let state: AppState = ok(invoke(&webview, "app_state", json!({})));
    let shift = state.shift.expect("on shift");
    assert_eq!(shift.purpose, "Meter readings");
    assert_eq!(shift.checkins[0].note.as_deref(), Some("All fine"));
    assert_eq!(state.sync.pending_changes, 0);

    // Commands whose input is all optional take none at all.
    let ended: WriteResult = ok(invoke(&webview, "end_shift", json!({})));
    assert!(!ended.shift.active);
    let history: Vec<Value> = ok(invoke(&webview, "history", json!({})));
    assert_eq!(history.len(), 1);

    // Errors are the one ApiError shape, with a code and a message saying what to do.
    let err: ApiError =
        serde_json::from_value(invoke(&webview, "check_in", json!({"input": {"status": "ok"}})).unwrap_err()).unwrap();
    assert_eq!(err.code, "not_on_shift");
    assert!(err.message.contains("start a shift"), "{}", err.message);
    assert!(!err.retryable);

    let link: Option<String> = ok(invoke(&webview, "pending_join_link", json!({})));
    assert_eq!(link, None);
}

#[test]
fn every_command_is_registered_and_allowed_by_the_capability() {
    let rt = tauri::async_runtime::handle();
    let dir = tempfile::tempdir().unwrap();
    let client = rt.block_on(Client::open(dir.path().join("kith"))).unwrap();
    let app = kith_app_lib::with_client(mock_builder(), client).build(mock_context(noop_assets())).unwrap();
    let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    for name in NAMES {
        // Not joined: each either answers or refuses in the ApiError shape; none is unknown.
        if let Err(e) = invoke(&webview, name, json!({})) {
            let text = e.to_string();
            assert!(!text.contains("not found") && !text.contains("not allowed"), "{name}: {text}");
        }
    }

    let cap: Value = serde_json::from_str(include_str!("../capabilities/default.json")).unwrap();
    let allowed: Vec<&str> = cap["permissions"].as_array().unwrap().iter().filter_map(|p| p.as_str()).collect();
    for name in NAMES {
        let perm = format!("allow-{}", name.replace('_', "-"));
        assert!(allowed.contains(&perm.as_str()), "the capability does not allow {name}");
    }
    let others: Vec<&&str> =
        allowed.iter().filter(|p| !NAMES.iter().any(|n| **p == format!("allow-{}", n.replace('_', "-")))).collect();
    assert_eq!(
        others,
        [&"core:event:allow-listen", &"core:event:allow-unlisten", &"notification:default"],
        "nothing beyond what the UI uses"
    );
}

/// With the app's real configuration and capability (as built by build.rs), the main window may
/// call the commands and any other window may not.
#[test]
fn only_the_main_window_may_call_the_commands() {
    let rt = tauri::async_runtime::handle();
    let dir = tempfile::tempdir().unwrap();
    let client = rt.block_on(Client::open(dir.path().join("kith"))).unwrap();
    let mut context: tauri::Context<tauri::test::MockRuntime> = tauri::generate_context!();
    // The real window list would open a window at start; the test opens its own.
    context.config_mut().app.windows.clear();
    let app = kith_app_lib::with_client(mock_builder(), client).build(context).unwrap();
    let main = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    let state: AppState = ok(invoke(&main, "app_state", json!({})));
    assert!(!state.joined);
    let other = tauri::WebviewWindowBuilder::new(&app, "other", Default::default()).build().unwrap();
    let refused = invoke(&other, "app_state", json!({})).unwrap_err();
    assert!(refused.to_string().contains("not allowed"), "{refused}");
}
