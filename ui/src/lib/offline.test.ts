import { describe, expect, it } from 'vitest';
import type { SyncState } from './types';
import { emergencyNotice, queuedText, syncBanner, telHref, undelivered, writeMessage } from './offline';

function sync(over: Partial<SyncState> = {}): SyncState {
  return {
    online: true,
    live: true,
    last_synced_ms: 1000,
    pending_changes: 0,
    last_error: null,
    needs_attention: false,
    device_unknown: false,
    retrying: null,
    clock_offset_ms: 0,
    ...over,
  } as SyncState;
}
const clock = () => '14:02';

describe('syncBanner', () => {
  it('is hidden before joining: there is no server to be offline from', () => {
    expect(syncBanner(sync({ online: false, last_synced_ms: null }), clock, { joined: false }).show).toBe(false);
    expect(syncBanner(sync({ online: false, last_synced_ms: null }), clock, { joined: true }).show).toBe(true);
  });
  it('is hidden when online with nothing queued', () => {
    expect(syncBanner(sync(), clock).show).toBe(false);
  });
  it('starts with Offline and counts what is queued', () => {
    const b = syncBanner(sync({ online: false, pending_changes: 2 }), clock);
    expect(b.show).toBe(true);
    expect(b.offline).toBe(true);
    expect(b.text.startsWith('Offline')).toBe(true);
    expect(b.text).toContain('2 waiting to sync');
    expect(b.text).toBe("Offline — 2 waiting to sync, kept on this device until there's a connection. Last synced 14:02.");
    expect(b.queued).toBe('2 waiting to sync');
  });
  it('says when it never synced, and what the browser shows', () => {
    const b = syncBanner(sync({ online: false, last_synced_ms: null }), clock, { browser: true });
    expect(b.text).toBe("Offline — can't reach the server, showing what was last loaded. Not synced yet.");
    expect(b.queued).toBeNull();
  });
  it('shows a queue while online', () => {
    const b = syncBanner(sync({ pending_changes: 1 }), clock);
    expect(b.show).toBe(true);
    expect(b.offline).toBe(false);
    expect(b.text).toBe('Syncing — 1 waiting to sync.');
  });
  it('surfaces an error that needs attention', () => {
    const unknown = syncBanner(sync({ needs_attention: true, device_unknown: true, last_error: 'x' }), clock);
    expect(unknown.rejoin && unknown.attention).toBe(true);
    // As a failed sync leaves it (not online): still the way back, not "Offline".
    const failed = syncBanner(sync({ online: false, needs_attention: true, device_unknown: true, last_error: 'x', pending_changes: 2 }), clock);
    expect(failed.rejoin && !failed.offline).toBe(true);
    expect(failed.text).toContain('new invite');
    expect(unknown.text).toContain('new invite');
    expect(unknown.text).not.toContain('revoked');
    const b = syncBanner(sync({ needs_attention: true, last_error: 'revoked' }), clock);
    expect(b.rejoin).toBe(false);
    expect(b.text).toBe('Sync needs attention: revoked');
  });
  it('says plainly that what the server could not store is not delivered and will be retried', () => {
    const why = 'Not delivered yet: the team server could not store 1 document now. Kept on this device and sent again automatically.';
    const b = syncBanner(sync({ pending_changes: 1, retrying: why }), clock);
    expect(b.show).toBe(true);
    expect(b.offline).toBe(true);
    expect(b.text).toBe(why);
    expect(b.text).not.toContain('Syncing');
  });
  it('counts', () => {
    expect(queuedText(0)).toBeNull();
    expect(queuedText(3)).toBe('3 waiting to sync');
  });
});

describe('after a write', () => {
  it('is honest about where it is', () => {
    expect(writeMessage('Checked in', true, true)).toBe('Checked in — sent to your team.');
    expect(writeMessage('Checked in', false, false)).toMatch(/^Checked in — saved on this device\. Offline/);
    expect(writeMessage('Checked in', false, true)).toBe('Checked in — saved on this device, sending now.');
  });
  it('says queued, not sent, when the server could not store the write', () => {
    const why = 'Not delivered yet: the team server could not store 1 document now. Kept on this device and sent again automatically.';
    expect(writeMessage('Emergency', false, true, why)).toBe(`Emergency — saved on this device. ${why}`);
    expect(undelivered(sync({ pending_changes: 1, retrying: why }))).toBe(true);
    expect(undelivered(sync({ pending_changes: 1 }))).toBe(false);
    expect(undelivered(sync({ pending_changes: 1, online: false }))).toBe(true);
    const n = emergencyNotice(false, null, why);
    expect(n?.headline).toBe('Nobody has been reached yet.');
    expect(n?.advice).toContain('could not take it yet');
  });
  it('tells the worker nobody has been reached after an offline emergency', () => {
    expect(emergencyNotice(true, '+1 555')).toBeNull();
    const n = emergencyNotice(false, '+44 20 7946 0000');
    expect(n?.headline).toBe('Nobody has been reached yet.');
    expect(n?.advice).toContain('phone your team now');
    expect(n?.tel).toBe('tel:+442079460000');
    const none = emergencyNotice(false, null);
    expect(none?.tel).toBeNull();
    expect(none?.headline).toBe('Nobody has been reached yet.');
    expect(none?.advice).toContain('emergency number');
  });
  it('builds tel: links', () => {
    expect(telHref('(555) 010-9999')).toBe('tel:5550109999');
  });
});
