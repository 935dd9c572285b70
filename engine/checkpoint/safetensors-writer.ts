/**
 * safetensors writer, for tests and benchmarks that need checkpoints on disk.
 *
 * Float32Array data is encoded to the tensor's dtype (F16 / BF16 / F8_E4M3 with round-to-nearest-even)
 * chunk by chunk straight into the file, so large tensors never need a second whole-tensor buffer.
 * Uint8Array data is written as is (already-encoded little-endian bytes of the dtype).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_FP8_BLOCK, DTYPE_BYTES, elementCount, type Dtype, type Fp8BlockSize } from './safetensors.ts';

export type WritableFloatDtype = 'F32' | 'F16' | 'BF16' | 'F8_E4M3';

export type WriterData = Float32Array | Uint8Array;

export interface WriterTensor {
  /** F32/F16/BF16/F8_E4M3 (Float32Array is encoded, Uint8Array is raw), or I64/I32/U8/I8 (Uint8Array raw). */
  dtype: WritableFloatDtype | Exclude<Dtype, WritableFloatDtype>;
  shape: number[];
  /** The values, or a function producing them when the tensor is written (big synthetic checkpoints). */
  data: WriterData | (() => WriterData);
}

const ENCODE_CHUNK_ELEMS = 1 << 20;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

/** float32 -> IEEE half bits, round to nearest even (overflow -> inf, NaN stays NaN). */
export function encodeF16(x: number): number {
  const b = f32Bits(x);
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: rounds to ±0
    const m = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (q & 1))) q++;
    return sign | q; // q may carry into the smallest normal, which is the right encoding
  }
  let q = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (q & 1))) q++; // may carry into exponent / to inf: correct
  return sign | q;
}

/** float32 -> bfloat16 bits, round to nearest even (NaN stays NaN). */
export function encodeBF16(x: number): number {
  const b = f32Bits(x);
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x40) & 0xffff;
  const lsb = (b >>> 16) & 1;
  return Math.floor((b + 0x7fff + lsb) / 65536) & 0xffff;
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5 || (d === 0.5 && f % 2 !== 0)) return f + 1;
  return f;
}

/**
 * float32 -> float8 e4m3fn code, round to nearest even. NaN and ±inf give NaN (0x7F / 0xFF);
 * finite values beyond ±448 saturate to ±448 (0x7E / 0xFE).
 */
export function encodeFp8E4M3(x: number): number {
  const b = f32Bits(x);
  const sign = (b >>> 24) & 0x80;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7f;
  const a = Math.abs(f32[0]!);
  if (a < 2 ** -6) return sign | roundHalfEven(a * 2 ** 9); // subnormals; 8 becomes 0x08 = 2^-6
  let e = exp - 127 + 7;
  let m = mant >>> 20;
  const rem = mant & 0xfffff;
  if (rem > 0x80000 || (rem === 0x80000 && (m & 1))) m++;
  if (m === 8) {
    m = 0;
    e++;
  }
  if (e > 15 || (e === 15 && m === 7)) return sign | 0x7e;
  return sign | (e << 3) | m;
}

