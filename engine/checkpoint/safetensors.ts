/**
 * Lazy reader for the safetensors format (https://github.com/huggingface/safetensors):
 *
 *   [u64 little-endian N][N bytes of JSON header][data]
 *   header = { "<tensor name>": { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {...} }
 *
 * Only the header is read when a file is opened; tensor bytes are read on demand with
 * `fs.readSync` at their absolute offset, so a file is never loaded into the JS heap whole.
 *
 * Every problem with the file is reported as an `EngineInputError(file, problem)`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { EngineInputError } from '../errors.ts';

if (os.endianness() !== 'LE') {
  // Typed-array views over file bytes assume a little-endian host (as safetensors data is).
  throw new Error('Switchyard checkpoint reader requires a little-endian host');
}

/** Dtypes this reader accepts, with their element sizes in bytes. */
export const DTYPE_BYTES = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  /** Power-of-two scales (UE8M0: 2^(byte-127)), DeepSeek-V4's block scales. */
  F8_E8M0: 1,
  I64: 8,
  I32: 4,
  U8: 1,
  I8: 1,
} as const;

export type Dtype = keyof typeof DTYPE_BYTES;
export const SUPPORTED_DTYPES = Object.keys(DTYPE_BYTES) as Dtype[];
/** Dtypes `readF32` can convert (F8_E4M3 needs its block scale, see `dequantizeFp8Blocks`). */
export const FLOAT_DTYPES: readonly Dtype[] = ['F32', 'F16', 'BF16', 'F8_E4M3'];

export function isSupportedDtype(d: string): d is Dtype {
  return Object.prototype.hasOwnProperty.call(DTYPE_BYTES, d);
}

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Path of the file holding the tensor (as given to `SafetensorsFile.open`). */
  file: string;
  /** Absolute byte offset of the tensor's data in `file`. */
  byteOffset: number;
  byteLength: number;
}

/** Block size of DeepSeek-V3-style FP8 weights: [rows (out features), cols (in features)]. */
export type Fp8BlockSize = readonly [number, number];
export const DEFAULT_FP8_BLOCK: Fp8BlockSize = [128, 128];

export interface ReadF32Options {
  /** FP8 block size (from config.json `quantization_config.weight_block_size`); default [128, 128]. */
  blockSize?: Fp8BlockSize;
  /**
   * The F8_E4M3 tensor's scale_inv, when it is not in the same file (sharded checkpoints).
   * Without it, `<name>_scale_inv` is looked up in this file.
   */
  scaleInv?: { data: Float32Array; shape: number[]; file: string; name: string };
}

/** Largest header we accept (the reference implementation's limit is 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;
/** Bytes read per `readSync` call when converting. */
const CHUNK_BYTES = 8 << 20;

export function shapeToString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function describeJsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

// ---------------------------------------------------------------------------------------------
// Element decoders (exact).

let f16Table: Uint32Array | undefined;
/** f32 bit patterns for all 65536 f16 values (exact: subnormals, ±0, ±inf, NaN payloads). */
function f16ToF32Bits(): Uint32Array {
  if (f16Table) return f16Table;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    let mant = h & 0x3ff;
    let bits: number;
    if (exp === 0x1f) {
      bits = sign | 0x7f800000 | (mant << 13); // inf or NaN (payload kept)
    } else if (exp !== 0) {
      bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    } else if (mant === 0) {
      bits = sign; // ±0
    } else {
      // Subnormal: mant * 2^-24. Normalise into an f32 normal.
      let e = -14;
      while ((mant & 0x400) === 0) {
        mant <<= 1;
        e--;
      }
      mant &= 0x3ff;
      bits = sign | ((e + 127) << 23) | (mant << 13);
    }
    t[h] = bits >>> 0;
  }
  f16Table = t;
  return t;
}

let e4m3Table: Float32Array | undefined;
/**
 * Values of all 256 float8 e4m3fn codes: 1 sign, 4 exponent (bias 7), 3 mantissa bits;
 * no infinities, 0x7F / 0xFF are NaN, exponent 0 is subnormal (m/8 * 2^-6). Max 0x7E = 448.
 */
