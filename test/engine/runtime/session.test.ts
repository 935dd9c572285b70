/**
 * The incremental API on a real built model (the deepseek_v2_lite oracle checkpoint, float32), on the
 * CPU and on WebGPU: chunked prefill equals one prefill, trim + continue equals a fresh run, clones
 * are independent, the cache holds exactly the MLA latent, and on WebGPU it stays on the device
 * between steps and equals the CPU's.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../../../engine/runtime/load.ts';
import { kvBytesPerToken } from '../../../engine/model/spec.ts';
import { sharedDir } from '../../helpers/paths.ts';
import { maxAbsDiff } from '../../helpers/numeric.ts';
import { argmax } from '../../../engine/runtime/sampler.ts';
import { assertProvider, oracleOn, TEST_PROVIDERS } from '../../helpers/webgpu.ts';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-session-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const A = [5, 17, 99, 3, 250, 41, 7];
const B = [11, 12, 13];
const C = [200, 201, 202, 203];


for (const ep of TEST_PROVIDERS) describe(`ModelSession (${ep})`, () => {
  const model = oracleOn(ep, 'deepseek_v2_lite', cacheDir);

  test('prefill in chunks gives the same last logits as one prefill', async () => {
    const s = model().session;
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
    const s = model().session;
    const st = s.newState();
    await s.forward(st, [...A, ...B]);
    await st.trim(A.length);
    assert.equal(st.length, A.length);
    const r1 = await s.forward(st, C);
    const fresh = s.newState();
    const r2 = await s.forward(fresh, [...A, ...C]);
    assert.ok(maxAbsDiff(r1.logits, r2.logits) < 1e-5);
    await assert.rejects(st.trim(st.length + 1), /cannot trim/);
  });

  test('a clone moves on independently of its original', async () => {
    const s = model().session;
    const st = s.newState();
    await s.forward(st, A);
    const copy = await st.clone();
    await s.forward(st, B);
    assert.equal(copy.length, A.length);
    const r1 = await s.forward(copy, C);
    const r2 = await s.forward(s.newState(), [...A, ...C]);
    assert.ok(maxAbsDiff(r1.logits, r2.logits) < 1e-5);
  });

  test('logitsToKeep returns that many trailing rows, matching single-row results', async () => {
    const s = model().session;
    const all = await s.forward(s.newState(), A, { logitsToKeep: A.length });
    assert.equal(all.keep, A.length);
    assert.equal(all.logits.length, A.length * all.vocab);
    const last = await s.forward(s.newState(), A);
    assert.ok(maxAbsDiff(all.logits.subarray((A.length - 1) * all.vocab), last.logits) < 1e-5);
  });

  test('the cache holds the compressed MLA latent: kv_lora_rank + rope values per token per layer', async () => {
    const s = model().session;
    const st = s.newState();
    await s.forward(st, A);
    assert.equal(st.bytes, A.length * kvBytesPerToken(model().built.spec, 4));
    const a = model().built.spec.attention;
    assert.equal(a.kind, 'mla');
  });

  test('forward refuses an empty chunk', async () => {
    await assert.rejects(model().session.forward(model().session.newState(), []), /at least one token/);
  });

  test('a copy of the first n positions equals a fresh prefill of them; trim to 0 empties', async () => {
    const s = model().session;
    const st = s.newState();
    await s.forward(st, [...A, ...B]);
    const head = await st.copy(A.length);
    assert.equal(st.length, A.length + B.length, 'copying leaves the original whole');
    const r1 = await s.forward(head, C);
    const r2 = await s.forward(s.newState(), [...A, ...C]);
    assert.ok(maxAbsDiff(r1.logits, r2.logits) < 1e-5);
    await st.trim(0);
    assert.equal(st.length, 0);
    assert.equal(st.bytes, 0);
    const r3 = await s.forward(st, [...A, ...C]);
    assert.ok(maxAbsDiff(r3.logits, r2.logits) < 1e-5);
  });

  if (ep === 'webgpu') {
    test('the KV cache stays on the device between steps and holds what the CPU computes', async () => {
      const s = model().session;
      assert.equal(s.kvLocation, 'gpu-buffer');
      const st = s.newState();
      await s.forward(st, A);
      for (const id of B) await s.forward(st, [id]);
      assert.equal(st.location, 'gpu-buffer');
      for (const t of st.tensors.values()) assert.equal(t.location, 'gpu-buffer', 'a cache tensor came back to the host');
      const cpu = await loadModel(path.join(sharedDir(), 'oracle', 'deepseek_v2_lite'), { quant: 'none', providers: ['cpu'], cacheDir });
      try {
        const ref = cpu.session.newState();
        const refOut = await cpu.session.forward(ref, [...A, ...B, ...C]);
        const out = await s.forward(st, C);
        assert.ok(maxAbsDiff(out.logits, refOut.logits) < 1e-4, `WebGPU logits differ from the CPU's by ${maxAbsDiff(out.logits, refOut.logits)}`);
        for (const name of st.tensors.keys()) {
          const d = maxAbsDiff(await st.read(name), await ref.read(name));
          assert.ok(d < 1e-4, `${name} differs from the CPU's by ${d}`);
        }
      } finally {
        await cpu.close();
      }
    });
  }
});

// int8 and int4 builds use QMoE for the experts, which ORT's WebGPU provider accepts at session
// creation and then refuses at run time (no zero points): the engine keeps it on the CPU.
describe('quantised builds on WebGPU', { skip: !TEST_PROVIDERS.includes('webgpu') && 'SWITCHYARD_SKIP_WEBGPU=1' }, () => {
  for (const quant of ['int8', 'int4'] as const) {
    test(`${quant}: runs, and its logits agree with the same build on the CPU`, async () => {
      const dir = path.join(sharedDir(), 'oracle', 'deepseek_v2_lite');
      const gpu = await loadModel(dir, { quant, providers: ['webgpu'], cacheDir });
      const cpu = await loadModel(dir, { quant, providers: ['cpu'], cacheDir });
      try {
        assertProvider(gpu.session.provider, 'webgpu', gpu.session.attempts);
        const st = gpu.session.newState();
        await gpu.session.forward(st, A);
        const g = await gpu.session.forward(st, C, { logitsToKeep: C.length });
        const c = await cpu.session.forward(cpu.session.newState(), [...A, ...C], { logitsToKeep: C.length });
        // Not bit-equal: ORT's CPU MatMulNBits quantises activations to int8 (accuracy level 4),
        // the WebGPU kernel keeps them in float. Same ranking, nearly the same values.
        let dot = 0, gg = 0, cc = 0;
        for (let i = 0; i < g.logits.length; i++) {
          dot += g.logits[i]! * c.logits[i]!;
          gg += g.logits[i]! ** 2;
          cc += c.logits[i]! ** 2;
        }
        const cosine = dot / Math.sqrt(gg * cc);
        assert.ok(cosine > 0.9999, `${quant} WebGPU vs CPU cosine ${cosine}`);
        for (let r = 0; r < C.length; r++) {
          const row = (x: Float32Array) => x.subarray(r * g.vocab, (r + 1) * g.vocab);
          assert.equal(argmax(row(g.logits)), argmax(row(c.logits)), `${quant} top-1 differs at row ${r}`);
        }
      } finally {
        await gpu.close();
        await cpu.close();
      }
    });
  }
});

describe('the append-only MLA cache on the host', () => {
  const model = oracleOn('cpu', 'deepseek_v2_lite', cacheDir);

  test('steps append into one grown buffer; trims are views; fit() drops the spare capacity', async () => {
    const s = model().session;
    assert.ok(model().built.io.caches.every((c) => c.append), 'MLA caches are append caches');
    const st = s.newState();
    await s.forward(st, A);
    const name = st.tensors.keys().next().value!;
    const first = st.tensors.get(name)!.data as Float32Array;
    await s.forward(st, B);
    const second = st.tensors.get(name)!.data as Float32Array;
    assert.equal(second.buffer, first.buffer, 'the second step wrote into the same buffer');
    assert.ok(second.buffer.byteLength > second.byteLength, 'with spare capacity behind the view');
    const before = Float32Array.from(second);
    await st.trim(A.length);
    assert.equal((st.tensors.get(name)!.data as Float32Array).buffer, first.buffer, 'a trim is a view');
    assert.deepEqual(Float32Array.from(st.tensors.get(name)!.data as Float32Array), before.subarray(0, first.length));
    st.fit();
    const fitted = st.tensors.get(name)!.data as Float32Array;
    assert.equal(fitted.buffer.byteLength, fitted.byteLength, 'no spare capacity after fit()');
    assert.equal(st.bytes, A.length * kvBytesPerToken(model().built.spec, 4));
    // Still usable: continuing equals a fresh run.
    const r1 = await s.forward(st, C);
    const r2 = await s.forward(s.newState(), [...A, ...C]);
    assert.ok(maxAbsDiff(r1.logits, r2.logits) < 1e-5);
  });
});
