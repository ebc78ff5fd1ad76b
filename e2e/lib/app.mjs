// The real Tauri app (target/debug/kith-app) under Xvfb, driven through tauri-driver and Debian's
// WebKitWebDriver with webdriverio (classic WebDriver, explicit 127.0.0.1 and port: it never
// downloads a driver).

import fs from 'node:fs';
import path from 'node:path';
import { remote } from 'webdriverio';

import { bins, freePort, killChild, onCleanup, saveScreenshot, sizes, startProcess, tempDir, waitFor } from './kith.mjs';

/// A display for the app: a fresh Xvfb (it picks a free display number itself, -displayfd), unless
/// KITH_E2E_DISPLAY names one to use instead.
export async function startXvfb() {
  if (process.env.KITH_E2E_DISPLAY) return process.env.KITH_E2E_DISPLAY;
  let display;
  const child = startProcess('xvfb', 'Xvfb', ['-displayfd', '1', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], {
    onLine: (line) => {
      if (/^\d+$/.test(line.trim())) display = `:${line.trim()}`;
    },
  });
  let exited = null;
  child.exited.then((r) => {
    exited = r;
  });
  await waitFor(
    () => {
      if (exited) throw new Error(`Xvfb exited (${JSON.stringify(exited)}); see ${child.kithLog}`);
      return display;
    },
    { what: 'Xvfb to open a display' },
  );
  onCleanup(() => killChild(child));
  return display;
}

/// tauri-driver (in front of WebKitWebDriver) on free ports, with `env` for the app it launches
/// (DISPLAY, KITH_DATA_DIR). It leads a process group: stopping it stops the app too.
export async function startTauriDriver(env) {
  const port = await freePort();
  const nativePort = await freePort();
  const cmd = process.env.KITH_TAURI_DRIVER ?? findTauriDriver();
  const child = startProcess('tauri-driver', cmd, ['--port', String(port), '--native-port', String(nativePort)], {
    env,
    group: true,
  });
  let exited = null;
  child.exited.then((r) => {
    exited = r;
  });
  await waitFor(
    async () => {
      if (exited) throw new Error(`tauri-driver exited (${JSON.stringify(exited)}); see ${child.kithLog}`);
      const r = await fetch(`http://127.0.0.1:${port}/status`);
      return r.ok;
    },
    { what: 'tauri-driver to answer /status', timeout: 20_000 },
  );
  onCleanup(() => killChild(child));
  return { port, child };
}

function findTauriDriver() {
  const dirs = [
    ...(process.env.PATH ?? '').split(':'),
    path.join(process.env.CARGO_HOME ?? path.join(process.env.HOME ?? '/root', '.cargo'), 'bin'),
  ];
  for (const d of dirs) {
    const f = path.join(d, 'tauri-driver');
    if (d && fs.existsSync(f)) return f;
  }
  throw new Error('tauri-driver is not installed: cargo install tauri-driver --locked (scripts/test.sh does)');
}

/// Starts the app on a fresh data directory: Xvfb, tauri-driver, a WebDriver session. Returns
/// `{ app (the webdriverio browser), dataDir, display }`.
export async function launchApp({ dataDir = tempDir('kith-app-'), env = {} } = {}) {
  const display = await startXvfb();
  const appEnv = {
    DISPLAY: display,
    KITH_DATA_DIR: dataDir,
    // No accessibility bus under Xvfb. (WebKit's WEBKIT_DISABLE_COMPOSITING_MODE and
    // WEBKIT_DISABLE_DMABUF_RENDERER are left alone: with them, WebKitWebDriver's screenshots of a
    // resized window never return.)
    NO_AT_BRIDGE: '1',
    ...env,
  };
  delete appEnv.WAYLAND_DISPLAY;
  for (const [k, v] of Object.entries(appEnv)) if (v === null) delete appEnv[k];
  const driver = await startTauriDriver(appEnv);
  const app = await remote({
    hostname: '127.0.0.1',
    port: driver.port,
    path: '/',
    protocol: 'http',
    logLevel: 'warn',
    connectionRetryCount: 0,
    connectionRetryTimeout: 120_000,
    automationProtocol: 'webdriver',
    capabilities: {
      browserName: 'wry',
      'tauri:options': { application: bins.app },
      'wdio:enforceWebDriverClassic': true,
    },
  });
  onCleanup(async () => {
    await app.deleteSession().catch(() => {});
  });
  return { app, dataDir, display };
}

/// The element with this accessible name (and role, if given), through webdriverio's `aria/` selector.
export async function byName(app, name, { timeout = 10_000 } = {}) {
  const el = await app.$(`aria/${name}`);
  await el.waitForExist({ timeout, timeoutMsg: `no element named "${name}" in the app within ${timeout} ms` });
  return el;
}

/// Waits until the app's page shows `text` (a string or RegExp) somewhere.
export async function waitForText(app, text, { timeout = 10_000 } = {}) {
  let last = '';
  await waitFor(
    async () => {
      last = await app.execute(() => document.body.innerText);
      return typeof text === 'string' ? last.includes(text) : text.test(last);
    },
    { timeout, what: `the app to show ${text}` },
  ).catch((e) => {
    throw new Error(`${e.message}\n--- the app shows ---\n${last}`);
  });
}

/// Screenshots of the app window at the phone and desktop sizes, as docs/screenshots/<name>-<size>.png.
export async function appScreenshots(app, name) {
  for (const [size, { width, height }] of Object.entries(sizes)) {
    await app.setWindowSize(width, height);
    await waitFor(
      async () => {
        const [w, h] = await app.execute(() => [window.innerWidth, window.innerHeight]);
        return w === width && h === height;
      },
      { what: `the app's page to be ${width}x${height}`, timeout: 5000 },
    );
    // The new layout painted: two animation frames after the resize (a screenshot taken sooner
    // shows the old layout, cropped).
    await app.executeAsync((done) => requestAnimationFrame(() => requestAnimationFrame(() => done())));
    saveScreenshot(`${name}-${size}`, await app.takeScreenshot());
  }
}

/// A press held for `ms` on an element (W3C pointer actions): "hold to confirm" buttons.
export async function hold(app, el, ms) {
  await app
    .action('pointer', { parameters: { pointerType: 'mouse' } })
    .move({ origin: el })
    .down({ button: 0 })
    .pause(ms)
    .up({ button: 0 })
    .perform();
}
