/**
 * When to restart a crashed engine, and when to stop trying.
 *
 * Restarts back off exponentially (1 s, 2 s, 4 s, ... at most 30 s) with the number of crashes in
 * the recent window, so a crash loop does not burn the CPU reloading a model over and over; after
 * `maxCrashes` crashes within `windowMs` (5 in 2 minutes) we give up and tell the user, since
 * something is wrong that another restart will not fix (a driver, memory, a broken build cache).
 * Crashes older than the window are forgotten, so a crash a day never gives up.
 */
export interface CrashPolicyOptions {
  baseMs?: number;
  maxMs?: number;
  maxCrashes?: number;
  windowMs?: number;
}

export interface CrashDecision {
  /** Crashes inside the window, this one included. */
  recent: number;
  giveUp: boolean;
  /** Wait this long before restarting (meaningless when giving up). */
  delayMs: number;
}

export class CrashPolicy {
  readonly #base: number;
  readonly #max: number;
  readonly #maxCrashes: number;
  readonly #window: number;
  #crashes: number[] = [];

  constructor(opts: CrashPolicyOptions = {}) {
    this.#base = opts.baseMs ?? 1000;
    this.#max = opts.maxMs ?? 30_000;
    this.#maxCrashes = opts.maxCrashes ?? 5;
    this.#window = opts.windowMs ?? 120_000;
  }

  get windowMs(): number {
    return this.#window;
  }

  onCrash(now: number): CrashDecision {
    this.#crashes = this.#crashes.filter((t) => now - t < this.#window);
    this.#crashes.push(now);
    const recent = this.#crashes.length;
    return { recent, giveUp: recent >= this.#maxCrashes, delayMs: Math.min(this.#max, this.#base * 2 ** (recent - 1)) };
  }

  /** The user asked for a restart (or changed the model): start counting afresh. */
  reset(): void {
    this.#crashes = [];
  }
}
