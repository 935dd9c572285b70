/**
 * Attention in plain ONNX ops (MatMul/Softmax), for both cache layouts:
 *  - GQA/MHA: past_key/past_value [B, Hkv, P, D], grouped query heads attend through broadcasting;
 *  - MLA (DeepSeek): the compressed latent [B, 1, P, kv_lora_rank + rope_dim] is the only cache;
 *    queries are absorbed into latent space (q_nope · W_UK) and values read back through W_UV
 *    (DeepSeek's `absorb` mode), so K/V are never expanded.
 * Plain ops keep float32 exact against the references and run on every execution provider; K and V
 * head sizes differ for MLA, which ORT's fused GQA kernels refuse.
 */
import { DataType, type GraphBuilder } from './builder.ts';
import type { RopeParams } from '../model/rope.ts';

/** cos/sin from position_ids, computed once per forward pass and shared by all layers. */
export function ropeTables(g: GraphBuilder, positionIds: string, rope: RopeParams): { cos: string; sin: string } {
  const saved = g.scope;
  g.scope = 'rope';
  const pos = g.op('Cast', [positionIds], { to: DataType.FLOAT }); // [B,S]
  const freqs = g.mul(g.unsqueeze(pos, [-1]), g.weight('inv_freq', rope.invFreq, [rope.dim / 2])); // [B,S,D/2]
  const emb = g.concat([freqs, freqs], -1); // [B,S,D]
  let cos = g.op('Cos', [emb]);
  let sin = g.op('Sin', [emb]);
  if (rope.attentionFactor !== 1) {
    const af = g.f32(rope.attentionFactor);
    cos = g.mul(cos, af);
    sin = g.mul(sin, af);
  }
  const out = { cos: g.unsqueeze(cos, [1]), sin: g.unsqueeze(sin, [1]) }; // [B,1,S,D]
  g.scope = saved;
  return out;
}

/** Applies rotate-half RoPE to x [B, H, S, D] (D == rotary dim). */
export function applyRope(g: GraphBuilder, x: string, cos: string, sin: string, dim: number): string {
  const [x1, x2] = g.split(x, [dim / 2, dim / 2], -1);
  const rotated = g.concat([g.op('Neg', [x2!]), x1!], -1);
  return g.add(g.mul(x, cos), g.mul(rotated, sin));
}

/**
 * Additive attention mask [S, T] for queries at `positionIds` (batch row 0) over keys 0..T-1,
 * `total` is the scalar int64 key count T (past + new). window: keys older than pos - window + 1 are masked too.
 */
export function attentionMask(g: GraphBuilder, positionIds: string, total: string, window: number | null): string {
  const saved = g.scope;
  g.scope = window ? 'mask_sliding' : 'mask';
  const cols = g.op('Range', [g.i64(0), total, g.i64(1)]); // [T]
  const pos = g.op('Gather', [positionIds, g.i64(0)], { axis: 0 }); // [S]
  const posCol = g.unsqueeze(pos, [-1]); // [S,1]
  let blocked = g.op('Greater', [cols, posCol]); // [S,T]
  if (window) {
    const oldest = g.sub(posCol, g.i64(window)); // keys j <= pos - window are out of the window
    blocked = g.op('Or', [blocked, g.op('LessOrEqual', [cols, oldest])]);
  }
  const mask = g.op('Where', [blocked, g.f32(-Infinity), g.f32(0)]);
  g.scope = saved;
  return mask;
}

/**
 * Returns [attention output [B,S,H*D], present_key, present_value].
 */
export function gqaAttention(
  g: GraphBuilder,
  p: {
    q: string;
    k: string;
    v: string;
    qNorm?: string;
    kNorm?: string;
    eps: number;
    heads: number;
    kvHeads: number;
    headDim: number;
    rotDim: number;
    scale: number;
    cos: string;
    sin: string;
    pastKey: string;
    pastValue: string;
    /** Additive mask [S,T] from attentionMask(). */
    mask: string;
    presentKeyName: string;
    presentValueName: string;
  },
): string {
  const { heads, kvHeads, headDim: D } = p;
  let q = g.reshape(p.q, [0, 0, heads, D]);
  let k = g.reshape(p.k, [0, 0, kvHeads, D]);
  const v = g.reshape(p.v, [0, 0, kvHeads, D]);
  if (p.qNorm) q = g.rmsNorm(q, p.qNorm, p.eps);
  if (p.kNorm) k = g.rmsNorm(k, p.kNorm, p.eps);
  q = g.transpose(q, [0, 2, 1, 3]); // [B,H,S,D]
  k = g.transpose(k, [0, 2, 1, 3]); // [B,Hkv,S,D]
  const vt = g.transpose(v, [0, 2, 1, 3]);
  q = ropePartial(g, q, p.cos, p.sin, D, p.rotDim);
  k = ropePartial(g, k, p.cos, p.sin, D, p.rotDim);
  const presentK = g.op('Concat', [p.pastKey, k], { axis: 2 }, { outputs: [p.presentKeyName] });
  const presentV = g.op('Concat', [p.pastValue, vt], { axis: 2 }, { outputs: [p.presentValueName] });
  const group = heads / kvHeads;
  const qg = g.reshape(q, [0, kvHeads, group, -1, D]); // [B,Hkv,G,S,D]
  const kT = g.unsqueeze(g.transpose(presentK, [0, 1, 3, 2]), [2]); // [B,Hkv,1,D,T]
  let scores = g.mul(g.matmul(qg, kT), g.f32(p.scale)); // [B,Hkv,G,S,T]
  scores = g.add(scores, p.mask);
  const probs = g.softmax(scores, -1);
  const out = g.matmul(probs, g.unsqueeze(presentV, [2])); // [B,Hkv,G,S,D]
  const merged = g.transpose(g.reshape(out, [0, heads, -1, D]), [0, 2, 1, 3]); // [B,S,H,D]
  return g.reshape(merged, [0, 0, heads * D]);
}

