// The lead dashboard, end to end: a real kith-server serving ui/dist, real `kith` devices, and
// Chromium driven by playwright-core. Each test has its own team (own leads, own board).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Device, Proxy, Server, bins, kithNow, makeTeam, missing, stopAll, uiDist } from './lib/kith.mjs';
import { alertAbout, board, go, joinInBrowser, newPage, row, screenshots } from './lib/dashboard.mjs';

let server;

before(async () => {
  const why = missing(bins.server, bins.kith, `${uiDist}/index.html`);
  if (why) throw new Error(why);
  server = await new Server({ name: 'browser-kith-server' }).start();
});

after(stopAll);

test("a worker's check-in made with the CLI is on the lead's board within a second", async () => {
  const { teamId, leadCodes } = await makeTeam(server, 'Live board');
  const page = await newPage();
  await joinInBrowser(page, server, leadCodes[0], 'Lee Lead');

  const alice = new Device('Alice Field');
  await alice.join(server.url, await server.invite(teamId));
  await alice.startShift({ purpose: 'Meter readings, north estate' });
  await row(page, 'Alice Field').waitFor({ timeout: 10_000 });
  assert.equal(await row(page, 'Alice Field').filter({ hasText: /support/i }).count(), 0);

  const r = await alice.checkin('support', { note: 'Dog loose at no. 14, waiting in the van' });
  assert.equal(r.shared, true, 'the CLI shared its check-in with the server');
  // The CLI has returned: the server has the check-in. The board must show it within 1 s (live).
  await row(page, 'Alice Field').filter({ hasText: /support/i }).waitFor({ timeout: 1000 });
  await page.context().close();
});

test('an overdue worker is at the top of the board', async () => {
  const { teamId, leadCodes } = await makeTeam(server, 'Overdue first');
  const page = await newPage();
  await joinInBrowser(page, server, leadCodes[0], 'Lee Lead');

  const alice = new Device('Alice Field');
  await alice.join(server.url, await server.invite(teamId));
  await alice.startShift({ every: '1h' });
  await alice.checkin('ok', { mood: 4 });

  // Bob started his shift 40 minutes ago with no signal (a 15-minute rhythm, the policy's
  // shortest) and his device only now reaches the server: on the server's clock his first
  // check-in was due 25 minutes ago, past the 10-minute grace. He is overdue at once.
  const proxy = await new Proxy(server.port).start();
  const bob = new Device('Bob Byrne');
  await bob.join(proxy.url, await server.invite(teamId));
  proxy.setOnline(false);
  const startedAt = Date.now() - 40 * 60_000;
  const queued = await bob.startShift({ every: '15m', env: { KITH_NOW: kithNow(startedAt) } });
  assert.equal(queued.shared, false, 'the shift start was queued while offline');
  proxy.setOnline(true);
  await bob.sync();

  const first = board(page).getByRole('listitem').first();
  await row(page, 'Bob Byrne').waitFor({ timeout: 10_000 });
  await waitUntilFirst(first, 'Bob Byrne');
  assert.match(await row(page, 'Bob Byrne').innerText(), /overdue/i);
  await page.context().close();
});

test("claiming an alert in one lead's browser shows the owner in another lead's browser", async () => {
  const { teamId, leadCodes } = await makeTeam(server, 'Two leads', { leadInvites: 2 });
  const lee = await newPage();
  await joinInBrowser(lee, server, leadCodes[0], 'Lee Lead');
  const mo = await newPage();
  await joinInBrowser(mo, server, leadCodes[1], 'Mo Manager');

  const alice = new Device('Alice Field');
  await alice.join(server.url, await server.invite(teamId));
  await alice.startShift();
  await alice.checkin('support', { note: 'Could someone call me after this visit?' });

  await go(lee, 'Alerts');
  await go(mo, 'Alerts');
  const leeAlert = alertAbout(lee, 'Alice Field');
  const moAlert = alertAbout(mo, 'Alice Field');
  await leeAlert.waitFor({ timeout: 10_000 });
  await moAlert.waitFor({ timeout: 10_000 });
  assert.equal(await moAlert.filter({ hasText: 'Claimed by' }).count(), 0, 'nobody owns the alert yet');

  await leeAlert.getByRole('button', { name: 'Claim' }).click();
  // Mo's browser hears it on the live channel: the owner's name appears on the alert.
  await moAlert.filter({ hasText: 'Claimed by Lee Lead' }).waitFor({ timeout: 5000 });
  await lee.context().close();
  await mo.context().close();
});

test('screenshots of the dashboard at phone and desktop sizes', async () => {
  const { teamId, leadCodes } = await makeTeam(server, 'North estate');
  const page = await newPage();
  await page.goto(server.url + '/');
  await page.getByRole('button', { name: 'Join team' }).waitFor();
  await screenshots(page, 'dashboard-join');
  await joinInBrowser(page, server, leadCodes[0], 'Lee Lead');

  const workers = [
    ['Alice Field', 'support', 'Dog loose at no. 14, waiting in the van'],
    ['Priya Shah', 'ok', 'Second visit done'],
    ['Sam Okafor', 'ok', null],
  ];
  for (const [name, status, note] of workers) {
    const d = new Device(name);
    await d.join(server.url, await server.invite(teamId));
    await d.startShift({ purpose: name === 'Sam Okafor' ? 'Survey, Mill Lane' : 'Home visits, north estate' });
    await d.checkin(status, { note, mood: 4 });
  }
  await row(page, 'Sam Okafor').waitFor({ timeout: 10_000 });
  await screenshots(page, 'dashboard-team');
  for (const screen of ['Alerts', 'History', 'Health', 'Settings']) {
    await go(page, screen);
    await page.getByRole('heading', { level: 1, name: screen }).waitFor();
    await page.getByText(/^Loading/).waitFor({ state: 'hidden' });
    await screenshots(page, `dashboard-${screen.toLowerCase()}`);
  }
  await page.context().close();
});

async function waitUntilFirst(first, name, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const label = (await first.getAttribute('aria-label')) ?? (await first.innerText());
    if (label.includes(name)) return;
    if (Date.now() > deadline) throw new Error(`the first row of the board is "${label}", not ${name}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
