// The phone web app in a real Chromium with phone emulation (390x844, touch), its storage kept in
// a user data directory of its own so the browser can be closed and opened again on the same
// storage (IndexedDB, the service worker and its cache), as a phone's browser keeps them.

import { chromium } from 'playwright-core';
import { chromiumPath } from './dashboard.mjs';
import { onCleanup, sizes, tempDir } from './kith.mjs';

export const phone = {
  viewport: sizes.phone,
  hasTouch: true,
  isMobile: true,
  deviceScaleFactor: Number(process.env.KITH_PHONE_DPR ?? 2),
  colorScheme: 'light',
};

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

/// A phone's browser: `open()` starts it on `dir` (a new one by default), `close()` quits it.
export class PhoneBrowser {
  constructor(dir = tempDir('kith-phone-')) {
    this.dir = dir;
    this.context = null;
    onCleanup(() => this.close());
  }

  /// Starts the browser on this storage; `offline` before any page loads (a basement).
  async open({ offline = false } = {}) {
    this.context = await chromium.launchPersistentContext(this.dir, { executablePath: chromiumPath, args: ARGS, ...phone });
    if (offline) await this.context.setOffline(true);
    const page = this.context.pages()[0] ?? (await this.context.newPage());
    watch(page);
    return page;
  }

  async setOffline(offline) {
    await this.context.setOffline(offline);
  }

  async close() {
    await this.context?.close();
    this.context = null;
  }
}

export function watch(page) {
  page.on('pageerror', (e) => console.error(`[phone page error] ${e.message}`));
  page.on('console', (m) => {
    // Requests failing while the test has the phone offline are expected.
    if (m.type() === 'error' && !m.text().includes('ERR_INTERNET_DISCONNECTED')) console.error(`[phone console] ${m.text()}`);
  });
}

/// Waits until the service worker controls the page and holds the app shell (then the app opens
/// with no network).
export async function offlineReady(page) {
  await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
    }
    return reg.active?.state;
  });
}

/// The sync banner's text ("Offline — 3 waiting to sync, ...").
export function banner(page) {
  return page.getByRole('status').first();
}

/// The check-ins of My shift ("This shift" list).
export function myCheckins(page) {
  return page.getByRole('region', { name: 'This shift' }).getByRole('article');
}

/// Checks in "I'm OK" and waits for the answer (a toast saying it was saved).
export async function checkInOk(page) {
  const before = await myCheckins(page).count();
  await page.getByRole('button', { name: "I'm OK" }).click();
  await myCheckins(page).nth(before).waitFor({ timeout: 10_000 });
}

/// "Emergency", then hold "Send emergency" (two deliberate actions, docs/app.md).
export async function sendEmergency(page) {
  await page.getByRole('button', { name: 'Emergency', exact: true }).click();
  const send = page.getByRole('button', { name: 'Send emergency' });
  await send.waitFor();
  const box = await send.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.waitForTimeout(2000);
  await page.mouse.up();
}

/// Phone-sized screenshots of the web app, as docs/screenshots/web-app-<name>-phone.png.
export async function phoneScreenshot(page, name, save) {
  save(`web-app-${name}-phone`, await page.screenshot({ fullPage: false }));
}
