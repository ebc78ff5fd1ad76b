//! Events from the page, read field by field ([`event_from_js`]). The page sends them in
//! [`Event`]'s serde form (`{"event": "command", "id": 1, "command": "check_in", "input": {..}}`,
//! `{"event": "persisted", "task": 3}`); serde's derived reading of that internally tagged form
//! (with the command flattened in) buffers the whole object in its generic `Content` tree first,
//! which costs the WebAssembly ~60 KB. Here the tag is read first and each variant's fields are
//! deserialised straight into their types (through their JSON text, `crate::js`). The representation is unchanged: the tests
//! (`tests/events_cross_in_their_serde_form.rs`) send every variant as serde writes it.

use crate::js::{field, from_js};
use kith_core::{Command, Event};
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

/// Field `name`, deserialised as a `T` (an absent field reads as `undefined`: fine for options).
fn take<T: DeserializeOwned>(obj: &JsValue, name: &str) -> Result<T, JsError> {
    from_js(&field(obj, name)?).map_err(|e| JsError::new(&format!("`{name}`: {e}")))
}

/// A tag (`event`, `command`): a string, or a clear error naming what came instead.
fn tag(obj: &JsValue, name: &str) -> Result<String, JsError> {
    field(obj, name)?.as_string().ok_or_else(|| JsError::new(&format!("`{name}` is missing or not a string")))
}

/// Reads one event in [`Event`]'s serde form.
///
/// # Errors
/// An unknown event or command, or a field of the wrong type or missing, named in the message.
pub fn event_from_js(v: &JsValue) -> Result<Event, JsError> {
    if !v.is_object() {
        return Err(JsError::new("an event is an object such as {\"event\": \"poke\"}"));
    }
    let name = tag(v, "event")?;
    Ok(match name.as_str() {
        "command" => Event::Command { id: take(v, "id")?, command: command_from_js(v)? },
        "persisted" => Event::Persisted { task: take(v, "task")? },
        "persist_failed" => Event::PersistFailed { task: take(v, "task")?, error: take(v, "error")? },
        // The server's answer to a sync comes as its CBOR body, through `Engine::answered`: reading
        // it from a JS object as well would only add the protocol's whole reader for JS values.
        "sync_answered" => {
            return Err(JsError::new(
                "a sync answer goes to Engine.answered with the server's body, not to Engine.handle",
            ));
        }
        "sync_failed" => Event::SyncFailed { task: take(v, "task")?, failure: take(v, "failure")? },
        "joined" => Event::Joined { task: take(v, "task")?, response: take(v, "response")? },
        "join_failed" => Event::JoinFailed { task: take(v, "task")?, failure: take(v, "failure")? },
        "wake" => Event::Wake,
        "poke" => Event::Poke,
        "live" => Event::Live { up: take(v, "up")? },
        other => {
            return Err(JsError::new(&format!(
                "unknown event `{other}`: the engine knows command, persisted, persist_failed, sync_failed, \
                 joined, join_failed, wake, poke and live"
            )));
        }
    })
}

/// The command of an `{"event": "command"}`: its name in `command`, its input (if it has one)
/// in `input`, as [`Command`]'s adjacently tagged serde form has them.
fn command_from_js(v: &JsValue) -> Result<Command, JsError> {
    let name = tag(v, "command")?;
    let n = name.as_str();
    Ok(match n {
        "app_state" => Command::AppState,
        "join" => Command::Join(input(v, n)?),
        "start_shift" => Command::StartShift(input(v, n)?),
        "check_in" => Command::CheckIn(input(v, n)?),
        "extend_shift" => Command::ExtendShift(input(v, n)?),
        "end_shift" => Command::EndShift(input(v, n)?),
        "ack" => Command::Ack(input(v, n)?),
        "shift" => Command::Shift(input(v, n)?),
        "history" => Command::History(input(v, n)?),
        "health" => Command::Health(input(v, n)?),
        "save_settings" => Command::SaveSettings(input(v, n)?),
        "export_data" => Command::ExportData,
        "local_board" => Command::LocalBoard,
        "reminders" => Command::Reminders,
        "sync_now" => Command::SyncNow,
        other => return Err(JsError::new(&format!("unknown command `{other}`"))),
    })
}

/// A command's input, deserialised as the command's type.
fn input<T: DeserializeOwned>(v: &JsValue, what: &str) -> Result<T, JsError> {
    let input = field(v, "input")?;
    if input.is_undefined() {
        return Err(JsError::new(&format!("the command `{what}` needs its `input`")));
    }
    from_js(&input).map_err(|e| JsError::new(&format!("the input of `{what}`: {e}")))
}
