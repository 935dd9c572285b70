/**
 * Dispatched experts (the CPU's default) against the fused MoE/QMoE kernel in one graph, on real
 * builds of oracle checkpoints: the split graph + per-expert sessions give the fused graph's logits
 * (float32 to 1e-5, int8/int4 as close as two kernels rounding differently allow), incremental steps
 * and cache appends agree, and only the chosen experts' sessions run (counted from ONNX Runtime's
 * own profile, not from our bookkeeping).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checkpoint } from '../../../engine/checkpoint/checkpoint.ts';
import type { Quant } from '../../../engine/graph/linear.ts';
import { buildModel, type BuiltModel } from '../../../engine/model/build.ts';
import { expertModeFromEnv } from '../../../engine/runtime/experts.ts';
import { summariseProfiles } from '../../../engine/runtime/profile.ts';
import { ModelSession } from '../../../engine/runtime/session.ts';
import { cosine, maxAbsDiff } from '../../helpers/numeric.ts';
import { sharedDir } from '../../helpers/paths.ts';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-experts-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

async function build(name: string, quant: Quant): Promise<BuiltModel> {
  const ckpt = Checkpoint.open(path.join(sharedDir(), 'oracle', name));
  try {
    return await buildModel(ckpt, { quant, cacheDir });
  } finally {
    ckpt.close();
  }
}

const PROMPT = [5, 17, 99, 3, 250, 41, 7, 11, 12];

describe('dispatched experts equal the fused kernel', () => {
  for (const [name, quant, bound] of [
    ['deepseek_v2_lite', 'none', 1e-5],
    ['deepseek_v3', 'none', 1e-5],
    ['qwen3_moe', 'none', 1e-5],
    // Quantised: the fused QMoE dequantises to float; MatMulNBits (accuracy_level 4) also rounds the
    // activations to int8 per block, so the two agree closely, not exactly (each is held to the
    // oracle by the fidelity suite).
    ['mixtral', 'int8', 0.998],
    ['deepseek_v2', 'int4', 0.99],
  ] as const) {
    test(`${name} ${quant}: prefill, chunked prefill and decode`, async () => {
      const tol = quant === 'none' ? bound : 0;
      const minCos = quant === 'none' ? 1 : bound;
      const built = await build(name, quant);
      assert.ok(built.dispatch, 'the build holds the dispatched form');
      assert.equal(built.dispatch.pieces.length, built.dispatch.cuts.length + 1);
      const fused = await ModelSession.create(built, { providers: ['cpu'], experts: 'fused' });
      const disp = await ModelSession.create(built, { providers: ['cpu'], experts: 'dispatch' });
      try {
        assert.equal(fused.expertMode, 'fused');
        assert.equal(disp.expertMode, 'dispatch');
        assert.equal(disp.placement.mode, 'dispatch');
        const a = fused.newState();
        const b = disp.newState();
        const ra = await fused.forward(a, PROMPT, { logitsToKeep: PROMPT.length, routing: true });
        // The dispatched state is filled in two chunks: the appended cache must make that equal.
        await disp.forward(b, PROMPT.slice(0, 4));
        const rb2 = await disp.forward(b, PROMPT.slice(4), { logitsToKeep: PROMPT.length - 4, routing: true });
        const tail = ra.logits.subarray(4 * ra.vocab);
        if (tol) assert.ok(maxAbsDiff(tail, rb2.logits) < tol, `prefill differs by ${maxAbsDiff(tail, rb2.logits)}`);
        else assert.ok(cosine(tail, rb2.logits) > minCos, `prefill cosine ${cosine(tail, rb2.logits)}`);
        for (let step = 0; step < 3; step++) {
          const da = await fused.forward(a, [30 + step]);
          const db = await disp.forward(b, [30 + step]);
          if (tol) assert.ok(maxAbsDiff(da.logits, db.logits) < tol, `decode step ${step} differs by ${maxAbsDiff(da.logits, db.logits)}`);
          else assert.ok(cosine(da.logits, db.logits) > minCos, `decode cosine ${cosine(da.logits, db.logits)}`);
        }
        assert.equal(b.length, PROMPT.length + 3);
        const first = a.tensors.keys().next().value!;
        const ca = await a.read(first);
        const cb = await b.read(first);
        assert.equal(ca.length, cb.length, 'both caches hold the same positions');
        if (tol) assert.ok(maxAbsDiff(ca, cb) < tol, 'the appended cache equals the fused one');
      } finally {
        await fused.release();
        await disp.release();
      }
    });
  }
});

test('each step runs exactly the experts the router chose, nothing else', async () => {
  const built = await build('deepseek_v2_lite', 'int8');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-experts-profile-'));
  try {
    const s = await ModelSession.create(built, { providers: ['cpu'], experts: 'dispatch', profileDir: dir });
    const st = s.newState();
    const pre = await s.forward(st, PROMPT, { routing: true });
    const dec = await s.forward(st, [42], { routing: true });
    s.endProfiling();
    await s.release();
    const distinct = (r: typeof pre) => [...r.routing!.values()].reduce((a, v) => a + new Set(v.indices).size, 0);
    const expected = distinct(pre) + distinct(dec);
    const all = built.dispatch!.cuts.reduce((a, c) => a + c.experts, 0);
    assert.ok(distinct(dec) < all / 2, 'the decode step chose a few experts per layer');
    // One model_run per expert-session run, in ONNX Runtime's own profile of each expert session.
    assert.equal(summariseProfiles(dir, 'expert').runs, expected);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('SWITCHYARD_EXPERTS accepts dispatch and fused and refuses anything else', () => {
  assert.equal(expertModeFromEnv({}), null);
  assert.equal(expertModeFromEnv({ SWITCHYARD_EXPERTS: 'Fused' }), 'fused');
  assert.equal(expertModeFromEnv({ SWITCHYARD_EXPERTS: 'dispatch' }), 'dispatch');
  assert.throws(() => expertModeFromEnv({ SWITCHYARD_EXPERTS: 'gpu' }), /must be 'dispatch' or 'fused'/);
});
