/**
 * The two ways a built model runs, behind one call (feeds in, every model output out) so that the
 * session, the scheduler and the prefix cache do not care which one is in use:
 *  - FusedRunner: the whole decoder as one ONNX Runtime session (GPU providers; the fused MoE/QMoE
 *    kernels hold the experts);
 *  - DispatchRunner: the decoder split at its MoE layers (model/dispatch.ts): piece k runs, the
 *    engine runs the experts the router chose (experts.ts), piece k+1 gets their sum, and so on.
 */
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { DispatchPlan } from '../model/dispatch.ts';
import { expertSessionOptions, LayerExperts, type ExpertTimes } from './experts.ts';

export interface Runner {
  /** Runs one step; returns every output of the model (logits, present.*, routing.*). */
  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>>;
  /** Ends ONNX Runtime profiling on every session (created with enableProfiling); files land in its prefix's folder. */
  endProfiling(): void;
  release(): Promise<void>;
}

export class FusedRunner implements Runner {
  constructor(readonly session: ort.InferenceSession) {}

  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    // Every output, in the model's order: onnxruntime-node 1.30 applies preferredOutputLocation by
    // the model's output index to the fetch at that index, so a shorter or reordered fetch list
    // would bring cache tensors back to the host (and send routing indices to the GPU).
    return this.session.run(feeds, this.session.outputNames);
  }

  endProfiling(): void {
    this.session.endProfiling();
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

export class DispatchRunner implements Runner {
  /** Set to collect the experts' timings of the following runs (bench --profile). */
  times: ExpertTimes | null = null;

  private constructor(
    readonly plan: DispatchPlan,
    readonly pieces: ort.InferenceSession[],
    readonly experts: LayerExperts[],
    private readonly outputNames: Set<string>,
  ) {}

  static async create(
    dir: string,
    plan: DispatchPlan,
    pieceOptions: ort.InferenceSession.SessionOptions,
    modelOutputs: string[],
    onProgress: (done: number, total: number) => void = () => {},
    expertOptions: ort.InferenceSession.SessionOptions = expertSessionOptions(),
  ): Promise<DispatchRunner> {
    const total = plan.pieces.length + plan.cuts.reduce((a, c) => a + c.expertFiles.length, 0);
    let done = 0;
    const tick = () => onProgress(++done, total);
    const pieces: ort.InferenceSession[] = [];
    const experts: LayerExperts[] = [];
    try {
      for (const [k, p] of plan.pieces.entries()) {
        const own = pieceOptions.enableProfiling ? { ...pieceOptions, profileFilePrefix: `${pieceOptions.profileFilePrefix}.piece${k}` } : pieceOptions;
        pieces.push(await ort.InferenceSession.create(path.join(dir, p.file), own));
        tick();
      }
      for (const c of plan.cuts) experts.push(await LayerExperts.create(dir, c, expertOptions, tick));
    } catch (e) {
      await Promise.all([...pieces.map((s) => s.release()), ...experts.map((x) => x.release())]);
      throw e;
    }
    return new DispatchRunner(plan, pieces, experts, new Set(modelOutputs));
  }

  async run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    const values = new Map<string, ort.Tensor>(Object.entries(feeds));
    const result: Record<string, ort.Tensor> = {};
    const times = this.times;
    for (let k = 0; k < this.pieces.length; k++) {
      const spec = this.plan.pieces[k]!;
      const pieceFeeds: Record<string, ort.Tensor> = {};
      for (const name of spec.inputs) {
        const v = values.get(name);
        if (!v) throw new Error(`internal: piece ${k} needs ${name}, which no earlier step produced`);
        pieceFeeds[name] = v;
      }
      const out = await this.pieces[k]!.run(pieceFeeds);
      for (const [name, v] of Object.entries(out)) {
        values.set(name, v);
        if (this.outputNames.has(name)) result[name] = v;
      }
      const cut = this.plan.cuts[k];
      if (!cut) continue;
      const x2d = values.get(cut.x2d)!;
      const y = await this.experts[k]!.run(
        x2d.data as Float32Array,
        values.get(cut.indices)!.data as BigInt64Array,
        values.get(cut.weights)!.data as Float32Array,
        times ?? undefined,
      );
      values.set(cut.output, new ort.Tensor('float32', y, [y.length / cut.hidden, cut.hidden]));
    }
    return result;
  }

  endProfiling(): void {
    for (const s of this.pieces) s.endProfiling();
    for (const x of this.experts) x.endProfiling();
  }

  async release(): Promise<void> {
    await Promise.all([...this.pieces.map((s) => s.release()), ...this.experts.map((x) => x.release())]);
  }
}
