/**
 * Parameter counts from config.json alone (engine/model/params.ts) against real checkpoints: the
 * three tiny DeepSeek-V4 oracle checkpoints (float32, and the released FP8/FP4 layout), tensor by
 * tensor, and the value counts their READMEs state; then the released V4-Flash shape.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Checkpoint } from '../../../engine/checkpoint/checkpoint.ts';
import { isEngineInputError } from '../../../engine/errors.ts';
import { modelFacts } from '../../../engine/model/info.ts';
import { checkpointTensors, countParams, v4Tensors } from '../../../engine/model/params.ts';
import { specFromConfig } from '../../../engine/model/spec.ts';
import { repoDir, sharedDir } from '../../helpers/paths.ts';

const V4 = path.join(sharedDir(), 'oracle-v4');
const FLASH = path.join(repoDir(), 'test', 'fixtures', 'deepseek-v4-flash', 'config.json');

describe('DeepSeek-V4 parameters from config.json', () => {
  for (const name of ['deepseek_v4', 'deepseek_v4_long', 'deepseek_v4_fp8']) {
    test(`${name}: every tensor of the checkpoint, with its shape, and nothing else`, () => {
      const ckpt = Checkpoint.open(path.join(V4, name));
      try {
        const spec = specFromConfig(ckpt.config, ckpt.configPath);
        const fromConfig = new Map(v4Tensors(spec).map((t) => [t.name, t.shape.join('x')]));
        const fromFile = new Map(checkpointTensors(spec, ckpt).map((t) => [t.name, t.shape.join('x')]));
        assert.deepEqual([...fromConfig.keys()].sort(), [...fromFile.keys()].sort());
        for (const [n, s] of fromFile) assert.equal(fromConfig.get(n), s, n);
        const a = countParams(spec, v4Tensors(spec));
        assert.deepEqual(a, countParams(spec, checkpointTensors(spec, ckpt)));
        // The counts `info` reports the same whichever way it counts.
        const facts = modelFacts(spec, ckpt);
        const configOnly = modelFacts(spec, { config: ckpt.config, configPath: ckpt.configPath });
        assert.equal(facts.totalParams, configOnly.totalParams);
        assert.equal(facts.activeParams, configOnly.activeParams);
        assert.equal(facts.countedFrom, 'checkpoint');
        assert.equal(configOnly.countedFrom, 'config');
        assert.ok(a.active < a.total && a.routed > 0);
        // The README's own count of the float32 files' values (tid2eid included).
        const stated = /(\d+) tensors, (\d+) values/.exec(fs.readFileSync(path.join(V4, name, 'README.txt'), 'utf8'));
        if (stated) {
          assert.equal(fromFile.size, Number(stated[1]));
          assert.equal(a.total, Number(stated[2]));
        } else {
          // The FP8 case: its .scale tensors are not parameters, and FP4 experts count two per byte.
          assert.ok(ckpt.names().length > fromFile.size, 'the FP8 case has scale tensors to leave out');
          const w1 = ckpt.info('layers.2.ffn.experts.0.w1.weight');
          assert.equal(fromFile.get('layers.2.ffn.experts.0.w1.weight'), `${w1.shape[0]}x${2 * w1.shape[1]!}`);
        }
      } finally {
        ckpt.close();
      }
    });
  }

  test('V4-Flash (config.json only): about 284B total and 13B active', () => {
    const cfg = JSON.parse(fs.readFileSync(FLASH, 'utf8')) as Record<string, unknown>;
    const spec = specFromConfig(cfg, FLASH);
    assert.deepEqual(
      ['sliding', 'csa', 'hca'].map((t) => spec.v4!.layerTypes.filter((x) => x === t).length),
      [2, 21, 20],
    );
    const c = countParams(spec, v4Tensors(spec));
    // Routed experts: 43 layers x 256 experts x (w1, w2, w3) of 2048 x 4096.
    assert.equal(c.routed, 43 * 256 * 3 * 2048 * 4096);
    assert.ok(c.total > 283.5e9 && c.total < 285e9, `total ${c.total}`);
    const facts = modelFacts(spec, { config: cfg, configPath: FLASH });
    assert.equal(facts.totalParams, c.total);
    assert.ok(facts.activeParams > 13e9 && facts.activeParams < 14e9, `active ${facts.activeParams}`);
    assert.equal(facts.activeParams - facts.activeParamsExclEmbedding, 129280 * 4096);
    assert.ok(facts.activeParamsExclEmbedding > 13e9 && facts.activeParamsExclEmbedding < 13.5e9);
  });

  test('another architecture without weights is refused, naming config.json', () => {
    const configPath = path.join(sharedDir(), 'oracle', 'deepseek_v2_lite', 'config.json');
    const cfg = JSON.parse(fs.readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    const spec = specFromConfig(cfg, configPath);
    assert.throws(
      () => modelFacts(spec, { config: cfg, configPath }),
      (e: unknown) => isEngineInputError(e) && e.file === configPath && /only for DeepSeek-V4 so far \(model_type deepseek_v2 needs its \*\.safetensors\)/.test(e.problem),
    );
  });
});
