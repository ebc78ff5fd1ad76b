// Reconnection delays: exponential backoff with jitter, so a server restart is not met by every
// dashboard reconnecting in the same millisecond.

export type BackoffOptions = {
  /** First delay (ms). */
  base?: number;
  /** Largest delay (ms). */
  max?: number;
  /** A random number in [0, 1); injectable for tests. */
  random?: () => number;
};

/**
 * The delay before reconnection attempt `attempt` (0 for the first retry): "equal jitter",
 * a uniformly random delay in [d/2, d) where d = min(max, base · 2^attempt). Never below base/2,
 * never above max.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const base = opts.base ?? 1000;
  const max = opts.max ?? 30_000;
  const random = opts.random ?? Math.random;
  const exp = Math.min(max, base * 2 ** Math.min(Math.max(0, attempt), 30));
  const r = Math.min(Math.max(random(), 0), 1 - Number.EPSILON);
  return Math.round(exp / 2 + r * (exp / 2));
}

/** Counts attempts; a connection that stayed up long enough resets it. */
export class Backoff {
  private attempt = 0;
  constructor(private readonly opts: BackoffOptions & { resetAfter?: number } = {}) {}

  /** The next delay, and counts the attempt. */
  next(): number {
    const d = backoffDelay(this.attempt, this.opts);
    this.attempt += 1;
    return d;
  }

  /** A connection succeeded: start from the base delay again. */
  reset(): void {
    this.attempt = 0;
  }

  /** A connection that lasted `upMs` before it dropped: reset if it was healthy for long enough. */
  dropped(upMs: number): void {
    if (upMs >= (this.opts.resetAfter ?? 10_000)) this.reset();
  }

  get attempts(): number {
    return this.attempt;
  }
}
