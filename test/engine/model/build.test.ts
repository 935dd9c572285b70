/**
 * The on-disk build cache: keyed by checkpoint content and options, progress while building, a second
 * load skips the build, and a damaged cache entry is rebuilt rather than trusted.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checkpoint } from '../../../engine/checkpoint/checkpoint.ts';
import { buildModel, type BuildProgress } from '../../../engine/model/build.ts';
import { sharedDir } from '../../helpers/paths.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-build-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function copyCase(name: string): string {
  const dir = path.join(tmp, `ckpt-${name}-${Math.random().toString(36).slice(2)}`);
  fs.mkdirSync(dir);
  // Settled files (a minute old): the hash side-cache ignores files modified in the last seconds.
  const settled = new Date(Date.now() - 60_000);
  for (const f of ['config.json', 'model.safetensors']) {
    fs.copyFileSync(path.join(sharedDir(), 'oracle', name, f), path.join(dir, f));
    fs.utimesSync(path.join(dir, f), settled, settled);
  }
  return dir;
}

async function build(dir: string, cacheDir: string, quant: 'none' | 'int8' | 'int4' = 'none') {
  const events: BuildProgress[] = [];
  const ckpt = Checkpoint.open(dir);
  try {
    const built = await buildModel(ckpt, { quant, cacheDir, onProgress: (p) => events.push(p) });
    return { built, events };
  } finally {
    ckpt.close();
  }
}

describe('build cache', () => {
  test('first load builds with progress per layer; the second load skips the build', async () => {
    const dir = copyCase('deepseek_v2_lite');
    const cacheDir = path.join(tmp, 'c1');
    const first = await build(dir, cacheDir);
    assert.equal(first.built.fromCache, false);
    const layers = first.events.filter((e) => e.phase === 'building');
    assert.ok(layers.length >= 3, 'one event per layer at least');
    assert.deepEqual(
      layers.map((e) => e.done),
      [...layers.map((e) => e.done)].sort((a, b) => a - b),
      'progress only moves forward',
    );
    assert.equal(layers.at(-1)!.done, layers.at(-1)!.total);
    assert.equal(first.events.at(-1)!.phase, 'done');
    assert.ok(fs.existsSync(first.built.modelPath));
    assert.ok(fs.existsSync(`${first.built.modelPath}.data`), 'weights live in an external .data file');

    const second = await build(dir, cacheDir);
    assert.equal(second.built.fromCache, true);
    assert.equal(second.built.key, first.built.key);
    assert.ok(!second.events.some((e) => e.phase === 'building' || e.phase === 'hashing'), 'no rebuild, no re-hash');
  });

  test('the key follows the options and the checkpoint content', async () => {
    const dir = copyCase('deepseek_v2_lite');
    const cacheDir = path.join(tmp, 'c2');
    const a = (await build(dir, cacheDir, 'none')).built;
    const b = (await build(dir, cacheDir, 'int8')).built;
    assert.notEqual(a.key, b.key);
    assert.equal(b.fromCache, false);
    // Same bytes elsewhere: same key, served from the cache.
    const twin = copyCase('deepseek_v2_lite');
    const c = (await build(twin, cacheDir, 'none')).built;
    assert.equal(c.key, a.key);
    assert.equal(c.fromCache, true);
    // One changed byte in the weights: a new key and a fresh build.
    const file = path.join(twin, 'model.safetensors');
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 3] ^= 0x01;
    fs.writeFileSync(file, bytes);
    const d = (await build(twin, cacheDir, 'none')).built;
    assert.notEqual(d.key, a.key);
    assert.equal(d.fromCache, false);
  });

  test('a damaged cache entry is rebuilt, not trusted', async () => {
    const dir = copyCase('deepseek_v2_lite');
    const cacheDir = path.join(tmp, 'c3');
    const a = (await build(dir, cacheDir)).built;
    fs.writeFileSync(path.join(a.dir, 'manifest.json'), '{ not json');
    const b = (await build(dir, cacheDir)).built;
    assert.equal(b.fromCache, false);
    fs.truncateSync(`${b.modelPath}.data`, 100);
    const c = (await build(dir, cacheDir)).built;
    assert.equal(c.fromCache, false);
    assert.equal((await build(dir, cacheDir)).built.fromCache, true);
  });

  test('a failed build leaves no half-written entry behind', async () => {
    const dir = copyCase('deepseek_v2_lite');
    const cacheDir = path.join(tmp, 'c4');
    // Drop the tail of the safetensors data: the header still parses, a late tensor read fails.
    const file = path.join(dir, 'model.safetensors');
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 64));
    await assert.rejects(build(dir, cacheDir), /model\.safetensors/);
    const models = path.join(cacheDir, 'models');
    const left = fs.existsSync(models) ? fs.readdirSync(models) : [];
    assert.deepEqual(left, []);
  });
});
