import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argmax, Sampler } from '../../../engine/runtime/sampler.ts';

const logits = Float32Array.from([0.1, 2.5, -1, 2.4, 0]);

test('greedy and temperature 0 pick the argmax', () => {
  assert.equal(argmax(logits), 1);
  assert.equal(new Sampler({ greedy: true }).next(logits), 1);
  assert.equal(new Sampler({ temperature: 0 }).next(logits), 1);
});

test('top-k 1 and a tiny top-p reduce to the argmax', () => {
  for (let seed = 0; seed < 20; seed++) {
    assert.equal(new Sampler({ temperature: 1, topK: 1, seed }).next(logits), 1);
    assert.equal(new Sampler({ temperature: 1, topP: 0.01, seed }).next(logits), 1);
  }
});

test('a seed makes sampling repeatable; top-k 2 only ever picks the two best', () => {
  const run = (seed: number) => {
    const s = new Sampler({ temperature: 1, topK: 2, seed });
    return Array.from({ length: 50 }, () => s.next(logits));
  };
  assert.deepEqual(run(7), run(7));
  const picks = new Set(run(7));
  assert.deepEqual([...picks].sort(), [1, 3]);
});

test('sampling follows the softmax: frequencies near exp-weights at temperature 1', () => {
  const s = new Sampler({ temperature: 1, seed: 42 });
  const counts = new Array(logits.length).fill(0) as number[];
  const n = 20000;
  for (let i = 0; i < n; i++) counts[s.next(logits)]!++;
  const z = Array.from(logits).reduce((a, x) => a + Math.exp(x), 0);
  logits.forEach((x, i) => assert.ok(Math.abs(counts[i]! / n - Math.exp(x) / z) < 0.02, `token ${i}: ${counts[i]! / n} vs ${Math.exp(x) / z}`));
});

// ---- options, penalties, validation, fast path vs the sort-everything oracle ----

import { applyPenalties, rankAll, ReferenceSampler, seededRandom, topKIds, type SamplingOptions } from '../../../engine/runtime/sampler.ts';

/** Frequencies of each id over n draws from fresh logits each time (the same vector here). */
function freqs(opts: SamplingOptions, l: Float32Array, n = 20000, history?: number[]): number[] {
  const s = new Sampler({ seed: 1234, ...opts });
  const c = new Array(l.length).fill(0) as number[];
  for (let i = 0; i < n; i++) c[s.next(l, history)]!++;
  return c.map((x) => x / n);
}

/** Softmax of l / t restricted to `keep` (all ids when omitted). */
function expected(l: ArrayLike<number>, t = 1, keep?: number[]): number[] {
  const ids = keep ?? Array.from({ length: l.length }, (_, i) => i);
  const z = ids.reduce((a, i) => a + Math.exp(l[i]! / t), 0);
  return Array.from({ length: l.length }, (_, i) => (ids.includes(i) ? Math.exp(l[i]! / t) / z : 0));
}

function close(got: number[], want: number[], tol = 0.015): void {
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) < tol, `id ${i}: got ${g.toFixed(4)}, want ${want[i]!.toFixed(4)} (all: ${got.map((x) => x.toFixed(3))})`));
}

/** Probabilities 0.5, 0.3, 0.15, 0.05 as logits. */
const probs = Float32Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));

test('temperature: frequencies follow softmax(l / T); low T sharpens, high T flattens', () => {
  const l = Float32Array.from([2, 1, 0, -1]);
  const cold = freqs({ temperature: 0.5 }, l);
  const hot = freqs({ temperature: 2 }, l);
  close(cold, expected(l, 0.5));
  close(hot, expected(l, 2));
  assert.ok(cold[0]! > expected(l, 1)[0]! + 0.1 && hot[0]! < expected(l, 1)[0]! - 0.1);
});

