/**
 * ropeParams against the formulas of Hugging Face transformers' modeling_rope_utils, computed
 * here independently in float64 (the engine computes in float32 steps like torch; agreement to a
 * few float32 ulps is expected).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EngineInputError } from '../../../engine/errors.ts';
import { ropeParams, yarnGetMscale } from '../../../engine/model/rope.ts';

const CONFIG = '/models/x/config.json';

function defaultInvFreq(theta: number, dim: number): number[] {
  return Array.from({ length: dim / 2 }, (_, i) => 1 / Math.pow(theta, (2 * i) / dim));
}

/** transformers _compute_yarn_parameters (inv_freq part), float64. */
function yarnInvFreq(theta: number, dim: number, factor: number, originalMax: number, betaFast = 32, betaSlow = 1): number[] {
  const corr = (rot: number) => (dim * Math.log(originalMax / (rot * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = Math.max(Math.floor(corr(betaFast)), 0);
  let high = Math.min(Math.ceil(corr(betaSlow)), dim - 1);
  if (low === high) high += 0.001;
  return Array.from({ length: dim / 2 }, (_, i) => {
    const pos = Math.pow(theta, (2 * i) / dim);
    const extrapolation = 1 / pos;
    const interpolation = 1 / (factor * pos);
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const extraFactor = 1 - ramp;
    return interpolation * (1 - extraFactor) + extrapolation * extraFactor;
  });
}

function assertClose(actual: Float32Array, expected: number[], rel = 4e-7): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const d = Math.abs(actual[i]! - e);
    assert.ok(d <= rel * Math.abs(e), `inv_freq[${i}] = ${actual[i]} vs ${e} (rel ${d / Math.abs(e)})`);
  }
}

describe('ropeParams', () => {
  test('default: inv_freq[i] = theta^(-2i/dim), attention factor 1', () => {
    for (const [theta, dim] of [
      [10000, 64],
      [1e6, 128],
      [500000, 16],
    ] as const) {
      const r = ropeParams({ rope_theta: theta }, dim, CONFIG);
      assert.equal(r.type, 'default');
      assert.equal(r.dim, dim);
      assert.equal(r.attentionFactor, 1);
      assertClose(r.invFreq, defaultInvFreq(theta, dim));
      assert.equal(r.invFreq[0], 1);
    }
  });

  test('default when rope_theta is absent is theta 10000; rope_scaling null is default', () => {
    const a = ropeParams({}, 32, CONFIG);
    const b = ropeParams({ rope_theta: 10000, rope_scaling: null }, 32, CONFIG);
    assertClose(a.invFreq, defaultInvFreq(10000, 32));
    assert.deepEqual([...a.invFreq], [...b.invFreq]);
  });

  test('YaRN with DeepSeek-V2-Lite rope_scaling (factor 40, 4096 -> 163840, mscale = mscale_all_dim = 0.707)', () => {
    const cfg = {
      rope_theta: 10000,
      max_position_embeddings: 163840,
      rope_scaling: {
        beta_fast: 32,
        beta_slow: 1,
        factor: 40,
        mscale: 0.707,
        mscale_all_dim: 0.707,
        original_max_position_embeddings: 4096,
        type: 'yarn',
      },
    };
    const r = ropeParams(cfg, 64, CONFIG);
    assert.equal(r.type, 'yarn');
    assert.equal(r.dim, 64);
    // mscale(40, 0.707) / mscale(40, 0.707)
    assert.ok(Math.abs(r.attentionFactor - 1) < 1e-12, `attentionFactor ${r.attentionFactor}`);
    const want = yarnInvFreq(10000, 64, 40, 4096);
    assertClose(r.invFreq, want, 1e-6);
    // high frequencies are kept (extrapolated), the lowest are divided by the factor
    const base = defaultInvFreq(10000, 64);
    assert.ok(Math.abs(r.invFreq[0]! - base[0]!) < 1e-7);
    assert.ok(Math.abs(r.invFreq[31]! - base[31]! / 40) <= 1e-6 * base[31]! / 40);
    // and something in between really is interpolated
    const mid = [...r.invFreq].findIndex((v, i) => v < base[i]! * 0.99 && v > (base[i]! / 40) * 1.01);
    assert.ok(mid > 0, 'a ramp between extrapolation and interpolation');
  });

  test('YaRN with mscale != mscale_all_dim: attention factor is their ratio', () => {
    const r = ropeParams(
      { max_position_embeddings: 4096 * 8, rope_scaling: { type: 'yarn', factor: 8, mscale: 1, mscale_all_dim: 0.5, original_max_position_embeddings: 4096 } },
      64,
      CONFIG,
    );
    assert.ok(Math.abs(r.attentionFactor - yarnGetMscale(8, 1) / yarnGetMscale(8, 0.5)) < 1e-12);
  });

  test('Qwen YaRN without mscale: attention factor = 0.1 ln(factor) + 1', () => {
    const cfg = {
      rope_theta: 1000000,
      max_position_embeddings: 131072,
      rope_scaling: { rope_type: 'yarn', factor: 4.0, original_max_position_embeddings: 32768 },
    };
    const r = ropeParams(cfg, 128, CONFIG);
    assert.equal(r.type, 'yarn');
    assert.ok(Math.abs(r.attentionFactor - (0.1 * Math.log(4) + 1)) < 1e-12, `attentionFactor ${r.attentionFactor}`);
    assertClose(r.invFreq, yarnInvFreq(1000000, 128, 4, 32768), 1e-6);
  });

  test('YaRN without original_max_position_embeddings uses factor and max_position_embeddings', () => {
    const r = ropeParams({ rope_theta: 10000, max_position_embeddings: 2048, rope_scaling: { type: 'yarn', factor: 2 } }, 32, CONFIG);
    assert.ok(Math.abs(r.attentionFactor - (0.1 * Math.log(2) + 1)) < 1e-12);
    assertClose(r.invFreq, yarnInvFreq(10000, 32, 2, 2048), 1e-6);
  });

  test('YaRN: an explicit attention_factor wins', () => {
    const r = ropeParams({ rope_scaling: { rope_type: 'yarn', factor: 4, attention_factor: 0.75 } }, 32, CONFIG);
    assert.equal(r.attentionFactor, 0.75);
  });

  test('linear: inv_freq divided by the factor', () => {
    const r = ropeParams({ rope_theta: 10000, rope_scaling: { type: 'linear', factor: 4 } }, 64, CONFIG);
    assert.equal(r.type, 'linear');
    assert.equal(r.attentionFactor, 1);
    assertClose(
      r.invFreq,
      defaultInvFreq(10000, 64).map((v) => v / 4),
    );
  });

  test('llama3: high frequencies kept, low frequencies divided by the factor', () => {
    const r = ropeParams(
      {
        rope_theta: 500000,
        rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
      },
      128,
      CONFIG,
    );
    const base = defaultInvFreq(500000, 128);
    assert.ok(Math.abs(r.invFreq[0]! - base[0]!) < 1e-7);
    assert.ok(Math.abs(r.invFreq[63]! - base[63]! / 8) <= 1e-6 * base[63]! / 8);
  });

  test('an unknown rope type is an EngineInputError naming config.json', () => {
    let caught: unknown;
    try {
      ropeParams({ rope_scaling: { type: 'su', factor: 2 } }, 64, CONFIG);
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof EngineInputError, String(caught));
    assert.equal(caught.file, CONFIG);
    assert.ok(caught.message.startsWith(`${CONFIG}: `));
    assert.match(caught.message, /config\.json: .*'su'/);
  });

  test('bad linear factor and odd rotary dim are EngineInputErrors', () => {
    assert.throws(() => ropeParams({ rope_scaling: { type: 'linear', factor: 0 } }, 64, CONFIG), EngineInputError);
    assert.throws(() => ropeParams({}, 63, CONFIG), EngineInputError);
    assert.throws(() => ropeParams({ rope_theta: -1 }, 64, CONFIG), EngineInputError);
  });
});
