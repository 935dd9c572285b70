/**
 * Quantised linear layers: a wrong packing or zero-point layout gives wrong numbers without any
 * error, so MatMulNBits (through `linear()`) is run in ONNX Runtime on tiny graphs and compared with
 * x · dequantizeBlockwise(W)^T computed here in float64.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { DataType, GraphBuilder } from '../../../engine/graph/builder.ts';
import { linear, MATMUL_BLOCK, QUANT_BITS, type Quant } from '../../../engine/graph/linear.ts';
import { dequantizeBlockwise, quantizeBlockwise, type QuantBits } from '../../../engine/graph/quantize.ts';
import { dequantizeFp4 } from '../../../engine/checkpoint/safetensors.ts';
import { maxAbsDiff, rng } from '../../helpers/numeric.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-quant-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;


/** Build a graph with one float input x [N, K] and one output [N, outDim]; run it on the CPU. */
async function runGraph(
  N: number,
  K: number,
  outDim: number,
  x: Float32Array,
  emit: (g: GraphBuilder, x: string) => string,
): Promise<Float32Array> {
  const modelPath = path.join(tmp, `m${counter++}.onnx`);
  const g = new GraphBuilder(modelPath);
  const xin = g.input('x', DataType.FLOAT, ['N', K]);
  g.output(emit(g, xin), 'y', DataType.FLOAT, ['N', outDim]);
  g.finish();
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'] });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', x, [N, K]) });
    const y = out.y!;
    assert.deepEqual(y.dims, [N, outDim]);
    return y.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** y = x W^T (+ b), float64. W is [outDim, K]. */
function refLinear(x: Float32Array, w: Float32Array, N: number, K: number, outDim: number, bias?: Float32Array): Float64Array {
  const y = new Float64Array(N * outDim);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < outDim; o++) {
      let s = bias ? bias[o]! : 0;
      for (let k = 0; k < K; k++) s += x[n * K + k]! * w[o * K + k]!;
      y[n * outDim + o] = s;
    }
  }
  return y;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}


describe('quantizeBlockwise of DeepSeek-V4 FP4 experts', () => {
  // MXFP4: E2M1 codes with one power-of-two scale per 32 inputs, as the released V4 experts are stored.
  const rows = 6;
  const cols = 96;
  const next = rng(4242)(rows * cols + rows * 3, 0.5, 0.5);
  const packed = Uint8Array.from({ length: (rows * cols) / 2 }, (_, i) => Math.floor(next[i]! * 256) & 255);
  const scale = Float32Array.from({ length: rows * 3 }, (_, i) => Math.pow(2, Math.floor(next[rows * cols / 2 + i]! * 12) - 8));
  const w = dequantizeFp4(packed, rows, cols, scale);

  test('int8 symmetric blocks of 32 hold them exactly (lossless)', () => {
    const q = quantizeBlockwise(w, rows, cols, 8, 32, true);
    assert.equal(maxAbsDiff(dequantizeBlockwise(q, rows, cols, 8, 32), w), 0);
  });
  test('int4 cannot (E2M1 is not uniform): it costs', () => {
    const q = quantizeBlockwise(w, rows, cols, 4, 32, true);
    assert.ok(maxAbsDiff(dequantizeBlockwise(q, rows, cols, 4, 32), w) > 0);
  });
  test('ordinary weights are quantised as before (absmax / 127)', () => {
    const x = rng(7)(rows * cols, 0.3, 0.01);
    const q = quantizeBlockwise(x, rows, cols, 8, 32, true);
    let absmax = 0;
    for (let c = 0; c < 32; c++) absmax = Math.max(absmax, Math.abs(x[c]!));
    assert.equal(q.scales[0], Math.fround(absmax / 127));
  });
});

