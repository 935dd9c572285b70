/**
 * Rotary position embedding parameters, read from config.json exactly as Hugging Face transformers'
 * `modeling_rope_utils` computes them (default, linear, dynamic at its base length, llama3, yarn).
 * inv_freq is computed in float32 steps like torch does, so angles match the reference bit-for-bit
 * or within one ulp.
 */
import { EngineInputError } from '../errors.ts';

export interface RopeParams {
  /** Rotary dims (even). */
  dim: number;
  /** inv_freq, dim/2 values (float32). */
  invFreq: Float32Array;
  /** Multiplier of cos and sin (YaRN's attention factor; 1 otherwise). */
  attentionFactor: number;
  /** rope_type after normalisation. */
  type: string;
}

const f = Math.fround;

function baseInvFreq(theta: number, dim: number): Float32Array {
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    // torch: base ** (arange(0, dim, 2).float() / dim), then 1.0 / that, in float32.
    const exponent = f(f(2 * i) / dim);
    out[i] = f(1 / f(Math.pow(theta, exponent)));
  }
  return out;
}

export function yarnGetMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

export function ropeParams(
  config: Record<string, unknown>,
  dim: number,
  configPath: string,
): RopeParams {
  const theta = Number(config.rope_theta ?? 10000);
  const scaling = (config.rope_scaling ?? null) as Record<string, unknown> | null;
  const type = scaling ? String(scaling.rope_type ?? scaling.type ?? 'default') : 'default';
  const maxPos = Number(config.max_position_embeddings ?? 4096);
  if (!Number.isFinite(theta) || theta <= 0) throw new EngineInputError(configPath, `rope_theta must be a positive number, got ${String(config.rope_theta)}`);
  if (dim % 2 !== 0 || dim <= 0) throw new EngineInputError(configPath, `rotary dimension must be a positive even number, got ${dim}`);
  const invFreq = baseInvFreq(theta, dim);

  switch (type) {
    case 'default':
    case 'dynamic': // dynamic NTK equals default up to its original length; longer prompts are refused upstream
      return { dim, invFreq, attentionFactor: 1, type };
    case 'linear': {
      const factor = Number(scaling!.factor);
      if (!(factor > 0)) throw new EngineInputError(configPath, 'rope_scaling.factor must be > 0 for linear RoPE');
      return { dim, invFreq: invFreq.map((v) => f(v / factor)), attentionFactor: 1, type };
    }
    case 'llama3': {
      const factor = Number(scaling!.factor);
      const low = Number(scaling!.low_freq_factor);
      const high = Number(scaling!.high_freq_factor);
      const oldCtx = Number(scaling!.original_max_position_embeddings);
      const lowWavelen = oldCtx / low;
      const highWavelen = oldCtx / high;
      const out = invFreq.map((v) => {
        const wavelen = (2 * Math.PI) / v;
        if (wavelen > lowWavelen) return f(v / factor);
        if (wavelen < highWavelen) return v;
        const smooth = (oldCtx / wavelen - low) / (high - low);
        return f((1 - smooth) * (v / factor) + smooth * v);
      });
      return { dim, invFreq: out, attentionFactor: 1, type };
    }
    case 'yarn': {
      let factor = Number(scaling!.factor);
      const mscale = scaling!.mscale as number | undefined;
      const mscaleAllDim = scaling!.mscale_all_dim as number | undefined;
      let originalMax = maxPos;
      // transformers: when original_max_position_embeddings is given, the scaling factor is the
      // ratio max_position_embeddings / original (DeepSeek-V3's convention); equal to `factor` in
      // every released DeepSeek/Qwen config that sets both consistently.
      if (scaling!.original_max_position_embeddings !== undefined) {
        originalMax = Number(scaling!.original_max_position_embeddings);
        factor = maxPos / originalMax;
      }
      if (!(factor > 0)) throw new EngineInputError(configPath, 'rope_scaling.factor must be > 0 for YaRN');
      let attentionFactor = scaling!.attention_factor as number | undefined;
      if (attentionFactor === undefined || attentionFactor === null) {
        attentionFactor =
          mscale && mscaleAllDim
            ? yarnGetMscale(factor, mscale) / yarnGetMscale(factor, mscaleAllDim)
            : yarnGetMscale(factor);
      }
      const betaFast = Number(scaling!.beta_fast ?? 0) || 32;
      const betaSlow = Number(scaling!.beta_slow ?? 0) || 1;
      const truncate = scaling!.truncate === undefined ? true : Boolean(scaling!.truncate);
      const corrDim = (rot: number) => (dim * Math.log(originalMax / (rot * 2 * Math.PI))) / (2 * Math.log(theta));
      let low = corrDim(betaFast);
      let high = corrDim(betaSlow);
      if (truncate) {
        low = Math.floor(low);
        high = Math.ceil(high);
      }
      low = Math.max(low, 0);
      high = Math.min(high, dim - 1);
      if (low === high) high += 0.001;
      const out = new Float32Array(dim / 2);
      for (let i = 0; i < dim / 2; i++) {
        const posFreq = f(Math.pow(theta, f(f(2 * i) / dim)));
        const extra = f(1 / posFreq);
        const inter = f(1 / f(factor * posFreq));
        const ramp = Math.min(1, Math.max(0, f(f(i - low) / f(high - low))));
        const extraFactor = f(1 - ramp);
        out[i] = f(f(inter * f(1 - extraFactor)) + f(extra * extraFactor));
      }
      return { dim, invFreq: out, attentionFactor, type };
    }
    default:
      throw new EngineInputError(
        configPath,
        `unsupported rope_scaling type '${type}' (supported: default, linear, dynamic, llama3, yarn)`,
      );
  }
}
