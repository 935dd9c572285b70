/**
 * Memory estimate before loading: weights as built + KV cache for the requested context +
 * activations of one prefill chunk + the prefix cache budget. Loading refuses, stating these numbers,
 * when they exceed the budget, instead of letting the OS kill the engine half-way through.
 */
import * as os from 'node:os';
import type { Checkpoint } from '../checkpoint/checkpoint.ts';
import { EngineInputError } from '../errors.ts';
import type { Quant } from '../graph/linear.ts';
import { humanBytes, isCheckpoint, kvCacheBytesAt, type ConfigOnly } from '../model/info.ts';
import { archTensors, checkpointTensors, type ArchTensor } from '../model/params.ts';
import type { ModelSpec } from '../model/spec.ts';
import { v4CacheLayout } from '../model/deepseek-v4/graph.ts';
import { MAX_SNAPSHOTS } from './compressed-state.ts';
import { snapshotEvery } from './session.ts';

export interface MemoryEstimate {
  weightsBytes: number;
  kvBytes: number;
  /** DeepSeek-V4: the compressed cache's snapshots for trim/copy (compressed-state.ts); 0 otherwise. */
  snapshotBytes: number;
  activationBytes: number;
  prefixCacheBytes: number;
  totalBytes: number;
}

/** Bytes per weight as built: float32, or int8/int4 with one float scale and zero point per block. */
export const BYTES_PER_WEIGHT: Record<Quant, number> = { none: 4, int8: 1 + 5 / 32, int4: 0.5 + 4.5 / 32 };

export function estimateMemory(
  spec: ModelSpec,
  src: Checkpoint | ConfigOnly,
  opts: { quant: Quant; contextLength: number; prefillChunk: number; prefixCacheBytes: number },
): MemoryEstimate {
  const weights = weightsBytes(spec, src, opts.quant);
  const kv = kvCacheBytesAt(spec, opts.contextLength, 4);
  const snapshots = snapshotBytes(spec, opts.contextLength);
  const activations = activationBytes(spec, opts.contextLength, opts.prefillChunk);
  const total = weights + kv + snapshots + activations + opts.prefixCacheBytes;
  return { weightsBytes: weights, kvBytes: kv, snapshotBytes: snapshots, activationBytes: activations, prefixCacheBytes: opts.prefixCacheBytes, totalBytes: total };
}

/**
 * DeepSeek-V4's cache keeps a copy of its small parts (sliding window, pending and overlap rows, at
 * their largest) every snapshotEvery positions, at most MAX_SNAPSHOTS of them, so trim and copy can
 * restore any prefix (compressed-state.ts). At V4-Flash's size one copy is ~20 MiB: at 32K tokens
 * the snapshots outweigh the cache itself.
 */
export function snapshotBytes(spec: ModelSpec, contextLength: number): number {
  const v = spec.v4;
  if (!v) return 0;
  let floats = 0;
  for (const c of v4CacheLayout(spec)) {
    if (c.append) continue;
    const layer = Number(/\.(\d+)$/.exec(c.past)![1]);
    const m = v.compressRates[layer]!;
    const rows = c.shape[2] === 'win' ? v.slidingWindow - 1 : c.shape[2] === 'pend' ? m - 1 : m;
    floats += rows * (c.shape[3] as number);
  }
  return Math.min(Math.floor(contextLength / snapshotEvery()), MAX_SNAPSHOTS) * floats * 4;
}

/**
 * The weights as built at `quant`: the checkpoint's tensors when there is one, else the
 * architecture's (params.ts, from config.json alone). A tensor the architecture lists is sized as
 * its graph builds it (float32, int64 or quantised); any other by shape: norms and embeddings stay
 * float32, matrices are quantised.
 */
export function weightsBytes(spec: ModelSpec, src: Checkpoint | ConfigOnly, quant: Quant): number {
  const list = archTensors(spec);
  if (!isCheckpoint(src)) {
    if (!list) throw new EngineInputError(src.configPath, `no weights beside it: model_type ${spec.modelType} can be sized only from its *.safetensors`);
    return list.reduce((a, t) => a + builtBytes(t, quant), 0);
  }
  const known = new Map((list ?? []).map((t) => [t.name, t]));
  let weights = 0;
  for (const t of checkpointTensors(spec, src)) {
    const a = known.get(t.name);
    const quantised = a ? a.quantised : t.name !== 'model.embed_tokens.weight' && t.shape.length === 2;
    weights += builtBytes({ shape: t.shape, quantised, int64: a?.int64 }, quant);
  }
  return weights;
}