test('top-k: only the k best ever appear, renormalised', () => {
  const l = Float32Array.from([2, 1, 0, -1, 1.5]);
  close(freqs({ temperature: 1, topK: 2 }, l), expected(l, 1, [0, 4]));
  close(freqs({ temperature: 1, topK: 3 }, l), expected(l, 1, [0, 1, 4]));
  // k >= vocabulary size is off
  close(freqs({ temperature: 1, topK: 99 }, l), expected(l, 1));
});

test('top-p: keeps the smallest best-first prefix reaching the mass, renormalised', () => {
  close(freqs({ temperature: 1, topP: 0.75 }, probs), [0.5 / 0.8, 0.3 / 0.8, 0, 0]);
  close(freqs({ temperature: 1, topP: 0.85 }, probs), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0]);
  close(freqs({ temperature: 1, topP: 0.4 }, probs), [1, 0, 0, 0]);
});

test('min-p: drops tokens below min_p times the best probability', () => {
  close(freqs({ temperature: 1, minP: 0.2 }, probs), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0]); // threshold 0.1
  close(freqs({ temperature: 1, minP: 0.5 }, probs), [0.5 / 0.8, 0.3 / 0.8, 0, 0]); // threshold 0.25
  close(freqs({ temperature: 1, minP: 0.7 }, probs), [1, 0, 0, 0]);
});

test('order: top-k before top-p (top-p sees the renormalised top-k), temperature after both filters', () => {
  // Alone, top-p 0.6 needs ids 0 and 1 (0.5 < 0.6); after top-k 2 id 0 has 0.625 >= 0.6 by itself.
  close(freqs({ temperature: 1, topP: 0.6 }, probs), [0.5 / 0.8, 0.3 / 0.8, 0, 0]);
  close(freqs({ temperature: 1, topK: 2, topP: 0.6 }, probs), [1, 0, 0, 0]);
  // Temperature 3 flattens the weights of the nucleus but does not widen it (it is chosen at T=1).
  close(freqs({ temperature: 3, topP: 0.75 }, probs), expected(probs, 3, [0, 1]));
  close(freqs({ temperature: 3, minP: 0.5 }, probs), expected(probs, 3, [0, 1]));
});

test('penalties computed exactly: repetition (sign-aware), presence, frequency, window', () => {
  const l = Float32Array.from([2, -1, 0.5, 0, 3]);
  const before = Float32Array.from(l);
  const hist = [0, 1, 1, 3, 99, -5]; // 99 and -5 are outside the vocabulary: ignored
  assert.deepEqual(Array.from(applyPenalties(l, hist, { repetitionPenalty: 2 })), [1, -2, 0.5, 0, 3]);
  assert.deepEqual(Array.from(applyPenalties(l, hist, { presencePenalty: 0.5 })), [1.5, -1.5, 0.5, -0.5, 3]);
  assert.deepEqual(Array.from(applyPenalties(l, hist, { frequencyPenalty: 0.25 })), [1.75, -1.5, 0.5, -0.25, 3]);
  // Repetition first, then presence + frequency * count.
  assert.deepEqual(Array.from(applyPenalties(l, hist, { repetitionPenalty: 2, presencePenalty: 0.5, frequencyPenalty: 0.25 })), [0.25, -3, 0.5, -0.75, 3]);
  // A penalty below 1 rewards repeats.
  assert.deepEqual(Array.from(applyPenalties(l, [0, 1], { repetitionPenalty: 0.5 })), [4, -0.5, 0.5, 0, 3]);
  // Window: only the last N history ids count; -1 means all; 0 means none (and no copy).
  const w2 = applyPenalties(l, [0, 0, 1, 1, 3], { frequencyPenalty: 1, penaltyLastN: 2 });
  assert.deepEqual(Array.from(w2), [2, -2, 0.5, -1, 3]);
  const wAll = applyPenalties(l, [0, 0, 1, 1, 3], { frequencyPenalty: 1, penaltyLastN: -1 });
  assert.deepEqual(Array.from(wAll), [0, -3, 0.5, -1, 3]);
  assert.equal(applyPenalties(l, [0, 1], { frequencyPenalty: 1, penaltyLastN: 0 }), l);
  assert.equal(applyPenalties(l, [0, 1], {}), l);
  assert.equal(applyPenalties(l, undefined, { repetitionPenalty: 1.3 }), l);
  // Default window is 64.
  const long = [0, ...new Array(64).fill(2)];
  assert.equal(applyPenalties(l, long, { presencePenalty: 1 })[0], 2);
  assert.deepEqual(l, before, 'the caller’s logits are never modified');
});

