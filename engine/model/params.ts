/**
 * Parameter counts without the weights: the tensors an architecture has, derived from config.json
 * alone, so `info`, the fit check and Manage Models can size a model before it is downloaded (a
 * folder holding only V4-Flash's config.json says 284B / 13B). Tests check the lists against real
 * checkpoints' tensors, name by name and shape by shape.
 */
import type { Checkpoint } from '../checkpoint/checkpoint.ts';
import type { ModelSpec } from './spec.ts';

export interface ArchTensor {
  name: string;
  /** Logical shape (an FP4 weight stored as [rows, cols/2] bytes is [rows, cols] here). */
  shape: number[];
  /** Built as int8/int4 blocks (MatMulNBits / QMoE) at quant int8/int4; everything else stays float32. */
  quantised: boolean;
  /** A routed expert's weight: only top-k of each layer's experts run for a token. */
  routed: boolean;
  /** An integer table kept as int64 by the graph (V4's hash routing, tid2eid). */
  int64?: boolean;
}

export interface ParamCounts {
  total: number;
  /** Per token: everything but the routed experts, plus top-k / experts of them. */
  active: number;
  routed: number;
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The tensors the architecture has, or null where config.json alone is not enough to list them
 * (only DeepSeek-V4 is listed so far; other architectures are counted from their checkpoint).
 */
export function archTensors(spec: ModelSpec): ArchTensor[] | null {
  return spec.v4 ? v4Tensors(spec) : null;
}

/**
 * DeepSeek-V4's released tensors (names as in its safetensors files; the MTP block is left out, as
 * the engine ignores it), from the list in ../shared/oracle-v4/deepseek_v4/README.txt. `quantised`
 * follows what engine/model/deepseek-v4/graph.ts builds with `linear(..., quant)` and routedExperts.
 */
export function v4Tensors(spec: ModelSpec): ArchTensor[] {
  const v = spec.v4;
  const moe = spec.moe;
  if (!v || !moe) throw new Error('v4Tensors needs a DeepSeek-V4 spec');
  const H = spec.hidden;
  const V = spec.vocab;
  const D = v.headDim;
  const hc = v.hcMult;
  const Di = v.indexHeadDim;
  const Hi = v.indexHeads;
  const out: ArchTensor[] = [];
  const t = (name: string, shape: number[], quantised = false, routed = false) => out.push({ name, shape, quantised, routed });

  t('embed.weight', [V, H]);
  if (!spec.tieEmbeddings) t('head.weight', [V, H], true);
  t('norm.weight', [H]);
  t('hc_head_fn', [hc, hc * H]);
  t('hc_head_base', [hc]);
  t('hc_head_scale', [1]);
  for (let i = 0; i < spec.layers; i++) {
    const p = `layers.${i}`;
    for (const s of ['attn', 'ffn']) {
      t(`${p}.hc_${s}_fn`, [(2 + hc) * hc, hc * H]);
      t(`${p}.hc_${s}_base`, [(2 + hc) * hc]);
      t(`${p}.hc_${s}_scale`, [3]);
    }
    t(`${p}.attn_norm.weight`, [H]);
    t(`${p}.ffn_norm.weight`, [H]);
    t(`${p}.attn.wq_a.weight`, [v.qLoraRank, H], true);
    t(`${p}.attn.q_norm.weight`, [v.qLoraRank]);
    t(`${p}.attn.wq_b.weight`, [v.heads * D, v.qLoraRank], true);
    t(`${p}.attn.wkv.weight`, [D, H], true);
    t(`${p}.attn.kv_norm.weight`, [D]);
    t(`${p}.attn.attn_sink`, [v.heads]);
    t(`${p}.attn.wo_a.weight`, [v.oGroups * v.oLoraRank, (v.heads * D) / v.oGroups], true);
    t(`${p}.attn.wo_b.weight`, [H, v.oGroups * v.oLoraRank], true);
    const type = v.layerTypes[i]!;
    const m = v.compressRates[i]!;
    if (type !== 'sliding') {
      // CSA keeps two halves per slot (the overlapping windows); HCA one.
      const c = type === 'csa' ? 2 : 1;
      t(`${p}.attn.compressor.wkv.weight`, [c * D, H], true);
      t(`${p}.attn.compressor.wgate.weight`, [c * D, H], true);
      t(`${p}.attn.compressor.ape`, [m, c * D]);
      t(`${p}.attn.compressor.norm.weight`, [D]);
    }
    if (type === 'csa') {
      t(`${p}.attn.indexer.wq_b.weight`, [Hi * Di, v.qLoraRank], true);
      t(`${p}.attn.indexer.weights_proj.weight`, [Hi, H]);
      t(`${p}.attn.indexer.compressor.wkv.weight`, [2 * Di, H], true);
      t(`${p}.attn.indexer.compressor.wgate.weight`, [2 * Di, H], true);
      t(`${p}.attn.indexer.compressor.ape`, [m, 2 * Di]);
      t(`${p}.attn.indexer.compressor.norm.weight`, [Di]);
    }
    t(`${p}.ffn.gate.weight`, [moe.experts, H]);
    if (v.hashLayers[i]) out.push({ name: `${p}.ffn.gate.tid2eid`, shape: [V, moe.topK], quantised: false, routed: false, int64: true });
    else t(`${p}.ffn.gate.bias`, [moe.experts]);
    for (let e = 0; e < moe.experts; e++) {
      t(`${p}.ffn.experts.${e}.w1.weight`, [moe.intermediate, H], true, true);
      t(`${p}.ffn.experts.${e}.w2.weight`, [H, moe.intermediate], true, true);
      t(`${p}.ffn.experts.${e}.w3.weight`, [moe.intermediate, H], true, true);
    }
    if (moe.shared) {
      t(`${p}.ffn.shared_experts.w1.weight`, [moe.shared.intermediate, H], true);
      t(`${p}.ffn.shared_experts.w2.weight`, [H, moe.shared.intermediate], true);
      t(`${p}.ffn.shared_experts.w3.weight`, [moe.shared.intermediate, H], true);
    }
  }
  return out;
}

/** Total, routed and active counts of a tensor list. */
export function countParams(spec: ModelSpec, tensors: readonly Pick<ArchTensor, 'shape' | 'routed'>[]): ParamCounts {
  let total = 0;
  let routed = 0;
  for (const t of tensors) {
    const n = numel(t.shape);
    total += n;
    if (t.routed) routed += n;
  }
  const m = spec.moe;
  return { total, routed, active: Math.round(m ? total - routed + (routed * m.topK) / m.experts : total) };
}

/**
 * The checkpoint's own tensors as parameters: block scales (`X_scale_inv`, V4's `X.scale` beside
 * `X.weight`) and layers past num_hidden_layers or under `mtp.` (multi-token prediction, which the
 * engine does not run) left out; FP4 weights at their logical size.
 */
export function checkpointTensors(spec: ModelSpec, ckpt: Checkpoint): Pick<ArchTensor, 'name' | 'shape' | 'routed'>[] {
  const out: Pick<ArchTensor, 'name' | 'shape' | 'routed'>[] = [];
  const layerRe = /^(?:model\.)?layers\.(\d+)\./;
  for (const name of ckpt.names()) {
    if (name.endsWith('_scale_inv') || name.startsWith('mtp.')) continue;
    if (name.endsWith('.scale') && ckpt.has(`${name.slice(0, -'.scale'.length)}.weight`)) continue;
    const m = layerRe.exec(name);
    if (m && Number(m[1]) >= spec.layers) continue; // e.g. DeepSeek-V3's multi-token-prediction layer
    out.push({ name, shape: [...ckpt.logicalShape(name)], routed: /\.experts\.\d+\./.test(name) });
  }
  return out;
}
