// The phone web app, end to end: a real kith-server serving ui/dist (the UI with Kith's engine in
// WebAssembly and its service worker), Chromium with phone emulation (390x844, touch) on a user
// data directory of its own, and a lead's dashboard in another browser. The worker joins from an
// invite link, starts a shift, loses the connection, checks in three times, reloads with no
// network, closes the browser and opens it again on the same storage, comes back online: the
// three check-ins reach the lead and the lead's reply reaches the phone. An emergency made
// offline shows the notice with the team's phone number, and reaches the lead once online.
//
// This suite is also the test of the WebAssembly bindings (crates/kith-web): every command,
// event and effect of the engine crosses them here, over real IndexedDB and fetch.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Server, bins, makeTeam, missing, saveScreenshot, stopAll, uiDist } from './lib/kith.mjs';
import { alertAbout, board, go, joinInBrowser, newPage, row } from './lib/dashboard.mjs';
import { PhoneBrowser, banner, checkInOk, myCheckins, offlineReady, phoneScreenshot, phoneTest, joinAndStart, sendEmergency } from './lib/phone.mjs';

const TEAM_PHONE = '+44 20 7946 0000';
let server;

before(async () => {
  const why = missing(bins.server, `${uiDist}/index.html`, `${uiDist}/sw.js`);
  if (why) throw new Error(`${why} (build the web app: scripts/lib/web.sh, then npm --prefix ui run build)`);
  server = await new Server({ name: 'phone-kith-server' }).start();
});

after(stopAll);

test('offline check-ins on a phone survive a reload and a browser restart, then reach the lead, and the reply comes back', phoneTest(async () => {
  const { teamId, leadCodes } = await makeTeam(server, 'North estate', { phone: TEAM_PHONE });
  const lead = await newPage();
  await joinInBrowser(lead, server, leadCodes[0], 'Lee Lead');

  // Join from the invite link a lead sends (the server's address with the code).
  const phoneBrowser = new PhoneBrowser();
  let page = await phoneBrowser.open();
  const code = await server.invite(teamId);
  await page.goto(`${server.url}/?code=${encodeURIComponent(code)}`);
  await page.getByLabel('Your name').fill('Alice Field');
  assert.equal(await page.getByLabel('Invite code').inputValue(), code, 'the link filled the code');
  await phoneScreenshot(page, 'join', saveScreenshot);
  await page.getByRole('button', { name: 'Join team' }).click();
  await page.getByRole('heading', { level: 1, name: 'My shift' }).waitFor({ timeout: 15_000 });
  await offlineReady(page);

  await page.getByLabel('Purpose').fill('Meter readings, north estate');
  await page.getByRole('button', { name: 'Start shift' }).click();
  await page.getByRole('button', { name: "I'm OK" }).waitFor({ timeout: 10_000 });
  await row(lead, 'Alice Field').waitFor({ timeout: 10_000 });

  // In a basement: no network at all.
  await phoneBrowser.setOffline(true);
  for (let i = 0; i < 3; i++) await checkInOk(page);
  await banner(page).filter({ hasText: '3 waiting to sync' }).waitFor({ timeout: 10_000 });
  assert.match(await banner(page).innerText(), /^Offline/);
  await phoneScreenshot(page, 'offline', saveScreenshot);

  // Reload with no network: the service worker serves the app, IndexedDB the check-ins.
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'My shift' }).waitFor({ timeout: 15_000 });
  await myCheckins(page).nth(2).waitFor({ timeout: 10_000 });
  assert.equal(await myCheckins(page).count(), 3);
  await banner(page).filter({ hasText: '3 waiting to sync' }).waitFor({ timeout: 10_000 });

  // The browser is closed and opened again on the same storage, still with no network.
  await phoneBrowser.close();
  page = await phoneBrowser.open({ offline: true });
  await page.goto(`${server.url}/`);
  await page.getByRole('heading', { level: 1, name: 'My shift' }).waitFor({ timeout: 15_000 });
  await myCheckins(page).nth(2).waitFor({ timeout: 10_000 });
  assert.equal(await myCheckins(page).count(), 3, 'the three check-ins are still there');
  await banner(page).filter({ hasText: '3 waiting to sync' }).waitFor({ timeout: 10_000 });

  // The connection returns: the browser's `online` event syncs.
  await phoneBrowser.setOffline(false);
  await banner(page).filter({ hasText: 'waiting to sync' }).waitFor({ state: 'detached', timeout: 15_000 });

  // All three reach the lead's dashboard.
  await row(lead, 'Alice Field').getByRole('button', { name: /shift details/i }).click();
  const checkins = lead.getByRole('region', { name: 'Check-ins' }).getByRole('article');
  await checkins.nth(2).waitFor({ timeout: 15_000 });
  assert.equal(await checkins.count(), 3);

  // The lead replies; the reply reaches the phone.
  await checkins.first().getByRole('textbox').fill('Seen, thanks Alice');
  await checkins.first().getByRole('button', { name: 'Acknowledge' }).click();
  await page.getByText('Seen, thanks Alice').filter({ visible: true }).first().waitFor({ timeout: 15_000 });
  await phoneScreenshot(page, 'my-shift', saveScreenshot);

  // The same screens as the app.
  for (const screen of ['Team', 'History', 'Health', 'Settings']) {
    await go(page, screen);
    await page.getByRole('heading', { level: 1, name: screen }).waitFor();
    await page.getByText(/^Loading/).waitFor({ state: 'hidden' });
    await phoneScreenshot(page, screen.toLowerCase(), saveScreenshot);
  }
  // Settings shows this browser's storage and whether it is persistent, and what a web app cannot do.
  const storage = page.getByRole('heading', { name: 'Storage on this device' });
  await storage.waitFor();
  await page.getByText('Persistent storage').waitFor();
  await page.getByText(/Reminders come only while Kith is open/).waitFor();
  await storage.scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, -80));
  await phoneScreenshot(page, 'storage', saveScreenshot);
  await lead.context().close();
}));

