// The lead dashboard in a real Chromium (Debian's /usr/bin/chromium through playwright-core), found
// by role and accessible name only: the names listed in docs/app.md are the contract.

import { chromium } from 'playwright-core';
import { onCleanup, saveScreenshot, sizes } from './kith.mjs';

export const chromiumPath = process.env.KITH_CHROMIUM ?? '/usr/bin/chromium';

let browser;

/// The one Chromium of this test process (headless, no sandbox, no network beyond what pages ask for).
export async function launchBrowser() {
  if (browser) return browser;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  onCleanup(async () => {
    await browser?.close();
    browser = undefined;
  });
  return browser;
}

/// A fresh browser profile (its own storage: its own device) with a page at `size`.
export async function newPage(size = sizes.desktop) {
  const b = await launchBrowser();
  const context = await b.newContext({ viewport: size, colorScheme: 'light' });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`[console] ${m.text()}`);
  });
  return page;
}

/// Signs in through the UI's Join screen at the server's `/`: the browser becomes a device of its own.
export async function joinInBrowser(page, server, code, name) {
  await page.goto(server.url + '/');
  await page.getByRole('button', { name: 'Join team' }).waitFor();
  const address = page.getByLabel('Server address');
  if ((await address.count()) > 0 && (await address.isVisible()) && (await address.isEditable())) {
    if (!(await address.inputValue())) await address.fill(server.url);
  }
  await page.getByLabel('Invite code').fill(code);
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Join team' }).click();
  await board(page).waitFor({ timeout: 10_000 });
}

/// Goes to one of the main screens ("Team", "Alerts", "History", "Health", "Settings") by its
/// navigation link, tab or button.
export async function go(page, name) {
  const target = page
    .getByRole('link', { name, exact: true })
    .or(page.getByRole('tab', { name, exact: true }))
    .or(page.getByRole('button', { name, exact: true }))
    .first();
  await target.click();
}

/// The team board: the list in the "Team" screen (a region named by its heading).
export function board(page) {
  return page.getByRole('region', { name: 'Team', exact: true }).getByRole('list').first();
}

/// The open alert about `worker` on the Alerts screen (an article named "<kind> — <worker>").
export function alertAbout(page, worker) {
  return page.getByRole('article').filter({ hasText: worker }).first();
}

/// A member's row on the board (a listitem named by the member's name).
export function row(page, name) {
  return page.getByRole('listitem', { name });
}

/// Screenshots of the page at the phone and desktop sizes, as docs/screenshots/<name>-<size>.png.
export async function screenshots(page, name) {
  const before = page.viewportSize();
  for (const [size, viewport] of Object.entries(sizes)) {
    await page.setViewportSize(viewport);
    saveScreenshot(`${name}-${size}`, await page.screenshot({ fullPage: false }));
  }
  if (before) await page.setViewportSize(before);
}
