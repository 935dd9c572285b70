/**
 * The MoE block in ONNX Runtime against a JS reference: the router rules (softmax greedy,
 * group-limited greedy, DeepSeek-V3's sigmoid + noaux_tc with e_score_correction_bias) and the
 * fused expert kernels (MoE for float32, QMoE for int8/int4 in both its block-wise and per-row
 * layouts). A wrong packing, zero-point layout or gate/up interleave gives wrong numbers without
 * any error, so every path is checked numerically.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { DataType, GraphBuilder } from '../../../engine/graph/builder.ts';
import { QUANT_BITS, type Quant } from '../../../engine/graph/linear.ts';
import { qmoeBlockSize, route, routedExperts, type ExpertWeights } from '../../../engine/graph/moe.ts';
import { dequantizeBlockwise, quantizeBlockwise } from '../../../engine/graph/quantize.ts';
import type { RouterSpec } from '../../../engine/model/spec.ts';
import { maxAbsDiff, rng } from '../../helpers/numeric.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-moe-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;


interface OutSpec {
  name: string;
  dataType: DataType;
  dims: Array<number | string>;
}

/** Build a graph with input x [N, H] and the given outputs, run it on the CPU, return the outputs. */
async function runGraph(
  N: number,
  H: number,
  x: Float32Array,
  outputs: OutSpec[],
  emit: (g: GraphBuilder, x: string) => string[],
): Promise<ort.Tensor[]> {
  const modelPath = path.join(tmp, `m${counter++}.onnx`);
  const g = new GraphBuilder(modelPath);
  const xin = g.input('x', DataType.FLOAT, ['N', H]);
  const values = emit(g, xin);
  values.forEach((v, i) => g.output(v, outputs[i]!.name, outputs[i]!.dataType, outputs[i]!.dims));
  g.finish();
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'] });
  try {
    const res = await session.run({ x: new ort.Tensor('float32', x, [N, H]) });
    return outputs.map((o) => res[o.name]!);
  } finally {
    await session.release();
  }
}

// ---- JS reference ------------------------------------------------------------------------------

/** out[n][o] = sum_k x[n][k] w[o][k], float64. */
function matVecRows(x: ArrayLike<number>, w: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows);
  for (let o = 0; o < rows; o++) {
    let s = 0;
    for (let k = 0; k < cols; k++) s += x[k]! * w[o * cols + k]!;
    y[o] = s;
  }
  return y;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const silu = (v: number) => v * sigmoid(v);

/** Indices of the k largest values (ties: lower index first). */
function topk(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .sort((a, b) => values[b]! - values[a]! || a - b)
    .slice(0, k);
}

interface Routing {
  idx: number[];
  w: number[];
}

/**
 * The routing rules as DeepSeek's reference code (inference/model.py Gate) and transformers write
 * them, for one token: scores, optional correction bias for choosing, group limit, top-k,
 * weights from the unbiased scores, optional renormalisation (+ eps), routed_scaling_factor.
 */
function refRoute(x: ArrayLike<number>, gateW: Float32Array, bias: Float32Array | null, E: number, H: number, topK: number, r: RouterSpec): Routing {
  const logits = matVecRows(x, gateW, E, H);
  let scores: number[];
  if (r.scoring === 'softmax') {
    const m = Math.max(...logits);
    const ex = [...logits].map((v) => Math.exp(v - m));
    const s = ex.reduce((a, b) => a + b, 0);
    scores = ex.map((v) => v / s);
  } else {
    scores = [...logits].map(sigmoid);
  }
  const choice = scores.map((s, e) => s + (bias ? bias[e]! : 0));
  let masked = choice;
  if (r.method !== 'greedy' && r.nGroup > 1) {
    const per = E / r.nGroup;
    const groupScore = Array.from({ length: r.nGroup }, (_, gi) => {
      const members = choice.slice(gi * per, (gi + 1) * per).sort((a, b) => b - a);
      return r.method === 'noaux_tc' ? members[0]! + (members[1] ?? 0) : members[0]!;
    });
    const keep = new Set(topk(groupScore, r.topkGroup));
    masked = choice.map((v, e) => (keep.has(Math.floor(e / per)) ? v : -Infinity));
  }
  const idx = topk(masked, topK);
  let w = idx.map((e) => scores[e]!);
  if (r.normTopk) {
    const s = w.reduce((a, b) => a + b, 0) + r.normEps;
    w = w.map((v) => v / s);
  }
  w = w.map((v) => v * r.scaling);
  return { idx, w };
}

