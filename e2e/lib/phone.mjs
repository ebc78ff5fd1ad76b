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

  /// Starts the browser on this storage; `offline` before any page loads (a basement);
  /// `serviceWorkers: 'block'` for a page no service worker serves (every request then goes
  /// through the context's routes).
  /// `trace: false` leaves out the input and layout trace (benchmarks: it costs the page time).
  async open({ offline = false, serviceWorkers = 'allow', trace = true } = {}) {
    this.context = await chromium.launchPersistentContext(this.dir, {
      executablePath: chromiumPath,
      args: ARGS,
      serviceWorkers,
      ...phone,
    });
    this.context.on('serviceworker', (w) => hear(`[service worker] ${w.url()}`));
    if (trace) await this.context.addInitScript(traceInput);
    if (offline) await this.context.setOffline(true);
    const page = this.context.pages()[0] ?? (await this.context.newPage());
    watch(page);
    return page;
  }

  async setOffline(offline) {
    hear(`[test] the phone goes ${offline ? 'offline' : 'online'}`);
    await this.context.setOffline(offline);
  }

  async close() {
    await this.context?.close();
    this.context = null;
  }
}

/// Everything the phone pages said (console messages of every level, page errors, worker and
/// service-worker starts), with the time since the test began; `phoneTest` prints it when a test
/// fails, so a failure seen once in CI comes with the page's own account of it.
const heard = [];
let since = Date.now();

function hear(line) {
  heard.push(`${String(Date.now() - since).padStart(6)} ms ${line}`);
  if (heard.length > 2000) heard.shift();
}

const pages = new Set();

export function watch(page) {
  pages.add(page);
  page.on('close', () => pages.delete(page));
  page.on('pageerror', (e) => {
    hear(`[page error] ${e.stack ?? e.message}`);
    console.error(`[phone page error] ${e.message}`);
  });
  page.on('console', (m) => {
    hear(`[console.${m.type()}] ${m.text()}`);
    // Requests failing while the test has the phone offline are expected.
    if (m.type() === 'error' && !m.text().includes('ERR_INTERNET_DISCONNECTED')) console.error(`[phone console] ${m.text()}`);
  });
  page.on('worker', (w) => {
    hear(`[worker started] ${w.url()}`);
    w.on('close', () => hear(`[worker closed] ${w.url()}`));
  });
  page.on('requestfailed', (r) => hear(`[request failed] ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('crash', () => hear('[page crashed]'));
}

/// Runs in each phone page: says (console.debug, kept by `watch`) where focus and the pointer go,
/// which is what a press-and-hold depends on.
function traceInput() {
  const name = (el) => (el && el.nodeType === 1 ? `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.textContent ? ` "${el.textContent.trim().slice(0, 30)}"` : ''}` : String(el));
  const at = () => `${Math.round(performance.now())} ms`;
  document.addEventListener('focusout', (e) => console.debug(`[input] ${at()} focus leaves ${name(e.target)} for ${name(e.relatedTarget)}`), true);
  for (const type of ['pointerdown', 'pointerup', 'pointercancel', 'lostpointercapture']) {
    document.addEventListener(type, (e) => {
      const b = document.getElementById('send-emergency')?.getBoundingClientRect();
      const v = window.visualViewport;
      const where = `at ${Math.round(e.clientX)},${Math.round(e.clientY)}; #send-emergency ${b ? `${Math.round(b.x)},${Math.round(b.y)} ${Math.round(b.width)}x${Math.round(b.height)}` : 'none'}; scrollY ${Math.round(scrollY)}; visual viewport ${v ? `${Math.round(v.offsetTop)}/${Math.round(v.pageTop)} x${v.scale}` : '-'}`;
      const boxes = ['header.top', '.bar', '.alarm', '#screen-title', '.top-notice', '.card.summary', '.card.summary > *', '.actions']
        .flatMap((q) => [...document.querySelectorAll(q)].map((el) => { const r = el.getBoundingClientRect(); return `${q}:${Math.round(r.y)}+${Math.round(r.height)}`; }))
        .join(' ');
      console.debug(`[input] ${at()} ${type} on ${name(e.target)} (${e.pointerType}) ${where}; ${boxes}`);
    }, true);
  }
  window.addEventListener('blur', () => console.debug(`[input] ${at()} the window lost focus`));
  // Elements coming and going, and the page scrolling: what moves a button from under a finger.
  const tag = (n) => n.nodeType !== 1 ? n.nodeName : `${n.tagName.toLowerCase()}${n.id ? `#${n.id}` : ''}${typeof n.className === 'string' && n.className ? `.${n.className.trim().split(/\s+/).join('.')}` : ''}`;
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes') {
        console.debug(`[layout] ${at()} ${tag(r.target)} now class="${r.target.className}"`);
        continue;
      }
      for (const n of r.addedNodes) if (n.nodeType === 1) console.debug(`[layout] ${at()} + ${tag(n)} in ${tag(r.target)}`);
      for (const n of r.removedNodes) if (n.nodeType === 1) console.debug(`[layout] ${at()} - ${tag(n)} from ${tag(r.target)}`);
    }
  }).observe(document, { childList: true, subtree: true, attributes: true, attributeFilter: ['class'] });
  let y = 0;
  window.addEventListener('scroll', () => {
    if (Math.abs(window.scrollY - y) > 4) console.debug(`[layout] ${at()} scrolled to ${Math.round((y = window.scrollY))}`);
  }, true);
}

