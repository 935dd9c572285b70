/**
 * The automatic context (loadModel contextLength 'auto'): the longest window the model allows whose
 * caches fit the memory. Sizes come from real configs (../../helpers/model-configs.ts) through the
 * engine's own specFromConfig and estimateMemory; the released weights cannot be here, so their size
 * enters as a number. The last test loads a real (tiny) checkpoint through the Engine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Checkpoint } from '../../../engine/checkpoint/checkpoint.ts';
import { inspectModel } from '../../../engine/models/inspect.ts';
import { kvBytesPerToken, specFromConfig, type ModelSpec } from '../../../engine/model/spec.ts';
import { BYTES_PER_WEIGHT, estimateMemory } from '../../../engine/runtime/memory.ts';
import { fitContext, MIN_AUTO_CONTEXT, type FitInput } from '../../../engine/service/context-fit.ts';
import { kvCacheBytesAt } from '../../../engine/model/info.ts';
import { Engine } from '../../../engine/service/engine.ts';
import { PREFILL_CHUNK } from '../../../engine/service/generate.ts';
import { llama4kConfig, qwen25Coder7bConfig, v4FlashConfig } from '../../helpers/model-configs.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';

const GiB = 1024 ** 3;
const DEFAULT_PREFIX = GiB;

/** estimateMemory over no tensors (the weights are added as `weightsBytes`): KV, activations and prefix cache as loadModel counts them. */
const noTensors = { names: () => [], info: () => ({ shape: [] }) } as unknown as Checkpoint;

function fitInput(spec: ModelSpec, weightsBytes: number, budgetBytes: number): FitInput {
  return {
    maxPositions: spec.maxPositions,
    budgetBytes,
    cacheBytesAt: (n) => kvCacheBytesAt(spec, n),
    needBytes: (n, prefixCacheBytes) => weightsBytes + estimateMemory(spec, noTensors, { quant: 'int4', contextLength: n, prefillChunk: PREFILL_CHUNK, prefixCacheBytes }).totalBytes,
    minPrefixCacheBytes: DEFAULT_PREFIX,
  };
}

const v4 = specFromConfig(v4FlashConfig(), 'V4-Flash/config.json');
const qwen = specFromConfig(qwen25Coder7bConfig(), 'Qwen2.5-Coder-7B/config.json');
const llama = specFromConfig(llama4kConfig(), 'llama-4k/config.json');
/** int4 weights of V4-Flash (284B parameters) and of a 7B model. */
const v4Weights = 284e9 * BYTES_PER_WEIGHT.int4;
const sevenB = 7.6e9 * BYTES_PER_WEIGHT.int4;

describe('cache size per window', () => {
  it("DeepSeek-V4's cache is its sliding window plus compressed entries: far below full K/V, and not linear", () => {
    assert.equal(v4.maxPositions, 1 << 20);
    const at1M = kvCacheBytesAt(v4, 1 << 20);
    // 21 CSA layers keep 1/4 of the tokens (plus the indexer's 128-wide keys), 20 HCA layers 1/128, at head_dim 512.
    assert.ok(at1M > 12 * GiB && at1M < 15 * GiB, `${at1M / GiB} GiB`);
    assert.ok(at1M < 0.2 * 43 * 512 * 4 * (1 << 20), 'under a fifth of one 512-wide row per layer and token');
    // The sliding window is a fixed cost: short windows cost more per token than long ones.
    assert.ok(kvCacheBytesAt(v4, 1024) / 1024 > kvCacheBytesAt(v4, 1 << 20) / (1 << 20));
    // Full K/V models: linear.
    assert.equal(kvCacheBytesAt(qwen, 32768), 32768 * kvBytesPerToken(qwen, 4));
  });
});