/** Encode `src` as `dtype` into `out` (byte length = src.length * element size). */
function encodeInto(dtype: WritableFloatDtype, src: Float32Array, out: Uint8Array): void {
  switch (dtype) {
    case 'F32':
      out.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
      return;
    case 'F16': {
      const dv = new Uint16Array(out.buffer, out.byteOffset, src.length);
      for (let i = 0; i < src.length; i++) dv[i] = encodeF16(src[i]!);
      return;
    }
    case 'BF16': {
      const dv = new Uint16Array(out.buffer, out.byteOffset, src.length);
      for (let i = 0; i < src.length; i++) dv[i] = encodeBF16(src[i]!);
      return;
    }
    case 'F8_E4M3':
      for (let i = 0; i < src.length; i++) out[i] = encodeFp8E4M3(src[i]!);
      return;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

function isFloatDtype(d: string): d is WritableFloatDtype {
  return d === 'F32' || d === 'F16' || d === 'BF16' || d === 'F8_E4M3';
}

/** Byte length of a tensor once written. */
export function tensorByteLength(t: WriterTensor): number {
  return elementCount(t.shape) * DTYPE_BYTES[t.dtype];
}

function checkTensor(name: string, t: WriterTensor, data: WriterData | null): void {
  const n = elementCount(t.shape);
  if (!(t.dtype in DTYPE_BYTES)) throw new Error(`writeSafetensors: tensor ${name}: unknown dtype ${t.dtype}`);
  if (data === null) return;
  if (data instanceof Float32Array) {
    if (!isFloatDtype(t.dtype)) throw new Error(`writeSafetensors: tensor ${name}: Float32Array data for ${t.dtype}`);
    if (data.length !== n) {
      throw new Error(`writeSafetensors: tensor ${name}: ${data.length} values for shape [${t.shape.join(', ')}]`);
    }
  } else if (data.length !== n * DTYPE_BYTES[t.dtype]) {
    throw new Error(`writeSafetensors: tensor ${name}: ${data.length} raw bytes, ${t.dtype} [${t.shape.join(', ')}] needs ${n * DTYPE_BYTES[t.dtype]}`);
  }
}

/**
 * Write a safetensors file. Tensors are laid out in the order given; the header is padded
 * with spaces to a multiple of 8 bytes (as the reference implementation does).
 */
export function writeSafetensors(
  filePath: string,
  tensors: Record<string, WriterTensor>,
  metadata?: Record<string, string>,
): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    checkTensor(name, t, typeof t.data === 'function' ? null : t.data);
    const len = tensorByteLength(t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + len] };
    offset += len;
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (jsonBytes % 8)) % 8);
  const headerBuf = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBuf.length), 0);

  const fd = fs.openSync(filePath, 'w');
  try {
    writeAll(fd, prefix);
    writeAll(fd, headerBuf);
    for (const [name, t] of Object.entries(tensors)) {
      const data = typeof t.data === 'function' ? t.data() : t.data;
      if (typeof t.data === 'function') checkTensor(name, t, data);
      if (data instanceof Uint8Array) {
        writeAll(fd, data);
        continue;
      }
      const dtype = t.dtype as WritableFloatDtype;
      const size = DTYPE_BYTES[dtype];
      if (dtype === 'F32') {
        writeAll(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        continue;
      }
      const scratch = new Uint8Array(Math.min(ENCODE_CHUNK_ELEMS, data.length) * size);
      for (let i = 0; i < data.length; i += ENCODE_CHUNK_ELEMS) {
        const src = data.subarray(i, Math.min(data.length, i + ENCODE_CHUNK_ELEMS));
        const out = scratch.subarray(0, src.length * size);
        encodeInto(dtype, src, out);
        writeAll(fd, out);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Quantise a 2-D float weight [rows, cols] the way DeepSeek-V3's FP8 checkpoints are stored:
 * per block, scale = amax / 448 (1 for an all-zero block), codes = e4m3(w / scale).
 * Returns the codes (raw F8_E4M3 bytes) and the scale_inv tensor (dequantised = fp8 * scale_inv).
 */
export function quantizeFp8Blocks(
  weight: Float32Array,
  shape: readonly [number, number],
  blockSize: Fp8BlockSize = DEFAULT_FP8_BLOCK,
): { codes: Uint8Array; scaleInv: Float32Array; scaleShape: [number, number] } {
  const [rows, cols] = shape;
  const [bR, bC] = blockSize;
  const sRows = Math.ceil(rows / bR);
  const sCols = Math.ceil(cols / bC);
  const scaleInv = new Float32Array(sRows * sCols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const k = Math.floor(r / bR) * sCols + Math.floor(c / bC);
      scaleInv[k] = Math.max(scaleInv[k]!, Math.abs(weight[r * cols + c]!));
    }
  }
  for (let k = 0; k < scaleInv.length; k++) scaleInv[k] = scaleInv[k]! > 0 ? scaleInv[k]! / 448 : 1;
  const codes = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const s = scaleInv[Math.floor(r / bR) * sCols + Math.floor(c / bC)]!;
      codes[r * cols + c] = encodeFp8E4M3(weight[r * cols + c]! / s);
    }
  }
  return { codes, scaleInv, scaleShape: [sRows, sCols] };
}

/** Write `config.json` (pretty-printed) into `dir`. */
export function writeConfig(dir: string, config: Record<string, unknown>): void {
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
}

/** Write a single-file checkpoint: `dir/config.json` + `dir/model.safetensors`. */
export function writeCheckpoint(
  dir: string,
  config: Record<string, unknown>,
  tensors: Record<string, WriterTensor>,
  metadata: Record<string, string> = { format: 'pt' },
): void {
  fs.mkdirSync(dir, { recursive: true });
  writeConfig(dir, config);
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, metadata);
}

/**
 * Write a sharded checkpoint: `model-0000i-of-0000N.safetensors` shards of at most `shardBytes`
 * tensor bytes each (a bigger tensor gets a shard of its own), `model.safetensors.index.json`
 * ({metadata: {total_size}, weight_map}) and `config.json`. Returns the shard file names.
 */
export function writeShardedCheckpoint(
  dir: string,
  config: Record<string, unknown>,
  tensors: Record<string, WriterTensor>,
  shardBytes: number,
): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const groups: Array<Record<string, WriterTensor>> = [];
  let current: Record<string, WriterTensor> = {};
  let currentBytes = 0;
  let total = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const len = tensorByteLength(t);
    if (Object.keys(current).length > 0 && currentBytes + len > shardBytes) {
      groups.push(current);
      current = {};
      currentBytes = 0;
    }
    current[name] = t;
    currentBytes += len;
    total += len;
  }
  if (Object.keys(current).length > 0 || groups.length === 0) groups.push(current);
  const n = groups.length;
  const pad = (i: number) => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const files: string[] = [];
  groups.forEach((g, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    writeSafetensors(path.join(dir, file), g, { format: 'pt' });
    for (const name of Object.keys(g)) weightMap[name] = file;
    files.push(file);
  });
  fs.writeFileSync(
    path.join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n',
  );
  writeConfig(dir, config);
  return files;
}
