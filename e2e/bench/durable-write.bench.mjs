// What a durable write costs on this machine, below the app (docs/benchmarks.md, "The phone web
// app": issue 12's check-in saved durably, p99 ≤ 10 ms). Not a test: it prints a table. No build
// needed (no Kith code runs): a page on a loopback origin and one dedicated worker in Debian's
// Chromium, on a user data directory of its own (so IndexedDB and OPFS are on the disk, not in
// memory as in a playwright incognito context), and this process writing a file itself.
//
//   node e2e/bench/durable-write.bench.mjs   # KITH_BENCH_SAMPLES=500 KITH_BENCH_PACE_MS=20 KITH_BENCH_BYTES=400
//
// Each round makes one write of each kind, in a rotating order (so none is always first after
// the pause), then waits PACE_MS. The record is check-in sized (400 bytes, as the phone bench's
// idle put); each write has a new key or offset, as a check-in appends a new chunk.
// - IndexedDB strict: one readwrite transaction `durability: 'strict'`, one put, `commit()`,
//   timed to `complete` in the worker (what the app's storage worker does per check-in);
// - OPFS: `FileSystemSyncAccessHandle.write` at the end of a file, then `flush()` (Chromium:
//   fdatasync on Linux), the durable path SQLite-on-OPFS builds on (its commit needs at least
//   this one flush);
// - IndexedDB relaxed: the same transaction `durability: 'relaxed'` (no flush): the floor of the
//   browser's own path;
// - the disk itself: `write` + `fdatasync` of 400 bytes appended to a file in the same directory
//   as the browser's profile, from this process (Node).
// `KITH_BENCH_STRACE=1` also counts the browser's fsync/fdatasync calls per kind (strace -f on the
// browser, one kind at a time, 50 writes each), to show which writes reach the disk's flush, and
// the time each flush spent in the kernel; `KITH_BENCH_STRACE_DIR` keeps the traces there,
// `KITH_BENCH_STRACE_CALLS` traces other calls (e.g. `trace=fdatasync,pwrite64`, with file names).

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';
import { chromiumPath } from '../lib/dashboard.mjs';

const SAMPLES = Number(process.env.KITH_BENCH_SAMPLES ?? 500);
const PACE_MS = Number(process.env.KITH_BENCH_PACE_MS ?? 20);
const BYTES = Number(process.env.KITH_BENCH_BYTES ?? 400);
const STRACE = process.env.KITH_BENCH_STRACE === '1';

const WORKER = `
let db, handle, offset = 0, key = 0;
const record = new Uint8Array(${BYTES}).map((_, i) => i);
async function setup() {
  db = await new Promise((resolve, reject) => {
    const r = indexedDB.open('bench', 1);
    r.onupgradeneeded = () => r.result.createObjectStore('chunks');
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const root = await navigator.storage.getDirectory();
  const file = await root.getFileHandle('log.bin', { create: true });
  handle = await file.createSyncAccessHandle();
  handle.truncate(0);
  handle.flush();
}
function idb(durability) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const tx = db.transaction(['chunks'], 'readwrite', { durability });
    tx.objectStore('chunks').put(record, ['bench', key++]);
    tx.oncomplete = () => resolve(performance.now() - t0);
    tx.onabort = tx.onerror = () => reject(tx.error);
    tx.commit();
  });
}
function opfs() {
  const t0 = performance.now();
  const n = handle.write(record, { at: offset });
  offset += n;
  handle.flush();
  return performance.now() - t0;
}
onmessage = async (e) => {
  try {
    if (e.data === 'setup') { await setup(); postMessage({ ok: true }); return; }
    const ms = e.data === 'opfs' ? opfs() : await idb(e.data);
    postMessage({ ok: true, ms });
  } catch (err) { postMessage({ ok: false, error: String(err) }); }
};
`;
const PAGE = `<!doctype html><meta charset="utf-8"><title>durable writes</title><script>
const w = new Worker('/worker.js');
const waiting = [];
w.onmessage = (e) => waiting.shift()(e.data);
window.ask = (m) => new Promise((resolve) => { waiting.push(resolve); w.postMessage(m); });
</script>`;

