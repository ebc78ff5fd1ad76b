// Benchmarks of the phone web app in Debian's Chromium with phone emulation (docs/benchmarks.md,
// "The phone web app"). Not a test: it prints a table. Run after building (scripts/lib/web.sh,
// npm --prefix ui run build, cargo build -p kith-server):
//
//   node e2e/bench/phone.bench.mjs   # KITH_BENCH_CHECKINS=300 KITH_BENCH_STARTS=20 KITH_BENCH_PACE_MS=250
//   KITH_BENCH_SIZES_ONLY=1 node e2e/bench/phone.bench.mjs   # 3. only, no browser: seconds
//
// 1. A check-in saved durably: from the tap (the command reaching the engine) to its IndexedDB
//    transaction (durability 'strict') having committed, the moment the app may say "saved"
//    (`kith:saved` performance measures), offline so no sync is involved, over N check-ins.
// 2. App start to usable, offline: a reload with no network (the service worker serves the shell,
//    IndexedDB the documents) until the "I'm OK" button is on screen, from navigation start.
// 3. What is shipped: every file the service worker caches, in bytes over the wire from the real
//    server, to a browser over HTTP (gzip) and over HTTPS (brotli too).

import fs from 'node:fs';
import path from 'node:path';

import http from 'node:http';

import { Server, makeTeam, stopAll, uiDist } from '../lib/kith.mjs';
import { PhoneBrowser, offlineReady } from '../lib/phone.mjs';

const CHECKINS = Number(process.env.KITH_BENCH_CHECKINS ?? 300);
const STARTS = Number(process.env.KITH_BENCH_STARTS ?? 20);
const PACE_MS = Number(process.env.KITH_BENCH_PACE_MS ?? 250);
/** Only 3. (the bytes shipped), in seconds: `KITH_BENCH_SIZES_ONLY=1`. */
const SIZES_ONLY = process.env.KITH_BENCH_SIZES_ONLY === '1';
/** The UI build to serve (default ui/dist): another build for before/after runs, `KITH_BENCH_UI_DIR`. */
const UI_DIR = process.env.KITH_BENCH_UI_DIR ?? uiDist;

const median = (a) => pct(a, 50);
function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const ms = (v) => `${v.toFixed(1)} ms`;
const kb = (v) => `${(v / 1024).toFixed(1)} KB`;
/** The body of `url` as sent to a client accepting `acceptEncoding`: its bytes and encoding. */
function wire(url, acceptEncoding) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { 'accept-encoding': acceptEncoding } }, (res) => {
        let bytes = 0;
        res.on('data', (c) => (bytes += c.length));
        res.on('end', () =>
          res.statusCode === 200 ? resolve({ bytes, encoding: res.headers['content-encoding'] ?? 'none' }) : reject(new Error(`${url}: ${res.statusCode}`)),
        );
      })
      .on('error', reject);
  });
}

/** 3. Bytes, as the server sends them: every file of the shell fetched with the Accept-Encoding
 * of Chromium over HTTP (gzip, deflate) and over HTTPS (… br, zstd), the body counted as it
 * arrives (not decoded). */
async function sizes(server) {
  const sw = fs.readFileSync(path.join(UI_DIR, 'sw.js'), 'utf8');
  const shell = JSON.parse(sw.match(/\bSHELL\s*=\s*(\[.*?\])[,;]/)[1]).filter((f) => f !== './');
  const rows = [];
  for (const f of [...shell, './sw.js']) {
    const url = `${server.url}/${f.replace('./', '')}`;
    const [raw, gz, br] = await Promise.all(['identity', 'gzip, deflate', 'gzip, deflate, br, zstd'].map((ae) => wire(url, ae)));
    rows.push({ f: f.replace('./', ''), raw: raw.bytes, gz: gz.bytes, br: br.bytes, enc: `${gz.encoding} / ${br.encoding}` });
  }
  const total = rows.reduce((a, r) => ({ raw: a.raw + r.raw, gz: a.gz + r.gz, br: a.br + r.br }), { raw: 0, gz: 0, br: 0 });
  const sum = (ext, k) => rows.filter((r) => r.f.endsWith(ext)).reduce((a, r) => a + r[k], 0);
  const [wasm, js, wasmBr, jsBr] = [sum('.wasm', 'gz'), sum('.js', 'gz'), sum('.wasm', 'br'), sum('.js', 'br')];
  return { rows, total, wasm, js, wasmBr, jsBr };
}

