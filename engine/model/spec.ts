/**
 * config.json -> ModelSpec: every architectural choice the graph needs, read from the config's
 * fields (never from the model's name), validated with errors that name config.json.
 */
import { EngineInputError } from '../errors.ts';
import { v4CacheFloatsAt, v4SpecFromConfig, type V4Spec } from './deepseek-v4/config.ts';
import { ropeParams, yarnGetMscale, type RopeParams } from './rope.ts';

export const SUPPORTED_MODEL_TYPES = [
  'deepseek_v2',
  'deepseek_v3',
  'deepseek_v4',
  'qwen3_moe',
  'qwen2_moe',
  'mixtral',
  'llama',
  'mistral',
  'qwen2',
  'qwen3',
] as const;
export type ModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

export interface GqaAttention {
  kind: 'gqa';
  heads: number;
  kvHeads: number;
  headDim: number;
  qkvBias: boolean;
  outBias: boolean;
  qkNorm: boolean;
  /** Sliding window for layers that use one (null: full attention everywhere). */
  slidingWindow: number | null;
  /** Layers from this index on use the sliding window (Qwen's max_window_layers). */
  slidingFromLayer: number;
}

export interface MlaAttention {
  kind: 'mla';
  heads: number;
  qLoraRank: number | null;
  kvLoraRank: number;
  nopeDim: number;
  ropeDim: number;
  vDim: number;
  /** DeepSeek stores the rope slice as interleaved pairs; we de-interleave the weights at build time. */
  ropeInterleaved: boolean;
}

/** DeepSeek-V4: one shared K=V head; the rest of its attention is in `ModelSpec.v4`. */
export interface V4Attention {
  kind: 'v4';
  heads: number;
  kvHeads: 1;
  headDim: number;
  ropeDim: number;
}

export interface RouterSpec {
  /** sqrtsoftplus: DeepSeek-V4's sqrt(softplus(logits)). */
  scoring: 'softmax' | 'sigmoid' | 'sqrtsoftplus';
  /** greedy: top-k of scores; group_limited_greedy: best groups by max; noaux_tc: by top-2 sum of biased scores. */
  method: 'greedy' | 'group_limited_greedy' | 'noaux_tc';
  nGroup: number;
  topkGroup: number;
  normTopk: boolean;
  /** Added to the sum before dividing (DeepSeek adds 1e-20). */
  normEps: number;
  scaling: number;
  hasCorrectionBias: boolean;
}

export interface MoeSpec {
  experts: number;
  topK: number;
  intermediate: number;
  router: RouterSpec;
  /** Shared expert(s) added to the routed output; `gated`: multiplied by sigmoid(x @ gate). */
  shared: { intermediate: number; gated: boolean } | null;
}

export interface ModelSpec {
  modelType: ModelType;
  family: 'deepseek' | 'deepseek_v4' | 'qwen_moe' | 'mixtral' | 'dense';
  hidden: number;
  layers: number;
  vocab: number;
  eps: number;
  tieEmbeddings: boolean;
  maxPositions: number;
  attention: GqaAttention | MlaAttention | V4Attention;
  rope: RopeParams;
  /** DeepSeek-V4's layer schedule, compressors, indexer and mHC (null for other architectures). */
  v4: V4Spec | null;
  softmaxScale: number;
  denseIntermediate: number;
  mlpBias: boolean;
  /** Per layer: 'moe' or 'dense'. */
  layerKinds: ('moe' | 'dense')[];
  moe: MoeSpec | null;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** Storage dtype named by the config (informational; tensors carry their own). */
  torchDtype: string;
}

class ConfigReader {
  constructor(
    readonly cfg: Record<string, unknown>,
    readonly path: string,
  ) {}

  fail(problem: string): never {
    throw new EngineInputError(this.path, problem);
  }

