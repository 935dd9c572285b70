/**
 * Token choice from logits: greedy, or a llama.cpp-style chain with a seeded generator so runs can
 * be repeated.
 *
 * Order of operations (llama.cpp's default chain, minus the samplers we do not have):
 *   1. penalties   repetition (HF / llama.cpp), then presence and frequency (OpenAI), over the
 *                  last `penaltyLastN` ids of the history passed to `next`
 *   2. greedy      if `greedy` or temperature 0: argmax of the penalised logits, nothing else runs
 *                  (the filters below always keep the argmax, so they could not change it)
 *   3. top-k       keep the k highest logits
 *   4. top-p       keep the smallest highest-first prefix whose probability mass reaches top_p
 *   5. min-p       keep tokens whose probability is at least min_p times the best one's
 *   6. temperature divide the surviving logits by it (top-p / min-p above use temperature 1,
 *                  as llama.cpp does, so changing the temperature does not change the nucleus)
 *   7. sample      one uniform draw walked over the survivors in token-id order
 *
 * Speed: the vocabulary can be 151936 wide, so nothing comparison-sorts all of it. Top-k uses a
 * size-k heap; top-p without top-k estimates the nucleus size from a histogram and ranks that many
 * (heap, or an O(V) radix sort when the nucleus is a large share); min-p alone and plain sampling
 * are single passes. `ReferenceSampler` is the obvious sort-everything version, kept as
 * the oracle the tests compare the fast one to: both do the same float arithmetic in the same
 * order, so for the same seed they return the same ids.
 */
export interface SamplingOptions {
  greedy?: boolean;
  /** >= 0; 0 means greedy. Default 0.8. */
  temperature?: number;
  /** Integer >= 0; 0 (default) or >= vocabulary size means off. */
  topK?: number;
  /** In (0, 1]; 1 (default) means off. */
  topP?: number;
  /** In [0, 1); 0 (default) means off. */
  minP?: number;
  /** > 0; 1 (default) means off. Seen tokens' logits are divided by it if positive, multiplied if not. */
  repetitionPenalty?: number;
  /** Finite; 0 (default) means off. Subtracted once from every seen token's logit. */
  presencePenalty?: number;
  /** Finite; 0 (default) means off. Subtracted once per occurrence of a seen token. */
  frequencyPenalty?: number;
  /** How many of the most recent history ids the penalties look at: default 64, 0 = none, -1 = all. */
  penaltyLastN?: number;
  /** Integer; the generator's seed. Default: the clock. */
  seed?: number;
}

