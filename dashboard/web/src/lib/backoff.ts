/** Reconnect delays: exponential from `initial` to `max`, with +/- `jitter` so clients do not reconnect in step. */
export interface BackoffOptions {
  /** First delay, ms. */
  initial: number;
  /** Longest delay, ms. */
  max: number;
  factor: number;
  /** Fraction of the delay added or removed at random (0.2: +/-20%). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initial: 500, max: 30_000, factor: 2, jitter: 0.2 };

/** Delay before reconnect number `attempt` (0 = the first retry). `random()` is in [0, 1). */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random = Math.random): number {
  const base = Math.min(options.max, options.initial * options.factor ** Math.max(0, attempt));
  const spread = base * options.jitter * (2 * random() - 1);
  return Math.round(Math.min(options.max, Math.max(0, base + spread)));
}
