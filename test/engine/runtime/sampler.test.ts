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
