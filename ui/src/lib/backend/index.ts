// Picks the backend once, at startup: inside the Tauri app the webview has
// `window.__TAURI_INTERNALS__`; in a plain browser (the dashboard served by kith-server) it does not.

import type { Backend } from './backend';
import { HttpBackend } from './http';
import { TauriBackend } from './tauri';

export * from './backend';

export function inTauri(w: object = globalThis): boolean {
  return '__TAURI_INTERNALS__' in w;
}

export function chooseBackend(w: object = globalThis): Backend {
  return inTauri(w) ? new TauriBackend() : new HttpBackend();
}
