/**
 * A deterministic random-weight DeepSeek-V4 checkpoint (released tensor names, DeepSeek's config
 * keys) shaped like V4-Flash and scaled to a small machine. No hub is reachable here and speed does
 * not depend on the weights' values, so a seeded generator stands in for the real file. Stored as
 * BF16 (+ F32 for the mHC / sink / ape / bias tensors, I64 tid2eid), not the released FP8/FP4: the
 * engine dequantises those on load anyway, so the built model and its speed are the same.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeShardedCheckpoint, type WriterTensor } from '../engine/checkpoint/safetensors-writer.ts';
import { seededRandom } from '../engine/runtime/sampler.ts';

export interface V4Shape {
  hidden: number;
  layers: number;
  heads: number;
  headDim: number;
  ropeDim: number;
  qLoraRank: number;
  oGroups: number;
  oLoraRank: number;
  experts: number;
  topK: number;
  moeInter: number;
  hashLayers: number;
  indexHeads: number;
  indexHeadDim: number;
  indexTopk: number;
  slidingWindow: number;
  csaRate: number;
  hcaRate: number;
  hcMult: number;
  vocab: number;
}

/**
 * V4-Flash (hidden 4096, 43 layers, 64 heads x 512, q_lora 1024, 8 groups x o_lora 1024, 256 experts
 * top-6 of 2048, index 64 heads x 128 top-512) scaled by 1/4 in width: hidden 1024, 16 heads x 512
 * (head_dim kept: it sets the KV bytes), q_lora 256, 4 groups x 256, 64 experts top-6 of 512, index
 * 16 heads x 128 top-512; window 128, CSA 4, HCA 128, mHC 4 streams, 3 hash layers as released;
 * 8 layers with the released schedule (2 sliding, then CSA and HCA alternating).
 */
export const V4_SCALED: V4Shape = {
  hidden: 1024,
  layers: 8,
  heads: 16,
  headDim: 512,
  ropeDim: 64,
  qLoraRank: 256,
  oGroups: 4,
  oLoraRank: 256,
  experts: 64,
  topK: 6,
  moeInter: 512,
  hashLayers: 3,
  indexHeads: 16,
  indexHeadDim: 128,
  indexTopk: 512,
  slidingWindow: 128,
  csaRate: 4,
  hcaRate: 128,
  hcMult: 4,
  vocab: 32256,
};

/** V4-Flash's layer schedule cut to n layers: the first two slide, then CSA and HCA alternate. */
export function releasedSchedule(n: number, csa: number, hca: number): number[] {
  return Array.from({ length: n }, (_, i) => (i < 2 ? 0 : i % 2 === 0 ? csa : hca));
}

export function v4Config(s: V4Shape): Record<string, unknown> {
  return {
    architectures: ['DeepseekV4ForCausalLM'],
    model_type: 'deepseek_v4',
    vocab_size: s.vocab,
    hidden_size: s.hidden,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: 1,
    head_dim: s.headDim,
    qk_rope_head_dim: s.ropeDim,
    q_lora_rank: s.qLoraRank,
    o_groups: s.oGroups,
    o_lora_rank: s.oLoraRank,
    n_routed_experts: s.experts,
    num_experts_per_tok: s.topK,
    n_shared_experts: 1,
    moe_intermediate_size: s.moeInter,
    num_hash_layers: s.hashLayers,
    // The MTP slot at the end, as in the released file (the engine truncates to num_hidden_layers).
    compress_ratios: [...releasedSchedule(s.layers, s.csaRate, s.hcaRate), 0],
    num_nextn_predict_layers: 0,
    sliding_window: s.slidingWindow,
    index_n_heads: s.indexHeads,
    index_head_dim: s.indexHeadDim,
    index_topk: s.indexTopk,
    hc_mult: s.hcMult,
    hc_sinkhorn_iters: 20,
    hc_eps: 1e-6,
    scoring_func: 'sqrtsoftplus',
    norm_topk_prob: true,
    routed_scaling_factor: 1.5,
    swiglu_limit: 10.0,
    rope_theta: 10000,
    compress_rope_theta: 160000,
    rope_scaling: { type: 'yarn', factor: 16, original_max_position_embeddings: 65536, beta_fast: 32, beta_slow: 1 },
    max_position_embeddings: 1048576,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
    bos_token_id: 0,
    eos_token_id: 1,
    hidden_act: 'silu',
    torch_dtype: 'bfloat16',
  };
}

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Uniform values of std `std` (default ~1/sqrt(fanIn)), seeded by the tensor's name. */
function uniform(name: string, shape: number[], dtype: 'BF16' | 'F32' = 'BF16', std?: number): WriterTensor {
  return {
    dtype,
    shape,
    data: () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n);
      const r = seededRandom(hashName(name));
      const a = Math.sqrt(3) * (std ?? 1 / Math.sqrt(shape[shape.length - 1]!));
      for (let i = 0; i < n; i++) out[i] = (2 * r() - 1) * a;
      return out;
    },
  };
}

const filled = (shape: number[], v: number, dtype: 'BF16' | 'F32' = 'BF16'): WriterTensor => ({
  dtype,
  shape,
  data: () => new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(v),
});

