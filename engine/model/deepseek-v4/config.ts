/**
 * DeepSeek-V4's architecture from config.json: which layers slide, compress (CSA, with the
 * Lightning Indexer) or heavily compress (HCA), which MoE layers route by token hash, the mHC
 * streams and the two RoPE bases. Both DeepSeek's released keys (`compress_ratios`,
 * `num_hash_layers`) and transformers' explicit ones (`layer_types`, `mlp_layer_types`,
 * `compress_rates`) are read; nothing comes from the model's name.
 */
import { EngineInputError } from '../../errors.ts';
import { ropeParams, type RopeParams } from '../rope.ts';

export type V4LayerType = 'sliding' | 'csa' | 'hca';

export interface V4Spec {
  /** Per layer: sliding window only, CSA (overlapping windows + indexer) or HCA. */
  layerTypes: V4LayerType[];
  /** Per layer: tokens per compressed entry (0 on sliding-only layers). */
  compressRates: number[];
  /** Per layer: experts chosen by tid2eid[token id] rather than by score. */
  hashLayers: boolean[];
  heads: number;
  headDim: number;
  ropeDim: number;
  qLoraRank: number;
  oGroups: number;
  oLoraRank: number;
  slidingWindow: number;
  indexHeads: number;
  indexHeadDim: number;
  indexTopk: number;
  hcMult: number;
  hcSinkhornIters: number;
  hcEps: number;
  swigluLimit: number;
  /** RoPE of sliding-only layers (rope_theta, unscaled). */
  mainRope: RopeParams;
  /** RoPE of compressed layers, their compressors and indexer (compress_rope_theta, YaRN frequencies). */
  compressRope: RopeParams;
  /** Routed experts stored as FP4 in the released files ("fp4"), else FP8/float. */
  expertDtype: string | null;
}

const LAYER_TYPE_NAMES: Record<string, V4LayerType> = {
  sliding_attention: 'sliding',
  compressed_sparse_attention: 'csa',
  heavily_compressed_attention: 'hca',
};

export function isV4Config(cfg: Record<string, unknown>): boolean {
  return cfg.model_type === 'deepseek_v4';
}

