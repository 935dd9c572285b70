/**
 * Mixture-of-Experts block: the router is emitted in plain ops so every routing rule is exact
 * (softmax/sigmoid scores, greedy, group-limited greedy, noaux_tc with e_score_correction_bias,
 * renormalisation, routed_scaling_factor); the expert FFNs run in ONNX Runtime's fused MoE/QMoE
 * kernels, which only know "softmax over top-k". We hand those kernels log(weight) for the chosen
 * experts and -inf elsewhere with renormalisation on, so each expert gets w_i / sum(w), and multiply
 * the result by sum(w) afterwards: the output is exactly sum_i w_i * expert_i(x). The same block can
 * be cut out of the graph (ExpertsCut) so the engine dispatches the chosen experts itself.
 */
import { DataType, type GraphBuilder } from './builder.ts';
import type { RouterSpec } from '../model/spec.ts';
import { transpose2d, type Quant, QUANT_BITS } from './linear.ts';
import { quantizeBlockwise } from './quantize.ts';

export interface ExpertWeights {
  /** [I, H] each */
  gate: Float32Array;
  up: Float32Array;
  /** [H, I] */
  down: Float32Array;
}

export interface RouteResult {
  /** Chosen experts [N, K] int64. */
  indices: string;
  /** Final mixing weights [N, K] float. */
  weights: string;
}

export function route(
  g: GraphBuilder,
  x2d: string,
  gateW: Float32Array,
  bias: Float32Array | null,
  experts: number,
  hidden: number,
  topK: number,
  r: RouterSpec,
): RouteResult {
  const logits = g.matmul(x2d, g.weight('router.weight', transpose2d(gateW, experts, hidden), [hidden, experts]));
  const scores = r.scoring === 'softmax' ? g.softmax(logits, -1) : g.sigmoid(logits);
  let choice = bias ? g.add(scores, g.weight('router.e_score_correction_bias', bias, [experts])) : scores;
  if (r.method !== 'greedy' && r.nGroup > 1) {
    const perGroup = experts / r.nGroup;
    const grouped = g.reshape(choice, [-1, r.nGroup, perGroup]); // [N,G,E/G]
    const groupScores =
      r.method === 'noaux_tc'
        ? g.op('ReduceSum', [g.node('TopK', [grouped, g.i64([Math.min(2, perGroup)])], { axis: -1 }, { outputs: 2 })[0]!, g.i64([-1])], { keepdims: 0 })
        : g.op('ReduceMax', [grouped], { axes: [-1], keepdims: 0 }); // [N,G]
    const groupIdx = g.node('TopK', [groupScores, g.i64([r.topkGroup])], { axis: -1 }, { outputs: 2 })[1]!;
    const zeros = g.op('ConstantOfShape', [g.op('Shape', [groupScores])], { value: scalarTensor(DataType.FLOAT, 0) });
    const ones = g.op('ConstantOfShape', [g.op('Shape', [groupIdx])], { value: scalarTensor(DataType.FLOAT, 1) });
    const groupMask = g.op('ScatterElements', [zeros, groupIdx, ones], { axis: 1 }); // [N,G]
    const expertMask = g.reshape(g.op('Expand', [g.unsqueeze(groupMask, [-1]), g.op('Shape', [grouped])]), [-1, experts]);
    // Reference: scores.masked_fill(~mask, 0.0)
    choice = g.op('Where', [g.op('Cast', [expertMask], { to: DataType.BOOL }), choice, g.f32(0)]);
  }
  const indices = g.node('TopK', [choice, g.i64([topK])], { axis: -1, largest: 1, sorted: 1 }, { outputs: 2 })[1]!;
  let weights = g.op('GatherElements', [scores, indices], { axis: 1 });
  if (r.normTopk) {
    let denom = g.op('ReduceSum', [weights, g.i64([-1])], { keepdims: 1 });
    if (r.normEps) denom = g.add(denom, g.f32(r.normEps));
    weights = g.div(weights, denom);
  }
  if (r.scaling !== 1) weights = g.mul(weights, g.f32(r.scaling));
  return { indices, weights };
}

export function scalarTensor(dataType: DataType, value: number) {
  const raw =
    dataType === DataType.FLOAT ? new Uint8Array(Float32Array.of(value).buffer) : new Uint8Array(BigInt64Array.of(BigInt(value)).buffer);
  return { name: '', dataType, dims: [1], raw };
}

