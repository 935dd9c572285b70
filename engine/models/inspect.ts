/**
 * The fit check behind the `inspectModel` request: what loading a checkpoint would need (the same
 * estimate loadModel refuses on, runtime/memory.ts), the memory there is, and the execution
 * provider that would be chosen (the same probe). Reads config.json and the safetensors headers
 * only (or config.json alone, for an architecture params.ts can list): no weights are read, nothing is built.
 */
import * as path from 'node:path';
import { closeModelFolder, openModelFolder } from '../model/folder.ts';
import { humanBytes, modelFacts } from '../model/info.ts';
import { specFromConfig } from '../model/spec.ts';
import type { InspectModelParams, InspectModelResult, Quant } from '../protocol/protocol.ts';
import { defaultMemoryBudget, estimateMemory, fitAdvice } from '../runtime/memory.ts';
import { DEFAULT_PREFERENCE, parseProviderList, probeProvider } from '../runtime/providers.ts';
import { PREFILL_CHUNK } from '../service/generate.ts';
import { ParamError } from '../service/validate.ts';

/** loadModel's defaults (engine/service/engine.ts), so the check predicts what loading will do. */
export const DEFAULT_CONTEXT_CAP = 32768;
export const DEFAULT_PREFIX_CACHE = 1024 ** 3;
const QUANTS: readonly Quant[] = ['none', 'int8', 'int4'];

function checkParams(p: unknown): asserts p is InspectModelParams {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new ParamError('inspectModel: params must be an object');
  const o = p as Record<string, unknown>;
  if (typeof o.model !== 'string') throw new ParamError('inspectModel: model must be a string (required)');
  if (o.quant !== undefined && !QUANTS.includes(o.quant as Quant)) throw new ParamError('inspectModel: quant must be "none", "int8" or "int4"');
  if (o.providers !== undefined && (!Array.isArray(o.providers) || o.providers.some((x) => typeof x !== 'string'))) {
    throw new ParamError('inspectModel: providers must be an array of strings');
  }
  const int = (k: string, min: number) => {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min)) throw new ParamError(`inspectModel: ${k} must be an integer >= ${min}`);
  };
  int('contextLength', 16);
  int('memoryBudgetBytes', 0);
  int('prefixCacheBytes', 0);
}

export async function inspectModel(p: InspectModelParams): Promise<InspectModelResult> {
  checkParams(p);
  const quant = p.quant ?? 'none';
  let providers;
  try {
    providers = p.providers ? parseProviderList(p.providers.join(',')) : DEFAULT_PREFERENCE;
  } catch (e) {
    throw new ParamError(`inspectModel: ${(e as Error).message}`);
  }
  const dir = path.resolve(p.model);
  // config.json alone is enough where the architecture can be sized from it (DeepSeek-V4).
  const src = openModelFolder(dir);
  let result: Omit<InspectModelResult, 'provider' | 'providerAttempts' | 'message'>;
  try {
    const spec = specFromConfig(src.config, src.configPath);
    const facts = modelFacts(spec, src);
    const contextLength = Math.min(p.contextLength ?? Math.min(spec.maxPositions, DEFAULT_CONTEXT_CAP), spec.maxPositions);
    const opts = { contextLength, prefillChunk: PREFILL_CHUNK, prefixCacheBytes: p.prefixCacheBytes ?? DEFAULT_PREFIX_CACHE };
    const byQuant = Object.fromEntries(QUANTS.map((q) => [q, estimateMemory(spec, src, { ...opts, quant: q })])) as Record<Quant, ReturnType<typeof estimateMemory>>;
    const est = byQuant[quant];
    const available = p.memoryBudgetBytes ?? defaultMemoryBudget();
    result = {
      model: dir,
      architecture: facts.architecture,
      modelType: facts.modelType,
      parameters: facts.totalParams,
      activeParameters: facts.activeParams,
      quant,
      contextLength,
      estimate: { ...est },
      availableBytes: available,
      fits: est.totalBytes <= available,
      totalBytesByQuant: Object.fromEntries(QUANTS.map((q) => [q, byQuant[q].totalBytes])) as Record<Quant, number>,
      weightsBytesByQuant: Object.fromEntries(QUANTS.map((q) => [q, byQuant[q].weightsBytes])) as Record<Quant, number>,
      countedFrom: facts.countedFrom,
    };
  } finally {
    closeModelFolder(src);
  }
  const probe = await probeProvider(providers);
  return { ...result, message: fitMessage(result, probe.provider), provider: probe.provider, providerAttempts: probe.attempts };
}

/** One line for a person: the need against what is there, the provider, and what would fit when it does not. */
export function fitMessage(r: Pick<InspectModelResult, 'fits' | 'estimate' | 'availableBytes' | 'quant' | 'contextLength' | 'totalBytesByQuant'>, provider: string): string {
  const e = r.estimate;
  const parts =
    `weights ${humanBytes(e.weightsBytes)} (${r.quant}), KV cache ${humanBytes(e.kvBytes)} for ${r.contextLength} tokens, ` +
    (e.snapshotBytes ? `its snapshots ${humanBytes(e.snapshotBytes)}, ` : '') +
    `activations ${humanBytes(e.activationBytes)}, prefix cache ${humanBytes(e.prefixCacheBytes)}`;
  if (r.fits) return `fits: needs ${humanBytes(e.totalBytes)} of ${humanBytes(r.availableBytes)} available (${parts}), provider ${provider}`;
  const hint = fitAdvice(e, { budgetBytes: r.availableBytes, quant: r.quant, byQuant: r.totalBytesByQuant });
  return `does not fit: needs ${humanBytes(e.totalBytes)} but ${humanBytes(r.availableBytes)} is available (${parts}); ${hint}`;
}