function ropePartial(g: GraphBuilder, x: string, cos: string, sin: string, D: number, rot: number): string {
  if (rot === D) return applyRope(g, x, cos, sin, rot);
  const [xr, xp] = g.split(x, [rot, D - rot], -1);
  return g.concat([applyRope(g, xr!, cos, sin, rot), xp!], -1);
}

/**
 * MLA in absorbed form. q: [B,S,H*(nope+rope)] (rope part already de-interleaved);
 * kvA: [B,S,kvLora+rope] from kv_a_proj_with_mqa; returns the output [B,S,H*vDim] (before o_proj).
 *
 * The cache is append-only: the graph reads the past latent [B,1,P,C] and outputs only the new rows
 * [B,1,S,C] (`newRowsName`); the engine appends them to its own buffer. A whole-cache `present`
 * output would be copied by onnxruntime-node into a fresh JavaScript buffer on every step (page
 * faults and all), which dominated decode at depth.
 */
export function mlaAttention(
  g: GraphBuilder,
  p: {
    q: string;
    kvA: string;
    kvNorm: string;
    eps: number;
    heads: number;
    nope: number;
    rope: number;
    kvLora: number;
    vDim: number;
    /**
     * q_nope [B,H,S,nope] -> q_nope·W_UK [B,H,S,kvLora], and oLat [B,H,S,kvLora+rope] -> oLat·W_UV^T
     * [B,H,S,vDim] (W_UV^T's rope rows zero), per head.
     */
    absorbK: (qNope: string) => string;
    absorbV: (oLat: string) => string;
    scale: number;
    cos: string;
    sin: string;
    pastLatent: string;
    mask: string;
    newRowsName: string;
  },
): string {
  const { heads: H, nope, rope, kvLora } = p;
  const q = g.transpose(g.reshape(p.q, [0, 0, H, nope + rope]), [0, 2, 1, 3]); // [B,H,S,nope+rope]
  const [qNope, qPe] = g.split(q, [nope, rope], -1);
  const qPeRot = applyRope(g, qPe!, p.cos, p.sin, rope);
  const [cKv, kPe] = g.split(p.kvA, [kvLora, rope], -1); // [B,S,kvLora], [B,S,rope]
  const cKvN = g.rmsNorm(cKv!, p.kvNorm, p.eps);
  const kPeRot = applyRope(g, g.unsqueeze(kPe!, [1]), p.cos, p.sin, rope); // [B,1,S,rope]
  const latent = g.op('Concat', [g.unsqueeze(cKvN, [1]), kPeRot], { axis: -1 }, { outputs: [p.newRowsName] }); // [B,1,S,C]
  const qAbs = p.absorbK(qNope!); // [B,H,S,kvLora]
  const qCat = g.concat([qAbs, qPeRot], -1); // [B,H,S,kvLora+rope]
  // The whole cache for this step exists only inside ONNX Runtime (its arena); the output is the new
  // rows alone. (Scoring past and new rows apart would skip this copy too, but gives zero-sized
  // tensors on the first prefill, which the WebGPU provider cannot hold.)
  const present = g.concat([p.pastLatent, latent], 2); // [B,1,T,C]
  let scores = g.mul(g.matmul(qCat, g.transpose(present, [0, 1, 3, 2])), g.f32(p.scale)); // [B,H,S,T]
  scores = g.add(scores, p.mask);
  const probs = g.softmax(scores, -1);
  // Values are the latent's first kvLora columns. Slicing the cache would copy all T rows every step;
  // instead multiply by the whole latent and let W_UV^T's zero rope rows drop the extra columns.
  const oLat = g.matmul(probs, present); // [B,H,S,kvLora+rope]
  const o = p.absorbV(oLat); // [B,H,S,vDim]
  return g.reshape(g.transpose(o, [0, 2, 1, 3]), [0, 0, H * p.vDim]);
}
