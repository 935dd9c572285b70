/**
 * Adaptive debounce for inline completions. VS Code asks for a completion on every keystroke and
 * cancels the previous ask; waiting a little before sending means a burst of typing costs one
 * request instead of one per key. How long to wait depends on how fast the engine answers:
 * - fast answers (a warm prefix cache on a GPU): wait less, the suggestion shows sooner;
 * - slow answers (CPU, a long re-prefill): wait more, since a request that the next keystroke
 *   cancels only steals turns from the one that will be shown.
 * The delay is the configured base scaled by (recent latency / reference latency), clamped to
 * [base/2, base*3]. Latency is an exponential moving average, so one outlier does not swing it.
 */

export interface DebounceOptions {
  /** `switchyard.completions.debounceMs`. */
  baseMs: number;
  /** The latency at which the delay equals the base (default 300 ms). */
  referenceLatencyMs?: number;
  /** Weight of the newest sample in the moving average (default 0.3). */
  alpha?: number;
}

export class AdaptiveDebounce {
  #base: number;
  readonly #reference: number;
  readonly #alpha: number;
  #latency: number | undefined;

  constructor(opts: DebounceOptions) {
    this.#base = Math.max(0, opts.baseMs);
    this.#reference = opts.referenceLatencyMs ?? 300;
    this.#alpha = opts.alpha ?? 0.3;
  }

  set baseMs(ms: number) {
    this.#base = Math.max(0, ms);
  }

  /** The smoothed completion latency, or undefined before the first sample. */
  get latencyMs(): number | undefined {
    return this.#latency;
  }

  /** Record how long a completion took (request sent -> result), whether or not it was shown. */
  record(latencyMs: number): void {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) return;
    this.#latency = this.#latency === undefined ? latencyMs : this.#alpha * latencyMs + (1 - this.#alpha) * this.#latency;
  }

  /** The delay to wait before the next request. */
  get delayMs(): number {
    if (this.#latency === undefined) return this.#base;
    const scaled = this.#base * (this.#latency / this.#reference);
    return Math.round(Math.min(this.#base * 3, Math.max(this.#base / 2, scaled)));
  }

  /**
   * Resolves true after the delay, or false as soon as `signal` aborts (the user typed again):
   * the caller then sends nothing.
   */
  wait(signal: AbortSignal, timers: Timers = globalTimers): Promise<boolean> {
    return sleep(this.delayMs, signal, timers);
  }
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const globalTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** true after `ms`, false when `signal` aborts first (never rejects). */
export function sleep(ms: number, signal: AbortSignal, timers: Timers = globalTimers): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      timers.clearTimeout(handle);
      resolve(false);
    };
    const handle = timers.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
