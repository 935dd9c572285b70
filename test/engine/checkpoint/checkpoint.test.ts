import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineInputError } from '../../../engine/errors.ts';
import { sharedDir } from '../../helpers/paths.ts';
import { Checkpoint } from '../../../engine/checkpoint/checkpoint.ts';
import { decodeFp8E4M3 } from '../../../engine/checkpoint/safetensors.ts';
import {
  quantizeFp8Blocks,
  writeCheckpoint,
  writeSafetensors,
  writeShardedCheckpoint,
  type WriterTensor,
} from '../../../engine/checkpoint/safetensors-writer.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-ckpt-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const newDir = (name = 'ckpt') => {
  const d = path.join(tmp, `${counter++}-${name}`);
  fs.mkdirSync(d);
  return d;
};

const ORACLE = path.join(sharedDir(), 'oracle', 'deepseek_v2_lite');

function expectInputError(fn: () => unknown, file: string, ...parts: string[]): EngineInputError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof EngineInputError, `expected EngineInputError, got ${String(caught)}`);
  assert.equal(caught.file, file);
  assert.ok(caught.message.startsWith(`${file}: `), caught.message);
  assert.ok(!caught.message.includes('\n'), 'one-line message');
  for (const p of parts) assert.ok(caught.message.includes(p), `"${caught.message}" should mention "${p}"`);
  return caught;
}

function ramp(n: number, scale = 0.01, offset = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.fround((i - n / 2) * scale + offset);
  return a;
}

const CONFIG = { model_type: 'tiny', hidden_size: 64, num_hidden_layers: 1 };

function tinyTensors(): Record<string, WriterTensor> {
  return {
    'model.embed_tokens.weight': { dtype: 'F32', shape: [16, 64], data: ramp(16 * 64) },
    'model.layers.0.mlp.gate.weight': { dtype: 'F32', shape: [8, 64], data: ramp(8 * 64, 0.02) },
    'model.norm.weight': { dtype: 'BF16', shape: [64], data: ramp(64, 1 / 64, 1) },
    'lm_head.weight': { dtype: 'F16', shape: [16, 64], data: ramp(16 * 64, 1 / 128) },
  };
}

async function keyOf(dir: string, options: Parameters<Checkpoint['contentKey']>[0]): Promise<string> {
  const ck = Checkpoint.open(dir);
  try {
    return await ck.contentKey(options);
  } finally {
    ck.close();
  }
}

/** Push mtimes into the past so the content-hash cache accepts them (see Checkpoint.contentKey). */
function backdate(dir: string, seconds = 3600): void {
  const t = Date.now() / 1000 - seconds;
  for (const n of fs.readdirSync(dir)) fs.utimesSync(path.join(dir, n), t, t);
}

test('real checkpoint: oracle deepseek_v2_lite opens and reads model.embed_tokens.weight', { skip: !fs.existsSync(ORACLE) }, () => {
  const ck = Checkpoint.open(ORACLE);
  try {
    assert.equal(ck.dir, ORACLE);
    assert.equal(ck.configPath, path.join(ORACLE, 'config.json'));
    assert.equal(ck.config.model_type, 'deepseek_v2');
    assert.equal(ck.names().length, 83);
    assert.equal(ck.dtypeSummary(), 'F32');
    const info = ck.info('model.embed_tokens.weight');
    assert.deepEqual(info.shape, [320, 64]);
    assert.equal(info.dtype, 'F32');
    assert.equal(info.file, path.join(ORACLE, 'model.safetensors'));
    ck.expectShape('model.embed_tokens.weight', [320, 64]);
    const w = ck.readF32('model.embed_tokens.weight');
    assert.equal(w.length, 320 * 64);
    assert.ok(w.every(Number.isFinite));
    assert.ok(w.some((x) => x !== 0));
    // README: 240672 float32 values.
    assert.equal(ck.totalBytes, 240672 * 4);
    expectInputError(
      () => ck.expectShape('model.embed_tokens.weight', [321, 64]),
      path.join(ORACLE, 'model.safetensors'),
      'tensor model.embed_tokens.weight has shape [320, 64] but config.json implies [321, 64]',
    );
  } finally {
    ck.close();
  }
});

