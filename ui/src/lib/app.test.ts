// The app's state machine with a fake backend: an emergency never waits for, nor is refused
// because of, another write in flight.
import { describe, expect, it, vi } from 'vitest';
import type { Backend } from './backend';
import { KithApp } from './app.svelte';
import type { AppState, ShiftView, WriteResult } from './types';

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const shift = { id: 's', active: true, checkins: [] } as unknown as ShiftView;
const written: WriteResult = { shift, shared: true, queued: null };
const state = {
  joined: true,
  me: { member_id: 'me', role: 'member', team_phone: null },
  settings: { location_precision: 'none', note_visibility: 'team' },
  sync: { online: true, pending_changes: 0 },
  team: [],
  shift,
  last_shift: null,
} as unknown as AppState;

function fakeBackend(checkIn: Backend['checkIn']): Backend {
  return {
    kind: 'tauri',
    canWork: true,
    checkIn: vi.fn(checkIn),
    appState: vi.fn(async () => state),
    board: vi.fn(async () => {
      throw new Error('no board in this test');
    }),
    alerts: vi.fn(async () => ({ server_time: 0, alerts: [] })),
  } as unknown as Backend;
}

describe('writes', () => {
  it('sends an emergency while another check-in is still in flight', async () => {
    const slow = deferred<WriteResult>();
    const b = fakeBackend((i) => (i.status === 'ok' ? slow.promise : Promise.resolve(written)));
    const app = new KithApp(b);
    app.state = state;
    const ok = app.checkIn('ok');
    await Promise.resolve();
    expect(app.busy).toBe('ok');
    // A second ordinary write waits its turn...
    expect(await app.checkIn('support')).toBe('Still working on the last action.');
    // ...but an emergency goes out now.
    expect(await app.checkIn('emergency')).toBeNull();
    expect(b.checkIn).toHaveBeenCalledWith(expect.objectContaining({ status: 'emergency' }));
    expect(app.busy).toBe('ok'); // 'the first write is still running'
    slow.resolve(written);
    expect(await ok).toBeNull();
    expect(app.busy).toBeNull();
  });

  it('never sends the same emergency twice at once', async () => {
    const slow = deferred<WriteResult>();
    const b = fakeBackend(() => slow.promise);
    const app = new KithApp(b);
    app.state = state;
    const first = app.checkIn('emergency');
    await Promise.resolve();
    expect(app.sendingEmergency).toBe(true);
    expect(await app.checkIn('emergency')).toBe('Your emergency is being sent.');
    slow.resolve(written);
    expect(await first).toBeNull();
    expect(app.sendingEmergency).toBe(false);
  });
});

describe('live alerts', () => {
  it('are merged at once, keeping what only the list has', async () => {
    const { mergeAlert } = await import('./app.svelte');
    const a = { id: 'a', state: 'open', said: { note: 'Fell' }, history: [{ at: 1 }] } as never;
    const claimed = { id: 'a', state: 'claimed', said: null, history: [] } as never;
    const merged = mergeAlert([a], claimed);
    expect(merged).toHaveLength(1);
    expect(merged[0]).toMatchObject({ state: 'claimed', said: { note: 'Fell' }, history: [{ at: 1 }] });
    expect(mergeAlert([a], { id: 'b', history: [] } as never).map((x) => x.id)).toEqual(['b', 'a']);
  });
});
