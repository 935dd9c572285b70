/**
 * Where each MoE layer's routed experts run when the model is on a GPU provider. Attention, dense
 * layers, shared experts and the KV cache always go to the GPU; routed experts (most of the
 * weights) go there layer by layer while they fit the GPU memory budget, the rest run on the CPU --
 * what llama.cpp users do by hand with `--n-cpu-moe`. The budget is switchyard.engine.gpuMemoryBudget
 * (or SWITCHYARD_GPU_MEMORY_BUDGET), else the adapter's memory where it can be read (nvidia-smi);
 * onnxruntime-node does not say how much memory a WebGPU adapter has, so without either everything
 * is placed on the GPU and the report says the budget is unknown.
 */
import { spawnSync } from 'node:child_process';
import type { Quant } from '../graph/linear.ts';
import type { BuiltModel } from '../model/build.ts';
import { humanBytes, type ConfigOnly } from '../model/info.ts';
import type { ModelSpec } from '../model/spec.ts';
import type { Checkpoint } from '../checkpoint/checkpoint.ts';
import { BYTES_PER_WEIGHT, weightsBytes } from './memory.ts';
import type { ProviderName } from './providers.ts';

export interface ExpertPlacement {
  /** 'dispatch': experts run by the engine on the CPU; 'fused': inside the model graph; 'none': no MoE layer. */
  mode: 'dispatch' | 'fused' | 'none';
  gpuLayers: number[];
  cpuLayers: number[];
  gpuExpertBytes: number;
  cpuExpertBytes: number;
  /** The GPU memory budget used, or null when unknown (everything placed on the GPU). */
  budgetBytes: number | null;
  budgetSource: 'setting' | 'adapter' | 'unknown' | 'n/a';
  /** One line for logs, `info` and the status bar tooltip. */
  summary: string;
}

/** Fraction of the budget kept free for activations, the KV cache and the prefix cache. */
const HEADROOM = 0.2;