export function v4SpecFromConfig(cfg: Record<string, unknown>, configPath: string, layers: number, heads: number): V4Spec {
  const fail = (problem: string): never => {
    throw new EngineInputError(configPath, problem);
  };
  const int = (key: string, fallback?: number): number => {
    const v = cfg[key];
    if (v === undefined || v === null) return fallback !== undefined ? fallback : fail(`missing required field "${key}" (DeepSeek-V4)`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) return fail(`field "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = cfg[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(`field "${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  };

  // Layer schedule: explicit layer_types (+ compress_rates) win; else DeepSeek's compress_ratios,
  // whose 44 entries on V4-Flash include a trailing slot for the MTP block (truncated here).
  let layerTypes: V4LayerType[];
  let compressRates: number[];
  const ratios = Array.isArray(cfg.compress_ratios) ? (cfg.compress_ratios as unknown[]) : null;
  if (Array.isArray(cfg.layer_types)) {
    const names = cfg.layer_types as unknown[];
    if (names.length < layers) fail(`layer_types has ${names.length} entries for ${layers} layers`);
    layerTypes = names.slice(0, layers).map((n) => LAYER_TYPE_NAMES[String(n)] ?? fail(`unknown layer type "${String(n)}" in layer_types`));
    const rates = (cfg.compress_rates ?? {}) as Record<string, unknown>;
    compressRates = layerTypes.map((t, i) => {
      if (t === 'sliding') return 0;
      const fromRatios = ratios && typeof ratios[i] === 'number' ? (ratios[i] as number) : undefined;
      const r = fromRatios ?? rates[t === 'csa' ? 'compressed_sparse_attention' : 'heavily_compressed_attention'];
      if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0) return fail(`no compress rate for layer ${i} (${t}): set compress_rates or compress_ratios`);
      return r;
    });
  } else if (ratios) {
    if (ratios.length < layers) fail(`compress_ratios has ${ratios.length} entries for ${layers} layers`);
    compressRates = ratios.slice(0, layers).map((r, i) => {
      if (typeof r !== 'number' || !Number.isInteger(r) || r < 0) return fail(`compress_ratios[${i}] must be a non-negative integer, got ${JSON.stringify(r)}`);
      return r;
    });
    // DeepSeek's reference overlaps windows exactly when the ratio is 4 (CSA); other ratios are HCA.
    layerTypes = compressRates.map((r) => (r === 0 ? 'sliding' : r === 4 ? 'csa' : 'hca'));
  } else {
    return fail('DeepSeek-V4 config has neither layer_types nor compress_ratios');
  }
  for (let i = 0; i < layers; i++) {
    if (layerTypes[i] === 'csa' && compressRates[i]! < 1) fail(`layer ${i}: CSA needs a compress rate`);
  }

  let hashLayers: boolean[];
  if (Array.isArray(cfg.mlp_layer_types)) {
    const m = (cfg.mlp_layer_types as unknown[]).slice(0, layers);
    if (m.length < layers) fail(`mlp_layer_types has ${m.length} entries for ${layers} layers`);
    hashLayers = m.map((t) => (t === 'hash_moe' ? true : t === 'moe' ? false : fail(`unknown mlp layer type "${String(t)}" (hash_moe or moe)`)));
  } else {
    const nHash = typeof cfg.num_hash_layers === 'number' ? cfg.num_hash_layers : 0;
    hashLayers = Array.from({ length: layers }, (_, i) => i < nHash);
  }

  const headDim = int('head_dim');
  const ropeDim = int('qk_rope_head_dim');
  if (ropeDim % 2 !== 0 || ropeDim > headDim) fail(`qk_rope_head_dim (${ropeDim}) must be even and at most head_dim (${headDim})`);
  const oGroups = int('o_groups', 1);
  if (heads % oGroups !== 0) fail(`num_attention_heads (${heads}) must be a multiple of o_groups (${oGroups})`);
  const kvHeads = num('num_key_value_heads', 1);
  if (kvHeads !== 1) fail(`num_key_value_heads must be 1 for DeepSeek-V4 (one shared K=V head), got ${kvHeads}`);

  const mainRope = ropeParams({ rope_theta: num('rope_theta', 10000) }, ropeDim, configPath);
  // YaRN on compressed layers changes the frequencies only: V4 has no attention-scale factor.
  const compressRope = {
    ...ropeParams(
      { rope_theta: num('compress_rope_theta', num('rope_theta', 10000)), rope_scaling: cfg.rope_scaling ?? null, max_position_embeddings: cfg.max_position_embeddings },
      ropeDim,
      configPath,
    ),
    attentionFactor: 1,
  };

  return {
    layerTypes,
    compressRates,
    hashLayers,
    heads,
    headDim,
    ropeDim,
    qLoraRank: int('q_lora_rank'),
    oGroups,
    oLoraRank: int('o_lora_rank'),
    slidingWindow: int('sliding_window'),
    indexHeads: int('index_n_heads', 1),
    indexHeadDim: int('index_head_dim', 1),
    indexTopk: int('index_topk', 1),
    hcMult: int('hc_mult', 1),
    hcSinkhornIters: int('hc_sinkhorn_iters', 1),
    hcEps: num('hc_eps', 1e-6),
    swigluLimit: num('swiglu_limit', 0),
    mainRope,
    compressRope,
    expertDtype: typeof cfg.expert_dtype === 'string' ? cfg.expert_dtype : null,
  };
}

/** Compressed entries per token per layer kind, for cache sizing (entries are head_dim wide). */
export function v4CacheFloatsAt(v: V4Spec, tokens: number): number {
  let floats = 0;
  for (let i = 0; i < v.layerTypes.length; i++) {
    const window = Math.min(tokens, v.slidingWindow);
    floats += window * v.headDim;
    const m = v.compressRates[i]!;
    if (!m) continue;
    const entries = Math.floor(tokens / m);
    floats += entries * v.headDim;
    // Pending tokens of the current window (kv + gate), and for CSA the previous window's half.
    const c = v.layerTypes[i] === 'csa' ? 2 : 1;
    floats += Math.min(tokens, m) * 2 * c * v.headDim;
    if (v.layerTypes[i] === 'csa') {
      floats += entries * v.indexHeadDim + Math.min(tokens, m) * 4 * v.indexHeadDim + m * 2 * (v.headDim + v.indexHeadDim);
    }
  }
  return floats;
}
