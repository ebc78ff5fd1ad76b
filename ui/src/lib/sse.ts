// A Server-Sent Events parser for the live channel, read with fetch (so the bearer token stays in
// a header, which EventSource cannot send). Follows the WHATWG event-stream format: lines end in
// CRLF, LF or CR; `:` starts a comment; `event`, `data`, `id`, `retry` fields; a blank line
// dispatches; an event with no data is not dispatched.

export type SseEvent = { event: string; data: string; id: string | null };

export class SseParser {
  private buf = '';
  private pendingCr = false;
  private event = '';
  private data: string[] = [];
  private sawData = false;
  /** The last event id seen (persists across events, as in EventSource). */
  lastId: string | null = null;
  /** The reconnection time the server asked for, if any. */
  retry: number | null = null;

  /** Feeds decoded text; returns the events completed by it. */
  feed(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    let s = text;
    if (this.pendingCr) {
      // The previous chunk ended in CR: a following LF belongs to that line ending.
      if (s.startsWith('\n')) s = s.slice(1);
      this.pendingCr = false;
    }
    this.buf += s;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A CR at the very end may be the first half of CRLF: wait for more.
      if (m[0] === '\r' && m.index === this.buf.length - 1) {
        const line = this.buf.slice(0, m.index);
        this.buf = '';
        this.pendingCr = true;
        this.line(line, out);
        break;
      }
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line, out);
    }
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.sawData) {
        out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.lastId });
      }
      this.event = '';
      this.data = [];
      this.sawData = false;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        this.sawData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }
}

/**
 * Reads an event stream body to its end, calling `onEvent` for each event. Resolves when the
 * stream ends (the server closed it), rejects on a read error or abort.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onEvent: (e: SseEvent) => void,
  parser: SseParser = new SseParser(),
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        for (const e of parser.feed(decoder.decode())) onEvent(e);
        return;
      }
      for (const e of parser.feed(decoder.decode(value, { stream: true }))) onEvent(e);
    }
  } finally {
    reader.releaseLock();
  }
}
