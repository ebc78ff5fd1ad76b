import { describe, expect, it, vi } from 'vitest';
import { BackendError } from './backend';
import { HttpBackend, LiveChannel } from './http';
import type { SseEvent } from '../sse';

class MemStore {
  m = new Map<string, string>();
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

type Call = { url: string; init: RequestInit };

function fakeFetch(handler: (url: string, init: RequestInit) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const f = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, init: init ?? {} });
    return handler(url, init ?? {});
  });
  return { f: f as unknown as typeof fetch, calls };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

const ME = {
  member_id: 'm1',
  device_id: 'd1',
  team_id: 't1',
  team_name: 'Night team',
  team_purpose: 'Home visits',
  team_phone: '+44 1',
  name: 'Sam',
  role: 'lead',
  server: 'http://x',
};

describe('HttpBackend', () => {
  it('is not joined without a token, and asks nothing of the server', async () => {
    const { f, calls } = fakeFetch(() => json({}));
    const b = new HttpBackend({ fetch: f, storage: new MemStore() });
    const s = await b.appState();
    expect(s.joined).toBe(false);
    expect(calls).toHaveLength(0);
  });

  it('joins with a random 16-byte actor, keeps the token and sends it as a bearer header', async () => {
    const store = new MemStore();
    const { f, calls } = fakeFetch((url) => {
      if (url === '/v1/join') return json({ token: 'tok123', member_id: 'm1' });
      if (url === '/v1/me') return json({ me: ME, policy: null, team: [{ id: 'm1', name: 'Sam', role: 'lead' }], server_time: 1 });
      return json({}, 404);
    });
    const b = new HttpBackend({ fetch: f, storage: store });
    const s = await b.join({ server: 'ignored', code: ' ABC ', name: ' Sam ' });
    expect(s.joined).toBe(true);
    expect(s.me?.name).toBe('Sam');
    expect(s.team).toHaveLength(1);
    const join = JSON.parse(String(calls[0]!.init.body));
    expect(join.code).toBe('ABC');
    expect(join.name).toBe('Sam');
    expect(join.actor).toMatch(/^[0-9a-f]{32}$/);
    expect(typeof join.device_label).toBe('string');
    expect((calls[0]!.init.headers as Record<string, string>).Authorization).toBeUndefined();
    expect((calls[1]!.init.headers as Record<string, string>).Authorization).toBe('Bearer tok123');
    expect(store.getItem('kith.token')).toBe('tok123');
  });

  it('reads /v1/me as {me, policy, team, server_time} and measures the clock offset', async () => {
    const store = new MemStore();
    store.setItem('kith.token', 't');
    const { f } = fakeFetch(() => json({ me: ME, policy: { min_interval_s: 60 }, team: [], server_time: 10_500 }));
    const b = new HttpBackend({ fetch: f, storage: store, now: () => 500 });
    const s = await b.appState();
    expect(s.me?.team_name).toBe('Night team');
    expect(s.policy?.min_interval_s).toBe(60);
    expect(b.currentSync().clock_offset_ms).toBe(10_000);
  });

  it('forgets a revoked token and shows the server message', async () => {
    const store = new MemStore();
    store.setItem('kith.token', 'old');
    const { f } = fakeFetch(() => json({ code: 'unauthorized', message: 'Revoked: ask a lead.', retryable: false }, 401));
    const b = new HttpBackend({ fetch: f, storage: store });
    await expect(b.appState()).rejects.toMatchObject({ code: 'unauthorized', message: 'Revoked: ask a lead.' });
    expect(store.getItem('kith.token')).toBeNull();
  });

  it('says Offline when the server cannot be reached, and recovers', async () => {
    const store = new MemStore();
    store.setItem('kith.token', 't');
    let up = false;
    const { f } = fakeFetch(() => {
      if (!up) throw new TypeError('Failed to fetch');
      return json({ server_time: 5000, rows: [], alerts: [] });
    });
    let t = 1000;
    const b = new HttpBackend({ fetch: f, storage: store, now: () => t });
    const seen: boolean[] = [];
    b.subscribe({ sync: (s) => seen.push(s.online) });
    const err = await b.board().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).message.startsWith('Offline')).toBe(true);
    expect(b.currentSync().online).toBe(false);
    up = true;
    t = 2000;
    const board = await b.board();
    expect(board.source).toBe('server');
    expect(b.currentSync().online).toBe(true);
    expect(b.currentSync().last_synced_ms).toBe(2000);
    expect(b.currentSync().clock_offset_ms).toBe(3000);
    expect(seen).toContain(false);
  });

  it('refuses worker actions plainly', async () => {
    const b = new HttpBackend({ fetch: fakeFetch(() => json({})).f, storage: new MemStore() });
    await expect(b.checkIn()).rejects.toMatchObject({ code: 'not_available_in_browser' });
    await expect(b.startShift()).rejects.toThrow(/Kith app/);
  });

  it('calls the documented endpoints', async () => {
    const store = new MemStore();
    store.setItem('kith.token', 't');
    const { f, calls } = fakeFetch((url) => (url.endsWith('/kudos') ? new Response(null, { status: 204 }) : json({ ok: 1 })));
    const b = new HttpBackend({ fetch: f, storage: store });
    await b.ack({ shift: 's1', checkin: 'c1', reply: ' thanks! ' });
    await b.ack({ shift: 's1', checkin: 'c2' });
    await b.claimAlert('a1');
    await b.resolveAlert('a1', 'phoned her');
    await b.alerts(true);
    await b.alerts();
    await b.shift('s9');
    await b.history('m7');
    await b.health(28);
    await b.kudos('m2');
    expect(calls.map((c) => `${c.init.method} ${c.url} ${c.init.body ?? ''}`)).toEqual([
      'POST /v1/shifts/s1/checkins/c1/ack {"reply":"thanks!"}',
      'POST /v1/shifts/s1/checkins/c2/ack {}',
      'POST /v1/alerts/a1/claim ',
      'POST /v1/alerts/a1/resolve {"note":"phoned her"}',
      'GET /v1/alerts?all=true ',
      'GET /v1/alerts ',
      'GET /v1/shifts/s9 ',
      'GET /v1/members/m7/shifts?limit=50 ',
      'GET /v1/health?days=28 ',
      'POST /v1/kudos {"to":"m2"}',
    ]);
  });
});

