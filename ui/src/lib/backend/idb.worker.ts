// The phone web app's storage writer: a dedicated worker that carries out the engine's `persist`
// batches (./idb.ts `commit`, one strict transaction each) and says when each has committed.
//
// Why a worker: Chromium holds back a page's IndexedDB events after a tap until the tap's next
// frame has been drawn, so on the page a check-in committed in ~2 ms was heard committed only
// 10-40 ms later. Here nothing draws: the commit is heard when it happens, and its moment is
// reported with it (docs/benchmarks.md, "The phone web app"). Messages are handled in the order
// they come and each transaction is created at once, so batches commit in the engine's order.

import { commit, openDb, type Write } from './idb';

export type PersistRequest = { task: number; writes: Write[] };
/** `at`: when the commit was heard, as `performance.timeOrigin + performance.now()` here. */
export type PersistAnswer = { task: number; ok: true; at: number } | { task: number; ok: false; error: string };
/** The worker's first message: its script loaded and it takes batches from now on. */
export type WriterReady = { ready: true };

type Scope = {
  onmessage: ((e: MessageEvent<PersistRequest>) => void) | null;
  postMessage(m: PersistAnswer | WriterReady): void;
};
const scope = self as unknown as Scope;

let db: Promise<IDBDatabase> | null = null;
function database(): Promise<IDBDatabase> {
  db ??= openDb().then((d) => {
    // Another connection wants to delete or upgrade the database (Settings, "Leave this
    // team"): let it, and open again for the next batch.
    d.onversionchange = () => {
      d.close();
      db = null;
    };
    return d;
  });
  return db;
}

const now = () => performance.timeOrigin + performance.now();

scope.onmessage = (e) => {
  const { task, writes } = e.data;
  // Each message's continuation runs in arrival order (one promise), so transactions are created
  // in the engine's order.
  database().then(
    (d) =>
      commit(
        d,
        writes,
        () => scope.postMessage({ task, ok: true, at: now() }),
        (error) => scope.postMessage({ task, ok: false, error }),
      ),
    (err: unknown) => {
      db = null;
      scope.postMessage({ task, ok: false, error: err instanceof Error ? err.message : String(err) });
    },
  );
};

// Only now does the page hand batches over (until then, or if this never comes, the page commits
// them itself): a batch is never left with a worker whose script has not loaded.
scope.postMessage({ ready: true });
