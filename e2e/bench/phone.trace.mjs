// Where a check-in's time goes in the phone web app: a Chromium performance trace of a few taps of
// "I'm OK" (offline), summarised per tap as the main thread's top-level tasks from the tap until the
// check-in's IndexedDB commit was heard (`kith:saved`). docs/benchmarks.md, "The phone web app".
//
//   node e2e/bench/phone.trace.mjs   # KITH_TRACE_TAPS=10, KITH_TRACE_OUT=/tmp/kith-phone-trace.json

import fs from 'node:fs';

import { Server, makeTeam, stopAll } from '../lib/kith.mjs';
import { PhoneBrowser, offlineReady } from '../lib/phone.mjs';

const TAPS = Number(process.env.KITH_TRACE_TAPS ?? 10);
const OUT = process.env.KITH_TRACE_OUT ?? '/tmp/kith-phone-trace.json';

const server = await new Server({ name: 'trace-kith-server' }).start();
try {
  const { teamId } = await makeTeam(server, 'Trace team');
  const phone = new PhoneBrowser();
  const page = await phone.open({ trace: false });
  await page.goto(`${server.url}/?code=${encodeURIComponent(await server.invite(teamId))}`);
  await page.getByLabel('Your name').fill('Trace Worker');
  await page.getByRole('button', { name: 'Join team' }).click();
  await page.getByRole('heading', { level: 1, name: 'My shift' }).waitFor({ timeout: 15_000 });
  await offlineReady(page);
  await page.getByLabel('Purpose').fill('Trace');
  await page.getByRole('button', { name: 'Start shift' }).click();
  const ok = page.getByRole('button', { name: "I'm OK" });
  await ok.waitFor({ timeout: 10_000 });
  await phone.setOffline(true);
  const cdp = await phone.context.newCDPSession(page);
  const chunks = [];
  cdp.on('Tracing.dataCollected', (e) => chunks.push(...e.value));
  const done = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
  await cdp.send('Tracing.start', {
    traceConfig: { includedCategories: ['devtools.timeline', 'blink.user_timing', 'disabled-by-default-devtools.timeline', 'v8.execute', 'IndexedDB'] },
    transferMode: 'ReportEvents',
  });
  for (let i = 0; i < TAPS; i++) {
    await ok.click();
    await page.waitForFunction((n) => performance.getEntriesByName('kith:saved').length >= n, i + 1);
    await page.waitForFunction(() => !document.querySelector('button.ok')?.hasAttribute('disabled'));
    await page.waitForTimeout(250);
  }
  await cdp.send('Tracing.end');
  await done;
  fs.writeFileSync(OUT, JSON.stringify(chunks));
  // The renderer's main thread: its top-level tasks within each tap's window.
  const main = chunks.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  const onMain = chunks.filter((e) => e.pid === main?.pid && e.tid === main?.tid && e.ph === 'X');
  const saved = chunks.filter((e) => e.name === 'kith:saved' && e.ph === 'b');
  const savedEnd = chunks.filter((e) => e.name === 'kith:saved' && e.ph === 'e');
  saved.forEach((s, i) => {
    const end = savedEnd[i]?.ts ?? s.ts;
    const window = onMain.filter((e) => e.ts + e.dur > s.ts - 20_000 && e.ts < end && e.dur > 100);
    const byName = new Map();
    for (const e of window) byName.set(e.name, (byName.get(e.name) ?? 0) + e.dur / 1000);
    const top = [...byName.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
    console.log(`tap ${i + 1}: saved after ${((end - s.ts) / 1000).toFixed(1)} ms;`, top.map(([n, d]) => `${n} ${d.toFixed(1)}`).join(', '));
  });
  // The storage worker's thread: its tasks in the same windows (where a slow commit waited).
  const workers = chunks.filter((e) => e.name === 'thread_name' && /Worker/.test(e.args?.name ?? ''));
  const commits = chunks.filter((e) => e.name === 'kith:commit' && e.ph === 'b');
  const commitEnds = chunks.filter((e) => e.name === 'kith:commit' && e.ph === 'e');
  commits.forEach((c, i) => {
    const end = commitEnds[i]?.ts ?? c.ts;
    const w = chunks.filter(
      (e) => workers.some((t) => t.pid === e.pid && t.tid === e.tid) && e.ph === 'X' && e.ts + e.dur > c.ts && e.ts < end && e.dur > 50,
    );
    const m = onMain.filter((e) => e.ts + e.dur > c.ts && e.ts < end && e.dur > 50);
    const fmt = (a) => a.map((e) => `${e.name}@${((e.ts - c.ts) / 1000).toFixed(1)}+${(e.dur / 1000).toFixed(1)}`).join(' ');
    console.log(`commit ${i + 1}: ${((end - c.ts) / 1000).toFixed(1)} ms; worker: ${fmt(w)}; main: ${fmt(m)}`);
  });
  console.log(`trace: ${OUT}`);
} finally {
  await stopAll();
}
