/**
 * Incremental inference over a built model: prefill a chunk, decode a token, keep and trim the
 * KV cache. A KvState owns one sequence's cache tensors; the session is stateless between calls,
 * so a prefix cache can hold many KvStates (or slices of them) and hand one to the next request.
 * On WebGPU the cache tensors stay on the device between steps (preferredOutputLocation 'gpu-buffer');
 * trims and copies of them then run on the device too (device-kv.ts).
 */
import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import type { BuiltModel } from '../model/build.ts';
import { createSessionWithFallback, DEFAULT_PREFERENCE, type ProviderAttempt, type ProviderName } from './providers.ts';
import { DeviceKvOps } from './device-kv.ts';

export interface SessionOptions {
  providers?: ProviderName[];
  threads?: number;
  log?: (line: string) => void;
  /** On WebGPU, keep the KV cache on the device between steps (default true). */
  kvOnDevice?: boolean;
}

export interface ForwardResult {
  /** [keep, vocab] row-major. */
  logits: Float32Array;
  keep: number;
  vocab: number;
  /** Per MoE layer: chosen experts [S, K] when requested. */
  routing?: Map<number, { topK: number; indices: BigInt64Array }>;
}

export type KvLocation = 'cpu' | 'gpu-buffer';

export class KvState {
  length = 0;
  /**
   * `device` is set when the tensors live on the GPU (WebGPU): trims and copies then run there. This
   * state owns its tensors: forward() and trim() dispose the ones they replace, dispose() the rest.
   */
  constructor(
    readonly tensors: Map<string, ort.Tensor>,
    private readonly device: DeviceKvOps | null = null,
  ) {}

  get location(): KvLocation {
    return this.device ? 'gpu-buffer' : 'cpu';
  }

  /** Keep only the first n positions (n <= length). */
  async trim(n: number): Promise<void> {
    if (n > this.length || n < 0) throw new Error(`cannot trim a cache of ${this.length} positions to ${n}`);
    if (n === this.length) return;
    for (const [name, t] of this.tensors) this.tensors.set(name, await this.#prefix(t, n, true));
    this.length = n;
  }

  /** An independent state holding the first n positions (default all), for a prefix cache to keep. */
  async copy(n = this.length): Promise<KvState> {
    if (n > this.length || n < 0) throw new Error(`cannot copy ${n} positions of a cache of ${this.length}`);
    const copy = new Map<string, ort.Tensor>();
    for (const [name, t] of this.tensors) copy.set(name, await this.#prefix(t, n, false));
    const s = new KvState(copy, this.device);
    s.length = n;
    return s;
  }

  clone(): Promise<KvState> {
    return this.copy(this.length);
  }

  /** Positions [0, n) of t as a tensor of its own (`replace`: t is this state's and goes). */
  async #prefix(t: ort.Tensor, n: number, replace: boolean): Promise<ort.Tensor> {
    const [b, h, T, d] = t.dims as number[];
    if (n === 0 || T === 0) {
      if (replace) disposeTensor(t);
      return emptyLike(t);
    }
    if (this.device) {
      const out = await this.device.prefix(t, n);
      if (replace) disposeTensor(t);
      return out;
    }
    const src = t.data as Float32Array;
    if (b! * h! === 1) {
      // One sequence, one cache head (the MLA latent): the first n positions are a prefix of the
      // buffer, so a trim is a view; a copy must not share it.
      const view = src.subarray(0, n * d!);
      return new ort.Tensor('float32', replace ? view : view.slice(), [b!, h!, n, d!]);
    }
    const out = new Float32Array(b! * h! * n * d!);
    for (let bh = 0; bh < b! * h!; bh++) out.set(src.subarray(bh * T! * d!, bh * T! * d! + n * d!), bh * n * d!);
    return new ort.Tensor('float32', out, [b!, h!, n, d!]);
  }

  /** The values of one cache tensor on the host (tests, debugging). */
  async read(name: string): Promise<Float32Array> {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`no cache tensor named ${name}`);
    if (t.location === 'gpu-buffer') return this.device!.read(t);
    return t.data as Float32Array;
  }

  /** Frees device memory now rather than when the garbage collector gets to it. */
  dispose(): void {
    for (const [name, t] of this.tensors) {
      disposeTensor(t);
      this.tensors.set(name, emptyLike(t));
    }
    this.length = 0;
  }

  /** Bytes held by this cache (on the device when location is 'gpu-buffer'). */
  get bytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += 4 * (t.dims as number[]).reduce((a, x) => a * x, 1);
    return n;
  }
}

/** A host tensor of t's [B, H, 0, D] shape: no positions yet. */
function emptyLike(t: ort.Tensor): ort.Tensor {
  const [b, h, , d] = t.dims as number[];
  return new ort.Tensor('float32', new Float32Array(0), [b!, h!, 0, d!]);
}

function disposeTensor(t: ort.Tensor): void {
  if (t.location === 'gpu-buffer') t.dispose();
}

export class ModelSession {
  private constructor(
    readonly model: BuiltModel,
    private readonly session: ort.InferenceSession,
    readonly provider: ProviderName,
    readonly attempts: ProviderAttempt[],
    readonly createMs: number,
    private readonly device: DeviceKvOps | null,
  ) {}

  /** Where cache tensors live between steps. */
  get kvLocation(): KvLocation {
    return this.device ? 'gpu-buffer' : 'cpu';
  }

  static async create(model: BuiltModel, opts: SessionOptions = {}): Promise<ModelSession> {
    const t0 = performance.now();
    // present.* stay on the device and go back in as past.* next step: no round trip through host
    // memory per token. Logits and routing come to the host (the sampler runs in JavaScript).
    const onDevice = opts.kvOnDevice ?? true;
    // The routed experts stay on the CPU under WebGPU: ORT 1.30's WebGPU QMoE kernel refuses zero
    // points (our int8/int4 blocks are asymmetric) at run time, after the session was created, and
    // it has no float MoE kernel at all. Attention, norms, dense layers and the cache are on the GPU.
    const webgpu: ort.InferenceSession.SessionOptions = {
      executionProviders: [{ name: 'webgpu', forceCpuNodeNames: model.io.routingOutputs.map((r) => `layers.${r.layer}/QMoE_node`) }],
    };
    if (onDevice) webgpu.preferredOutputLocation = Object.fromEntries(model.io.caches.map((c) => [c.present, 'gpu-buffer' as const]));
    const gpuKv: Partial<Record<ProviderName, ort.InferenceSession.SessionOptions>> = { webgpu };
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
      gpuKv,
    );
    const device = provider === 'webgpu' && onDevice ? await DeviceKvOps.create() : null;
    return new ModelSession(model, session, provider, attempts, performance.now() - t0, device);
  }

  newState(): KvState {
    const tensors = new Map<string, ort.Tensor>();
    for (const c of this.model.io.caches) {
      const d = c.shape.map((x) => (typeof x === 'number' ? x : 0));
      tensors.set(c.past, new ort.Tensor('float32', new Float32Array(0), d));
    }
    return new KvState(tensors, this.device);
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
    // Every output, in the model's order: onnxruntime-node 1.30 applies preferredOutputLocation by
    // the model's output index to the fetch at that index, so a shorter or reordered fetch list
    // would bring cache tensors back to the host (and send routing indices to the GPU).
    const out = await this.session.run(feeds, this.session.outputNames);
    for (const c of this.model.io.caches) {
      const old = state.tensors.get(c.past)!;
      state.tensors.set(c.past, out[c.present]!);
      disposeTensor(old);
    }
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
    await this.device?.release();
  }
}
