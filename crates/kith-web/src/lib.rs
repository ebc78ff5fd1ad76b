//! The phone web app's engine: [`kith_core::Core`] compiled to WebAssembly. The same Automerge
//! documents, domain write functions, validation and sync protocol (CBOR, `kith-proto`) as the
//! desktop app; this device's own actor id and credential.
//!
//! JavaScript (`ui/src/lib/backend/wasm.ts`) is the driver: it loads what IndexedDB holds into
//! [`Engine::open`], passes events in ([`Engine::handle`], [`Engine::answered`]) and carries out
//! the effects that come out: it commits each `persist` in one IndexedDB transaction with
//! `durability: 'strict'` before answering `persisted`, POSTs each `sync` body (CBOR) to the
//! server with `fetch`, sets the one timer `wake_at` asks for, and shows replies, the sync state
//! and reminders. Values cross as plain JS objects (through JSON text; bytes as `Uint8Array`, see `js`).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use kith_core::{Core, CoreOptions, Effect, Event, Records};
use wasm_bindgen::prelude::*;

mod event;
mod js;
pub use event::event_from_js;
use js::{effects_to_js, records_from_js};

/// One device's engine in the page.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Engine {
    core: Core,
    /// The effects of opening, handed out by the first [`Engine::take_opening`].
    opening: Vec<Effect>,
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

#[wasm_bindgen]
impl Engine {
    /// Opens the engine over what IndexedDB holds (`{docs, sync, meta}`, see
    /// `kith_core::mem::Records`). `seed` seeds the jitter of retries.
    pub fn open(records: JsValue, now_ms: f64, device_label: String, seed: f64) -> Result<Engine, JsError> {
        let records: Records =
            if records.is_undefined() || records.is_null() { Records::default() } else { records_from_js(&records)? };
        let opts = CoreOptions { device_label, ..CoreOptions::default() };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (core, opening) = Core::load(records, now_ms as i64, opts, seed.to_bits()).map_err(js_err)?;
        Ok(Engine { core, opening })
    }

    /// The effects of opening (persist a new device's identity, the first timer, the state).
    pub fn take_opening(&mut self) -> Result<JsValue, JsError> {
        let e = std::mem::take(&mut self.opening);
        effects_to_js(&e)
    }

    /// Handles one event (a command, `persisted`, `persist_failed`, `sync_failed`, `joined`,
    /// `join_failed`, `wake`, `poke`, `live`) at device time `now_ms`; returns the effects.
    pub fn handle(&mut self, now_ms: f64, event: JsValue) -> Result<JsValue, JsError> {
        let event = event_from_js(&event)?;
        #[allow(clippy::cast_possible_truncation)]
        let effects = self.core.handle(now_ms as i64, event);
        effects_to_js(&effects)
    }

    /// The server's answer to sync `task` (its CBOR body). An answer that is not a sync response
    /// is a failed sync (the server or a proxy sent something else).
    pub fn answered(&mut self, now_ms: f64, task: f64, body: &[u8]) -> Result<JsValue, JsError> {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let task = task as u64;
        let event = match kith_proto::decode(body) {
            Ok(response) => Event::SyncAnswered { task, response },
            Err(e) => Event::SyncFailed {
                task,
                failure: kith_core::Failure {
                    message: format!(
                        "the team server answered something this version of Kith cannot read ({e}): reload the page to update Kith"
                    ),
                    ..kith_core::Failure::default()
                },
            },
        };
        #[allow(clippy::cast_possible_truncation)]
        let effects = self.core.handle(now_ms as i64, event);
        effects_to_js(&effects)
    }

    /// This device's credential, for `Authorization: Bearer` (none before joining).
    pub fn token(&self) -> Option<String> {
        self.core.token().map(str::to_string)
    }

    /// The team server this device syncs with.
    pub fn server(&self) -> Option<String> {
        self.core.server().map(str::to_string)
    }

    /// Bytes of documents held (snapshots and change chunks), for Settings.
    pub fn stored_bytes(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let b = self.core.repo().stored_bytes() as f64;
        b
    }
}
