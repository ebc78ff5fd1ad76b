// Kith's service worker: the whole app shell (page, scripts, styles, the engine's WebAssembly,
// icons) is cached at install, so the app opens with no signal at all; the sync API is never
// cached. Built by vite.config.ts, which fills in the shell's files and a version.
//
// Background Sync (Chromium): when the page queued check-ins while offline it registers
// 'kith-sync'; when the connection returns the browser fires it here and every open Kith page is
// told to sync. With no Kith page open nothing runs: the check-ins wait, saved on the device,
// until Kith is opened again (docs/app.md, "What a closed browser cannot do").

const VERSION = '__KITH_VERSION__';
const SHELL = __KITH_SHELL__;
// The lead-only screens (People): not in the shell, so a worker's phone never downloads them;
// cached here when first fetched (a lead's app fetches them at start), kept with the shell.
const LAZY = new Set(__KITH_LAZY__.map((u) => new URL(u, self.location.href).pathname));
const CACHE = `kith-shell-${VERSION}`;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      // Straight from the server, not from the HTTP cache.
      .then((c) => c.addAll(SHELL.map((u) => new Request(u, { cache: 'reload' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('kith-shell-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function isApi(path) {
  return path === '/v1' || path.startsWith('/v1/') || path === '/healthz' || path === '/metrics' || path === '/openapi.json';
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || isApi(url.pathname)) return;
  if (req.mode === 'navigate') {
    // Offline first: the cached page at once (a new version installs in the background and is
    // used from the next start); the network only if the shell is not cached.
    event.respondWith(caches.match('./', { cacheName: CACHE }).then((r) => r || fetch(req)));
    return;
  }
  if (LAZY.has(url.pathname)) {
    event.respondWith(
      caches.open(CACHE).then((c) =>
        c.match(req).then(
          (hit) =>
            hit ||
            fetch(req).then((res) => {
              if (res.ok) void c.put(req, res.clone());
              return res;
            }),
        ),
      ),
    );
    return;
  }
  event.respondWith(caches.match(req, { cacheName: CACHE }).then((r) => r || fetch(req)));
});

self.addEventListener('sync', (event) => {
  if (event.tag !== 'kith-sync') return;
  event.waitUntil(
    self.clients.matchAll({ type: 'window' }).then((clients) => {
      for (const c of clients) c.postMessage({ type: 'kith-sync' });
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: 'window' }).then((clients) => (clients[0] ? clients[0].focus() : self.clients.openWindow('./'))),
  );
});
