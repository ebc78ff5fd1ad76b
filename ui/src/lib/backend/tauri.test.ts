import { beforeEach, describe, expect, it, vi } from 'vitest';

const invoke = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({ invoke: (...a: unknown[]) => invoke(...a) }));
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn(async () => () => {}) }));

const { TauriBackend } = await import('./tauri');
const { chooseBackend, inTauri } = await import('./index');

describe('TauriBackend', () => {
  beforeEach(() => {
    invoke.mockReset();
    invoke.mockResolvedValue({});
  });

  it('passes every command one argument named input, snake_case inside', async () => {
    const b = new TauriBackend();
    await b.appState();
    await b.join({ server: 'http://s', code: 'C', name: 'Al' });
    await b.startShift({ purpose: 'Visits', planned_end: 5, interval_s: 1800, buddies: ['b1'] });
    await b.checkIn({ status: 'ok', mood: 4, note: undefined });
    await b.extendShift({ new_end: 9, reason: 'traffic' });
    await b.endShift({});
    await b.ack({ shift: 's', checkin: 'c', reply: 'thanks' });
    await b.board();
    await b.shift('s');
    await b.history();
    await b.history('m');
    await b.health(28);
    await b.alerts(true);
    await b.claimAlert('a');
    await b.resolveAlert('a', 'ok now');
    await b.kudos('m2');
    await b.exportData();
    await b.syncNow();
    await b.pendingJoinLink();
    expect(invoke.mock.calls).toEqual([
      ['app_state', { input: {} }],
      ['join', { input: { server: 'http://s', code: 'C', name: 'Al' } }],
      ['start_shift', { input: { purpose: 'Visits', planned_end: 5, interval_s: 1800, buddies: ['b1'] } }],
      ['check_in', { input: { status: 'ok', mood: 4 } }],
      ['extend_shift', { input: { new_end: 9, reason: 'traffic' } }],
      ['end_shift', { input: {} }],
      ['ack', { input: { shift: 's', checkin: 'c', reply: 'thanks' } }],
      ['board', { input: {} }],
      ['shift', { input: { id: 's' } }],
      ['history', { input: {} }],
      ['history', { input: { member: 'm' } }],
      ['health', { input: { days: 28 } }],
      ['alerts', { input: { all: true } }],
      ['claim_alert', { input: { id: 'a' } }],
      ['resolve_alert', { input: { id: 'a', note: 'ok now' } }],
      ['kudos', { input: { to: 'm2' } }],
      ['export_data', { input: {} }],
      ['sync_now', { input: {} }],
      ['pending_join_link', { input: {} }],
    ]);
  });

  it('turns a rejected ApiError (object or JSON string) into a BackendError with its message', async () => {
    const b = new TauriBackend();
    invoke.mockRejectedValueOnce({ code: 'policy', message: 'Interval too short.', retryable: false });
    await expect(b.checkIn({ status: 'ok' })).rejects.toMatchObject({ code: 'policy', message: 'Interval too short.' });
    invoke.mockRejectedValueOnce('{"code":"x","message":"From JSON","retryable":true}');
    await expect(b.board()).rejects.toMatchObject({ code: 'x', message: 'From JSON', retryable: true });
    invoke.mockRejectedValueOnce('plain words');
    await expect(b.board()).rejects.toMatchObject({ message: 'plain words' });
  });
});

describe('chooseBackend', () => {
  it('detects Tauri by __TAURI_INTERNALS__', () => {
    expect(inTauri({})).toBe(false);
    expect(inTauri({ __TAURI_INTERNALS__: {} })).toBe(true);
    expect(chooseBackend({ __TAURI_INTERNALS__: {} }).kind).toBe('tauri');
  });
});
