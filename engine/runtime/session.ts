/**
 * Incremental inference over a built model: prefill a chunk, decode a token, keep and trim the
 * KV cache. A KvState owns one sequence's cache tensors; the session is stateless between calls,
 * so a prefix cache can hold many KvStates (or slices of them) and hand one to the next request.
 * On WebGPU the cache tensors can stay on the device (preferredOutputLocation 'gpu-buffer').
 */
import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import type { BuiltModel } from '../model/build.ts';
import { createSessionWithFallback, DEFAULT_PREFERENCE, type ProviderAttempt, type ProviderName } from './providers.ts';

export interface SessionOptions {
  providers?: ProviderName[];
  threads?: number;
  log?: (line: string) => void;
}

export interface ForwardResult {
  /** [keep, vocab] row-major. */
  logits: Float32Array;
  keep: number;
  vocab: number;
  /** Per MoE layer: chosen experts [S, K] when requested. */
  routing?: Map<number, { topK: number; indices: BigInt64Array }>;
}

export class KvState {
  length = 0;
  constructor(
    readonly tensors: Map<string, ort.Tensor>,
    private readonly dims: Map<string, number[]>,
  ) {}

  /** Keep only the first n positions (n <= length). */
  trim(n: number): void {
    if (n > this.length || n < 0) throw new Error(`cannot trim a cache of ${this.length} positions to ${n}`);
    if (n === this.length) return;
    for (const [name, t] of this.tensors) {
      const [b, h, , d] = t.dims as number[];
      const src = t.data as Float32Array;
      if (b! * h! === 1) {
        // One sequence, one cache head (the MLA latent): the first n positions are a prefix of
        // the buffer, so a view does without a copy.
        this.tensors.set(name, new ort.Tensor('float32', src.subarray(0, n * d!), [b!, h!, n, d!]));
        continue;
      }
      const out = new Float32Array(b! * h! * n * d!);
      const oldT = this.length;
      for (let bh = 0; bh < b! * h!; bh++) out.set(src.subarray(bh * oldT * d!, bh * oldT * d! + n * d!), bh * n * d!);
      this.tensors.set(name, new ort.Tensor('float32', out, [b!, h!, n, d!]));
    }
    this.length = n;
  }

  /** Independent copy (for a prefix cache to keep while this one moves on). */
  clone(): KvState {
    const copy = new Map<string, ort.Tensor>();
    for (const [name, t] of this.tensors) copy.set(name, new ort.Tensor('float32', (t.data as Float32Array).slice(), t.dims as number[]));
    const s = new KvState(copy, this.dims);
    s.length = this.length;
    return s;
  }

  /** Bytes held by this cache. */
  get bytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += (t.data as Float32Array).byteLength;
    return n;
  }
}

export class ModelSession {
  private constructor(
    readonly model: BuiltModel,
    private readonly session: ort.InferenceSession,
    readonly provider: ProviderName,
    readonly attempts: ProviderAttempt[],
    readonly createMs: number,
  ) {}

  static async create(model: BuiltModel, opts: SessionOptions = {}): Promise<ModelSession> {
    const t0 = performance.now();
    const { session, provider, attempts } = await createSessionWithFallback(
      model.modelPath,
      opts.providers ?? DEFAULT_PREFERENCE,
      {
        graphOptimizationLevel: 'all',
        intraOpNumThreads: opts.threads ?? Math.max(1, os.availableParallelism()),
        interOpNumThreads: 1,
        executionMode: 'sequential',
        logSeverityLevel: 3,
      },
      opts.log,
    );
    return new ModelSession(model, session, provider, attempts, performance.now() - t0);
  }

  newState(): KvState {
    const tensors = new Map<string, ort.Tensor>();
    const dims = new Map<string, number[]>();
    for (const c of this.model.io.caches) {
      const d = c.shape.map((x) => (typeof x === 'number' ? x : 0));
      tensors.set(c.past, new ort.Tensor('float32', new Float32Array(0), d));
      dims.set(c.past, d);
    }
    return new KvState(tensors, dims);
  }

  /**
   * Runs `ids` at positions state.length.. and appends them to the cache. logitsToKeep: how many
   * trailing positions get logits (1 for generation, ids.length for scoring a whole prompt).
   */
  async forward(state: KvState, ids: number[], opts: { logitsToKeep?: number; routing?: boolean } = {}): Promise<ForwardResult> {
    if (ids.length === 0) throw new Error('forward needs at least one token');
    const S = ids.length;
    const keep = Math.min(S, Math.max(1, opts.logitsToKeep ?? 1));
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, S]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: S }, (_, i) => BigInt(state.length + i)), [1, S]),
      logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(BigInt(keep)), [1]),
    };
    for (const [name, t] of state.tensors) feeds[name] = t;
    const fetches = ['logits', ...this.model.io.caches.map((c) => c.present)];
    if (opts.routing) for (const r of this.model.io.routingOutputs) fetches.push(r.name);
    const out = await this.session.run(feeds, fetches);
    for (const c of this.model.io.caches) state.tensors.set(c.past, out[c.present]!);
    state.length += S;
    const logits = out.logits!;
    const vocab = logits.dims[2]!;
    const result: ForwardResult = { logits: logits.data as Float32Array, keep, vocab };
    if (opts.routing) {
      result.routing = new Map();
      for (const r of this.model.io.routingOutputs) {
        result.routing.set(r.layer, { topK: r.topK, indices: out[r.name]!.data as BigInt64Array });
      }
    }
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
