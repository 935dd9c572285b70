/**
 * A Hugging Face checkpoint directory: config.json plus safetensors weights
 * (model.safetensors.index.json + shards, a single model.safetensors, or any *.safetensors files).
 *
 * Opening reads config.json and every weight file's header; tensor data is read on demand.
 * FP8 (F8_E4M3) weights are dequantised with their `<name>_scale_inv` block scales by `readF32`.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineInputError } from '../errors.ts';
import {
  decodeE8M0,
  DEFAULT_FP8_BLOCK,
  dequantizeFp4,
  SafetensorsFile,
  shapeToString,
  type Dtype,
  type Fp8BlockSize,
  type TensorInfo,
} from './safetensors.ts';

export type { Dtype, Fp8BlockSize, TensorInfo } from './safetensors.ts';

export interface CheckpointOptions {
  /**
   * FP8 block size [rows, cols]. Default: config.json `quantization_config.weight_block_size`
   * when `quant_method` is "fp8", else [128, 128].
   */
  fp8BlockSize?: Fp8BlockSize;
  /** Directory for the content-hash side-cache (default `$XDG_CACHE_HOME/switchyard` or `~/.cache/switchyard`). */
  cacheDir?: string;
}

export interface ContentKeyOptions {
  /** Overrides the cache dir given to `open`. */
  cacheDir?: string;
  /** Called as files are hashed: bytes hashed so far / bytes to hash. Not called on cache hits. */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describeJsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EngineInputError(file, `file not found (${what})`);
    if (code === 'EISDIR') throw new EngineInputError(file, `is a directory, expected a JSON file (${what})`);
    throw new EngineInputError(file, `cannot read: ${oneLine((e as Error).message)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new EngineInputError(file, `invalid JSON: ${oneLine((e as Error).message)}`);
  }
}

export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache'), 'switchyard');
}

export class Checkpoint {
  /** Absolute path of the checkpoint directory. */
  readonly dir: string;
  readonly configPath: string;
  /** config.json as parsed. */
  readonly config: Record<string, unknown>;
  /** Absolute path of model.safetensors.index.json, when the checkpoint is sharded through one. */
  readonly indexPath: string | undefined;
  /** Absolute paths of the weight files, sorted. */
  readonly weightFiles: readonly string[];
  /** Block size used to dequantise F8_E4M3 weights. */
  readonly fp8BlockSize: Fp8BlockSize;
  private readonly files: Map<string, SafetensorsFile>;
  private readonly where: Map<string, SafetensorsFile>;
  private readonly cacheDir: string | undefined;

  private constructor(
    dir: string,
    config: Record<string, unknown>,
    indexPath: string | undefined,
    files: Map<string, SafetensorsFile>,
    where: Map<string, SafetensorsFile>,
    fp8BlockSize: Fp8BlockSize,
    cacheDir: string | undefined,
  ) {
    this.dir = dir;
    this.configPath = path.join(dir, 'config.json');
    this.config = config;
    this.indexPath = indexPath;
    this.files = files;
    this.where = where;
    this.weightFiles = [...files.keys()].sort();
    this.fp8BlockSize = fp8BlockSize;
    this.cacheDir = cacheDir;
  }

  static open(dirArg: string, options: CheckpointOptions = {}): Checkpoint {
    const dir = path.resolve(dirArg);
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new EngineInputError(dir, 'checkpoint directory does not exist');
      }
      throw new EngineInputError(dir, `cannot access checkpoint directory: ${oneLine((e as Error).message)}`);
    }
    if (!st.isDirectory()) {
      throw new EngineInputError(dir, 'is a file, not a checkpoint directory (expected a directory with config.json and *.safetensors)');
    }

    const configPath = path.join(dir, 'config.json');
    const config = readJsonFile(configPath, 'a Hugging Face checkpoint directory needs config.json');
    if (!isPlainObject(config)) {
      throw new EngineInputError(configPath, `expected a JSON object, got ${describeJsonType(config)}`);
    }
    const fp8BlockSize = options.fp8BlockSize ?? blockSizeFromConfig(configPath, config);

    const files = new Map<string, SafetensorsFile>();
    const where = new Map<string, SafetensorsFile>();
    let indexPath: string | undefined;
    try {
      const indexCandidate = path.join(dir, INDEX_FILE);
      const singleCandidate = path.join(dir, SINGLE_FILE);
      if (fs.existsSync(indexCandidate)) {
        indexPath = indexCandidate;
        openIndexed(dir, indexCandidate, files, where);
      } else if (fs.existsSync(singleCandidate)) {
        const f = SafetensorsFile.open(singleCandidate);
        files.set(singleCandidate, f);
        for (const n of f.names()) where.set(n, f);
      } else {
        const found = fs.readdirSync(dir).filter((n) => n.endsWith('.safetensors')).sort();
        if (found.length === 0) {
          const others = fs
            .readdirSync(dir)
            .filter((n) => /\.(bin|pt|pth|ckpt|gguf|h5|msgpack|onnx)$/.test(n))
            .slice(0, 3);
          const hint = others.length
            ? ` (found ${others.join(', ')}: only safetensors weights are supported)`
            : '';
          throw new EngineInputError(
            dir,
            `no model weights: expected ${INDEX_FILE}, ${SINGLE_FILE} or *.safetensors files${hint}`,
          );
        }
        for (const n of found) {
          const p = path.join(dir, n);
          const f = SafetensorsFile.open(p);
          files.set(p, f);
          for (const t of f.names()) {
            const prev = where.get(t);
            if (prev) {
              throw new EngineInputError(p, `tensor ${t} is also in ${path.basename(prev.path)} (ambiguous checkpoint without ${INDEX_FILE})`);
            }
            where.set(t, f);
          }
        }
      }
    } catch (e) {
      for (const f of files.values()) f.close();
      throw e;
    }
    return new Checkpoint(dir, config, indexPath, files, where, fp8BlockSize, options.cacheDir);
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  info(name: string): TensorInfo {
    return this.require(name);
  }

  /**
   * The tensor's info; a missing tensor is an EngineInputError naming the weight file
   * (or the index) that should hold it: `missing tensor X (needed for Y)`.
   */
  require(name: string, neededFor?: string): TensorInfo {
    const f = this.where.get(name);
    if (!f) {
      const why = neededFor ? ` (needed for ${neededFor})` : '';
      throw new EngineInputError(this.weightsLocation(), `missing tensor ${name}${why}`);
    }
    return f.info(name);
  }

  /**
   * Throw an EngineInputError naming the tensor's file unless the tensor has exactly `shape`:
   * `model.safetensors: tensor X has shape [8, 64] but config.json implies [16, 64]`.
   */
  expectShape(name: string, shape: readonly number[], source = 'config.json implies'): void {
    const info = this.require(name, `a tensor of shape ${shapeToString(shape)}`);
    const logical = this.logicalShape(name);
    const ok = logical.length === shape.length && logical.every((d, i) => d === shape[i]);
    if (!ok) {
      throw new EngineInputError(
        info.file,
        `tensor ${name} has shape ${shapeToString(logical)}${shapeToString(logical) === shapeToString(info.shape) ? '' : ` (stored ${shapeToString(info.shape)})`} but ${source} ${shapeToString(shape)}`,
      );
    }
  }

  /** The tensor's shape as readF32 returns it: FP4 [rows, cols/2] bytes hold [rows, cols] weights. */
  logicalShape(name: string): readonly number[] {
    const info = this.require(name);
    if ((info.dtype === 'I8' || info.dtype === 'U8') && name.endsWith('.weight') && info.shape.length === 2) {
      if (this.where.has(`${name.slice(0, -'.weight'.length)}.scale`)) return [info.shape[0]!, 2 * info.shape[1]!];
    }
    return info.shape;
  }

  /**
   * The tensor as float32: F16/BF16 converted exactly; F8_E4M3 dequantised with its block scale
   * (`<name>_scale_inv` as DeepSeek-V3 ships it, or `<X>.scale` beside `<X>.weight`, F32 or UE8M0, as
   * DeepSeek-V4 does); I8/U8 with a `.scale` of one UE8M0 per 32 inputs as MXFP4 (V4's routed experts).
   */
  readF32(name: string): Float32Array {
    const info = this.require(name);
    const f = this.where.get(name)!;
    const v4Scale = name.endsWith('.weight') ? `${name.slice(0, -'.weight'.length)}.scale` : null;
    if ((info.dtype === 'I8' || info.dtype === 'U8') && v4Scale && this.where.has(v4Scale)) return this.#readFp4(name, info, v4Scale);
    if (info.dtype !== 'F8_E4M3') return f.readF32(name);
    const scaleName = this.where.has(`${name}_scale_inv`) || !v4Scale || !this.where.has(v4Scale) ? `${name}_scale_inv` : v4Scale;
    const sf = this.where.get(scaleName);
    if (!sf) {
      throw new EngineInputError(
        info.file,
        `F8_E4M3 tensor ${name} has no scale tensor ${scaleName} in the checkpoint (needed to dequantise it)`,
      );
    }
    const scaleInfo = sf.info(scaleName);
    return f.readF32(name, {
      blockSize: this.fp8BlockSize,
      scaleInv: { data: this.#readScale(scaleName), shape: scaleInfo.shape, file: sf.path, name: scaleName },
    });
  }

  /** A scale tensor as float32: UE8M0 bytes (F8_E8M0, or U8/I8 where a writer lacks the dtype) or floats. */
  #readScale(name: string): Float32Array {
    const info = this.require(name);
    if (info.dtype === 'F8_E8M0' || info.dtype === 'U8' || info.dtype === 'I8') return decodeE8M0(this.readBytes(name));
    return this.where.get(name)!.readF32(name);
  }

  #readFp4(name: string, info: TensorInfo, scaleName: string): Float32Array {
    const scaleInfo = this.require(scaleName);
    const [rows, half] = info.shape as [number, number];
    const cols = 2 * half;
    if (info.shape.length !== 2 || scaleInfo.shape.length !== 2 || scaleInfo.shape[0] !== rows || scaleInfo.shape[1]! * 32 !== cols) {
      throw new EngineInputError(
        info.file,
        `FP4 tensor ${name} ${shapeToString(info.shape)} needs a scale of [${rows}, ${cols / 32}] (one per 32 inputs), ` +
          `but ${scaleName} is ${shapeToString(scaleInfo.shape)}`,
      );
    }
    return dequantizeFp4(this.readBytes(name), rows, cols, this.#readScale(scaleName));
  }

  /** The tensor's raw little-endian bytes. */
  readBytes(name: string): Uint8Array {
    this.require(name);
    return this.where.get(name)!.readBytes(name);
  }

  readI64(name: string): BigInt64Array {
    this.require(name);
    return this.where.get(name)!.readI64(name);
  }

  readI32(name: string): Int32Array {
    this.require(name);
    return this.where.get(name)!.readI32(name);
  }

  /**
   * Distinct dtypes of the tensors, sorted, joined with "+" (e.g. "F32", "BF16+F8_E4M3").
   * The F32 `<name>_scale_inv` companions of F8_E4M3 weights are not counted.
   */
  dtypeSummary(): string {
    const set = new Set<Dtype>();
    for (const [name, f] of this.where) {
      const info = f.info(name);
      if (name.endsWith('_scale_inv')) {
        const owner = this.where.get(name.slice(0, -'_scale_inv'.length));
        if (owner && owner.info(name.slice(0, -'_scale_inv'.length)).dtype === 'F8_E4M3') continue;
      }
      set.add(info.dtype);
    }
    return [...set].sort().join('+');
  }

  /** Total tensor data bytes across all weight files (headers excluded). */
  get totalBytes(): number {
    let n = 0;
    for (const [name, f] of this.where) n += f.info(name).byteLength;
    return n;
  }

  close(): void {
    for (const f of this.files.values()) f.close();
  }

  /**
   * sha256 identifying the checkpoint's content: over config.json, the index (if any) and every
   * weight file, each hashed in full (streamed). Per-file hashes are memoised in a JSON side-cache
   * keyed by absolute path + size + mtimeMs, so unchanged files are not re-read.
   *
   * A file modified within 2 s of being hashed is not cached (its mtime could not tell a later
   * same-size edit apart), so freshly written files are hashed again on the next call.
   */
  async contentKey(options: ContentKeyOptions = {}): Promise<string> {
    const cacheDir = options.cacheDir ?? this.cacheDir ?? defaultCacheDir();
    const cache = new HashCache(path.join(cacheDir, 'content-hashes.json'));
    const list = [this.configPath, ...(this.indexPath ? [this.indexPath] : []), ...this.weightFiles];
    const stats = list.map((p) => {
      try {
        return fs.statSync(p);
      } catch (e) {
        throw new EngineInputError(p, `cannot stat: ${oneLine((e as Error).message)}`);
      }
    });
    const hashes: Array<string | undefined> = list.map((p, i) => cache.get(p, stats[i]!));
    const toHash = list.map((_, i) => i).filter((i) => hashes[i] === undefined);
    const total = toHash.reduce((s, i) => s + stats[i]!.size, 0);
    let done = 0;
    for (const i of toHash) {
      const p = list[i]!;
      hashes[i] = await hashFile(p, (n) => {
        done += n;
        options.onProgress?.(done, total);
      });
      const after = fs.statSync(p);
      const before = stats[i]!;
      const stable = after.size === before.size && after.mtimeMs === before.mtimeMs;
      if (stable && Date.now() - after.mtimeMs > RACY_MS) cache.set(p, after, hashes[i]!);
    }
    if (toHash.length > 0) cache.save();
    const manifest = createHash('sha256');
    manifest.update('switchyard-checkpoint-v1\n');
    list.forEach((p, i) => {
      manifest.update(`${path.relative(this.dir, p)}\0${stats[i]!.size}\0${hashes[i]}\n`);
    });
    return manifest.digest('hex');
  }

  /** Where a missing tensor should have been: the single weight file, the index, or the dir. */
  private weightsLocation(): string {
    if (this.indexPath) return this.indexPath;
    if (this.weightFiles.length === 1) return this.weightFiles[0]!;
    return this.dir;
  }
}

function blockSizeFromConfig(configPath: string, config: Record<string, unknown>): Fp8BlockSize {
  const q = config.quantization_config;
  if (!isPlainObject(q) || q.quant_method !== 'fp8' || q.weight_block_size === undefined) return DEFAULT_FP8_BLOCK;
  const b = q.weight_block_size;
  if (
    !Array.isArray(b) ||
    b.length !== 2 ||
    !b.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x > 0)
  ) {
    throw new EngineInputError(
      configPath,
      `quantization_config.weight_block_size must be two positive integers, got ${JSON.stringify(b)}`,
    );
  }
  return [b[0] as number, b[1] as number];
}

function openIndexed(
  dir: string,
  indexPath: string,
  files: Map<string, SafetensorsFile>,
  where: Map<string, SafetensorsFile>,
): void {
  const index = readJsonFile(indexPath, 'sharded checkpoint index');
  if (!isPlainObject(index)) {
    throw new EngineInputError(indexPath, `expected a JSON object, got ${describeJsonType(index)}`);
  }
  const map = index.weight_map;
  if (!isPlainObject(map)) {
    throw new EngineInputError(indexPath, `"weight_map" must be an object of tensor name -> shard file, got ${describeJsonType(map)}`);
  }
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || shard === '' || shard.includes('/') || shard.includes('\\') || shard === '..' || shard === '.') {
      throw new EngineInputError(indexPath, `weight_map entry for ${name} must be a shard file name in the checkpoint directory, got ${JSON.stringify(shard)}`);
    }
    let names = byShard.get(shard);
    if (!names) byShard.set(shard, (names = []));
    names.push(name);
  }
  if (byShard.size === 0) throw new EngineInputError(indexPath, '"weight_map" lists no tensors');
  for (const [shard, names] of [...byShard].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const p = path.join(dir, shard);
    if (!fs.existsSync(p)) {
      throw new EngineInputError(
        p,
        `shard file not found (${INDEX_FILE} maps ${names.length} tensor${names.length === 1 ? '' : 's'} to it, e.g. ${names[0]})`,
      );
    }
    const f = SafetensorsFile.open(p);
    files.set(p, f);
    for (const n of names) {
      if (!f.has(n)) {
        throw new EngineInputError(p, `missing tensor ${n} (${INDEX_FILE} says this shard holds it)`);
      }
      where.set(n, f);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Content hashing.

const RACY_MS = 2000;
const HASH_CHUNK = 16 << 20;
const CACHE_MAX_ENTRIES = 4096;

async function hashFile(p: string, onBytes: (n: number) => void): Promise<string> {
  const h = createHash('sha256');
  const fh = await fs.promises.open(p, 'r');
  try {
    const buf = Buffer.allocUnsafe(HASH_CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, HASH_CHUNK, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      onBytes(bytesRead);
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

interface CacheEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** `{version: 1, files: {absPath: {size, mtimeMs, sha256}}}`; unreadable or corrupt caches are ignored. */
class HashCache {
  private entries: Record<string, CacheEntry> = {};
  private dirty = false;

  constructor(private readonly file: string) {
    try {
      const data: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (isPlainObject(data) && data.version === 1 && isPlainObject(data.files)) {
        for (const [k, v] of Object.entries(data.files)) {
          if (
            isPlainObject(v) &&
            typeof v.size === 'number' &&
            typeof v.mtimeMs === 'number' &&
            typeof v.sha256 === 'string' &&
            /^[0-9a-f]{64}$/.test(v.sha256)
          ) {
            this.entries[k] = { size: v.size, mtimeMs: v.mtimeMs, sha256: v.sha256 };
          }
        }
      }
    } catch {
      // No cache yet, or unreadable: start empty.
    }
  }

  get(p: string, st: fs.Stats): string | undefined {
    const e = this.entries[p];
    return e && e.size === st.size && e.mtimeMs === st.mtimeMs ? e.sha256 : undefined;
  }

  set(p: string, st: fs.Stats, sha256: string): void {
    delete this.entries[p]; // re-insert at the end (most recent)
    this.entries[p] = { size: st.size, mtimeMs: st.mtimeMs, sha256 };
    this.dirty = true;
  }

  save(): void {
    if (!this.dirty) return;
    const keys = Object.keys(this.entries);
    for (const k of keys.slice(0, Math.max(0, keys.length - CACHE_MAX_ENTRIES))) delete this.entries[k];
    const tmp = `${this.file}.${process.pid}.${Date.now()}.tmp`;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(tmp, JSON.stringify({ version: 1, files: this.entries }) + '\n');
      fs.renameSync(tmp, this.file); // atomic: concurrent readers see the old or the new cache
    } catch {
      // The cache is an optimisation only; a read-only cache dir just means re-hashing next time.
      fs.rmSync(tmp, { force: true });
    }
  }
}