export function fp8E4M3Table(): Float32Array {
  if (e4m3Table) return e4m3Table;
  const t = new Float32Array(256);
  for (let c = 0; c < 256; c++) {
    const sign = c & 0x80 ? -1 : 1;
    const exp = (c >>> 3) & 0xf;
    const mant = c & 7;
    let v: number;
    if (exp === 0xf && mant === 7) v = NaN;
    else if (exp === 0) v = sign * mant * 2 ** -9;
    else v = sign * (1 + mant / 8) * 2 ** (exp - 7);
    t[c] = v;
  }
  e4m3Table = t;
  return t;
}

/** Decode one float8 e4m3fn code. */
export function decodeFp8E4M3(code: number): number {
  return fp8E4M3Table()[code & 0xff]!;
}

const scratchU32 = new Uint32Array(1);
const scratchF32 = new Float32Array(scratchU32.buffer);

/** Decode one f16 bit pattern exactly. */
export function decodeF16(bits: number): number {
  scratchU32[0] = f16ToF32Bits()[bits & 0xffff]!;
  return scratchF32[0]!;
}

/** Decode one bf16 bit pattern exactly. */
export function decodeBF16(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0]!;
}

/**
 * Dequantise a 2-D F8_E4M3 weight [rows, cols] with block scales [ceil(rows/bR), ceil(cols/bC)]:
 * out[r, c] = fp8(codes[r, c]) * scale[floor(r/bR), floor(c/bC)], rounded once to f32 —
 * the same as DeepSeek-V3's inference/kernel.py `weight_dequant` (fp32 multiply).
 */
export function dequantizeFp8Blocks(
  codes: Uint8Array,
  shape: readonly [number, number],
  scale: Float32Array,
  blockSize: Fp8BlockSize = DEFAULT_FP8_BLOCK,
  out: Float32Array = new Float32Array(codes.length),
): Float32Array {
  const [rows, cols] = shape;
  const [bR, bC] = blockSize;
  const sCols = Math.ceil(cols / bC);
  if (codes.length !== rows * cols || out.length !== rows * cols) {
    throw new Error(`dequantizeFp8Blocks: ${codes.length} codes for shape [${rows}, ${cols}]`);
  }
  if (scale.length !== Math.ceil(rows / bR) * sCols) {
    throw new Error(`dequantizeFp8Blocks: ${scale.length} scales for shape [${rows}, ${cols}]`);
  }
  const table = fp8E4M3Table();
  for (let r = 0; r < rows; r++) {
    const sRow = Math.floor(r / bR) * sCols;
    const base = r * cols;
    for (let cb = 0; cb < sCols; cb++) {
      const s = scale[sRow + cb]!;
      const c0 = base + cb * bC;
      const c1 = base + Math.min(cols, (cb + 1) * bC);
      for (let i = c0; i < c1; i++) out[i] = table[codes[i]!]! * s;
    }
  }
  return out;
}

/** UE8M0 scale bytes -> float32 (2^(b-127); 255 is NaN in the format). */
export function decodeE8M0(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] === 255 ? NaN : Math.pow(2, bytes[i]! - 127);
  return out;
}

/** FP4 E2M1 code -> value (low 3 bits magnitude, bit 3 sign). */
const FP4_E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

/**
 * MXFP4 weights [rows, cols] stored as bytes [rows, cols/2] (element 2i in the low nibble, 2i+1 in
 * the high one) with one scale per 32 consecutive inputs of a row [rows, cols/32]:
 * w[r, c] = E2M1(nibble) * scale[r, c/32] (DeepSeek-V4's routed experts).
 */
