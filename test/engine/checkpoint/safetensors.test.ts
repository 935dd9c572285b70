import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineInputError } from '../../../engine/errors.ts';
import {
  SafetensorsFile,
  decodeBF16,
  decodeF16,
  decodeFp8E4M3,
  dequantizeFp8Blocks,
} from '../../../engine/checkpoint/safetensors.ts';
import {
  encodeBF16,
  encodeF16,
  encodeFp8E4M3,
  quantizeFp8Blocks,
  writeSafetensors,
} from '../../../engine/checkpoint/safetensors-writer.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-st-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const tmpFile = (name = 'x') => path.join(tmp, `${counter++}-${name}.safetensors`);

/** Write a file from a raw header object (for malformed inputs). */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerText?: string): string {
  const p = tmpFile('raw');
  const h = Buffer.from(headerText ?? JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  fs.writeFileSync(p, Buffer.concat([len, h, data]));
  return p;
}

function expectInputError(fn: () => unknown, file: string, ...parts: Array<string | RegExp>): EngineInputError {
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
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(caught.message.includes(p), `"${caught.message}" should mention "${p}"`);
    else assert.match(caught.message, p);
  }
  return caught;
}

const f32 = (xs: number[]) => new Float32Array(xs);
const bitsOf = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0]!;
function assertSameF32(actual: Float32Array, expected: Float32Array): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e)) assert.ok(Number.isNaN(a), `[${i}] expected NaN, got ${a}`);
    else assert.equal(bitsOf(a), bitsOf(e), `[${i}] expected ${e} (bits ${bitsOf(e).toString(16)}), got ${a}`);
  }
}

test('F32 round-trips bit-exactly, metadata and info', () => {
  const vals = f32([0, -0, 1, -2.5, 1e-45, -1.1754942e-38, 3.4028235e38, Infinity, -Infinity, NaN, Math.PI]);
  const p = tmpFile();
  writeSafetensors(p, { a: { dtype: 'F32', shape: [11], data: vals }, b: { dtype: 'F32', shape: [2, 0], data: f32([]) } }, { format: 'pt' });
  const f = SafetensorsFile.open(p);
  try {
    assert.deepEqual(f.names(), ['a', 'b']);
    assert.deepEqual(f.metadata, { format: 'pt' });
    assertSameF32(f.readF32('a'), vals);
    assert.equal(f.readF32('b').length, 0);
    const info = f.info('a');
    assert.equal(info.dtype, 'F32');
    assert.deepEqual(info.shape, [11]);
    assert.equal(info.byteLength, 44);
    assert.equal(info.file, p);
    assert.equal(f.headerLength % 8, 0);
    assert.equal(info.byteOffset, 8 + f.headerLength);
    // Raw bytes at the absolute offset equal the file's bytes.
    const file = fs.readFileSync(p);
    assert.deepEqual(Buffer.from(f.readBytes('a')), file.subarray(info.byteOffset, info.byteOffset + 44));
  } finally {
    f.close();
  }
});

test('F16 decode is exact: subnormals, inf, nan, -0', () => {
  assert.equal(decodeF16(0x3c00), 1);
  assert.equal(decodeF16(0xc000), -2);
  assert.equal(decodeF16(0x7bff), 65504);
  assert.equal(decodeF16(0x0001), 2 ** -24); // smallest subnormal
  assert.equal(decodeF16(0x03ff), 1023 * 2 ** -24); // largest subnormal
  assert.equal(decodeF16(0x0400), 2 ** -14); // smallest normal
  assert.equal(decodeF16(0x7c00), Infinity);
  assert.equal(decodeF16(0xfc00), -Infinity);
  assert.ok(Number.isNaN(decodeF16(0x7e00)));
  assert.ok(Object.is(decodeF16(0x8000), -0));
  assert.equal(decodeF16(0x3555), 0.333251953125);
});

