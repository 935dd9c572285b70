/**
 * DeepSeek-V4's compressed cache through the prefix cache: a request that shares a prefix with a
 * cached one continues from the cached state (trimmed: restored from the latest snapshot and the
 * tail re-run) and must give the logits of a fresh run, wherever the cut falls: inside a compression
 * window, on its boundary, inside the sliding window of the cached end, before the first snapshot;
 * both when the entry is taken (trim) and when it is kept (copy). Model: the 600-token oracle case
 * (sliding window 16, CSA rate 4 with the indexer, HCA rate 32), float32 on the CPU, snapshots every
 * 64 positions so every cut replays a few tokens.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadModel, type LoadedModel } from '../../../engine/runtime/load.ts';
import { CompressedKvState } from '../../../engine/runtime/compressed-state.ts';
import { PrefixCache } from '../../../engine/runtime/prefix-cache.ts';
import { sharedDir } from '../../helpers/paths.ts';

process.env.SWITCHYARD_V4_SNAPSHOT_EVERY = '64';
const caseDir = path.join(sharedDir(), 'oracle-v4', 'deepseek_v4_long');
const ids = (JSON.parse(fs.readFileSync(path.join(caseDir, 'reference.json'), 'utf8')) as { input_ids: number[] }).input_ids;
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-v4-state-'));
let m: LoadedModel;

before(async () => {
  m = await loadModel(caseDir, { quant: 'none', providers: ['cpu'], cacheDir });
});
after(async () => {
  await m?.close();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** A request sharing the first n tokens of the prompt, then 24 others. */
const requestAt = (n: number) => [...ids.slice(0, n), ...ids.slice(200, 224).reverse()];

async function fresh(tokens: number[], keep: number): Promise<Float32Array> {
  const st = m.session.newState();
  const r = await m.session.forward(st, tokens, { logitsToKeep: keep });
  st.dispose();
  return r.logits;
}

describe('DeepSeek-V4 prefix cache', () => {
  it('snapshots every 64 positions and 16 before a planned prompt\'s end; the cache is far smaller than full K/V', async () => {
    const st = m.session.newState();
    assert.ok(st instanceof CompressedKvState);
    await m.session.forward(st, ids.slice(0, 150));
    await m.session.forward(st, ids.slice(150, 290));
    assert.deepEqual(st.snapshotPositions, [64, 128, 192, 256]);
    // A prompt announced to end at 310 (as the service does): a snapshot 16 before its end.
    st.planPrompt(310);
    await m.session.forward(st, ids.slice(290, 300));
    await m.session.forward(st, ids.slice(300, 310));
    assert.deepEqual(st.snapshotPositions.slice(-2), [256, 294]);
    // Less than 16 new tokens: a snapshot where the prefill starts, if none is that close.
    st.planPrompt(312);
    await m.session.forward(st, ids.slice(310, 312));
    assert.deepEqual(st.snapshotPositions.slice(-1), [310]);
    st.planPrompt(314);
    await m.session.forward(st, ids.slice(312, 314));
    assert.deepEqual(st.snapshotPositions.slice(-1), [310], 'one within 16 already');
    // Decode steps take none.
    await m.session.forward(st, [ids[314]!]);
    assert.deepEqual(st.snapshotPositions.slice(-1), [310]);
    assert.equal(st.length, 315);
    // Full K=V for 315 tokens x 5 layers x head_dim 64 x 4 bytes = 403200; the window is 16.
    const live = st.bytes;
    assert.ok(live < 403200, `cache ${live} bytes`);
    st.dispose();
  });

  for (const [what, n] of [
    ['inside a compression window (CSA 130 % 4 = 2, HCA 130 % 32 = 2)', 130],
    ['on a compression boundary (128: CSA, HCA and a snapshot)', 128],
    ['inside the sliding window of the cached end (597 of 600)', 597],
    ['before the first snapshot (40)', 40],
    ['inside an HCA window just past a snapshot (449: 449 % 32 = 1)', 449],
  ] as const) {
    for (const keep of [false, true]) {
      it(`${what}, entry ${keep ? 'kept (copy)' : 'taken (trim)'}: same logits as a fresh run`, async () => {
        const cache = new PrefixCache(1 << 30, () => m.session.newState());
        const a = m.session.newState();
        a.planPrompt(ids.length); // its tail snapshot (584) serves the cut at 597
        await m.session.forward(a, ids);
        cache.put(ids, a);
        const b = requestAt(n);
        const t = await cache.take(b, { keep });
        assert.equal(t.reused, n);
        assert.equal(t.state.length, n);
        const tail = b.length - n;
        const ours = (await m.session.forward(t.state, b.slice(n), { logitsToKeep: tail })).logits;
        const want = await fresh(b, tail);
        const d = maxDiff(ours, want);
        assert.ok(d <= 1e-4, `max |diff| ${d}`);
        // One more token on both: the restored state keeps going exactly.
        const next = ids[5]!;
        const fullB = [...b, next];
        const step = (await m.session.forward(t.state, [next])).logits;
        assert.ok(maxDiff(step, await fresh(fullB, 1)) <= 1e-4);
        t.state.dispose();
        cache.clear();
      });
    }
  }
});
