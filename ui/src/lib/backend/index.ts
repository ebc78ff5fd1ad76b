// Picks the backend once, at startup: inside the Tauri app the webview has
// `window.__TAURI_INTERNALS__`; in a plain browser (served by kith-server) the phone web app runs
// Kith's own engine in WebAssembly when it can (WasmBackend: this browser is a device of its own,
// with its documents in IndexedDB), else the dashboard talks to the server alone (HttpBackend).
// A browser that signed in to the dashboard before the web app existed keeps that sign-in.

import type { Backend } from './backend';
import { HttpBackend } from './http';
import { TauriBackend } from './tauri';
import { WasmBackend, webAppAvailable } from './wasm';

export * from './backend';

export function inTauri(w: object = globalThis): boolean {
  return '__TAURI_INTERNALS__' in w;
}

/** A dashboard sign-in from before (a token in localStorage): that browser stays a dashboard. */
function dashboardSignIn(): boolean {
  try {
    return globalThis.localStorage?.getItem('kith.token') != null;
  } catch {
    return false;
  }
}

export function chooseBackend(w: object = globalThis): Backend {
  if (inTauri(w)) return new TauriBackend();
  if (webAppAvailable(w) && !dashboardSignIn()) return new WasmBackend();
  return new HttpBackend();
}