test('single-file checkpoint: API, expectShape and require errors', () => {
  const dir = newDir();
  const tensors = tinyTensors();
  writeCheckpoint(dir, CONFIG, tensors);
  const ck = Checkpoint.open(dir);
  try {
    const file = path.join(dir, 'model.safetensors');
    assert.deepEqual(ck.config, CONFIG);
    assert.deepEqual(ck.weightFiles, [file]);
    assert.equal(ck.indexPath, undefined);
    assert.deepEqual(ck.names().sort(), Object.keys(tensors).sort());
    assert.ok(ck.has('model.norm.weight'));
    assert.ok(!ck.has('nope'));
    assert.equal(ck.dtypeSummary(), 'BF16+F16+F32');
    assert.equal(ck.totalBytes, 16 * 64 * 4 + 8 * 64 * 4 + 64 * 2 + 16 * 64 * 2);
    assert.deepEqual(ck.readF32('model.embed_tokens.weight'), tensors['model.embed_tokens.weight']!.data);
    const norm = ck.readF32('model.norm.weight');
    assert.equal(norm[0], 0.5); // exactly representable values survive BF16
    assert.equal(norm[32], 1);
    const lm = ck.readF32('lm_head.weight');
    assert.deepEqual(lm, tensors['lm_head.weight']!.data); // multiples of 1/128 are exact in F16
    assert.equal(ck.readBytes('model.norm.weight').length, 128);

    ck.expectShape('model.layers.0.mlp.gate.weight', [8, 64]);
    const e = expectInputError(
      () => ck.expectShape('model.layers.0.mlp.gate.weight', [16, 64]),
      file,
      'tensor model.layers.0.mlp.gate.weight has shape [8, 64] but config.json implies [16, 64]',
    );
    assert.ok(e.message.includes('model.safetensors'));
    expectInputError(() => ck.expectShape('model.norm.weight', [64, 1]), file, 'has shape [64] but config.json implies [64, 1]');

    expectInputError(
      () => ck.require('model.layers.0.self_attn.q_proj.weight', 'layer 0 attention'),
      file,
      'missing tensor model.layers.0.self_attn.q_proj.weight (needed for layer 0 attention)',
    );
    expectInputError(() => ck.readF32('nope'), file, 'missing tensor nope');
    expectInputError(() => ck.expectShape('nope', [1]), file, 'missing tensor nope');
    assert.equal(ck.require('model.norm.weight').dtype, 'BF16');
  } finally {
    ck.close();
  }
});