function builtBytes(t: Pick<ArchTensor, 'shape' | 'quantised' | 'int64'>, quant: Quant): number {
  const n = t.shape.reduce((a, b) => a * b, 1);
  return n * (t.int64 ? 8 : t.quantised ? BYTES_PER_WEIGHT[quant] : 4);
}

/**
 * Scores and probabilities of one prefill chunk against the keys it sees dominate. Most models see
 * the whole context; a DeepSeek-V4 query sees its sliding window plus the compressed entries (at
 * most context / the smallest compress rate), and on CSA layers the indexer scores every entry.
 */
function activationBytes(spec: ModelSpec, contextLength: number, chunk: number): number {
  const v = spec.v4;
  let scores: number;
  if (v) {
    const rates = v.compressRates.filter((r) => r > 0);
    const entries = rates.length ? Math.floor(contextLength / Math.min(...rates)) : 0;
    const keys = Math.min(contextLength, v.slidingWindow - 1 + chunk) + entries;
    const csaEntries = v.layerTypes.includes('csa') ? Math.floor(contextLength / Math.min(...v.compressRates.filter((r, i) => v.layerTypes[i] === 'csa'))) : 0;
    scores = 2 * spec.attention.heads * chunk * keys * 4 + 2 * v.indexHeads * chunk * csaEntries * 4 + 16 * chunk * v.hcMult * spec.hidden * 4;
  } else {
    scores = 2 * spec.attention.heads * chunk * contextLength * 4 + 16 * chunk * spec.hidden * 4;
  }
  return scores + spec.vocab * 4 * 2;
}

/** Default budget: 80% of the machine's memory. */
export function defaultMemoryBudget(): number {
  return Math.floor(os.totalmem() * 0.8);
}

/**
 * Why loading is refused, with the numbers: the need by part against the budget, and what would
 * fit (another quantisation, from `byQuant`'s totals) or what to change.
 */
export function refusalMessage(e: MemoryEstimate, o: { budgetBytes: number; quant: Quant; contextLength: number; byQuant?: Partial<Record<Quant, number>> }): string {
  return (
    `too large for the memory budget: needs ${humanBytes(e.totalBytes)} but the budget is ${humanBytes(o.budgetBytes)} ` +
    `(weights ${humanBytes(e.weightsBytes)} at ${o.quant}, KV cache ${humanBytes(e.kvBytes)} for ${o.contextLength} tokens, ` +
    (e.snapshotBytes ? `its snapshots ${humanBytes(e.snapshotBytes)}, ` : '') +
    `activations ${humanBytes(e.activationBytes)}, prefix cache ${humanBytes(e.prefixCacheBytes)}); ${fitAdvice(e, o)}`
  );
}

/** What would make it fit: another quantisation (from `byQuant`'s totals), or what else to change. */
export function fitAdvice(e: Pick<MemoryEstimate, 'weightsBytes' | 'totalBytes'>, o: { budgetBytes: number; quant: Quant; byQuant?: Partial<Record<Quant, number>> }): string {
  const others = (Object.entries(o.byQuant ?? {}) as [Quant, number][]).filter(([q]) => q !== o.quant);
  const smaller = others.filter(([, t]) => t <= o.budgetBytes && t < e.totalBytes);
  const least = others.reduce<[Quant, number] | null>((a, b) => (a && a[1] <= b[1] ? a : b), null);
  if (smaller.length) return `it fits with ${smaller.map(([q, t]) => `${q} (${humanBytes(t)})`).join(' or ')}`;
  if (e.weightsBytes > o.budgetBytes) {
    return least && least[1] < e.totalBytes
      ? `no quantisation fits (${least[0]} needs ${humanBytes(least[1])}): it needs a machine with more memory`
      : 'the weights alone exceed the budget: it needs a machine with more memory';
  }
  return `try ${o.quant === 'int4' ? '' : 'int4, '}a shorter context or a smaller prefix cache`;
}

export function describeEstimate(e: MemoryEstimate): string {
  return (
    `weights ${humanBytes(e.weightsBytes)} + KV cache ${humanBytes(e.kvBytes)}${e.snapshotBytes ? ` + its snapshots ${humanBytes(e.snapshotBytes)}` : ''} + activations ${humanBytes(e.activationBytes)}` +
    ` + prefix cache ${humanBytes(e.prefixCacheBytes)} = ${humanBytes(e.totalBytes)}`
  );
}
