// The real Tauri app end to end: target/debug/kith-app under Xvfb, through tauri-driver and
// WebKitWebDriver, against a real kith-server; a lead watches in Chromium (Playwright).
// One story, in order: join, start a shift, lose the server, check in (queued), get the server
// back, the check-in reaches the lead; then an emergency in two actions (docs/app.md: "Emergency",
// then hold "Send emergency"); the lead's reply and claim at the top of My shift; "I'm OK" after
// an emergency asks first; the emergency button stays usable while another write is in flight;
// "End shift" asks first; "Start shift" is on the first screen of a phone.

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

test("the lead's claim and reply are at the top of My shift", async () => {
  // The lead claims the emergency from the banner and replies from the Alerts screen.
  const alarm = lead.getByRole('region', { name: 'Needs someone now' }).getByRole('group', { name: new RegExp(WORKER) });
  await alarm.getByRole('button', { name: /Claim/ }).click();
  await lead.getByRole('button', { name: 'Alerts', exact: true }).click();
  const alert = lead.getByRole('article').filter({ hasText: WORKER }).first();
  await alert.getByLabel('Reply message').fill('Calling you now');
  await alert.getByRole('button', { name: 'Reply' }).click();
  await lead.getByText('Reply sent.').waitFor({ timeout: 10_000 });

  await (await byName(app, 'My shift')).click();
  await waitForText(app, 'Lee Lead is on it', { timeout: 30_000 });
  await waitForText(app, 'Calling you now', { timeout: 30_000 });
  // At the top: before the check-in buttons, not down in the history.
  const [notice, ok] = await app.execute(() => {
    const all = document.body.innerText;
    return [all.indexOf('Lee Lead is on it'), all.indexOf("I'm OK")];
  });
  assert.ok(notice >= 0 && notice < ok, `the notice (${notice}) comes before "I'm OK" (${ok})`);
  await appScreenshots(app, 'app-reply');
});

test('"I\'m OK" after an emergency asks first, and the emergency button never waits for another write', async () => {
  await (await byName(app, "I'm OK")).click();
  await byName(app, 'Cancel your emergency?');
  await (await byName(app, 'Keep the emergency')).click();
  assert.equal(await lastStatus(), 'emergency', 'nothing was sent');

  // With the server gone, a write waits a moment for it: while "I'm OK" is in flight, the other
  // buttons wait, the emergency buttons do not.
  await server.stop();
  await (await byName(app, "I'm OK")).click();
  await (await byName(app, "Yes, I'm safe")).click();
  const seen = await waitFor(
    async () => {
      const [support, emergency] = await app.execute(() => {
        const b = [...document.querySelectorAll('button')];
        const named = (t) => b.find((x) => x.textContent?.trim().startsWith(t));
        return [named("I'd like support")?.disabled, named('Emergency')?.getAttribute('aria-disabled')];
      });
      return support === true ? { emergency } : null;
    },
    { what: 'a write in flight', timeout: 10_000, interval: 20 },
  );
  assert.equal(seen.emergency, null, 'the emergency button is usable while another write is in flight');
  await server.start();
  await waitFor(async () => !(await appText()).includes('waiting to sync'), {
    timeout: 60_000,
    what: 'the queued check-in to go out',
  });
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

test('"End shift" asks first, and "Start shift" is on the first screen of a phone', async () => {
  await (await byName(app, 'My shift')).click();
  await (await byName(app, 'End shift')).click();
  await byName(app, 'End your shift now?');
  await (await byName(app, 'Keep working')).click();
  await byName(app, "I'm OK");
  await (await byName(app, 'End shift')).click();
  await (await byName(app, 'Yes, end shift')).click();
  const start = await byName(app, 'Start shift', { timeout: 15_000 });
  await app.setWindowSize(390, 844);
  await waitFor(async () => (await app.execute(() => window.innerWidth)) === 390, { what: 'a phone-sized window' });
  const [bottom, height] = await app.execute(() => {
    const b = [...document.querySelectorAll('button')].find((x) => x.textContent?.trim() === 'Start shift');
    const nav = document.querySelector('nav');
    return [b?.getBoundingClientRect().bottom ?? Infinity, window.innerHeight - (nav?.getBoundingClientRect().height ?? 0)];
  });
  assert.ok(bottom <= height, `"Start shift" ends at ${bottom}px, above the tab bar at ${height}px`);
  assert.ok(await start.isExisting());
});

/// The worker's last check-in status on the server's board, as a lead's `kith` device sees it.
async function lastStatus() {
  const b = await leadCli.team();
  return b.rows.find((x) => x.name === WORKER)?.status ?? null;
}
