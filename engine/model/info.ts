/**
 * Model facts for `info` and memory estimates: parameter counts (total and active per token)
 * from the checkpoint's tensor shapes, or from the architecture when only config.json is there
 * (params.ts); KV bytes per token and the cache at a given length from the spec.
 */
import type { Checkpoint } from '../checkpoint/checkpoint.ts';
import { EngineInputError } from '../errors.ts';
import { v4CacheFloatsAt } from './deepseek-v4/config.ts';
import { archTensors, checkpointTensors, countParams } from './params.ts';
import { fullKvBytesPerToken, kvBytesPerToken, type ModelSpec } from './spec.ts';

/** A folder holding only config.json (e.g. to size a model before downloading its weights). */
export interface ConfigOnly {
  config: Record<string, unknown>;
  configPath: string;
}

/** Context lengths `info` shows the cache size at. */
export const KV_REPORT_TOKENS = [131072, 1048576] as const;

export interface ModelFacts {
  modelType: string;
  architecture: string;
  attention: string;
  layers: number;
  moeLayers: number;
  experts: number | null;
  expertsPerToken: number | null;
  totalParams: number;
  activeParams: number;
  /** activeParams less the input embedding table (a token reads one row of it). */
  activeParamsExclEmbedding: number;
  /** 'checkpoint': counted from the safetensors headers; 'config': from the architecture alone. */
  countedFrom: 'checkpoint' | 'config';
  kvBytesPerTokenFp16: number;
  kvBytesPerTokenFp32: number;
  fullKvBytesPerTokenFp16: number;
  /** The cache of one sequence at each of KV_REPORT_TOKENS (capped at the model's context), fp16 and fp32. */
  kvCacheAt: { tokens: number; fp16Bytes: number; fp32Bytes: number }[];
  dtype: string;
}

/** Bytes of one sequence's KV cache at `tokens` positions (DeepSeek-V4's is not linear in tokens). */
export function kvCacheBytesAt(spec: ModelSpec, tokens: number, elementBytes = 4): number {
  if (spec.attention.kind === 'v4') return v4CacheFloatsAt(spec.v4!, tokens) * elementBytes;
  return kvBytesPerToken(spec, elementBytes) * tokens;
}

/** Parameter counts from the checkpoint's tensors, or from the architecture for a config-only folder. */
export function paramCounts(spec: ModelSpec, src: Checkpoint | ConfigOnly): ReturnType<typeof countParams> & { countedFrom: 'checkpoint' | 'config' } {
  if (isCheckpoint(src)) return { ...countParams(spec, checkpointTensors(spec, src)), countedFrom: 'checkpoint' };
  const list = archTensors(spec);
  if (!list) {
    throw new EngineInputError(
      src.configPath,
      `no weights beside it: parameters can be counted from config.json alone only for DeepSeek-V4 so far (model_type ${spec.modelType} needs its *.safetensors)`,
    );
  }
  return { ...countParams(spec, list), countedFrom: 'config' };
}

/** KV_REPORT_TOKENS within the model's context, or the context itself when it is shorter than all. */
function reportLengths(maxPositions: number): number[] {
  const within = KV_REPORT_TOKENS.filter((n) => n <= maxPositions);
  return within.length ? within : [maxPositions];
}

export function isCheckpoint(src: Checkpoint | ConfigOnly): src is Checkpoint {
  return typeof (src as Checkpoint).names === 'function';
}

export function modelFacts(spec: ModelSpec, src: Checkpoint | ConfigOnly): ModelFacts {
  const counts = paramCounts(spec, src);
  const m = spec.moe;
  const embedding = spec.tieEmbeddings ? 0 : spec.vocab * spec.hidden;
  const archs = src.config.architectures;
  return {
    modelType: spec.modelType,
    architecture: Array.isArray(archs) ? String(archs[0]) : spec.modelType,
    attention:
      spec.attention.kind === 'v4'
        ? `DeepSeek-V4 shared K=V MQA (${spec.attention.heads} heads x ${spec.attention.headDim}, rope ${spec.attention.ropeDim}; ` +
          `${spec.v4!.layerTypes.filter((t) => t === 'sliding').length} sliding + ${spec.v4!.layerTypes.filter((t) => t === 'csa').length} CSA + ` +
          `${spec.v4!.layerTypes.filter((t) => t === 'hca').length} HCA layers, window ${spec.v4!.slidingWindow})`
        : spec.attention.kind === 'mla'
        ? `MLA (${spec.attention.heads} heads, kv_lora_rank ${spec.attention.kvLoraRank}, rope ${spec.attention.ropeDim})`
        : `GQA (${spec.attention.heads} query / ${spec.attention.kvHeads} KV heads x ${spec.attention.headDim})`,
    layers: spec.layers,
    moeLayers: spec.layerKinds.filter((k) => k === 'moe').length,
    experts: m?.experts ?? null,
    expertsPerToken: m?.topK ?? null,
    totalParams: counts.total,
    activeParams: counts.active,
    activeParamsExclEmbedding: counts.active - embedding,
    countedFrom: counts.countedFrom,
    kvBytesPerTokenFp16: kvBytesPerToken(spec, 2),
    kvBytesPerTokenFp32: kvBytesPerToken(spec, 4),
    fullKvBytesPerTokenFp16: fullKvBytesPerToken(spec, 2),
    kvCacheAt: reportLengths(spec.maxPositions).map((tokens) => ({
      tokens,
      fp16Bytes: kvCacheBytesAt(spec, tokens, 2),
      fp32Bytes: kvCacheBytesAt(spec, tokens, 4),
    })),
    dtype: isCheckpoint(src) ? src.dtypeSummary() : `${spec.torchDtype} (config.json only: no weights here)`,
  };
}

export function humanCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export function humanBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
