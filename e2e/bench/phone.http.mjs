// Does the phone web app's size over plain HTTP matter? What a phone's browser gives a page it
// loads from the Kith server by name over plain HTTP, against HTTPS-like origins (docs/benchmarks.md,
// "The phone web app"). Not a test: it prints a table. Chromium maps `kith.test` to the local
// server (`--host-resolver-rules`), so the page's origin is `http://kith.test:<port>`, as a
// phone would see a server on the LAN; `http://127.0.0.1` is what every test and bench here uses
// (loopback counts as secure).
//
//   node e2e/bench/phone.http.mjs   # after cargo build -p kith-server and npm --prefix ui run build

import { chromium } from 'playwright-core';

import { Server, stopAll } from '../lib/kith.mjs';
import { chromiumPath } from '../lib/dashboard.mjs';
import { phone } from '../lib/phone.mjs';

const server = await new Server({ name: 'http-kith-server' }).start();
const port = new URL(server.url).port;
const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--host-resolver-rules=MAP kith.test 127.0.0.1'],
});
try {
  console.log('| origin | isSecureContext | navigator.serviceWorker | navigator.storage.persist | Accept-Encoding sent |');
  console.log('|---|---|---|---|---|');
  for (const origin of [`http://127.0.0.1:${port}`, `http://kith.test:${port}`]) {
    const context = await browser.newContext({ ...phone });
    const page = await context.newPage();
    const res = await page.goto(`${origin}/`);
    const encoding = (await res.request().allHeaders())['accept-encoding'] ?? '';
    await page.waitForLoadState('networkidle');
    const facts = await page.evaluate(() => ({
      secure: window.isSecureContext,
      sw: 'serviceWorker' in navigator,
      persist: typeof navigator.storage?.persist === 'function',
    }));
    console.log(`| ${origin} | ${facts.secure} | ${facts.sw ? 'present' : 'absent'} | ${facts.persist ? 'present' : 'absent'} | ${encoding} |`);
    await context.close();
  }
} finally {
  await browser.close();
  await stopAll();
}
