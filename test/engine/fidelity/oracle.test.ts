/**
 * The fidelity suite on ../shared/oracle: float32 must match the upstream references
 * (max |logit diff| <= 1e-4, all greedy tokens, every expert set); int8/int4 builds must keep
 * their agreement floors. Any regression fails the test suite.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { formatCase, oracleCases, runOracleCase } from '../../../engine/fidelity/oracle.ts';
import { sharedDir } from '../../helpers/paths.ts';
import { assertProvider, WEBGPU_SKIPPED } from '../../helpers/webgpu.ts';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-fidelity-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const cases = oracleCases(path.join(sharedDir(), 'oracle'));

describe('fidelity float32 (cpu)', () => {
  for (const dir of cases) {
    it(path.basename(dir), async () => {
      const r = await runOracleCase(dir, { quant: 'none', providers: ['cpu'], cacheDir, tolerance: 1e-4 });
      assert.ok(r.prefillMaxAbs <= 1e-4, formatCase(r, 'none'));
      assert.ok(r.decodeMaxAbs <= 1e-4, formatCase(r, 'none'));
      assert.equal(r.greedyMatched, r.greedyTotal, formatCase(r, 'none'));
      assert.ok(r.routingTotal > 0, 'the case records routing');
      assert.equal(r.routingMatched, r.routingTotal, formatCase(r, 'none'));
      assert.ok(r.pass);
    });
  }
});

// The same references on WebGPU, with the cache on the device (in CI the adapter is lavapipe, which
// runs WGSL on the CPU: a few architectures, not all eight, to keep CI short). One per family.
describe('fidelity float32 (webgpu)', { skip: WEBGPU_SKIPPED && 'SWITCHYARD_SKIP_WEBGPU=1' }, () => {
  for (const name of ['deepseek_v2_lite', 'deepseek_v2', 'deepseek_v3', 'qwen2_moe', 'qwen3_moe', 'mixtral']) {
    it(name, async () => {
      const r = await runOracleCase(path.join(sharedDir(), 'oracle', name), { quant: 'none', providers: ['webgpu'], cacheDir, tolerance: 1e-4 });
      assertProvider(r.provider, 'webgpu');
      assert.ok(r.prefillMaxAbs <= 1e-4 && r.decodeMaxAbs <= 1e-4, formatCase(r, 'none'));
      assert.equal(r.greedyMatched, r.greedyTotal, formatCase(r, 'none'));
      assert.equal(r.routingMatched, r.routingTotal, formatCase(r, 'none'));
    });
  }
});

for (const [quant, minCosine, minTop1] of [
  ['int8', 0.999, 0.9],
  ['int4', 0.98, 0.7],
] as const) {
  describe(`fidelity ${quant} agreement (cpu)`, () => {
    for (const dir of cases) {
      it(path.basename(dir), async () => {
        const r = await runOracleCase(dir, { quant, providers: ['cpu'], cacheDir, tolerance: 1e-4, minCosine, minTop1 });
        assert.ok(r.cosine >= minCosine && r.top1 >= minTop1, formatCase(r, quant));
      });
    }
  });
}

describe('fidelity command', () => {
  it('a case that disagrees fails', async () => {
    // Perturb one reference logit in a copy of a case: the runner must notice.
    const src = cases[0]!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-badcase-'));
    try {
      for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(src, f), path.join(dir, f));
      const ref = JSON.parse(fs.readFileSync(path.join(src, 'reference.json'), 'utf8'));
      ref.prefill.logits[0][0] += 1e-3;
      fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify(ref));
      const r = await runOracleCase(dir, { quant: 'none', providers: ['cpu'], cacheDir, tolerance: 1e-4 });
      assert.equal(r.pass, false);
      assert.ok(r.prefillMaxAbs >= 9e-4);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