test('penalties steer the sampler: greedy avoids a penalised argmax; frequencies follow penalised logits', () => {
  const l = Float32Array.from([2, 1.9, 0]);
  assert.equal(new Sampler({ greedy: true }).next(l, [0]), 0);
  assert.equal(new Sampler({ greedy: true, repetitionPenalty: 1.1 }).next(l, [0]), 1);
  assert.equal(new Sampler({ temperature: 0, presencePenalty: 0.2 }).next(l, [0]), 1);
  const s = new Sampler({ greedy: true, frequencyPenalty: 0.06 });
  assert.equal(s.next(l, [0]), 0, 'one occurrence costs 0.06: still ahead');
  assert.equal(s.next(l, [0, 0]), 1, 'two cost 0.12: now behind');
  const hist = [0, 0, 2];
  const opts = { temperature: 1, repetitionPenalty: 1.5, presencePenalty: 0.3, frequencyPenalty: 0.2 };
  close(freqs(opts, l, 20000, hist), expected(applyPenalties(l, hist, opts)));
});

test('seed: the same seed repeats the same tokens, other seeds differ', () => {
  const rnd = seededRandom(5);
  const l = Float32Array.from({ length: 200 }, () => rnd() * 4);
  const run = (opts: SamplingOptions) => {
    const s = new Sampler(opts);
    const out: number[] = [];
    for (let i = 0; i < 100; i++) out.push(s.next(l, out));
    return out;
  };
  for (const o of [{ temperature: 1 }, { temperature: 0.7, topK: 20, topP: 0.9, minP: 0.02, repetitionPenalty: 1.2, presencePenalty: 0.1, frequencyPenalty: 0.1 }]) {
    assert.deepEqual(run({ ...o, seed: 11 }), run({ ...o, seed: 11 }));
    assert.notDeepEqual(run({ ...o, seed: 11 }), run({ ...o, seed: 12 }));
  }
});

test('validation: bad options throw an Error naming the option', () => {
  const bad: [SamplingOptions, string][] = [
    [{ temperature: -0.1 }, 'temperature'],
    [{ temperature: NaN }, 'temperature'],
    [{ temperature: Infinity }, 'temperature'],
    [{ topP: 0 }, 'topP'],
    [{ topP: 1.01 }, 'topP'],
    [{ topP: NaN }, 'topP'],
    [{ minP: 1 }, 'minP'],
    [{ minP: -0.01 }, 'minP'],
    [{ topK: -1 }, 'topK'],
    [{ topK: 2.5 }, 'topK'],
    [{ repetitionPenalty: 0 }, 'repetitionPenalty'],
    [{ repetitionPenalty: -1 }, 'repetitionPenalty'],
    [{ repetitionPenalty: Infinity }, 'repetitionPenalty'],
    [{ presencePenalty: NaN }, 'presencePenalty'],
    [{ frequencyPenalty: -Infinity }, 'frequencyPenalty'],
    [{ penaltyLastN: -2 }, 'penaltyLastN'],
    [{ penaltyLastN: 1.5 }, 'penaltyLastN'],
    [{ seed: 1.5 }, 'seed'],
    [{ greedy: 'yes' as unknown as boolean }, 'greedy'],
  ];
  for (const [o, name] of bad) {
    assert.throws(() => new Sampler(o), (e: unknown) => e instanceof Error && e.message.includes(`option ${name} must be`), JSON.stringify(o) ?? name);
  }
  // The boundaries that are allowed.
  for (const o of [{ temperature: 0 }, { topP: 1 }, { minP: 0 }, { topK: 0 }, { penaltyLastN: -1 }, { presencePenalty: -2, frequencyPenalty: 2 }, { seed: -3 }]) {
    assert.doesNotThrow(() => new Sampler(o), JSON.stringify(o));
  }
});