function sseResponse(text: string): Response {
  return new Response(
    new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(text));
        c.close();
      },
    }),
    { status: 200, headers: { 'Content-Type': 'text/event-stream' } },
  );
}

describe('LiveChannel', () => {
  it('dispatches events, reconnects with growing delays, and refetches after each connect', async () => {
    const ctl = new AbortController();
    const sleeps: number[] = [];
    let opens = 0;
    const changed: string[][] = [];
    const presence: unknown[] = [];
    const alerts: unknown[] = [];
    const states: boolean[] = [];
    const http = {
      openLive: async () => {
        opens += 1;
        if (opens === 1) {
          return sseResponse(
            'event: changed\ndata: {"docs":["d1"]}\n\nevent: presence\ndata: {"member_id":"m2","online":true,"last_seen":1}\n\nevent: alert\ndata: {"action":"step","alert":{"id":"a"}}\n\n',
          );
        }
        if (opens < 4) throw new TypeError('refused');
        ctl.abort();
        throw new DOMException('aborted', 'AbortError');
      },
      liveState: (up: boolean) => states.push(up),
      token: 't',
    };
    const live = new LiveChannel(
      http,
      { changed: (d) => changed.push(d), presence: (p) => presence.push(...p), alert: (a) => alerts.push(a) },
      ctl.signal,
      async (ms) => {
        sleeps.push(ms);
      },
      () => 0,
    );
    await live.run();
    expect(changed).toEqual([[], ['d1']]);
    expect(presence).toEqual([{ member_id: 'm2', online: true, last_seen: 1 }]);
    expect(alerts).toHaveLength(1);
    expect(opens).toBe(4);
    expect(sleeps).toHaveLength(3);
    // Each delay is within [d/2, d] of a doubling base of 1 s.
    expect(sleeps[0]).toBeGreaterThanOrEqual(500);
    expect(sleeps[0]).toBeLessThanOrEqual(1000);
    expect(sleeps[1]).toBeGreaterThanOrEqual(1000);
    expect(sleeps[2]).toBeGreaterThanOrEqual(2000);
    expect(states[0]).toBe(true);
    expect(states).toContain(false);
  });

  it('stops retrying when the device is revoked, until a new join wakes it', async () => {
    const ctl = new AbortController();
    let opens = 0;
    const sleeps: number[] = [];
    const live = new LiveChannel(
      {
        openLive: async () => {
          opens += 1;
          throw new BackendError({ code: 'unauthorized', message: 'revoked', retryable: false }, 401);
        },
        liveState: () => {},
        token: 't',
      },
      {},
      ctl.signal,
      async (ms) => {
        sleeps.push(ms);
        // The first idle ends with a wake (a new join); the second with the page going away.
        if (sleeps.length === 2) ctl.abort();
      },
    );
    await live.run();
    expect(opens).toBe(2);
    expect(sleeps.every((ms) => ms > 1e9)).toBe(true);
  });

  it('waits without a credential and connects once joined', async () => {
    const ctl = new AbortController();
    const http = {
      token: null as string | null,
      opened: 0,
      openLive: async () => {
        http.opened += 1;
        ctl.abort();
        throw new DOMException('aborted', 'AbortError');
      },
      liveState: () => {},
    };
    let idles = 0;
    const live = new LiveChannel(http, {}, ctl.signal, async (ms) => {
      expect(ms).toBeGreaterThan(1e9);
      idles += 1;
      http.token = 'new'; // join() stored a token and woke the channel
    });
    await live.run();
    expect(idles).toBe(1);
    expect(http.opened).toBe(1);
  });

  it('ignores malformed and unknown events', () => {
    const got: unknown[] = [];
    const live = new LiveChannel(
      { openLive: async () => sseResponse(''), liveState: () => {}, token: 't' },
      { changed: (d) => got.push(d) },
      new AbortController().signal,
    );
    const ev = (event: string, data: string): SseEvent => ({ event, data, id: null });
    live.dispatch(ev('changed', 'not json'));
    live.dispatch(ev('mystery', '{}'));
    live.dispatch(ev('changed', '{"docs":[],"all":true}'));
    expect(got).toEqual([[]]);
  });
});
