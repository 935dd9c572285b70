/**
 * The bench's random DeepSeek-V4 checkpoint: its config reads back as the released layer schedule,
 * and a tiny one of the same make builds and runs (real safetensors, real build, real ORT session)
 * with the compressed cache growing as the architecture says.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checkpoint } from '../../engine/checkpoint/checkpoint.ts';
import { buildModel } from '../../engine/model/build.ts';
import { specFromConfig } from '../../engine/model/spec.ts';
import { ModelSession } from '../../engine/runtime/session.ts';
import { ensureV4Checkpoint, releasedSchedule, v4Config, V4_SCALED, type V4Shape } from '../../bench/v4-checkpoint.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-v4bench-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test("V4-Flash's 43 layers: 2 sliding + 21 CSA + 20 HCA; the bench's 8 read back as S S C H C H C H", () => {
  const flash = releasedSchedule(43, 4, 128);
  assert.deepEqual([flash.filter((m) => m === 0).length, flash.filter((m) => m === 4).length, flash.filter((m) => m === 128).length], [2, 21, 20]);
  const spec = specFromConfig(v4Config(V4_SCALED), 'config.json');
  assert.deepEqual(spec.v4!.layerTypes, ['sliding', 'sliding', 'csa', 'hca', 'csa', 'hca', 'csa', 'hca']);
  assert.deepEqual(spec.v4!.compressRates, [0, 0, 4, 128, 4, 128, 4, 128]);
  assert.deepEqual(spec.v4!.hashLayers, [true, true, true, false, false, false, false, false]);
  assert.equal(spec.v4!.indexTopk, 512);
});

test('a tiny checkpoint of the same make builds, runs, and grows its compressed entries', async () => {
  const tiny: V4Shape = {
    ...V4_SCALED,
    hidden: 64,
    layers: 4,
    heads: 4,
    headDim: 64,
    ropeDim: 16,
    qLoraRank: 32,
    oGroups: 2,
    oLoraRank: 16,
    experts: 4,
    topK: 2,
    moeInter: 32,
    hashLayers: 1,
    indexHeads: 4,
    indexHeadDim: 16,
    indexTopk: 8,
    slidingWindow: 16,
    hcaRate: 8,
    vocab: 320,
  };
  const ckptDir = path.join(dir, 'ckpt');
  assert.equal(ensureV4Checkpoint(ckptDir, tiny).created, true);
  assert.equal(ensureV4Checkpoint(ckptDir, tiny).created, false, 'a complete checkpoint of the same shape is reused');
  const ckpt = Checkpoint.open(ckptDir);
  try {
    const built = await buildModel(ckpt, { quant: 'none', cacheDir: path.join(dir, 'builds') });
    const session = await ModelSession.create(built, { providers: ['cpu'] });
    const state = session.newState();
    const r = await session.forward(state, Array.from({ length: 37 }, (_, i) => 2 + ((i * 7) % 300)));
    assert.ok(r.logits.every(Number.isFinite), 'finite logits');
    // Layer 2 is CSA (rate 4): 9 entries after 37 tokens; layer 3 HCA (rate 8): 4.
    assert.equal(state.tensors.get('past.centry.2')!.dims[2], 9);
    assert.equal(state.tensors.get('past.ientry.2')!.dims[2], 9);
    assert.equal(state.tensors.get('past.centry.3')!.dims[2], 4);
    assert.equal(state.tensors.get('past.win.0')!.dims[2], 15, 'the window keeps sliding_window - 1 rows');
    await session.release();
  } finally {
    ckpt.close();
  }
});
