import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HoldController, fire, idle, press, progress, release } from './hold';

describe('hold state', () => {
  it('progresses from 0 to 1 over the duration', () => {
    const s = press(idle(1500), 1000);
    expect(progress(s, 1000)).toBe(0);
    expect(progress(s, 1750)).toBeCloseTo(0.5);
    expect(progress(s, 9000)).toBe(1);
    expect(progress(idle(), 5)).toBe(0);
  });
  it('ignores a repeated press (key repeat) while holding', () => {
    const s = press(idle(1500), 1000);
    expect(press(s, 1400).startedAt).toBe(1000);
  });
  it('a short press is a tap, a middling one is cancelled, a full one confirms', () => {
    const s = press(idle(1500), 0);
    expect(release(s, 200).outcome).toBe('tap');
    expect(release(s, 900).outcome).toBe('cancelled');
    expect(release(s, 1500).outcome).toBe('confirmed');
    expect(release(idle(), 10).outcome).toBe('none');
  });
  it('fires once: after the timer fired, release does not confirm again', () => {
    const s = press(idle(1500), 0);
    expect(fire(s, 1000).confirmed).toBe(false);
    const f = fire(s, 1500);
    expect(f.confirmed).toBe(true);
    expect(release(f.state, 2000).outcome).toBe('none');
  });
});

describe('HoldController', () => {
  let t = 0;
  beforeEach(() => {
    vi.useFakeTimers();
    t = 0;
  });
  afterEach(() => vi.useRealTimers());

  function make() {
    const confirm = vi.fn();
    const tap = vi.fn();
    const c = new HoldController(
      1500,
      { confirm, tap },
      {
        now: () => t,
        setTimeout: (f, ms) => setTimeout(f, ms),
        clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      },
    );
    const advance = (ms: number) => {
      t += ms;
      vi.advanceTimersByTime(ms);
    };
    return { c, confirm, tap, advance };
  }

  it('confirms while still held, once, like pointerDown + pause 2000 + pointerUp', () => {
    const { c, confirm, tap, advance } = make();
    c.down();
    advance(1499);
    expect(confirm).not.toHaveBeenCalled();
    advance(1);
    expect(confirm).toHaveBeenCalledTimes(1);
    advance(500);
    c.up();
    expect(confirm).toHaveBeenCalledTimes(1);
    expect(tap).not.toHaveBeenCalled();
    expect(c.state.phase).toBe('idle');
  });

  it('does not confirm when released early; a quick press is a tap', () => {
    const { c, confirm, tap, advance } = make();
    c.down();
    advance(100);
    c.up();
    advance(5000);
    expect(confirm).not.toHaveBeenCalled();
    expect(tap).toHaveBeenCalledTimes(1);
  });

  it('cancel stops the timer', () => {
    const { c, confirm, advance } = make();
    c.down();
    advance(1000);
    c.cancel();
    advance(5000);
    expect(confirm).not.toHaveBeenCalled();
  });

  it('waits out a timer that fires early', () => {
    const confirm = vi.fn();
    let clock = 0;
    const pending: Array<() => void> = [];
    const c = new HoldController(
      1500,
      { confirm },
      { now: () => clock, setTimeout: (f) => pending.push(f), clearTimeout: () => {} },
    );
    c.down();
    clock = 1490;
    pending.shift()!();
    expect(confirm).not.toHaveBeenCalled();
    clock = 1500;
    pending.shift()!();
    expect(confirm).toHaveBeenCalledTimes(1);
  });
});
