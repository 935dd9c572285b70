/**
 * Token choice from logits: greedy, or temperature / top-k / top-p with a seeded generator so runs
 * can be repeated.
 */
export interface SamplingOptions {
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
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

export class Sampler {
  private readonly rand: () => number;
  constructor(private readonly opts: SamplingOptions = {}) {
    this.rand = seededRandom(opts.seed ?? Date.now());
  }

  next(logits: Float32Array): number {
    const t = this.opts.temperature ?? 0.8;
    if (this.opts.greedy || t <= 0) return argmax(logits);
    let idx = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!);
    if (this.opts.topK && this.opts.topK > 0) idx = idx.slice(0, this.opts.topK);
    const max = logits[idx[0]!]!;
    let probs = idx.map((i) => Math.exp((logits[i]! - max) / t));
    let sum = probs.reduce((a, b) => a + b, 0);
    const topP = this.opts.topP ?? 1;
    if (topP < 1) {
      let acc = 0;
      let cut = probs.length;
      for (let i = 0; i < probs.length; i++) {
        acc += probs[i]! / sum;
        if (acc >= topP) {
          cut = i + 1;
          break;
        }
      }
      idx = idx.slice(0, cut);
      probs = probs.slice(0, cut);
      sum = probs.reduce((a, b) => a + b, 0);
    }
    let r = this.rand() * sum;
    for (let i = 0; i < idx.length; i++) {
      r -= probs[i]!;
      if (r <= 0) return idx[i]!;
    }
    return idx[idx.length - 1]!;
  }
}
