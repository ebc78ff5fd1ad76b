// The real Tauri app end to end: target/debug/kith-app under Xvfb, through tauri-driver and
// WebKitWebDriver, against a real kith-server; a lead watches in Chromium (Playwright).
// One story, in order: join, start a shift, lose the server, check in (queued), get the server
// back, the check-in reaches the lead; then an emergency in two actions (docs/app.md: "Emergency",
// then hold "Send emergency").

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Device, Server, bins, makeTeam, missing, stopAll, uiDist, waitFor } from './lib/kith.mjs';
import { joinInBrowser, newPage, row, screenshots } from './lib/dashboard.mjs';
import { appScreenshots, byName, hold, launchApp, waitForText } from './lib/app.mjs';

const WORKER = 'Alice Field';
let server;
let team;
let app;
let lead;
let leadCli;

before(async () => {
  const why = missing(bins.server, bins.kith, bins.app, `${uiDist}/index.html`);
  if (why) throw new Error(why);
  server = await new Server({ name: 'app-kith-server' }).start();
  team = await makeTeam(server, 'North estate', { leadInvites: 2 });
  leadCli = new Device('Mo Manager');
  await leadCli.join(server.url, team.leadCodes[1]);
  lead = await newPage();
  await joinInBrowser(lead, server, team.leadCodes[0], 'Lee Lead');
  ({ app } = await launchApp());
});

after(stopAll);

test('the app joins a team with a server address and an invite code', async () => {
  const code = await server.invite(team.teamId);
  await byName(app, 'Join team', { timeout: 30_000 });
  await appScreenshots(app, 'app-join');
  await (await byName(app, 'Server address')).setValue(server.url);
  await (await byName(app, 'Invite code')).setValue(code);
  await (await byName(app, 'Your name')).setValue(WORKER);
  await (await byName(app, 'Join team')).click();
  await byName(app, 'Start shift', { timeout: 15_000 });
  await row(lead, WORKER).waitFor({ timeout: 10_000 });
});

test('the app starts a shift', async () => {
  await appScreenshots(app, 'app-start-shift');
  const purpose = await byName(app, 'Purpose');
  await purpose.clearValue();
  await purpose.setValue('Meter readings, north estate');
  await (await byName(app, 'Start shift')).click();
  await byName(app, "I'm OK", { timeout: 15_000 });
  await row(lead, WORKER).filter({ hasText: 'Meter readings, north estate' }).waitFor({ timeout: 10_000 });
  await appScreenshots(app, 'app-shift');
});

test("a check-in with the server down is queued, and reaches the lead's browser when it is back", async () => {
  assert.equal(await lastCheckin(), null, 'no check-in yet');
  await row(lead, WORKER).filter({ hasText: 'None yet' }).waitFor({ timeout: 10_000 });
  await server.stop();
  await (await byName(app, "I'm OK")).click();
  await waitForText(app, '1 waiting to sync', { timeout: 15_000 });
  const banner = await app.$('[role="status"]');
  await waitFor(async () => /^Offline/.test((await banner.getText()).trim()), { what: 'the banner to say "Offline"' });
  await appScreenshots(app, 'app-offline-queued');

  await server.start(); // the same port and data
  // The app finds the server again by itself and sends what it queued; the lead's browser
  // reconnects its live channel and shows the check-in.
  await waitFor(async () => !(await appText()).includes('waiting to sync'), {
    timeout: 60_000,
    what: 'the app to have sent its queued check-in',
  });
  assert.notEqual(await lastCheckin(), null, 'the server has the check-in');
  await row(lead, WORKER).filter({ hasNotText: 'None yet' }).waitFor({ timeout: 30_000 });
});

test('an emergency takes two actions: "Emergency", then hold "Send emergency"', async () => {
  await (await byName(app, 'Emergency')).click();
  const send = await byName(app, 'Send emergency');
  await appScreenshots(app, 'app-emergency');
  await hold(app, send, 2500);
  // The lead's board shows the worker's emergency, live.
  await row(lead, WORKER).filter({ hasText: /emergency/i }).waitFor({ timeout: 10_000 });
  await screenshots(lead, 'dashboard-emergency');
});

test('screenshots of the app screens', async () => {
  for (const screen of ['Team', 'Alerts', 'History', 'Health', 'Settings']) {
    const nav = await byName(app, screen);
    await nav.click();
    await appScreenshots(app, `app-${screen.toLowerCase()}`);
  }
});

async function appText() {
  return app.execute(() => document.body.innerText);
}

/// The worker's last check-in on the server's board, as a lead's `kith` device sees it, or null.
async function lastCheckin() {
  const board = await leadCli.team();
  return board.rows.find((x) => x.name === WORKER)?.last_checkin ?? null;
}
