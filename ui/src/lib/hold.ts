// Hold-to-confirm: an action fires only after the button has been held for `duration` ms
// (pointer, touch, or Space/Enter held down). Releasing early is a tap, which callers may use
// (e.g. "Emergency" tapped opens the confirm step), never the action itself.

export type HoldPhase = 'idle' | 'holding' | 'done';

export type HoldState = {
  phase: HoldPhase;
  /** When the hold started (ms, any monotonic clock). */
  startedAt: number | null;
  duration: number;
};

export function idle(duration = 1500): HoldState {
  return { phase: 'idle', startedAt: null, duration };
}

/** Starts holding; a second press while already holding (key repeat) changes nothing. */
export function press(s: HoldState, now: number): HoldState {
  if (s.phase === 'holding') return s;
  return { ...s, phase: 'holding', startedAt: now };
}

/** 0..1: how far the hold has gone. */
export function progress(s: HoldState, now: number): number {
  if (s.phase === 'done') return 1;
  if (s.phase !== 'holding' || s.startedAt === null) return 0;
  return Math.min(1, Math.max(0, (now - s.startedAt) / s.duration));
}

/** Held long enough at `now`? */
export function complete(s: HoldState, now: number): boolean {
  return s.phase === 'holding' && progress(s, now) >= 1;
}

export type Release = { state: HoldState; outcome: 'confirmed' | 'tap' | 'cancelled' | 'none' };

/**
 * Ends a hold. Held for the full duration → confirmed (if the timer has not fired it already);
 * a short press (under `tapMax` ms) → tap; anything between → cancelled.
 */
export function release(s: HoldState, now: number, tapMax = 500): Release {
  if (s.phase === 'done') return { state: idle(s.duration), outcome: 'none' };
  if (s.phase !== 'holding' || s.startedAt === null) return { state: s, outcome: 'none' };
  const held = now - s.startedAt;
  const next = idle(s.duration);
  if (held >= s.duration) return { state: next, outcome: 'confirmed' };
  return { state: next, outcome: held < tapMax ? 'tap' : 'cancelled' };
}

/** The timer fired: marks the hold done so the coming release does not confirm twice. */
export function fire(s: HoldState, now: number): { state: HoldState; confirmed: boolean } {
  if (!complete(s, now)) return { state: s, confirmed: false };
  return { state: { ...s, phase: 'done' }, confirmed: true };
}

/** Cancels (pointer cancelled, focus lost, component gone). */
export function cancel(s: HoldState): HoldState {
  return idle(s.duration);
}

type Timers = {
  now: () => number;
  setTimeout: (f: () => void, ms: number) => unknown;
  clearTimeout: (h: unknown) => void;
};

const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (f, ms) => globalThis.setTimeout(f, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Drives a HoldState with a timer: `onConfirm` runs once when the hold completes (while still
 * held), `onTap` on a short press. Used by HoldButton.svelte; testable with fake timers.
 */
export class HoldController {
  state: HoldState;
  private timer: unknown = null;

  constructor(
    duration: number,
    private readonly on: { confirm: () => void; tap?: () => void; change?: (s: HoldState) => void },
    private readonly timers: Timers = realTimers,
  ) {
    this.state = idle(duration);
  }

  down(): void {
    if (this.state.phase !== 'idle') return;
    this.set(press(this.state, this.timers.now()));
    this.timer = this.timers.setTimeout(() => this.tick(), this.state.duration);
  }

  private tick(): void {
    this.timer = null;
    const now = this.timers.now();
    const r = fire(this.state, now);
    if (r.confirmed) {
      this.set(r.state);
      this.on.confirm();
    } else if (this.state.phase === 'holding' && this.state.startedAt !== null) {
      // Timers can fire a little early: wait out the rest.
      const left = this.state.duration - (now - this.state.startedAt);
      this.timer = this.timers.setTimeout(() => this.tick(), Math.max(1, left));
    }
  }

  up(): void {
    this.clear();
    const r = release(this.state, this.timers.now());
    this.set(r.state);
    if (r.outcome === 'confirmed') this.on.confirm();
    else if (r.outcome === 'tap') this.on.tap?.();
  }

  cancel(): void {
    this.clear();
    this.set(cancel(this.state));
  }

  progress(): number {
    return progress(this.state, this.timers.now());
  }

  private clear(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  private set(s: HoldState): void {
    this.state = s;
    this.on.change?.(s);
  }
}