/// A test of the phone web app: if it fails, what the phone pages said is printed with the error.
export function phoneTest(fn) {
  return async (t) => {
    heard.length = 0;
    since = Date.now();
    try {
      await fn(t);
    } catch (e) {
      console.error(`--- what the phone pages said (${heard.length} lines) ---\n${heard.join('\n')}\n--- end ---`);
      for (const p of pages) {
        const text = await p.evaluate(() => document.body.innerText).catch((err) => `(unreadable: ${err.message})`);
        console.error(`--- ${p.url()} shows ---\n${text}\n--- end ---`);
      }
      throw e;
    }
  };
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

/// Joins the team from an invite link on the phone and starts a shift.
export async function joinAndStart(page, server, teamId, name = 'Alice Field', purpose = 'Home visits') {
  await page.goto(`${server.url}/?code=${encodeURIComponent(await server.invite(teamId))}`);
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Join team' }).click();
  await page.getByRole('heading', { level: 1, name: 'My shift' }).waitFor({ timeout: 15_000 });
  await page.getByLabel('Purpose').fill(purpose);
  await page.getByRole('button', { name: 'Start shift' }).click();
  await page.getByRole('button', { name: "I'm OK" }).waitFor({ timeout: 10_000 });
}

/// The notice an emergency that reached nobody shows on My shift.
export function emergencyNotice(page) {
  return page.getByRole('alert').filter({ hasText: 'Nobody has been reached yet.' });
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
  hear(`[test] holds "Send emergency" at ${Math.round(box.x + box.width / 2)},${Math.round(box.y + box.height / 2)} (its box ${Math.round(box.x)},${Math.round(box.y)} ${Math.round(box.width)}x${Math.round(box.height)})`);
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  // A press beside the button (the layout moved between aiming and pressing) sends nothing: say
  // so here rather than as a missing notice later.
  if (!(await send.evaluate((el) => el.classList.contains('holding')))) {
    await page.mouse.up();
    throw new Error(`the press at ${box.x + box.width / 2},${box.y + box.height / 2} missed "Send emergency", now at ${JSON.stringify(await send.boundingBox())}`);
  }
  await page.waitForTimeout(2000);
  await page.mouse.up();
}

/// Phone-sized screenshots of the web app, as docs/screenshots/web-app-<name>-phone.png.
export async function phoneScreenshot(page, name, save) {
  save(`web-app-${name}-phone`, await page.screenshot({ fullPage: false }));
}
