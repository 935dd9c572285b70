/**
 * Token counts for context budgeting.
 *
 * Why not ask the engine for every count: budgeting runs on every keystroke over the prefix
 * window, the suffix window and dozens of candidate chunks; a round trip per piece would cost more
 * than the completion's own prefill saves. So:
 * - `estimate` is characters / chars-per-token, where chars-per-token is calibrated once per
 *   loaded model from an exact engine count of a sample of the user's own code (code tokenises
 *   very differently from prose, and differently per tokenizer). It is frozen after calibration so
 *   window boundaries computed from it stay put across keystrokes (the prompt stays cache-friendly).
 * - related-file chunks are stable text, so their exact counts are fetched from the engine in the
 *   background and cached per chunk text (`count` returns the exact number once known).
 * - the assembled prompt gets an exact engine check only when the estimate says it is near the
 *   model's hard limit (see assemble.ts), where a wrong guess would fail the request.
 */

export const DEFAULT_CHARS_PER_TOKEN = 3.2;

export interface ExactCounter {
  (text: string): Promise<number>;
}

export class TokenCounter {
  #charsPerToken = DEFAULT_CHARS_PER_TOKEN;
  #calibrated = false;
  #calibrating = false;
  readonly #exact = new Map<string, number>();
  readonly #pending = new Set<string>();
  readonly #maxEntries: number;

  constructor(
    /** The engine's countTokens, or undefined while no model is loaded. */
    private exactCounter?: ExactCounter,
    opts: { maxEntries?: number } = {},
  ) {
    this.#maxEntries = opts.maxEntries ?? 2000;
  }

  get charsPerToken(): number {
    return this.#charsPerToken;
  }

  get calibrated(): boolean {
    return this.#calibrated;
  }

  /** A new model (or none): forget calibration and cached counts, which belong to a tokenizer. */
  reset(exactCounter?: ExactCounter): void {
    this.exactCounter = exactCounter;
    this.#charsPerToken = DEFAULT_CHARS_PER_TOKEN;
    this.#calibrated = false;
    this.#calibrating = false;
    this.#exact.clear();
    this.#pending.clear();
  }

  /** Set chars-per-token from a sample and its exact count (clamped to a sane range). */
  setCalibration(sampleChars: number, tokens: number): void {
    if (sampleChars <= 0 || tokens <= 0) return;
    this.#charsPerToken = Math.min(8, Math.max(1.2, sampleChars / tokens));
    this.#calibrated = true;
  }

  /** Calibrate from `sample` with the engine, once; later calls do nothing. */
  async calibrate(sample: string): Promise<void> {
    if (this.#calibrated || this.#calibrating || !this.exactCounter || sample.length < 256) return;
    this.#calibrating = true;
    try {
      const text = sample.slice(0, 16_384);
      this.setCalibration(text.length, await this.exactCounter(text));
    } catch {
      // the engine went away: stay on the default ratio and try again later
    } finally {
      this.#calibrating = false;
    }
  }

  estimate(text: string): number {
    return text.length === 0 ? 0 : Math.ceil(text.length / this.#charsPerToken);
  }

  /** The exact count when known; otherwise the estimate, and the exact count is fetched for next time. */
  count(text: string): number {
    const known = this.#exact.get(text);
    if (known !== undefined) return known;
    this.#fetch(text);
    return this.estimate(text);
  }

  /** Wait until background counts have arrived (tests). */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await new Promise((r) => setTimeout(r, 1));
  }

  #fetch(text: string): void {
    if (!this.exactCounter || this.#pending.has(text) || this.#pending.size >= 8) return;
    this.#pending.add(text);
    const counter = this.exactCounter;
    counter(text)
      .then((n) => {
        if (this.exactCounter !== counter) return;
        if (this.#exact.size >= this.#maxEntries) this.#exact.delete(this.#exact.keys().next().value!);
        this.#exact.set(text, n);
      })
      .catch(() => {})
      .finally(() => this.#pending.delete(text));
  }
}