test('F16 encode rounds to nearest even and round-trips every finite half through the file', () => {
  assert.equal(encodeF16(1), 0x3c00);
  assert.equal(encodeF16(65504), 0x7bff);
  assert.equal(encodeF16(65520), 0x7c00); // halfway to the next (inf) rounds to even = inf
  assert.equal(encodeF16(65519), 0x7bff);
  assert.equal(encodeF16(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal -> even (0)
  assert.equal(encodeF16(3 * 2 ** -25), 0x0002); // tie between 1 and 2 -> 2
  assert.equal(encodeF16(1 + 2 ** -11), 0x3c00); // tie -> even
  assert.equal(encodeF16(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(encodeF16(-0), 0x8000);
  assert.equal(encodeF16(NaN) & 0x7e00, 0x7e00);
  // Every f16 bit pattern -> f32 -> file -> read: same values.
  const all = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) all[h] = decodeF16(h);
  const p = tmpFile();
  writeSafetensors(p, { h: { dtype: 'F16', shape: [256, 256], data: all } });
  const f = SafetensorsFile.open(p);
  try {
    const back = f.readF32('h');
    assertSameF32(back, all);
    const raw = new Uint16Array(f.readBytes('h').buffer);
    for (let h = 0; h < 65536; h++) {
      if (!Number.isNaN(all[h]!)) assert.equal(raw[h], h);
    }
  } finally {
    f.close();
  }
});

test('BF16 round-trip is exact, encode rounds to nearest even', () => {
  assert.equal(decodeBF16(0x3f80), 1);
  assert.equal(decodeBF16(0x0001), 2 ** -133); // subnormal
  assert.equal(decodeBF16(0x7f80), Infinity);
  assert.equal(decodeBF16(0xff80), -Infinity);
  assert.ok(Number.isNaN(decodeBF16(0x7fc0)));
  assert.ok(Object.is(decodeBF16(0x8000), -0));
  assert.equal(encodeBF16(1 + 2 ** -8), 0x3f80); // tie -> even
  assert.equal(encodeBF16(1 + 3 * 2 ** -8), 0x3f82); // tie -> even (up)
  assert.equal(encodeBF16(1 + 2 ** -8 + 2 ** -20), 0x3f81);
  assert.equal(encodeBF16(3.4028235e38), 0x7f80); // rounds to inf
  const vals = f32([0, -0, 1, -1.5, 2 ** -133, -(2 ** -126), Infinity, -Infinity, NaN, 3.140625, 1e30]);
  const expected = new Float32Array(vals.length);
  for (let i = 0; i < vals.length; i++) expected[i] = decodeBF16(encodeBF16(vals[i]!));
  const p = tmpFile();
  writeSafetensors(p, { b: { dtype: 'BF16', shape: [vals.length], data: vals } });
  const f = SafetensorsFile.open(p);
  try {
    const back = f.readF32('b');
    assertSameF32(back, expected);
    assert.ok(Object.is(back[1], -0));
    assert.equal(back[4], 2 ** -133);
    assert.equal(back[9], 3.140625);
  } finally {
    f.close();
  }
});

test('F8_E4M3 (e4m3fn) decode table', () => {
  assert.equal(decodeFp8E4M3(0x7e), 448);
  assert.equal(decodeFp8E4M3(0xfe), -448);
  assert.equal(decodeFp8E4M3(0x01), 2 ** -9);
  assert.equal(decodeFp8E4M3(0x07), 7 * 2 ** -9);
  assert.equal(decodeFp8E4M3(0x08), 2 ** -6);
  assert.equal(decodeFp8E4M3(0x38), 1);
  assert.equal(decodeFp8E4M3(0x39), 1.125);
  assert.equal(decodeFp8E4M3(0x40), 2);
  assert.equal(decodeFp8E4M3(0x77), 240);
  assert.equal(decodeFp8E4M3(0x78), 256);
  assert.equal(decodeFp8E4M3(0x00), 0);
  assert.ok(Object.is(decodeFp8E4M3(0x80), -0));
  assert.ok(Number.isNaN(decodeFp8E4M3(0x7f)));
  assert.ok(Number.isNaN(decodeFp8E4M3(0xff)));
  // Encoder is the inverse on all non-NaN codes, and rounds to nearest even.
  for (let c = 0; c < 256; c++) {
    if ((c & 0x7f) === 0x7f) continue;
    assert.equal(encodeFp8E4M3(decodeFp8E4M3(c)), c, `code ${c.toString(16)}`);
  }
  assert.equal(encodeFp8E4M3(1.0625), 0x38); // tie between 1 and 1.125 -> even (1)
  assert.equal(encodeFp8E4M3(1.1875), 0x3a); // tie between 1.125 and 1.25 -> even (1.25)
  assert.equal(encodeFp8E4M3(2 ** -10), 0x00); // tie between 0 and 2^-9 -> 0
  assert.equal(encodeFp8E4M3(1000), 0x7e); // saturates
  assert.equal(encodeFp8E4M3(-Infinity), 0xff); // NaN
});

test('F8_E4M3 block-scaled dequantisation (DeepSeek-V3 weight_dequant semantics)', () => {
  // 3 x 5 weight with 2 x 2 blocks -> scale shape [2, 3]; codes chosen directly.
  const rows = 3;
  const cols = 5;
  const codes = new Uint8Array(rows * cols);
  for (let i = 0; i < codes.length; i++) codes[i] = [0x38, 0x40, 0xb8, 0x01, 0x7e][i % 5]!;
  const scale = f32([0.5, 2, 0.25, 4, 8, 0.125]);
  const out = dequantizeFp8Blocks(codes, [rows, cols], scale, [2, 2]);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const s = scale[Math.floor(r / 2) * 3 + Math.floor(c / 2)]!;
      assert.equal(out[r * cols + c], Math.fround(decodeFp8E4M3(codes[r * cols + c]!) * s));
    }
  }
  // Non-square blocks [2, 3]: scale shape [2, 2], rows index by bR and columns by bC.
  const scale2 = f32([1, 2, 4, 8]);
  const out2 = dequantizeFp8Blocks(codes, [rows, cols], scale2, [2, 3]);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const s = scale2[Math.floor(r / 2) * 2 + Math.floor(c / 3)]!;
      assert.equal(out2[r * cols + c], Math.fround(decodeFp8E4M3(codes[r * cols + c]!) * s), `[${r}, ${c}]`);
    }
  }
  // Through a file, with the default 128 block: 130 x 260 -> scale [2, 3].
  const R = 130;
  const C = 260;
  const w = new Float32Array(R * C);
  for (let i = 0; i < w.length; i++) w[i] = Math.sin(i * 0.37) * (1 + (i % 7)) * 0.01;
  const q = quantizeFp8Blocks(w, [R, C]);
  assert.deepEqual(q.scaleShape, [2, 3]);
  const p = tmpFile('fp8');
  writeSafetensors(p, {
    'l.weight': { dtype: 'F8_E4M3', shape: [R, C], data: q.codes },
    'l.weight_scale_inv': { dtype: 'F32', shape: [2, 3], data: q.scaleInv },
    'bad.weight': { dtype: 'F8_E4M3', shape: [R, C], data: q.codes },
    'bad.weight_scale_inv': { dtype: 'F32', shape: [1, 3], data: q.scaleInv.subarray(0, 3) },
    'lonely.weight': { dtype: 'F8_E4M3', shape: [2, 2], data: new Uint8Array(4) },
  });
  const f = SafetensorsFile.open(p);
  try {
    const deq = f.readF32('l.weight');
    let maxRel = 0;
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) {
        const i = r * C + c;
        const s = q.scaleInv[Math.floor(r / 128) * 3 + Math.floor(c / 128)]!;
        assert.equal(deq[i], Math.fround(decodeFp8E4M3(q.codes[i]!) * s));
        if (Math.abs(w[i]!) > 1e-3) maxRel = Math.max(maxRel, Math.abs(deq[i]! - w[i]!) / Math.abs(w[i]!));
      }
    }
    assert.ok(maxRel <= 1 / 16 + 1e-6, `e4m3 relative error ${maxRel}`);
    expectInputError(() => f.readF32('bad.weight'), p, 'bad.weight_scale_inv', '[1, 3]', '[2, 3]');
    expectInputError(() => f.readF32('lonely.weight'), p, 'lonely.weight', 'lonely.weight_scale_inv');
    // Other block sizes (config quantization_config.weight_block_size).
    const small = f.readF32('lonely.weight', {
      blockSize: [1, 1],
      scaleInv: { data: f32([1, 1, 1, 1]), shape: [2, 2], file: p, name: 'x' },
    });
    assert.deepEqual([...small], [0, 0, 0, 0]);
  } finally {
    f.close();
  }
});