export function dequantizeFp4(packed: Uint8Array, rows: number, cols: number, scale: Float32Array, group = 32): Float32Array {
  if (packed.length * 2 !== rows * cols) throw new Error(`dequantizeFp4: ${packed.length} bytes for [${rows}, ${cols}]`);
  const groups = Math.ceil(cols / group);
  if (scale.length !== rows * groups) throw new Error(`dequantizeFp4: ${scale.length} scales for [${rows}, ${cols}] in groups of ${group}`);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < packed.length; i++) {
    const b = packed[i]!;
    const e = 2 * i;
    const r = Math.floor(e / cols);
    const c = e - r * cols;
    const s = scale[r * groups + Math.floor(c / group)]!;
    out[e] = FP4_E2M1[b & 15]! * s;
    out[e + 1] = FP4_E2M1[b >> 4]! * s;
  }
  return out;
}

/** Expected scale_inv shape for an FP8 weight of `shape`. */
export function fp8ScaleShape(shape: readonly number[], blockSize: Fp8BlockSize): number[] {
  return [Math.ceil(shape[0]! / blockSize[0]), Math.ceil(shape[1]! / blockSize[1])];
}

// ---------------------------------------------------------------------------------------------

interface Entry {
  dtype: Dtype;
  shape: number[];
  begin: number; // relative to data start
  end: number;
}

