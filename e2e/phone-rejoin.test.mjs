// A phone that joined after the server's last backup, when the server is restored from it: the
// server no longer knows the device (401 device_unknown). The web app says so (not "revoked", not
// "offline"), keeps everything, and offers to join with a new invite; with one it re-joins as the
// same member and device (its documents stay its own) and pushes what the server lost and what
// it saved since. Real Chromium, real kith-server on SQLite, restored from a copy of its database
// as docs/operations.md describes ("A device that joined after the backup was taken").

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Server, bins, makeTeam, missing, stopAll, tempDir, uiDist } from './lib/kith.mjs';
import { board, go, joinInBrowser, newPage, row } from './lib/dashboard.mjs';
import { PhoneBrowser, banner, checkInOk, joinAndStart, myCheckins, phoneTest } from './lib/phone.mjs';

let server;

before(async () => {
  const why = missing(bins.server, `${uiDist}/index.html`, `${uiDist}/sw.js`);
  if (why) throw new Error(`${why} (build the web app: scripts/lib/web.sh, then npm --prefix ui run build)`);
  server = await new Server({ name: 'phone-rejoin-kith-server' }).start();
});

after(stopAll);

/// Copies the SQLite database of the stopped server `from` → `to` (with its WAL, if any).
function copyDb(from, to) {
  for (const suffix of ['', '-wal', '-shm']) {
    fs.rmSync(`${to}${suffix}`, { force: true });
    if (fs.existsSync(`${from}${suffix}`)) fs.copyFileSync(`${from}${suffix}`, `${to}${suffix}`);
  }
}

test('a phone the restored server forgot re-joins with a new invite as itself and pushes what it kept', phoneTest(async () => {
  const { teamId, leadCodes } = await makeTeam(server, 'Harbour team');
  const lead = await newPage();
  await joinInBrowser(lead, server, leadCodes[0], 'Lee Lead');

  // The nightly backup, taken before the phone joins.
  const db = path.join(server.dataDir, 'kith-server.sqlite3');
  const backup = path.join(tempDir('kith-backup-'), 'kith-server.sqlite3');
  await server.stop();
  copyDb(db, backup);
  await server.start();

  const phoneBrowser = new PhoneBrowser();
  const page = await phoneBrowser.open();
  await joinAndStart(page, server, teamId, 'Alice Field', 'Harbour rounds');
  await checkInOk(page);
  await row(lead, 'Alice Field').waitFor({ timeout: 15_000 });

  // The disk dies; the server is restored from last night's copy, on the same address.
  await server.stop();
  copyDb(backup, db);
  await server.start();

  // The phone keeps working; its next sync is refused as unknown, and it says what to do.
  await checkInOk(page);
  const unknown = banner(page).filter({ hasText: 'does not know this device' });
  await unknown.waitFor({ timeout: 15_000 });
  assert.match(await unknown.innerText(), /Nothing on this device is lost/);
  assert.doesNotMatch(await unknown.innerText(), /revoked|^Offline/);
  assert.equal(await myCheckins(page).count(), 2);

  // A new invite from the lead, opened on the phone as a link.
  const link = `${server.url}/?code=${encodeURIComponent(await server.invite(teamId))}`;
  await page.getByRole('button', { name: 'Join with a new invite' }).click();
  await page.getByRole('heading', { level: 1, name: 'Join your team' }).waitFor();
  await page.getByLabel('Invite link').fill(link);
  assert.equal(await page.getByLabel('Your name').inputValue(), 'Alice Field', 'the same person');
  await page.getByRole('button', { name: 'Join team' }).click();

  // Back as itself: the same shift and check-ins on the phone, all of them delivered.
  await page.getByRole('heading', { level: 1, name: 'My shift' }).waitFor({ timeout: 15_000 });
  await banner(page).filter({ hasText: /does not know this device|waiting to sync/ }).waitFor({ state: 'detached', timeout: 15_000 });
  assert.equal(await myCheckins(page).count(), 2);

  // The lead sees one Alice (the same member, not a new one) with both check-ins.
  await lead.reload();
  await go(lead, 'Team');
  await board(lead).waitFor();
  await row(lead, 'Alice Field').waitFor({ timeout: 15_000 });
  assert.equal(await row(lead, 'Alice Field').count(), 1, 'one member, not a second Alice');
  await row(lead, 'Alice Field').getByRole('button', { name: /shift details/i }).click();
  const checkins = lead.getByRole('region', { name: 'Check-ins' }).getByRole('article');
  await checkins.nth(1).waitFor({ timeout: 15_000 });
  assert.equal(await checkins.count(), 2);
  await lead.context().close();
}));