test('masked tokens (-Infinity) are never drawn', () => {
  const l = Float32Array.from([-Infinity, 0, -Infinity, 0.5, -Infinity]);
  for (const o of [{}, { topP: 0.99 }, { minP: 0.01 }, { topK: 4 }]) {
    const f = freqs({ temperature: 1, ...o }, l, 3000);
    assert.equal(f[0]! + f[2]! + f[4]!, 0, JSON.stringify(o));
  }
});

/** Logits with deliberate ties (quarter steps) so tie-breaking is exercised too. */
function randomLogits(rnd: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.round((rnd() + rnd() + rnd() - 1.5) * 16) / 4);
}

test('topKIds and rankAll equal a full comparison sort (ties broken by lower id)', () => {
  const rnd = seededRandom(3);
  const sorted = (l: Float32Array) => Array.from(l.keys()).sort((a, b) => (l[b]! === l[a]! ? a - b : l[b]! > l[a]! ? 1 : -1));
  for (const k of [1, 2, 7, 64, 999, 1000]) {
    const l = randomLogits(rnd, 1000);
    assert.deepEqual(Array.from(topKIds(l, k)), sorted(l).slice(0, k), `k=${k}`);
  }
  const l = randomLogits(rnd, 5000);
  l.set([-0, 0, -Infinity, Infinity, -1e-30, 1e-30, -3.5e38, 3.5e38, -0], 100);
  assert.deepEqual(Array.from(rankAll(l)), sorted(l));
  assert.deepEqual(Array.from(rankAll(l.subarray(7, 4000))), sorted(l.subarray(7, 4000)), 'a view into a larger buffer');
});

test('fast path equals the sort-everything path: same ids for the same seed', () => {
  const combos: SamplingOptions[] = [
    {},
    { temperature: 0.7 },
    { topK: 40 },
    { topK: 1 },
    { topP: 0.9 },
    { topP: 0.999 }, // the nucleus is deep: the heap has to grow several times
    { topP: 0.3, temperature: 1.5 },
    { minP: 0.05 },
    { topK: 50, topP: 0.8, minP: 0.1, temperature: 0.6 },
    { topK: 200, topP: 0.95, repetitionPenalty: 1.3, presencePenalty: 0.4, frequencyPenalty: 0.2, penaltyLastN: 32 },
    { topP: 0.95, minP: 0.02, temperature: 1 },
    { topK: 1500, topP: 0.9 }, // k is a large share of the vocabulary: radix-ranked
  ];
  const rnd = seededRandom(99);
  for (const o of combos) {
    const fast = new Sampler({ ...o, seed: 77 });
    const slow = new ReferenceSampler({ ...o, seed: 77 });
    const a: number[] = [];
    const b: number[] = [];
    for (let step = 0; step < 100; step++) {
      const l = randomLogits(rnd, 2000);
      a.push(fast.next(l, a));
      b.push(slow.next(l, b));
      assert.equal(a[step], b[step], `${JSON.stringify(o)} step ${step}`);
    }
    assert.ok(new Set(a).size > 1 || o.topK === 1, `${JSON.stringify(o)} should not be degenerate`);
  }
});

test('a 151936-wide vocabulary: fast path agrees with the oracle and stays quick', () => {
  const rnd = seededRandom(8);
  const V = 151936;
  for (const o of [{ topK: 40, topP: 0.95, temperature: 0.8 }, { topP: 0.9 }, { minP: 0.05 }]) {
    const fast = new Sampler({ ...o, seed: 5 });
    const slow = new ReferenceSampler({ ...o, seed: 5 });
    for (let step = 0; step < 3; step++) {
      const l = randomLogits(rnd, V);
      for (let i = 0; i < 5; i++) l[Math.floor(rnd() * V)] = 8 + rnd(); // a peaked head, like a real model
      assert.equal(fast.next(l), slow.next(l), JSON.stringify(o));
    }
  }
});
