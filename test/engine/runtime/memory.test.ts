/**
 * The memory estimate and the fit refusal for DeepSeek-V4: the cache size formula against the cache
 * a real session holds (the deepseek_v4_long oracle checkpoint, float32, CPU), V4-Flash sized from
 * its config.json alone, the refusal's numbers and advice, and loadModel refusing before it builds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checkpoint } from '../../../engine/checkpoint/checkpoint.ts';
import { kvCacheBytesAt, modelFacts } from '../../../engine/model/info.ts';
import { v4Tensors } from '../../../engine/model/params.ts';
import { specFromConfig, type ModelSpec } from '../../../engine/model/spec.ts';
import { CompressedKvState } from '../../../engine/runtime/compressed-state.ts';
import { loadModel, type LoadedModel } from '../../../engine/runtime/load.ts';
import { estimateMemory, refusalMessage, snapshotBytes, weightsBytes } from '../../../engine/runtime/memory.ts';
import { Engine } from '../../../engine/service/engine.ts';
import { repoDir, sharedDir } from '../../helpers/paths.ts';

const GiB = 1024 ** 3;
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-memory-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const FLASH_PATH = path.join(repoDir(), 'test', 'fixtures', 'deepseek-v4-flash', 'config.json');
const flashConfig = JSON.parse(fs.readFileSync(FLASH_PATH, 'utf8')) as Record<string, unknown>;
const flash = { config: flashConfig, configPath: FLASH_PATH };
const flashSpec = specFromConfig(flashConfig, FLASH_PATH);

describe('DeepSeek-V4 cache size against a real session', () => {
  const dir = path.join(sharedDir(), 'oracle-v4', 'deepseek_v4_long');
  const ids = (JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8')) as { input_ids: number[] }).input_ids;
  let model: LoadedModel;
  before(async () => {
    model = await loadModel(dir, { quant: 'none', providers: ['cpu'], cacheDir });
  });
  after(() => model?.close());

  /** Most the formula may exceed the real cache by: per layer one window row, and a compressor's pending rows at most. */
  function slack(spec: ModelSpec): number {
    const v = spec.v4!;
    let floats = 0;
    v.layerTypes.forEach((t, i) => {
      const m = v.compressRates[i]!;
      floats += v.headDim;
      if (t !== 'sliding') floats += m * 2 * (t === 'csa' ? 2 : 1) * v.headDim;
      if (t === 'csa') floats += m * 4 * v.indexHeadDim;
    });
    return floats * 4;
  }

  test('kvCacheBytesAt bounds the state tensors from above, within one window of pending rows per layer', async () => {
    const spec = model.built.spec;
    const s = model.session;
    const state = s.newState();
    assert.ok(state instanceof CompressedKvState);
    let done = 0;
    // Uneven steps so the lengths land inside windows, on compression boundaries and past the sliding window.
    for (const n of [3, 16, 37, 64, 255, 300, 600]) {
      await s.forward(state, ids.slice(done, n));
      done = n;
      let real = 0;
      for (const t of state.tensors.values()) real += t.dims.reduce((a, b) => a * b, 1) * 4;
      const est = kvCacheBytesAt(spec, n, 4);
      assert.ok(real <= est, `at ${n} tokens the state holds ${real} bytes, more than the estimate ${est}`);
      assert.ok(est - real <= slack(spec), `at ${n} tokens the estimate ${est} is more than ${slack(spec)} above the state's ${real}`);
    }
    // The compressed entries are exact: floor(n / rate) per compressed layer.
    const v = spec.v4!;
    v.layerTypes.forEach((t, i) => {
      if (t !== 'sliding') assert.equal(state.tensors.get(`past.centry.${i}`)!.dims[2], Math.floor(600 / v.compressRates[i]!), `layer ${i}`);
    });
    // And the snapshots the estimate counts are the ones the state keeps (every 256 positions).
    assert.deepEqual(state.snapshotPositions, [256, 512]);
    assert.ok(snapshotBytes(spec, 600) > 0 && snapshotBytes(spec, 600) === 2 * snapshotBytes(spec, 256));
  });
});

