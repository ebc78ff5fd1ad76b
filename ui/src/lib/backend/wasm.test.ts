// The phone web app's driver (./wasm.ts) carrying out the engine's effects. The engine here is a
// stand-in that records what it hears and answers as kith-core does for the case under test; the
// real engine's behaviour is tested in Rust (kith-core, kith-web) and in Chromium (e2e/phone).
import { afterEach, describe, expect, it, vi } from 'vitest';

const { WasmBackend } = await import('./wasm');

type Heard = { event: string; task?: number; failure?: { retryable: boolean } };

/** An engine whose every event is recorded; `poke` asks for a sync, a failed sync sets a timer. */
function engine(heard: Heard[]) {
  return {
    handle(_now: number, ev: Heard) {
      heard.push(ev);
      if (ev.event === 'poke') return [{ effect: 'sync', task: 7, server: 'http://kith.test', body: new Uint8Array([1]) }];
      if (ev.event === 'sync_failed') return [{ effect: 'wake_at', at_ms: Date.now() + 1000 }];
      return [];
    },
    answered: () => [],
    take_opening: () => [],
    token: () => 'tok',
    server: () => 'http://kith.test',
    stored_bytes: () => 0,
    free: () => {},
  };
}

/** A backend with the stand-in engine, the browser saying it is `onLine` or not, and a fetch that fails. */
function backend(onLine: boolean) {
  vi.stubGlobal('navigator', { onLine });
  const fetch = vi.fn(() => Promise.reject(new TypeError('Failed to fetch')));
  vi.stubGlobal('fetch', fetch);
  const heard: Heard[] = [];
  const inner = new WasmBackend() as unknown as {
    engine: unknown;
    event(ev: object): void;
    timer: unknown;
    ready: Promise<void>;
  };
  // No engine or IndexedDB under Node: the stand-in takes its place.
  inner.ready.catch(() => {});
  inner.engine = engine(heard);
  return { fetch, heard, inner };
}

describe('WasmBackend', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('fails a sync at once, without a fetch, when the browser says it has no network', () => {
    const { fetch, heard, inner } = backend(false);
    inner.event({ event: 'poke' });
    // Within the same task: an edit's answer (which waits for its sync attempt) is not held
    // until a fetch fails a frame or more later.
    expect(heard.map((h) => h.event)).toEqual(['poke', 'sync_failed']);
    expect(heard[1]).toMatchObject({ task: 7, failure: { retryable: true } });
    expect(fetch).not.toHaveBeenCalled();
    // The failure's retry timer is the one kept.
    expect(inner.timer).not.toBeNull();
    clearTimeout(inner.timer as ReturnType<typeof setTimeout>);
  });

  it('sends a sync through fetch when the browser may have a network', async () => {
    const { fetch, heard, inner } = backend(true);
    inner.event({ event: 'poke' });
    expect(heard.map((h) => h.event)).toEqual(['poke']);
    expect(fetch).toHaveBeenCalledTimes(1);
    await vi.waitFor(() => expect(heard.map((h) => h.event)).toEqual(['poke', 'sync_failed']));
    clearTimeout(inner.timer as ReturnType<typeof setTimeout>);
  });
});