describe('quantizeBlockwise', () => {
  for (const bits of [8, 4] as QuantBits[]) {
    for (const [rows, cols, block] of [
      [7, 64, 32],
      [5, 40, 32], // K not a multiple of the block: the last block is padded
      [3, 17, 16],
      [4, 96, 128], // one block wider than the row
    ] as const) {
      test(`int${bits} [${rows}, ${cols}] block ${block}: round trip within scale/2, layout sizes`, () => {
        const w = rng(rows * 1000 + cols + bits)(rows * cols, 0.5, 0.05);
        const q = quantizeBlockwise(w, rows, cols, bits, block);
        const kBlocks = Math.ceil(cols / block);
        assert.equal(q.kBlocks, kBlocks);
        assert.equal(q.packed.length, rows * kBlocks * ((block * bits) / 8));
        assert.equal(q.scales.length, rows * kBlocks);
        assert.equal(q.zeroPoints.length, rows * Math.ceil((kBlocks * bits) / 8));
        const d = dequantizeBlockwise(q, rows, cols, bits, block);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const scale = q.scales[r * kBlocks + Math.floor(c / block)]!;
            const err = Math.abs(d[r * cols + c]! - w[r * cols + c]!);
            assert.ok(err <= scale / 2 + 1e-6 * scale, `[${r},${c}] error ${err} > scale/2 = ${scale / 2}`);
          }
        }
        // every block uses the full code range on its widest side
        const qmax = (1 << bits) - 1;
        assert.ok(q.scales.every((s) => s > 0 && s < 1.2 / qmax));
      });
    }

    test(`int${bits}: zero is exact, constant and all-zero blocks survive`, () => {
      const cols = 64;
      const w = new Float32Array(3 * cols);
      w.fill(0.25, cols, 2 * cols); // row 1 constant positive
      w.fill(-0.5, 2 * cols, 3 * cols); // row 2 constant negative
      w[5] = 0.125; // row 0: zeros and one value
      const q = quantizeBlockwise(w, 3, cols, bits, 32);
      const d = dequantizeBlockwise(q, 3, cols, bits, 32);
      for (let i = 0; i < w.length; i++) {
        const scale = q.scales[Math.floor(i / cols) * 2 + Math.floor((i % cols) / 32)]!;
        assert.ok(Math.abs(d[i]! - w[i]!) <= scale / 2 + 1e-9, `${i}: ${d[i]} vs ${w[i]}`);
        if (w[i] === 0) assert.equal(d[i], 0, `zero at ${i} stays exactly zero`);
      }
    });
  }

  test('int4 packs low nibble first, zero points two blocks per byte', () => {
    // one row, two blocks of 2: values chosen so codes are known
    const w = Float32Array.of(0, 1, -1, 0);
    const q = quantizeBlockwise(w, 1, 4, 4, 2);
    // block 0: range [0, 1], scale 1/15, zp 0, codes [0, 15]; block 1: range [-1, 0], zp 15, codes [0, 15]
    assert.deepEqual([...q.packed], [0 | (15 << 4), 0 | (15 << 4)]);
    assert.deepEqual([...q.zeroPoints], [0 | (15 << 4)]);
    assert.ok(Math.abs(q.scales[0]! - 1 / 15) < 1e-7);
    assert.ok(Math.abs(q.scales[1]! - 1 / 15) < 1e-7);
  });
});

describe('linear() in ONNX Runtime vs x · dequant(W)^T', () => {
  const cases: Array<{ name: string; N: number; K: number; out: number; bias: boolean }> = [
    { name: 'K 64, N 48', N: 5, K: 64, out: 48, bias: false },
    { name: 'K 40 (not a multiple of 32), bias', N: 3, K: 40, out: 24, bias: true },
    { name: 'K 96, odd outputs 33, one row', N: 1, K: 96, out: 33, bias: false },
    { name: 'K 17 (one partial block)', N: 4, K: 17, out: 8, bias: true },
  ];
  for (const quant of ['none', 'int8', 'int4'] as Quant[]) {
    for (const c of cases) {
      test(`${quant}: ${c.name}`, async () => {
        const r = rng(c.K * 7 + c.out + quant.length);
        const w = r(c.out * c.K, 0.3, 0.02);
        const x = r(c.N * c.K, 1);
        const bias = c.bias ? r(c.out, 0.1) : null;
        const y = await runGraph(c.N, c.K, c.out, x, (g, xin) =>
          linear(g, xin, w, c.out, c.K, { quant, bias, hint: 'proj' }),
        );
        let wRef = w;
        if (quant !== 'none') {
          const bits = QUANT_BITS[quant];
          wRef = dequantizeBlockwise(quantizeBlockwise(w, c.out, c.K, bits, MATMUL_BLOCK), c.out, c.K, bits, MATMUL_BLOCK);
        }
        const ref = refLinear(x, wRef, c.N, c.K, c.out, bias ?? undefined);
        const scale = maxAbs(ref);
        const err = maxAbsDiff(y, ref);
        // float32: exact up to rounding; int8/int4: accuracy_level 4 quantises activations to int8
        const tol = quant === 'none' ? 1e-5 : 1e-2;
        assert.ok(err <= tol * scale, `${quant} ${c.name}: max |err| ${err} vs output scale ${scale}`);
        if (quant !== 'none') {
          // The kernel must compute with exactly these dequantised weights: for int4 the weight
          // error dominates, so the output is several times closer to x · dequant(W)^T than to x · W^T.
          const errFloat = maxAbsDiff(y, refLinear(x, w, c.N, c.K, c.out, bias ?? undefined));
          if (quant === 'int4') assert.ok(errFloat > 3 * err, `int4: ${err} vs dequantised, ${errFloat} vs float`);
        }
      });
    }
  }
});