/**
 * Largest block size (<= 128) whose packed width divides both H and I, as QMoE requires.
 *
 * Why QMoE with blocks (measured with `npm run bench:engine -- --layers 3`, 2 cores, hidden 1024,
 * 64 experts of 512): decode ran int8 block 128 at 78 tok/s, int4 block 128 at 17, int4 block 32
 * at 18 and int4 per-row at 39. ORT's CPU QMoE dequantises 4-bit blocks slowly, so per-row int4 is
 * 2.2x faster, but one scale per 1024-2048 weights is far coarser than the group-128 scales that
 * GPTQ/AWQ-quality int4 needs on real weights with outliers. We keep blocks (accuracy first) and
 * recommend int8 on the CPU, where it is both faster and closer. (Since then the engine dispatches
 * int4 experts one session per expert, reading the same blocks through MatMulNBits: see
 * runtime/experts.ts; the block layout here is what both forms read.)
 */
export function qmoeBlockSize(hidden: number, inter: number, bits: 4 | 8): number {
  const pack = 8 / bits;
  for (const bs of [128, 64, 32, 16]) if (hidden % (bs * pack) === 0 && inter % (bs * pack) === 0) return bs;
  return 0;
}

/**
 * Where a fused expert node can be cut out of the graph so the engine dispatches the chosen experts
 * itself (partition.ts, runtime/experts.ts): the values the cut needs (x2d [N,H], indices [N,K],
 * weights [N,K]), the value it stands for (`output` [N,H] = sum_k w_k expert_k(x)), and the fused
 * weight initializers whose per-expert slices the dispatched expert graphs read.
 */
export interface ExpertsCut {
  x2d: string;
  indices: string;
  weights: string;
  output: string;
  experts: number;
  hidden: number;
  inter: number;
  topK: number;
  /** 0 for float32; block size along K for int8/int4 (the fused QMoE's and MatMulNBits' layout). */
  bits: 0 | 4 | 8;
  blockSize: number;
  /** Bytes of all this layer's routed expert weights (placement on a GPU). */
  bytes: number;
  /** SwiGLU clamp (DeepSeek-V4); 0 or absent: none. */
  swigluLimit?: number;
  /** Initializer names: fc1 [E, 2I, H] (gate/up rows interleaved), fc2 [E, H, I]. */
  fc1: { w: string; scales?: string };
  fc2: { w: string; scales?: string };
}

/**
 * Routed experts for x2d [N,H] given the routing; returns [N,H].
 * `expert(e)` reads one expert's weights (called once per expert, streamed to disk).
 * `onCut` learns where the fused node can be cut out (see ExpertsCut).
 */
