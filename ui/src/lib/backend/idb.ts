// The phone web app's storage: IndexedDB, laid out like the native SQLite store (per document a
// snapshot plus numbered change chunks; sync state per document; small meta values). The engine
// (kith-core in WebAssembly) decides every write; this file only carries them out, each batch in
// ONE read-write transaction with `durability: 'strict'`, and reports when it has committed
// (`oncomplete`): only then is a check-in saved. Read-write transactions over the same stores run
// in the order they were created, so batches commit in the engine's order.
//
// Why IndexedDB and not SQLite on OPFS: it is in every browser without a second WebAssembly
// module (SQLite's is ~1 MB), needs no worker or cross-origin isolation headers, and a strict
// transaction is the durability unit we need; the documents are already held in memory by the
// engine, so we never query, only append and load at start.

export const DB_NAME = 'kith';
const VERSION = 1;
const STORES = ['docs', 'snapshots', 'chunks', 'sync', 'meta'] as const;

/** What the engine writes (kith_core::Write). */
export type Write =
  | { op: 'create_doc'; id: string; kind: string; created_at_ms: number }
  | { op: 'append_chunk'; id: string; n: number; bytes: Uint8Array }
  | { op: 'compact'; id: string; through: number; snapshot: Uint8Array }
  | { op: 'sync_state'; id: string; server_heads: Uint8Array; vouch_heads: Uint8Array | null; receipt: Uint8Array | null }
  | { op: 'meta'; key: string; value: string };

/** What the engine loads (kith_core::Records). */
export type Records = {
  docs: Array<{
    id: string;
    kind: string;
    created_at_ms: number;
    snapshot: Uint8Array;
    through: number;
    chunks: Array<{ n: number; bytes: Uint8Array }>;
  }>;
  sync: Array<{ id: string; server_heads: Uint8Array; vouch_heads: Uint8Array | null; receipt: Uint8Array | null }>;
  meta: Array<[string, string]>;
};

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

/** Opens (creating) the database. */
export function openDb(name = DB_NAME, idb: IDBFactory = indexedDB): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const open = idb.open(name, VERSION);
    open.onupgradeneeded = () => {
      const db = open.result;
      for (const s of STORES) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s);
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error ?? new Error('IndexedDB could not be opened'));
    open.onblocked = () => reject(new Error('Kith is open in another tab that holds an older version: close it and reload'));
  });
}

function bytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(0);
}

/** Everything stored, in one read-only transaction (a consistent view). */
export async function loadAll(db: IDBDatabase): Promise<Records> {
  const tx = db.transaction([...STORES], 'readonly');
  const all = <T>(store: string) => req(tx.objectStore(store).getAll() as IDBRequest<T[]>);
  const keys = (store: string) => req(tx.objectStore(store).getAllKeys());
  const [docs, snaps, snapKeys, chunks, chunkKeys, sync, metaValues, metaKeys] = await Promise.all([
    all<{ id: string; kind: string; created_at_ms: number }>('docs'),
    all<{ through: number; snapshot: Uint8Array }>('snapshots'),
    keys('snapshots'),
    all<Uint8Array>('chunks'),
    keys('chunks'),
    all<Records['sync'][number]>('sync'),
    all<string>('meta'),
    keys('meta'),
  ]);
  const byId = new Map<string, Records['docs'][number]>();
  for (const d of docs) {
    byId.set(d.id, { id: d.id, kind: d.kind, created_at_ms: d.created_at_ms, snapshot: new Uint8Array(0), through: 0, chunks: [] });
  }
  snapKeys.forEach((k, i) => {
    const d = byId.get(String(k));
    const snap = snaps[i];
    if (d && snap) {
      d.snapshot = bytes(snap.snapshot);
      d.through = snap.through;
    }
  });
  chunkKeys.forEach((k, i) => {
    const [id, n] = k as [string, number];
    byId.get(id)?.chunks.push({ n, bytes: bytes(chunks[i]) });
  });
  return {
    docs: [...byId.values()],
    sync: sync.map((s) => ({ ...s, server_heads: bytes(s.server_heads) })),
    meta: metaKeys.map((k, i) => [String(k), metaValues[i]] as [string, string]),
  };
}

/**
 * Starts one transaction carrying out `writes`, strictly durable. `done` runs once it has
 * committed, `failed` if it aborted (nothing of it is stored then). Created synchronously, so
 * successive calls commit in call order.
 */
export function commit(
  db: IDBDatabase,
  writes: Write[],
  done: () => void,
  failed: (why: string) => void,
): void {
  let tx: IDBTransaction;
  try {
    tx = db.transaction([...STORES], 'readwrite', { durability: 'strict' });
  } catch (e) {
    queueMicrotask(() => failed(e instanceof Error ? e.message : String(e)));
    return;
  }
  tx.oncomplete = () => done();
  tx.onabort = () => failed(tx.error ? `${tx.error.name}: ${tx.error.message}` : 'the transaction was aborted');
  const s = (name: string) => tx.objectStore(name);
  try {
    for (const w of writes) {
      switch (w.op) {
        case 'create_doc':
          s('docs').put({ id: w.id, kind: w.kind, created_at_ms: w.created_at_ms }, w.id);
          break;
        case 'append_chunk':
          s('chunks').put(w.bytes, [w.id, w.n]);
          break;
        case 'compact':
          s('snapshots').put({ through: w.through, snapshot: w.snapshot }, w.id);
          s('chunks').delete(IDBKeyRange.bound([w.id, 0], [w.id, w.through]));
          break;
        case 'sync_state':
          s('sync').put(
            { id: w.id, server_heads: w.server_heads, vouch_heads: w.vouch_heads ?? null, receipt: w.receipt ?? null },
            w.id,
          );
          break;
        case 'meta':
          s('meta').put(w.value, w.key);
          break;
      }
    }
    // Commit now, without waiting for each request's success event to make its way back through
    // the page's event loop (behind the page's rendering of the tap): that round trip, not the
    // disk, was most of a check-in's time to "saved" (docs/benchmarks.md, "The phone web app").
    // Browsers without commit() (Safari before 15) commit once the requests are answered.
    tx.commit?.();
  } catch (e) {
    // A write that could not even be queued: abort, so nothing of the batch is stored.
    try {
      tx.abort();
    } catch {
      /* already finished */
    }
    if (!(e instanceof DOMException && e.name === 'AbortError')) console.error('Kith: a storage write failed', e);
  }
}

/** Deletes this browser's Kith data (the engine's documents and identity). */
export function deleteDb(name = DB_NAME, idb: IDBFactory = indexedDB): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = idb.deleteDatabase(name);
    r.onsuccess = () => resolve();
    r.onerror = () => reject(r.error ?? new Error('could not delete the data'));
    r.onblocked = () => resolve();
  });
}
