/**
 * Asymmetric block-wise weight quantisation in the layouts ONNX Runtime's MatMulNBits and QMoE
 * expect: values packed along K (low nibble first for 4 bits), one float scale and one uint8
 * zero point per block of `block` input columns.
 */
export type QuantBits = 4 | 8;

export interface QuantizedMatrix {
  /** uint8 [rows, kBlocks, block*bits/8] */
  packed: Uint8Array;
  /** float [rows, kBlocks] */
  scales: Float32Array;
  /** uint8 [rows, ceil(kBlocks*bits/8)] (4-bit: two per byte, low nibble first) */
  zeroPoints: Uint8Array;
  kBlocks: number;
}

/**
 * `symmetric`: zero point fixed at 2^(bits-1) (ORT's default when no zero points are given: WebGPU's
 * QMoE accepts nothing else) and scale absmax / (2^(bits-1) - 1); otherwise min/max asymmetric.
 */
export function quantizeBlockwise(w: Float32Array, rows: number, cols: number, bits: QuantBits, block: number, symmetric = false): QuantizedMatrix {
  const kBlocks = Math.ceil(cols / block);
  const blob = (block * bits) / 8;
  const qmax = (1 << bits) - 1;
  const packed = new Uint8Array(rows * kBlocks * blob);
  const scales = new Float32Array(rows * kBlocks);
  const zpPerRow = Math.ceil((kBlocks * bits) / 8);
  const zeroPoints = new Uint8Array(rows * zpPerRow);
  const q = new Uint8Array(block);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < kBlocks; b++) {
      const c0 = b * block;
      const c1 = Math.min(cols, c0 + block);
      let lo = 0;
      let hi = 0; // the range always contains 0 so that zero (padding) is exact
      for (let c = c0; c < c1; c++) {
        const v = w[r * cols + c]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const half = 1 << (bits - 1);
      const absmax = Math.max(-lo, hi);
      let scale = symmetric ? (absmax > 0 ? absmax / (half - 1) : 1) : hi > lo ? (hi - lo) / qmax : 1;
      if (symmetric && absmax > 0) {
        // Exact when the block already is integers times a power of two that fits (e.g. FP4 E2M1
        // values with one power-of-two scale per 32, DeepSeek-V4's experts, in int8): keep them so.
        const unit = Math.pow(2, Math.ceil(Math.log2(scale)));
        let exact = absmax / unit <= half - 1;
        for (let c = c0; exact && c < c1; c++) exact = Number.isInteger(w[r * cols + c]! / unit);
        if (exact) scale = unit;
      }
      const zp = symmetric ? half : Math.min(qmax, Math.max(0, Math.round(-lo / scale)));
      scales[r * kBlocks + b] = scale;
      q.fill(zp);
      for (let c = c0; c < c1; c++) {
        q[c - c0] = Math.min(qmax, Math.max(0, Math.round(w[r * cols + c]! / scale) + zp));
      }
      const dst = (r * kBlocks + b) * blob;
      if (bits === 8) packed.set(q, dst);
      else for (let i = 0; i < block / 2; i++) packed[dst + i] = q[2 * i]! | (q[2 * i + 1]! << 4);
      if (bits === 8) zeroPoints[r * zpPerRow + b] = zp;
      else zeroPoints[r * zpPerRow + (b >> 1)]! |= b & 1 ? zp << 4 : zp;
    }
  }
  return { packed, scales, zeroPoints, kBlocks };
}

/** Reference dequantisation (tests and agreement checks). */
export function dequantizeBlockwise(m: QuantizedMatrix, rows: number, cols: number, bits: QuantBits, block: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const blob = (block * bits) / 8;
  const zpPerRow = Math.ceil((m.kBlocks * bits) / 8);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const b = Math.floor(c / block);
      const i = c % block;
      const byte = m.packed[(r * m.kBlocks + b) * blob + (bits === 8 ? i : i >> 1)]!;
      const qv = bits === 8 ? byte : i & 1 ? byte >> 4 : byte & 15;
      const zb = m.zeroPoints[r * zpPerRow + (bits === 8 ? b : b >> 1)]!;
      const zp = bits === 8 ? zb : b & 1 ? zb >> 4 : zb & 15;
      out[r * cols + c] = (qv - zp) * m.scales[r * m.kBlocks + b]!;
    }
  }
  return out;
}
