// Benchmark (not a test): from a missed check-in's deadline to the alarm banner visible on the
// lead's screen, in a real Chromium, against a real kith-server on the system clock.
//
//   node e2e/bench/alarm-latency.mjs [samples]        (default 100; KITH_BENCH_SPACING_MS, default 1500)
//
// A lead's browser shows the console. The team's policy is set (with `kith team policy`) to a
// 1-minute check-in interval, no grace, and the leads told at once. `samples` workers start a
// shift each with no connection and a device clock set back (KITH_NOW), so their deadlines fall
// one every KITH_BENCH_SPACING_MS from a minute on; then they sync. For each worker, the page
// records (MutationObserver, Date.now()) when the banner first shows their alarm, and claims it
// (as a lead would). Latency = that moment minus the alert's `opened_at`: the overdue moment on
// the server's clock. Same machine, same clock. It covers the ticker waking, the alert stored,
// the live event, the page fetching the alerts and drawing the banner.
//
// Prints the samples' median, p90, p99 and max. Results go in docs/benchmarks.md.

import { Device, Proxy, Server, bins, kithNow, makeTeam, missing, stopAll, uiDist, waitFor } from '../lib/kith.mjs';
import { joinInBrowser, newPage } from '../lib/dashboard.mjs';

const samples = Number(process.argv[2] ?? 100);
const spacing = Number(process.env.KITH_BENCH_SPACING_MS ?? 1500);
const INTERVAL_MS = 60_000;

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

async function main() {
  const why = missing(bins.server, bins.kith, `${uiDist}/index.html`);
  if (why) throw new Error(why);
  const server = await new Server({ name: 'bench-kith-server' }).start();
  const { teamId, leadCodes } = await makeTeam(server, 'Bench', { leadInvites: 2 });
  const leadCli = new Device('Bench Lead');
  await leadCli.join(server.url, leadCodes[1]);
  await leadCli.run(['team', 'policy', '--min', '1m', '--default', '1m', '--grace', '0s', '--reminder', '0s', '--escalation', '0:leads']);

  const page = await newPage();
  await joinInBrowser(page, server, leadCodes[0], 'Lee Lead');
  // Record when each alarm first shows, and claim it at once so the next one shows too.
  await page.evaluate(() => {
    window.__seen = {};
    const look = () => {
      const groups = document.querySelectorAll('section.alarm [role="group"]');
      for (const g of groups) {
        const name = g.getAttribute('aria-label')?.replace(/^[^:]*: /, '') ?? '';
        if (!(name in window.__seen)) window.__seen[name] = Date.now();
        // Claimed as a lead would; a claim refused while another is in flight is tried again.
        const b = g.querySelector('button');
        if (b && !b.disabled) b.click();
      }
    };
    new MutationObserver(look).observe(document.body, { childList: true, subtree: true });
  });

  console.error(`joining ${samples} workers…`);
  const proxy = await new Proxy(server.port).start();
  const workers = [];
  for (let i = 0; i < samples; i++) {
    const d = new Device(`Bench Worker ${String(i + 1).padStart(3, '0')}`);
    await d.join(proxy.url, await server.invite(teamId));
    workers.push(d);
  }
  // Deadlines: one every `spacing` ms, starting once every worker has synced.
  proxy.setOnline(false);
  const setup = samples * 400 + 20_000;
  const first = Date.now() + setup;
  for (const [i, d] of workers.entries()) {
    const started = first + i * spacing - INTERVAL_MS;
    await d.startShift({ every: '1m', until: '+8h', env: { KITH_NOW: kithNow(started) } });
  }
  proxy.setOnline(true);
  for (const d of workers) await d.sync();
  const left = first - Date.now();
  if (left < 2000) throw new Error(`setup took too long (${-left} ms past the first deadline): raise the setup allowance`);
  console.error(`first deadline in ${Math.round(left / 1000)} s, the last ${Math.round((left + samples * spacing) / 1000)} s from now`);

  const names = workers.map((d) => d.name);
  await waitFor(
    async () => {
      const seen = await page.evaluate(() => window.__seen);
      return names.every((n) => n in seen);
    },
    { timeout: setup + samples * spacing + 60_000, interval: 500, what: 'every alarm on the lead\'s screen' },
  );
  const seen = await page.evaluate(() => window.__seen);
  const list = (await leadCli.run(['alerts', '--all'])).alerts;
  const lat = [];
  for (const n of names) {
    const a = list.find((x) => x.worker_name === n && x.kind === 'missed_checkin');
    if (!a) throw new Error(`no missed check-in alert for ${n}`);
    lat.push(seen[n] - a.opened_at);
  }
  lat.sort((a, b) => a - b);
  const r = {
    samples: lat.length,
    median_ms: quantile(lat, 0.5),
    p90_ms: quantile(lat, 0.9),
    p99_ms: quantile(lat, 0.99),
    max_ms: lat[lat.length - 1],
    min_ms: lat[0],
  };
  console.log(JSON.stringify(r));
  await page.context().close();
  await stopAll();
}

main().then(
  () => process.exit(0),
  async (e) => {
    console.error(e);
    await stopAll();
    process.exit(1);
  },
);