  int(key: string, fallback?: number): number {
    const v = this.cfg[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      this.fail(`missing required field "${key}"`);
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(`field "${key}" must be a non-negative integer, got ${JSON.stringify(v)}`);
    return v;
  }

  pos(key: string, fallback?: number): number {
    const v = this.int(key, fallback);
    if (v <= 0) this.fail(`field "${key}" must be positive, got ${v}`);
    return v;
  }

  num(key: string, fallback?: number): number {
    const v = this.cfg[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      this.fail(`missing required field "${key}"`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`field "${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.cfg[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(`field "${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  str(key: string, fallback: string): string {
    const v = this.cfg[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') this.fail(`field "${key}" must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  optInt(key: string): number | null {
    const v = this.cfg[key];
    if (v === undefined || v === null) return null;
    return this.int(key);
  }

  check(cond: boolean, problem: string): void {
    if (!cond) this.fail(problem);
  }
}

function tokenIds(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

export function specFromConfig(cfg: Record<string, unknown>, configPath: string): ModelSpec {
  const r = new ConfigReader(cfg, configPath);
  const modelType = cfg.model_type;
  if (typeof modelType !== 'string') r.check(false, 'missing "model_type" (cannot tell which architecture this is)');
  if (!(SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType as string)) {
    r.check(false, `unknown model_type "${String(modelType)}" (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  }
  const mt = modelType as ModelType;
  const hidden = r.pos('hidden_size');
  const layers = r.pos('num_hidden_layers');
  const vocab = r.pos('vocab_size');
  const heads = r.pos('num_attention_heads');
  const eps = r.num('rms_norm_eps', 1e-6);
  const maxPositions = r.pos('max_position_embeddings', 4096);
  const hiddenAct = r.str('hidden_act', 'silu');
  r.check(hiddenAct === 'silu', `unsupported hidden_act "${hiddenAct}" (only silu/SwiGLU models are supported)`);

  if (mt === 'deepseek_v4') return v4ModelSpec(r, cfg, configPath, { hidden, layers, vocab, heads, eps, maxPositions });
  const family: ModelSpec['family'] = mt.startsWith('deepseek')
    ? 'deepseek'
    : mt.endsWith('_moe')
      ? 'qwen_moe'
      : mt === 'mixtral'
        ? 'mixtral'
        : 'dense';

  let attention: GqaAttention | MlaAttention;
  let rope: RopeParams;
  let softmaxScale: number;
  if (family === 'deepseek') {
    const a: MlaAttention = {
      kind: 'mla',
      heads,
      qLoraRank: r.optInt('q_lora_rank'),
      kvLoraRank: r.pos('kv_lora_rank'),
      nopeDim: r.pos('qk_nope_head_dim'),
      ropeDim: r.pos('qk_rope_head_dim'),
      vDim: r.pos('v_head_dim'),
      ropeInterleaved: r.bool('rope_interleave', true),
    };
    attention = a;
    rope = ropeParams(cfg, a.ropeDim, configPath);
    softmaxScale = Math.pow(a.nopeDim + a.ropeDim, -0.5);
    const scaling = cfg.rope_scaling as Record<string, unknown> | null | undefined;
    if (scaling && String(scaling.rope_type ?? scaling.type) === 'yarn') {
      const mAll = Number(scaling.mscale_all_dim ?? 0);
      if (mAll) {
        const m = yarnGetMscale(Number(scaling.factor), mAll);
        softmaxScale *= m * m;
      }
    }
  } else {
    const headDim = r.pos('head_dim', Math.floor(hidden / heads));
    const kvHeads = r.pos('num_key_value_heads', heads);
    r.check(heads % kvHeads === 0, `num_attention_heads (${heads}) must be a multiple of num_key_value_heads (${kvHeads})`);
    const useSliding = mt === 'mixtral' || mt === 'mistral' ? cfg.sliding_window != null : r.bool('use_sliding_window', false);
    const window = useSliding ? r.optInt('sliding_window') : null;
    attention = {
      kind: 'gqa',
      heads,
      kvHeads,
      headDim,
      qkvBias: mt === 'qwen2' || mt === 'qwen2_moe' ? true : r.bool('attention_bias', false),
      outBias: mt === 'qwen2' || mt === 'qwen2_moe' ? false : r.bool('attention_bias', false),
      qkNorm: mt === 'qwen3' || mt === 'qwen3_moe',
      slidingWindow: window,
      slidingFromLayer: mt.startsWith('qwen') ? r.int('max_window_layers', 0) : 0,
    };
    const partial = r.num('partial_rotary_factor', 1);
    rope = ropeParams(cfg, Math.floor(headDim * partial), configPath);
    softmaxScale = Math.pow(headDim, -0.5);
  }

  // MoE layout
  let moe: MoeSpec | null = null;
  const layerKinds: ('moe' | 'dense')[] = [];
  if (family === 'deepseek') {
    const experts = r.optInt('n_routed_experts');
    const firstDense = r.int('first_k_dense_replace', 0);
    const freq = r.pos('moe_layer_freq', 1);
    for (let i = 0; i < layers; i++) layerKinds.push(experts && i >= firstDense && i % freq === 0 ? 'moe' : 'dense');
    if (experts) {
      const scoring = r.str('scoring_func', 'softmax');
      r.check(scoring === 'softmax' || scoring === 'sigmoid', `unsupported scoring_func "${scoring}" (softmax or sigmoid)`);
      const method = r.str('topk_method', mt === 'deepseek_v3' ? 'noaux_tc' : 'greedy');
      r.check(
        method === 'greedy' || method === 'group_limited_greedy' || method === 'noaux_tc',
        `unsupported topk_method "${method}" (greedy, group_limited_greedy, noaux_tc)`,
      );
      const nGroup = r.pos('n_group', 1);
      const topkGroup = r.pos('topk_group', 1);
      r.check(experts % nGroup === 0, `n_routed_experts (${experts}) must be divisible by n_group (${nGroup})`);
      const nShared = r.int('n_shared_experts', 0);
      const normTopk = r.bool('norm_topk_prob', false);
      const scalingFactor = r.num('routed_scaling_factor', 1);
      const topK = r.pos('num_experts_per_tok');
      moe = {
        experts,
        topK,
        intermediate: r.pos('moe_intermediate_size'),
        router: {
          scoring: scoring as 'softmax' | 'sigmoid',
          method: method as RouterSpec['method'],
          nGroup,
          topkGroup,
          normTopk: normTopk && topK > 1,
          normEps: 1e-20,
          // DeepSeek-V2's reference applies routed_scaling_factor only when it does not renormalise;
          // V3 renormalises and then scales.
          scaling: mt === 'deepseek_v2' && normTopk && topK > 1 ? 1 : scalingFactor,
          hasCorrectionBias: method === 'noaux_tc',
        },
        shared: nShared > 0 ? { intermediate: r.pos('moe_intermediate_size') * nShared, gated: false } : null,
      };
    }
  } else if (family === 'qwen_moe') {
    const experts = r.int('num_experts', 0);
    const step = r.pos('decoder_sparse_step', 1);
    const mlpOnly = Array.isArray(cfg.mlp_only_layers) ? (cfg.mlp_only_layers as number[]) : [];
    for (let i = 0; i < layers; i++) layerKinds.push(!mlpOnly.includes(i) && experts > 0 && (i + 1) % step === 0 ? 'moe' : 'dense');
    if (experts > 0) {
      const sharedI = mt === 'qwen2_moe' ? r.int('shared_expert_intermediate_size', 0) : 0;
      moe = {
        experts,
        topK: r.pos('num_experts_per_tok'),
        intermediate: r.pos('moe_intermediate_size'),
        router: {
          scoring: 'softmax',
          method: 'greedy',
          nGroup: 1,
          topkGroup: 1,
          normTopk: r.bool('norm_topk_prob', mt === 'qwen3_moe'),
          normEps: 0,
          scaling: 1,
          hasCorrectionBias: false,
        },
        shared: sharedI > 0 ? { intermediate: sharedI, gated: true } : null,
      };
    }
  } else if (family === 'mixtral') {
    const experts = r.pos('num_local_experts');
    for (let i = 0; i < layers; i++) layerKinds.push('moe');
    moe = {
      experts,
      topK: r.pos('num_experts_per_tok'),
      intermediate: r.pos('intermediate_size'),
      router: { scoring: 'softmax', method: 'greedy', nGroup: 1, topkGroup: 1, normTopk: true, normEps: 0, scaling: 1, hasCorrectionBias: false },
      shared: null,
    };
  } else {
    for (let i = 0; i < layers; i++) layerKinds.push('dense');
  }
  if (moe) r.check(moe.topK <= moe.experts, `num_experts_per_tok (${moe.topK}) exceeds the number of experts (${moe.experts})`);
  const needsDense = layerKinds.includes('dense');
  const denseIntermediate = needsDense ? r.pos('intermediate_size') : r.int('intermediate_size', 0);

  return {
    modelType: mt,
    family,
    hidden,
    layers,
    vocab,
    eps,
    tieEmbeddings: r.bool('tie_word_embeddings', false),
    maxPositions,
    attention,
    rope,
    softmaxScale,
    denseIntermediate,
    // No supported architecture ships MLP biases; refuse rather than silently drop them.
    mlpBias: r.bool('mlp_bias', false) ? r.fail('mlp_bias: true is not supported (MLP layers with biases)') : false,
    layerKinds,
    moe,
    v4: null,
    bosTokenId: typeof cfg.bos_token_id === 'number' ? cfg.bos_token_id : null,
    eosTokenIds: tokenIds(cfg.eos_token_id),
    torchDtype: r.str('torch_dtype', r.str('dtype', 'float32')),
  };
}

function v4ModelSpec(
  r: ConfigReader,
  cfg: Record<string, unknown>,
  configPath: string,
  c: { hidden: number; layers: number; vocab: number; heads: number; eps: number; maxPositions: number },
): ModelSpec {
  const v4 = v4SpecFromConfig(cfg, configPath, c.layers, c.heads);
  const scoring = r.str('scoring_func', 'sqrtsoftplus');
  r.check(scoring === 'sqrtsoftplus', `unsupported scoring_func "${scoring}" for DeepSeek-V4 (sqrtsoftplus)`);
  const experts = r.pos('n_routed_experts');
  const topK = r.pos('num_experts_per_tok');
  r.check(topK <= experts, `num_experts_per_tok (${topK}) exceeds the number of experts (${experts})`);
  const inter = r.pos('moe_intermediate_size');
  const nShared = r.int('n_shared_experts', 1);
  return {
    modelType: 'deepseek_v4',
    family: 'deepseek_v4',
    hidden: c.hidden,
    layers: c.layers,
    vocab: c.vocab,
    eps: c.eps,
    tieEmbeddings: r.bool('tie_word_embeddings', false),
    maxPositions: c.maxPositions,
    attention: { kind: 'v4', heads: c.heads, kvHeads: 1, headDim: v4.headDim, ropeDim: v4.ropeDim },
    rope: v4.mainRope,
    v4,
    softmaxScale: Math.pow(v4.headDim, -0.5),
    denseIntermediate: 0,
    mlpBias: false,
    layerKinds: Array.from({ length: c.layers }, () => 'moe' as const),
    moe: {
      experts,
      topK,
      intermediate: inter,
      router: {
        scoring: 'sqrtsoftplus',
        method: 'noaux_tc',
        nGroup: 1,
        topkGroup: 1,
        normTopk: r.bool('norm_topk_prob', true),
        normEps: 1e-20,
        scaling: r.num('routed_scaling_factor', 1),
        hasCorrectionBias: true,
      },
      shared: nShared > 0 ? { intermediate: inter * nShared, gated: false } : null,
    },
    bosTokenId: typeof cfg.bos_token_id === 'number' ? cfg.bos_token_id : null,
    eosTokenIds: tokenIds(cfg.eos_token_id),
    torchDtype: r.str('torch_dtype', r.str('dtype', 'float32')),
  };
}

/**
 * Bytes of KV cache per token for the given element size (4 for fp32, 2 for fp16). DeepSeek-V4's
 * cache is not linear in tokens (a sliding window plus compressed entries): this is its average
 * per token at 128K tokens; see v4CacheFloatsAt for the cache at a given length.
 */
export function kvBytesPerToken(spec: ModelSpec, elementBytes = 2): number {
  const a = spec.attention;
  if (a.kind === 'v4') return Math.ceil((v4CacheFloatsAt(spec.v4!, 131072) * elementBytes) / 131072);
  const perLayer = a.kind === 'mla' ? a.kvLoraRank + a.ropeDim : 2 * a.kvHeads * a.headDim;
  return perLayer * spec.layers * elementBytes;
}

/** What the same model would cache per token with full K/V (for comparison in `info`). */
export function fullKvBytesPerToken(spec: ModelSpec, elementBytes = 2): number {
  const a = spec.attention;
  if (a.kind === 'v4') return a.headDim * spec.layers * elementBytes;
  const perLayer = a.kind === 'mla' ? a.heads * (a.nopeDim + a.ropeDim + a.vDim) : 2 * a.kvHeads * a.headDim;
  return perLayer * spec.layers * elementBytes;
}
