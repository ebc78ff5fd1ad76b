// The lead-only screen (People) is not part of a worker's app: a worker's phone never downloads
// or caches it, and still has its whole app offline; a lead's phone caches it the first time the
// app starts online, and then has it offline too (docs/app.md, "Offline").

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Server, bins, makeTeam, missing, stopAll, uiDist } from './lib/kith.mjs';
import { go } from './lib/dashboard.mjs';
import { PhoneBrowser, offlineReady, phoneTest } from './lib/phone.mjs';

let server;

before(async () => {
  const why = missing(bins.server, `${uiDist}/index.html`, `${uiDist}/sw.js`);
  if (why) throw new Error(`${why} (build the web app: scripts/lib/web.sh, then npm --prefix ui run build)`);
  server = await new Server({ name: 'phone-lead-kith-server' }).start();
});

after(stopAll);

/** Every URL in this origin's caches (the service worker's). */
function cached(page) {
  return page.evaluate(async () => {
    const urls = [];
    for (const name of await caches.keys()) {
      for (const r of await (await caches.open(name)).keys()) urls.push(new URL(r.url).pathname);
    }
    return urls;
  });
}

const PEOPLE = /\/assets\/People-[^/]+\.js$/;

/** The cached scripts that carry the People screen (its heading "Invite someone" is in no other). */
function scriptsWithPeople(page) {
  return page.evaluate(async () => {
    const found = [];
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      for (const r of await cache.keys()) {
        if (!r.url.endsWith('.js')) continue;
        if ((await (await cache.match(r)).text()).includes('Invite someone')) found.push(new URL(r.url).pathname);
      }
    }
    return found;
  });
}

test("a worker's phone never fetches the lead's People screen and has its app offline", phoneTest(async () => {
  const { teamId } = await makeTeam(server, 'West estate');
  const phone = new PhoneBrowser();
  const page = await phone.open();
  const fetched = [];
  phone.context.on('request', (r) => fetched.push(new URL(r.url()).pathname));
  await page.goto(`${server.url}/?code=${encodeURIComponent(await server.invite(teamId))}`);
  await page.getByLabel('Your name').fill('Wendy Worker');
  await page.getByRole('button', { name: 'Join team' }).click();
  await page.getByRole('heading', { level: 1, name: 'My shift' }).waitFor({ timeout: 15_000 });
  await offlineReady(page);
  const shell = await cached(page);
  assert.ok(shell.some((u) => u.endsWith('.wasm')), `the engine is cached: ${shell.join(', ')}`);
  assert.deepEqual(await scriptsWithPeople(page), [], "the worker's cached app does not carry People");

  // Offline, the whole worker app: a reload, a shift, a check-in, every tab a worker has.
  await phone.setOffline(true);
  await page.reload();
  await page.getByLabel('Purpose').fill('Readings');
  await page.getByRole('button', { name: 'Start shift' }).click();
  await page.getByRole('button', { name: "I'm OK" }).click();
  for (const screen of ['Team', 'Alerts', 'History', 'Health', 'Settings']) {
    await go(page, screen);
    await page.getByRole('heading', { level: 1, name: screen, exact: true }).waitFor();
  }
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'People', exact: true }).count(), 0, 'a worker has no People tab');
  assert.ok(!fetched.some((u) => PEOPLE.test(u)), `People was never fetched: ${fetched.filter((u) => u.includes('assets')).join(', ')}`);
  await phone.close();
}));

test("a lead's phone caches People the first time it starts online and has it offline", phoneTest(async () => {
  const { leadCodes } = await makeTeam(server, 'East estate');
  const phone = new PhoneBrowser();
  let page = await phone.open();
  await page.goto(`${server.url}/?code=${encodeURIComponent(leadCodes[0])}`);
  await page.getByLabel('Your name').fill('Lee Lead');
  await page.getByRole('button', { name: 'Join team' }).click();
  await page.getByRole('heading', { level: 1, name: 'Team', exact: true }).waitFor({ timeout: 15_000 });
  await offlineReady(page);
  // Fetched at start for a lead (not only when opened), through the service worker, which keeps it.
  await page.waitForFunction(
    async (re) => {
      for (const name of await caches.keys()) {
        for (const r of await (await caches.open(name)).keys()) if (new RegExp(re).test(new URL(r.url).pathname)) return true;
      }
      return false;
    },
    PEOPLE.source,
    { timeout: 15_000 },
  );

  // The browser closed and opened again with no network: People opens.
  await phone.close();
  page = await phone.open({ offline: true });
  await page.goto(`${server.url}/`);
  await page.getByRole('heading', { level: 1, name: 'Team', exact: true }).waitFor({ timeout: 15_000 });
  await go(page, 'People');
  await page.getByRole('heading', { level: 1, name: 'People', exact: true }).waitFor({ timeout: 10_000 });
  await phone.close();
}));
