/**
 * Linear layers (y = x W^T + b) emitted as MatMul (float32) or MatMulNBits (int8/int4).
 * Weights arrive in Hugging Face layout [out, in].
 */
import type { GraphBuilder } from './builder.ts';
import { quantizeBlockwise, type QuantBits } from './quantize.ts';

export type Quant = 'none' | 'int8' | 'int4';

export const QUANT_BITS: Record<Exclude<Quant, 'none'>, QuantBits> = { int8: 8, int4: 4 };

/** Block size along K for MatMulNBits: 32 keeps int4 error low; ORT's fast path supports it. */
export const MATMUL_BLOCK = 32;

export function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = w[base + c]!;
  }
  return out;
}

export function concatRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function linear(
  g: GraphBuilder,
  x: string,
  w: Float32Array,
  outDim: number,
  inDim: number,
  opts: { bias?: Float32Array | null; quant: Quant; hint: string },
): string {
  if (opts.quant === 'none') {
    const wt = g.weight(`${opts.hint}.weight`, transpose2d(w, outDim, inDim), [inDim, outDim]);
    let y = g.matmul(x, wt);
    if (opts.bias) y = g.add(y, g.weight(`${opts.hint}.bias`, opts.bias, [outDim]));
    return y;
  }
  const bits = QUANT_BITS[opts.quant];
  const q = quantizeBlockwise(w, outDim, inDim, bits, MATMUL_BLOCK);
  const inputs = [
    x,
    g.weight(`${opts.hint}.qweight`, q.packed, [outDim, q.kBlocks, (MATMUL_BLOCK * bits) / 8]),
    g.weight(`${opts.hint}.scales`, q.scales, [outDim, q.kBlocks]),
    g.weight(`${opts.hint}.zero_points`, q.zeroPoints, [q.zeroPoints.length]),
    '',
    opts.bias ? g.weight(`${opts.hint}.bias`, opts.bias, [outDim]) : '',
  ];
  while (inputs[inputs.length - 1] === '') inputs.pop();
  return g.op(
    'MatMulNBits',
    inputs,
    { K: inDim, N: outDim, bits, block_size: MATMUL_BLOCK, accuracy_level: 4 },
    { domain: 'com.microsoft' },
  );
}
