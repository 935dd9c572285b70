/**
 * Model facts for `info` and memory estimates: parameter counts (total and active per token)
 * from the checkpoint's tensor shapes, KV bytes per token from the spec.
 */
import type { Checkpoint } from '../checkpoint/checkpoint.ts';
import { fullKvBytesPerToken, kvBytesPerToken, type ModelSpec } from './spec.ts';

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
  kvBytesPerTokenFp16: number;
  kvBytesPerTokenFp32: number;
  fullKvBytesPerTokenFp16: number;
  dtype: string;
}

export function modelFacts(spec: ModelSpec, ckpt: Checkpoint): ModelFacts {
  let total = 0;
  let routed = 0;
  const layerRe = /^model\.layers\.(\d+)\./;
  for (const name of ckpt.names()) {
    if (name.endsWith('_scale_inv')) continue;
    const m = layerRe.exec(name);
    if (m && Number(m[1]) >= spec.layers) continue; // e.g. DeepSeek-V3's multi-token-prediction layer
    const n = ckpt.info(name).shape.reduce((a, b) => a * b, 1);
    total += n;
    if (/\.experts\.\d+\./.test(name)) routed += n;
  }
  const m = spec.moe;
  const active = m ? total - routed + (routed * m.topK) / m.experts : total;
  const archs = ckpt.config.architectures;
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
    totalParams: total,
    activeParams: Math.round(active),
    kvBytesPerTokenFp16: kvBytesPerToken(spec, 2),
    kvBytesPerTokenFp32: kvBytesPerToken(spec, 4),
    fullKvBytesPerTokenFp16: fullKvBytesPerToken(spec, 2),
    dtype: ckpt.dtypeSummary(),
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