export function routedExperts(
  g: GraphBuilder,
  x2d: string,
  routing: RouteResult,
  experts: number,
  hidden: number,
  inter: number,
  topK: number,
  expert: (e: number) => ExpertWeights,
  quant: Quant,
  onCut?: (cut: ExpertsCut) => void,
  opts: {
    /** Clamp gate to <= L and up to [-L, L] before SwiGLU (DeepSeek-V4's swiglu_limit); 0: none. */
    swigluLimit?: number;
    /** Quantisation block along K, when it must match the source's (FP4 experts: 32, so int8 is exact). */
    block?: number;
  } = {},
): string {
  const swigluLimit = opts.swigluLimit ?? 0;
  const sumW = g.op('ReduceSum', [routing.weights, g.i64([-1])], { keepdims: 1 }); // [N,1]
  const full = g.op('ConstantOfShape', [g.concat([g.op('Slice', [g.op('Shape', [x2d]), g.i64([0]), g.i64([1])]), g.i64([experts])], 0)], {
    value: scalarTensor(DataType.FLOAT, -Infinity),
  });
  const routerIn = g.op('ScatterElements', [full, routing.indices, g.op('Log', [routing.weights])], { axis: 1 });

  let y: string;
  let cut: Pick<ExpertsCut, 'fc1' | 'fc2' | 'bits' | 'blockSize' | 'bytes'> | null = null;
  if (quant === 'none') {
    // fc1 is written first while each expert's down matrix waits for fc2: a third of one layer's
    // experts in memory at most.
    const downs: Float32Array[] = [];
    const fc1 = g.weightStream('experts.fc1', DataType.FLOAT, [experts, 2 * inter, hidden], experts * 2 * inter * hidden * 4, (write) => {
      for (let e = 0; e < experts; e++) {
        const w = expert(e);
        const inter2 = new Float32Array(2 * inter * hidden);
        for (let r = 0; r < inter; r++) {
          inter2.set(w.gate.subarray(r * hidden, (r + 1) * hidden), 2 * r * hidden);
          inter2.set(w.up.subarray(r * hidden, (r + 1) * hidden), (2 * r + 1) * hidden);
        }
        write(new Uint8Array(inter2.buffer));
        downs.push(w.down);
      }
    });
    const fc2 = g.weightStream('experts.fc2', DataType.FLOAT, [experts, hidden, inter], experts * hidden * inter * 4, (write) => {
      for (let e = 0; e < experts; e++) {
        const d = downs[e]!;
        write(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      }
    });
    cut = { fc1: { w: fc1 }, fc2: { w: fc2 }, bits: 0, blockSize: 0, bytes: 3 * experts * inter * hidden * 4 };
    y = g.op('MoE', [x2d, routerIn, fc1, '', fc2], {
      k: topK,
      activation_type: 'swiglu',
      swiglu_fusion: 1,
      normalize_routing_weights: 1,
      activation_alpha: 1.0,
      activation_beta: 0.0,
      ...(swigluLimit > 0 ? { swiglu_limit: swigluLimit } : {}),
    }, { domain: 'com.microsoft' });
  } else {
    const bits = QUANT_BITS[quant];
    const bs = opts.block && hidden % opts.block === 0 && inter % opts.block === 0 ? opts.block : qmoeBlockSize(hidden, inter, bits);
    const pack = 8 / bits;
    const fc1Parts = { w: [] as Uint8Array[], s: [] as Float32Array[] };
    const fc2Parts = { w: [] as Uint8Array[], s: [] as Float32Array[] };
    for (let e = 0; e < experts; e++) {
      const w = expert(e);
      const inter2 = new Float32Array(2 * inter * hidden);
      for (let r = 0; r < inter; r++) {
        inter2.set(w.gate.subarray(r * hidden, (r + 1) * hidden), 2 * r * hidden);
        inter2.set(w.up.subarray(r * hidden, (r + 1) * hidden), (2 * r + 1) * hidden);
      }
      // Symmetric (no zero points): the one form ORT's WebGPU QMoE accepts, and MatMulNBits' default.
      const q1 = quantizeBlockwise(inter2, 2 * inter, hidden, bits, bs || hidden, true);
      const q2 = quantizeBlockwise(w.down, hidden, inter, bits, bs || inter, true);
      fc1Parts.w.push(q1.packed);
      fc1Parts.s.push(q1.scales);
      fc2Parts.w.push(q2.packed);
      fc2Parts.s.push(q2.scales);
    }
    const cat = <T extends Uint8Array | Float32Array>(parts: T[]): Uint8Array => {
      const total = parts.reduce((a, p) => a + p.byteLength, 0);
      const out = new Uint8Array(total);
      let o = 0;
      for (const p of parts) {
        out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), o);
        o += p.byteLength;
      }
      return out;
    };
    const k1 = bs ? hidden / bs : 1;
    const k2 = bs ? inter / bs : 1;
    const fc1w = g.weight('experts.fc1.qweight', cat(fc1Parts.w), [experts, 2 * inter, hidden / pack], DataType.UINT8);
    const fc2w = g.weight('experts.fc2.qweight', cat(fc2Parts.w), [experts, hidden, inter / pack], DataType.UINT8);
    const fc1s = g.weight('experts.fc1.scales', new Float32Array(cat(fc1Parts.s).buffer), bs ? [experts, 2 * inter, k1] : [experts, 2 * inter]);
    const fc2s = g.weight('experts.fc2.scales', new Float32Array(cat(fc2Parts.s).buffer), bs ? [experts, hidden, k2] : [experts, hidden]);
    const attrs: Record<string, number | string> = {
      k: topK,
      activation_type: 'swiglu',
      swiglu_fusion: 1,
      normalize_routing_weights: 1,
      expert_weight_bits: bits,
      activation_alpha: 1.0,
      activation_beta: 0.0,
    };
    if (bs) attrs.block_size = bs;
    if (swigluLimit > 0) attrs.swiglu_limit = swigluLimit;
    // Per-row scales (no block divides H and I) have no MatMulNBits form: such a layer stays fused.
    const bytes = [...fc1Parts.w, ...fc1Parts.s, ...fc2Parts.w, ...fc2Parts.s].reduce((a, p) => a + p.byteLength, 0);
    if (bs) cut = { fc1: { w: fc1w, scales: fc1s }, fc2: { w: fc2w, scales: fc2s }, bits, blockSize: bs, bytes };
    y = g.op('QMoE', [x2d, routerIn, fc1w, fc1s, '', fc2w, fc2s], attrs, { domain: 'com.microsoft' });
  }
  const output = g.mul(y, sumW);
  if (cut && onCut) onCut({ ...cut, x2d, indices: routing.indices, weights: routing.weights, output, experts, hidden, inter, topK, swigluLimit });
  return output;
}