/** Parses a byte size: a number of bytes, or with a unit (e.g. "2.5GiB", "800MB", "4g"). */
export function parseBytes(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(s);
  if (!m) throw new Error(`not a size: '${s}' (e.g. 4GiB, 800MB or a number of bytes)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

/** The budget from the setting or SWITCHYARD_GPU_MEMORY_BUDGET, else the adapter's memory, else null. */
export function gpuBudget(settingBytes?: number): { bytes: number; source: 'setting' | 'adapter' } | null {
  const env = process.env.SWITCHYARD_GPU_MEMORY_BUDGET;
  const set = settingBytes ?? (env ? parseBytes(env) : undefined);
  if (set !== undefined) return { bytes: set, source: 'setting' };
  const adapter = detectGpuMemory();
  return adapter === null ? null : { bytes: adapter, source: 'adapter' };
}

/** The adapter's memory where a tool tells it (NVIDIA); null otherwise. */
export function detectGpuMemory(): number | null {
  try {
    const r = spawnSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 5000 });
    const mib = Number(r.stdout?.split('\n')[0]?.trim());
    return r.status === 0 && Number.isFinite(mib) && mib > 0 ? mib * 1024 ** 2 : null;
  } catch {
    return null;
  }
}

export function cpuPlacement(model: BuiltModel, mode: 'dispatch' | 'fused'): ExpertPlacement {
  const layers = model.io.expertCuts.map((c) => c.layer);
  const bytes = model.io.expertCuts.reduce((a, c) => a + c.bytes, 0);
  if (layers.length === 0 && model.io.routingOutputs.length === 0) return noMoe();
  return {
    mode,
    gpuLayers: [],
    cpuLayers: layers,
    gpuExpertBytes: 0,
    cpuExpertBytes: bytes,
    budgetBytes: null,
    budgetSource: 'n/a',
    summary: `routed experts on the CPU (${mode === 'dispatch' ? 'dispatched per expert' : 'fused kernel'}, ${humanBytes(bytes)})`,
  };
}

function noMoe(): ExpertPlacement {
  return { mode: 'none', gpuLayers: [], cpuLayers: [], gpuExpertBytes: 0, cpuExpertBytes: 0, budgetBytes: null, budgetSource: 'n/a', summary: 'no MoE layers' };
}

/**
 * Placement on a GPU provider: which layers' fused expert nodes stay on the GPU and which are forced
 * to the CPU (`forceCpuNodeNames`). float32 experts always run on the CPU (ORT's WebGPU provider has
 * no float MoE kernel).
 */
export function gpuPlacement(
  model: BuiltModel,
  provider: ProviderName,
  budget: { bytes: number; source: 'setting' | 'adapter' } | null,
): { placement: ExpertPlacement; forceCpuNodeNames: string[] } {
  if (model.io.expertCuts.length === 0 && model.io.routingOutputs.length === 0) return { placement: noMoe(), forceCpuNodeNames: [] };
  if (model.quant === 'none') {
    const p = cpuPlacement(model, 'fused');
    p.summary = `routed experts on the CPU (float32: ${provider} has no float MoE kernel; int8/int4 put them on the GPU)`;
    return { placement: p, forceCpuNodeNames: [] };
  }
  return placeLayers(model.io.expertCuts, model.modelBytes, budget);
}

/**
 * The placement from config.json alone (`info`, before anything is built): each MoE layer's routed
 * experts sized at `quant`, the rest of the model as weightsBytes sizes it, and `reservedBytes`
 * (the KV cache at the chosen context) kept on the GPU beside them.
 */
export function placeFromSpec(
  spec: ModelSpec,
  src: Checkpoint | ConfigOnly,
  quant: Quant,
  budget: { bytes: number; source: 'setting' | 'adapter' } | null,
  reservedBytes = 0,
): ExpertPlacement {
  const moe = spec.moe;
  if (!moe) return noMoe();
  const perLayer = moe.experts * 3 * moe.intermediate * spec.hidden * BYTES_PER_WEIGHT[quant];
  const cuts = spec.layerKinds.flatMap((k, layer) => (k === 'moe' ? [{ layer, bytes: perLayer }] : []));
  return placeLayers(cuts, weightsBytes(spec, src, quant), budget, reservedBytes).placement;
}

/**
 * The placement rule on its own, from per-layer expert sizes and the model's total size, so `info`
 * can answer from config.json alone before anything is built. `reservedBytes` (e.g. a long
 * context's KV cache) comes off the budget before any experts are placed.
 */
export function placeLayers(
  cuts: { layer: number; bytes: number }[],
  modelBytes: number,
  budget: { bytes: number; source: 'setting' | 'adapter' } | null,
  reservedBytes = 0,
): { placement: ExpertPlacement; forceCpuNodeNames: string[] } {
  const total = cuts.reduce((a, c) => a + c.bytes, 0);
  const rest = Math.max(0, modelBytes - total);
  let free = budget ? budget.bytes * (1 - HEADROOM) - rest - reservedBytes : Infinity;
  // Attention, shared experts and the cache go to the GPU whatever the budget; say so when they alone exceed it.
  const short = budget && free < 0 ? `; the rest of the model (${humanBytes(rest)})${reservedBytes ? ` and the KV cache (${humanBytes(reservedBytes)})` : ''} alone exceed${reservedBytes ? '' : 's'} the GPU budget` : '';
  const gpuLayers: number[] = [];
  const cpuLayers: number[] = [];
  let gpuBytes = 0;
  for (const c of cuts) {
    if (c.bytes <= free) {
      gpuLayers.push(c.layer);
      gpuBytes += c.bytes;
      free -= c.bytes;
    } else {
      cpuLayers.push(c.layer);
    }
  }
  const budgetText =
    (budget ? `GPU budget ${humanBytes(budget.bytes)} (${budget.source === 'setting' ? 'switchyard.engine.gpuMemoryBudget' : 'adapter memory'})` : 'GPU memory unknown: set switchyard.engine.gpuMemoryBudget to limit it') + short;
  const summary =
    cpuLayers.length === 0
      ? `routed experts of all ${gpuLayers.length} MoE layers on the GPU (${humanBytes(gpuBytes)}); ${budgetText}`
      : `routed experts of ${gpuLayers.length} of ${cuts.length} MoE layers on the GPU (${humanBytes(gpuBytes)}), ${cpuLayers.length} on the CPU (${humanBytes(total - gpuBytes)}); ${budgetText}`;
  return {
    placement: {
      mode: 'fused',
      gpuLayers,
      cpuLayers,
      gpuExpertBytes: gpuBytes,
      cpuExpertBytes: total - gpuBytes,
      budgetBytes: budget?.bytes ?? null,
      budgetSource: budget?.source ?? 'unknown',
      summary,
    },
    forceCpuNodeNames: cpuLayers.map((l) => `layers.${l}/QMoE_node`),
  };
}
