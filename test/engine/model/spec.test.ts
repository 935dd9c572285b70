/**
 * config.json -> ModelSpec on every oracle case (family, attention, layer kinds, router rules), the
 * KV-cache arithmetic on the real DeepSeek-Coder-V2-Lite config, and the errors for bad configs.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { EngineInputError } from '../../../engine/errors.ts';
import { fullKvBytesPerToken, kvBytesPerToken, specFromConfig, type MlaAttention, type ModelSpec } from '../../../engine/model/spec.ts';
import { yarnGetMscale } from '../../../engine/model/rope.ts';
import { sharedDir } from '../../helpers/paths.ts';

const ORACLE = path.join(sharedDir(), 'oracle');

function oracleSpec(name: string): ModelSpec {
  const file = path.join(ORACLE, name, 'config.json');
  return specFromConfig(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>, file);
}

function expectConfigError(cfg: Record<string, unknown>, ...parts: string[]): EngineInputError {
  const file = '/models/x/config.json';
  let caught: unknown;
  try {
    specFromConfig(cfg, file);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof EngineInputError, `expected EngineInputError, got ${String(caught)}`);
  assert.equal(caught.file, file);
  assert.ok(caught.message.startsWith(`${file}: `), caught.message);
  assert.ok(!caught.message.includes('\n'), 'one-line message');
  for (const p of parts) assert.ok(caught.message.includes(p), `"${caught.message}" should mention "${p}"`);
  return caught;
}

/** The published config.json of deepseek-ai/DeepSeek-Coder-V2-Lite-Instruct (architecture fields). */
const DEEPSEEK_CODER_V2_LITE: Record<string, unknown> = {
  architectures: ['DeepseekV2ForCausalLM'],
  model_type: 'deepseek_v2',
  hidden_act: 'silu',
  hidden_size: 2048,
  intermediate_size: 10944,
  moe_intermediate_size: 1408,
  num_hidden_layers: 27,
  num_attention_heads: 16,
  num_key_value_heads: 16,
  n_routed_experts: 64,
  n_shared_experts: 2,
  num_experts_per_tok: 6,
  first_k_dense_replace: 1,
  moe_layer_freq: 1,
  n_group: 1,
  topk_group: 1,
  topk_method: 'greedy',
  norm_topk_prob: false,
  routed_scaling_factor: 1.0,
  scoring_func: 'softmax',
  q_lora_rank: null,
  kv_lora_rank: 512,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  v_head_dim: 128,
  max_position_embeddings: 163840,
  rope_theta: 10000,
  rope_scaling: {
    beta_fast: 32,
    beta_slow: 1,
    factor: 40,
    mscale: 0.707,
    mscale_all_dim: 0.707,
    original_max_position_embeddings: 4096,
    type: 'yarn',
  },
  rms_norm_eps: 1e-6,
  vocab_size: 102400,
  bos_token_id: 100000,
  eos_token_id: 100001,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
};

