/**
 * The context a model is loaded with when the client asks for `contextLength: 'auto'`: the longest
 * window the model allows whose caches fit the memory budget, so the editor's context budgets
 * follow the model and the machine instead of a fixed number.
 *
 * What has to fit is what loadModel's memory check counts (weights, the live KV cache, activations
 * of a prefill chunk, the prefix cache), with the prefix cache sized to hold `cachedWindows` full
 * windows: an entry larger than the prefix cache is evicted at once, and then every keystroke would
 * re-prefill the whole window. A full window's cache comes from `kvCacheBytesAt` (model/info.ts), exact for
 * DeepSeek-V4 (sliding window + compressed entries, v4CacheFloatsAt) and linear for the others, so
 * V4's small per-token cache buys it a window of hundreds of thousands of tokens where a full-KV
 * model of the same size gets tens of thousands.
 */

export interface FitInput {
  /** The model's own limit (max_position_embeddings). */
  maxPositions: number;
  /** A cap from the client (undefined: none). */
  cap?: number;
  /** Memory everything must fit in (bytes). */
  budgetBytes: number;
  /** One full window's cache at `tokens` positions (bytes). */
  cacheBytesAt: (tokens: number) => number;
  /** Everything loading needs at this context with this prefix cache (bytes); must grow with both. */
  needBytes: (contextLength: number, prefixCacheBytes: number) => number;
  /** The prefix cache is at least this large (bytes). */
  minPrefixCacheBytes: number;
  /** Full windows the prefix cache holds (default 2: a completion's and a chat's). */
  cachedWindows?: number;
}

export interface ContextFit {
  contextLength: number;
  prefixCacheBytes: number;
  /** What stopped the window from being longer. */
  limitedBy: 'model' | 'request' | 'memory';
  /** One full window's cache at contextLength (bytes). */
  cacheBytes: number;
}

/** Shortest window picked when nothing fits: loadModel's own check then refuses with the numbers. */
export const MIN_AUTO_CONTEXT = 2048;
/** Memory-limited windows are rounded down to this (tidy numbers, and a little headroom). */
const ROUND_TO = 1024;

export function fitContext(i: FitInput): ContextFit {
  const windows = i.cachedWindows ?? 2;
  const prefixAt = (n: number) => Math.max(i.minPrefixCacheBytes, Math.ceil(windows * i.cacheBytesAt(n)));
  const fits = (n: number) => i.needBytes(n, prefixAt(n)) <= i.budgetBytes;
  const upper = Math.max(1, Math.floor(Math.min(i.maxPositions, i.cap ?? Infinity)));
  const result = (n: number, limitedBy: ContextFit['limitedBy']): ContextFit => ({ contextLength: n, prefixCacheBytes: prefixAt(n), limitedBy, cacheBytes: i.cacheBytesAt(n) });
  if (fits(upper)) return result(upper, upper < i.maxPositions ? 'request' : 'model');
  // Need grows with the window: the longest that fits, by bisection.
  let lo = 0;
  let hi = upper;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  const rounded = lo >= ROUND_TO ? lo - (lo % ROUND_TO) : lo;
  return result(Math.max(Math.min(upper, MIN_AUTO_CONTEXT), rounded), 'memory');
}
