import { describe, expect, it } from 'vitest';
import { singleFlight } from './flight';

describe('singleFlight', () => {
  it('collapses a burst into the running call plus one more', async () => {
    let runs = 0;
    let release: () => void = () => {};
    const run = singleFlight(async () => {
      runs += 1;
      if (runs === 1) await new Promise<void>((r) => (release = r));
    });
    const a = run();
    const b = run();
    const c = run();
    expect(runs).toBe(1);
    release();
    await Promise.all([a, b, c]);
    expect(runs).toBe(2);
    await run();
    expect(runs).toBe(3);
  });
  it('recovers after a failure', async () => {
    let n = 0;
    const run = singleFlight(async () => {
      n += 1;
      if (n === 1) throw new Error('boom');
    });
    await expect(run()).rejects.toThrow('boom');
    await run();
    expect(n).toBe(2);
  });
});