describe('V4-Flash sized from config.json alone', () => {
  test('weights per quantisation as the graph builds them', () => {
    const list = v4Tensors(flashSpec);
    const params = modelFacts(flashSpec, flash).totalParams;
    const hashTables = list.filter((t) => t.int64).reduce((a, t) => a + t.shape[0]! * t.shape[1]!, 0);
    assert.equal(hashTables, 3 * 129280 * 6);
    // float32: 4 bytes a parameter, the int64 hash tables 8.
    assert.equal(weightsBytes(flashSpec, flash, 'none'), 4 * params + 4 * hashTables);
    const int8 = weightsBytes(flashSpec, flash, 'int8');
    const int4 = weightsBytes(flashSpec, flash, 'int4');
    assert.ok(int4 < int8 && int8 < weightsBytes(flashSpec, flash, 'none'));
    // Mostly int4 experts (0.64 bytes a weight); the float32 embedding, routers and mHC keep it above params * 0.64.
    assert.ok(int4 > params * 0.64 && int4 < params * 0.7, `int4 ${int4 / GiB} GiB`);
  });

  test('a V4 checkpoint\'s own tensors size the same weights as its config.json alone (float32 and the FP8/FP4 layout)', () => {
    for (const name of ['deepseek_v4', 'deepseek_v4_fp8']) {
      const ckpt = Checkpoint.open(path.join(sharedDir(), 'oracle-v4', name));
      try {
        const spec = specFromConfig(ckpt.config, ckpt.configPath);
        for (const q of ['none', 'int8', 'int4'] as const) {
          assert.equal(weightsBytes(spec, ckpt, q), weightsBytes(spec, { config: ckpt.config, configPath: ckpt.configPath }, q), `${name} ${q}`);
        }
      } finally {
        ckpt.close();
      }
    }
  });

  test('KV cache at 128K and 1M tokens: a few GB, and per token at 128K the average', () => {
    const at128k = kvCacheBytesAt(flashSpec, 131072, 2);
    const at1m = kvCacheBytesAt(flashSpec, 1048576, 2);
    assert.ok(at128k > 0.5 * GiB && at128k < 1.5 * GiB, `128K: ${at128k / GiB} GiB`);
    assert.ok(at1m > 5 * GiB && at1m < 10 * GiB, `1M: ${at1m / GiB} GiB`);
    // Nearly linear in the compressed entries: 8x the tokens is a bit under 8x the bytes (the window is fixed).
    assert.ok(at1m < 8 * at128k && at1m > 7.5 * at128k);
    assert.equal(modelFacts(flashSpec, flash).kvBytesPerTokenFp16, Math.ceil(at128k / 131072));
    // Full K/V of one 512-wide head per layer would be 43 x 512 x 2 bytes a token: the compressed cache is ~6x smaller.
    assert.ok(at128k / 131072 < (43 * 512 * 2) / 5);
  });

  test('estimateMemory: KV at the chosen context, the snapshots, and a total that adds up', () => {
    const opts = { quant: 'int4' as const, prefillChunk: 256, prefixCacheBytes: GiB };
    const e32 = estimateMemory(flashSpec, flash, { ...opts, contextLength: 32768 });
    const e1m = estimateMemory(flashSpec, flash, { ...opts, contextLength: 1048576 });
    assert.equal(e32.kvBytes, kvCacheBytesAt(flashSpec, 32768, 4));
    assert.equal(e1m.kvBytes, kvCacheBytesAt(flashSpec, 1048576, 4));
    assert.equal(e32.snapshotBytes, e1m.snapshotBytes, 'at most 128 snapshots, reached by 32K tokens');
    assert.ok(e32.snapshotBytes > e32.kvBytes, 'at 32K the snapshots outweigh the cache');
    for (const e of [e32, e1m]) assert.equal(e.totalBytes, e.weightsBytes + e.kvBytes + e.snapshotBytes + e.activationBytes + e.prefixCacheBytes);
    assert.ok(e1m.activationBytes > e32.activationBytes);
  });
});

describe('the fit refusal', () => {
  const opts = { prefillChunk: 256, prefixCacheBytes: GiB, contextLength: 32768 };
  const byQuant = Object.fromEntries((['none', 'int8', 'int4'] as const).map((q) => [q, estimateMemory(flashSpec, flash, { ...opts, quant: q }).totalBytes]));
  const int8 = estimateMemory(flashSpec, flash, { ...opts, quant: 'int8' });

  test('names every part with its size and the budget', () => {
    const m = refusalMessage(int8, { budgetBytes: 64 * GiB, quant: 'int8', contextLength: 32768, byQuant });
    assert.match(
      m,
      /^too large for the memory budget: needs 3\d\d\.\d\d GiB but the budget is 64\.00 GiB \(weights 3\d\d\.\d\d GiB at int8, KV cache 452\.0 MiB for 32768 tokens, its snapshots 2\.\d\d GiB, activations \d\.\d\d GiB, prefix cache 1\.00 GiB\); /,
    );
    assert.match(m, /no quantisation fits \(int4 needs 1\d\d\.\d\d GiB\): it needs a machine with more memory$/);
  });

  test('suggests the quantisation that fits, or what else to change', () => {
    const fitsInt4 = refusalMessage(int8, { budgetBytes: 200 * GiB, quant: 'int8', contextLength: 32768, byQuant });
    assert.match(fitsInt4, /; it fits with int4 \(1\d\d\.\d\d GiB\)$/);
    const int4 = estimateMemory(flashSpec, flash, { ...opts, quant: 'int4' });
    assert.match(refusalMessage(int4, { budgetBytes: 64 * GiB, quant: 'int4', contextLength: 32768, byQuant }), /the weights alone exceed the budget/);
    // Weights fit but the rest does not: the context or the prefix cache is what to change.
    const tight = refusalMessage(int4, { budgetBytes: int4.weightsBytes + GiB, quant: 'int4', contextLength: 32768, byQuant });
    assert.match(tight, /; try a shorter context or a smaller prefix cache$/);
  });

  test('loadModel refuses a V4 checkpoint over the budget before building it, with the numbers', async () => {
    const engine = new Engine(() => {});
    const dir = path.join(sharedDir(), 'oracle-v4', 'deepseek_v4_fp8');
    const buildDir = path.join(cacheDir, 'refused');
    fs.mkdirSync(buildDir);
    await assert.rejects(
      engine.loadModel({ model: dir, cacheDir: buildDir, quant: 'int8', contextLength: 2048, memoryBudgetBytes: 1024 * 1024, prefixCacheBytes: 0 }),
      (e: Error) => {
        assert.match(e.message, new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: too large for the memory budget: needs .* but the budget is 1\\.0 MiB \\(weights .* at int8, KV cache .* for 2048 tokens, `));
        return true;
      },
    );
    assert.deepEqual(fs.readdirSync(buildDir), [], 'nothing was built');
    await engine.shutdown();
  });
});