const server = http.createServer((req, res) => {
  const js = req.url === '/worker.js';
  res.writeHead(200, { 'content-type': js ? 'text/javascript' : 'text/html' });
  res.end(js ? WORKER : PAGE);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-durable-'));
const profile = path.join(dir, 'profile');
const context = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(origin);
  const ask = async (m) => {
    const r = await page.evaluate((msg) => window.ask(msg), m);
    if (!r.ok) throw new Error(`${m}: ${r.error}`);
    return r.ms;
  };
  await ask('setup');

  const fd = fs.openSync(path.join(dir, 'fsync.bin'), 'w');
  const record = Buffer.alloc(BYTES, 7);
  let offset = 0;
  const disk = () => {
    const t0 = process.hrtime.bigint();
    fs.writeSync(fd, record, 0, BYTES, offset);
    offset += BYTES;
    fs.fdatasyncSync(fd);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };

  const KINDS = ['strict', 'opfs', 'relaxed', 'disk'];
  const run = (kind) => (kind === 'disk' ? disk() : ask(kind));
  for (const kind of KINDS) for (let i = 0; i < 10; i++) await run(kind); // warm up
  const times = Object.fromEntries(KINDS.map((k) => [k, []]));
  const load0 = os.loadavg()[0];
  const t0 = Date.now();
  for (let i = 0; i < SAMPLES; i++) {
    for (let j = 0; j < KINDS.length; j++) {
      const kind = KINDS[(i + j) % KINDS.length];
      times[kind].push(await run(kind));
    }
    await new Promise((r) => setTimeout(r, PACE_MS));
  }
  const seconds = (Date.now() - t0) / 1000;
  fs.closeSync(fd);

  const pct = (s, p) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
  const ms = (v) => `${v.toFixed(2)} ms`;
  const NAMES = {
    strict: "IndexedDB, `durability: 'strict'` (the app's check-in)",
    opfs: 'OPFS sync access handle, write + `flush()`',
    relaxed: "IndexedDB, `durability: 'relaxed'` (not durable: the floor)",
    disk: 'the disk: `write` + `fdatasync` from Node, same directory',
  };
  console.log(
    `\n${SAMPLES} rounds of ${BYTES}-byte writes, one of each kind per round in rotating order, ${PACE_MS} ms apart; ` +
      `${seconds.toFixed(0)} s, load average ${load0.toFixed(2)} → ${os.loadavg()[0].toFixed(2)}; ${new Date().toISOString()}\n`,
  );
  console.log('| write | p50 | p90 | p99 | max | > 10 ms |');
  console.log('|---|---|---|---|---|---|');
  for (const kind of KINDS) {
    const s = times[kind].slice().sort((a, b) => a - b);
    const over = s.filter((v) => v > 10).length;
    console.log(`| ${NAMES[kind]} | ${ms(pct(s, 50))} | ${ms(pct(s, 90))} | ${ms(pct(s, 99))} | ${ms(s.at(-1))} | ${over} |`);
  }
  // Do the slow ones come together (the same moments of the disk) across kinds?
  const slowRounds = (kind) => new Set(times[kind].flatMap((v, i) => (v > 10 ? [i] : [])));
  const strictSlow = slowRounds('strict');
  for (const kind of ['opfs', 'disk']) {
    const other = slowRounds(kind);
    const both = [...strictSlow].filter((i) => other.has(i)).length;
    console.log(`rounds with strict > 10 ms: ${strictSlow.size}; with ${kind} > 10 ms: ${other.size}; both: ${both}`);
  }

  if (STRACE) {
    // Which writes reach a flush: the browser's fsync-family calls during 50 writes of one kind.
    const pids = execFileSync('pgrep', ['-f', profile]).toString().trim().split('\n');
    for (const kind of ['strict', 'relaxed', 'opfs']) {
      const out = path.join(process.env.KITH_BENCH_STRACE_DIR ?? dir, `strace-${kind}`);
      const args = ['-f', '-T', '-y', '-e', process.env.KITH_BENCH_STRACE_CALLS ?? 'trace=fsync,fdatasync,sync_file_range,msync', '-o', out];
      for (const p of pids) args.push('-p', p);
      const st = spawn('strace', args, { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 1500)); // strace attaches to every thread
      for (let i = 0; i < 50; i++) await run(kind);
      await new Promise((r) => setTimeout(r, 200));
      st.kill('SIGINT');
      await new Promise((r) => st.on('exit', r));
      const lines = fs.readFileSync(out, 'utf8').split('\n');
      const count = (name) => lines.filter((l) => l.includes(`${name}(`) && !l.includes('resumed')).length;
      // -T: each call's time in the kernel, at the end of its line (or of its "resumed" line).
      const took = lines
        .flatMap((l) => (/fdatasync|fsync/.test(l) ? [l.match(/<([0-9.]+)>\s*$/)?.[1]] : []))
        .filter(Boolean)
        .map((v) => Number(v) * 1000)
        .sort((a, b) => a - b);
      const at = (q) => (took.length ? took[Math.min(took.length - 1, Math.ceil(q * took.length) - 1)].toFixed(2) : '-');
      console.log(
        `strace, 50 ${kind} writes: fsync ${count('fsync')}, fdatasync ${count('fdatasync')}; ` +
          `time in the call p50 ${at(0.5)} ms, max ${at(1)} ms`,
      );
    }
  }
} finally {
  await context.close();
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