test('an emergency made offline shows the notice with the team phone and reaches the lead once online', phoneTest(async () => {
  const { teamId, leadCodes } = await makeTeam(server, 'South estate', { phone: TEAM_PHONE });
  const lead = await newPage();
  await joinInBrowser(lead, server, leadCodes[0], 'Lee Lead');

  const phoneBrowser = new PhoneBrowser();
  const page = await phoneBrowser.open();
  await page.goto(`${server.url}/?code=${encodeURIComponent(await server.invite(teamId))}`);
  await page.getByLabel('Your name').fill('Alice Field');
  await page.getByRole('button', { name: 'Join team' }).click();
  await page.getByRole('heading', { level: 1, name: 'My shift' }).waitFor({ timeout: 15_000 });
  await page.getByLabel('Purpose').fill('Home visits');
  await page.getByRole('button', { name: 'Start shift' }).click();
  await page.getByRole('button', { name: "I'm OK" }).waitFor({ timeout: 10_000 });

  await phoneBrowser.setOffline(true);
  await sendEmergency(page);
  const notice = page.getByRole('alert').filter({ hasText: 'Nobody has been reached yet.' });
  await notice.waitFor({ timeout: 10_000 });
  assert.match(await notice.innerText(), /saved on this device/);
  await notice.getByRole('link', { name: `Call ${TEAM_PHONE}` }).waitFor();
  await phoneScreenshot(page, 'emergency-offline', saveScreenshot);

  await go(lead, 'Alerts');
  await phoneBrowser.setOffline(false);
  await alertAbout(lead, 'Alice Field').filter({ hasText: /emergency/i }).waitFor({ timeout: 15_000 });
  await go(lead, 'Team');
  await board(lead).waitFor();
  assert.match(await row(lead, 'Alice Field').innerText(), /emergency/i);
  await lead.context().close();
}));

test('an emergency whose sync request never ends shows the notice, is sent again and reaches the lead', phoneTest(async () => {
  // A network that takes a request and never answers (no error, no timeout of its own): the sync
  // carrying the emergency must give up in time and go again, or nothing would ever reach the
  // lead. The page's clock is moved on past the request's timeout.
  const { teamId, leadCodes } = await makeTeam(server, 'Hill estate', { phone: TEAM_PHONE });
  const lead = await newPage();
  await joinInBrowser(lead, server, leadCodes[0], 'Lee Lead');
  const phoneBrowser = new PhoneBrowser();
  const page = await phoneBrowser.open();
  await phoneBrowser.context.clock.install();
  await joinAndStart(page, server, teamId);

  let swallow = true;
  let swallowed;
  const one = new Promise((r) => (swallowed = r));
  await phoneBrowser.context.route('**/v1/sync', async (route) => {
    if (!swallow) return route.continue();
    swallowed();
    await new Promise(() => {});
  });
  await sendEmergency(page);
  await one;
  const notice = page.getByRole('alert').filter({ hasText: 'Nobody has been reached yet.' });
  await notice.waitFor({ timeout: 10_000 });
  await notice.getByRole('link', { name: `Call ${TEAM_PHONE}` }).waitFor();

  // The network answers again; the request that was swallowed times out and the sync goes again.
  swallow = false;
  await go(lead, 'Alerts');
  await phoneBrowser.context.clock.fastForward('00:31');
  await alertAbout(lead, 'Alice Field').filter({ hasText: /emergency/i }).waitFor({ timeout: 15_000 });
  await lead.context().close();
  await phoneBrowser.close();
}));