/** SwiGLU expert: down(silu(gate x) * up x). */
function refExpert(x: ArrayLike<number>, ew: ExpertWeights, H: number, I: number): Float64Array {
  const gate = matVecRows(x, ew.gate, I, H);
  const up = matVecRows(x, ew.up, I, H);
  const act = gate.map((gv, i) => silu(gv) * up[i]!);
  return matVecRows(act, ew.down, H, I);
}

function refMoe(
  x: Float32Array,
  N: number,
  H: number,
  I: number,
  E: number,
  topK: number,
  gateW: Float32Array,
  bias: Float32Array | null,
  r: RouterSpec,
  experts: ExpertWeights[],
): Float64Array {
  const y = new Float64Array(N * H);
  for (let n = 0; n < N; n++) {
    const xn = x.subarray(n * H, (n + 1) * H);
    const { idx, w } = refRoute(xn, gateW, bias, E, H, topK, r);
    idx.forEach((e, k) => {
      const o = refExpert(xn, experts[e]!, H, I);
      for (let h = 0; h < H; h++) y[n * H + h] += w[k]! * o[h]!;
    });
  }
  return y;
}

function makeExperts(seed: number, E: number, H: number, I: number): ExpertWeights[] {
  const r = rng(seed);
  return Array.from({ length: E }, () => ({
    gate: r(I * H, 1 / Math.sqrt(H), 0.01),
    up: r(I * H, 1 / Math.sqrt(H), -0.01),
    down: r(H * I, 1 / Math.sqrt(I), 0.005),
  }));
}

/** The weights as the quantised kernels see them: each matrix quantised per row in symmetric blocks. */
function dequantExperts(experts: ExpertWeights[], H: number, I: number, quant: Exclude<Quant, 'none'>): ExpertWeights[] {
  const bits = QUANT_BITS[quant];
  const bs = qmoeBlockSize(H, I, bits);
  const dq = (w: Float32Array, rows: number, cols: number, block: number) =>
    dequantizeBlockwise(quantizeBlockwise(w, rows, cols, bits, block, true), rows, cols, bits, block);
  return experts.map((e) => ({
    gate: dq(e.gate, I, H, bs || H),
    up: dq(e.up, I, H, bs || H),
    down: dq(e.down, H, I, bs || I),
  }));
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}


const SOFTMAX_GREEDY: RouterSpec = {
  scoring: 'softmax',
  method: 'greedy',
  nGroup: 1,
  topkGroup: 1,
  normTopk: false,
  normEps: 1e-20,
  scaling: 1,
  hasCorrectionBias: false,
};

const V3_ROUTER: RouterSpec = {
  scoring: 'sigmoid',
  method: 'noaux_tc',
  nGroup: 4,
  topkGroup: 2,
  normTopk: true,
  normEps: 1e-20,
  scaling: 2.5,
  hasCorrectionBias: true,
};

const V2_ROUTER: RouterSpec = {
  scoring: 'softmax',
  method: 'group_limited_greedy',
  nGroup: 4,
  topkGroup: 2,
  normTopk: false,
  normEps: 1e-20,
  scaling: 16,
  hasCorrectionBias: false,
};

// ---- tests -------------------------------------------------------------------------------------