export class SafetensorsFile {
  /** File size in bytes. */
  readonly size: number;
  /** Length of the JSON header. */
  readonly headerLength: number;
  /** Absolute offset where the data section starts (8 + headerLength). */
  readonly dataStart: number;
  /** The header's `__metadata__` (string values; others are JSON-stringified). */
  readonly metadata: Record<string, string>;
  private readonly entries: Map<string, Entry>;
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    size: number,
    headerLength: number,
    entries: Map<string, Entry>,
    metadata: Record<string, string>,
  ) {
    this.fd = fd;
    this.size = size;
    this.headerLength = headerLength;
    this.dataStart = 8 + headerLength;
    this.entries = entries;
    this.metadata = metadata;
  }

  /** Open a file and parse and validate its header (no tensor data is read). */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new EngineInputError(path, 'file not found');
      if (code === 'EISDIR') throw new EngineInputError(path, 'is a directory, expected a .safetensors file');
      throw new EngineInputError(path, `cannot open: ${oneLine((e as Error).message)}`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new EngineInputError(path, 'not a regular file');
      const size = st.size;
      const { headerLength, entries, metadata } = parseHeader(path, fd, size);
      return new SafetensorsFile(path, fd, size, headerLength, entries, metadata);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return {
      name,
      dtype: e.dtype,
      shape: [...e.shape],
      file: this.path,
      byteOffset: this.dataStart + e.begin,
      byteLength: e.end - e.begin,
    };
  }

  /** Sum of all tensors' data bytes. */
  get totalBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.end - e.begin;
    return n;
  }

  /** The tensor's raw bytes (a fresh buffer; little-endian elements). */
  readBytes(name: string): Uint8Array {
    const e = this.entry(name);
    const out = new Uint8Array(e.end - e.begin);
    this.readAt(name, this.dataStart + e.begin, out);
    return out;
  }

  /** Read a tensor's raw bytes into `target` (exactly byteLength bytes long). */
  readBytesInto(name: string, target: Uint8Array): void {
    const e = this.entry(name);
    if (target.length !== e.end - e.begin) {
      throw new Error(`readBytesInto(${name}): target has ${target.length} bytes, tensor has ${e.end - e.begin}`);
    }
    this.readAt(name, this.dataStart + e.begin, target);
  }

  /**
   * The tensor as float32. F32 is returned as is; F16 and BF16 are converted exactly;
   * F8_E4M3 is dequantised with its `<name>_scale_inv` block scale (see `ReadF32Options`).
   */
  readF32(name: string, options: ReadF32Options = {}): Float32Array {
    const e = this.entry(name);
    const n = elementCount(e.shape);
    switch (e.dtype) {
      case 'F32': {
        const out = new Float32Array(n);
        this.readAt(name, this.dataStart + e.begin, new Uint8Array(out.buffer));
        return out;
      }
      case 'F16': {
        const out = new Uint32Array(n);
        const table = f16ToF32Bits();
        this.convertChunks(name, e, 2, (bytes, first) => {
          const src = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
          for (let i = 0; i < src.length; i++) out[first + i] = table[src[i]!]!;
        });
        return new Float32Array(out.buffer);
      }
      case 'BF16': {
        const out = new Uint32Array(n);
        this.convertChunks(name, e, 2, (bytes, first) => {
          const src = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
          for (let i = 0; i < src.length; i++) out[first + i] = src[i]! << 16;
        });
        return new Float32Array(out.buffer);
      }
      case 'F8_E4M3':
        return this.readFp8(name, e, options);
      default:
        throw new EngineInputError(
          this.path,
          `tensor ${name} has dtype ${e.dtype}, which cannot be read as floats (float dtypes: ${FLOAT_DTYPES.join(', ')})`,
        );
    }
  }

  readI64(name: string): BigInt64Array {
    return new BigInt64Array(this.readTyped(name, 'I64', 8));
  }
  readI32(name: string): Int32Array {
    return new Int32Array(this.readTyped(name, 'I32', 4));
  }
  readU8(name: string): Uint8Array {
    return new Uint8Array(this.readTyped(name, 'U8', 1));
  }
  readI8(name: string): Int8Array {
    return new Int8Array(this.readTyped(name, 'I8', 1));
  }

  close(): void {
    if (this.fd !== undefined) {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
  }

  // -------------------------------------------------------------------------------------------

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new EngineInputError(this.path, `missing tensor ${name}`);
    return e;
  }

  private readTyped(name: string, dtype: Dtype, elemBytes: number): ArrayBuffer {
    const e = this.entry(name);
    if (e.dtype !== dtype) {
      throw new EngineInputError(this.path, `tensor ${name} has dtype ${e.dtype}, expected ${dtype}`);
    }
    const buf = new ArrayBuffer(elementCount(e.shape) * elemBytes);
    this.readAt(name, this.dataStart + e.begin, new Uint8Array(buf));
    return buf;
  }

  private readFp8(name: string, e: Entry, options: ReadF32Options): Float32Array {
    const blockSize = options.blockSize ?? DEFAULT_FP8_BLOCK;
    if (e.shape.length !== 2) {
      throw new EngineInputError(
        this.path,
        `F8_E4M3 tensor ${name} has shape ${shapeToString(e.shape)}; only 2-D block-scaled FP8 weights are supported`,
      );
    }
    let scale = options.scaleInv;
    if (!scale) {
      const scaleName = `${name}_scale_inv`;
      if (!this.has(scaleName)) {
        throw new EngineInputError(
          this.path,
          `F8_E4M3 tensor ${name} has no scale tensor ${scaleName} (needed to dequantise it)`,
        );
      }
      scale = { data: this.readF32(scaleName), shape: this.entry(scaleName).shape, file: this.path, name: scaleName };
    }
    const want = fp8ScaleShape(e.shape, blockSize);
    if (scale.shape.length !== 2 || scale.shape[0] !== want[0] || scale.shape[1] !== want[1]) {
      throw new EngineInputError(
        scale.file,
        `scale tensor ${scale.name} has shape ${shapeToString(scale.shape)} but F8_E4M3 tensor ${name} ` +
          `${shapeToString(e.shape)} with ${blockSize[0]}x${blockSize[1]} blocks needs ${shapeToString(want)}`,
      );
    }
    const codes = new Uint8Array(e.end - e.begin);
    this.readAt(name, this.dataStart + e.begin, codes);
    return dequantizeFp8Blocks(codes, [e.shape[0]!, e.shape[1]!], scale.data, blockSize);
  }

  /** Read the tensor in chunks of whole elements and hand each chunk to `convert`. */
  private convertChunks(
    name: string,
    e: Entry,
    elemBytes: number,
    convert: (bytes: Uint8Array, firstElement: number) => void,
  ): void {
    const total = e.end - e.begin;
    const chunk = Math.max(elemBytes, Math.floor(Math.min(CHUNK_BYTES, total) / elemBytes) * elemBytes);
    const scratch = new Uint8Array(chunk);
    for (let done = 0; done < total; ) {
      const len = Math.min(chunk, total - done);
      const view = scratch.subarray(0, len);
      this.readAt(name, this.dataStart + e.begin + done, view);
      convert(view, done / elemBytes);
      done += len;
    }
  }

  /** Fill `target` from absolute file offset `pos`, looping over short reads. */
  private readAt(name: string, pos: number, target: Uint8Array): void {
    if (this.fd === undefined) throw new Error(`${this.path}: read of ${name} after close()`);
    let done = 0;
    while (done < target.length) {
      const want = Math.min(target.length - done, 1 << 30);
      const n = fs.readSync(this.fd, target, done, want, pos + done);
      if (n === 0) {
        throw new EngineInputError(this.path, `unexpected end of file while reading tensor ${name} (file changed or truncated?)`);
      }
      done += n;
    }
  }
}