test('the buttons on My shift stay where they are while its countdowns run and its banners come and go', phoneTest(async () => {
  // A press lands where the button was when the finger aimed. "Next check-in in 1 h" became
  // "in 59 min" a little after the start, wrapped to a second line on a phone and moved every
  // button below it 37 px down: a hold of "Send emergency" begun just then landed beside it and
  // sent nothing (the flaky "emergency made offline" test above). The page's clock is moved on
  // across each change of the countdown's words, and the buttons must not move.
  // The same for every status line above them: the connection drops (the sync banner, up to three
  // lines, appears at the top) and comes back (it goes), a lead's reply (the notice at the top).
  const { teamId, leadCodes } = await makeTeam(server, 'North-west estate', { phone: TEAM_PHONE });
  const lead = await newPage();
  await joinInBrowser(lead, server, leadCodes[0], 'Lee Lead');
  const phoneBrowser = new PhoneBrowser();
  const page = await phoneBrowser.open();
  // The page's clock stands still (its timers run) from before the start, then is set on.
  const t0 = Date.now();
  await phoneBrowser.context.clock.setFixedTime(t0);
  await joinAndStart(page, server, teamId);
  const countdown = page.getByText(/^Next check-in in /);
  await countdown.filter({ hasText: /in 1 h$/ }).waitFor();

  await page.getByRole('button', { name: 'Emergency', exact: true }).click();
  const send = page.getByRole('button', { name: 'Send emergency' });
  const ok = page.getByRole('button', { name: "I'm OK" });
  await send.waitFor();
  const y = async () => ({ send: Math.round((await send.boundingBox()).y), ok: Math.round((await ok.boundingBox()).y) });
  const at = await y();

  for (const [after, shows] of [
    [61_000, /in 58 min$/],
    [51.5 * 60_000, /in 8 min$/],
    [59.5 * 60_000, /in 30 s$/],
  ]) {
    await phoneBrowser.context.clock.setFixedTime(t0 + after);
    await countdown.filter({ hasText: shows }).waitFor();
    assert.deepEqual(await y(), at, `the buttons moved when the countdown said "${await countdown.innerText()}"`);
  }

  // The connection drops (a check-in made then waits on the phone), then comes back: the sync
  // banner appears above the buttons, then goes.
  await page.getByRole('button', { name: 'Cancel' }).click();
  const emergency = page.getByRole('button', { name: 'Emergency', exact: true });
  const support = page.getByRole('button', { name: "I'd like support" });
  const all = async () => ({
    ok: Math.round((await ok.boundingBox()).y),
    support: Math.round((await support.boundingBox()).y),
    emergency: Math.round((await emergency.boundingBox()).y),
  });
  // From the top of the page, where "I'm OK" is in view (a click on it then scrolls nothing).
  await page.evaluate(() => window.scrollTo(0, 0));
  const still = await all();
  // Within a pixel: scrolling by a fraction of a pixel rounds to the screen's pixels.
  const stays = async (why) => {
    const now = await all();
    const moved = Object.keys(still).filter((k) => Math.abs(now[k] - still[k]) > 1);
    assert.deepEqual(moved, [], `the buttons moved when ${why}: ${JSON.stringify(now)}, were ${JSON.stringify(still)}`);
  };
  await phoneBrowser.setOffline(true);
  await checkInOk(page);
  await banner(page).filter({ hasText: /^Offline/ }).waitFor({ timeout: 15_000 });
  await stays(`the banner said "${await banner(page).innerText()}"`);
  await phoneBrowser.setOffline(false);
  await banner(page).filter({ hasText: /\S/ }).waitFor({ state: 'detached', timeout: 15_000 });
  await stays('the sync banner went away');

  // The lead's reply: the notice at the top appears above the buttons.
  await row(lead, 'Alice Field').getByRole('button', { name: /shift details/i }).click();
  const checkins = lead.getByRole('region', { name: 'Check-ins' }).getByRole('article');
  await checkins.first().getByRole('textbox').fill('On my way past, Alice');
  await checkins.first().getByRole('button', { name: 'Acknowledge' }).click();
  await page.getByText(/^Seen by Lee Lead/).first().waitFor({ timeout: 15_000 });
  await stays('the reply appeared at the top');
  await phoneBrowser.close();
}));
