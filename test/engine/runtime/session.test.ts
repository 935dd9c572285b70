/**
 * The incremental API on a real built model (the deepseek_v2_lite oracle checkpoint, float32, CPU):
 * chunked prefill equals one prefill, trim + continue equals a fresh run, clones are independent,
 * and the cache holds exactly the MLA latent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel, type LoadedModel } from '../../../engine/runtime/load.ts';
import { kvBytesPerToken } from '../../../engine/model/spec.ts';
import { sharedDir } from '../../helpers/paths.ts';
import { maxAbsDiff } from '../../helpers/numeric.ts';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-session-'));
let m: LoadedModel;
before(async () => {
  m = await loadModel(path.join(sharedDir(), 'oracle', 'deepseek_v2_lite'), { quant: 'none', providers: ['cpu'], cacheDir });
});
after(async () => {
  await m?.close();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

const A = [5, 17, 99, 3, 250, 41, 7];
const B = [11, 12, 13];
const C = [200, 201, 202, 203];


describe('ModelSession', () => {
  test('prefill in chunks gives the same last logits as one prefill', async () => {
    const s = m.session;
    const whole = s.newState();
    const r1 = await s.forward(whole, [...A, ...C]);
    const chunked = s.newState();
    await s.forward(chunked, A.slice(0, 3));
    await s.forward(chunked, A.slice(3));
    const r2 = await s.forward(chunked, C);
    assert.equal(whole.length, A.length + C.length);
    assert.equal(chunked.length, whole.length);
    assert.ok(maxAbsDiff(r1.logits, r2.logits) < 1e-5);
  });

  test('trim then continue equals a fresh run of the kept prefix plus the new tokens', async () => {
    const s = m.session;
    const st = s.newState();
    await s.forward(st, [...A, ...B]);
    st.trim(A.length);
    assert.equal(st.length, A.length);
    const r1 = await s.forward(st, C);
    const fresh = s.newState();
    const r2 = await s.forward(fresh, [...A, ...C]);
    assert.ok(maxAbsDiff(r1.logits, r2.logits) < 1e-5);
    assert.throws(() => st.trim(st.length + 1), /cannot trim/);
  });

  test('a clone moves on independently of its original', async () => {
    const s = m.session;
    const st = s.newState();
    await s.forward(st, A);
    const copy = st.clone();
    await s.forward(st, B);
    assert.equal(copy.length, A.length);
    const r1 = await s.forward(copy, C);
    const r2 = await s.forward(s.newState(), [...A, ...C]);
    assert.ok(maxAbsDiff(r1.logits, r2.logits) < 1e-5);
  });

  test('logitsToKeep returns that many trailing rows, matching single-row results', async () => {
    const s = m.session;
    const all = await s.forward(s.newState(), A, { logitsToKeep: A.length });
    assert.equal(all.keep, A.length);
    assert.equal(all.logits.length, A.length * all.vocab);
    const last = await s.forward(s.newState(), A);
    assert.ok(maxAbsDiff(all.logits.subarray((A.length - 1) * all.vocab), last.logits) < 1e-5);
  });

  test('the cache holds the compressed MLA latent: kv_lora_rank + rope values per token per layer', async () => {
    const s = m.session;
    const st = s.newState();
    await s.forward(st, A);
    assert.equal(st.bytes, A.length * kvBytesPerToken(m.built.spec, 4));
    const a = m.built.spec.attention;
    assert.equal(a.kind, 'mla');
  });

  test('forward refuses an empty chunk', async () => {
    await assert.rejects(m.session.forward(m.session.newState(), []), /at least one token/);
  });
});
