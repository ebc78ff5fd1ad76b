import { describe, expect, it } from 'vitest';
import { codeFromPageUrl, looksLikeLink, normalizeServer, parseJoinLink, randomActor } from './joinlink';

describe('parseJoinLink', () => {
  it('reads the server and code of a kith:// link', () => {
    expect(parseJoinLink('kith://join?server=http%3A%2F%2F127.0.0.1%3A8080&code=ABCD-1234')).toEqual({
      server: 'http://127.0.0.1:8080',
      code: 'ABCD-1234',
    });
    expect(parseJoinLink('  kith://join?server=https%3A%2F%2Fkith.example.org%2F&code=x  ')).toEqual({
      server: 'https://kith.example.org',
      code: 'x',
    });
  });
  it('reads an http link with a code', () => {
    expect(parseJoinLink('https://kith.example.org/?code=Q1')).toEqual({ server: 'https://kith.example.org', code: 'Q1' });
  });
  it('refuses what is not an invite link', () => {
    expect(parseJoinLink('ABCD-1234')).toBeNull();
    expect(parseJoinLink('kith://join?server=x')).toBeNull();
    expect(parseJoinLink('kith://join?code=x')).toBeNull();
    expect(parseJoinLink('mailto:a@b?code=1')).toBeNull();
    expect(parseJoinLink('kith://join?server=ftp%3A%2F%2Fx&code=1')).toBeNull();
  });
  it('tells links from codes', () => {
    expect(looksLikeLink('kith://join?x')).toBe(true);
    expect(looksLikeLink('ABCD')).toBe(false);
  });
});

describe('normalizeServer', () => {
  it('adds a scheme and drops trailing slashes', () => {
    expect(normalizeServer('kith.example.org')).toBe('https://kith.example.org');
    expect(normalizeServer('localhost:8080/')).toBe('http://localhost:8080');
    expect(normalizeServer('127.0.0.1:3000')).toBe('http://127.0.0.1:3000');
    expect(normalizeServer('http://10.0.0.2:80/kith/')).toBe('http://10.0.0.2/kith');
  });
  it('refuses empty and non-http addresses', () => {
    expect(normalizeServer('  ')).toBeNull();
    expect(normalizeServer('ftp://x')).toBeNull();
  });
});

describe('randomActor', () => {
  it('is 16 bytes of hex', () => {
    expect(randomActor((b) => b.fill(0xab))).toBe('ab'.repeat(16));
    const a = randomActor();
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(randomActor()).not.toBe(a);
  });
});

describe('codeFromPageUrl', () => {
  it('reads the invite code from the query or the fragment of the dashboard address', () => {
    expect(codeFromPageUrl('?code=ABCD-1234', '')).toBe('ABCD-1234');
    expect(codeFromPageUrl('', '#code=%20XY%2BZ%20')).toBe('XY+Z');
    expect(codeFromPageUrl('?other=1', '#x=2')).toBeNull();
    expect(codeFromPageUrl('?code=', '')).toBeNull();
  });
});