function printSizes({ rows, total, wasm, js, wasmBr, jsBr }) {
  console.log('\n| shipped (the service worker\'s shell, bytes over the wire) | uncompressed | to `gzip, deflate` (HTTP) | to `gzip, deflate, br, zstd` (HTTPS) | encodings sent |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.f} | ${kb(r.raw)} | ${kb(r.gz)} | ${kb(r.br)} | ${r.enc} |`);
  console.log(`| **total** | ${kb(total.raw)} | **${kb(total.gz)}** (WebAssembly ${kb(wasm)}, JavaScript ${kb(js)}) | **${kb(total.br)}** (WebAssembly ${kb(wasmBr)}, JavaScript ${kb(jsBr)}) | |`);
}

const server = await new Server({ name: 'bench-kith-server', uiDir: UI_DIR }).start();
try {
  // A block to leave early (the sizes only) while `finally` still stops the server.
  run: {
    if (SIZES_ONLY) {
      printSizes(await sizes(server));
      break run;
    }
    const { teamId } = await makeTeam(server, 'Bench team');
    const phone = new PhoneBrowser();
    const page = await phone.open({ trace: false });
    await page.goto(`${server.url}/?code=${encodeURIComponent(await server.invite(teamId))}`);
    await page.getByLabel('Your name').fill('Bench Worker');
    await page.getByRole('button', { name: 'Join team' }).click();
    await page.getByRole('heading', { level: 1, name: 'My shift' }).waitFor({ timeout: 15_000 });
    await offlineReady(page);
    await page.getByLabel('Purpose').fill('Benchmark');
    await page.getByRole('button', { name: 'Start shift' }).click();
    const ok = page.getByRole('button', { name: "I'm OK" });
    await ok.waitFor({ timeout: 10_000 });

    // 1. Check-ins, offline.
    await phone.setOffline(true);
    await page.evaluate(() =>
      ['kith:saved', 'kith:engine:check_in', 'kith:commit', 'kith:answered:check_in'].forEach((n) => performance.clearMeasures(n)),
    );
    // Between two taps, one strict transaction of the same kind with the app idle, in the same
    // database: what IndexedDB alone costs over the same minutes as the check-ins (the disk and the
    // machine's load vary from minute to minute on a shared machine; the 100 in a row below
    // take a tenth of a second).
    const idleBetween = [];
    const idleTx = () =>
      page.evaluate(async () => {
        const db = (globalThis.__benchDb ??= await new Promise((res, rej) => {
          const o = indexedDB.open('kith');
          o.onsuccess = () => res(o.result);
          o.onerror = rej;
        }));
        const t0 = performance.now();
        await new Promise((res, rej) => {
          const tx = db.transaction(['chunks'], 'readwrite', { durability: 'strict' });
          tx.objectStore('chunks').put(new Uint8Array(400), ['bench.idle', 0]);
          tx.oncomplete = res;
          tx.onabort = rej;
          tx.commit();
        });
        return performance.now() - t0;
      });
    for (let i = 0; i < CHECKINS; i++) {
      await ok.click();
      await page.waitForFunction((n) => performance.getEntriesByName('kith:saved').length >= n, i + 1);
      // The next tap once the app is ready again (the button is disabled while a write is answered),
      // at most four taps a second: a worker's taps are seconds apart, and the screen's refresh
      // after each one must not be counted in the next one's commit.
      await page.waitForFunction(() => !document.querySelector('button.ok')?.hasAttribute('disabled'));
      await page.waitForTimeout(PACE_MS / 2);
      idleBetween.push(await idleTx());
      await page.waitForTimeout(PACE_MS / 2);
    }
    await page.evaluate(() => {
      globalThis.__benchDb?.close();
      globalThis.__benchDb = undefined;
      return new Promise((res) => {
        const o = indexedDB.open('kith');
        o.onsuccess = () => {
          const tx = o.result.transaction(['chunks'], 'readwrite');
          tx.objectStore('chunks').delete(['bench.idle', 0]);
          tx.oncomplete = () => (o.result.close(), res());
        };
      });
    });
    idleBetween.sort((a, b) => a - b);
    const inOrder = await page.evaluate(() => performance.getEntriesByName('kith:saved').map((e) => e.duration));
    const saved = [...inOrder].sort((a, b) => a - b);
    const sortedOf = (name) =>
      page.evaluate((n) => performance.getEntriesByName(n).map((e) => e.duration), name).then((a) => a.sort((x, y) => x - y));
    const engine = await sortedOf('kith:engine:check_in');
    const commitOnly = await sortedOf('kith:commit');
    // When the screens heard the answer (the check-in shown as saved on the next frame).
    const answered = await sortedOf('kith:answered:check_in');
    const first = inOrder.slice(0, 50);
    const last = inOrder.slice(-50);

    // The same commit with the app idle: a strict transaction of one 400-byte value in Kith's own
    // database, timed inside the page (what IndexedDB alone costs here).
    const idle = await page.evaluate(async () => {
      const db = await new Promise((res, rej) => {
        const o = indexedDB.open('kith');
        o.onsuccess = () => res(o.result);
        o.onerror = rej;
      });
      const t = [];
      for (let i = 0; i < 100; i++) {
        const t0 = performance.now();
        await new Promise((res, rej) => {
          const tx = db.transaction(['docs', 'snapshots', 'chunks', 'sync', 'meta'], 'readwrite', { durability: 'strict' });
          tx.objectStore('meta').put('x'.repeat(400), 'bench.idle');
          tx.oncomplete = res;
          tx.onabort = rej;
        });
        t.push(performance.now() - t0);
      }
      db.close();
      return t.sort((a, b) => a - b);
    });

    // 2. Starts, offline.
    const starts = [];
    const opens = [];
    for (let i = 0; i < STARTS; i++) {
      await page.reload({ waitUntil: 'commit' });
      await ok.waitFor({ timeout: 15_000 });
      starts.push(await page.evaluate(() => performance.now()));
      opens.push(await page.evaluate(() => performance.getEntriesByName('kith:open')[0]?.duration ?? NaN));
    }
    starts.sort((a, b) => a - b);
    opens.sort((a, b) => a - b);
    await phone.close();

    const shipped = await sizes(server);
      console.log('\n## The phone web app (Debian Chromium, 390x844 with touch, this machine)\n');
    console.log('| measure | p50 | p99 | max | n |');
    console.log('|---|---|---|---|---|');
    console.log(`| check-in saved durably (tap → IndexedDB strict commit) | ${ms(median(saved))} | ${ms(pct(saved, 99))} | ${ms(saved.at(-1))} | ${saved.length} |`);
    console.log(`| — of which the engine (the edit in WebAssembly) | ${ms(median(engine))} | ${ms(pct(engine, 99))} | ${ms(engine.at(-1))} | ${engine.length} |`);
    console.log(`| — of which the IndexedDB transaction (its batch handed to the storage worker → commit heard there) | ${ms(median(commitOnly))} | ${ms(pct(commitOnly, 99))} | ${ms(commitOnly.at(-1))} | ${commitOnly.length} |`);
    console.log(`| the screens hear it (tap → the command's answer on the page) | ${ms(median(answered))} | ${ms(pct(answered, 99))} | ${ms(answered.at(-1))} | ${answered.length} |`);
    console.log(`| — IndexedDB alone, the app idle (one strict transaction) | ${ms(median(idle))} | ${ms(pct(idle, 99))} | ${ms(idle.at(-1))} | ${idle.length} |`);
    console.log(
      `| — IndexedDB alone between the taps (one strict put of 400 bytes, the same minutes) | ${ms(median(idleBetween))} | ${ms(pct(idleBetween, 99))} | ${ms(idleBetween.at(-1))} | ${idleBetween.length} |`,
    );
    console.log(
      `| — first 50 / last 50 check-ins (median) | ${ms(median([...first].sort((a, b) => a - b)))} / ${ms(median([...last].sort((a, b) => a - b)))} | | | |`,
    );
    console.log(`| app start to usable, offline (navigation → "I'm OK" on screen) | ${ms(median(starts))} | ${ms(pct(starts, 99))} | ${ms(starts.at(-1))} | ${starts.length} |`);
    console.log(`| — of which loading the engine and the documents (\`kith:open\`) | ${ms(median(opens))} | ${ms(pct(opens, 99))} | ${ms(opens.at(-1))} | ${opens.length} |`);
    printSizes(shipped);
  }
} finally {
  await stopAll();
}
