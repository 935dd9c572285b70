/**
 * Prefix KV cache: a new request starts from the cached sequence sharing the longest common token
 * prefix with its prompt, so a keystroke at the end of a 16K-token window re-prefills only the tail.
 *
 * Written by hand because it is specific to our KvState. It keeps whole sequences (like llama.cpp's
 * server slots) rather than a radix tree of KV blocks: each entry is a complete cache of one
 * sequence, entries are few (a memory budget of a few hundred MB holds a handful of long windows),
 * and finding the longest common prefix by scanning them costs microseconds against milliseconds
 * for a forward pass. Works the same for the MLA latent cache and full K/V, since it only slices
 * positions.
 *
 * Use: `take(tokens)` removes and returns the best entry (trimmed to the common prefix) or a fresh
 * state; run the model; `put(tokens, state)` returns it. Taking moves the state out so no copy is
 * made; `take(..., {keep: true})` copies the shared prefix instead, for two live requests. States
 * may live on the GPU (WebGPU): trims and copies then run there, and an evicted entry's device
 * memory is freed at once.
 */
import type { KvState } from './session.ts';

export interface PrefixCacheStats {
  entries: number;
  bytes: number;
  budgetBytes: number;
  hits: number;
  misses: number;
  reusedTokens: number;
  prefilledTokens: number;
}

interface Entry {
  tokens: number[];
  state: KvState;
  lastUsed: number;
}

export interface TakeResult {
  state: KvState;
  /** Leading prompt tokens already in `state` (state.length === reused). */
  reused: number;
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class PrefixCache {
  #entries: Entry[] = [];
  #clock = 0;
  #stats = { hits: 0, misses: 0, reusedTokens: 0, prefilledTokens: 0 };

  constructor(
    private budgetBytes: number,
    private readonly newState: () => KvState,
  ) {}

  /**
   * The state to continue `tokens` from. At most tokens.length - 1 positions are reused, so the
   * caller always runs at least the last prompt token and gets its logits.
   */
  async take(tokens: readonly number[], opts: { keep?: boolean } = {}): Promise<TakeResult> {
    let best = -1;
    let bestLen = 0;
    this.#entries.forEach((e, i) => {
      const n = Math.min(commonPrefix(e.tokens, tokens), e.state.length);
      if (n > bestLen) {
        best = i;
        bestLen = n;
      }
    });
    const reuse = Math.min(bestLen, Math.max(0, tokens.length - 1));
    if (best < 0 || reuse === 0) {
      this.#stats.misses++;
      this.#stats.prefilledTokens += tokens.length;
      return { state: this.newState(), reused: 0 };
    }
    const entry = this.#entries[best]!;
    let state: KvState;
    if (opts.keep) {
      state = await entry.state.copy(reuse);
      entry.lastUsed = ++this.#clock;
    } else {
      this.#entries.splice(best, 1);
      state = entry.state;
      await state.trim(reuse);
    }
    this.#stats.hits++;
    this.#stats.reusedTokens += reuse;
    this.#stats.prefilledTokens += tokens.length - reuse;
    return { state, reused: reuse };
  }

  /** Store `state`, which holds the KV of `tokens` (its first state.length of them). */
  put(tokens: readonly number[], state: KvState): void {
    if (state.length === 0) {
      state.dispose();
      return;
    }
    const kept = tokens.slice(0, state.length);
    state.fit(); // no spare capacity in an entry: the byte budget counts what it holds
    // An entry that is a prefix of the new one adds nothing: drop it.
    this.#entries = this.#entries.filter((e) => {
      const redundant = e.state.length <= kept.length && commonPrefix(e.tokens, kept) >= e.state.length;
      if (redundant) e.state.dispose();
      return !redundant;
    });
    this.#entries.push({ tokens: kept, state, lastUsed: ++this.#clock });
    this.#evict();
  }

  setBudget(bytes: number): void {
    this.budgetBytes = bytes;
    this.#evict();
  }

  clear(): void {
    for (const e of this.#entries) e.state.dispose();
    this.#entries = [];
  }

  get bytes(): number {
    return this.#entries.reduce((a, e) => a + e.state.bytes, 0);
  }

  stats(): PrefixCacheStats {
    return { entries: this.#entries.length, bytes: this.bytes, budgetBytes: this.budgetBytes, ...this.#stats };
  }

  /** Least recently used first, until the total fits (an entry bigger than the budget goes too). */
  #evict(): void {
    let total = this.bytes;
    this.#entries.sort((a, b) => a.lastUsed - b.lastUsed);
    while (total > this.budgetBytes && this.#entries.length > 0) {
      const gone = this.#entries.shift()!;
      total -= gone.state.bytes;
      gone.state.dispose();
    }
  }
}