/** mulberry32: small, fast, good enough for sampling; seeded for reproducibility. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** Throws an Error naming the first bad option; returns the options with defaults filled in. */
export function validateSamplingOptions(o: SamplingOptions): Required<Omit<SamplingOptions, 'seed'>> & { seed: number | undefined } {
  const bad = (name: string, rule: string, v: unknown): never => {
    throw new Error(`sampling option ${name} must be ${rule} (got ${String(v)})`);
  };
  const num = (name: keyof SamplingOptions, dflt: number, ok: (v: number) => boolean, rule: string): number => {
    const v = o[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !ok(v)) bad(name, rule, v);
    return v as number;
  };
  if (o.greedy !== undefined && typeof o.greedy !== 'boolean') bad('greedy', 'a boolean', o.greedy);
  const seed = o.seed === undefined ? undefined : num('seed', 0, Number.isSafeInteger, 'an integer');
  return {
    greedy: o.greedy ?? false,
    temperature: num('temperature', 0.8, (v) => Number.isFinite(v) && v >= 0, 'a finite number >= 0'),
    topK: num('topK', 0, (v) => Number.isSafeInteger(v) && v >= 0, 'an integer >= 0'),
    topP: num('topP', 1, (v) => v > 0 && v <= 1, 'in (0, 1]'),
    minP: num('minP', 0, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    repetitionPenalty: num('repetitionPenalty', 1, (v) => Number.isFinite(v) && v > 0, 'a finite number > 0'),
    presencePenalty: num('presencePenalty', 0, Number.isFinite, 'a finite number'),
    frequencyPenalty: num('frequencyPenalty', 0, Number.isFinite, 'a finite number'),
    penaltyLastN: num('penaltyLastN', 64, (v) => Number.isSafeInteger(v) && v >= -1, 'an integer >= -1'),
    seed,
  };
}

type Penalties = Pick<SamplingOptions, 'repetitionPenalty' | 'presencePenalty' | 'frequencyPenalty' | 'penaltyLastN'>;

/**
 * The penalised logits: `logits` itself when no penalty applies (no copy), otherwise `out` (or a
 * new array) holding a copy with, for each distinct id among the last `penaltyLastN` of `history`
 * seen `c` times: l = l > 0 ? l / rep : l * rep; then l -= presence + frequency * c.
 * Ids outside the vocabulary are ignored. Never modifies `logits`.
 */
export function applyPenalties(logits: Float32Array, history: readonly number[] | undefined, p: Penalties, out?: Float32Array): Float32Array {
  const rep = p.repetitionPenalty ?? 1;
  const pres = p.presencePenalty ?? 0;
  const freq = p.frequencyPenalty ?? 0;
  const lastN = p.penaltyLastN ?? 64;
  if (!history || history.length === 0 || lastN === 0 || (rep === 1 && pres === 0 && freq === 0)) return logits;
  const start = lastN < 0 ? 0 : Math.max(0, history.length - lastN);
  const counts = new Map<number, number>();
  for (let i = start; i < history.length; i++) counts.set(history[i]!, (counts.get(history[i]!) ?? 0) + 1);
  const w = out && out.length === logits.length ? out : new Float32Array(logits.length);
  w.set(logits);
  for (const [id, c] of counts) {
    if (!(id >= 0 && id < w.length && Number.isInteger(id))) continue;
    let l = w[id]!;
    l = l > 0 ? l / rep : l * rep;
    w[id] = l - pres - freq * c;
  }
  return w;
}

/** Is token a ranked before b? Higher logit first, lower id on ties: a total order, so fast and slow paths agree. */
function before(w: Float32Array, a: number, b: number): boolean {
  const x = w[a]!, y = w[b]!;
  return x > y || (x === y && a < b);
}

/** The k best ids, best first, via a size-k min-heap: O(V log k) worst case, ~O(V) in practice. */
export function topKIds(w: Float32Array, k: number): Int32Array {
  const n = w.length;
  k = Math.min(k, n);
  const heap = new Int32Array(k); // heap[0] is the worst kept
  const down = (i: number, size: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < size && before(w, heap[m]!, heap[l]!)) m = l;
      if (r < size && before(w, heap[m]!, heap[r]!)) m = r;
      if (m === i) return;
      const t = heap[i]!; heap[i] = heap[m]!; heap[m] = t;
      i = m;
    }
  };
  for (let i = 0; i < k; i++) heap[i] = i;
  for (let i = (k >> 1) - 1; i >= 0; i--) down(i, k);
  for (let i = k; i < n; i++) {
    // Scanning ids upward, a tie with the worst kept loses (higher id), so strict > is exact.
    if (w[i]! > w[heap[0]!]!) {
      heap[0] = i;
      down(0, k);
    }
  }
  // Heap-sort in place: repeatedly move the worst to the end, leaving best-first order.
  for (let size = k - 1; size > 0; size--) {
    const t = heap[0]!; heap[0] = heap[size]!; heap[size] = t;
    down(0, size);
  }
  return heap;
}

/**
 * All ids best first, by an LSD radix sort on the logits' bits: O(V), ~10 ms for 151936 where a
 * comparison sort takes ~130 ms. Stable, so ties stay in id order, as `before` wants.
 */
