/**
 * Expert placement planned from config.json alone (placeFromSpec, what `info` prints): V4-Flash's
 * routed experts go to the GPU layer by layer while the budget lasts, the rest to the CPU, and a
 * long context's KV cache comes off the budget first. (The placement a built model actually runs
 * with, on lavapipe, is placement.test.ts.)
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { kvCacheBytesAt } from '../../../engine/model/info.ts';
import { specFromConfig } from '../../../engine/model/spec.ts';
import { BYTES_PER_WEIGHT, weightsBytes } from '../../../engine/runtime/memory.ts';
import { placeFromSpec } from '../../../engine/runtime/placement.ts';
import { repoDir } from '../../helpers/paths.ts';

const GiB = 1024 ** 3;
const configPath = path.join(repoDir(), 'test', 'fixtures', 'deepseek-v4-flash', 'config.json');
const config = JSON.parse(fs.readFileSync(configPath, 'utf8')) as Record<string, unknown>;
const src = { config, configPath };
const spec = specFromConfig(config, configPath);
const perLayer = 256 * 3 * 2048 * 4096 * BYTES_PER_WEIGHT.int4;
const rest = weightsBytes(spec, src, 'int4') - 43 * perLayer;

describe('V4-Flash expert placement from config.json', () => {
  test('a GPU short of the whole model takes the first layers that fit; the rest run on the CPU', () => {
    const budget = { bytes: 80 * GiB, source: 'setting' as const };
    const p = placeFromSpec(spec, src, 'int4', budget);
    const expected = Math.floor((80 * GiB * 0.8 - rest) / perLayer);
    assert.ok(expected > 0 && expected < 43, `fixture: ${expected} layers should fit`);
    assert.deepEqual(p.gpuLayers, Array.from({ length: expected }, (_, i) => i));
    assert.deepEqual(p.cpuLayers, Array.from({ length: 43 - expected }, (_, i) => expected + i));
    assert.equal(p.gpuExpertBytes + p.cpuExpertBytes, 43 * perLayer);
    assert.match(p.summary, new RegExp(`^routed experts of ${expected} of 43 MoE layers on the GPU \\(.* GiB\\), ${43 - expected} on the CPU \\(.* GiB\\); GPU budget 80\\.00 GiB`));
  });

  test('the KV cache of a 1M-token context is kept on the GPU first, so fewer expert layers fit', () => {
    const budget = { bytes: 80 * GiB, source: 'setting' as const };
    const kv = kvCacheBytesAt(spec, 1048576, 4);
    const short = placeFromSpec(spec, src, 'int4', budget).gpuLayers.length;
    const long = placeFromSpec(spec, src, 'int4', budget, kv).gpuLayers.length;
    assert.equal(long, Math.floor((80 * GiB * 0.8 - rest - kv) / perLayer));
    assert.ok(long < short);
  });

  test('a GPU too small for even attention and the shared experts says so', () => {
    const p = placeFromSpec(spec, src, 'int4', { bytes: 4 * GiB, source: 'adapter' });
    assert.deepEqual(p.gpuLayers, []);
    assert.equal(p.cpuLayers.length, 43);
    assert.match(p.summary, /routed experts of 0 of 43 MoE layers on the GPU .*; GPU budget 4\.00 GiB \(adapter memory\); the rest of the model \(.* GiB\) alone exceeds the GPU budget$/);
  });

  test('a GPU that holds it all keeps every layer there', () => {
    const p = placeFromSpec(spec, src, 'int4', { bytes: 512 * GiB, source: 'setting' });
    assert.equal(p.gpuLayers.length, 43);
    assert.match(p.summary, /^routed experts of all 43 MoE layers on the GPU/);
  });
});