test('integer dtypes read raw', () => {
  const p = tmpFile();
  const i64 = new BigInt64Array([1n, -2n, 2n ** 40n]);
  const i32 = new Int32Array([7, -8]);
  writeSafetensors(p, {
    a: { dtype: 'I64', shape: [3], data: new Uint8Array(i64.buffer) },
    b: { dtype: 'I32', shape: [2], data: new Uint8Array(i32.buffer) },
    c: { dtype: 'U8', shape: [2], data: new Uint8Array([200, 3]) },
    d: { dtype: 'I8', shape: [2], data: new Uint8Array([255, 3]) },
  });
  const f = SafetensorsFile.open(p);
  try {
    assert.deepEqual([...f.readI64('a')], [1n, -2n, 2n ** 40n]);
    assert.deepEqual([...f.readI32('b')], [7, -8]);
    assert.deepEqual([...f.readU8('c')], [200, 3]);
    assert.deepEqual([...f.readI8('d')], [-1, 3]);
    expectInputError(() => f.readF32('a'), p, 'tensor a', 'I64');
    expectInputError(() => f.readI32('a'), p, 'tensor a', 'I64', 'I32');
  } finally {
    f.close();
  }
});

test('bad files give EngineInputError naming the file and the problem', () => {
  // Missing file.
  const missing = path.join(tmp, 'nope.safetensors');
  expectInputError(() => SafetensorsFile.open(missing), missing, 'not found');

  // Shorter than 8 bytes.
  const short = tmpFile('short');
  fs.writeFileSync(short, Buffer.from([1, 2, 3]));
  expectInputError(() => SafetensorsFile.open(short), short, '3 bytes', 'too short');

  // Header length beyond EOF.
  const beyond = tmpFile('beyond');
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(1000n);
  fs.writeFileSync(beyond, b);
  expectInputError(() => SafetensorsFile.open(beyond), beyond, 'header length 1000', 'exceeds the file size of 16 bytes');
  const huge = tmpFile('huge');
  const hb = Buffer.alloc(16);
  hb.writeBigUInt64LE(0xffffffffffffffffn);
  fs.writeFileSync(huge, hb);
  expectInputError(() => SafetensorsFile.open(huge), huge, 'exceeds the file size');

  // Git LFS pointer.
  const lfs = tmpFile('lfs');
  fs.writeFileSync(lfs, 'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n');
  expectInputError(() => SafetensorsFile.open(lfs), lfs, 'Git LFS pointer');

  // Corrupt JSON / not an object.
  const bad = rawFile(null, undefined, '{"a": {"dtype": "F32", ');
  expectInputError(() => SafetensorsFile.open(bad), bad, 'header is not valid JSON');
  const arr = rawFile([1, 2]);
  expectInputError(() => SafetensorsFile.open(arr), arr, 'must be a JSON object', 'array');

  // Entry missing fields / wrong types.
  const noDtype = rawFile({ w: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4));
  expectInputError(() => SafetensorsFile.open(noDtype), noDtype, 'tensor w', 'missing "dtype"');
  const noShape = rawFile({ w: { dtype: 'F32', data_offsets: [0, 4] } }, new Uint8Array(4));
  expectInputError(() => SafetensorsFile.open(noShape), noShape, 'tensor w', 'missing "shape"');
  const noOffsets = rawFile({ w: { dtype: 'F32', shape: [1] } }, new Uint8Array(4));
  expectInputError(() => SafetensorsFile.open(noOffsets), noOffsets, 'tensor w', 'missing "data_offsets"');
  const badShape = rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4));
  expectInputError(() => SafetensorsFile.open(badShape), badShape, 'tensor w', '"shape"');
  const notObj = rawFile({ w: 5 });
  expectInputError(() => SafetensorsFile.open(notObj), notObj, 'tensor w', 'must be an object');

  // data_offsets beyond the file / not matching dtype x shape / reversed.
  const past = rawFile({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8));
  expectInputError(() => SafetensorsFile.open(past), past, 'tensor w', 'data_offsets [0, 16]', 'past the end', '8 bytes');
  const wrongSize = rawFile({ w: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 8] } }, new Uint8Array(8));
  expectInputError(() => SafetensorsFile.open(wrongSize), wrongSize, 'tensor w', 'span 8 bytes', 'BF16 [2, 3] needs 12');
  const reversed = rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, new Uint8Array(8));
  expectInputError(() => SafetensorsFile.open(reversed), reversed, 'tensor w', 'begin after end');

  // Unsupported dtypes.
  for (const dtype of ['F64', 'C64', 'F8_E5M2', 'BOOL']) {
    const p = rawFile({ __metadata__: { format: 'pt' }, 'x.weight': { dtype, shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    expectInputError(() => SafetensorsFile.open(p), p, 'tensor x.weight', `unsupported dtype ${dtype}`, 'supported: F32, F16, BF16, F8_E4M3');
  }

  // Metadata must be an object.
  const meta = rawFile({ __metadata__: 'x' });
  expectInputError(() => SafetensorsFile.open(meta), meta, '__metadata__');

  // A file truncated after open (data vanished) is reported on read, not as a crash.
  const trunc = tmpFile('trunc');
  writeSafetensors(trunc, { w: { dtype: 'F32', shape: [4], data: f32([1, 2, 3, 4]) } });
  const f = SafetensorsFile.open(trunc);
  try {
    fs.truncateSync(trunc, fs.statSync(trunc).size - 4);
    expectInputError(() => f.readF32('w'), trunc, 'unexpected end of file', 'tensor w');
    expectInputError(() => f.readF32('nope'), trunc, 'missing tensor nope');
  } finally {
    f.close();
  }
});

test('large BF16 tensor is converted in chunks', () => {
  const n = (8 << 20) / 2 + 12345; // more than one 8 MiB read chunk
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) bits[i] = (Math.imul(i, 2654435761) & 0x7f7f) << 16;
  const data = new Float32Array(bits.buffer);
  const p = tmpFile('big');
  writeSafetensors(p, { big: { dtype: 'BF16', shape: [n], data } });
  const f = SafetensorsFile.open(p);
  try {
    const back = f.readF32('big');
    assert.equal(back.length, n);
    for (let i = 0; i < n; i += 997) assert.equal(back[i], data[i]);
    assert.equal(back[n - 1], data[n - 1]);
  } finally {
    f.close();
  }
});

test('lazily produced tensors are written like eager ones, one at a time, and checked', () => {
  const eager = tmpFile();
  const lazy = tmpFile();
  const a = f32([1, 2, 3, 4]);
  const b = f32([0.5, -0.25]);
  writeSafetensors(eager, { a: { dtype: 'BF16', shape: [4], data: a }, b: { dtype: 'F32', shape: [2], data: b } });
  const produced: string[] = [];
  writeSafetensors(lazy, {
    a: { dtype: 'BF16', shape: [4], data: () => (produced.push('a'), a) },
    b: { dtype: 'F32', shape: [2], data: () => (produced.push('b'), b) },
  });
  assert.deepEqual(produced, ['a', 'b']);
  assert.deepEqual(fs.readFileSync(lazy), fs.readFileSync(eager));
  assert.throws(() => writeSafetensors(tmpFile(), { c: { dtype: 'F32', shape: [3], data: () => f32([1]) } }), /1 values for shape \[3\]/);
});
