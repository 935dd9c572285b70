/**
 * DeepSeek-V4 against ../shared/oracle-v4 (Hugging Face transformers' DeepseekV4ForCausalLM, with an
 * independent implementation agreeing): float32 within 1e-4 on prefill, the decode step, every greedy
 * step and every chunked-prefill schedule of reference.json, with the same 16 greedy tokens and the
 * same experts (hash layers included); deepseek_v4_fp8 goes through the loader of the released
 * layout (FP8 with UE8M0 block scales, MXFP4 experts). int8/int4 keep their agreement floors (these
 * tiny random models are far more sensitive than real weights: indexer and router choices flip).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { agreementFloors, formatCase, oracleCases, runOracleCase } from '../../../engine/fidelity/oracle.ts';
import { sharedDir } from '../../helpers/paths.ts';
import { assertProvider, WEBGPU_SKIPPED } from '../../helpers/webgpu.ts';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-fidelity-v4-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const cases = oracleCases(path.join(sharedDir(), 'oracle-v4'));

describe('DeepSeek-V4 fidelity float32 (cpu)', () => {
  it('finds the three V4 cases', () => {
    assert.deepEqual(cases.map((c) => path.basename(c)), ['deepseek_v4', 'deepseek_v4_fp8', 'deepseek_v4_long']);
  });
  for (const dir of cases) {
    it(path.basename(dir), async () => {
      const r = await runOracleCase(dir, { quant: 'none', providers: ['cpu'], cacheDir, tolerance: 1e-4 });
      const line = formatCase(r, 'none');
      assert.ok(r.prefillMaxAbs <= 1e-4 && r.decodeMaxAbs <= 1e-4, line);
      assert.equal(r.greedyMatched, r.greedyTotal, line);
      assert.ok(r.routingTotal > 0 && r.routingMatched === r.routingTotal, line);
      assert.equal(r.chunkedSchedules, 2, line);
      assert.ok(r.chunkedMaxAbs <= 1e-4, line);
      assert.ok(r.pass, line);
    });
  }
});

// On lavapipe (WGSL on the CPU) the 40-token case; the 600-token one takes minutes there.
describe('DeepSeek-V4 fidelity float32 (webgpu)', { skip: WEBGPU_SKIPPED && 'SWITCHYARD_SKIP_WEBGPU=1' }, () => {
  it('deepseek_v4', async () => {
    const r = await runOracleCase(path.join(sharedDir(), 'oracle-v4', 'deepseek_v4'), { quant: 'none', providers: ['webgpu'], cacheDir, tolerance: 1e-4 });
    assertProvider(r.provider, 'webgpu');
    assert.ok(r.pass, formatCase(r, 'none'));
    assert.equal(r.chunkedSchedules, 2);
  });
});

// Floors a little under what this build measures (README, Fidelity): a regression fails them.
for (const quant of ['int8', 'int4'] as const) {
  describe(`DeepSeek-V4 ${quant} agreement (cpu)`, () => {
    for (const dir of cases) {
      it(path.basename(dir), async () => {
        const { minCosine, minTop1 } = agreementFloors(dir, quant);
        const r = await runOracleCase(dir, { quant, providers: ['cpu'], cacheDir, tolerance: 1e-4, minCosine, minTop1 });
        assert.ok(r.pass, formatCase(r, quant));
        assert.ok(r.cosine >= minCosine && r.top1 >= minTop1, formatCase(r, quant));
      });
    }
  });
}
