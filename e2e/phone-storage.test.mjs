// The phone web app's storage writer (ui/src/lib/backend/idb.worker.ts) failing, in a real
// Chromium against a real kith-server: its script cannot be loaded, or it fails holding a batch
// it was given. Either way the page commits itself, the emergency made offline is saved and
// shows its notice (never "not saved" for a batch the page could still commit), and it reaches
// the lead once online. The failures are forced at the one place they happen: the worker's
// script request is held and then refused, or the running worker throws on the batch it gets.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Server, bins, makeTeam, missing, stopAll, uiDist } from './lib/kith.mjs';
import { alertAbout, go, joinInBrowser, newPage } from './lib/dashboard.mjs';
import { PhoneBrowser, emergencyNotice, joinAndStart, myCheckins, phoneTest, sendEmergency } from './lib/phone.mjs';

const TEAM_PHONE = '+44 20 7946 0001';
const WORKER_SCRIPT = '**/assets/idb.worker-*.js';
let server;

before(async () => {
  const why = missing(bins.server, `${uiDist}/index.html`, `${uiDist}/sw.js`);
  if (why) throw new Error(`${why} (build the web app: scripts/lib/web.sh, then npm --prefix ui run build)`);
  server = await new Server({ name: 'phone-storage-kith-server' }).start();
});

after(stopAll);

/// The emergency was saved on the phone and says so; it reaches the lead once the phone is online.
async function savedThenDelivered(page, phoneBrowser, lead) {
  const notice = emergencyNotice(page);
  await notice.waitFor({ timeout: 10_000 });
  assert.match(await notice.innerText(), /saved on this device/);
  assert.equal(await page.getByText(/NOT SAVED/).count(), 0, 'the emergency is not reported unsaved');
  assert.equal(await myCheckins(page).first().getByText(/emergency/i).count() > 0, true, 'the emergency is on My shift');
  await go(lead, 'Alerts');
  await phoneBrowser.setOffline(false);
  await alertAbout(lead, 'Alice Field').filter({ hasText: /emergency/i }).waitFor({ timeout: 15_000 });
}

test('when the storage worker cannot load its script, the page saves an offline emergency itself', phoneTest(async () => {
  const { teamId, leadCodes } = await makeTeam(server, 'West estate', { phone: TEAM_PHONE });
  const lead = await newPage();
  await joinInBrowser(lead, server, leadCodes[0], 'Lee Lead');

  // No service worker (it would serve the script from its cache): the worker's script request
  // reaches this route, which holds it until the emergency has been given, then refuses it.
  const phoneBrowser = new PhoneBrowser();
  const page = await phoneBrowser.open({ serviceWorkers: 'block' });
  let release;
  const gate = new Promise((r) => (release = r));
  let asked;
  const requested = new Promise((r) => (asked = r));
  await phoneBrowser.context.route(WORKER_SCRIPT, async (route) => {
    asked();
    await gate;
    await route.abort('failed');
  });
  await joinAndStart(page, server, teamId);
  await requested;

  await phoneBrowser.setOffline(true);
  await sendEmergency(page);
  release();
  await savedThenDelivered(page, phoneBrowser, lead);
  await lead.context().close();
}));

test('when the storage worker fails holding a batch, the page commits it and nothing is lost', phoneTest(async () => {
  const { teamId, leadCodes } = await makeTeam(server, 'East estate', { phone: TEAM_PHONE });
  const lead = await newPage();
  await joinInBrowser(lead, server, leadCodes[0], 'Lee Lead');

  const phoneBrowser = new PhoneBrowser();
  const page = await phoneBrowser.open();
  await joinAndStart(page, server, teamId);
  const writer = page.workers().find((w) => w.url().includes('idb.worker'));
  assert.ok(writer, 'the storage worker runs');

  // From now on the worker fails on the next batch it is given, before committing it.
  await writer.evaluate(() => {
    self.onmessage = () => {
      throw new Error('the storage worker failed (forced by the test)');
    };
  });
  await phoneBrowser.setOffline(true);
  await sendEmergency(page);
  await savedThenDelivered(page, phoneBrowser, lead);

  // Stored, not only shown: after a reload it is still there.
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'My shift' }).waitFor({ timeout: 15_000 });
  await myCheckins(page).first().waitFor({ timeout: 10_000 });
  assert.match(await myCheckins(page).first().innerText(), /emergency/i);
  await lead.context().close();
}));