describe('specFromConfig on the oracle configs', () => {
  test('deepseek_v2_lite: MLA without q_lora, first layer dense, softmax greedy without renormalisation', () => {
    const s = oracleSpec('deepseek_v2_lite');
    assert.equal(s.modelType, 'deepseek_v2');
    assert.equal(s.family, 'deepseek');
    assert.equal(s.attention.kind, 'mla');
    const a = s.attention as MlaAttention;
    assert.equal(a.qLoraRank, null);
    assert.equal(a.kvLoraRank, 32);
    assert.equal(a.nopeDim, 16);
    assert.equal(a.ropeDim, 8);
    assert.equal(a.vDim, 16);
    assert.equal(a.ropeInterleaved, true);
    assert.deepEqual(s.layerKinds, ['dense', 'moe', 'moe']);
    assert.ok(s.moe);
    assert.equal(s.moe.experts, 8);
    assert.equal(s.moe.topK, 3);
    assert.equal(s.moe.intermediate, 32);
    assert.deepEqual(s.moe.shared, { intermediate: 64, gated: false });
    assert.equal(s.moe.router.scoring, 'softmax');
    assert.equal(s.moe.router.method, 'greedy');
    assert.equal(s.moe.router.normTopk, false);
    assert.equal(s.moe.router.scaling, 1);
    assert.equal(s.moe.router.hasCorrectionBias, false);
    assert.equal(s.denseIntermediate, 128);
    assert.equal(s.rope.type, 'yarn');
    assert.equal(s.rope.dim, 8);
    // softmax scale: (nope + rope)^-0.5 * mscale(factor, mscale_all_dim)^2
    const m = yarnGetMscale(16, 0.707);
    assert.ok(Math.abs(s.softmaxScale - (1 / Math.sqrt(24)) * m * m) < 1e-12);
    assert.deepEqual(s.eosTokenIds, [2]);
    assert.equal(s.bosTokenId, 1);
  });

  test('deepseek_v2: q_lora path, group_limited_greedy with routed_scaling_factor 16', () => {
    const s = oracleSpec('deepseek_v2');
    assert.equal(s.family, 'deepseek');
    assert.equal((s.attention as MlaAttention).qLoraRank, 48);
    assert.deepEqual(s.layerKinds, ['dense', 'moe', 'moe']);
    assert.ok(s.moe);
    assert.equal(s.moe.experts, 16);
    assert.equal(s.moe.topK, 4);
    assert.deepEqual(s.moe.router, {
      scoring: 'softmax',
      method: 'group_limited_greedy',
      nGroup: 4,
      topkGroup: 2,
      normTopk: false,
      normEps: 1e-20,
      scaling: 16,
      hasCorrectionBias: false,
    });
    assert.deepEqual(s.moe.shared, { intermediate: 64, gated: false });
  });

  test('deepseek_v2 with norm_topk_prob renormalises and does not scale (as its reference code)', () => {
    const cfg = JSON.parse(fs.readFileSync(path.join(ORACLE, 'deepseek_v2', 'config.json'), 'utf8')) as Record<string, unknown>;
    const s = specFromConfig({ ...cfg, norm_topk_prob: true }, '/x/config.json');
    assert.equal(s.moe!.router.normTopk, true);
    assert.equal(s.moe!.router.scaling, 1);
  });

  test('deepseek_v3: sigmoid + noaux_tc with correction bias, normalised top-k x 2.5, one shared expert', () => {
    const s = oracleSpec('deepseek_v3');
    assert.equal(s.modelType, 'deepseek_v3');
    assert.equal(s.family, 'deepseek');
    assert.equal(s.attention.kind, 'mla');
    assert.equal((s.attention as MlaAttention).qLoraRank, 48);
    // num_nextn_predict_layers does not add a layer: the MTP layer is not part of the decoder.
    assert.equal(s.layers, 3);
    assert.deepEqual(s.layerKinds, ['dense', 'moe', 'moe']);
    assert.ok(s.moe);
    assert.deepEqual(s.moe.router, {
      scoring: 'sigmoid',
      method: 'noaux_tc',
      nGroup: 4,
      topkGroup: 2,
      normTopk: true,
      normEps: 1e-20,
      scaling: 2.5,
      hasCorrectionBias: true,
    });
    assert.deepEqual(s.moe.shared, { intermediate: 32, gated: false });
    // mscale_all_dim 1.0: softmax scale = (24)^-0.5 * mscale(16, 1)^2
    const m = yarnGetMscale(16, 1);
    assert.ok(Math.abs(s.softmaxScale - (1 / Math.sqrt(24)) * m * m) < 1e-12);
  });

  test('qwen2_moe: GQA with q/k/v bias, sigmoid-gated shared expert, every layer MoE', () => {
    const s = oracleSpec('qwen2_moe');
    assert.equal(s.family, 'qwen_moe');
    assert.equal(s.attention.kind, 'gqa');
    if (s.attention.kind !== 'gqa') return;
    assert.equal(s.attention.heads, 4);
    assert.equal(s.attention.kvHeads, 4);
    assert.equal(s.attention.headDim, 16);
    assert.equal(s.attention.qkvBias, true);
    assert.equal(s.attention.outBias, false);
    assert.equal(s.attention.qkNorm, false);
    assert.equal(s.attention.slidingWindow, null, 'use_sliding_window false');
    assert.deepEqual(s.layerKinds, ['moe', 'moe', 'moe']);
    assert.ok(s.moe);
    assert.equal(s.moe.experts, 12);
    assert.equal(s.moe.topK, 4);
    assert.deepEqual(s.moe.shared, { intermediate: 128, gated: true });
    assert.equal(s.moe.router.scoring, 'softmax');
    assert.equal(s.moe.router.method, 'greedy');
    assert.equal(s.moe.router.normTopk, false);
    assert.equal(s.moe.router.scaling, 1);
    assert.equal(s.moe.router.hasCorrectionBias, false);
  });

  test('qwen3_moe: GQA with head_dim != hidden/heads, q/k norm, renormalised top-k, no shared expert', () => {
    const s = oracleSpec('qwen3_moe');
    assert.equal(s.family, 'qwen_moe');
    assert.equal(s.attention.kind, 'gqa');
    if (s.attention.kind !== 'gqa') return;
    assert.equal(s.attention.heads, 4);
    assert.equal(s.attention.kvHeads, 2);
    assert.equal(s.attention.headDim, 32);
    assert.equal(s.attention.qkNorm, true);
    assert.equal(s.attention.qkvBias, false);
    assert.deepEqual(s.layerKinds, ['moe', 'moe', 'moe']);
    assert.ok(s.moe);
    assert.equal(s.moe.experts, 16);
    assert.equal(s.moe.router.normTopk, true);
    assert.equal(s.moe.shared, null);
    assert.equal(s.rope.type, 'default');
    assert.equal(s.softmaxScale, 1 / Math.sqrt(32));
  });

  test('qwen3_moe_long: YaRN rope on the full head_dim', () => {
    const s = oracleSpec('qwen3_moe_long');
    assert.equal(s.rope.type, 'yarn');
    assert.equal(s.rope.dim, 32);
    assert.ok(Math.abs(s.rope.attentionFactor - (0.1 * Math.log(4) + 1)) < 1e-12);
  });

  test('mixtral: every layer MoE, 8 experts top-2 renormalised, no shared expert', () => {
    const s = oracleSpec('mixtral');
    assert.equal(s.family, 'mixtral');
    assert.equal(s.attention.kind, 'gqa');
    if (s.attention.kind !== 'gqa') return;
    assert.equal(s.attention.kvHeads, 2);
    assert.equal(s.attention.slidingWindow, null);
    assert.deepEqual(s.layerKinds, ['moe', 'moe', 'moe']);
    assert.ok(s.moe);
    assert.equal(s.moe.experts, 8);
    assert.equal(s.moe.topK, 2);
    assert.equal(s.moe.intermediate, 96);
    assert.equal(s.moe.shared, null);
    assert.deepEqual(s.moe.router, {
      scoring: 'softmax',
      method: 'greedy',
      nGroup: 1,
      topkGroup: 1,
      normTopk: true,
      normEps: 0,
      scaling: 1,
      hasCorrectionBias: false,
    });
  });
});