export function rankAll(w: Float32Array): Int32Array {
  const n = w.length;
  const bits = new Uint32Array(w.buffer, w.byteOffset, n);
  let ka = new Uint32Array(n), kb = new Uint32Array(n);
  let ia = new Int32Array(n), ib = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let b = bits[i]!;
    if (b === 0x80000000) b = 0; // -0 ties with +0
    // Floats in ascending order as unsigned ints, then inverted: ascending key = best first.
    ka[i] = ~(b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
    ia[i] = i;
  }
  const count = new Uint32Array(2048);
  for (let shift = 0; shift < 32; shift += 11) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[(ka[i]! >>> shift) & 2047]!++;
    let sum = 0;
    for (let d = 0; d < 2048; d++) {
      const c = count[d]!;
      count[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = ka[i]!;
      const at = count[(k >>> shift) & 2047]!++;
      kb[at] = k;
      ib[at] = ia[i]!;
    }
    [ka, kb] = [kb, ka];
    [ia, ib] = [ib, ia];
  }
  return ia;
}

/** The k best ids, best first: a heap when k is a small share of the vocabulary, else a radix sort. */
function rank(w: Float32Array, k: number): Int32Array {
  return k * 16 < w.length ? topKIds(w, k) : rankAll(w).subarray(0, Math.min(k, w.length));
}

/**
 * Roughly how many of the best ids hold `target` of the mass `e` (e[i] = exp(w[i] - max)): a
 * histogram 1/32 nat per bucket, so top-p without top-k ranks about as deep as its nucleus and
 * no deeper. Only an estimate; the exact walk asks for more if rounding leaves it short.
 */
function nucleusDepth(w: Float32Array, e: Float64Array, max: number, target: number): number {
  const buckets = 1024;
  const mass = new Float64Array(buckets);
  const count = new Uint32Array(buckets);
  for (let i = 0; i < w.length; i++) {
    const b = Math.min(buckets - 1, Math.floor((max - w[i]!) * 32));
    mass[b] += e[i]!;
    count[b]!++;
  }
  let acc = 0;
  let m = 0;
  for (let b = 0; b < buckets && acc < target; b++) {
    acc += mass[b]!;
    m += count[b]!;
  }
  return m;
}

/** Survivors of top-k/top-p/min-p as ids in ascending order (null = the whole vocabulary), and the max logit. */
interface Candidates {
  ids: Int32Array | null;
  max: number;
}

export class Sampler {
  protected readonly o: ReturnType<typeof validateSamplingOptions>;
  private readonly rand: () => number;
  private penalised: Float32Array | undefined;
  /** exp(l - max) per id (written only where needed); reused across steps to avoid allocation. */
  protected e = new Float64Array(0);
  /** Tempered weights of the survivors, in id order; reused likewise. */
  private q = new Float64Array(0);

  constructor(opts: SamplingOptions = {}) {
    this.o = validateSamplingOptions(opts);
    this.rand = seededRandom(this.o.seed ?? Date.now());
  }

  /**
   * Picks the next token. `history` is the ids the penalties look at (the caller decides whether
   * that includes the prompt; llama.cpp counts prompt and output, OpenAI only output). It is read,
   * not kept: the sampler holds no per-sequence state besides its random generator.
   */
  next(logits: Float32Array, history?: readonly number[]): number {
    const o = this.o;
    const w = applyPenalties(logits, history, o, this.penalised);
    if (w !== logits) this.penalised = w;
    if (o.greedy || o.temperature <= 0) return argmax(w);
    if (this.e.length !== w.length) {
      this.e = new Float64Array(w.length);
      this.q = new Float64Array(w.length);
    }
    const c = this.select(w);
    if (!Number.isFinite(c.max)) return argmax(w); // everything masked to -Infinity (or NaN): nothing to weigh
    return this.draw(w, c);
  }

