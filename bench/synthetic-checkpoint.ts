/**
 * A deterministic random-weight DeepSeek-V2 checkpoint shaped like DeepSeek-Coder-V2-Lite (MLA
 * without q_lora, kv_lora_rank 512, rope 64, YaRN, one dense layer then DeepSeekMoE with 64 routed
 * experts top-6 and 2 shared ones) scaled to a small machine. No model hub is reachable here, and
 * speed does not depend on the weights' values, so a seeded generator stands in for the real file.
 * Tensors are produced one at a time while writing (BF16 shards, as the real checkpoint ships).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../engine/runtime/sampler.ts';
import { writeShardedCheckpoint, type WriterTensor } from '../engine/checkpoint/safetensors-writer.ts';

export interface SyntheticShape {
  hidden: number;
  layers: number;
  heads: number;
  experts: number;
  topK: number;
  shared: number;
  moeInter: number;
  denseInter: number;
  vocab: number;
  kvLoraRank: number;
}

/**
 * DeepSeek-Coder-V2-Lite's architecture (hidden 2048, 27 layers, 16 heads) scaled to 2 cores: the
 * shape of the llama.cpp comparison in the README (hidden 1024, 16 heads, 12 layers, first layer
 * dense of 2816, 64 routed experts top-6 + 2 shared of 512).
 */
export const LITE_SCALED: SyntheticShape = {
  hidden: 1024,
  layers: 12,
  heads: 16,
  experts: 64,
  topK: 6,
  shared: 2,
  moeInter: 512,
  denseInter: 2816,
  vocab: 32256,
  kvLoraRank: 512,
};

export function syntheticConfig(s: SyntheticShape): Record<string, unknown> {
  return {
    architectures: ['DeepseekV2ForCausalLM'],
    model_type: 'deepseek_v2',
    vocab_size: s.vocab,
    hidden_size: s.hidden,
    intermediate_size: s.denseInter,
    moe_intermediate_size: s.moeInter,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.heads,
    n_shared_experts: s.shared,
    n_routed_experts: s.experts,
    num_experts_per_tok: s.topK,
    routed_scaling_factor: 1.0,
    topk_method: 'greedy',
    n_group: 1,
    topk_group: 1,
    scoring_func: 'softmax',
    norm_topk_prob: false,
    first_k_dense_replace: 1,
    moe_layer_freq: 1,
    kv_lora_rank: s.kvLoraRank,
    q_lora_rank: null,
    qk_nope_head_dim: 128,
    qk_rope_head_dim: 64,
    v_head_dim: 128,
    hidden_act: 'silu',
    max_position_embeddings: 163840,
    rope_theta: 10000,
    rope_scaling: {
      type: 'yarn',
      factor: 40,
      original_max_position_embeddings: 4096,
      beta_fast: 32,
      beta_slow: 1,
      mscale: 0.707,
      mscale_all_dim: 0.707,
    },
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
    bos_token_id: 0,
    eos_token_id: 1,
    torch_dtype: 'bfloat16',
    attention_bias: false,
  };
}

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Uniform weights with std ~ 1/sqrt(fanIn), seeded by the tensor's name so the file is reproducible. */
function uniform(name: string, shape: number[], fanIn: number): WriterTensor {
  return {
    dtype: 'BF16',
    shape,
    data: () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n);
      const r = seededRandom(hashName(name));
      const a = Math.sqrt(3 / fanIn);
      for (let i = 0; i < n; i++) out[i] = (2 * r() - 1) * a;
      return out;
    },
  };
}

function ones(shape: number[]): WriterTensor {
  return { dtype: 'BF16', shape, data: () => new Float32Array(shape[0]!).fill(1) };
}

