/**
 * Context budgets that follow the model: the engine picks the window from the model's context and
 * the memory for its cache (engine/service/context-fit.ts, on real configs), and the completion and
 * chat budgets take their share of it; a setting caps them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Checkpoint } from '../../../engine/checkpoint/checkpoint.ts';
import { specFromConfig, type ModelSpec } from '../../../engine/model/spec.ts';
import { BYTES_PER_WEIGHT, estimateMemory } from '../../../engine/runtime/memory.ts';
import { fitContext } from '../../../engine/service/context-fit.ts';
import { kvCacheBytesAt } from '../../../engine/model/info.ts';
import { PREFILL_CHUNK } from '../../../engine/service/generate.ts';
import { answerReserve, chipBudget, QUESTION_RESERVE_TOKENS } from '../../../extension/chat/chip-windows.ts';
import { AUTO_FALLBACK_TOKENS, AUTO_SHARE, LAYOUT_RESERVE_TOKENS, splitBudget, totalBudget } from '../../../extension/context/budget.ts';
import { DEFAULT_SETTINGS } from '../../../extension/config.ts';
import { llama4kConfig, qwen25Coder7bConfig, v4FlashConfig } from '../../helpers/model-configs.ts';

const GiB = 1024 ** 3;
/** estimateMemory over no tensors: the released weights cannot be here, so their size is added as a number. */
const noTensors = { names: () => [], info: () => ({ shape: [] }) } as unknown as Checkpoint;

/** The context the engine loads `cfg` with ('auto') on a machine with `budgetGiB`, int4 weights of `params`. */
function engineContext(cfg: Record<string, unknown>, params: number, budgetGiB: number): { spec: ModelSpec; contextLength: number; limitedBy: string } {
  const spec = specFromConfig(cfg, 'config.json');
  const fit = fitContext({
    maxPositions: spec.maxPositions,
    budgetBytes: budgetGiB * GiB,
    cacheBytesAt: (n) => kvCacheBytesAt(spec, n),
    needBytes: (n, pc) => params * BYTES_PER_WEIGHT.int4 + estimateMemory(spec, noTensors, { quant: 'int4', contextLength: n, prefillChunk: PREFILL_CHUNK, prefixCacheBytes: pc }).totalBytes,
    minPrefixCacheBytes: GiB,
  });
  return { spec, contextLength: fit.contextLength, limitedBy: fit.limitedBy };
}

const { maxTokens, chatMaxTokens } = DEFAULT_SETTINGS;
const completion = (ctx: number | undefined, setting = DEFAULT_SETTINGS.budgetTokens) => totalBudget(setting, ctx, maxTokens);
const chat = (ctx: number | undefined, setting = DEFAULT_SETTINGS.chatBudgetTokens) => chipBudget(setting, ctx, chatMaxTokens);

describe('budgets that follow the model', () => {
  it('the defaults are automatic', () => {
    assert.equal(DEFAULT_SETTINGS.budgetTokens, 0);
    assert.equal(DEFAULT_SETTINGS.chatBudgetTokens, 0);
  });

  it('a 1M-context DeepSeek-V4: budgets of hundreds of thousands of tokens, whole files and many related ones', () => {
    const { contextLength, limitedBy } = engineContext(v4FlashConfig(), 284e9, 512);
    assert.deepEqual([contextLength, limitedBy], [1 << 20, 'model']);
    const total = completion(contextLength);
    assert.equal(total, Math.floor(AUTO_SHARE * ((1 << 20) - maxTokens - LAYOUT_RESERVE_TOKENS)));
    assert.ok(total > 800_000, `${total}`);
    const split = splitBudget(total);
    assert.equal(split.suffix, 1024, 'the suffix, re-prefilled on every key, stays small');
    assert.ok(split.relatedShare > 200_000 && split.prefixShare > 500_000);
    assert.ok(chat(contextLength) > 800_000);
    // On a machine with less memory for the caches the window shrinks, and stays in the hundreds of thousands.
    const smaller = engineContext(v4FlashConfig(), 284e9, 256);
    assert.equal(smaller.limitedBy, 'memory');
    assert.ok(completion(smaller.contextLength) > 300_000 && completion(smaller.contextLength) < total, `${completion(smaller.contextLength)}`);
  });

  it('a 32K model: most of its window, within the context minus the answer', () => {
    const { contextLength } = engineContext(qwen25Coder7bConfig(), 7.6e9, 64);
    assert.equal(contextLength, 32768);
    assert.equal(completion(contextLength), Math.floor(AUTO_SHARE * (32768 - maxTokens - LAYOUT_RESERVE_TOKENS)));
    assert.equal(splitBudget(completion(contextLength)).suffix, 1024);
    assert.equal(chat(contextLength), Math.floor(AUTO_SHARE * (32768 - chatMaxTokens - QUESTION_RESERVE_TOKENS)));
    // Short of memory for a 32K cache: the engine loads a shorter window and the budgets follow it.
    const small = engineContext(qwen25Coder7bConfig(), 7.6e9, 16);
    assert.ok(small.contextLength < 32768);
    assert.ok(completion(small.contextLength) < completion(contextLength) && completion(small.contextLength) + maxTokens < small.contextLength);
  });

  it('a 4K model: a few thousand tokens, the answer and the layout still fit', () => {
    const { contextLength } = engineContext(llama4kConfig(), 6.7e9, 64);
    assert.equal(contextLength, 4096);
    const total = completion(contextLength);
    assert.equal(total, Math.floor(AUTO_SHARE * (4096 - maxTokens - LAYOUT_RESERVE_TOKENS)));
    assert.ok(total + maxTokens + LAYOUT_RESERVE_TOKENS <= 4096);
    assert.equal(splitBudget(total).suffix, Math.floor(total / 8));
    const chips = chat(contextLength);
    assert.ok(chips > 1000 && chips + answerReserve(4096, chatMaxTokens) + QUESTION_RESERVE_TOKENS <= 4096, `${chips}`);
  });

  it('a setting caps the budget; the model still caps the setting', () => {
    assert.equal(completion(1 << 20, 8192), 8192);
    assert.equal(completion(4096, 8192), 4096 - maxTokens - LAYOUT_RESERVE_TOKENS);
    assert.equal(chat(1 << 20, 16_384), 16_384);
    assert.equal(chat(4096, 16_384), 4096 - answerReserve(4096, chatMaxTokens) - QUESTION_RESERVE_TOKENS);
  });

  it('before a model is known: the automatic budget is a fixed modest one', () => {
    assert.equal(completion(undefined), AUTO_FALLBACK_TOKENS);
    assert.equal(chat(undefined), AUTO_FALLBACK_TOKENS);
    assert.equal(completion(undefined, 2048), 2048);
  });
});