describe('qmoeBlockSize', () => {
  test('picks the largest block whose packed width divides H and I, 0 for per-row', () => {
    assert.equal(qmoeBlockSize(64, 32, 8), 32);
    assert.equal(qmoeBlockSize(64, 32, 4), 16);
    assert.equal(qmoeBlockSize(128, 16, 8), 16);
    assert.equal(qmoeBlockSize(128, 16, 4), 0);
    assert.equal(qmoeBlockSize(2048, 1408, 4), 64);
    assert.equal(qmoeBlockSize(2048, 1408, 8), 128);
  });
});

describe('route() vs the reference routing rules', () => {
  async function checkRoute(r: RouterSpec, seed: number, withBias: boolean) {
    const N = 24;
    const H = 32;
    const E = 16;
    const topK = 4;
    const g = rng(seed);
    const x = g(N * H, 1);
    const gateW = g(E * H, 0.4);
    const bias = withBias ? g(E, 0.15, 0.05) : null;
    const [idxT, wT] = await runGraph(
      N,
      H,
      x,
      [
        { name: 'indices', dataType: DataType.INT64, dims: ['N', topK] },
        { name: 'weights', dataType: DataType.FLOAT, dims: ['N', topK] },
      ],
      (gb, xin) => {
        const res = route(gb, xin, gateW, bias, E, H, topK, r);
        return [res.indices, res.weights];
      },
    );
    assert.deepEqual(idxT!.dims, [N, topK]);
    const idx = Array.from(idxT!.data as BigInt64Array, Number);
    const w = wT!.data as Float32Array;
    let biasChanged = 0;
    let groupChanged = 0;
    for (let n = 0; n < N; n++) {
      const xn = x.subarray(n * H, (n + 1) * H);
      const ref = refRoute(xn, gateW, bias, E, H, topK, r);
      // compare as expert -> weight maps (TopK order of equal-ish scores is not part of the contract)
      const got = new Map<number, number>();
      for (let k = 0; k < topK; k++) got.set(idx[n * topK + k]!, w[n * topK + k]!);
      const want = new Map(ref.idx.map((e, k) => [e, ref.w[k]!]));
      assert.deepEqual([...got.keys()].sort((a, b) => a - b), [...want.keys()].sort((a, b) => a - b), `token ${n}: expert set`);
      for (const [e, v] of want) {
        const d = Math.abs(got.get(e)! - v);
        assert.ok(d <= 1e-5 * Math.max(1, Math.abs(v)), `token ${n} expert ${e}: weight ${got.get(e)} vs ${v}`);
      }
      // the rules under test must matter for this data
      if (bias) {
        const noBias = refRoute(xn, gateW, null, E, H, topK, r);
        if (noBias.idx.slice().sort().join() !== ref.idx.slice().sort().join()) biasChanged++;
      }
      const greedy = refRoute(xn, gateW, bias, E, H, topK, { ...r, method: 'greedy' });
      if (greedy.idx.slice().sort().join() !== ref.idx.slice().sort().join()) groupChanged++;
    }
    if (bias) assert.ok(biasChanged > 0, 'the correction bias changes some choices');
    if (r.method !== 'greedy') assert.ok(groupChanged > 0, 'the group limit changes some choices');
  }

  test('softmax greedy (no renormalisation)', () => checkRoute(SOFTMAX_GREEDY, 11, false));
  test('softmax greedy renormalised and scaled', () => checkRoute({ ...SOFTMAX_GREEDY, normTopk: true, scaling: 2 }, 12, false));
  test('DeepSeek-V2 group_limited_greedy (group max), routed_scaling_factor 16', () => checkRoute(V2_ROUTER, 13, false));
  test('DeepSeek-V3 sigmoid + noaux_tc with e_score_correction_bias, normalised + 1e-20, x 2.5', () => checkRoute(V3_ROUTER, 14, true));
  test('sigmoid + noaux_tc, a second draw', () => checkRoute(V3_ROUTER, 15, true));
});