function readExact(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

function parseHeader(
  path: string,
  fd: number,
  size: number,
): { headerLength: number; entries: Map<string, Entry>; metadata: Record<string, string> } {
  if (size < 8) {
    throw new EngineInputError(
      path,
      `file is ${size} bytes, too short to be a safetensors file (needs at least an 8-byte header length)`,
    );
  }
  const prefix = readExact(fd, 8, 0);
  if (prefix.toString('latin1').startsWith('version ')) {
    throw new EngineInputError(path, 'is a Git LFS pointer file, not the weights (run `git lfs pull` in the checkpoint)');
  }
  const headerLength64 = prefix.readBigUInt64LE(0);
  if (headerLength64 > BigInt(size - 8)) {
    throw new EngineInputError(
      path,
      `header length ${headerLength64} exceeds the file size of ${size} bytes (truncated, or not a safetensors file)`,
    );
  }
  const headerLength = Number(headerLength64);
  if (headerLength > MAX_HEADER_BYTES) {
    throw new EngineInputError(path, `header length ${headerLength} is larger than the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const text = readExact(fd, headerLength, 8).toString('utf8');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new EngineInputError(path, `safetensors header is not valid JSON: ${oneLine((e as Error).message)}`);
  }
  if (!isPlainObject(header)) {
    throw new EngineInputError(path, `safetensors header must be a JSON object, got ${describeJsonType(header)}`);
  }
  const dataLength = size - 8 - headerLength;
  const entries = new Map<string, Entry>();
  const metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(raw)) {
        throw new EngineInputError(path, `safetensors __metadata__ must be a JSON object, got ${describeJsonType(raw)}`);
      }
      for (const [k, v] of Object.entries(raw)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
      continue;
    }
    const bad = (problem: string): never => {
      throw new EngineInputError(path, `tensor ${name}: ${problem}`);
    };
    if (!isPlainObject(raw)) bad(`header entry must be an object, got ${describeJsonType(raw)}`);
    const ent = raw as Record<string, unknown>;
    const { dtype, shape, data_offsets: offsets } = ent;
    if (dtype === undefined) bad('header entry is missing "dtype"');
    if (shape === undefined) bad('header entry is missing "shape"');
    if (offsets === undefined) bad('header entry is missing "data_offsets"');
    if (typeof dtype !== 'string') bad(`"dtype" must be a string, got ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      bad(`"shape" must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
      bad(`"data_offsets" must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const dt = dtype as string;
    if (!isSupportedDtype(dt)) {
      throw new EngineInputError(
        path,
        `tensor ${name} has unsupported dtype ${dt} (supported: ${SUPPORTED_DTYPES.join(', ')})`,
      );
    }
    const shp = shape as number[];
    const [begin, end] = offsets as [number, number];
    if (begin > end) bad(`data_offsets [${begin}, ${end}] has begin after end`);
    if (end > dataLength) {
      bad(
        `data_offsets [${begin}, ${end}] run past the end of the data section ` +
          `(${dataLength} bytes; file truncated?)`,
      );
    }
    const want = elementCount(shp) * DTYPE_BYTES[dt];
    if (end - begin !== want) {
      bad(
        `data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dt} ${shapeToString(shp)} needs ${want}`,
      );
    }
    entries.set(name, { dtype: dt, shape: shp, begin, end });
  }
  return { headerLength, entries, metadata };
}
