/**
 * Memory estimate before loading: weights as built + KV cache for the requested context +
 * activations of one prefill chunk + the prefix cache budget. Loading refuses, stating these numbers,
 * when they exceed the budget, instead of letting the OS kill the engine half-way through.
 */
import * as os from 'node:os';
import type { Checkpoint } from '../checkpoint/checkpoint.ts';
import type { Quant } from '../graph/linear.ts';
import { humanBytes } from '../model/info.ts';
import { kvBytesPerToken, type ModelSpec } from '../model/spec.ts';

export interface MemoryEstimate {
  weightsBytes: number;
  kvBytes: number;
  activationBytes: number;
  prefixCacheBytes: number;
  totalBytes: number;
}

/** Bytes per weight as built: float32, or int8/int4 with one float scale and zero point per block. */
export const BYTES_PER_WEIGHT: Record<Quant, number> = { none: 4, int8: 1 + 5 / 32, int4: 0.5 + 4.5 / 32 };

export function estimateMemory(
  spec: ModelSpec,
  ckpt: Checkpoint,
  opts: { quant: Quant; contextLength: number; prefillChunk: number; prefixCacheBytes: number },
): MemoryEstimate {
  let weights = 0;
  for (const name of ckpt.names()) {
    if (name.endsWith('_scale_inv')) continue;
    const m = /^model\.layers\.(\d+)\./.exec(name);
    if (m && Number(m[1]) >= spec.layers) continue;
    const n = ckpt.info(name).shape.reduce((a, b) => a * b, 1);
    // Norms and embeddings stay float32; matrices are quantised.
    const quantised = name !== 'model.embed_tokens.weight' && ckpt.info(name).shape.length === 2;
    weights += n * (quantised ? BYTES_PER_WEIGHT[opts.quant] : 4);
  }
  const kv = kvBytesPerToken(spec, 4) * opts.contextLength;
  const heads = spec.attention.heads;
  // Attention scores and probabilities for one chunk against the whole context dominate.
  const activations = 2 * heads * opts.prefillChunk * opts.contextLength * 4 + 16 * opts.prefillChunk * spec.hidden * 4 + spec.vocab * 4 * 2;
  const total = weights + kv + activations + opts.prefixCacheBytes;
  return { weightsBytes: weights, kvBytes: kv, activationBytes: activations, prefixCacheBytes: opts.prefixCacheBytes, totalBytes: total };
}

/** Default budget: 80% of the machine's memory. */
export function defaultMemoryBudget(): number {
  return Math.floor(os.totalmem() * 0.8);
}

export function describeEstimate(e: MemoryEstimate): string {
  return (
    `weights ${humanBytes(e.weightsBytes)} + KV cache ${humanBytes(e.kvBytes)} + activations ${humanBytes(e.activationBytes)}` +
    ` + prefix cache ${humanBytes(e.prefixCacheBytes)} = ${humanBytes(e.totalBytes)}`
  );
}