describe('route() + routedExperts() vs a reference MoE', () => {
  const shapes = [
    { H: 64, I: 32, E: 8, topK: 3, N: 7, what: 'H 64 / I 32' },
    { H: 128, I: 16, E: 6, topK: 2, N: 5, what: 'H 128 / I 16' },
  ];
  for (const quant of ['none', 'int8', 'int4'] as Quant[]) {
    for (const s of shapes) {
      const layout = quant === 'none' ? 'MoE float32' : qmoeBlockSize(s.H, s.I, QUANT_BITS[quant]) ? `QMoE block-wise ${qmoeBlockSize(s.H, s.I, QUANT_BITS[quant])}` : 'QMoE per-row';
      test(`${quant}: ${s.what} (${layout}), softmax top-${s.topK} of ${s.E}`, async () => {
        const seed = s.H * 31 + s.I + quant.length * 1000;
        const g = rng(seed);
        const x = g(s.N * s.H, 1);
        const gateW = g(s.E * s.H, 0.5);
        const experts = makeExperts(seed + 1, s.E, s.H, s.I);
        const calls: number[] = [];
        const [yT] = await runGraph(s.N, s.H, x, [{ name: 'y', dataType: DataType.FLOAT, dims: ['N', s.H] }], (gb, xin) => {
          const routing = route(gb, xin, gateW, null, s.E, s.H, s.topK, SOFTMAX_GREEDY);
          return [
            routedExperts(gb, xin, routing, s.E, s.H, s.I, s.topK, (e) => {
              calls.push(e);
              return experts[e]!;
            }, quant),
          ];
        });
        assert.deepEqual(calls, Array.from({ length: s.E }, (_, e) => e), 'each expert read once, in order');
        const y = yT!.data as Float32Array;
        const wRef = quant === 'none' ? experts : dequantExperts(experts, s.H, s.I, quant);
        const ref = refMoe(x, s.N, s.H, s.I, s.E, s.topK, gateW, null, SOFTMAX_GREEDY, wRef);
        const scale = maxAbs(ref);
        const err = maxAbsDiff(y, ref);
        assert.ok(scale > 1e-3, 'non-trivial output');
        const tol = quant === 'none' ? 1e-5 : 2e-3;
        assert.ok(err <= tol * scale, `${quant} ${s.what}: max |err| ${err} vs output scale ${scale} (rel ${err / scale})`);
        if (quant === 'int4') {
          // Checked against the dequantised weights: a far better match than against the float ones.
          const refFloat = refMoe(x, s.N, s.H, s.I, s.E, s.topK, gateW, null, SOFTMAX_GREEDY, experts);
          const errFloat = maxAbsDiff(y, refFloat);
          assert.ok(errFloat > 3 * err, `int4: ${err} vs dequantised, ${errFloat} vs float`);
        }
      });
    }
  }

  for (const quant of ['none', 'int4'] as Quant[]) {
    test(`${quant}: DeepSeek-V3 routing (sigmoid, noaux_tc, bias, normalised x 2.5) through the expert kernels`, async () => {
      const H = 64;
      const I = 32;
      const E = 16;
      const topK = 4;
      const N = 9;
      const g = rng(77 + quant.length);
      const x = g(N * H, 1);
      const gateW = g(E * H, 0.4);
      const bias = g(E, 0.15, 0.05);
      const experts = makeExperts(78, E, H, I);
      const [yT] = await runGraph(N, H, x, [{ name: 'y', dataType: DataType.FLOAT, dims: ['N', H] }], (gb, xin) => {
        const routing = route(gb, xin, gateW, bias, E, H, topK, V3_ROUTER);
        return [routedExperts(gb, xin, routing, E, H, I, topK, (e) => experts[e]!, quant)];
      });
      const wRef = quant === 'none' ? experts : dequantExperts(experts, H, I, quant);
      const ref = refMoe(x, N, H, I, E, topK, gateW, bias, V3_ROUTER, wRef);
      const scale = maxAbs(ref);
      const err = maxAbsDiff(yT!.data as Float32Array, ref);
      const tol = quant === 'none' ? 1e-5 : 2e-3;
      assert.ok(err <= tol * scale, `${quant}: max |err| ${err} vs output scale ${scale} (rel ${err / scale})`);
    });
  }
});