  /** Top-k, then top-p, then min-p, without sorting the vocabulary. */
  protected select(w: Float32Array): Candidates {
    const { topK, topP, minP } = this.o;
    const V = w.length;
    const e = this.e;
    if (topK > 0 && topK < V) {
      const ranked = rank(w, topK);
      const max = w[ranked[0]!]!;
      const byId = Int32Array.from(ranked).sort();
      return { ids: this.nucleus(w, ranked, byId, max, () => ranked), max };
    }
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (w[i]! > max) max = w[i]!;
    if (topP >= 1 && minP <= 0) return { ids: null, max };
    if (topP >= 1) {
      // min-p alone: one pass, no ranking needed.
      const keep: number[] = [];
      for (let i = 0; i < V; i++) if ((e[i] = Math.exp(w[i]! - max)) >= minP) keep.push(i);
      return { ids: Int32Array.from(keep), max };
    }
    // top-p over the whole vocabulary: rank only as deep as the nucleus needs.
    let ranked: Int32Array = new Int32Array(0);
    const rankAtLeast = (m: number, target: number): Int32Array => {
      const depth = ranked.length === 0 ? nucleusDepth(w, e, max, target) : ranked.length * 4;
      return (ranked = rank(w, Math.min(V, Math.max(m, depth))));
    };
    return { ids: this.nucleus(w, ranked, null, max, rankAtLeast), max };
  }

  /**
   * Applies top-p then min-p to a candidate set. `byId` is the set in id order (null = all ids);
   * `ranked` is its best ids, best first, and `rankAtLeast(m)` a longer such list when top-p needs
   * it. The total mass is summed in id order and the running mass in rank order, identically in
   * both samplers, so float rounding cannot make them disagree.
   */
  protected nucleus(w: Float32Array, ranked: Int32Array, byId: Int32Array | null, max: number, rankAtLeast: (m: number, target: number) => Int32Array): Int32Array | null {
    const { topP, minP } = this.o;
    const e = this.e;
    const n = byId ? byId.length : w.length;
    let z = 0;
    for (let j = 0; j < n; j++) {
      const id = byId ? byId[j]! : j;
      z += e[id] = Math.exp(w[id]! - max);
    }
    let set: Int32Array | null = byId;
    if (topP < 1) {
      const target = topP * z;
      let acc = 0;
      let cut = n;
      for (let j = 0; j < n; j++) {
        if (j >= ranked.length) ranked = rankAtLeast(j + 1, target);
        acc += e[ranked[j]!]!;
        if (acc >= target) {
          cut = j + 1;
          break;
        }
      }
      if (cut < n) set = Int32Array.from(ranked.subarray(0, cut)).sort();
    }
    if (minP > 0) {
      const src = set ?? Int32Array.from({ length: n }, (_, i) => i);
      set = src.filter((id) => e[id]! >= minP);
    }
    return set;
  }

  /** Temperature, then one draw walked in id order; zero-weight ids can never be returned. */
  private draw(w: Float32Array, c: Candidates): number {
    const t = this.o.temperature;
    const { ids, max } = c;
    const q = this.q;
    const n = ids ? ids.length : w.length;
    let sum = 0;
    for (let j = 0; j < n; j++) sum += q[j] = Math.exp((w[ids ? ids[j]! : j]! - max) / t);
    let r = this.rand() * sum;
    let last = -1;
    for (let j = 0; j < n; j++) {
      const v = q[j]!;
      if (v <= 0) continue;
      if (r < v) return ids ? ids[j]! : j;
      r -= v;
      last = j;
    }
    // Rounding left r just above the total: the last positive-weight candidate.
    return ids ? ids[last]! : last;
  }
}

/**
 * The same chain done the obvious way (sort the whole vocabulary every step). Slow; kept as the
 * oracle that `Sampler`'s partial selection is tested against.
 */
export class ReferenceSampler extends Sampler {
  protected override select(w: Float32Array): Candidates {
    const { topK } = this.o;
    const all = Array.from({ length: w.length }, (_, i) => i).sort((a, b) => (before(w, a, b) ? -1 : 1));
    const ranked = Int32Array.from(topK > 0 && topK < w.length ? all.slice(0, topK) : all);
    const max = w[ranked[0]!]!;
    const byId = Int32Array.from(ranked).sort();
    const ids = this.nucleus(w, ranked, byId, max, () => ranked);
    return { ids, max };
  }
}
