/**
 * Runs a MoE layer's routed experts from the router's choice: the rows sent to each chosen expert
 * are gathered, each expert's own session (its weights prepacked once, see graph/expert-graphs.ts)
 * runs on them, and the weighted outputs are summed back per row in expert order, so the result is
 * deterministic. Only the chosen experts' weights are read.
 *
 * The expert mode is the one switch between this and the fused QMoE/MoE kernel in one graph:
 * SWITCHYARD_EXPERTS=fused|dispatch (default: defaultExpertMode below on the CPU; a GPU provider runs
 * the fused graph). Set the default to fused once an onnxruntime-node release carries ONNX Runtime's
 * QMoE prepacking fix (microsoft/onnxruntime #32644, #32668); the build already holds both forms.
 */
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { DispatchCut } from '../model/dispatch.ts';

export type ExpertMode = 'dispatch' | 'fused';

/** The mode asked for by the environment, if any (bad values are an error, not ignored). */
export function expertModeFromEnv(env: NodeJS.ProcessEnv = process.env): ExpertMode | null {
  const v = env.SWITCHYARD_EXPERTS?.trim().toLowerCase();
  if (!v) return null;
  if (v === 'dispatch' || v === 'fused') return v;
  throw new Error(`SWITCHYARD_EXPERTS must be 'dispatch' or 'fused' (got '${env.SWITCHYARD_EXPERTS}')`);
}

/**
 * The faster mode per build, as measured by `npm run bench:engine` (README, Performance): int4
 * decodes ~4x faster dispatched (ORT 1.30's CPU QMoE dequantises 4-bit blocks on every call), while
 * its int8 QMoE already reads at memory speed and, as one session, keeps its thread pool warm between
 * layers (the split graph cannot), so int8 and float32 stay fused.
 */
export function defaultExpertMode(quant: 'none' | 'int8' | 'int4'): ExpertMode {
  return quant === 'int4' ? 'dispatch' : 'fused';
}

/** Session options of one expert: one thread (a GEMV on a few rows gains nothing from a pool), no arena. */
export function expertSessionOptions(): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    // An arena per expert session grew to its largest batch: gigabytes across 700 sessions.
    enableCpuMemArena: false,
    executionMode: 'sequential',
    logSeverityLevel: 3,
  };
}

export interface ExpertTimes {
  /** Expert session runs and their count. */
  runMs: number;
  runs: number;
  /** Gathering rows and summing outputs in JavaScript. */
  jsMs: number;
}

export class LayerExperts {
  private constructor(
    readonly cut: DispatchCut,
    private readonly sessions: ort.InferenceSession[],
  ) {}

  static async create(dir: string, cut: DispatchCut, options: ort.InferenceSession.SessionOptions, onEach: () => void = () => {}): Promise<LayerExperts> {
    const sessions: ort.InferenceSession[] = [];
    try {
      for (const [e, f] of cut.expertFiles.entries()) {
        // One profile file per session (ORT names them by the millisecond, so they would collide).
        const own = options.enableProfiling ? { ...options, profileFilePrefix: `${options.profileFilePrefix}.${cut.layer}.${e}` } : options;
        sessions.push(await ort.InferenceSession.create(path.join(dir, f), own));
        onEach();
      }
    } catch (e) {
      await Promise.all(sessions.map((s) => s.release()));
      throw e;
    }
    return new LayerExperts(cut, sessions);
  }

  /**
   * x2d [N,H], indices [N,K] (int64), weights [N,K] -> [N,H] = sum_k weights[n,k] expert_{indices[n,k]}(x[n]).
   */
  async run(x2d: Float32Array, indices: BigInt64Array, weights: Float32Array, times?: ExpertTimes): Promise<Float32Array> {
    const { hidden: H, topK: K, experts: E } = this.cut;
    const N = x2d.length / H;
    if (indices.length !== N * K || weights.length !== N * K) throw new Error(`internal: routing of ${indices.length} entries for ${N} rows of top-${K}`);
    let t = performance.now();
    // rows[e] = the (row, k) pairs routed to expert e, in row order.
    const count = new Int32Array(E);
    for (let i = 0; i < N * K; i++) {
      const e = Number(indices[i]);
      if (e < 0 || e >= E) throw new Error(`internal: router chose expert ${e} of ${E}`);
      count[e]!++;
    }
    const chosen: { e: number; rows: Int32Array; x: Float32Array; w: Float32Array }[] = [];
    const fill = new Int32Array(E);
    const byExpert: (typeof chosen)[number][] = new Array(E);
    for (let e = 0; e < E; e++) {
      if (!count[e]) continue;
      const item = { e, rows: new Int32Array(count[e]!), x: new Float32Array(count[e]! * H), w: new Float32Array(count[e]!) };
      byExpert[e] = item;
      chosen.push(item);
    }
    for (let i = 0; i < N * K; i++) {
      const e = Number(indices[i]);
      const row = (i / K) | 0;
      const item = byExpert[e]!;
      const j = fill[e]!++;
      item.rows[j] = row;
      item.w[j] = weights[i]!;
      item.x.set(x2d.subarray(row * H, (row + 1) * H), j * H);
    }
    if (times) times.jsMs += performance.now() - t;

    t = performance.now();
    const outs: Float32Array[] = [];
    for (const c of chosen) {
      const n = c.rows.length;
      const r = await this.sessions[c.e]!.run({
        x: new ort.Tensor('float32', c.x, [n, H]),
        w: new ort.Tensor('float32', c.w, [n, 1]),
      });
      outs.push(r.y!.data as Float32Array);
    }
    if (times) {
      times.runMs += performance.now() - t;
      times.runs += chosen.length;
      t = performance.now();
    }
    const out = new Float32Array(N * H);
    chosen.forEach((c, i) => {
      const y = outs[i]!;
      for (let j = 0; j < c.rows.length; j++) {
        const o = c.rows[j]! * H;
        const src = j * H;
        for (let h = 0; h < H; h++) out[o + h]! += y[src + h]!;
      }
    });
    if (times) times.jsMs += performance.now() - t;
    return out;
  }

  endProfiling(): void {
    for (const s of this.sessions) s.endProfiling();
  }

  async release(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.release()));
  }
}