export function syntheticTensors(s: SyntheticShape): Record<string, WriterTensor> {
  const H = s.hidden;
  const nope = 128;
  const rope = 64;
  const v = 128;
  const t: Record<string, WriterTensor> = {};
  const u = (name: string, shape: number[]) => (t[name] = uniform(name, shape, shape[shape.length - 1]!));
  u('model.embed_tokens.weight', [s.vocab, H]);
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    t[`${p}.input_layernorm.weight`] = ones([H]);
    t[`${p}.post_attention_layernorm.weight`] = ones([H]);
    u(`${p}.self_attn.q_proj.weight`, [s.heads * (nope + rope), H]);
    u(`${p}.self_attn.kv_a_proj_with_mqa.weight`, [s.kvLoraRank + rope, H]);
    t[`${p}.self_attn.kv_a_layernorm.weight`] = ones([s.kvLoraRank]);
    u(`${p}.self_attn.kv_b_proj.weight`, [s.heads * (nope + v), s.kvLoraRank]);
    u(`${p}.self_attn.o_proj.weight`, [H, s.heads * v]);
    if (l === 0) {
      u(`${p}.mlp.gate_proj.weight`, [s.denseInter, H]);
      u(`${p}.mlp.up_proj.weight`, [s.denseInter, H]);
      u(`${p}.mlp.down_proj.weight`, [H, s.denseInter]);
      continue;
    }
    u(`${p}.mlp.gate.weight`, [s.experts, H]);
    for (let e = 0; e < s.experts; e++) {
      u(`${p}.mlp.experts.${e}.gate_proj.weight`, [s.moeInter, H]);
      u(`${p}.mlp.experts.${e}.up_proj.weight`, [s.moeInter, H]);
      u(`${p}.mlp.experts.${e}.down_proj.weight`, [H, s.moeInter]);
    }
    const si = s.shared * s.moeInter;
    u(`${p}.mlp.shared_experts.gate_proj.weight`, [si, H]);
    u(`${p}.mlp.shared_experts.up_proj.weight`, [si, H]);
    u(`${p}.mlp.shared_experts.down_proj.weight`, [H, si]);
  }
  t['model.norm.weight'] = ones([H]);
  u('lm_head.weight', [s.vocab, H]);
  return t;
}

/**
 * Write the checkpoint into `dir` unless a complete one is already there (the marker file is
 * written last, so an interrupted write is redone rather than half-used).
 */
export function ensureSyntheticCheckpoint(dir: string, s: SyntheticShape, log: (line: string) => void = () => {}): { dir: string; created: boolean; ms: number } {
  const marker = path.join(dir, '.complete');
  const shapeJson = JSON.stringify(s);
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === shapeJson) return { dir, created: false, ms: 0 };
  const t0 = performance.now();
  fs.rmSync(dir, { recursive: true, force: true });
  log(`writing synthetic checkpoint to ${dir}`);
  writeShardedCheckpoint(dir, syntheticConfig(s), syntheticTensors(s), 2 * 1024 ** 3);
  fs.writeFileSync(marker, shapeJson);
  return { dir, created: true, ms: performance.now() - t0 };
}

/**
 * The bench checkpoint with `layers` layers under the cache dir, with the real DeepSeek-Coder
 * tokenizer copied in (its vocabulary matches LITE_SCALED's 32256) so the service benchmarks can
 * send text.
 */
export function benchModelWithTokenizer(cacheRoot: string, layers: number, log: (line: string) => void = () => {}): string {
  const shape = { ...LITE_SCALED, layers };
  const dir = path.join(cacheRoot, 'bench', `checkpoint-${layers}l`);
  const made = ensureSyntheticCheckpoint(dir, shape, log);
  if (made.created) log(`synthetic checkpoint written in ${(made.ms / 1000).toFixed(1)} s`);
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const shared = process.env.SWITCHYARD_SHARED ?? path.join(repo, '..', 'shared');
  const source = path.join(shared, 'tokenizers', 'deepseek-coder-v1');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    if (!fs.existsSync(path.join(dir, f))) fs.copyFileSync(path.join(source, f), path.join(dir, f));
  }
  return dir;
}