describe('KV cache per token', () => {
  test('DeepSeek-Coder-V2-Lite (27 layers, kv_lora_rank 512, rope 64): 31104 B latent fp16, 276480 B full K/V', () => {
    const s = specFromConfig(DEEPSEEK_CODER_V2_LITE, '/models/DeepSeek-Coder-V2-Lite/config.json');
    assert.equal(s.layers, 27);
    assert.equal(kvBytesPerToken(s), (512 + 64) * 27 * 2);
    assert.equal(kvBytesPerToken(s), 31104);
    assert.equal(kvBytesPerToken(s, 2), 31104);
    assert.equal(kvBytesPerToken(s, 4), 62208);
    assert.equal(fullKvBytesPerToken(s), 16 * (128 + 64 + 128) * 27 * 2);
    assert.equal(fullKvBytesPerToken(s), 276480);
    // and the rest of the architecture reads as expected
    assert.equal(s.layerKinds.filter((k) => k === 'moe').length, 26);
    assert.equal(s.layerKinds[0], 'dense');
    assert.equal(s.moe!.experts, 64);
    assert.equal(s.moe!.topK, 6);
    assert.deepEqual(s.moe!.shared, { intermediate: 2 * 1408, gated: false });
    assert.equal(s.maxPositions, 163840);
    assert.equal(s.rope.dim, 64);
    assert.ok(Math.abs(s.rope.attentionFactor - 1) < 1e-12, 'mscale == mscale_all_dim: attention factor 1');
    const m = yarnGetMscale(40, 0.707);
    assert.ok(Math.abs(s.softmaxScale - m * m / Math.sqrt(192)) < 1e-12);
  });

  test('GQA: 2 * kv_heads * head_dim * layers * bytes (full K/V is the same)', () => {
    const s = oracleSpec('qwen3_moe');
    assert.equal(kvBytesPerToken(s), 2 * 2 * 32 * 3 * 2);
    assert.equal(fullKvBytesPerToken(s), kvBytesPerToken(s));
    assert.equal(kvBytesPerToken(s, 4), 2 * kvBytesPerToken(s, 2));
  });
});

describe('bad configs give EngineInputErrors naming config.json', () => {
  const base = JSON.parse(fs.readFileSync(path.join(ORACLE, 'deepseek_v2_lite', 'config.json'), 'utf8')) as Record<string, unknown>;

  test('the unmodified base config is accepted', () => {
    assert.equal(specFromConfig(base, '/models/x/config.json').layers, 3);
  });

  test('missing hidden_size', () => {
    const cfg = { ...base };
    delete cfg.hidden_size;
    expectConfigError(cfg, 'hidden_size', 'missing');
  });

  test('non-integer num_hidden_layers', () => {
    expectConfigError({ ...base, num_hidden_layers: 2.5 }, 'num_hidden_layers', 'integer', '2.5');
    expectConfigError({ ...base, num_hidden_layers: '3' }, 'num_hidden_layers', 'integer');
  });

  test('unknown topk_method', () => {
    expectConfigError({ ...base, topk_method: 'best_of_both' }, 'topk_method', 'best_of_both');
  });

  test('mlp_bias true is refused, not silently dropped', () => {
    expectConfigError({ ...base, mlp_bias: true }, 'mlp_bias');
  });

  test('hidden_act gelu', () => {
    expectConfigError({ ...base, hidden_act: 'gelu' }, 'hidden_act', 'gelu');
  });

  test('unknown and missing model_type', () => {
    expectConfigError({ ...base, model_type: 'gpt_neox' }, 'model_type', 'gpt_neox');
    const cfg = { ...base };
    delete cfg.model_type;
    expectConfigError(cfg, 'model_type');
  });

  test('top-k larger than the number of experts, experts not divisible by n_group', () => {
    expectConfigError({ ...base, num_experts_per_tok: 9 }, 'num_experts_per_tok');
    expectConfigError({ ...base, n_group: 3 }, 'n_group');
  });

  test('unsupported scoring_func', () => {
    expectConfigError({ ...base, scoring_func: 'relu' }, 'scoring_func', 'relu');
  });
});
