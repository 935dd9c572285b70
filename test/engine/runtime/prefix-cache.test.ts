/**
 * The prefix cache on a real session (the deepseek_v2_lite oracle checkpoint, MLA latent cache), on
 * the CPU and with the cache on the GPU (WebGPU): longest-prefix reuse, continuation equal to a fresh
 * run, LRU eviction under a byte budget.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PrefixCache } from '../../../engine/runtime/prefix-cache.ts';
import { maxAbsDiff } from '../../helpers/numeric.ts';
import { oracleOn, TEST_PROVIDERS } from '../../helpers/webgpu.ts';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-prefix-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const seq = (n: number, salt = 0) => Array.from({ length: n }, (_, i) => 3 + ((i * 37 + salt * 101) % 300));


for (const ep of TEST_PROVIDERS) describe(`PrefixCache (${ep})`, () => {
  const model = oracleOn(ep, 'deepseek_v2_lite', cacheDir);

  test('a changed tail reuses the common prefix and gives the same logits as a fresh run', async () => {
    const s = model().session;
    const cache = new PrefixCache(1 << 30, () => s.newState());
    const a = seq(40);
    const first = await cache.take(a);
    assert.equal(first.reused, 0);
    await s.forward(first.state, a);
    cache.put(a, first.state);

    const b = [...a.slice(0, 33), 7, 8, 9];
    const t = await cache.take(b);
    assert.equal(t.reused, 33);
    assert.equal(t.state.length, 33);
    assert.equal(t.state.location, model().session.kvLocation);
    const r1 = await s.forward(t.state, b.slice(t.reused));
    const r2 = await s.forward(s.newState(), b);
    assert.ok(maxAbsDiff(r1.logits, r2.logits) < 1e-5);
    cache.put(b, t.state);
    const st = cache.stats();
    assert.equal(st.hits, 1);
    assert.equal(st.misses, 1);
    assert.equal(st.reusedTokens, 33);
    assert.equal(st.prefilledTokens, 40 + 3);
  });

  test('an identical prompt reuses all but its last token (whose logits the caller needs)', async () => {
    const s = model().session;
    const cache = new PrefixCache(1 << 30, () => s.newState());
    const a = seq(20, 1);
    const t = await cache.take(a);
    await s.forward(t.state, a);
    cache.put(a, t.state);
    const again = await cache.take(a);
    assert.equal(again.reused, 19);
  });

  test('the best of several entries is chosen; keep: true clones and leaves the entry', async () => {
    const s = model().session;
    const cache = new PrefixCache(1 << 30, () => s.newState());
    for (const salt of [1, 2, 3]) {
      const a = seq(30, salt);
      const t = await cache.take(a);
      await s.forward(t.state, a);
      cache.put(a, t.state);
    }
    assert.equal(cache.stats().entries, 3);
    const q = [...seq(30, 2).slice(0, 25), 1, 2];
    const t = await cache.take(q, { keep: true });
    assert.equal(t.reused, 25);
    assert.equal(cache.stats().entries, 3);
    const u = await cache.take(q);
    assert.equal(u.reused, 25);
    assert.equal(cache.stats().entries, 2);
  });

  test('eviction keeps the total under the budget, least recently used first', async () => {
    const s = model().session;
    const probe = s.newState();
    await s.forward(probe, seq(10));
    const perToken = probe.bytes / 10;
    const cache = new PrefixCache(Math.floor(perToken * 25), () => s.newState());
    for (const salt of [1, 2]) {
      const a = seq(10, salt);
      const t = await cache.take(a);
      await s.forward(t.state, a);
      cache.put(a, t.state);
    }
    assert.equal(cache.stats().entries, 2);
    const c = seq(10, 3);
    const t = await cache.take(c);
    await s.forward(t.state, c);
    cache.put(c, t.state);
    const st = cache.stats();
    assert.ok(st.bytes <= st.budgetBytes);
    assert.equal(st.entries, 2);
    assert.equal((await cache.take(seq(10, 1))).reused, 0, 'the oldest entry was evicted');
    assert.equal((await cache.take(seq(10, 3))).reused, 9);
  });

  test('an entry that is a prefix of a newer one is dropped', async () => {
    const s = model().session;
    const cache = new PrefixCache(1 << 30, () => s.newState());
    const a = seq(12, 4);
    const t = await cache.take(a);
    await s.forward(t.state, a);
    cache.put(a, await t.state.clone());
    const longer = [...a, 5, 6, 7];
    await s.forward(t.state, [5, 6, 7]);
    cache.put(longer, t.state);
    assert.equal(cache.stats().entries, 1);
  });
});
