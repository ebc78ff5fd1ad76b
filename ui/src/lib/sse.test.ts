import { describe, expect, it } from 'vitest';
import { SseParser, readSse, type SseEvent } from './sse';

describe('SseParser', () => {
  it('parses named events with JSON data', () => {
    const p = new SseParser();
    const evs = p.feed('event: changed\ndata: {"docs":["a"]}\n\nevent: presence\ndata: {"online":true}\n\n');
    expect(evs).toEqual([
      { event: 'changed', data: '{"docs":["a"]}', id: null },
      { event: 'presence', data: '{"online":true}', id: null },
    ]);
  });

  it('waits for the blank line, across arbitrary chunk boundaries', () => {
    const text = 'event: alert\ndata: {"a":1}\n\n';
    for (let cut = 1; cut < text.length; cut++) {
      const p = new SseParser();
      const evs = [...p.feed(text.slice(0, cut)), ...p.feed(text.slice(cut))];
      expect(evs, `cut at ${cut}`).toEqual([{ event: 'alert', data: '{"a":1}', id: null }]);
    }
  });

  it('handles CRLF and CR line endings, also split between chunks', () => {
    const p = new SseParser();
    expect(p.feed('event: kudos\r\ndata: x\r')).toEqual([]);
    expect(p.feed('\n\r\n')).toEqual([{ event: 'kudos', data: 'x', id: null }]);
    const q = new SseParser();
    expect(q.feed('data: y\r\r')).toEqual([{ event: 'message', data: 'y', id: null }]);
  });

  it('ignores comments (keep-alives) and events without data', () => {
    const p = new SseParser();
    expect(p.feed(':\n\n: keep-alive\n\nevent: changed\n\n')).toEqual([]);
  });

  it('joins multi-line data, strips one leading space, keeps ids and retry', () => {
    const p = new SseParser();
    const evs = p.feed('id: 7\nretry: 3000\ndata:  two spaces\ndata:second\n\n');
    expect(evs).toEqual([{ event: 'message', data: ' two spaces\nsecond', id: '7' }]);
    expect(p.retry).toBe(3000);
    expect(p.feed('data\n\n')).toEqual([{ event: 'message', data: '', id: '7' }]);
  });

  it('resets the event name after each dispatch', () => {
    const p = new SseParser();
    const evs = p.feed('event: alert\ndata: 1\n\ndata: 2\n\n');
    expect(evs.map((e) => e.event)).toEqual(['alert', 'message']);
  });
});

describe('readSse', () => {
  it('decodes UTF-8 split across chunks and reads to the end', async () => {
    const bytes = new TextEncoder().encode('event: kudos\ndata: {"from_name":"Zoë 👋"}\n\n');
    const cut = bytes.indexOf(0xc3) + 1; // inside the two-byte "ë"
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, cut));
        c.enqueue(bytes.slice(cut, cut + 3));
        c.enqueue(bytes.slice(cut + 3));
        c.close();
      },
    });
    const got: SseEvent[] = [];
    await readSse(body, (e) => got.push(e));
    expect(got).toHaveLength(1);
    expect(JSON.parse(got[0]!.data)).toEqual({ from_name: 'Zoë 👋' });
  });

  it('rejects when the stream errors', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.error(new Error('cut'));
      },
    });
    await expect(readSse(body, () => {})).rejects.toThrow('cut');
  });
});