test('sharded checkpoint via model.safetensors.index.json, FP8 scale in another shard', () => {
  const dir = newDir('sharded');
  const R = 200;
  const C = 300;
  const w = ramp(R * C, 1e-4);
  const q = quantizeFp8Blocks(w, [R, C]);
  const tensors: Record<string, WriterTensor> = {
    'model.embed_tokens.weight': { dtype: 'BF16', shape: [16, 64], data: ramp(16 * 64, 1 / 256) },
    'model.layers.0.mlp.down_proj.weight': { dtype: 'F8_E4M3', shape: [R, C], data: q.codes },
    'model.layers.0.mlp.down_proj.weight_scale_inv': { dtype: 'F32', shape: q.scaleShape, data: q.scaleInv },
    'model.norm.weight': { dtype: 'BF16', shape: [64], data: ramp(64, 1 / 64, 1) },
  };
  const config = { ...CONFIG, quantization_config: { quant_method: 'fp8', activation_scheme: 'dynamic', fmt: 'e4m3', weight_block_size: [128, 128] } };
  const shards = writeShardedCheckpoint(dir, config, tensors, 2048);
  assert.deepEqual(shards, [
    'model-00001-of-00003.safetensors',
    'model-00002-of-00003.safetensors',
    'model-00003-of-00003.safetensors',
  ]);
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
  assert.equal(index.weight_map['model.layers.0.mlp.down_proj.weight'], 'model-00002-of-00003.safetensors');
  assert.equal(index.weight_map['model.layers.0.mlp.down_proj.weight_scale_inv'], 'model-00003-of-00003.safetensors');

  const ck = Checkpoint.open(dir);
  try {
    assert.equal(ck.indexPath, path.join(dir, 'model.safetensors.index.json'));
    assert.deepEqual(ck.weightFiles, shards.map((s) => path.join(dir, s)));
    assert.deepEqual(ck.fp8BlockSize, [128, 128]);
    assert.equal(ck.dtypeSummary(), 'BF16+F8_E4M3');
    assert.equal(ck.info('model.norm.weight').file, path.join(dir, shards[2]!));
    const deq = ck.readF32('model.layers.0.mlp.down_proj.weight');
    assert.equal(deq.length, R * C);
    for (const [r, c] of [[0, 0], [127, 127], [128, 0], [0, 128], [199, 299], [150, 260]] as const) {
      const i = r * C + c;
      const s = q.scaleInv[Math.floor(r / 128) * 3 + Math.floor(c / 128)]!;
      assert.equal(deq[i], Math.fround(decodeFp8E4M3(q.codes[i]!) * s), `[${r}, ${c}]`);
      assert.ok(Math.abs(deq[i]! - w[i]!) <= Math.abs(w[i]!) / 16 + 1e-9);
    }
    assert.deepEqual(ck.info('model.layers.0.mlp.down_proj.weight').shape, [R, C]);
    // Missing tensors name the index.
    expectInputError(() => ck.require('lm_head.weight', 'the output head'), ck.indexPath!, 'missing tensor lm_head.weight (needed for the output head)');
  } finally {
    ck.close();
  }

  // weight_block_size from config.json is honoured: with [64, 64] the scale shape is wrong.
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, quantization_config: { quant_method: 'fp8', weight_block_size: [64, 64] } }));
  const ck2 = Checkpoint.open(dir);
  try {
    assert.deepEqual(ck2.fp8BlockSize, [64, 64]);
    expectInputError(
      () => ck2.readF32('model.layers.0.mlp.down_proj.weight'),
      path.join(dir, shards[2]!),
      'scale tensor model.layers.0.mlp.down_proj.weight_scale_inv has shape [2, 3]',
      'needs [4, 5]',
    );
  } finally {
    ck2.close();
  }
  // ...and the option overrides it.
  const ck3 = Checkpoint.open(dir, { fp8BlockSize: [128, 128] });
  try {
    assert.equal(ck3.readF32('model.layers.0.mlp.down_proj.weight').length, R * C);
  } finally {
    ck3.close();
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, quantization_config: { quant_method: 'fp8', weight_block_size: [128] } }));
  expectInputError(() => Checkpoint.open(dir), path.join(dir, 'config.json'), 'weight_block_size');
});

test('FP8 weight without its scale_inv names the tensor', () => {
  const dir = newDir('noscale');
  writeCheckpoint(dir, CONFIG, { 'x.weight': { dtype: 'F8_E4M3', shape: [2, 2], data: new Uint8Array([0x38, 0x40, 0, 0]) } });
  const ck = Checkpoint.open(dir);
  try {
    expectInputError(() => ck.readF32('x.weight'), path.join(dir, 'model.safetensors'), 'F8_E4M3 tensor x.weight', 'x.weight_scale_inv');
    assert.equal(ck.dtypeSummary(), 'F8_E4M3');
  } finally {
    ck.close();
  }
});