/** tid2eid [vocab, topK] as I64: K distinct experts per token id, seeded. */
function tid2eid(name: string, vocab: number, experts: number, k: number): WriterTensor {
  return {
    dtype: 'I64',
    shape: [vocab, k],
    data: () => {
      const r = seededRandom(hashName(name));
      const out = new BigInt64Array(vocab * k);
      for (let t = 0; t < vocab; t++) {
        const chosen = new Set<number>();
        while (chosen.size < k) chosen.add(Math.floor(r() * experts));
        [...chosen].forEach((e, j) => (out[t * k + j] = BigInt(e)));
      }
      return new Uint8Array(out.buffer);
    },
  };
}

export function v4Tensors(s: V4Shape): Record<string, WriterTensor> {
  const H = s.hidden;
  const D = s.headDim;
  const hc = s.hcMult;
  const mix = (2 + hc) * hc;
  const schedule = releasedSchedule(s.layers, s.csaRate, s.hcaRate);
  const t: Record<string, WriterTensor> = {};
  const u = (name: string, shape: number[]) => (t[name] = uniform(name, shape));
  u('embed.weight', [s.vocab, H]);
  const compressor = (prefix: string, dc: number, m: number, overlap: boolean) => {
    const c = overlap ? 2 : 1;
    u(`${prefix}.wkv.weight`, [c * dc, H]);
    u(`${prefix}.wgate.weight`, [c * dc, H]);
    t[`${prefix}.ape`] = uniform(`${prefix}.ape`, [m, c * dc], 'F32', 0.02);
    t[`${prefix}.norm.weight`] = filled([dc], 1);
  };
  for (let l = 0; l < s.layers; l++) {
    const p = `layers.${l}`;
    for (const k of ['hc_attn', 'hc_ffn']) {
      t[`${p}.${k}_fn`] = uniform(`${p}.${k}_fn`, [mix, hc * H], 'F32', 0.02);
      t[`${p}.${k}_base`] = filled([mix], 0, 'F32');
      t[`${p}.${k}_scale`] = filled([3], 1, 'F32');
    }
    t[`${p}.attn_norm.weight`] = filled([H], 1);
    t[`${p}.ffn_norm.weight`] = filled([H], 1);
    t[`${p}.attn.attn_sink`] = filled([s.heads], 0, 'F32');
    u(`${p}.attn.wq_a.weight`, [s.qLoraRank, H]);
    t[`${p}.attn.q_norm.weight`] = filled([s.qLoraRank], 1);
    u(`${p}.attn.wq_b.weight`, [s.heads * D, s.qLoraRank]);
    u(`${p}.attn.wkv.weight`, [D, H]);
    t[`${p}.attn.kv_norm.weight`] = filled([D], 1);
    u(`${p}.attn.wo_a.weight`, [s.oGroups * s.oLoraRank, (s.heads * D) / s.oGroups]);
    u(`${p}.attn.wo_b.weight`, [H, s.oGroups * s.oLoraRank]);
    const m = schedule[l]!;
    if (m) {
      const csa = m === s.csaRate;
      compressor(`${p}.attn.compressor`, D, m, csa);
      if (csa) {
        compressor(`${p}.attn.indexer.compressor`, s.indexHeadDim, m, true);
        u(`${p}.attn.indexer.wq_b.weight`, [s.indexHeads * s.indexHeadDim, s.qLoraRank]);
        u(`${p}.attn.indexer.weights_proj.weight`, [s.indexHeads, H]);
      }
    }
    u(`${p}.ffn.gate.weight`, [s.experts, H]);
    if (l < s.hashLayers) t[`${p}.ffn.gate.tid2eid`] = tid2eid(`${p}.ffn.gate.tid2eid`, s.vocab, s.experts, s.topK);
    else t[`${p}.ffn.gate.bias`] = filled([s.experts], 0, 'F32');
    for (let e = 0; e < s.experts; e++) {
      u(`${p}.ffn.experts.${e}.w1.weight`, [s.moeInter, H]);
      u(`${p}.ffn.experts.${e}.w3.weight`, [s.moeInter, H]);
      u(`${p}.ffn.experts.${e}.w2.weight`, [H, s.moeInter]);
    }
    u(`${p}.ffn.shared_experts.w1.weight`, [s.moeInter, H]);
    u(`${p}.ffn.shared_experts.w3.weight`, [s.moeInter, H]);
    u(`${p}.ffn.shared_experts.w2.weight`, [H, s.moeInter]);
  }
  t['hc_head_fn'] = uniform('hc_head_fn', [hc, hc * H], 'F32', 0.02);
  t['hc_head_base'] = filled([hc], 0, 'F32');
  t['hc_head_scale'] = filled([1], 1, 'F32');
  t['norm.weight'] = filled([H], 1);
  u('head.weight', [s.vocab, H]);
  return t;
}

/**
 * Writes the checkpoint into `dir` unless a complete one of this shape is already there (the marker
 * is written last, so an interrupted write is redone rather than half-used).
 */
export function ensureV4Checkpoint(dir: string, s: V4Shape, log: (line: string) => void = () => {}): { created: boolean; ms: number } {
  const marker = path.join(dir, '.complete');
  const shapeJson = JSON.stringify(s);
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === shapeJson) return { created: false, ms: 0 };
  const t0 = performance.now();
  fs.rmSync(dir, { recursive: true, force: true });
  log(`writing synthetic DeepSeek-V4 checkpoint to ${dir}`);
  writeShardedCheckpoint(dir, v4Config(s), v4Tensors(s), 2 * 1024 ** 3);
  fs.writeFileSync(marker, shapeJson);
  return { created: true, ms: performance.now() - t0 };
}
