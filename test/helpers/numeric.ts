/** Numeric helpers shared by tests: seeded random arrays and the largest elementwise difference. */
import assert from 'node:assert/strict';
import { seededRandom } from '../../engine/runtime/sampler.ts';

/** Deterministic arrays, uniform in [-1, 1) times `scale` plus `offset` (the engine's mulberry32). */
export function rng(seed: number): (n: number, scale?: number, offset?: number) => Float32Array {
  const next = seededRandom(seed);
  return (n, scale = 1, offset = 0) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (next() * 2 - 1) * scale + offset;
    return out;
  };
}

/** max |a[i] - b[i]|; the lengths must agree. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Cosine similarity of two equally long vectors (agreement of quantised or cross-provider logits). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}