test('any *.safetensors files are used when there is no index or model.safetensors', () => {
  const dir = newDir('glob');
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(CONFIG));
  writeSafetensors(path.join(dir, 'b.safetensors'), { y: { dtype: 'F32', shape: [2], data: new Float32Array([3, 4]) } });
  writeSafetensors(path.join(dir, 'a.safetensors'), { x: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
  const ck = Checkpoint.open(dir);
  try {
    assert.deepEqual(ck.weightFiles, [path.join(dir, 'a.safetensors'), path.join(dir, 'b.safetensors')]);
    assert.deepEqual([...ck.readF32('y')], [3, 4]);
    expectInputError(() => ck.require('z'), dir, 'missing tensor z');
  } finally {
    ck.close();
  }
  writeSafetensors(path.join(dir, 'c.safetensors'), { x: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
  expectInputError(() => Checkpoint.open(dir), path.join(dir, 'c.safetensors'), 'tensor x is also in a.safetensors');
});

test('bad checkpoint directories give EngineInputError naming the file and the problem', () => {
  // Missing dir.
  const missing = path.join(tmp, 'does-not-exist');
  expectInputError(() => Checkpoint.open(missing), missing, 'does not exist');

  // A file instead of a dir.
  const file = path.join(tmp, 'a-file');
  fs.writeFileSync(file, 'x');
  expectInputError(() => Checkpoint.open(file), file, 'not a checkpoint directory');

  // Missing config.json.
  const noConfig = newDir('noconfig');
  writeSafetensors(path.join(noConfig, 'model.safetensors'), { x: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
  expectInputError(() => Checkpoint.open(noConfig), path.join(noConfig, 'config.json'), 'file not found', 'config.json');

  // Invalid config.json (the parse problem is reported).
  const badConfig = newDir('badconfig');
  fs.writeFileSync(path.join(badConfig, 'config.json'), '{"hidden_size": 64,,}');
  const e = expectInputError(() => Checkpoint.open(badConfig), path.join(badConfig, 'config.json'), 'invalid JSON');
  assert.match(e.problem, /invalid JSON: .*(position|Unexpected|Expected)/);

  // config.json not an object.
  const arrConfig = newDir('arrconfig');
  fs.writeFileSync(path.join(arrConfig, 'config.json'), '[1, 2]');
  expectInputError(() => Checkpoint.open(arrConfig), path.join(arrConfig, 'config.json'), 'expected a JSON object', 'array');

  // No safetensors.
  const noWeights = newDir('noweights');
  fs.writeFileSync(path.join(noWeights, 'config.json'), JSON.stringify(CONFIG));
  fs.writeFileSync(path.join(noWeights, 'pytorch_model.bin'), 'x');
  expectInputError(() => Checkpoint.open(noWeights), noWeights, 'no model weights', 'model.safetensors', 'pytorch_model.bin');

  // Weight-file problems surface with the weight file's path.
  const cases: Array<[string, Buffer, string[]]> = [];
  cases.push(['truncated', Buffer.from([1, 2, 3, 4]), ['4 bytes', 'too short']]);
  const beyond = Buffer.alloc(12);
  beyond.writeBigUInt64LE(4096n);
  cases.push(['beyond', beyond, ['header length 4096 exceeds the file size of 12 bytes']]);
  const hdr = (text: string, data = Buffer.alloc(0)) => {
    const h = Buffer.from(text);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    return Buffer.concat([len, h, data]);
  };
  cases.push(['corrupt', hdr('{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]'), ['header is not valid JSON']]);
  cases.push(['offsets', hdr('{"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}', Buffer.alloc(4)), ['tensor x', 'data_offsets [0, 16]', 'past the end']]);
  cases.push(['f64', hdr('{"x": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}', Buffer.alloc(8)), ['tensor x', 'unsupported dtype F64', 'supported:']]);
  cases.push(['c64', hdr('{"x": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}', Buffer.alloc(8)), ['tensor x', 'unsupported dtype C64']]);
  for (const [name, bytes, parts] of cases) {
    const d = newDir(name);
    fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(CONFIG));
    fs.writeFileSync(path.join(d, 'model.safetensors'), bytes);
    expectInputError(() => Checkpoint.open(d), path.join(d, 'model.safetensors'), ...parts);
  }
});

test('sharded checkpoint errors: missing shard, malformed index, tensor not in its shard', () => {
  const dir = newDir('badshards');
  const shards = writeShardedCheckpoint(dir, CONFIG, tinyTensors(), 4096);
  assert.ok(shards.length >= 2);
  const indexPath = path.join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));

  const gone = path.join(dir, shards[1]!);
  const saved = fs.readFileSync(gone);
  fs.rmSync(gone);
  expectInputError(() => Checkpoint.open(dir), gone, 'shard file not found', 'model.safetensors.index.json');
  fs.writeFileSync(gone, saved);

  fs.writeFileSync(indexPath, '{"weight_map": ');
  expectInputError(() => Checkpoint.open(dir), indexPath, 'invalid JSON');
  fs.writeFileSync(indexPath, JSON.stringify({ metadata: {} }));
  expectInputError(() => Checkpoint.open(dir), indexPath, '"weight_map"');
  fs.writeFileSync(indexPath, JSON.stringify({ weight_map: { 'model.norm.weight': 7 } }));
  expectInputError(() => Checkpoint.open(dir), indexPath, 'weight_map entry for model.norm.weight');
  fs.writeFileSync(indexPath, JSON.stringify({ weight_map: { 'model.norm.weight': '../x.safetensors' } }));
  expectInputError(() => Checkpoint.open(dir), indexPath, 'weight_map entry for model.norm.weight');
  fs.writeFileSync(indexPath, JSON.stringify({ weight_map: { ...index.weight_map, ghost: shards[0] } }));
  expectInputError(() => Checkpoint.open(dir), path.join(dir, shards[0]!), 'missing tensor ghost', 'model.safetensors.index.json');

  fs.writeFileSync(indexPath, JSON.stringify(index));
  const ck = Checkpoint.open(dir);
  ck.close();
});

test('contentKey: stable, sensitive to one byte, memoised in the side-cache', async () => {
  const dir = newDir('hash');
  const cacheDir = path.join(tmp, `${counter++}-cache`);
  const shards = writeShardedCheckpoint(dir, CONFIG, tinyTensors(), 4096);
  backdate(dir);

  let calls = 0;
  let lastDone = 0;
  let lastTotal = 0;
  const ck = Checkpoint.open(dir, { cacheDir });
  const k1 = await ck.contentKey({
    onProgress: (done, total) => {
      calls++;
      assert.ok(done >= lastDone && done <= total);
      lastDone = done;
      lastTotal = total;
    },
  });
  ck.close();
  assert.match(k1, /^[0-9a-f]{64}$/);
  assert.ok(calls > 0);
  const allBytes = fs.readdirSync(dir).reduce((s, n) => s + fs.statSync(path.join(dir, n)).size, 0);
  assert.equal(lastTotal, allBytes);
  assert.equal(lastDone, allBytes);
  assert.ok(fs.existsSync(path.join(cacheDir, 'content-hashes.json')));

  // Second call (new instance): same key, served from the side-cache (no hashing, no progress).
  const ck2 = Checkpoint.open(dir);
  const k2 = await ck2.contentKey({ cacheDir, onProgress: () => assert.fail('should hit the cache') });
  ck2.close();
  assert.equal(k2, k1);

  // Without the cache: same key again.
  const k3 = await keyOf(dir, { cacheDir: path.join(tmp, `${counter++}-fresh-cache`) });
  assert.equal(k3, k1);

  // Change one byte of one weight (same size); give it a new, old-enough mtime.
  const shard = path.join(dir, shards[shards.length - 1]!);
  const bytes = fs.readFileSync(shard);
  bytes[bytes.length - 1] ^= 1;
  fs.writeFileSync(shard, bytes);
  const t = Date.now() / 1000 - 60;
  fs.utimesSync(shard, t, t);
  let hashed = 0;
  const k4 = await keyOf(dir, { cacheDir, onProgress: (_d, total) => (hashed = total) });
  assert.notEqual(k4, k1);
  assert.equal(hashed, bytes.length); // only the changed shard was re-hashed

  // config.json is part of the key too.
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...CONFIG, hidden_size: 65 }));
  const k5 = await keyOf(dir, { cacheDir });
  assert.notEqual(k5, k4);

  // A corrupt side-cache is ignored.
  fs.writeFileSync(path.join(cacheDir, 'content-hashes.json'), '{nope');
  const k6 = await keyOf(dir, { cacheDir });
  assert.equal(k6, k5);
});

test('contentKey does not cache a file written moments ago (racy mtime)', async () => {
  const dir = newDir('racy');
  const cacheDir = path.join(tmp, `${counter++}-cache`);
  writeCheckpoint(dir, CONFIG, tinyTensors());
  const k1 = await keyOf(dir, { cacheDir });
  let calls = 0;
  const k2 = await keyOf(dir, { cacheDir, onProgress: () => calls++ });
  assert.equal(k2, k1);
  assert.ok(calls > 0, 'fresh files are re-hashed rather than trusted by mtime');
});

test('default cache dir honours XDG_CACHE_HOME', async () => {
  const { defaultCacheDir } = await import('../../../engine/checkpoint/checkpoint.ts');
  const saved = process.env.XDG_CACHE_HOME;
  try {
    process.env.XDG_CACHE_HOME = '/x/cache';
    assert.equal(defaultCacheDir(), '/x/cache/switchyard');
    delete process.env.XDG_CACHE_HOME;
    assert.equal(defaultCacheDir(), path.join(os.homedir(), '.cache', 'switchyard'));
  } finally {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
  }
});