describe('fitContext', () => {
  it('a 1M-context V4 model gets its whole window when memory allows, and hundreds of thousands of tokens when it is shorter', () => {
    const roomy = fitContext(fitInput(v4, v4Weights, 512 * GiB));
    assert.deepEqual([roomy.contextLength, roomy.limitedBy], [1 << 20, 'model']);
    assert.ok(roomy.prefixCacheBytes >= 2 * kvCacheBytesAt(v4, 1 << 20), 'the prefix cache holds two full windows');

    const tight = fitContext(fitInput(v4, v4Weights, 256 * GiB));
    assert.equal(tight.limitedBy, 'memory');
    assert.ok(tight.contextLength >= 200_000 && tight.contextLength < 1 << 20, `${tight.contextLength}`);
    const need = fitInput(v4, v4Weights, 256 * GiB).needBytes;
    assert.ok(need(tight.contextLength, tight.prefixCacheBytes) <= 256 * GiB, 'what it picks fits');
    const longer = tight.contextLength + 1024;
    assert.ok(need(longer, Math.max(DEFAULT_PREFIX, 2 * kvCacheBytesAt(v4, longer))) > 256 * GiB, 'a block more would not');
  });

  it("V4's small cache is what buys the long window: the same memory holds far less of a 7B model's full K/V", () => {
    const budget = 96 * GiB;
    const v4fit = fitContext({ ...fitInput(v4, 0, budget), maxPositions: 1 << 20 });
    const qwenUncapped = fitContext({ ...fitInput(qwen, 0, budget), maxPositions: 1 << 20 });
    assert.ok(v4fit.contextLength > 2 * qwenUncapped.contextLength, `${v4fit.contextLength} vs ${qwenUncapped.contextLength}`);
  });

  it('a 32K model: its own limit with enough memory, less on a small machine', () => {
    const roomy = fitContext(fitInput(qwen, sevenB, 64 * GiB));
    assert.deepEqual([roomy.contextLength, roomy.limitedBy], [32768, 'model']);
    const small = fitContext(fitInput(qwen, sevenB, 16 * GiB));
    assert.equal(small.limitedBy, 'memory');
    assert.ok(small.contextLength >= MIN_AUTO_CONTEXT && small.contextLength < 32768 && small.contextLength % 1024 === 0, `${small.contextLength}`);
    assert.ok(fitInput(qwen, sevenB, 16 * GiB).needBytes(small.contextLength, small.prefixCacheBytes) <= 16 * GiB);
  });

  it('a 4K model: 4096, and a cap from the client wins when it is shorter', () => {
    const fit = fitContext(fitInput(llama, sevenB, 64 * GiB));
    assert.deepEqual([fit.contextLength, fit.limitedBy], [4096, 'model']);
    assert.ok(fit.prefixCacheBytes >= 2 * kvCacheBytesAt(llama, 4096));
    const capped = fitContext({ ...fitInput(qwen, sevenB, 64 * GiB), cap: 8192 });
    assert.deepEqual([capped.contextLength, capped.limitedBy], [8192, 'request']);
  });

  it('when nothing fits it picks a short window and leaves the refusal (with the numbers) to the load check', () => {
    const fit = fitContext(fitInput(qwen, sevenB, 4 * GiB));
    assert.deepEqual([fit.contextLength, fit.limitedBy], [MIN_AUTO_CONTEXT, 'memory']);
    assert.ok(fitInput(qwen, sevenB, 4 * GiB).needBytes(fit.contextLength, fit.prefixCacheBytes) > 4 * GiB);
  });
});

describe("loadModel with contextLength 'auto'", () => {
  it('loads a real checkpoint at its own limit, or at what the memory budget allows, and reports the window and its cache', { timeout: 300_000 }, async () => {
    const dir = tinyModel('qwen2.5-coder');
    const engine = new Engine();
    try {
      const full = await engine.loadModel({ model: dir, providers: ['cpu'], contextLength: 'auto' });
      assert.equal(full.contextLimitedBy, 'model');
      assert.equal(full.contextLength, full.maxContextLength);
      assert.equal(full.kvCacheBytes, full.kvBytesPerToken * full.contextLength);
      assert.ok(full.prefixCacheBytes >= 2 * full.kvCacheBytes);

      // Room for the weights and a short window only: the context shrinks to fit instead of the load failing.
      const base = await inspectModel({ model: dir, contextLength: 16, prefixCacheBytes: 0 });
      const budget = base.estimate.totalBytes + DEFAULT_PREFIX + 64 * 1024 ** 2;
      const fitted = await engine.loadModel({ model: dir, providers: ['cpu'], contextLength: 'auto', memoryBudgetBytes: budget });
      assert.equal(fitted.contextLimitedBy, 'memory');
      assert.ok(fitted.contextLength < full.contextLength && fitted.contextLength >= MIN_AUTO_CONTEXT, `${fitted.contextLength}`);
      assert.equal(engine.contextLength, fitted.contextLength);

      // A number still means that number (capped by the model), as before.
      const fixed = await engine.loadModel({ model: dir, providers: ['cpu'], contextLength: 4096 });
      assert.deepEqual([fixed.contextLength, fixed.contextLimitedBy], [4096, 'request']);
    } finally {
      await engine.shutdown();
    }
  });

  it("refuses a contextLength that is neither a number nor 'auto', naming the field", async () => {
    const engine = new Engine();
    await assert.rejects(engine.loadModel({ model: tinyModel('qwen2.5-coder'), contextLength: 'max' as unknown as number }), /contextLength must be an integer >= 16 or "auto" \(got "max"\)/);
  });
});
